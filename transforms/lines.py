"""Numbered lines of a file on any Beam filesystem, in bounded memory.

Inputs given as files of lines (JSONL records, URL lists) are read with this rather than Beam's
``ReadFromText``: a bad line is then reported with its file and line number, and every line has
a position that identifies it (``<file>#L<line>``). Beam's compressed streams have no
``readline(limit)``, so lines are cut from blocks.
"""

from __future__ import annotations

from collections.abc import Iterator

#: Longest line returned whole; a longer one is returned cut (and is rejected by its reader).
MAX_LINE_BYTES = 16 << 20


def numbered_lines(stream, limit: int = MAX_LINE_BYTES,
                   block: int = 1 << 20) -> Iterator[tuple[int, bytes, bool]]:
    """``(number, line without newline, had_newline)`` for each line of a binary stream.

    Reads blocks (Beam's compressed streams have no ``readline(limit)``). A line longer than
    ``limit`` is returned cut at ``limit + 1`` bytes (so it is known to be too long) and the
    rest of it is skipped without being held in memory.
    """
    number = 0
    pending = b""
    skipping = False  # inside an over-long line already returned
    while True:
        data = stream.read(block)
        if not data:
            break
        pending += data
        start = 0
        while True:
            newline = pending.find(b"\n", start)
            if newline < 0:
                break
            if not skipping:
                number += 1
                line = pending[start:min(newline, start + limit + 1)]
                yield number, line.rstrip(b"\r") if len(line) <= limit else line, True
            skipping = False
            start = newline + 1
        pending = pending[start:]
        if len(pending) > limit:
            if not skipping:
                number += 1
                yield number, pending[:limit + 1], True
            skipping, pending = True, b""
    if pending and not skipping:
        yield number + 1, pending, False
