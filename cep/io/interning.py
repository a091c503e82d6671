"""Text columns' dictionary codes for strings the JSON lines scanner finds, as byte spans.

An `Interner` keeps one open-addressing table of the UTF-8 bytes of the strings seen so
far (each column's apart), each decoded once a run, when first seen. The scanner looks
a good line's strings up while it reads the line (`lookup`, from `scan_lines`' threads,
which only read the table); `Interner.codes` then adds the strings it did not find, in
line order, so that a column's codes are in the order its strings first appear.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from cep.io.jsonscan import _same
from cep.jit import njit, prefetch_row

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
#: strings of at most this many bytes are their own keys (`_key`)
_SHORT = 6
_LONG = np.uint64(7 << 56)


class Interner:
    """Codes of `Dictionary`s (one per text column) for strings given as byte spans (of a
    block), each decoded once a run, when first seen: an open-addressing table of the
    UTF-8 bytes seen so far in each column.

    The scanner looks each good line's strings up in the table as it reads the line,
    while its bytes are in cache (`scan_lines`' `texts`; threads only read the table
    then); `codes` adds those it did not find, in the order of their lines, so that a
    column's codes stay in the order its strings first appear."""

    def __init__(self, dictionaries: list[Any], raw: bool = False) -> None:
        self.dictionaries = dictionaries
        #: whether spans are strings' UTF-8 bytes as they are (Arrow's), not JSON
        #: string bodies (escapes undone, never a NUL)
        self.raw = raw
        #: open addressing: a slot's entry number (-1: none) and its key (`_key`)
        self.slots = np.full((1024, 2), -1, np.int64)
        self.entry_start = np.zeros(256, np.int64)
        self.entry_len = np.zeros(256, np.int64)
        self.entry_column = np.zeros(256, np.int64)
        self.entry_code = np.zeros(256, np.int32)
        self.pool = np.zeros(4096, np.uint8)
        self.counts = np.zeros(2, np.int64)  # entries, pool bytes used

    def tables(self) -> tuple[np.ndarray, ...]:
        """What `scan_lines` looks strings up in (as they stand until `codes` adds more)."""
        return self.slots, self.entry_start, self.entry_len, self.entry_column, self.pool

    def codes(
        self, buf: Any, starts: np.ndarray, lens: np.ndarray, column: int = 0,
        entries: np.ndarray | None = None,
    ) -> np.ndarray:  # fmt: skip
        """The codes of the strings `buf[starts[i] : starts[i] + lens[i]]` of `column`;
        `entries`: their entries where the scanner found them, else -1 (written over)."""
        data = np.frombuffer(buf, np.uint8)
        if entries is None:
            entries = np.full(len(starts), -1, np.int64)
        unknown = int(np.count_nonzero(entries < 0))
        if unknown:
            before = int(self.counts[0])
            self._room(unknown, int(lens.sum()))
            done = 0
            while True:
                done = intern_spans(
                    data, starts, lens, column, entries, self.slots, self.entry_start,
                    self.entry_len, self.entry_column, self.pool, self.counts, done,
                )  # fmt: skip
                if done == len(starts):
                    break
                # (stopped where the table is half full, maybe at the first span: an
                # earlier call can leave it so)
                self._grow_table()
            after = int(self.counts[0])
            if after > before:
                self._name(before, after)
        return self.entry_code[entries]

    def _name(self, before: int, after: int) -> None:
        """Codes for entries before..after-1 (in the pool one after another, each followed
        by a NUL, which no string body in a line the scanner reads holds; an Arrow
        string may: then each is decoded apart)."""
        first = int(self.entry_start[before])
        last = int(self.entry_start[after - 1] + self.entry_len[after - 1])
        written = self.pool[first:last].tobytes()
        if self.raw and written.count(0) != after - before - 1:  # (a string holds a NUL)
            texts = [
                self.pool[a : a + n].tobytes().decode("utf-8")
                for a, n in zip(
                    self.entry_start[before:after].tolist(),
                    self.entry_len[before:after].tolist(),
                    strict=True,
                )
            ]
        else:
            block = written.decode("utf-8")
            texts = block.split("\0")
            if not self.raw and "\\" in block:
                texts = [json.loads(f'"{t}"') if "\\" in t else t for t in texts]
        columns = self.entry_column[before:after]
        if len(self.dictionaries) == 1 or (columns == columns[0]).all():
            dictionary = self.dictionaries[int(columns[0])]
            self.entry_code[before:after] = dictionary.encode(texts, after - before)
            return
        for column in np.unique(columns).tolist():
            which = np.flatnonzero(columns == column)
            words = [texts[i] for i in which.tolist()]
            codes = self.dictionaries[column].encode(words, len(words))
            self.entry_code[before + which] = codes

    def _room(self, rows: int, size: int) -> None:
        entries = int(self.counts[0]) + rows
        if entries > len(self.entry_start):
            grown = max(entries, 2 * len(self.entry_start))
            for name in ("entry_start", "entry_len", "entry_column", "entry_code"):
                old = getattr(self, name)
                new = np.zeros(grown, old.dtype)
                new[: len(old)] = old
                setattr(self, name, new)
        used = int(self.counts[1]) + size + rows  # and a NUL after each
        if used > len(self.pool):
            pool = np.zeros(max(used, 2 * len(self.pool)), np.uint8)
            pool[: len(self.pool)] = self.pool
            self.pool = pool

    def _grow_table(self) -> None:
        """A table twice the size (kept at most half full, and as small as that allows:
        the scanner's threads look every string up in it)."""
        self.slots = np.full((2 * len(self.slots), 2), -1, np.int64)
        rehash(self.slots, self.entry_start, self.entry_len, self.entry_column, self.pool,
               int(self.counts[0]))  # fmt: skip


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _word(data: np.ndarray, a: int, n: int) -> np.uint64:
    """The first (up to) 8 bytes of a span, packed little-end first."""
    w = np.uint64(0)
    for k in range(min(n, 8)):
        w |= np.uint64(data[a + k]) << np.uint64(8 * k)
    return w


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _key(data: np.ndarray, a: int, n: int, column: int) -> np.int64:
    """A span's key in `column`: for a short one (`_SHORT` bytes at most, a column below
    32) its bytes, length and column packed, so that equal keys are equal strings; for
    others a hash, its bits 56-58 set (a length no short key has)."""
    if n <= _SHORT and column < 32:
        packed = _word(data, a, n) | (np.uint64(n) << np.uint64(56))
        return np.int64(packed | (np.uint64(column) << np.uint64(59)))
    h = _FNV_OFFSET
    for k in range(n):
        h = (h ^ np.uint64(data[a + k])) * _FNV_PRIME
    h = (h ^ np.uint64(column)) * _FNV_PRIME
    return np.int64(h | _LONG)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _slot(key: np.int64, mask: int) -> int:
    """The first slot a key is looked for in (an odd multiply and a xorshift of it)."""
    h = np.uint64(key) * _GOLDEN
    return np.int64((h ^ (h >> np.uint64(29))) & np.uint64(mask))


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _probe(
    data: np.ndarray, a: int, n: int, column: int, key: np.int64, slots: np.ndarray,
    entry_start: np.ndarray, entry_len: np.ndarray, entry_column: np.ndarray,
    pool: np.ndarray,
) -> tuple[int, int]:  # fmt: skip
    """The entry of a span of `column` (-1: none) and the slot where it is, or where it
    goes. A slot holds an entry (-1: none) and its key, side by side: one cache line."""
    mask = len(slots) - 1
    i = _slot(key, mask)
    short = n <= _SHORT and column < 32
    while True:
        e = slots[i, 0]
        if e < 0:
            return -1, i
        if slots[i, 1] == key and (
            short
            or (
                entry_len[e] == n
                and entry_column[e] == column
                and _same(data, a, n, pool, entry_start[e], n)
            )
        ):
            return e, i
        i = (i + 1) & mask


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def span_key(data: np.ndarray, a: int, n: int, column: int, slots: np.ndarray) -> np.int64:
    """A span's key in `column` (what `lookup` looks for), its first slot fetched into
    the cache meanwhile (`prefetch_row`: a table of many strings is out of cache)."""
    key = _key(data, a, n, column)
    prefetch_row(slots, _slot(key, len(slots) - 1))
    return key


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def lookup(
    data: np.ndarray, a: int, n: int, column: int, key: np.int64, slots: np.ndarray,
    entry_start: np.ndarray, entry_len: np.ndarray, entry_column: np.ndarray,
    pool: np.ndarray,
) -> int:  # fmt: skip
    """The entry of a span of `column` (its key `key`, `span_key`) already in the table,
    or -1."""
    found, _ = _probe(
        data, a, n, column, key, slots, entry_start, entry_len, entry_column, pool
    )  # fmt: skip
    return found


