"""prefetch: a generator run in a child process, consumed here as if it ran here.

Items come in order, errors come back as themselves, and no reader process
outlives its use: not when the consumer stops early, not when the reader dies,
not when the consumer is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import psutil
import pytest

from salesflow.domain.errors import MalformedDocument, NotFound, TransientError
from salesflow.pipelines.prefetch import prefetch

# -- what the children run (module level: the child must be able to find them) ----------------------------------------


def count_to(n: int) -> Iterator[int]:
    yield from range(n)


def blobs(n: int, size: int) -> Iterator[tuple[int, bytes]]:
    for index in range(n):
        yield index, bytes([index % 256]) * size


def nothing() -> Iterator[int]:
    yield from ()


def count_then_raise(n: int, error: BaseException) -> Iterator[int]:
    yield from range(n)
    raise error


def count_forever() -> Iterator[int]:
    index = 0
    while True:
        yield index
        index += 1


def count_then_die(n: int, exit_code: int) -> Iterator[int]:
    yield from range(n)
    os._exit(exit_code)


# -- helpers ----------------------------------------------------------------------------------------------------------


def children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # dead, not reaped yet
    except psutil.NoSuchProcess:
        return True


def wait_until_gone(pids: set[int], seconds: float = 15.0) -> set[int]:
    """The pids still running after waiting up to seconds for them to end."""
    deadline = time.monotonic() + seconds
    while (alive := {pid for pid in pids if not is_gone(pid)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


# -- items ------------------------------------------------------------------------------------------------------------


def test_items_come_in_the_order_the_generator_yields_them() -> None:
    assert list(prefetch(count_to, 2_000)) == list(range(2_000))


def test_a_short_queue_still_delivers_everything_in_order() -> None:
    assert list(prefetch(count_to, 300, depth=1)) == list(range(300))


def test_large_items_arrive_whole() -> None:
    received = list(prefetch(blobs, 12, 300_000))

    assert [index for index, _ in received] == list(range(12))
    assert all(blob == bytes([index]) * 300_000 for index, blob in received)


def test_an_empty_generator_gives_nothing_and_leaves_no_process() -> None:
    before = children()

    assert list(prefetch(nothing)) == []
    assert children() <= before


def test_the_reader_runs_in_another_process() -> None:
    before = children()
    items = prefetch(count_forever)
    next(items)
    try:
        assert len(children() - before) == 1
    finally:
        items.close()  # type: ignore[attr-defined]


# -- errors -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        MalformedDocument("the document ends before its orders array is closed", 1234),
        ValueError("not a number"),
        TransientError("the table is locked; retrying may succeed"),
        NotFound("no object 'orders/x.json'"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_error_in_the_child_is_raised_here_as_itself_after_the_items_before_it(error: Exception) -> None:
    before = children()
    received: list[int] = []

    with pytest.raises(type(error)) as raised:
        received.extend(prefetch(count_then_raise, 3, error))  # keeps what came before the error

    assert received == [0, 1, 2]
    assert type(raised.value) is type(error)
    assert raised.value.args == error.args
    assert str(raised.value) == str(error)
    assert children() <= before


def test_a_malformed_document_keeps_its_reason_and_offset() -> None:
    with pytest.raises(MalformedDocument) as raised:
        list(prefetch(count_then_raise, 0, MalformedDocument("truncated upload?", 987_654)))

    assert (raised.value.reason, raised.value.offset) == ("truncated upload?", 987_654)


# -- no process left behind -------------------------------------------------------------------------------------------


def test_closing_early_ends_the_child() -> None:
    before = children()
    items = prefetch(count_forever)
    assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
    reader = children() - before
    assert len(reader) == 1

    items.close()  # type: ignore[attr-defined]

    assert not children() & reader


def test_a_child_that_dies_is_an_error_here_not_a_hang() -> None:
    before = children()

    with pytest.raises(ChildProcessError, match="exit code 7"):
        list(prefetch(count_then_die, 2, 7))

    assert children() <= before


def test_ctrl_c_on_the_process_group_does_not_stop_the_reader() -> None:
    """The parent decides when its readers stop; a SIGINT meant for it must not kill them mid-file."""
    before = children()
    items = prefetch(count_to, 200)
    received = [next(items)]
    [reader] = children() - before

    os.kill(reader, signal.SIGINT)
    received += list(items)

    assert received == list(range(200))


CONSUMER = textwrap.dedent(
    """
    import sys
    from salesflow.pipelines.prefetch import prefetch

    def count_forever():
        index = 0
        while True:
            yield index
            index += 1

    items = prefetch(count_forever)
    next(items)
    print("reading", flush=True)
    sys.stdin.read()  # until killed
    """
)


def test_a_reader_whose_consumer_is_killed_exits_on_its_own() -> None:
    consumer = subprocess.Popen(
        [sys.executable, "-c", CONSUMER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    readers: set[int] = set()
    try:
        assert consumer.stdout is not None
        assert consumer.stdout.readline() == "reading\n"
        readers = {child.pid for child in psutil.Process(consumer.pid).children()}
        assert len(readers) == 1

        consumer.kill()  # kill -9: no finally runs in the consumer
        consumer.wait()

        assert wait_until_gone(readers) == set()
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()
        for pid in readers - {pid for pid in readers if is_gone(pid)}:
            psutil.Process(pid).kill()  # only if the test failed: do not leave it running
        for stream in (consumer.stdin, consumer.stdout):
            if stream is not None:
                stream.close()
