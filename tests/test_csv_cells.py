"""CSV cells typed in bulk (`cep.io.csvcells.CellReader`): each cell's form as the row
reader's patterns read it (`infer_cell`'s integers and decimals), their values as
Python reads them, and text cells coded into a run's dictionary."""

from __future__ import annotations

import re

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.batch import Dictionary
from cep.io.csvcells import LONG_INT, CellReader

SHORT_INT = re.compile(r"[-+]?[0-9]{1,18}")
ANY_INT = re.compile(r"[-+]?[0-9]+")
DECIMAL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")

#: cells made of the characters numbers are read from, and a few others
cells = st.text(alphabet="0123456789+-.eE x٣é", max_size=22)


@settings(max_examples=300, deadline=None)
@given(st.lists(cells, min_size=1, max_size=20))
def test_cells_are_read_as_the_row_readers_patterns_read_them(texts: list[str]) -> None:
    reader = CellReader(pa.array(texts))
    ints, int_values = reader.ints()
    numbers, float_values = reader.numbers()
    for i, text in enumerate(texts):
        assert reader.present[i] == (text != "")
        assert ints[i] == bool(SHORT_INT.fullmatch(text)), text
        assert numbers[i] == bool(DECIMAL.fullmatch(text)), text
        is_long = bool(ANY_INT.fullmatch(text)) and not ints[i]
        assert (reader.forms[i] == LONG_INT) == is_long, text
        if ints[i]:
            assert int_values[i] == int(text)
        if numbers[i]:
            assert float_values[i] == float(text)
        if not numbers[i]:
            assert reader.ascii()[i] == text.isascii()


def test_a_column_of_cells_in_slices_and_with_plus_signs() -> None:
    column = pa.array(["x", "+5", "17", "-3", "1.5"]).slice(1)
    ints, values = CellReader(column).ints()
    assert ints.tolist() == [True, True, True, False]
    assert values[:3].tolist() == [5, 17, -3]
    assert CellReader(pa.array(["+5", "6"])).ints()[1].tolist() == [5, 6]


@given(st.lists(st.lists(st.sampled_from(["u1", "u2", "é", "", "u3 ", "x" * 30]), max_size=30)))
def test_text_codes_are_the_dictionarys_whatever_came_before(batches: list[list[str]]) -> None:
    dictionary = Dictionary()
    for batch in batches:
        codes = dictionary.string_codes(pa.array(batch, pa.string()))
        assert [dictionary[code] for code in codes.tolist()] == batch
        assert codes.flags.writeable
