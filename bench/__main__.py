"""``python -m bench [BENCHMARK ...] [options]``: run benchmarks, print and record their figures.

Each benchmark prints a Markdown section (command line, machine, a table of
figures with their targets) on stdout and appends it to docs/benchmarks.md.
Progress goes to stderr; the output of the measured commands goes to a log in
the work folder. The exit code is 1 if a measured command failed or a run's
results did not check out (records lost or doubled), 0 otherwise, whether or
not the targets were met.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench import batch, console, orders, stream
from bench.measure import CommandFailed, command_line, machine_facts, now_utc

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BENCHMARKS = {"orders": orders, "batch": batch, "stream": stream, "console": console}
INTRO = """# Benchmarks

Figures measured with `python -m bench` (`make bench`); how each is measured is in
[bench/README.md](../bench/README.md). Every section below was appended by the harness
and gives the command that produced it, the machine it ran on, and each figure next to
its target from issue 3. Sections headed "smoke run" used a small file to check the
harness: start-up costs dominate them, so their figures are not comparable with the
targets, which are for 1,000,000 and 10,000,000 orders.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples, quick checks of the harness: python -m bench orders --orders 20000 --skip-10m; "
        "python -m bench batch --orders 20000",
    )
    parser.add_argument(
        "benchmarks",
        nargs="*",
        metavar="BENCHMARK",
        help=f"which to run: {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=BENCH / "data",
        metavar="DIR",
        help="where generated inputs (kept, reused for the same size and seed), homes of the runs (removed "
        "after a run that checks out) and logs go (default bench/data/, git-ignored)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=ROOT / "docs" / "benchmarks.md",
        metavar="FILE",
        help="Markdown file the sections are appended to (default docs/benchmarks.md, created if missing)",
    )
    parser.add_argument("--no-append", action="store_true", help="print the section only; do not append it")
    parser.add_argument("--keep-runs", action="store_true", help="keep the homes and databases of the runs")
    for module in BENCHMARKS.values():
        module.add_arguments(parser)
    args = parser.parse_args(argv)
    unknown = [name for name in args.benchmarks if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.benchmarks = args.benchmarks or list(BENCHMARKS)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work.resolve()
    (work / "logs").mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    facts = machine_facts()
    failed = False
    for name in args.benchmarks:
        log_path = work / "logs" / f"{name}-{stamp}.log"
        print(f"bench {name}: output of the measured commands goes to {log_path}", file=sys.stderr)
        with log_path.open("ab") as log:
            try:
                outcome = BENCHMARKS[name].run(args, work, log, _say)
            except CommandFailed as exc:
                print(f"bench {name}: {exc}", file=sys.stderr)
                failed = True
                continue
        section = render(outcome, facts)
        print(section)
        if not args.no_append:
            append(args.results, section)
            print(f"bench {name}: appended to {args.results}", file=sys.stderr)
        (work / "logs" / f"{name}-{stamp}.json").write_bytes(
            orjson.dumps({"command": command_line(), "machine": facts, **outcome.raw}, option=orjson.OPT_INDENT_2)
        )
        for problem in outcome.problems:
            print(f"bench {name}: CHECK FAILED: {problem}", file=sys.stderr)
        failed = failed or bool(outcome.problems)
    return 1 if failed else 0


def render(outcome: orders.Outcome, facts: dict[str, str]) -> str:
    lines = [
        f"## {now_utc()}: {outcome.title}",
        "",
        f"Command: `{command_line()}`",
        "",
        f"Machine: {facts['cpus']}; {facts['memory']}; load {facts['load']}; "
        f"{facts['python']}; SQLite {facts['sqlite']}; {facts['os']}; commit {facts['commit']}.",
        "",
        "| figure | value | target | met? |",
        "|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in outcome.rows),
        "",
    ]
    if outcome.smoke:
        lines += ["Smoke run: the file is too small for the targets to apply.", ""]
    lines += [f"- {note}" for note in outcome.notes]
    lines += [f"- CHECK FAILED: {problem}" for problem in outcome.problems]
    return "\n".join(lines) + "\n"


def append(path: Path, section: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text() if path.exists() else INTRO
    path.write_text(existing.rstrip("\n") + "\n\n" + section)


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
