"""What every batch reader shares: the fields asked for, dictionaries, the row reader.

A format's reader (`cep.io.jsonl`, `cep.io.csvfile`, `cep.io.arrow`) reads the rows it is
sure of on its fast path (`FastRows`), hands the rest to the row reader's code
(`RecordMaker`), and puts both together into a `Batch` (`BatchReader.assemble`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from cep.io.batch import Batch, Column, Dictionary, LineTexts
from cep.io.columns import ColumnPart, generic_part, kind_of, put_typed
from cep.io.sources import RecordMaker, Reject, SourceEvent
from cep.io.validation import Validator
from cep.lang.types import Type

if TYPE_CHECKING:
    from cep.lang.program import Schema


class BatchReader:
    """What every reader shares: the fields asked for, dictionaries, the row reader's code."""

    def __init__(
        self,
        fields: Mapping[str, Type | str] | Iterable[tuple[str, Type | str]],
        type_field: str,
        time_field: str,
        default_type: str | None,
        validator: Validator | None,
    ) -> None:
        items = fields.items() if isinstance(fields, Mapping) else fields
        self.fields = [
            (name, kind_of(t)) for name, t in items if name not in (type_field, time_field)
        ]
        self.type_field = type_field
        self.time_field = time_field
        self.default_type = default_type or None
        self.validator = validator
        self.maker = RecordMaker(type_field, time_field, default_type, validator)
        self.types = Dictionary()
        self.dictionaries = {name: Dictionary() for name, kind in self.fields if kind == "str"}

    def schema(self, type_name: str) -> Schema | None:
        return self.validator.schema(type_name) if self.validator is not None else None

    def _type_group(
        self,
        code: int,
        rows: np.ndarray,
        keep: np.ndarray,
        parts: dict[str, ColumnPart],
        field: Callable[[str], Any],
        declared_as: Callable[[Any, str], tuple[np.ndarray, np.ndarray, Any]],
        inferred: Callable[[Any], Iterable[Any]],
    ) -> None:
        """Validate and type the fields of the rows of one event type (`keep` cleared
        where the row reader must decide): `field(name)` gives a field's cells for those
        rows (None where the source lacks it), `declared_as(cells, kind)` which cells are
        present, which pass as `kind`, and their typed values, `inferred(cells)` the
        typed parts of a field the schema does not declare."""
        schema = self.schema(self.types.values[code])
        declared = schema.fields if schema is not None else {}
        if self.type_field in declared or self.time_field in declared:
            keep[rows] = False
            return
        used = dict(self.fields)
        for name, info in declared.items():
            cells = field(name)
            if cells is None:
                if not info.optional:
                    keep[rows] = False
                    return
                continue
            present, ok, typed = declared_as(cells, info.type.kind)
            if not info.optional:
                keep[rows[~present]] = False
            keep[rows[present & ~ok]] = False
            if name in used and typed is not None:
                put_typed(parts[name], used[name], rows, typed, self.dictionaries.get(name))
        for name, kind in self.fields:
            if name not in declared and (cells := field(name)) is not None:
                for typed in inferred(cells):
                    put_typed(parts[name], kind, rows, typed, self.dictionaries.get(name))

    def slow_part(self, events: list[SourceEvent]) -> tuple[dict[str, ColumnPart], np.ndarray]:
        parts = {}
        for name, kind in self.fields:
            values = [event.data.get(name) for event in events]
            parts[name] = generic_part(kind, values, self.dictionaries.get(name))
        codes = np.fromiter((self.types.code(e.type) for e in events), np.int32, len(events))
        return parts, codes

    def assemble(
        self,
        fast: FastRows | None,
        slow: list[SourceEvent | Reject],
        lines: int,
        buf: bytes = b"",
        row_texts: Callable[[np.ndarray, dict[int, str]], LineTexts] | None = None,
    ) -> Batch:
        """A batch from the rows read fast and the events and rejects of the row reader:
        its texts are slices of `buf`, else (Arrow rows) `row_texts(rows, given)`."""
        rejects = sorted((r for r in slow if isinstance(r, Reject)), key=attrgetter("line"))
        events = sorted((e for e in slow if isinstance(e, SourceEvent)), key=_LINE)
        parts, codes = self.slow_part(events)
        count = len(events)
        ts = np.fromiter((e.ts for e in events), np.int64, count)
        line = np.fromiter(map(_LINE, events), np.int64, count)
        given = {i: e.text for i, e in enumerate(events)}
        minus = np.full(count, -1, np.int64)
        starts, ends = minus, minus
        if fast is not None and len(fast.line) and not count:
            line, ts, codes = fast.line, fast.ts, fast.type
            starts, ends, parts = fast.starts, fast.ends, fast.parts
        elif fast is not None and len(fast.line):
            k = len(fast.line)
            line = np.concatenate((fast.line, line))
            ts = np.concatenate((fast.ts, ts))
            codes = np.concatenate((fast.type, codes))
            starts = np.concatenate((fast.starts, starts))
            ends = np.concatenate((fast.ends, ends))
            for name, part in parts.items():
                first = fast.parts[name]
                other = dict(first.other)
                other.update((k + i, v) for i, v in part.other.items())
                parts[name] = ColumnPart(
                    np.concatenate((first.values, part.values)),
                    np.concatenate((first.valid, part.valid)),
                    other,
                )
            given = {k + i: text for i, text in given.items()}
            if count:
                order = np.argsort(line, kind="stable")
                back = np.empty_like(order)
                back[order] = np.arange(len(order))
                line, ts, codes = line[order], ts[order], codes[order]
                starts, ends = starts[order], ends[order]
                given = {int(back[i]): text for i, text in given.items()}
                for name, part in parts.items():
                    other = {int(back[i]): v for i, v in part.other.items()}
                    parts[name] = ColumnPart(part.values[order], part.valid[order], other)
        columns = {
            name: Column(
                kind,
                parts[name].values,
                parts[name].valid,
                self.dictionaries.get(name),
                parts[name].other,
            )
            for name, kind in self.fields
        }
        if row_texts is not None:
            texts = row_texts(starts, given)
        else:
            texts = LineTexts(buf, starts, ends, given)
        return Batch(ts, codes, self.types, line, columns, rejects, lines, texts)


