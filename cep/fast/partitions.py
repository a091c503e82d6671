"""A rule's numbers for the strings of a batch's dictionary-encoded columns.

A string column's values are codes into a `Dictionary` that one reader keeps for its whole
run; a rule numbers strings its own way (partition codes, a program's string codes). A
`DictionaryTables` maps each dictionary's codes to the rule's numbers, one table per
dictionary, so batches from several readers (each with its own dictionary) go through the
right one (`unnumbered`, `partition_codes`: numba passes over the events a rule takes).
`PartitionKeys` numbers a rule's partition keys.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from cep.jit import njit

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
def unnumbered(chosen: np.ndarray, values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The dictionary codes among the `chosen` events' that have no partition yet
    (`table` is `UNMAPPED`), each once, in order of first use (marked in `table` as
    found)."""
    new = np.empty(len(chosen), np.int64)
    n_new = 0
    for i in chosen:
        code = values[i]
        if table[code] == UNMAPPED:
            table[code] = UNMAPPED - 1
            new[n_new] = code
            n_new += 1
    return new[:n_new]


@njit(cache=True, nogil=True)
def partition_codes(chosen: np.ndarray, values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The `chosen` events' partition codes: `table[values[i]]`."""
    out = np.empty(len(chosen), np.int64)
    for j in range(len(chosen)):
        out[j] = table[values[chosen[j]]]
    return out


class PartitionKeys:
    """A rule's partitions: a code per distinct key, in order of first use.

    While every key has come from one dictionary (the usual case: one reader's key
    column), its new strings are numbered in bulk and looked up through that dictionary:
    a dictionary holds each string once, so no key can have a code already. The mapping
    from key to code is made only when keys come from elsewhere (`code`, or a second
    dictionary)."""

    __slots__ = ("_codes", "_home", "_home_codes", "_keys", "_n_home")

    def __init__(self) -> None:
        self._codes: dict[Any, int] = {}
        self._keys: list[Any] = []
        #: the dictionary whose strings are the keys so far (None once keys are mixed)
        self._home: Any = None
        #: per partition, its key's code in `_home`
        self._home_codes = np.zeros(0, np.int64)
        self._n_home = 0

    def __len__(self) -> int:
        return self._n_home if self._home is not None else len(self._keys)

    def __getitem__(self, code: int) -> Any:
        """The key of partition `code`."""
        if self._home is not None:
            return self._home[int(self._home_codes[code])]
        return self._keys[code]

    def code(self, key: Any) -> int:
        """The partition code of `key` (a new partition if the rule has not seen it)."""
        self._settle()
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self._keys)
            self._keys.append(key)
        return code

    def keys_of(self, codes: list[int]) -> list[Any]:
        """The keys of partitions `codes`."""
        if self._home is not None:
            return list(map(self._home.values.__getitem__, self._home_codes[codes].tolist()))
        return list(map(self._keys.__getitem__, codes))

    def extend(self, keys: list[Any]) -> bool:
        """Number `keys` in their order (a restore); False when one repeats a key."""
        self._settle()
        first = len(self._keys)
        self._codes.update(zip(keys, range(first, first + len(keys)), strict=True))
        self._keys.extend(keys)
        return len(self._codes) == len(self._keys)

    def from_dictionary(self, dictionary: Any, new: np.ndarray) -> np.ndarray:
        """The partition codes of a dictionary's strings by their codes `new` (distinct,
        none of them numbered for this dictionary yet)."""
        if self._home is None and not self._keys:
            self._home = dictionary
        first = len(self)
        if dictionary is self._home:
            end = first + len(new)
            if end > len(self._home_codes):
                grown = np.zeros(max(end, 2 * len(self._home_codes)), np.int64)
                grown[:first] = self._home_codes[:first]
                self._home_codes = grown
            self._home_codes[first:end] = new
            self._n_home = end
            return np.arange(first, end)
        self._settle()
        keys = list(map(dictionary.values.__getitem__, new.tolist()))
        codes = self._codes
        if not codes.keys().isdisjoint(keys):
            return np.array([self.code(key) for key in keys], np.int64)
        codes.update(zip(keys, range(first, first + len(keys)), strict=True))
        self._keys.extend(keys)
        return np.arange(first, first + len(keys))

    def _settle(self) -> None:
        """Make the mapping from key to code for the keys numbered from `_home`."""
        home = self._home
        if home is None:
            return
        keys = list(map(home.values.__getitem__, self._home_codes[: self._n_home].tolist()))
        self._codes.update(zip(keys, range(len(keys)), strict=True))
        self._keys = keys
        self._home = None
        self._home_codes = np.zeros(0, np.int64)
