"""Line framing: blocks of whole input lines, from a byte stream or an iterable of lines.

A `Block` holds its lines in one buffer with the offset of each newline; a reader may push
back the lines from some index on (a CSV record that goes on into the next block).
"""

from __future__ import annotations

import io
import os
import select
import stat
import sys
from collections.abc import Callable, Iterable
from typing import IO, Any

import numpy as np

from cep.io.newlines import newlines_marked

#: buffers of blocks handed on, kept to read later blocks into once no one holds them
_SPARE = 4
#: bytes read at a time: a piece whose newlines are looked for at once, in cache
_PIECE = 1 << 19
_PAUSE = 16_384  # a read shorter than this: the input is trickling, hand on what we have
#: how long a pipe that ran dry may take to give more before the lines read are handed
#: on (a writer catching up, not a feed gone quiet)
_WAIT = 0.002


class Block:
    """Whole lines of input: `buf` (each line ends with a newline), `nl` (the offset of
    each newline), `first` (the first line's number), `items` (the lines as given, for
    an iterable of lines, else None) and `forced` (lines only the row reader may read);
    `ascii`: True where `buf` is known to be ASCII (found as its newlines were);
    `marks`: the bytes around each newline as they were found (`newlines_marked`)."""

    __slots__ = ("ascii", "at", "buf", "eof", "first", "forced", "items", "marks", "nl")

    def __init__(
        self,
        buf: bytes,
        first: int,
        eof: bool,
        items: list[str | bytes] | None = None,
        forced: set[int] | None = None,
        nl: np.ndarray | None = None,
        ascii: bool = False,
        marks: np.ndarray | None = None,
    ) -> None:
        self.buf = buf
        self.first = first
        self.eof = eof
        self.items = items
        self.forced = forced or set()
        self.ascii = ascii
        if nl is None:
            nl, marks, self.ascii = newlines_marked(buf)
        self.nl = nl
        self.marks = np.zeros(len(nl), np.uint8) if marks is None else marks
        self.at = 0  # the stream offset of buf's first byte (`ByteLines`)

    def __len__(self) -> int:
        return len(self.nl)

    def starts(self) -> np.ndarray:
        starts = np.empty(len(self.nl), np.int64)
        if len(starts):
            starts[0] = 0
            starts[1:] = self.nl[:-1] + 1
        return starts

    def item(self, i: int) -> str | bytes:
        """Line `i` as given (bytes without the newline, or the iterable's item)."""
        if self.items is not None:
            return self.items[i]
        start = int(self.nl[i - 1]) + 1 if i else 0
        return bytes(self.buf[start : int(self.nl[i])])


