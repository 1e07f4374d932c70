"""Reading console logs incrementally: whole lines only, and rewrites noticed."""

from __future__ import annotations

from nodebyte_hytale_auth.server_logs import Cursor, complete_lines


def test_only_complete_lines_are_taken_with_their_offsets() -> None:
    data = b"one\r\ntwo\n\nthr"
    lines, resume = complete_lines(data, 0)
    assert lines == [(0, "one"), (5, "two")]
    assert resume == 10
    assert complete_lines(data + b"ee\n", resume) == ([(10, "three")], 16)


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    lines, _ = complete_lines(b"\xff\xfeboom\n", 0)
    assert lines[0][1].endswith("boom")


def test_a_cursor_notices_a_file_rewritten_in_place() -> None:
    first = b"[10:00] started\n[10:01] ready\n"
    cursor = Cursor("latest.log", 1).advanced(first, len(first))
    assert not cursor.rewritten(first + b"[10:02] more\n")
    assert cursor.rewritten(b"short\n")  # shrank below the offset
    assert cursor.rewritten(b"[11:00] started again and grew past the old offset, much longer\n")


def test_a_fresh_cursor_accepts_anything() -> None:
    assert not Cursor("latest.log", 1).rewritten(b"")
