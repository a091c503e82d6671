"""`--follow`: a file read as `tail -F` reads it: on as it grows, and across rotation.

A followed file is never at its end: when the bytes read catch up with its size, the
reader waits for more (polling its size every `interval`). When the name comes to
point at another file (rotation by rename and a new file) the old file is read to its
end first, then the new one from its start; when the file gets shorter than what was
read (truncated, as `copytruncate` does), it is read again from its start. A last line
without a newline in a file left behind ends there (a line never spans two files).

Positions are the current file's (byte offsets from its start, line numbers going on
across files), and `identity` is the file being read, not the one the name points to
(they differ for a moment after a rotation): what a checkpoint records.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from cep.io.lines import Block, ByteLines
from cep.io.sources import SourceError

#: how often a followed file's size and name are looked at while it is quiet
INTERVAL_S = 0.05
#: bytes of a file's head whose CRC-32 identifies it (`cep.service.positions.HEAD`)
HEAD = 65_536


class Followed:
    """The file at `path`, opened (at byte `offset` of the file the name points to now)
    and followed; `notice` is told, in a sentence, when the file is replaced or
    truncated. A context manager: closing it closes the file."""

    def __init__(
        self,
        path: str,
        offset: int = 0,
        *,
        interval: float = INTERVAL_S,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.interval = interval
        self.notice = notice
        self.file = _open(path)
        if offset:
            self.file.seek(offset)

    def __enter__(self) -> Followed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.file.close()

    def identity(self) -> tuple[int, int, int]:
        """The file being read: its size, and the length and CRC-32 of its head
        (`cep.service.positions.input_identity`)."""
        fd = self.file.fileno()
        size = os.fstat(fd).st_size
        head = os.pread(fd, min(size, HEAD), 0)
        return size, len(head), zlib.crc32(head)

    def line_source(
        self, size: int, first: int = 1, offset: int = 0, poll: float | None = None
    ) -> FollowLines:
        """Blocks of lines for `cep.io.lines.line_source` (`offset`: where the file
        stands; with `poll`, an empty block when nothing arrived within it)."""
        return FollowLines(self, size, first, offset, poll)

    def replaced(self, read_to: int) -> str | None:
        """After reading the current file up to `read_to` (its end, for now): why to
        go on with the file the name points to (`replaced`, `truncated`), else None."""
        try:
            now = os.stat(self.path)
        except OSError:  # (renamed away, the new one not there yet)
            return None
        here = os.fstat(self.file.fileno())
        if (now.st_ino, now.st_dev) != (here.st_ino, here.st_dev):
            return "replaced"
        if here.st_size < read_to:
            return "truncated"
        return None

    def reopen(self, why: str) -> None:
        """Go on with the file the name points to now, from its start."""
        if why == "truncated":
            self.file.seek(0)
        else:
            try:
                fresh = _open(self.path)
            except SourceError:
                return
            self.file.close()
            self.file = fresh
        if self.notice is not None:
            self.notice(f"{self.path} was {why}: reading it from its start")


class FollowLines:
    """Blocks of whole lines of a followed file (as `ByteLines` gives them): it waits
    for lines (with `poll`, at most that long, then gives an empty block) and goes on
    across rotation and truncation. `offset` is in the current file."""

    def __init__(
        self, followed: Followed, size: int, first: int, offset: int, poll: float | None
    ) -> None:
        self.followed = followed
        self.size = size
        self.poll = poll
        self.eof = False
        self.lines = self._lines(first, offset)

    def _lines(self, first: int, offset: int) -> ByteLines:
        file = self.followed.file
        lines = ByteLines(file, self.size, first, offset, poll=0, endless=True)
        lines.ready = lambda timeout: os.fstat(file.fileno()).st_size > lines.read_to
        return lines

    @property
    def offset(self) -> int:
        return self.lines.offset

    @property
    def first(self) -> int:
        return self.lines.first

    @property
    def need(self) -> int:
        return self.lines.need

    def push_back(self, block: Block, i: int) -> None:
        self.lines.push_back(block, i)

    def next_block(self) -> Block:
        deadline = None if self.poll is None else time.monotonic() + self.poll
        while True:
            block = self.lines.next_block()
            if block is not None and len(block):
                return block
            why = self.followed.replaced(self.lines.read_to)
            if why is not None:
                left = self._switch(why)
                if left is not None:
                    return left
                continue
            pause = self.followed.interval
            if deadline is not None:
                pause = min(pause, deadline - time.monotonic())
                if pause <= 0:
                    return _empty(self.lines)
            time.sleep(pause)

    def _switch(self, why: str) -> Block | None:
        """Go on with the file the name points to; the last line of the one left
        behind, when it had no newline, as a block."""
        old = self.lines
        left = None
        if old.carry:
            old.eof = True  # (its last line is given a newline)
            left = old.next_block()
        self.followed.reopen(why)
        self.lines = self._lines(old.first, 0)
        return left


def _empty(lines: ByteLines) -> Block:
    block = Block(b"", lines.first, False, nl=np.zeros(0, np.int64))
    block.at = lines.offset
    return block


def _open(path: str) -> Any:
    try:
        return open(path, "rb", buffering=0)
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror or error}") from error


def follow_lines(
    path: str,
    *,
    offset: int = 0,
    poll: float = 0.25,
    interval: float = INTERVAL_S,
) -> Iterator[list[bytes]]:
    """The lines of a followed file (without their newlines), as they come: a list of
    lines whenever some arrived, an empty list whenever none did for `poll` seconds
    (for a caller to look at the clock); endless, until the caller stops."""
    with Followed(path, offset, interval=interval) as followed:
        lines = followed.line_source(65_536, 1, offset, poll)
        while True:
            block = lines.next_block()
            yield [bytes(block.item(i)) for i in range(len(block))]


class Following:
    """A run's followed input across the times it is opened (`--watch` reads it again):
    the file being read now, for a checkpoint's `identity`."""

    def __init__(self, path: str, notice: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.notice = notice
        self.current: Followed | None = None

    @contextmanager
    def open(self, offset: int = 0) -> Iterator[Followed]:
        with Followed(self.path, offset, notice=self.notice) as followed:
            self.current = followed
            try:
                yield followed
            finally:
                self.current = None

    def identity(self) -> tuple[int, int, int] | None:
        """The identity of the file being read, None while none is open."""
        return self.current.identity() if self.current is not None else None
