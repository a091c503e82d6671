"""Report lines for `cep run`, joined in numba from texts made once each.

A report line is its parts' texts joined: the rule's fixed parts (`{"rule":...,
"kind":...,"ts":`, the severity and tags), the report's time, its partition's key text,
its `emit` text, and the text of each event it binds (a JSON line as read, a row's
record as encoded: `cep.runtime.match.encode`, the interpreter's encoder). Key texts (by
partition) and event texts (by kernel event) live in `TextTable`s, made once when a
partition or an event first needs one;
`write_reports` joins a batch of reports into one buffer, with no Python object per
report until the lines are cut out of it.
"""

from __future__ import annotations

import mmap
import sys
from dataclasses import dataclass

import numpy as np

from cep.io.batch import TextPieces
from cep.io.celltexts import put_bytes as _put
from cep.jit import njit


@njit(cache=True, nogil=True, _nrt=False)
def gather_texts(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, out: np.ndarray) -> int:
    """Texts moved to `out` one after another (`starts`, `ends` updated; those whose end
    is negative left as they are); bytes used."""
    q = 0
    for i in range(len(ends)):
        if ends[i] < 0:
            continue
        end = _put(out, q, data, starts[i], ends[i])
        starts[i] = q
        ends[i] = end
        q = end
    return q


@njit(cache=True, nogil=True, _nrt=False)
def place_texts(data, starts, ends, at, out):  # type: ignore[no-untyped-def]
    """`data[starts[i]:ends[i]]` copied to `out` at `at[i]` (a snapshot's texts put in
    row order: `cep.fast.storedtexts`)."""
    for i in range(len(starts)):
        _put(out, at[i], data, starts[i], ends[i])


def piece_texts(pieces: TextPieces) -> list[str | None]:
    """Text pieces as strings (None where not made: end -1), sliced from one decoded
    string when the bytes are ASCII (a character a byte)."""
    data, starts, ends = pieces
    written, starts, ends = data.tobytes(), starts.tolist(), ends.tolist()
    if written.isascii():
        text = written.decode("ascii")
        return [text[s:e] if e >= 0 else None for s, e in zip(starts, ends, strict=True)]
    return [written[s:e].decode() if e >= 0 else None for s, e in zip(starts, ends, strict=True)]


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _magnitude(value: int) -> np.uint64:
    magnitude = np.uint64(value)
    if value < 0:
        magnitude = np.uint64(0) - magnitude  # two's complement: right for -2**63 too
    return magnitude


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _digits(magnitude: np.uint64) -> int:
    digits = 1
    rest = magnitude // np.uint64(10)
    while rest:
        digits += 1
        rest //= np.uint64(10)
    return digits


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _int_width(value: int) -> int:
    """The bytes `_put_int` writes for `value`."""
    return _digits(_magnitude(value)) + (1 if value < 0 else 0)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _put_int(out: np.ndarray, q: int, value: int) -> int:
    magnitude = _magnitude(value)
    if value < 0:
        out[q] = 45
        q += 1
    digits = _digits(magnitude)
    for k in range(digits - 1, -1, -1):
        out[q + k] = 48 + magnitude % np.uint64(10)
        magnitude //= np.uint64(10)
    return q + digits


#: no bytes (a `TextTable`'s buffer while its map is resized)
_NO_BYTES = np.zeros(0, np.uint8)
#: whether a `TextTable`'s buffer grows in a private memory map resized in place
#: (Linux's `mremap`; elsewhere a resized anonymous map is not grown in place)
_MAPS = sys.platform == "linux" and hasattr(mmap, "MAP_ANONYMOUS")
#: a `TextTable`'s buffer is rewritten (texts no entry holds dropped) once it holds more
#: than this many bytes, and more than twice those that entries hold
REWRITE_AT = 1 << 20
#: a buffer a rewrite leaves is kept for the next rewrite (`TextTable._take_spare`) up
#: to this size: a larger table's rewrites are rarer, and its memory is given back
SPARE_LIMIT = 1 << 25
#: a table entry with no text
NOT_MADE = -1
#: an entry whose text is in the table's own buffer (`TextTable.source`)
OWN = -1
#: a text the bulk path does not make (an `emit` value the interpreter must compute: a
#: report that needs it is written by the interpreter's path)
FALLBACK_TEXT = -2


