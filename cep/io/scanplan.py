"""What the JSON lines scanner reads: per event type, the tokens each field may have.

A field's tokens are derived from the validation rules (`cep.io.validation.RULES`): the
scanner takes a token for a declared field only where it performs the rule's action on
it as the action's function does (`_SCANNED`); any other value sends its line the usual
way (msgspec, then the row reader, where validation decides). `ScanPlan` turns the
event types' masks into the scanner's checks (`cep.io.jsonscan.Keys`) and reads the
lines it is sure of into columns.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from cep.io.interning import Interner
from cep.io.jsonscan import (
    ABSENT,
    FALSE,
    FLOAT,
    INT,
    NULL,
    STR,
    TRUE,
    Keys,
    Scanned,
    scan,
)
from cep.io.validation import AS_FLOAT, EPOCH_MS, FINITE, RULES, SAME, Action

_NULLS = (1 << ABSENT) | (1 << NULL)
#: the scanner's tokens for a value of each class
_TOKENS: dict[type, tuple[int, ...]] = {
    int: (INT,),
    float: (FLOAT,),
    str: (STR,),
    bool: (TRUE, FALSE),
}
#: the actions the scanner performs as their functions do: an int token (at most 18
#: digits: within int64) taken as it is or made a float (the nearest, as `float()` makes
#: it: `ScanPlan.read`), a float token taken where finite (a literal no float64 holds is
#: OTHER, not FLOAT)
_SCANNED: frozenset[Action] = frozenset((SAME, FINITE, AS_FLOAT, EPOCH_MS))


def _declared_tokens(kind: str) -> dict[int, str]:
    """The tokens a declared field of `kind` may have in a line the scanner reads, and
    the Python type each becomes: those whose class `RULES` take by a scanned action."""
    tokens = {}
    for cls, action in RULES.get(kind, {}).items():
        if action in _SCANNED:
            for token in _TOKENS[cls]:
                tokens[token] = (action.result or cls).__name__
    return tokens


_DECLARED_TOKENS = {kind: _declared_tokens(kind) for kind in RULES}
#: a field no schema declares, as its column's kind reads it (no validation: msgspec's
#: `int | float` for a float column keeps an int an int)
_UNDECLARED_TOKENS = {**_DECLARED_TOKENS, "float": {INT: "int", FLOAT: "float"}}
#: the Python types a column of each kind holds as valid values
COLUMN_TYPES = {
    "int": {"int"},
    "duration": {"int"},
    "time": {"int"},
    "float": {"int", "float"},
    "str": {"str"},
    "bool": {"bool"},
}


def field_mask(kind: str, declared: bool, optional: bool, column: str | None) -> int | None:
    """The tokens (a bit per token kind) a field may have in a line the scanner reads:
    what msgspec takes for the field's type that gives a valid value in its column (if
    the rules use it). None if no line can have this field as the type requires."""
    tokens = (_DECLARED_TOKENS if declared else _UNDECLARED_TOKENS).get(kind, {})
    mask = _NULLS if optional else 0
    if column is not None and column not in COLUMN_TYPES:
        return None
    for token, python_type in tokens.items():
        if column is None or python_type in COLUMN_TYPES[column]:
            mask |= 1 << token
    return mask if mask & ~_NULLS or optional else None


class ClassPlan(NamedTuple):
    """One event type's fields for the scanner: its type code and each field's tokens."""

    code: int
    masks: dict[str, int] | None  # None: the scanner leaves this type's lines alone


class ScanPlan:
    """Lines to columns: which lines the scanner reads, and their times, types and fields.

    `classes[i]` is the type of lines whose type key holds `tags[i]` (`tags` empty: every
    line is of `classes[0]`, and its type key must be absent, null or one of `default`)."""

    def __init__(
        self,
        type_field: str,
        time_field: str,
        classes: list[ClassPlan],
        tags: list[str],
        default: list[str],
        fields: list[tuple[str, str]],
        interner: Interner,
    ) -> None:
        names = [type_field, time_field]
        for plan in classes:
            names.extend(name for name in plan.masks or () if name not in names)
        names.extend(name for name, _ in fields if name not in names)
        self.index = {name: i for i, name in enumerate(names)}
        self.keys = Keys(names, 0, tags or default)
        masks = np.full((max(len(classes), 1), len(names)), -1, np.int64)
        for c, plan in enumerate(classes):
            if plan.masks is None:
                masks[c, 0] = 0  # no token fits: this type's lines go the usual way
                continue
            for name, mask in plan.masks.items():
                masks[c, self.index[name]] = mask
        exact_floats = np.array([(name, "float") in fields for name in names], np.bool_)
        self.keys.check(bool(tags), masks, exact_floats)
        #: the event type code of each class
        self.type_codes = np.array([plan.code for plan in classes], np.int32)
        self.fields = fields
        #: the text fields: `interner`'s columns, in order (`text_fields`)
        self.interner = interner
        texts = text_fields(fields)
        self.text_keys = np.array([self.index[name] for name in texts], np.int64)
        self.scratch = Scanned(len(names), 0, len(texts))  # reused by each read

    def read(
        self, buf: Any, starts: np.ndarray, ends: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Of the lines `starts[i]:ends[i]`: which ones were read, and for those their
        times, type codes and each field's (values, valid) as a column of its kind holds
        them (dictionary codes for text)."""
        if len(self.scratch.good) < len(starts):
            self.scratch = Scanned(len(self.keys.names), len(starts), len(self.text_keys))
        s = scan(buf, starts, ends, self.keys, self.scratch, (self.text_keys, self.interner))
        good = s.good
        kinds, ints = s.kinds, s.ints
        lines = np.flatnonzero(good)
        every = len(lines) == len(good)  # (the usual case: rows as they are, no gather)

        def rows(row: np.ndarray) -> np.ndarray:
            """A token row's entries of the lines read (a view of the scratch when that
            is every line: used here only)."""
            return row if every else row[lines]

        if self.keys.by_tag:  # a good line's type key holds its class's tag
            codes = self.type_codes[rows(ints[0])]
        else:
            codes = np.full(len(lines), self.type_codes[0], np.int32)
        ts = rows(ints[1]).copy() if every else rows(ints[1])
        columns = {}
        column = 0  # the interner's column of the next text field
        for name, kind in self.fields:
            key = self.index[name]
            k = rows(kinds[key])
            if kind == "str":
                valid = k == STR
                spans, lens = rows(ints[key]), rows(s.lens[key])
                found = rows(s.entries[column])
                if valid.all():
                    values = self.interner.codes(buf, spans, lens, column, found)
                else:
                    values = np.full(len(lines), -1, np.int32)
                    spans, lens, found = spans[valid], lens[valid], found[valid]
                    values[valid] = self.interner.codes(buf, spans, lens, column, found)
                column += 1
            elif kind == "float":
                valid = (k == INT) | (k == FLOAT)
                values = np.where(k == FLOAT, rows(s.reals[key]), 0.0)
                if (k == INT).any():
                    values = np.where(k == INT, rows(ints[key]).astype(np.float64), values)
            elif kind == "bool":
                valid = (k == TRUE) | (k == FALSE)
                values = k == TRUE
            else:
                valid = k == INT
                values = np.where(valid, rows(ints[key]), 0)
            columns[name] = (values, valid)
        return lines, ts, codes, columns


def text_fields(fields: list[tuple[str, str]]) -> list[str]:
    """The fields read as text (dictionary codes): an `Interner`'s columns, in order."""
    return [name for name, kind in fields if kind == "str"]