_LINE = attrgetter("line")


class FastRows:
    """Rows read on the fast path, in input order: their lines, times, types, fields and
    where their text is (byte offsets, or Arrow row numbers as `starts`)."""

    __slots__ = ("ends", "line", "parts", "starts", "ts", "type")

    def __init__(
        self,
        line: np.ndarray,
        ts: np.ndarray,
        type: np.ndarray,
        parts: dict[str, ColumnPart],
        starts: np.ndarray,
        ends: np.ndarray,
    ) -> None:
        self.line = line
        self.ts = ts
        self.type = type
        self.parts = parts
        self.starts = starts
        self.ends = ends

    def merge(self, other: FastRows) -> FastRows:
        """These rows and `other`'s, in line order."""
        if not len(other.line):
            return self
        if not len(self.line):
            return other
        line = np.concatenate((self.line, other.line))
        order = np.argsort(line, kind="stable")
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        k = len(self.line)
        parts = {}
        for name, part in self.parts.items():
            second = other.parts[name]
            values = np.concatenate((part.values, second.values))[order]
            valid = np.concatenate((part.valid, second.valid))[order]
            moved = {int(back[i]): v for i, v in part.other.items()}
            moved.update((int(back[k + i]), v) for i, v in second.other.items())
            parts[name] = ColumnPart(values, valid, moved)

        def both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.concatenate((a, b))[order]

        return FastRows(
            line[order],
            both(self.ts, other.ts),
            both(self.type, other.type),
            parts,
            both(self.starts, other.starts),
            both(self.ends, other.ends),
        )

    def keep(self, mask: np.ndarray) -> FastRows:
        """Only the rows where `mask` is True."""
        if mask.all():
            return self
        index = np.flatnonzero(mask)
        new = np.full(len(mask), -1, np.int64)
        new[index] = np.arange(len(index))
        parts = {}
        for name, part in self.parts.items():
            other = {int(new[i]): v for i, v in part.other.items() if mask[i]}
            parts[name] = ColumnPart(part.values[index], part.valid[index], other)
        return FastRows(
            self.line[index],
            self.ts[index],
            self.type[index],
            parts,
            self.starts[index],
            self.ends[index],
        )


# ------------------------------------------------------------------------------ lines
