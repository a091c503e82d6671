"""CSV cells typed in bulk: a pyarrow string array of cells read as the row reader's
code reads them (`convert_cell`, `infer_cell`), with vectorized checks for the common
forms; the others are left to Python (`infer_cell`) or to the row reader.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cep.io.columns import INTISH, Typed, load_pyarrow, to_numpy, validated
from cep.io.sources import INT_TEXT, infer_cell

_INT_RE = r"^[-+]?[0-9]{1,18}$"
_NUMBER_RE = r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"


class CellReader:
    """Vectorized typing of CSV cells (a pyarrow string array, "" for an empty cell)."""

    def __init__(self, cells: Any) -> None:
        self.pa = load_pyarrow()
        self.pc = self.pa.compute
        self.cells = cells
        self.present = to_numpy(self.pc.not_equal(cells, ""))
        self._ints: tuple[np.ndarray, np.ndarray] | None = None
        self._numbers: tuple[np.ndarray, np.ndarray] | None = None

    def ints(self) -> tuple[np.ndarray, np.ndarray]:
        """Cells that are ASCII integers of at most 18 digits, and their values."""
        if self._ints is None:
            pc = self.pc
            cells = self.cells
            ok = to_numpy(pc.ascii_is_decimal(cells)) & (to_numpy(pc.binary_length(cells)) <= 18)
            if ok.all():
                self._ints = ok, to_numpy(pc.cast(cells, self.pa.int64()))
                return self._ints
            if not ok[self.present].all():
                ok = to_numpy(pc.match_substring_regex(cells, _INT_RE))
            texts = pc.if_else(self.pa.array(ok), pc.utf8_ltrim(cells, "+"), "0")
            self._ints = ok, to_numpy(pc.cast(texts, self.pa.int64()))
        return self._ints

    def numbers(self) -> tuple[np.ndarray, np.ndarray]:
        """Cells that are ASCII decimals (`[-+]?(\\d+\\.?\\d*|\\.\\d+)(e[-+]?\\d+)?`), and
        their values as floats."""
        if self._numbers is None:
            pc = self.pc
            cells = self.cells
            dots = pc.replace_substring(cells, ".", "", max_replacements=1)
            ok = to_numpy(pc.ascii_is_decimal(dots))
            if not ok[self.present].all():
                ok = to_numpy(pc.match_substring_regex(cells, _NUMBER_RE))
            if not ok.all():
                cells = pc.if_else(self.pa.array(ok), cells, "0")
            self._numbers = ok, to_numpy(pc.cast(cells, self.pa.float64()))
        return self._numbers

    def ascii(self) -> np.ndarray:
        return to_numpy(self.pc.string_is_ascii(self.cells))

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
        """Present cells as `infer_cell` reads them: ints, floats, text and (where a
        Python look is needed: long or non-ASCII numbers) Python values."""
        present = self.present
        ints, int_values = self.ints()
        ints = ints & present
        if (ints == present).all():  # (a column of integers: no other look needed)
            return [Typed("int", int_values, ints)]
        ascii_ = self.ascii()
        numbers, float_values = self.numbers()
        # integer text `ints` did not take (too long, or any where its quick check refused)
        # (a long integer's text is among `numbers`)
        long_int = np.zeros(len(present), np.bool_)
        if (numbers & present & ~ints).any():
            long_int = to_numpy(self.pc.match_substring_regex(self.cells, r"^[-+]?[0-9]+$")) & ~ints
        floats = numbers & present & ~ints & ~long_int & ascii_
        text = present & ascii_ & ~numbers & ~long_int
        other = present & ~ints & ~floats & ~text
        out = [
            Typed("int", int_values, ints),
            Typed("float", float_values, floats),
            Typed("str", self.cells, text),
        ]
        if other.any():
            cells = self.cells.to_pylist()
            py = [infer_cell(cells[i]) if other[i] else None for i in range(len(cells))]
            out.append(Typed("py", py, other))
        return out


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