class TextTable:
    """UTF-8 texts by index, in one growing buffer, with `width` integers beside each
    (what an entry needs besides its text).

    An entry's text may also be lent (`lend`): it stays where it lies in a buffer the
    caller gives (a batch's lines, with no copy) until `settle` copies it in; `source`
    says where each entry's text is (`OWN`: the table's buffer, else `lent[source]`)."""

    def __init__(self, width: int = 0) -> None:
        self.data = np.empty(1 << 16, np.uint8)
        self.used = 0
        self.starts = np.zeros(0, np.int64)
        self.ends = np.zeros(0, np.int64)
        self.source = np.zeros(0, np.int64)
        self.info = np.zeros((0, width), np.int64)
        #: the arrays the four columns above are views of (`reserve`)
        self._rows = (self.starts, self.ends, self.source, self.info)
        #: entries in use: one past the highest given a text
        self.entries = 0
        #: the memory map `data` views, where it lies in one (`_grow`)
        self._mapped: mmap.mmap | None = None
        #: the buffers texts are lent from, and their bytes in all
        self.lent: list[np.ndarray] = []
        self.lent_bytes = 0
        #: the buffer the last rewrite left (`keep`), for the next one (`_take_spare`)
        self._spare: np.ndarray | None = None

    def __len__(self) -> int:
        return self.entries

    def reserve(self, count: int) -> None:
        """Room for entries up to `count` (new ones: no text). The columns are views of
        the first `count` rows of bigger arrays (doubled when full), and only the rows
        made room for are written: memory is touched as entries come, not ahead."""
        have = len(self.ends)
        if count <= have:
            return
        if count > len(self._rows[1]):
            size = max(count, 2 * len(self._rows[1]), 1024)
            shapes = (size, size, size, (size, self.info.shape[1]))
            grown = tuple(np.empty(shape, np.int64) for shape in shapes)
            for rows, old in zip(grown, self._rows, strict=True):
                rows[:have] = old[:have]
            self._rows = grown
        for rows, fill in zip(self._rows, (0, NOT_MADE, OWN, 0), strict=True):
            rows[have:count] = fill
        self.starts, self.ends, self.source, self.info = (rows[:count] for rows in self._rows)

    def put(self, at: np.ndarray, pieces: TextPieces) -> None:
        """Text i of `pieces` as entry `at[i]`, where made (`ends[i] >= 0`) or marked
        `FALLBACK_TEXT`."""
        data, starts, ends = pieces
        base = self._room(at, len(data))
        self.data[base : base + len(data)] = data
        self.used = base + len(data)
        made = ends >= 0
        self.starts[at[made]] = starts[made] + base
        self.ends[at[made]] = ends[made] + base
        self.source[at] = OWN
        self.ends[at[ends == FALLBACK_TEXT]] = FALLBACK_TEXT

    def put_picked(self, at: np.ndarray, pieces: TextPieces, picks: np.ndarray) -> None:
        """Entry `at[k]` gets text `picks[k]` of `pieces` (as `put` would of the pieces
        picked), only those texts copied, in one pass."""
        data, starts, ends = pieces
        picks = np.asarray(picks, np.int64)
        size = _picked_size(starts, ends, picks)
        base = self._room(at, size)
        self.used = _put_picked(
            at, picks, data, starts, ends, self.data, base, self.starts, self.ends, self.source
        )

    def lend(
        self,
        at: np.ndarray,
        buf: bytes,
        starts: np.ndarray,
        ends: np.ndarray,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Entry `at[k]` gets the text `buf[starts[r]:ends[r]]` where it lies, no copy made,
        for `r = rows[k]` (by default `k`); none where that end is negative. `buf` is held
        until `settle`. Returns the k given none."""
        data = np.frombuffer(buf, np.uint8)
        self._room(at, 0)
        rows = np.arange(len(at)) if rows is None else rows
        source = len(self.lent)
        missing = _lend(at, rows, starts, ends, source, self.starts, self.ends, self.source)
        self.lent.append(data)
        self.lent_bytes += len(data)
        return missing

    def settle(self) -> None:
        """The lent texts copied into the table's buffer (each entry's text where it now
        lies); the lent buffers let go."""
        if not self.lent:
            return
        entries = slice(0, self.entries)
        at = np.flatnonzero((self.source[entries] != OWN) & (self.ends[entries] >= 0))
        q = self._room(at, int((self.ends[at] - self.starts[at]).sum()))
        source = self.source[at]
        for k, data in enumerate(self.lent):
            mine = at[source == k]
            starts, ends = self.starts[mine], self.ends[mine]
            used = gather_texts(data, starts, ends, self.data[q:])
            self.starts[mine], self.ends[mine] = starts + q, ends + q
            q += used
        self.used = q
        self.source[at] = OWN
        self.lent, self.lent_bytes = [], 0

    def _room(self, at: np.ndarray, size: int) -> int:
        """Room for entries `at` and `size` more bytes of text; where they start."""
        if len(at):
            self.entries = max(self.entries, int(at.max()) + 1)
            self.reserve(self.entries)
        need = self.used + size
        if need > len(self.data):
            self._grow(max(need, 2 * len(self.data)))
        return self.used

    def _grow(self, size: int) -> None:
        """The buffer grown to `size` bytes, its texts kept. It lies in a private memory
        map where the system can move one's pages (`mremap`): the map is grown in place,
        its bytes not copied (nor fresh pages written with them) where nothing else
        holds a view of it (a map with views cannot be resized); else a new map, the
        texts copied."""
        used, mapped = self.used, self._mapped
        if mapped is not None:
            self.data = _NO_BYTES  # (this table's view let go: the map may be resized)
            try:
                mapped.resize(size)
            except BufferError:  # (held elsewhere: a snapshot's texts, say)
                old = np.frombuffer(mapped, np.uint8)
            else:
                self.data = np.frombuffer(mapped, np.uint8)
                return
        else:
            old = self.data
        if not _MAPS:
            grown = np.empty(size, np.uint8)
        else:
            mapped = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            grown = np.frombuffer(mapped, np.uint8)
        grown[:used] = old[:used]
        self.data, self._mapped = grown, mapped if _MAPS else None

    def put_texts(self, at: np.ndarray, texts: list[bytes]) -> None:
        """Entry `at[i]` gets `texts[i]` (`encoded_pieces`)."""
        self.put(at, encoded_pieces(texts))

    def held(self, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Entries `at`'s starts, ends, sources and info, copied (ends `NOT_MADE` for
        entries beyond the table's)."""
        return _held(at, self.starts, self.ends, self.source, self.info)

    def text(self, at: int) -> str:
        """Entry `at`'s text (it must have one)."""
        source = self.source[at]
        data = self.data if source == OWN else self.lent[source]
        return data[self.starts[at] : self.ends[at]].tobytes().decode()

    def texts(self, at: np.ndarray) -> list[str]:
        """Entries `at`'s texts (each must have one), in one pass: each buffer copied
        out once, its texts cut from the copy (a snapshot's many kept events)."""
        buffers: dict[int, bytes] = {}
        out = []
        for start, end, source in zip(
            self.starts[at].tolist(), self.ends[at].tolist(), self.source[at].tolist(),
            strict=True,
        ):  # fmt: skip
            data = buffers.get(source)
            if data is None:
                whole = self.data[: self.used] if source == OWN else self.lent[source]
                data = buffers[source] = whole.tobytes()
            out.append(data[start:end].decode())
        return out

    def keep(self, kept: np.ndarray) -> None:
        """Renumber after the kernel's compaction: entry i becomes old entry `kept[i]`;
        lent texts still held copied in (`settle`); the buffer rewritten once the texts
        still held are under half of it."""
        if len(kept):
            self.reserve(int(kept.max()) + 1)
        n = len(kept)  # in place (`kept` rises, so `kept[i] >= i`): the room stays
        for column in (self.starts, self.ends, self.source, self.info):
            column[:n] = column[kept]
        self.ends[n : self.entries] = NOT_MADE
        self.source[n : self.entries] = OWN
        self.entries = n
        self.settle()
        starts, ends = self.starts[:n], self.ends[:n]
        live = int(np.maximum(ends - starts, 0).sum())
        if self.used > REWRITE_AT and 2 * live < self.used:
            # room for as much as was used since the last rewrite: texts come again at
            # that pace, and a buffer grown again by doubling would copy them each time
            room = min(len(self.data), 2 * self.used)
            data = self._take_spare(max(2 * live, room, 1 << 16))
            self.used = gather_texts(self.data, starts, ends, data)
            old, self.data, self._mapped = self.data, data, None
            if old.base is None and len(old) <= SPARE_LIMIT:  # (its own, not a map's)
                self._spare = old

    def _take_spare(self, size: int) -> np.ndarray:
        """A buffer of at least `size` bytes for a rewrite: the one the last rewrite
        left (`_spare`) where it is big enough and nothing else holds it or a view of
        it (a snapshot's texts, a `MatchTable`'s), else a new one. Its pages are in
        memory already: a new buffer's are zeroed by the system as texts first reach
        them (at every rewrite, about every batch: ~3% of the CPU time of `cep run`
        over Parquet)."""
        spare, self._spare = self._spare, None
        # (held by `spare` alone, as `_ALONE` counts it; one over twice the size asked
        # for is let go, as a rewrite into a new buffer would let the old one go)
        if (
            spare is not None
            and size <= len(spare) <= 2 * size
            and sys.getrefcount(spare) == _ALONE
        ):
            return spare
        return np.empty(size, np.uint8)


