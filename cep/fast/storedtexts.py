"""Events a snapshot stores as their texts, taken in bulk from where the fast path keeps
them (a rule's `TextTable`, a restore's table) with no event object made for each.

A snapshot's events are rows of one table (`cep.engine.state.EventTable`). Most of the
fast path's events are texts only (JSON lines as read); `TextRefs` numbers the buffers
they lie in and notes, per event, its buffer, start, end, type and line. Events a
restore's table holds as records or values (and no object was made for) are noted as
such (`RESTORED`), with their kind and stored value, taken as they lie (a value still
msgpack is written again as it was: no event made, nothing read). `event_table` makes
the table from events given as objects (`table_of`) and as such references, the texts
of both copied into the table's text in row order in one pass per buffer."""

from __future__ import annotations

from typing import Any

import numpy as np

from cep.engine.state import TEXT, EventTable, array, ints, table_of, values_of
from cep.fast.reporttext import place_texts

#: `TextRefs.source` of an event given as an object
OBJECT = -1
#: `TextRefs.source` of an event given as a restore's record or values (`restored`)
RESTORED = -2


class TextRefs:
    """Events given by where their texts lie: per event (rows of one run of events,
    `OBJECT` where it is given as an object) `source` (a buffer's number), `start`,
    `end`, `type` (a name's number), `line` (-1: none) and `kind` (`TEXT`); or, for
    `RESTORED` ones, their kind and, as `start`, their place in `values`."""

    def __init__(self) -> None:
        self.buffers: list[np.ndarray] = []
        self._buffer_ids: dict[int, int] = {}
        self.names: list[str] = []
        self._name_ids: dict[str, int] = {}
        self.parts: list[tuple[np.ndarray, ...]] = []
        #: the stored values of `RESTORED` events (msgpack, or read already)
        self.values: list[Any] = []
        #: whether any event is given by its text (or as `RESTORED`)
        self.any = False

    def buffer(self, data: np.ndarray) -> int:
        """A buffer's number (numbered when new)."""
        found = self._buffer_ids.get(id(data))
        if found is None:
            found = self._buffer_ids[id(data)] = len(self.buffers)
            self.buffers.append(data)
        return found

    def name_codes(self, names: list[str]) -> np.ndarray:
        """Type names' numbers (numbered when new)."""
        ids = self._name_ids
        return np.array([ids.setdefault(name, len(ids)) for name in names], np.int64)

    def objects(self, count: int) -> None:
        """`count` events given as objects."""
        none = np.full(count, OBJECT, np.int64)
        self.parts.append((none, none, none, none, none, none))

    def add(self, source: np.ndarray, start: np.ndarray, end: np.ndarray, type_code: np.ndarray,
            line: np.ndarray, kind: np.ndarray | None = None) -> None:  # fmt: skip
        """Some events (the next rows of the run): `source` `OBJECT` where given as an
        object; `kind` `TEXT` but for `RESTORED` ones."""
        if kind is None:
            kind = np.full(len(source), TEXT, np.int64)
        self.parts.append((source, start, end, type_code, line, kind))
        self.any = True

    def restored(self, values: list[Any]) -> np.ndarray:
        """Stored values of `RESTORED` events added; their places in `values` (their
        `start`)."""
        first = len(self.values)
        self.values.extend(values)
        return np.arange(first, first + len(values))

    def joined(self) -> tuple[np.ndarray, ...]:
        """`source`, `start`, `end`, `type`, `line`, `kind` over all the events added."""
        self.names = list(self._name_ids)
        if not self.parts:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty, empty, empty, empty
        if len(self.parts) == 1:
            return self.parts[0]
        return tuple(np.concatenate(column) for column in zip(*self.parts, strict=True))


