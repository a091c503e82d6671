"""Rows of several batches as one batch, in a given order.

The fast path holds events back for an allowed delay as rows of the batches they came
in; once the watermark passes them they are matched in time order together with rows
of later batches. `gather_rows` puts such rows into one `Batch` the matching takes as it
takes a batch read from a file: columns taken row by row (string codes kept where the
parts share a dictionary, recoded into a new one where they do not), event texts left
in their buffer where they lie in one, else the stretches of the buffers they lie in
copied into one (JSON lines and CSV rows), or Arrow rows taken into one record batch,
and values of another kind than a column's (`Column.other`) and texts read by the row
reader (`given`) moved to their rows' new places.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cep.io.arrow import RowTexts
from cep.io.batch import Batch, Column, Dictionary, LineTexts
from cep.io.columns import empty_part, load_pyarrow

#: (a batch, the indexes of its rows to take, in the order wanted)
Part = tuple[Batch, np.ndarray]


def gather_rows(parts: Sequence[Part], order: np.ndarray | None = None) -> Batch:
    """One batch of the given rows, part after part, then put in `order` (row `k` of the
    batch is row `order[k]` of the parts' rows one after another; None: as they are). It
    has no rejects and no lines of its own (those were counted with the batches read).
    Every part must come from a reader of one format (one way of rebuilding a record from
    its kept text)."""
    parts = [(batch, np.asarray(rows, np.int64)) for batch, rows in parts]
    if not parts:
        raise ValueError("no rows to gather")
    record_of = parts[0][0].record_of
    if any(batch.record_of != record_of for batch, _ in parts):
        raise ValueError("rows of batches of different formats cannot be matched together")
    places = _Places(parts, order)
    put = places.put
    ts = put(np.concatenate([batch.ts[rows] for batch, rows in parts]).astype(np.int64))
    line = put(np.concatenate([batch.line[rows] for batch, rows in parts]).astype(np.int64))
    types, type_codes = _codes([(b.types, b.type, rows) for b, rows in parts], None)
    names = list(dict.fromkeys(name for batch, _ in parts for name in batch.columns))
    columns = {name: _column(name, parts, places) for name in names}
    texts = _texts(parts, places)
    gathered = Batch(ts, put(type_codes), types, line, columns, [], 0, texts)
    gathered.record_of = record_of
    return gathered


class _Places:
    """Where each part's rows go in the gathered batch (found when first asked for)."""

    def __init__(self, parts: list[Part], order: np.ndarray | None) -> None:
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(rows) for _, rows in parts]).tolist()
        self.order = order
        #: the place of each row of the parts one after another, where `order` puts it
        self.inverse: np.ndarray | None = None
        if order is not None:
            self.inverse = np.empty(len(order), np.int64)
            self.inverse[order] = np.arange(len(order))
        self._maps: dict[int, np.ndarray] = {}

    def put(self, values: np.ndarray) -> np.ndarray:
        """Values of the parts' rows one after another, in the gathered batch's order."""
        return values if self.order is None else values[self.order]

    def moved(self, p: int, by_row: dict[int, Any]) -> dict[int, Any]:
        """`by_row` (row of part `p`'s batch -> value) for the rows taken, by new place."""
        if not by_row:
            return {}
        where = self._maps.get(p)
        if where is None:
            batch, rows = self.parts[p]
            where = np.full(len(batch), -1, np.int64)
            at = np.arange(len(rows)) + self.offsets[p]
            where[rows] = at if self.inverse is None else self.inverse[at]
            self._maps[p] = where
        places = where[np.fromiter(by_row, np.int64, len(by_row))].tolist()
        return {at: value for at, value in zip(places, by_row.values(), strict=True) if at >= 0}


def _codes(
    coded: list[tuple[Dictionary, np.ndarray, np.ndarray]], valid: list[np.ndarray] | None
) -> tuple[Dictionary, np.ndarray]:
    """Codes of the rows taken: as they are where every part uses one dictionary, else
    recoded into a new dictionary (-1 where not valid)."""
    first = coded[0][0]
    if all(dictionary is first for dictionary, _, _ in coded):
        return first, np.concatenate([codes[rows] for _, codes, rows in coded]).astype(np.int32)
    merged = Dictionary()
    out = []
    for k, (dictionary, codes, rows) in enumerate(coded):
        taken = codes[rows]
        ok = taken >= 0 if valid is None else valid[k]
        lookup = merged.encode(dictionary.values, len(dictionary))
        recoded = np.full(len(rows), -1, np.int32)
        recoded[ok] = lookup[taken[ok]]
        out.append(recoded)
    return merged, np.concatenate(out)