def _references_of_a_local() -> int:
    """What `sys.getrefcount` gives of an array only a local variable holds (2 where
    the call's argument counts too: the interpreter's way, not the language's)."""
    alone = np.empty(0, np.uint8)
    return sys.getrefcount(alone)


_ALONE = _references_of_a_local()


@njit(cache=True, nogil=True, _nrt=False)
def _picked_size(starts: np.ndarray, ends: np.ndarray, picks: np.ndarray) -> int:
    """The bytes of texts `picks` of some pieces (those made: end not negative)."""
    size = 0
    for k in range(len(picks)):
        end = ends[picks[k]]
        if end >= 0:
            size += end - starts[picks[k]]
    return size


@njit(cache=True, nogil=True, _nrt=False)
def _put_picked(at, picks, data, starts, ends, out, q, t_starts, t_ends, t_source):  # type: ignore[no-untyped-def]
    """`TextTable.put_picked`'s texts copied to `out` from `q` on and its entries
    written (an end `FALLBACK_TEXT` marked so, another negative one left as it is); where
    the texts end."""
    for k in range(len(at)):
        entry = at[k]
        t_source[entry] = OWN
        end = ends[picks[k]]
        if end < 0:
            if end == FALLBACK_TEXT:
                t_ends[entry] = FALLBACK_TEXT
            continue
        t_starts[entry] = q
        q = _put(out, q, data, starts[picks[k]], end)
        t_ends[entry] = q
    return q


