"""Measuring a run of subprocesses: wall time, peak RSS of the process tree, facts about the machine.

Every measurement runs in processes of its own, so the RSS it reports belongs to
that measurement alone. A sampler thread adds up the RSS of a process and all
its children every 20 ms and keeps the largest sum; the main thread waits for
the process with wait4, which gives the end time exactly and the kernel's own
ru_maxrss (the largest RSS any single process of the tree reached).
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psutil

SAMPLE_SECONDS = 0.02
PSS_EVERY = 5  # PSS costs about 1 ms a process to read: every 5th sample (100 ms) is enough
MB = 1 << 20


class CommandFailed(RuntimeError):
    """A measured command exited with an error: the figure would be meaningless."""


@dataclass
class Measurement:
    """One measured run of one or more commands, one after the other."""

    seconds: float = 0.0
    peak_rss: int = 0  # bytes: largest sum of RSS over the process tree at one sample
    peak_pss: int = 0  # bytes: the same with PSS, which splits shared pages (a forked child's) among their users
    max_rss: int = 0  # bytes: ru_maxrss, the largest single process (the main one or a waited-for child)
    samples: int = 0
    steps: dict[str, float] = field(default_factory=dict)  # seconds per command
    outputs: dict[str, str] = field(default_factory=dict)  # stdout per command


class _TreeSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.stop = threading.Event()
        self.peak = 0
        self.peak_pss = 0
        self.samples = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                processes = []
            self.peak = max(self.peak, sum(map(_rss, processes)))
            if self.samples % PSS_EVERY == 0:
                self.peak_pss = max(self.peak_pss, sum(map(_pss, processes)))
            self.samples += 1
            self.stop.wait(SAMPLE_SECONDS)


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.Error:
        return 0  # exited between the listing and the reading


def _pss(process: psutil.Process) -> int:
    try:
        with open(f"/proc/{process.pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def measure(
    steps: Sequence[tuple[str, Sequence[str]]],
    *,
    log: IO[bytes],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Measurement:
    """Run the named commands one after the other and measure them together.

    Time runs from the start of the first to the end of the last; peak RSS is
    the largest of the commands' peaks. stderr goes to log; stdout is kept.
    Raises CommandFailed (pointing at the log) if a command fails.
    """
    result = Measurement()
    started = time.perf_counter()
    for name, command in steps:
        step_started = time.perf_counter()
        with open(os.devnull, "rb") as stdin, _StdoutFile() as stdout:
            log.write(f"$ {shlex.join(command)}\n".encode())
            log.flush()
            process = subprocess.Popen(command, stdin=stdin, stdout=stdout.file, stderr=log, env=env, cwd=cwd)
            sampler = _TreeSampler(process.pid)
            sampler.start()
            try:
                _, status, usage = os.wait4(process.pid, 0)
            finally:
                sampler.stop.set()
                sampler.join()
            process.returncode = os.waitstatus_to_exitcode(status)
            result.steps[name] = time.perf_counter() - step_started
            result.outputs[name] = stdout.read()
        result.peak_rss = max(result.peak_rss, sampler.peak)
        result.peak_pss = max(result.peak_pss, sampler.peak_pss)
        result.max_rss = max(result.max_rss, usage.ru_maxrss * 1024)  # Linux: kilobytes
        result.samples += sampler.samples
        if process.returncode != 0:
            raise CommandFailed(f"{name} exited with {process.returncode}: {shlex.join(command)} (see {log.name})")
    result.seconds = time.perf_counter() - started
    return result


class _StdoutFile:
    """A temp file for a child's stdout: a pipe could fill up while we wait in wait4."""

    def __enter__(self) -> _StdoutFile:
        import tempfile

        self.file = tempfile.TemporaryFile()
        return self

    def read(self) -> str:
        self.file.seek(0)
        return self.file.read().decode(errors="replace")

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def machine_facts() -> dict[str, str]:
    """What a reader needs to compare figures across runs."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    one, five, _ = os.getloadavg()
    memory = psutil.virtual_memory()
    return {
        "cpus": f"{len(os.sched_getaffinity(0))} usable of {os.cpu_count()} ({cpu})",
        "memory": f"{memory.total / (1 << 30):.0f} GiB, {memory.available / (1 << 30):.0f} GiB available",
        "load": f"{one:.2f} (1 min), {five:.2f} (5 min) at start",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "os": f"{platform.system()} {platform.release()}",
        "commit": _git_commit(),
    }


def _git_commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} (src/ has uncommitted changes)" if dirty else commit


def command_line() -> str:
    """The command that is running, as someone would type it again."""
    return shlex.join(["python", "-m", "bench", *sys.argv[1:]])


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def mb(size: int) -> str:
    """A size in bytes as whole megabytes, for the tables."""
    return f"{size / MB:,.0f} MB"


def raw(measured: Measurement) -> dict[str, Any]:
    """A measurement as the JSON the logs keep."""
    return {
        "seconds": measured.seconds,
        "peak_rss": measured.peak_rss,
        "peak_pss": measured.peak_pss,
        "max_rss": measured.max_rss,
        "samples": measured.samples,
        "steps": measured.steps,
    }


def shown(path: Path) -> str:
    """A path relative to the working folder when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def warm(path: Path) -> None:
    """Read a file once, so no measurement pays for the first read from disk."""
    with path.open("rb") as stream:
        while stream.read(16 * MB):
            pass


def salesflow_cli() -> Path:
    """The salesflow console script of this interpreter's environment (what every benchmark runs)."""
    cli = Path(sys.executable).parent / "salesflow"
    if not cli.exists():
        raise SystemExit(f"no salesflow console script next to {sys.executable}; run `pip install -e .` first")
    return cli


def empty_folder(path: Path) -> Path:
    """path, emptied of an earlier run's leftovers."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