def _column(name: str, parts: list[Part], places: _Places) -> Column:
    """Column `name` of the rows taken (missing where a part's batch lacks it)."""
    found = [batch.columns.get(name) for batch, _ in parts]
    taken = [rows for _, rows in parts]
    kinds = {column.kind for column in found if column is not None}
    if len(kinds) != 1:  # of no one kind: Python values
        values = places.put(np.concatenate(list(map(_python_values, found, taken))))
        valid = np.fromiter((value is not None for value in values), np.bool_, len(values))
        return Column("object", values, valid)
    kind = kinds.pop()
    columns = [
        column if column is not None else _missing(kind, len(batch))
        for column, (batch, _) in zip(found, parts, strict=True)
    ]
    valid_parts = [column.valid[rows] for column, rows in zip(columns, taken, strict=True)]
    other: dict[int, Any] = {}
    for p, column in enumerate(columns):
        other.update(places.moved(p, column.other))
    dictionary = None
    if kind == "str":
        coded = [(c.dictionary, c.values, rows) for c, rows in zip(columns, taken, strict=True)]
        dictionary, values = _codes(coded, valid_parts)  # type: ignore[arg-type]
    else:
        values = np.concatenate([c.values[rows] for c, rows in zip(columns, taken, strict=True)])
    valid = places.put(np.concatenate(valid_parts))
    return Column(kind, places.put(values), valid, dictionary, other)


def _missing(kind: str, n: int) -> Column:
    """A column of `n` rows none of which has the field."""
    part = empty_part(kind, n)
    return Column(kind, part.values, part.valid, Dictionary() if kind == "str" else None)


def _python_values(column: Column | None, rows: np.ndarray) -> np.ndarray:
    out = np.full(len(rows), None, object)
    if column is not None:
        for k, i in enumerate(rows.tolist()):
            out[k] = column.get(i)
    return out


def _texts(parts: list[Part], places: _Places) -> LineTexts:
    """The rows' texts: lines left where they lie when that is one buffer, else the
    stretch of each buffer they lie in copied into a new one; Arrow rows taken into one
    record batch; texts read by the row reader moved with their rows."""
    given: dict[int, str] = {}
    for p, (batch, _) in enumerate(parts):
        given.update(places.moved(p, batch.text_store.given))
    if all(type(batch.text_store) is RowTexts for batch, _ in parts):
        return _arrow_texts(parts, places, given)
    kind = type(parts[0][0].text_store)  # (lines: JSON or CSV)
    if any(type(batch.text_store) is not kind for batch, _ in parts):
        raise ValueError("rows of batches of different formats cannot be matched together")
    starts = [batch.text_store.starts[rows] for batch, rows in parts]
    ends = [batch.text_store.ends[rows] for batch, rows in parts]
    spans = []
    for s, e in zip(starts, ends, strict=True):
        cut = e >= 0  # (a row read as text has none: its text is given)
        spans.append((int(s[cut].min()), int(e[cut].max())) if cut.any() else (0, 0))
    texts = [batch.text_store for batch, _ in parts]
    used = [(t, low, high) for t, (low, high) in zip(texts, spans, strict=True) if high > low]
    if len({id(t.buf) for t, _, _ in used}) <= 1:
        buf = used[0][0].buf if used else b""  # the lines lie in one buffer: kept there
    else:
        # the stretch of each buffer the rows' lines lie in, one after another (as bytes,
        # like a buffer read: numba compiles its functions once for read-only arrays)
        buf = b"".join(memoryview(t.buf)[low:high] for t, low, high in used)
        q = 0
        for s, e, (low, high) in zip(starts, ends, spans, strict=True):
            cut = e >= 0
            s[cut] += q - low
            e[cut] += q - low
            q += high - low
    put = places.put
    return LineTexts(buf, put(np.concatenate(starts)), put(np.concatenate(ends)), given)


def _arrow_texts(parts: list[Part], places: _Places, given: dict[int, str]) -> RowTexts:
    """Arrow rows taken into one record batch (a row read as text takes row 0 in its
    place: its text is `given`)."""
    pa = load_pyarrow()
    taken = []
    for batch, rows in parts:
        texts = batch.text_store
        arrow_rows = np.maximum(texts.starts[rows], 0)
        taken.append(texts.batch.take(pa.array(arrow_rows)))
    schema = taken[0].schema
    if any(not part.schema.equals(schema) for part in taken):
        table = pa.concat_tables(
            [pa.Table.from_batches([part]) for part in taken], promote_options="permissive"
        )
    else:
        table = pa.Table.from_batches(taken)
    combined = table.combine_chunks()
    arrow = combined.to_batches()[0] if combined.num_rows else taken[0]
    n = sum(len(rows) for _, rows in parts)
    return RowTexts(arrow, places.put(np.arange(n, dtype=np.int64)), given)