@njit(cache=True, nogil=True)
def _lend(at, rows, starts, ends, source, t_starts, t_ends, t_source):  # type: ignore[no-untyped-def]
    """`TextTable.lend`'s entries written; the k whose text is not there."""
    missing = np.empty(len(at), np.int64)
    n_missing = 0
    for k in range(len(at)):
        row = rows[k]
        end = ends[row]
        if end < 0:
            missing[n_missing] = k
            n_missing += 1
            continue
        entry = at[k]
        t_starts[entry] = starts[row]
        t_ends[entry] = end
        t_source[entry] = source
    return missing[:n_missing]


@njit(cache=True, nogil=True)
def _held(at, t_starts, t_ends, t_source, t_info):  # type: ignore[no-untyped-def]
    """`TextTable.held`."""
    n = len(at)
    starts = np.zeros(n, np.int64)
    ends = np.full(n, NOT_MADE, np.int64)
    source = np.full(n, OWN, np.int64)
    info = np.zeros((n, t_info.shape[1]), np.int64)
    for k in range(n):
        entry = at[k]
        if entry >= len(t_ends):
            continue
        starts[k] = t_starts[entry]
        ends[k] = t_ends[entry]
        source[k] = t_source[entry]
        for w in range(t_info.shape[1]):
            info[k, w] = t_info[entry, w]
    return starts, ends, source, info


def encoded_pieces(texts: list[bytes]) -> TextPieces:
    """UTF-8 texts as pieces of one buffer."""
    ends = np.cumsum([len(text) for text in texts], dtype=np.int64)
    starts = ends - np.array([len(text) for text in texts], np.int64)
    return np.frombuffer(b"".join(texts), np.uint8), starts, ends


#: the rule's fixed texts, by index (`FastRule._shape`)
HEAD_MATCH, HEAD_TIMEOUT, KEY, FIELDS, EVENTS, TAIL, EMPTY, COMMA, OPEN, CLOSE, VARS = range(11)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _piece(out: np.ndarray, q: int, data: np.ndarray, a: int, b: int, measure: bool) -> int:
    if measure:
        return q + b - a
    return _put(out, q, data, a, b)


