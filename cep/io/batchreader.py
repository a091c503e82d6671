"""What every batch reader shares: the fields asked for, dictionaries, the row reader.

A format's reader (`cep.io.jsonl`, `cep.io.csvfile`, `cep.io.arrow`) reads the rows it is
sure of on its fast path (`FastRows`), hands the rest to the row reader's code
(`RecordMaker`), and puts both together into a `Batch` (`BatchReader.assemble`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from cep.io.batch import Batch, Column, Dictionary, LineTexts
from cep.io.columns import ColumnPart, all_true, generic_part, kind_of, put_field
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
        time_unit: str = "ms",
    ) -> None:
        items = fields.items() if isinstance(fields, Mapping) else fields
        self.fields = [
            (name, kind_of(t)) for name, t in items if name not in (type_field, time_field)
        ]
        self.type_field = type_field
        self.time_field = time_field
        self.default_type = default_type or None
        self.validator = validator
        self.time_unit = time_unit  # (of a numeric event time: `cep.io.time.TIME_UNITS`)
        self.maker = RecordMaker(type_field, time_field, default_type, validator, time_unit)
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
            if not (all_true(ok) and all_true(present)):
                if not info.optional:
                    keep[rows[~present]] = False
                keep[rows[present & ~ok]] = False
            if name in used and typed is not None:
                put_field(parts, name, used[name], rows, typed, self.dictionaries.get(name))
        for name, kind in self.fields:
            if name not in declared and (cells := field(name)) is not None:
                for typed in inferred(cells):
                    put_field(parts, name, kind, rows, typed, self.dictionaries.get(name))

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
        count = len(events)
        dictionaries = self.dictionaries
        parts = {
            name: generic_part(kind, [e.data.get(name) for e in events], dictionaries.get(name))
            for name, kind in self.fields
        }
        codes = np.fromiter((self.types.code(e.type) for e in events), np.int32, count)
        minus = np.full(count, -1, np.int64)
        rows = FastRows(
            np.fromiter(map(_LINE, events), np.int64, count),
            np.fromiter((e.ts for e in events), np.int64, count),
            codes,
            parts,
            minus,
            minus,
            {i: e.text for i, e in enumerate(events)},
        )
        if fast is not None:
            rows = fast.merge(rows)
        columns = {
            name: Column(kind, part.values, part.valid, self.dictionaries.get(name), part.other)
            for name, kind in self.fields
            for part in (rows.parts[name],)
        }
        if row_texts is not None:
            texts = row_texts(rows.starts, rows.given)
        else:
            texts = LineTexts(buf, rows.starts, rows.ends, rows.given)
        return Batch(rows.ts, rows.type, self.types, rows.line, columns, rejects, lines, texts)


_LINE = attrgetter("line")


@dataclass(slots=True, eq=False)
class FastRows:
    """Rows in input order: their lines, times, types, fields, where their text is (byte
    offsets, or Arrow row numbers as `starts`; -1 for a row read as text) and the texts
    of rows the row reader read (`given`, by row)."""

    line: np.ndarray
    ts: np.ndarray
    type: np.ndarray
    parts: dict[str, ColumnPart]
    starts: np.ndarray
    ends: np.ndarray
    given: dict[int, str] = field(default_factory=dict)

    def merge(self, other: FastRows) -> FastRows:
        """These rows and `other`'s, in line order (these first where lines tie)."""
        if not len(other.line):
            return self
        if not len(self.line):
            return other
        order = np.argsort(np.concatenate((self.line, other.line)), kind="stable")
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        k = len(self.line)

        def both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.concatenate((a, b))[order]

        def moved(a: dict[int, Any], b: dict[int, Any]) -> dict[int, Any]:
            out = {int(back[i]): v for i, v in a.items()}
            out.update((int(back[k + i]), v) for i, v in b.items())
            return out

        parts = {}
        for name, part in self.parts.items():
            second = other.parts[name]
            parts[name] = ColumnPart(
                both(part.values, second.values),
                both(part.valid, second.valid),
                moved(part.other, second.other),
            )
        return FastRows(
            both(self.line, other.line),
            both(self.ts, other.ts),
            both(self.type, other.type),
            parts,
            both(self.starts, other.starts),
            both(self.ends, other.ends),
            moved(self.given, other.given),
        )

    def keep(self, mask: np.ndarray) -> FastRows:
        """Only the rows where `mask` is True."""
        if mask.all():
            return self
        index = np.flatnonzero(mask)
        new = np.full(len(mask), -1, np.int64)
        new[index] = np.arange(len(index))

        def moved(a: dict[int, Any]) -> dict[int, Any]:
            return {int(new[i]): v for i, v in a.items() if mask[i]}

        parts = {
            name: ColumnPart(part.values[index], part.valid[index], moved(part.other))
            for name, part in self.parts.items()
        }
        return FastRows(
            self.line[index],
            self.ts[index],
            self.type[index],
            parts,
            self.starts[index],
            self.ends[index],
            moved(self.given),
        )