@njit(cache=True, nogil=True, _nrt=False)
def rehash(
    slots: np.ndarray, entry_start: np.ndarray, entry_len: np.ndarray,
    entry_column: np.ndarray, pool: np.ndarray, count: int,
) -> None:  # fmt: skip
    """Put entries 0..count-1 into an empty table."""
    mask = len(slots) - 1
    for e in range(count):
        key = _key(pool, entry_start[e], entry_len[e], entry_column[e])
        i = _slot(key, mask)
        while slots[i, 0] >= 0:
            i = (i + 1) & mask
        slots[i, 0] = e
        slots[i, 1] = key


@njit(cache=True, nogil=True, _nrt=False)
def intern_spans(
    data: np.ndarray, starts: np.ndarray, lens: np.ndarray, column: int,
    entries: np.ndarray, slots: np.ndarray, entry_start: np.ndarray,
    entry_len: np.ndarray, entry_column: np.ndarray, pool: np.ndarray, counts: np.ndarray,
    done: int,
) -> int:  # fmt: skip
    """The entry of each span of `column` from `done` on whose entry is not known (-1),
    new entries added in order (their bytes copied into `pool`, which has room). Returns
    the number of spans done: all of them, or fewer where the table came to be half full."""
    limit = len(slots) // 2
    for row in range(done, len(starts)):
        if entries[row] >= 0:
            continue
        if counts[0] >= limit:
            return row
        a = starts[row]
        n = lens[row]
        key = _key(data, a, n, column)
        found, i = _probe(
            data, a, n, column, key, slots, entry_start, entry_len, entry_column, pool
        )  # fmt: skip
        if found < 0:
            found = counts[0]
            used = counts[1]
            for k in range(n):
                pool[used + k] = data[a + k]
            pool[used + n] = 0
            entry_start[found] = used
            entry_len[found] = n
            entry_column[found] = column
            counts[0] = found + 1
            counts[1] = used + n + 1
            slots[i, 0] = found
            slots[i, 1] = key
        entries[row] = found
    return len(starts)