@njit(cache=True, nogil=True, _nrt=False)
def write_reports(
    kinds: np.ndarray, ts: np.ndarray, parts: np.ndarray,
    field_data: np.ndarray, field_starts: np.ndarray, field_ends: np.ndarray,
    key_data: np.ndarray, key_starts: np.ndarray, key_ends: np.ndarray,
    record_data: np.ndarray, record_starts: np.ndarray, record_ends: np.ndarray,
    offsets: np.ndarray, variables: np.ndarray, events: np.ndarray,
    consts: np.ndarray, const_starts: np.ndarray, const_ends: np.ndarray,
    order: np.ndarray, repeated: np.ndarray, keyed: bool,
    out: np.ndarray, line_starts: np.ndarray, line_ends: np.ndarray, measure: bool,
) -> int:  # fmt: skip
    """Report j's line at `out[line_starts[j]:line_ends[j]]`, a newline after it, the
    lines one after another (`line_ends[j]` -1: a text it needs is `FALLBACK_TEXT`, the
    caller writes it, and nothing is written for it here). Report j's `emit` text is field
    piece j (`NOT_MADE`: the default fields, its key, or `{}` for a rule without key);
    its events are `events[offsets[j]:offsets[j + 1]]`, bound to `variables`, oldest
    first; each variable in `order` that binds any is written as its last event, or a
    list of them when `repeated`. With `measure`, nothing is written and the result is
    the bytes needed; else the bytes written (the same)."""
    q = 0
    for j in range(len(kinds)):
        part = parts[j]
        field_end = field_ends[j]
        ok = key_ends[part] >= 0 and field_end != FALLBACK_TEXT
        for k in range(offsets[j], offsets[j + 1]):
            if record_ends[events[k]] < 0:
                ok = False
        line_starts[j] = q
        if not ok:
            line_ends[j] = -1
            continue
        head = HEAD_MATCH if kinds[j] == 0 else HEAD_TIMEOUT
        q = _piece(out, q, consts, const_starts[head], const_ends[head], measure)
        if measure:
            q += _int_width(ts[j])
        else:
            q = _put_int(out, q, ts[j])
        q = _piece(out, q, consts, const_starts[KEY], const_ends[KEY], measure)
        q = _piece(out, q, key_data, key_starts[part], key_ends[part], measure)
        q = _piece(out, q, consts, const_starts[FIELDS], const_ends[FIELDS], measure)
        if field_end >= 0:
            q = _piece(out, q, field_data, field_starts[j], field_end, measure)
        elif keyed:
            q = _piece(out, q, key_data, key_starts[part], key_ends[part], measure)
        else:
            q = _piece(out, q, consts, const_starts[EMPTY], const_ends[EMPTY], measure)
        q = _piece(out, q, consts, const_starts[EVENTS], const_ends[EVENTS], measure)
        first_item = True
        for var in order:
            last = -1
            count = 0
            for k in range(offsets[j], offsets[j + 1]):
                if variables[k] == var:
                    last = k
                    count += 1
            if count == 0:
                continue
            if not first_item:
                q = _piece(out, q, consts, const_starts[COMMA], const_ends[COMMA], measure)
            first_item = False
            name = VARS + var
            q = _piece(out, q, consts, const_starts[name], const_ends[name], measure)
            if not repeated[var]:
                g = events[last]
                q = _piece(out, q, record_data, record_starts[g], record_ends[g], measure)
                continue
            q = _piece(out, q, consts, const_starts[OPEN], const_ends[OPEN], measure)
            written = 0
            for k in range(offsets[j], offsets[j + 1]):
                if variables[k] != var:
                    continue
                if written:
                    q = _piece(out, q, consts, const_starts[COMMA], const_ends[COMMA], measure)
                written += 1
                g = events[k]
                q = _piece(out, q, record_data, record_starts[g], record_ends[g], measure)
            q = _piece(out, q, consts, const_starts[CLOSE], const_ends[CLOSE], measure)
        q = _piece(out, q, consts, const_starts[TAIL], const_ends[TAIL], measure)
        line_ends[j] = q
        if not measure:
            out[q] = 10
        q += 1
    return q


