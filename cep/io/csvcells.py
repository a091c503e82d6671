"""CSV cells typed in bulk: a pyarrow string array of cells read as the row reader's
code reads them (`convert_cell`, `infer_cell`), with vectorized checks for the common
forms; the others are left to Python (`infer_cell`) or to the row reader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from cep.io.columns import INTISH, Typed, load_pyarrow, to_numpy, validated
from cep.io.sources import INT_TEXT, infer_cell
from cep.jit import njit

#: what `scan_cells` finds a cell to be: empty; an integer of at most 18 digits
#: (`[-+]?[0-9]{1,18}`); a longer one; another decimal number
#: (`[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?`); anything else
EMPTY, INT, LONG_INT, NUMBER, OTHER = 0, 1, 2, 3, 4


class CellReader:
    """Vectorized typing of CSV cells (a pyarrow string array, "" for an empty cell):
    each cell's form found in one pass over the array's bytes (`scan_cells`)."""

    def __init__(self, cells: Any) -> None:
        self.pa = load_pyarrow()
        self.pc = self.pa.compute
        if isinstance(cells, self.pa.ChunkedArray):
            cells = one_array(cells)
        self.cells = cells
        self._buffers = _string_buffers(cells)
        offsets = self._buffers[1]
        self.present = offsets[1:] != offsets[:-1]
        self._scanned: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._ints: tuple[np.ndarray, np.ndarray] | None = None
        self._numbers: tuple[np.ndarray, np.ndarray] | None = None

    def _scan(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`scan_cells`' forms, ASCII flags and integer values, found when first asked
        for."""
        if self._scanned is None:
            self._scanned = scan_cells(*self._buffers)
        return self._scanned

    @property
    def forms(self) -> np.ndarray:
        """Each cell's form (`scan_cells`)."""
        return self._scan()[0]

    def ints(self) -> tuple[np.ndarray, np.ndarray]:
        """Cells that are ASCII integers of at most 18 digits, and their values (read
        by the same pass that found the forms; 0 for the other cells)."""
        if self._ints is None:
            forms, _, values = self._scan()
            self._ints = forms == INT, values
        return self._ints

    def numbers(self) -> tuple[np.ndarray, np.ndarray]:
        """Cells that are ASCII decimals (`[-+]?(\\d+\\.?\\d*|\\.\\d+)(e[-+]?\\d+)?`), and
        their values as floats (as pyarrow reads them: the nearest)."""
        if self._numbers is None:
            cells = self.cells
            ok = (self.forms >= INT) & (self.forms <= NUMBER)
            if not ok.all():
                cells = self.pc.if_else(self.pa.array(ok), cells, "0")
            self._numbers = ok, to_numpy(self.pc.cast(cells, self.pa.float64()))
        return self._numbers

    def ascii(self) -> np.ndarray:
        return self._scan()[1]

    def declared(self, kind: str) -> tuple[np.ndarray, Typed | None]:
        """Present cells that validation accepts as `kind` (`validated`), in their common
        forms as `convert_cell` reads them, and their typed values; the other present
        cells are left to the row reader."""
        present = self.present
        if kind == "str":
            typed = Typed("str", self.cells, present)
        elif kind == "bool":
            lower = self.pc.utf8_lower(self.cells)
            true = to_numpy(self.pc.equal(lower, "true"))
            ok = (true | to_numpy(self.pc.equal(lower, "false"))) & self.ascii()
            typed = Typed("bool", true, ok)
        elif kind in INTISH:
            ok, values = self.ints()
            typed = Typed("int", values, ok & present)
        elif kind == "float":
            # an integer's text is read as an int, then made a float: the same float,
            # except that "-0" is 0.0 (and one too long for Python is left to it)
            numbers, values = self.numbers()
            ok = numbers & present
            negative_zero = np.flatnonzero(ok & (values == 0) & np.signbit(values))
            if len(negative_zero):
                values = values.copy()
                cells = self.cells
                for i in negative_zero.tolist():
                    if INT_TEXT.fullmatch(cells[i].as_py()):
                        values[i] = 0.0
            typed = Typed("float", values, ok)
        else:
            return np.zeros(len(present), np.bool_), None
        return validated(typed, kind)

    def inferred(self) -> list[Typed]:
        """Present cells as `infer_cell` reads them (`inferred_cells`), text as the
        cells' strings."""
        return inferred_cells(self, ("str", self.cells), self._texts)

    def _texts(self, rows: np.ndarray) -> list[str]:
        cells = self.cells.to_pylist()
        return [cells[i] for i in rows.tolist()]