def event_table(
    objects: list[Any], ts: np.ndarray, seq: np.ndarray, refs: TextRefs, rows: np.ndarray
) -> EventTable:
    """Events as a table: rows `rows` of the events `refs` holds, those given as objects
    being `objects` (by the same rows; None for the others). Equal to `table_of` of the
    same events as objects."""
    if not refs.any:
        return table_of(objects, ts, seq)
    columns = refs.joined()
    if len(rows) != len(columns[0]) or not (np.diff(rows) == 1).all():  # (else all, in order)
        columns = tuple(column[rows] for column in columns)
    source, start, end, type_code, line, ref_kind = columns
    is_ref = source != OBJECT
    if not is_ref.any():
        return table_of(objects, ts, seq)
    at = np.flatnonzero(~is_ref)
    part = table_of(list(map(objects.__getitem__, at.tolist())), ts[at], seq[at])
    n = len(rows)
    # type names numbered in order of first use, as `table_of` numbers them
    every = list(dict.fromkeys([*part.names, *refs.names]))
    code = {name: i for i, name in enumerate(every)}
    ref_codes = np.array([code[name] for name in refs.names], np.int64)
    if not len(at):  # (every event by its text: no mixing)
        types = ref_codes[type_code]
    else:
        types = np.empty(n, np.int64)
        types[at] = np.array([code[name] for name in part.names], np.int64)[array(part.type)]
        types[is_ref] = ref_codes[type_code[is_ref]]
    used = _first_used(types, len(every))
    renumbered = np.empty(len(every), np.int64)
    renumbered[used] = np.arange(len(used))
    types = renumbered[types]
    names = [every[i] for i in used.tolist()]
    lines = line.copy()
    lines[at] = array(part.line)
    kinds = ref_kind.astype(np.uint8)
    kinds[at] = np.frombuffer(part.kind, np.uint8)
    values = _values(part.values, source, start, kinds, refs.values)
    # the texts, in row order: the objects' (in `part.text`) and the references'
    if len(at) or len(refs.values):
        text_rows = np.flatnonzero(kinds == TEXT)
        t_source, t_start, t_end = (column[text_rows] for column in (source, start, end))
    else:
        t_source, t_start, t_end = source, start, end
    from_part = t_source == OBJECT
    if from_part.any():
        part_ends = array(part.text_end)
        t_start[from_part] = np.concatenate(([0], part_ends[:-1] + 1))
        t_end[from_part] = part_ends
        t_source[from_part] = len(refs.buffers)
    sizes = t_end - t_start + 1
    ends = np.cumsum(sizes) - 1
    out = np.empty(int(ends[-1]) + 1 if len(ends) else 0, np.uint8)
    buffers = [*refs.buffers, np.frombuffer(part.text, np.uint8)]
    for k in _first_used(t_source, len(buffers)).tolist():
        mine = np.flatnonzero(t_source == k) if len(buffers) > 1 else slice(None)
        place_texts(buffers[k], t_start[mine], t_end[mine], ends[mine] - sizes[mine] + 1, out)
    out[ends] = ord("\n")
    return EventTable(
        names=names, type=ints(types), ts=ints(ts), seq=ints(seq), line=ints(lines),
        kind=kinds.tobytes(), text=out.tobytes(), text_end=ints(ends), values=values,
    )  # fmt: skip


def _values(
    made: list[Any], source: np.ndarray, start: np.ndarray, kinds: np.ndarray, stored: list[Any]
) -> list[Any]:
    """The values of a table's events not kept as text, in row order: `made` (those of
    the events given as objects, in row order) and `stored` (the `RESTORED` ones', by
    `start`). Either all msgpack as stored or all read, as a table's are."""
    if not stored:
        return made
    rows = np.flatnonzero(kinds != TEXT)
    restored = source[rows] == RESTORED
    found = list(map(stored.__getitem__, start[rows[restored]].tolist()))
    if not made:
        return found
    if any(type(value) is not dict for value in found):  # (msgpack as stored: read)
        found = values_of(found)
    out: list[Any] = [None] * len(rows)
    for at, value in zip(np.flatnonzero(restored).tolist(), found, strict=True):
        out[at] = value
    for at, value in zip(np.flatnonzero(~restored).tolist(), made, strict=True):
        out[at] = value
    return out


def _first_used(codes: np.ndarray, end: int) -> np.ndarray:
    """The distinct values of some integers in `[0, end)` (few), in order of first
    use."""
    present = np.zeros(end, np.bool_)
    present[codes] = True
    found = np.flatnonzero(present)
    if len(found) < 2:
        return found
    firsts = [int(np.argmax(codes == code)) for code in found.tolist()]
    return found[np.argsort(firsts)]
