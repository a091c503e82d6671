"""The scanner's lines read by a remembered layout: the tokens of each line, and whether
it is good, as a line scanned alone (read the general way: no layout before it) has."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io import jsonscan

NAMES = ["type", "ts", "user", "amount", "v"]
TAGS = ["Payment", "T"]
#: key texts (as written, quotes included): wanted, unwanted, escaped, odd
KEYS = ['"type"', '"ts"', '"user"', '"amount"', '"v"', '"x"', '"other"', '"\\u0076"', '"v\\n"']
VALUES = st.sampled_from(
    [
        '"Payment"', '"T"', '"Other"', '"Pay\\u006dent"', '"u1"', '"u4644"', '""', '"é"',
        '"a\\"b"', '"a\\\\"', '"\\u00e9x"', '"tab\there"', '"\\x"', '"open',
        "0", "-0", "7", "1700000000000", "-12", "12345678901234567890", "61.56", "-0.0",
        "6.72", "1e400", "1.5E3", "0.1", "2.5e-3", "01", "1.", ".5", "-", "1e",
        "true", "false", "null", "tru", "nul", "NaN", "Infinity",
        "[]", "{}", '[1, {"a": [2.5, "s"]}]', '{"a":1,}', "[1,]", "[[1]",
    ]
)  # fmt: skip
SPACES = st.sampled_from(["", "", "", " ", "  ", "\t", "\r"])


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """Keys in an order, and the spacing of each piece between values (`spaces[0]`
    after `{`; then per member: before the colon, after it, before the comma or `}`;
    the last: after `}`)."""
    keys = draw(st.lists(st.sampled_from(KEYS[:7]), min_size=1, max_size=7, unique=True))
    return keys, [draw(SPACES) for _ in range(3 * len(keys) + 2)]


@st.composite
def changed(draw: st.DrawFn, layout: tuple[list[str], list[str]]) -> tuple[list[str], list[str]]:
    """The layout, or one that differs from it a little."""
    keys, spaces = list(layout[0]), list(layout[1])
    change = draw(st.integers(0, 9))
    if change == 1:
        spaces[draw(st.integers(0, len(spaces) - 1))] = draw(SPACES)
    elif change == 2:
        keys[draw(st.integers(0, len(keys) - 1))] = draw(st.sampled_from(KEYS))
    elif change == 3:
        keys.append(draw(st.sampled_from(keys + KEYS)))
        spaces[-1:-1] = [draw(SPACES) for _ in range(3)]
    elif change == 4 and len(keys) > 1:
        keys.pop(draw(st.integers(0, len(keys) - 1)))
        del spaces[-4:-1]
    elif change == 5:
        keys = draw(st.permutations(keys))
    return keys, spaces


def written(keys: list[str], spaces: list[str], values: list[str], broken: int) -> str:
    """The line; `broken` 1: no closing brace, 2: a comma too many, 3: text after it."""
    members = [
        f"{key}{spaces[1 + 3 * i]}:{spaces[2 + 3 * i]}{value}{spaces[3 + 3 * i]}"
        for i, (key, value) in enumerate(zip(keys, values, strict=True))
    ]
    close = {1: "", 2: ",}", 3: "} x"}.get(broken, "}")
    return "{" + spaces[0] + ",".join(members) + close + spaces[-1]


@st.composite
def blocks(draw: st.DrawFn) -> list[bytes]:
    """Lines that mostly share a layout (their values drawn afresh), some not."""
    layout = draw(layouts())
    lines = []
    for _ in range(draw(st.integers(1, 40))):
        if draw(st.integers(0, 14)) == 0:
            layout = draw(layouts())
        keys, spaces = draw(changed(layout))
        values = [
            draw(st.sampled_from(['"Payment"', '"T"']) if key == '"type"' else VALUES)
            for key in keys
        ]
        broken = draw(st.integers(0, 3)) if draw(st.integers(0, 19)) == 0 else 0
        lines.append(written(keys, spaces, values, broken).encode())
    return lines


def scanned(lines: list[bytes]) -> jsonscan.Scanned:
    data = b"\n".join(lines) + b"\n"
    ends = np.cumsum([len(line) + 1 for line in lines]) - 1
    starts = ends - [len(line) for line in lines]
    return jsonscan.scan(data, starts, ends, jsonscan.Keys(NAMES, 0, TAGS))


def tokens(s: jsonscan.Scanned, row: int, start: int) -> tuple[bool, list[tuple]]:
    """A line's answer: whether good, and each wanted key's token (spans from its line's
    start)."""
    found = []
    for key in range(len(NAMES)):
        kind = int(s.kinds[key, row])
        if kind in (jsonscan.INT, jsonscan.TRUE, jsonscan.FALSE, jsonscan.NULL):
            payload: object = int(s.ints[key, row]) if kind == jsonscan.INT else None
        elif kind == jsonscan.STR:
            at = int(s.ints[key, row])
            payload = at if key == 0 else (at - start, int(s.lens[key, row]))
        elif kind == jsonscan.FLOAT:
            payload = float(s.reals[key, row]).hex()
        else:
            payload = None
        found.append((kind, payload))
    return bool(s.good[row]), found if s.good[row] else []


@settings(max_examples=300, deadline=None)
@given(blocks())
def test_lines_read_by_a_layout_read_as_alone(lines: list[bytes]) -> None:
    together = scanned(lines)
    start = 0
    for row, line in enumerate(lines):
        alone = scanned([line])
        assert tokens(together, row, start) == tokens(alone, 0, 0), line
        start += len(line) + 1


def test_a_feeds_lines_are_read_alike() -> None:
    lines = [
        b'{"type": "Payment", "ts": 1700000000000, "user": "u1", "amount": 61.56}',
        b'{"type": "T", "ts": 1700000000001, "user": "u4644", "amount": 6.72}',
        b'{"type": "T", "ts": 17, "user": "u\\"2", "amount": 1e400}',
        b'{"type": "T", "ts": 17, "user": "u2", "amount": 1.5 }',
        b'{"type": "T", "ts": 17, "user": "u2", "user": "u3", "amount": 1.5}',
        b'{"type": "T", "ts": 18, "user": "u3", "amount": 2}',
        b'{"type": "T", "ts": 19, "user": "u3", "amount": tru}',
        b'{"type": "T", "ts": 20, "user": "u3", "amount": 3}x',
    ]
    s = scanned(lines)
    assert s.good.tolist() == [True, True, True, True, False, True, False, False]
    assert s.ints[1, :3].tolist() == [1700000000000, 1700000000001, 17]
    assert s.ints[0, :3].tolist() == [0, 1, 1]
    assert int(s.kinds[3, 2]) == jsonscan.OTHER  # (no float64 holds 1e400)
    assert int(s.kinds[3, 5]) == jsonscan.INT and int(s.ints[3, 5]) == 2