@njit(cache=True, nogil=True, _nrt=False)
def _join_lines(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, out: np.ndarray) -> int:
    """Pieces `data[starts[i]:ends[i]]` one after another in `out`, each followed by a
    newline; the bytes written."""
    q = 0
    for i in range(len(ends)):
        q = _put(out, q, data, starts[i], ends[i])
        out[q] = 10
        q += 1
    return q


def release_order(keys: list[np.ndarray], indexes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Several rules' reports (rule `indexes[k]`'s release keys are `keys[k]`, rows of
    time, phase and tie-breakers) as one table of keys with each report's rule index and
    place among its rule's reports added, and the order they are released in: by key,
    then rule index, then place."""
    merged = np.concatenate(
        [
            np.hstack((part[:, :4], np.full((len(part), 1), index), np.arange(len(part))[:, None]))
            for part, index in zip(keys, indexes, strict=True)
        ]
    )
    return merged, np.lexsort(merged.T[::-1])


@dataclass(slots=True, eq=False)
class ReportLines:
    """Report lines as UTF-8 pieces of one buffer, each with its release key (`keys[i]`:
    the time, phase and tie-breakers it is released by, then, once `merge`d, its rule's
    index and its place among the rule's reports): what `cep run` writes, with no Python
    object per line.

    `owner`, where given, is the bytearray `data` views (`report_buffer`), each line in
    it followed by a newline: `joined` hands it over as it is when the lines lie in it
    in release order, one after another (one rule's, the usual case), with no copy."""

    keys: np.ndarray
    data: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    owner: bytearray | None = None

    @classmethod
    def empty(cls, keys: int = 4) -> ReportLines:
        """No lines; `keys` columns of release key (6 once `merge`d)."""
        none = np.zeros(0, np.int64)
        return cls(np.zeros((0, keys), np.int64), np.zeros(0, np.uint8), none, none)

    @classmethod
    def merge(cls, parts: list[ReportLines], indexes: list[int]) -> ReportLines:
        """The lines of several rules (rule `indexes[k]`'s are `parts[k]`), in release
        order (`release_order`)."""
        if not parts:
            return cls.empty(6)
        merged, order = release_order([part.keys for part in parts], indexes)
        if len(parts) == 1:
            part = parts[0]
            return cls(merged[order], part.data, part.starts[order], part.ends[order], part.owner)
        datas, starts, ends = [], [], []
        size = 0
        for part in parts:
            datas.append(part.data)
            starts.append(part.starts + size)
            ends.append(part.ends + size)
            size += len(part.data)
        return cls(
            merged[order],
            np.concatenate(datas),
            np.concatenate(starts)[order],
            np.concatenate(ends)[order],
        )

    def __len__(self) -> int:
        return len(self.ends)

    def texts(self) -> list[str]:
        """Each line as a string."""
        return piece_texts((self.data, self.starts, self.ends))  # type: ignore[return-value]

    def pairs(self) -> list[tuple[tuple, str]]:
        """(release key, line) for each line."""
        return list(zip(map(tuple, self.keys.tolist()), self.texts(), strict=True))

    def joined(self) -> bytearray:
        """The lines, each ended by a newline, as one UTF-8 text: `owner` itself where
        the lines fill it in order (then these `ReportLines` hold no lines' text any
        more), else a copy joined from the pieces."""
        owner = self.owner
        if owner is not None and _in_place(self.starts, self.ends, len(owner)):
            self.owner = None  # (`data`, its view, let go: the bytearray may be resized)
            self.data = np.zeros(0, np.uint8)
            return owner
        out = bytearray(int((self.ends - self.starts).sum()) + len(self))
        _join_lines(self.data, self.starts, self.ends, np.frombuffer(out, np.uint8))
        return out


def report_buffer(size: int) -> tuple[bytearray, np.ndarray]:
    """A buffer for `write_reports` to write `size` bytes of lines into: the bytearray
    that `ReportLines.joined` may hand over (`ReportLines.owner`), and its bytes as an
    array."""
    owner = bytearray(size)
    return owner, np.frombuffer(owner, np.uint8)


def _in_place(starts: np.ndarray, ends: np.ndarray, size: int) -> bool:
    """Whether lines `starts[i]:ends[i]`, a newline after each, fill `size` bytes in
    order."""
    if not len(ends):
        return size == 0
    return starts[0] == 0 and ends[-1] + 1 == size and bool((starts[1:] == ends[:-1] + 1).all())
