"""Reports' `emit` texts made a field at a time (`cep.fast.emit.emit_pieces`): each
report's fields as the encoder of reports writes the dict of the values the interpreter
computes, byte for byte, and the reports whose values the interpreter must give marked."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.fast.emit import (
    EXACT_INTEGERS,
    FLOAT,
    FLOAT_SUM,
    INT,
    TEXT,
    TRUTH,
    EmitFields,
    emit_pieces,
)
from cep.fast.reporttext import FALLBACK_TEXT
from cep.runtime.match import encode

STRINGS = ["u1", "", 'a"b', "é\u2028", "x\\y"]
KINDS = [INT, FLOAT, FLOAT_SUM, TEXT, TRUTH]


def _value(kind: str, cell: float) -> object:
    """The Python value the interpreter computes for a field's float64 cell."""
    if math.isnan(cell):
        return None
    if kind == INT:
        return int(cell)
    if kind == TEXT:
        return STRINGS[int(cell)]
    if kind == TRUTH:
        return bool(cell != 0.0)
    return float(cell)


def _cells(kind: str) -> st.SearchStrategy[float]:
    nan = st.just(math.nan)
    if kind == INT:
        return nan | st.integers(-(2**60), 2**60).map(float)
    if kind == TEXT:
        return nan | st.integers(0, len(STRINGS) - 1).map(float)
    if kind == TRUTH:
        return nan | st.sampled_from([0.0, 1.0])
    return nan | st.floats(allow_nan=False) | st.sampled_from([0.0, -0.0, 1e16, 1e-7, 0.1])


@st.composite
def _reports(draw: st.DrawFn) -> tuple[EmitFields, np.ndarray]:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=0, max_size=4))
    names = tuple(f"f{i}" if i % 2 else f'n"{i}é' for i in range(len(kinds)))
    n = draw(st.integers(0, 6))
    values = np.empty((n, len(kinds)), np.float64)
    for j, kind in enumerate(kinds):
        for i in range(n):
            values[i, j] = draw(_cells(kind))
    return EmitFields(names, np.zeros(len(kinds), np.int64), tuple(kinds)), values


@settings(max_examples=300, deadline=None)
@given(_reports())
def test_fields_are_written_as_the_encoder_writes_their_values(
    report: tuple[EmitFields, np.ndarray],
) -> None:
    fields, values = report
    data, starts, ends = emit_pieces(fields, values, STRINGS)
    for i, row in enumerate(values):
        exact = [
            not (kind == INT and abs(cell) >= EXACT_INTEGERS)
            and not (kind == FLOAT_SUM and cell == 0.0)
            for kind, cell in zip(fields.kinds, row, strict=True)
        ]
        if not all(exact):
            assert ends[i] == FALLBACK_TEXT
            continue
        record = {
            name: _value(kind, cell)
            for name, kind, cell in zip(fields.names, fields.kinds, row, strict=True)
        }
        assert data[starts[i] : ends[i]].tobytes() == encode(record)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=4), min_size=1, max_size=12), st.data())
def test_string_fields_follow_a_rules_strings_as_they_are_added(
    added: list[str], data: st.DataObject
) -> None:
    """A rule's strings grow between batches (a code never changes): each batch's
    `emit` texts are those of the strings as they stand then."""
    strings: list[str] = []
    fields = EmitFields(("user",), np.zeros(1, np.int64), (TEXT,))
    for stop in sorted(data.draw(st.lists(st.integers(1, len(added)), min_size=1))):
        strings.extend(added[len(strings) : stop])
        codes = data.draw(st.lists(st.integers(0, len(strings) - 1), max_size=5))
        values = np.array(codes, np.float64).reshape(len(codes), 1)
        out, starts, ends = emit_pieces(fields, values, strings)
        got = [out[a:b].tobytes() for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        assert got == [encode({"user": strings[code]}) for code in codes]
