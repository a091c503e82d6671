"""JSON Lines into batches: the numba scanner, msgspec structs, the row reader for the rest.

The scanner (`cep.io.jsonscan`) reads the lines it is sure of straight from the bytes;
msgspec decodes the others into structs built at run time, one per event type; a line
msgspec refuses, or that a check after decoding refuses, is read by the row reader's
code, which gives its reason.
"""

from __future__ import annotations

import functools
import re
import sys
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any, Optional, Union

import msgspec
import numpy as np

from cep.io.batch import Batch
from cep.io.batchreader import BatchReader, FastRows
from cep.io.columns import ColumnPart, fast_part, generic_part
from cep.io.interning import Interner
from cep.io.lines import Block, bad_utf8_lines
from cep.io.newlines import braced_lines
from cep.io.scanplan import COLUMN_TYPES, ClassPlan, ScanPlan, field_mask, text_fields
from cep.io.sources import Reject, SourceEvent, json_line
from cep.io.time import MAX_MS, MIN_MS, event_ms, ints_to_ms, window_mask
from cep.io.validation import (
    AS_FLOAT,
    EPOCH_MS,
    FINITE,
    MAX_DEPTH,
    RULES,
    SAME,
    TIME,
    Action,
    InvalidValue,
    checker,
    too_deep_text,
)
from cep.lang.types import Type

if TYPE_CHECKING:
    from cep.lang.program import Schema

_LONG_JSON = 256  # longer lines are checked for huge ints before msgspec reads them
_MAX_CLASSES = 1024
_OTHERS = bytes(b for b in range(256) if b not in b"[{\n")  # what `deep_lines` deletes


_FMAX = sys.float_info.max
_I64 = Annotated[int, msgspec.Meta(ge=MIN_MS, le=MAX_MS)]
_F64 = Annotated[float, msgspec.Meta(ge=-_FMAX, le=_FMAX)]
_NOT_EXPRESSIBLE = object()
#: what msgspec decodes a value of a class to, by the action `RULES` take on it: where
#: msgspec performs the action as its function does (an int within int64 as it is, or
#: made a float as `float()` makes it; a finite float), or where the action's function
#: is applied after decoding (`_AFTER`). A value an action not here takes (a float with
#: no fraction for an int field) is refused by msgspec: the row reader's validation
#: decides
_DECODED: dict[tuple[type, Action], Any] = {
    (int, SAME): _I64,
    (int, EPOCH_MS): _I64,
    (int, AS_FLOAT): _F64,
    (float, FINITE): _F64,
    (float, TIME): _F64,
    (str, TIME): str,
    (str, SAME): str,
    (bool, SAME): bool,
}
_AFTER = frozenset((TIME,))
_UNDECLARED: dict[str, Any] = {
    "int": _I64,
    "duration": _I64,
    "time": _I64,
    "float": Union[int, float],  # noqa: UP007
    "str": str,
    "bool": bool,
    "object": Any,
}
_PY_UNDECLARED = COLUMN_TYPES  # an undeclared field is decoded as its column's kind takes
_NO_TYPE_TAG = "\x00cep: no such type"
_CODE = attrgetter("_code")
_T = attrgetter("t")
_LOCATION = re.compile(r"`\$\[(\d+)\]")
_BYTE = re.compile(r"\(byte (\d+)\)")


@functools.cache
def _digit_run(digits: int) -> re.Pattern[bytes]:
    return re.compile(rb"[0-9]{%d}" % (digits + 1))


def _decoded(declared: Type) -> tuple[Any, bool, set[str]]:
    """A declared field's msgspec type (`_NOT_EXPRESSIBLE` where msgspec cannot take its
    values as `RULES` do: a list of items checked after decoding), whether its values
    are checked after decoding, and the Python types of its typed values."""
    if declared.kind == "list":
        if declared.elem is None:
            return list, False, {"any"}
        elem, after, _ = _decoded(declared.elem)
        if elem is _NOT_EXPRESSIBLE or after:
            return _NOT_EXPRESSIBLE, False, {"any"}
        return list[elem], False, {"any"}  # type: ignore[valid-type]
    actions = RULES.get(declared.kind)
    if actions is None:
        return Any, False, {"any"}
    taken = [(cls, action) for cls, action in actions.items() if (cls, action) in _DECODED]
    mtypes = tuple(dict.fromkeys(_DECODED[form] for form in taken))
    after = any(action in _AFTER for _, action in taken)
    results = {(action.result or cls).__name__ for cls, action in taken}
    return Union[mtypes], after, results  # noqa: UP007


