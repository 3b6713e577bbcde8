"""Following a growing log that the server sends whole, or as a tail window."""

from __future__ import annotations

from scheduler.cli.logs import LogCursor


def lines(start: int, stop: int) -> bytes:
    return b"".join(f"line {i}\n".encode() for i in range(start, stop))


def test_a_server_sending_the_whole_log_each_time():
    cursor = LogCursor()
    assert cursor.advance(content=lines(0, 3)) == (lines(0, 3), False)
    assert cursor.advance(content=lines(0, 3)) == (b"", False)
    assert cursor.advance(content=lines(0, 5)) == (lines(3, 5), False)
    assert cursor.offset == len(lines(0, 5))


def test_a_log_that_starts_over_is_printed_from_its_start_as_a_gap():
    cursor = LogCursor()
    cursor.advance(content=b"attempt 1 line\n" * 3)
    assert cursor.advance(content=b"attempt 2\n") == (b"attempt 2\n", True)


def test_a_server_sending_only_a_tail_window():
    log = lines(0, 2000)
    window = 5000  # bytes the server sends: the log's last 5000
    cursor = LogCursor()
    printed = cursor.advance(content=log[-window:])[0]
    for more in (2100, 2101, 2400):
        log = lines(0, more)
        chunk, gap = cursor.advance(content=log[-window:])
        assert not gap
        printed += chunk
    # Everything from the first window's start to the end, each byte once.
    assert printed == log[len(lines(0, 2000)) - window :]


def test_a_window_that_moved_past_everything_printed_reports_a_gap():
    cursor = LogCursor()
    cursor.advance(content=lines(0, 10))
    chunk, gap = cursor.advance(content=lines(5000, 5010))
    assert gap
    assert chunk == lines(5000, 5010)


def test_a_window_smaller_than_the_key_still_joins():
    cursor = LogCursor()
    cursor.advance(content=lines(0, 8))
    tail = lines(0, 8)[-20:]
    assert cursor.advance(content=tail) == (b"", False)  # nothing new
    grown = (lines(0, 8) + b"x\n")[-20:]
    assert cursor.advance(content=grown) == (b"x\n", False)
