"""A rule's numbers for the strings of a batch's dictionary-encoded columns.

A string column's values are codes into a `Dictionary` that one reader keeps for its whole
run; a rule numbers strings its own way (partition codes, a program's string codes). A
`DictionaryTables` maps each dictionary's codes to the rule's numbers, one table per
dictionary, so batches from several readers (each with its own dictionary) go through the
right one; `keyed_events` picks a batch's events with a key in one pass (numba).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from numba import njit

#: a dictionary code the rule has no number for yet
UNMAPPED = -1
#: how many dictionaries' tables a rule keeps (the least recently used dropped first)
TABLES_KEPT = 16


class DictionaryTables:
    """A table per `Dictionary`, by dictionary code (`fill` where none is made yet).

    The dictionaries are held beside their tables: a table is found by the dictionary's
    identity, and an identity is never reused while its object lives."""

    def __init__(self, fill: float | int, dtype: Any) -> None:
        self.fill = fill
        self.dtype = dtype
        self._tables: OrderedDict[int, tuple[Any, np.ndarray]] = OrderedDict()

    def table(self, dictionary: Any) -> np.ndarray:
        """`dictionary`'s table, grown to its length at least (new entries `fill`)."""
        key = id(dictionary)
        entry = self._tables.get(key)
        table = entry[1] if entry is not None else np.zeros(0, self.dtype)
        if len(table) < max(len(dictionary), 1):  # (one entry at least: code 0 stands in
            # for a missing value)
            grown = np.full(max(len(dictionary), 2 * len(table), 1), self.fill, self.dtype)
            grown[: len(table)] = table
            table = grown
        self._tables[key] = (dictionary, table)
        self._tables.move_to_end(key)
        if len(self._tables) > TABLES_KEPT:
            self._tables.popitem(last=False)
        return table


@njit(cache=True, nogil=True)
def keyed_events(
    mask: np.ndarray, valid: np.ndarray, values: np.ndarray, table: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The events of `mask` whose key is there (`valid`), as indexes; and the dictionary
    codes among theirs that have no partition yet (`table` is `UNMAPPED`), each once, in
    order of first use (marked in `table` as found)."""
    chosen = np.empty(len(mask), np.int64)
    new = np.empty(len(mask), np.int64)
    n_chosen = 0
    n_new = 0
    for i in range(len(mask)):
        if mask[i] and valid[i]:
            chosen[n_chosen] = i
            n_chosen += 1
            code = values[i]
            if table[code] == UNMAPPED:
                table[code] = UNMAPPED - 1
                new[n_new] = code
                n_new += 1
    return chosen[:n_chosen], new[:n_new]
