"""A snapshot's events, each made when first needed: what a restore onto the fast path
holds instead of an interpreter event per row (`cep.engine.state.events_of`).

The fast path keeps its events as columns (times, sequence numbers, slot values) and
needs an event object only for a report that is not written in bulk, a held-back event
or an interpreted rule; the texts its bulk reports write come straight from the table.
So a restore checks the whole table at once (as `events_of` would: tables that hold
together, texts that are UTF-8 and JSON objects, read in one pass), and makes each
event, read and validated exactly as `events_of` makes it, on its first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from cep.engine.state import (
    DATA,
    NONE,
    RECORD,
    TEXT,
    EventTable,
    SnapshotError,
    check_values,
    checked_columns,
    text_bounds,
    text_record,
    text_records,
    texts_of,
    value_of,
    values_of,
)
from cep.io.sources import SourceEvent
from cep.runtime.event import Event

if TYPE_CHECKING:
    from cep.io.validation import Validator


class _Object(msgspec.Struct):
    """Any JSON object (its fields skipped): what every stored text must be."""


_OBJECTS = msgspec.json.Decoder(list[_Object])


class RestoredEvents:
    """A table's events by row (`events[row]`), made and kept on first use; `ts`, `seq`
    (arrays) and the texts (`text_pieces`) without making any."""

    def __init__(self, table: EventTable, validator: Validator) -> None:
        codes, self.ts, self.seq, self._line, self._kinds = checked_columns(table)
        starts, ends = text_bounds(table)
        _check_texts(table, ends)
        check_values(table.values)
        self._table, self._validator = table, validator
        self._codes = codes
        self._texts = (np.frombuffer(table.text, np.uint8), starts, ends)
        # each row's place among the texts (kind TEXT) or the values (the others)
        is_text = self._kinds == TEXT
        self._at = np.empty(len(self._kinds), np.int64)
        self._at[is_text] = np.arange(int(is_text.sum()))
        self._at[~is_text] = np.arange(len(self._kinds) - int(is_text.sum()))
        self._made: list[Any] = [None] * len(self._kinds)

    def __len__(self) -> int:
        return len(self._made)

    def __getitem__(self, row: int) -> Any:
        made = self._made[row]
        if made is None:
            made = self._made[row] = self._make(row)
        return made

    def make(self, rows: np.ndarray) -> None:
        """Rows' events made, those not made yet, in one pass (their texts read as one,
        as `events_of` reads them)."""
        made = self._made
        todo = rows[[made[row] is None for row in rows.tolist()]]
        if not len(todo):
            return
        kinds = self._kinds[todo]
        blob, (_, starts, ends) = self._table.text, self._texts
        at = self._at[todo[kinds == TEXT]]
        texts = [blob[a:b].decode("utf-8", "surrogatepass")
                 for a, b in zip(starts[at].tolist(), ends[at].tolist(), strict=True)]  # fmt: skip
        records, text_of = iter(text_records(texts)), iter(texts)
        names, not_text = self._table.names, kinds != TEXT
        values = self._table.values
        decoded = iter(values_of([values[a] for a in self._at[todo[not_text]].tolist()]))
        columns = (todo.tolist(), self._codes[todo].tolist(), self.ts[todo].tolist(),
                   self.seq[todo].tolist(), self._line[todo].tolist())  # fmt: skip
        if bool((kinds == DATA).all()):  # (values, as made in Python: as they are)
            rows, codes, ts, seq, lines = columns
            if bool((self._line[todo] == NONE).all()):
                lines = [None] * len(rows)
            elif bool((self._line[todo] == NONE).any()):
                lines = [None if line == NONE else line for line in lines]
            types = map(names.__getitem__, codes)
            for row, event in zip(rows, map(Event, types, ts, decoded, seq, lines), strict=True):
                made[row] = event
            return
        for row, kind, code, ts, seq, line in zip(
            columns[0], kinds.tolist(), *columns[1:], strict=True
        ):
            if kind == TEXT:
                made[row] = self._event(kind, names[code], ts, seq, line, next(records),
                                        next(text_of))  # fmt: skip
            else:
                made[row] = self._event(kind, names[code], ts, seq, line, next(decoded), None)

    def _make(self, row: int) -> Any:
        """Row `row`'s event, as `events_of` makes it."""
        kind, at = self._kinds.item(row), self._at.item(row)  # (`item`: a Python int)
        text = self.text(row) if kind == TEXT else None
        value = value_of(self._table.values[at]) if text is None else text_record(text)
        type_name = self._table.names[self._codes.item(row)]
        ts, seq, line = self.ts.item(row), self.seq.item(row), self._line.item(row)
        return self._event(kind, type_name, ts, seq, line, value, text)

    def _event(
        self, kind: int, type_name: str, ts: int, seq: int, line: int, value: Any,
        text: str | None,
    ) -> Any:  # fmt: skip
        """An event as `events_of` makes it: `value` its record (`text`'s, read) or its
        values (`DATA`)."""
        line_or_none = None if line == NONE else line
        if kind == DATA:
            return Event(type_name, ts, value, seq, line_or_none)
        typed, _ = self._validator.validate(type_name, value)
        data = typed or value
        if kind == RECORD and data is value:  # (kept apart, as they were)
            data = dict(value)
        return SourceEvent(type_name, ts, data, seq, line_or_none, raw=value, json=text)  # type: ignore[arg-type]

    def text(self, row: int) -> str:
        """A `TEXT` row's text."""
        _, starts, ends = self._texts
        at = int(self._at[row])
        return self._table.text[int(starts[at]) : int(ends[at])].decode("utf-8", "surrogatepass")

    def kinds(self, rows: np.ndarray) -> np.ndarray:
        """Rows' kinds (`TEXT`, `RECORD`, `DATA`)."""
        return self._kinds[rows]

    def text_pieces(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`TEXT` rows' texts where they lie: the table's buffer, each one's start and
        end in it."""
        blob, starts, ends = self._texts
        at = self._at[rows]
        return blob, starts[at], ends[at]

    def type_names(self) -> list[str]:
        """The table's type names, by type code (`type_codes`)."""
        return self._table.names

    def type_codes(self, rows: np.ndarray) -> np.ndarray:
        """Rows' type codes (into `type_names`)."""
        return self._codes[rows]

    def lines(self, rows: np.ndarray) -> np.ndarray:
        """Rows' line numbers (`NONE`: none)."""
        return self._line[rows]

    def stored_values(self, rows: np.ndarray) -> list[Any]:
        """Non-`TEXT` rows' values as the table holds them (msgpack where the restore
        left them so: `load(raw_values=True)`), read or not."""
        return list(map(self._table.values.__getitem__, self._at[rows].tolist()))

    def data(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """Rows' values as expressions see them (made events' `data`; values stored as
        they are taken as they are, no event made for them)."""
        values, at = self._table.values, self._at[rows].tolist()
        kinds = self._kinds[rows]
        if bool((kinds == DATA).all()):
            return values_of(list(map(values.__getitem__, at)))
        self.make(rows[kinds != DATA])
        made = self._made
        return [value_of(values[a]) if kind == DATA else made[r].data
                for kind, a, r in zip(kinds.tolist(), at, rows.tolist(), strict=True)]  # fmt: skip


def _check_texts(table: EventTable, ends: np.ndarray) -> None:
    """SnapshotError unless every stored text is UTF-8 and a JSON object: read as one
    JSON array (each text's newline made a comma) of objects whose fields are skipped,
    else text by text (which says which fault)."""
    blob = table.text
    if not len(ends):
        return
    if not blob.isascii():
        try:
            blob.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise SnapshotError("the snapshot is damaged (an event's text is not UTF-8)") from None
    joined = bytearray(b"[")
    joined += blob  # (no zeroed buffer first: a copy only)
    view = np.frombuffer(joined, np.uint8)
    view[ends + 1] = ord(",")
    view[-1] = ord("]")
    try:
        if len(_OBJECTS.decode(joined)) == len(ends):
            return
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    text_records(texts_of(table))  # (SnapshotError, saying which fault, unless all are objects)