def inferred_cells(
    cells: Any, text_as: tuple[str, Any], texts: Callable[[np.ndarray], Iterable[str]]
) -> list[Typed]:
    """Present cells (a `CellReader`, or scanned cells with the same `present`,
    `forms`, `ints()`, `ascii()` and `numbers()`) as `infer_cell` reads them: ints,
    floats, text (as `text_as` gives its kind and values) and, where a Python look is
    needed (long or non-ASCII numbers), Python values of the cells' texts (`texts(rows)`)."""
    present = cells.present
    ints, int_values = cells.ints()
    ints = ints & present
    if (ints == present).all():  # (a column of integers: no other look needed)
        return [Typed("int", int_values, ints)]
    ascii_ = cells.ascii()
    numbers, float_values = cells.numbers()
    # integer text `ints` did not take (too long, or any where its quick check refused)
    long_int = cells.forms == LONG_INT
    floats = numbers & present & ~ints & ~long_int & ascii_
    text = present & ascii_ & ~numbers & ~long_int
    other = present & ~ints & ~floats & ~text
    out = [
        Typed("int", int_values, ints),
        Typed("float", float_values, floats),
        Typed(text_as[0], text_as[1], text),
    ]
    if other.any():
        rows = np.flatnonzero(other)
        py: list[Any] = [None] * len(present)
        for i, cell in zip(rows.tolist(), texts(rows), strict=True):
            py[i] = infer_cell(cell)
        out.append(Typed("py", py, other))
    return out


def one_array(column: Any) -> Any:
    """A chunked array as one array: its only chunk as it is (`combine_chunks` would
    copy it)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def split_cells(payload: Any, names: list[str], include: list[str] | None = None) -> Any:
    """Lines free of quotes, NUL and lone carriage returns, split at commas by pyarrow
    into a table of string columns named `names` (those in `include`; every one if
    None): an empty cell is "", never null. None if pyarrow refuses (a line with another
    number of cells)."""
    pa = load_pyarrow()
    include = names if include is None else include
    try:
        return pa.csv.read_csv(
            payload if isinstance(payload, pa.Buffer) else pa.py_buffer(payload),
            read_options=pa.csv.ReadOptions(column_names=names, block_size=1 << 22),
            parse_options=pa.csv.ParseOptions(
                delimiter=",",
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=True,
            ),
            convert_options=pa.csv.ConvertOptions(
                column_types=dict.fromkeys(include, pa.string()),
                include_columns=include,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
                check_utf8=False,
            ),
        )
    except pa.ArrowInvalid:
        return None


def _string_buffers(cells: Any) -> tuple[np.ndarray, np.ndarray]:
    """A pyarrow string array's bytes and its n + 1 offsets into them (int32, int64 for
    a large string array: viewed in place)."""
    pa = load_pyarrow()
    _, offsets, data = cells.buffers()[:3]
    n = len(cells)
    wide = pa.types.is_large_string(cells.type)
    dtype = np.int64 if wide else np.int32
    at = np.frombuffer(offsets, dtype, n + 1, cells.offset * np.dtype(dtype).itemsize)
    raw = np.frombuffer(data if data is not None else b"", np.uint8)  # (read-only either way)
    return raw, at


@njit(cache=True, nogil=True)
def scan_cells(data, offsets):  # type: ignore[no-untyped-def]
    """Each cell's form (`EMPTY`, `INT`, `LONG_INT`, `NUMBER`, `OTHER`), whether it is
    ASCII, and an `INT` cell's value (0 for the others): `[-+]?`, digits, then (a
    number) a point and digits, then an exponent."""
    n = len(offsets) - 1
    forms = np.empty(n, np.uint8)
    ascii_ = np.ones(n, np.bool_)
    values = np.zeros(n, np.int64)
    for i in range(n):
        a = offsets[i]
        b = offsets[i + 1]
        form = 4
        if a == b:
            form = 0
        else:
            k = a
            if data[k] == 43 or data[k] == 45:  # + -
                k += 1
            start = k
            value = 0
            while k < b and np.uint8(48) <= data[k] <= np.uint8(57):
                if k - start < 18:  # (at most 18 digits: no overflow)
                    value = value * 10 + np.int64(data[k] - np.uint8(48))
                k += 1
            digits = k - start
            if k == b:
                form = 4 if digits == 0 else 1 if digits <= 18 else 2
                if form == 1:
                    values[i] = -value if data[a] == 45 else value
            else:
                if data[k] == 46:  # .
                    k += 1
                    start = k
                    while k < b and np.uint8(48) <= data[k] <= np.uint8(57):
                        k += 1
                    digits += k - start
                if digits:
                    ok = True
                    if k < b and (data[k] == 101 or data[k] == 69):  # e E
                        k += 1
                        if k < b and (data[k] == 43 or data[k] == 45):
                            k += 1
                        start = k
                        while k < b and np.uint8(48) <= data[k] <= np.uint8(57):
                            k += 1
                        ok = k > start
                    form = 3 if ok and k == b else 4
        forms[i] = form
        if form == 4:  # (any other form is ASCII)
            for k in range(a, b):
                if data[k] >= 128:
                    ascii_[i] = False
                    break
    return forms, ascii_, values