class ByteLines:
    """Blocks of about `size` whole lines from a binary stream; `offset` is where the
    lines not yet handed on start in the stream (a resumed read starts at `offset`,
    numbering lines from `first`)."""

    def __init__(
        self,
        stream: IO[bytes],
        size: int,
        first: int = 1,
        offset: int = 0,
        *,
        poll: float | None = None,
        ready: Callable[[float], bool] | None = None,
        endless: bool = False,
    ) -> None:
        """`poll`: on a live input, when nothing arrived within `poll` seconds, hand on
        an empty block (not the end) so that the caller can look at the wall clock;
        `ready(timeout)` says whether a read would find bytes (by default a `select` on
        a pipe's descriptor); `endless`: a read that finds nothing is not the end (a
        followed file, read only when `ready`)."""
        self.poll = poll
        self.ready = ready
        self.endless = endless
        self.readinto = getattr(stream, "readinto1", None) or getattr(stream, "readinto", None)
        self.fd = _descriptor(stream)
        self.read = getattr(stream, "read1", None) or stream.read
        self.size = size
        self.carry = b""  # bytes read but not yet in a block
        self.carried = 0  # newlines in carry
        self.carry_ascii = True  # whether carry is known to be ASCII
        self.width = 128.0  # bytes a line, as seen so far
        self.first = first
        self.eof = False
        self.need = 0  # lines the next block must have (more than were pushed back)
        self.offset = offset  # the stream offset of `carry`'s first byte
        self.read_to = offset  # the stream offset of the end of what was read
        self.interrupted: BaseException | None = None
        self.spare: list[bytearray] = []  # buffers of blocks handed on (`_buffer`)

    def _buffer(self, size: int) -> bytearray:
        """A buffer of `size` bytes (what they hold is to be overwritten): one of an
        earlier block that no one holds any more (its only reference is `spare`'s, as
        CPython counts them), its memory in place, else a new one. A new buffer's pages
        are zeroed and mapped by the kernel one by one as they are first written; a
        block's worth of them cost more than reading the block into them."""
        spare = self.spare
        for i in range(len(spare)):
            if sys.getrefcount(spare[i]) == 2:  # (the list's, and the call's argument)
                buf = spare.pop(i)
                if len(buf) < size:  # (its memory grows in place, where it has room)
                    buf.extend(bytes(size - len(buf)))
                del buf[size:]
                return buf
        buf = bytearray(size + size // 64)  # room for later blocks a little larger
        del buf[size:]  # (a bytearray keeps its memory when it shrinks this little)
        return buf

    def _fill(self, buf: bytearray, start: int, size: int) -> int:
        """Read into `buf[start : start + size]`; how many bytes came."""
        if self.readinto is not None:
            # (both views released even when the read raises: `buf` is resized after)
            with memoryview(buf) as view, view[start : start + size] as part:
                return self.readinto(part) or 0  # type: ignore[no-any-return]
        chunk = self.read(size)
        buf[start : start + len(chunk)] = chunk
        return len(chunk)

    def _quiet(self) -> bool:
        """Whether a pipe (or terminal, socket) gives nothing more within `_WAIT`: a burst
        of lines followed by silence is handed on, not held until the next burst."""
        return not self._ready(_WAIT) if self.fd is not None or self.ready else False

    def _ready(self, timeout: float) -> bool:
        """Whether a read would find bytes within `timeout` seconds (a regular file
        always would)."""
        if self.ready is not None:
            return self.ready(timeout)
        if self.fd is None:
            return True
        try:
            ready, _, _ = select.select([self.fd], [], [], timeout)
        except (OSError, ValueError):
            return True
        return bool(ready)

    def next_block(self) -> Block | None:
        """The next block; an exception that interrupted a read which had whole lines
        in hand is raised here, after those lines went on as a block."""
        if self.interrupted is not None:
            error, self.interrupted = self.interrupted, None
            raise error
        size = max(self.size, self.need)
        self.need = 0
        carry = self.carry
        count = self.carried
        buf = bytearray(carry)
        ascii = self.carry_ascii
        pieces, marked = [], []
        if count:
            found, marks, ascii = newlines_marked(buf, 0, self.width)
            pieces.append(found)
            marked.append(marks)
        filled = len(buf)
        first = True
        while not self.eof and count < size:
            if self.poll is not None and not self._ready(0 if count else self.poll):
                break  # (a live input gone quiet: hand on what is here, maybe nothing)
            if filled == len(buf):  # room for the lines still wanted
                want = min(max(4096, int(self.width * (size - count) * 1.02)), 1 << 26)
                if first:  # one buffer for the carry and what follows it
                    buf = self._buffer(filled + want)
                    buf[:filled] = carry
                else:
                    buf.extend(bytes(want))
                first = False
            # (read a piece at a time: its newlines are found while it is in cache)
            ask = min(len(buf) - filled, _PIECE)
            try:
                got = self._fill(buf, filled, ask)
            except BaseException as error:  # (a signal handler's, say, while we wait)
                if not count:
                    raise
                self.interrupted = error  # the whole lines read go on first
                break
            self.read_to += got
            if not got:
                self.eof = not self.endless
                break
            found, marks, known = newlines_marked(
                memoryview(buf)[filled : filled + got], filled, self.width
            )  # (the view gone at once: `buf` is resized below)
            ascii = ascii and known
            pieces.append(found)
            marked.append(marks)
            count += len(found)
            filled += got
            if count and got < ask and (got < _PAUSE or self._quiet()):
                break
        del buf[filled:]
        if self.eof and buf and not buf.endswith(b"\n"):
            buf += b"\n"
            pieces.append(np.array([len(buf) - 1], np.int64))
            marked.append(np.zeros(1, np.uint8))
            count += 1
        nl = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
        if not len(nl):
            self.carry, self.carried, self.carry_ascii = bytes(buf), 0, ascii
            if self.poll is not None and not self.eof:
                return self._nothing()
            return None
        marks = np.concatenate(marked)
        if len(nl) > size:
            nl, marks = nl[:size], marks[:size]
        cut = int(nl[-1]) + 1
        self.carry = bytes(buf[cut:])
        self.carried = count - len(nl)
        self.carry_ascii = ascii  # (carry was a part of buf)
        del buf[cut:]
        eof = self.eof and not self.carry
        block = Block(buf, self.first, eof, nl=nl, ascii=ascii, marks=marks)  # type: ignore[arg-type]
        self.spare = [*self.spare[-_SPARE + 1 :], buf]
        block.at = self.offset
        # (a last line without a newline was given one: that byte is not the stream's)
        self.offset = min(self.offset + cut, self.read_to)
        self.width = cut / len(nl)
        self.first += len(nl)
        return block

    def _nothing(self) -> Block:
        """An empty block: nothing arrived within the poll time."""
        block = Block(b"", self.first, False, nl=np.zeros(0, np.int64))
        block.at = self.offset
        return block

    def push_back(self, block: Block, i: int) -> None:
        """Read block's lines from `i` on again, with the next block."""
        start = int(block.nl[i - 1]) + 1 if i else 0
        self.carry = bytes(block.buf[start:]) + self.carry
        self.carried += len(block) - i
        self.carry_ascii = block.ascii and self.carry_ascii
        self.first = block.first + i
        self.offset = block.at + start
        self.need = len(block) - i + 1


class ItemLines:
    """Blocks of `size` lines from an iterable of lines (text or bytes); it has no
    byte offsets (`offset` None)."""

    offset = None

    def __init__(self, lines: Iterable[str] | Iterable[bytes], size: int, first: int = 1) -> None:
        self.lines = iter(lines)
        self.size = size
        self.pending: list[str | bytes] = []
        self.first = first
        self.eof = False
        self.need = 0

    def next_block(self) -> Block | None:
        items = self.pending
        self.pending = []
        size = max(self.size, self.need)
        self.need = 0
        if not self.eof and len(items) < size:
            for item in self.lines:
                items.append(item)
                if len(items) >= size:
                    break
            else:
                self.eof = True
        if not items:
            return None
        pieces = []
        forced = set()
        for i, item in enumerate(items):
            line = item[:-1] if item[-1:] in ("\n", b"\n") else item
            try:
                data = line.encode("utf-8") if isinstance(line, str) else line
            except UnicodeEncodeError:
                data = b""
                forced.add(i)
            if b"\n" in data:
                data = b""
                forced.add(i)
            pieces.append(data)
        pieces.append(b"")
        block = Block(b"\n".join(pieces), self.first, self.eof, items, forced)
        self.first += len(items)
        return block

    def push_back(self, block: Block, i: int) -> None:
        assert block.items is not None
        self.pending = block.items[i:] + self.pending
        self.first = block.first + i
        self.need = len(self.pending) + 1


def line_source(
    source: Any, size: int, first: int = 1, offset: int = 0, poll: float | None = None
) -> Any:
    """Blocks of lines from `source`, numbered from `first`; a binary stream is taken to
    stand at `offset` (for the positions of batches). With `poll`, a live input (a pipe,
    a followed file) gives an empty block when nothing arrived for `poll` seconds. A
    source that makes its own (`cep.io.follow.Followed`) has a `line_source` method."""
    own = getattr(source, "line_source", None)
    if own is not None:
        return own(size, first, offset, poll)
    if isinstance(source, io.TextIOBase):
        buffer = getattr(source, "buffer", None)
        if buffer is None:
            return ItemLines(source, size, first)
        source = buffer
    if hasattr(source, "read"):
        return ByteLines(source, size, first, offset, poll=poll)
    return ItemLines(source, size, first)


def bad_utf8_lines(block: Block, among: np.ndarray) -> np.ndarray:
    """The lines of the block that are not UTF-8, among those `among` (a mask over its
    lines) marks, in order (none when the block is ASCII: found with no pass over the
    mask)."""
    data = block.buf
    if block.ascii or data.isascii():
        return np.zeros(0, np.int64)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return np.zeros(0, np.int64)
    high = np.flatnonzero(np.frombuffer(data, np.uint8) >= 128)
    suspects = np.unique(np.searchsorted(block.nl, high), return_index=True)[0]  # (no numpy.ma)
    bad = []
    for i in suspects.tolist():
        item = block.item(i)
        if isinstance(item, bytes):
            try:
                item.decode("utf-8")
            except UnicodeDecodeError:
                bad.append(i)
    found = np.array(bad, np.int64)
    found = found[found < len(among)]
    return found[among[found]]


def _descriptor(stream: Any) -> int | None:
    """The stream's file descriptor where it is a pipe or the like (not a regular
    file: one is always ready to read)."""
    try:
        fd = int(stream.fileno())
        return None if stat.S_ISREG(os.fstat(fd).st_mode) else fd
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