#: the event time: read as a `time` field is
_EVENT_TIME = _decoded(Type("time"))[0]


def deep_lines(buf: Any, lines: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Among `lines` (ascending numbers of lines of `buf`, each ending with a newline),
    those nested deeper than `MAX_DEPTH` (`too_deep_text` decides): the lines msgspec
    must not read, as the row reader rejects them. A JSON line that deep holds that many
    brackets of each kind, so only lines longer than twice it with more opening brackets
    (counted for every line at once: all other bytes deleted) are looked at."""
    long = lines[ends[lines] - starts[lines] > 2 * MAX_DEPTH]
    if not len(long):
        return long
    kept = (buf if isinstance(buf, bytes | bytearray) else bytes(buf)).translate(None, _OTHERS)
    newlines = np.flatnonzero(np.frombuffer(kept, np.uint8) == 10)
    opening = np.diff(newlines, prepend=-1) - 1
    suspects = long[opening[long] > MAX_DEPTH].tolist()
    return np.array(
        [i for i in suspects if too_deep_text(bytes(buf[starts[i] : ends[i]]))], np.int64
    )


class JsonlReader(BatchReader):
    """JSONL: blocks of lines decoded by msgspec, the row reader for the rest."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.attrs = {name: f"u{j}" for j, (name, _) in enumerate(self.fields)}
        self.classes: dict[str, Any] = {}
        self.known: set[str] = set()
        self.decoder: Any = None
        self.default_ok: set[str | None] = {None, ""}
        self.interner = Interner([self.dictionaries[name] for name in text_fields(self.fields)])
        self.plan: ScanPlan | None = None  # the scanner's, where it may read lines
        if self.default_type is not None:
            self.default_ok.add(self.default_type)
            self.known.add(self.default_type)
            cls = self._struct(self.default_type, self.schema(self.default_type), tagged=False)
            if cls is not None:
                self.decoder = msgspec.json.Decoder(cls)
                self._plan([cls], [], [self.default_type, ""])
        else:
            none = msgspec.defstruct(
                "_NoType",
                [],
                tag_field=self.type_field,
                tag=_NO_TYPE_TAG,
                namespace={"_code": -1},
            )
            self.classes[_NO_TYPE_TAG] = none
            if self.validator is not None:
                for name, schema in self.validator.schemas.items():
                    self._learn(name, schema)

    # -- structs

    def _struct(self, name: str, schema: Schema | None, tagged: bool) -> Any:
        fields: list[Any] = [("t", _EVENT_TIME)]
        rename = {"t": self.time_field}
        after = []  # (attr, the declared type's checker): checked after decoding
        pytypes: dict[str, set[str]] = {}
        declared = schema.fields if schema is not None else {}
        used = dict(self.fields)
        masks: dict[str, int | None] = {self.time_field: field_mask("time", True, False, None)}
        for i, (field_name, info) in enumerate(declared.items()):
            if field_name in (self.type_field, self.time_field):
                return None
            mtype, checked, results = _decoded(info.type)
            if mtype is _NOT_EXPRESSIBLE:
                return None
            masks[field_name] = field_mask(
                info.type.kind, True, info.optional, used.get(field_name)
            )
            attr = self.attrs.get(field_name, f"d{i}")
            rename[attr] = field_name
            if checked:
                after.append((attr, checker(info.type)))
            if info.optional:
                fields.append((attr, Optional[mtype], None))  # noqa: UP045
            else:
                fields.append((attr, mtype))
            pytypes[attr] = results
        for field_name, kind in self.fields:
            if field_name in declared:
                continue
            attr = self.attrs[field_name]
            rename[attr] = field_name
            fields.append((attr, Optional[_UNDECLARED[kind]], None))  # noqa: UP045
            pytypes[attr] = _PY_UNDECLARED.get(kind, {"any"})
            masks[field_name] = field_mask(kind, False, True, kind)
        scan = None if None in masks.values() else masks
        if not tagged:
            fields.append(("y", Optional[str], None))  # noqa: UP045
            rename["y"] = self.type_field
        return msgspec.defstruct(
            f"_Event{len(self.classes)}",
            fields,
            kw_only=True,
            gc=False,
            rename=rename,
            tag_field=self.type_field if tagged else None,
            tag=name if tagged else None,
            namespace={
                "_code": self.types.code(name),
                "_after": tuple(after),
                "_py": pytypes,
                "_scan": scan,
            },
        )

    def _plan(self, classes: list[Any], tags: list[str], default: list[str]) -> None:
        """Let the scanner read the lines of these structs' types (see `cep.io.jsonscan`)
        where columns are wanted: with none (the interpreter's batches) msgspec reads each
        line's type and time as fast, and the scanner's machine code is not worth
        compiling on a first run."""
        if (
            not self.fields
            or self.type_field == self.time_field
            or all(cls._scan is None for cls in classes)
        ):
            self.plan = None
            return
        plans = [ClassPlan(cls._code, cls._scan) for cls in classes]
        self.plan = ScanPlan(
            self.type_field, self.time_field, plans, tags, default, self.fields, self.interner
        )

    def _learn(self, name: str, schema: Schema | None) -> None:
        """Decode events of type `name` on the fast path from now on, if they can be."""
        self.known.add(name)
        if self.default_type is not None or len(self.classes) > _MAX_CLASSES:
            return
        cls = self._struct(name, schema, tagged=True)
        if cls is None:
            return
        self.classes[name] = cls
        self.decoder = msgspec.json.Decoder(Union[tuple(self.classes.values())])  # noqa: UP007
        tagged = {tag: c for tag, c in self.classes.items() if tag != _NO_TYPE_TAG}
        self._plan(list(tagged.values()), list(tagged), [])

    # -- the row reader

    def row(self, number: int, item: str | bytes) -> SourceEvent | Reject | None:
        """The row reader's reading of one line (`json_line`) (None for a blank line)."""
        result = json_line(self.maker, number, item)
        if isinstance(result, SourceEvent) and result.type not in self.known:
            self._learn(result.type, self.schema(result.type))
        return result

    # -- a block

    def batch(self, block: Block) -> Batch:
        n = len(block)
        nl = block.nl
        starts, ends, ok = braced_lines(block.buf, nl, block.marks)
        length = ends - starts
        digits = sys.get_int_max_str_digits()
        if digits and n and int(length.max()) > max(_LONG_JSON, digits):
            for i in np.flatnonzero(ok & (length > max(_LONG_JSON, digits))).tolist():
                # what Python's json refuses and msgspec may take: huge ints
                if _digit_run(digits).search(block.buf, int(starts[i]), int(ends[i])):
                    ok[i] = False
        if block.forced:
            ok[list(block.forced)] = False
        ok[bad_utf8_lines(block, ok)] = False
        candidates = np.flatnonzero(ok)

        slow: list[SourceEvent | Reject] = []
        structs: list[Any] = []
        rows: list[range] = []  # the lines of `structs`, run by run
        scanned = None
        if self.plan is not None and len(candidates):
            scanned, candidates = self.scan(self.plan, block, candidates, starts, ends)
        if len(candidates):  # (the scanner's lines nest no deeper than `MAX_DEPTH`)
            deep = deep_lines(block.buf, candidates, starts, ends)
            if len(deep):
                ok[deep] = False
                candidates = np.setdiff1d(candidates, deep, assume_unique=True)
        if len(candidates):
            breaks = np.flatnonzero(np.diff(candidates) != 1) + 1
            bounds = np.concatenate(([0], breaks, [len(candidates)]))
            view = memoryview(block.buf)
            for r in range(len(bounds) - 1):
                a, b = int(candidates[bounds[r]]), int(candidates[bounds[r + 1] - 1])
                self.decode_run(view, block, starts, a, b, structs, rows, slow)
        for i in np.flatnonzero(~ok).tolist():
            self.by_row_reader(block, i, slow)

        fast = None
        if structs:
            lines = np.concatenate([np.arange(r.start, r.stop, dtype=np.int64) for r in rows])
            fast, demoted = self._columns(structs, lines, block, starts, ends)
            for i in demoted.tolist():
                self.by_row_reader(block, i, slow)
        if scanned is not None:
            fast = scanned if fast is None else scanned.merge(fast)
        return self.assemble(fast, slow, n, buf=block.buf)

    def scan(
        self,
        plan: ScanPlan,
        block: Block,
        candidates: np.ndarray,
        starts: np.ndarray,
        ends: np.ndarray,
    ) -> tuple[FastRows, np.ndarray]:
        """The candidate lines the scanner reads, as fast rows, and the others (one of
        the three ways a line is read: `scan`, `decode_run` with msgspec, `by_row_reader`)."""
        every = len(candidates) == len(starts)  # (the usual case: no gathers)
        if not every:
            starts, ends = starts[candidates], ends[candidates]
        read, ts, codes, columns = plan.read(block.buf, starts, ends)
        if self.time_unit != "ms":
            ts = ints_to_ms(ts, self.time_unit)
        parts = {name: ColumnPart(values, valid) for name, (values, valid) in columns.items()}
        if len(read) == len(candidates):  # every candidate read
            lines, rest = candidates, np.zeros(len(candidates), np.bool_)
        else:
            lines, starts, ends = candidates[read], starts[read], ends[read]
            rest = np.ones(len(candidates), np.bool_)
            rest[read] = False
        rows = FastRows(lines + block.first, ts, codes, parts, starts, ends)
        timely = window_mask(ts)
        if not timely.all():  # the row reader gives the reason (`time out of range`)
            rest[read[~timely]] = True
            rows = rows.keep(timely)
        return rows, candidates[rest]

    def by_row_reader(self, block: Block, i: int, slow: list[SourceEvent | Reject]) -> None:
        """Line `i` read by the row reader's code (`row`), which gives a reject's reason."""
        result = self.row(block.first + i, block.item(i))
        if result is not None:
            slow.append(result)

    def decode_run(
        self,
        view: memoryview,
        block: Block,
        starts: np.ndarray,
        a: int,
        b: int,
        structs: list[Any],
        rows: list[range],
        slow: list[SourceEvent | Reject],
    ) -> None:
        """Decode lines a..b (each one object, by their looks) at once where they decode."""
        nl = block.nl
        while a <= b:
            decoder = self.decoder
            if decoder is None:
                self.by_row_reader(block, a, slow)
                a += 1
                continue
            try:
                items = decoder.decode_lines(view[starts[a] : nl[b]])
            except msgspec.DecodeError as error:
                last = self._locate(str(error), starts, a, b)
                if last is None:
                    self._each(view, block, starts, a, b, structs, rows, slow)
                    return
                if last > a:
                    self._exact(view, block, starts, a, last - 1, structs, rows, slow)
                self._each(view, block, starts, last, last, structs, rows, slow)
                a = last + 1
                continue
            if len(items) != b - a + 1:  # a line held more than one value
                self._each(view, block, starts, a, b, structs, rows, slow)
                return
            structs.extend(items)
            rows.append(range(a, b + 1))
            return

    @staticmethod
    def _locate(message: str, starts: np.ndarray, a: int, b: int) -> int | None:
        """A line at or after the one an error is in (the error names a value or a byte)."""
        found = _LOCATION.search(message)
        if found is not None:
            return min(a + int(found.group(1)), b)
        found = _BYTE.search(message)
        if found is not None:
            offset = int(starts[a]) + int(found.group(1))
            return min(int(np.searchsorted(starts, offset, side="right")) - 1, b)
        return None

    def _exact(
        self,
        view: memoryview,
        block: Block,
        starts: np.ndarray,
        a: int,
        b: int,
        structs: list[Any],
        rows: list[range],
        slow: list[SourceEvent | Reject],
    ) -> None:
        """Lines a..b at once if they all decode, one value a line; else one by one."""
        try:
            items = self.decoder.decode_lines(view[starts[a] : block.nl[b]])
        except msgspec.DecodeError:
            items = None
        if items is None or len(items) != b - a + 1:
            self._each(view, block, starts, a, b, structs, rows, slow)
            return
        structs.extend(items)
        rows.append(range(a, b + 1))

    def _each(
        self,
        view: memoryview,
        block: Block,
        starts: np.ndarray,
        a: int,
        b: int,
        structs: list[Any],
        rows: list[range],
        slow: list[SourceEvent | Reject],
    ) -> None:
        for i in range(a, b + 1):
            if self.decoder is not None:
                try:
                    item = self.decoder.decode(view[starts[i] : block.nl[i]])
                except msgspec.DecodeError:
                    pass
                else:
                    structs.append(item)
                    rows.append(range(i, i + 1))
                    continue
            self.by_row_reader(block, i, slow)

    def _columns(
        self,
        structs: list[Any],
        rows: np.ndarray,
        block: Block,
        starts: np.ndarray,
        ends: np.ndarray,
    ) -> tuple[FastRows, np.ndarray]:
        """Columns of decoded lines, and the lines the row reader must read again."""
        m = len(structs)
        codes = np.fromiter(map(_CODE, structs), np.int32, m)
        keep = codes >= 0
        if self.default_type is not None:
            ys = map(attrgetter("y"), structs)
            keep &= np.fromiter(map(self.default_ok.__contains__, ys), np.bool_, m)
        if not keep.all():
            demoted = rows[~keep]
            structs = [s for s, k in zip(structs, keep.tolist(), strict=True) if k]
            rows, codes = rows[keep], codes[keep]
            m = len(structs)
        else:
            demoted = np.zeros(0, np.int64)
        keep = np.ones(m, np.bool_)

        times = list(map(_T, structs))
        ts = np.array(times) if m else np.zeros(0, np.int64)
        if ts.dtype != np.int64:
            ts = np.zeros(m, np.int64)
            for i, value in enumerate(times):
                ms = event_ms(value, self.time_unit)
                if ms is None:
                    keep[i] = False
                else:
                    ts[i] = ms
        elif self.time_unit != "ms":
            ts = ints_to_ms(ts, self.time_unit)

        if m and codes.min() == codes.max():
            present = [structs[0].__class__]
        else:
            present = [structs[int(i)].__class__ for i in np.unique(codes, return_index=True)[1]]
        patches: dict[str, dict[int, Any]] = {}  # values checked after decoding, typed
        for cls in present:
            if not cls._after:
                continue
            members = np.flatnonzero(codes == cls._code).tolist() if len(present) > 1 else None
            for attr, check in cls._after:
                patch = patches.setdefault(attr, {})
                for i in members if members is not None else range(m):
                    value = getattr(structs[i], attr)
                    if value is None:
                        continue
                    try:
                        patch[i] = check(value)
                    except InvalidValue:
                        keep[i] = False  # the row reader gives the reason
                        patch[i] = None

        parts = {}
        for name, kind in self.fields:
            attr = self.attrs[name]
            values = list(map(attrgetter(attr), structs))
            for i, value in patches.get(attr, {}).items():
                values[i] = value
            accepts = COLUMN_TYPES.get(kind)
            simple = accepts is None or all(cls._py[attr] <= accepts for cls in present)
            dictionary = self.dictionaries.get(name)
            if simple:
                parts[name] = fast_part(kind, values, dictionary)
            else:
                parts[name] = generic_part(kind, values, dictionary)
        keep &= window_mask(ts)  # the row reader gives the reason (`time out of range`)
        fast = FastRows(rows + block.first, ts, codes, parts, starts[rows], ends[rows]).keep(keep)
        return fast, np.concatenate((demoted, rows[~keep]))
