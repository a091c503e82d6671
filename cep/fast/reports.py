"""The fast path's reports for the Python API, kept as columns until they are read.

A kernel call's reports become a `MatchTable` (kinds, times, partitions, release keys,
each report's history as kernel event numbers), and a batch's tables across rules a
`Reports` sequence in release order; a report (a `LazyMatch`) is made only when it is
read, its events rebuilt from their lines only when its fields or events are read. The
events of the histories are captured when the table is made, so the rule compacting and
renumbering its events later changes nothing of a table not read yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, Protocol, overload

import numpy as np

from cep.fast.reporttext import OWN, release_order
from cep.io.batch import json_record
from cep.runtime.event import Event
from cep.runtime.match import JSON_SPACE, LazyMatch, Match, encode, event_json


@dataclass(slots=True, eq=False)
class KeptEvent:
    """A matched event kept as what its batch gives (`Batch.kept_of`: its line, or its
    record) until a report is read; `event` once rebuilt, `record` once read, `json`
    (its text in reports: `event_json`) once made."""

    payload: Any
    type: str
    ts: int
    line: int
    seq: int
    record_of: Any
    json: str | None = None
    event: Event | None = None
    record: dict[str, Any] | None = None


def kept_json(event: Event | KeptEvent) -> str | bytes:
    """A kept event's text in reports (`event_json`; a `KeptEvent`'s is set on it)."""
    if type(event) is not KeptEvent:
        return event_json(event)
    if event.json is None:
        payload = event.payload
        if event.record_of is json_record and type(payload) is str:
            event.json = payload.strip(JSON_SPACE)
        else:
            event.json = encode(event.record_of(payload)).decode()
    return event.json


def linked_path(
    names: list[str], variables: Any, cells: range, event_of: Callable[[int], Any]
) -> Any:
    """History cells `cells` (oldest first; cell k binds variable `variables[k]` to
    `event_of(k)`) as the interpreter's linked path: (variable, event, rest), newest
    first."""
    path = None
    for k in cells:
        path = (names[variables[k]], event_of(k), path)
    return path


class HeldTexts(NamedTuple):
    """The kept texts of a `MatchTable`'s history cells: cell k's text is
    `data[starts[k]:ends[k]]` (`source[k]` is `OWN`) or `lent[source[k]][...]` (a batch's
    lines, `TextTable.lend`); `info[k]`: type code, time, line, sequence number."""

    data: np.ndarray
    lent: tuple[np.ndarray, ...]
    starts: np.ndarray
    ends: np.ndarray
    source: np.ndarray
    info: np.ndarray


class ReportSource(Protocol):
    """What a `MatchTable` asks of its rule (`FastRule`)."""

    rule: Any
    var_names: list[str]
    type_names: list[str]

    def key_record(self, part: int) -> Any: ...

    def content(self, path: Any, kind: str, key: Any) -> tuple[dict, dict]: ...


class MatchTable:
    """One rule's reports from one kernel call, as columns (`report(j)` makes one).

    `texts` hold each history cell's kept text, where the rule kept one; `objects` the
    kept events by cell position where it did not. The texts lie in the rule's text
    buffer as it was, which the rule never writes over (`TextTable.keep` rewrites into a
    new buffer), or in the batches they were read in (held by the table until it is let
    go; a report made holds only its own events)."""

    __slots__ = ("kinds", "objects", "offsets", "parts", "releases", "source", "texts", "ts",
                 "variables")  # fmt: skip

    def __init__(
        self,
        source: ReportSource,
        columns: list[np.ndarray],
        paths: tuple[np.ndarray, np.ndarray, np.ndarray],
        texts: HeldTexts,
        objects: dict[int, Any],
    ) -> None:
        self.source = source
        # copies: the columns are views of the kernel's output table, which it reuses
        self.kinds, self.ts, _, self.parts = (column.copy() for column in columns[:4])
        #: (t, phase, a, b) by report: the order the interpreter releases them in
        self.releases = np.stack(columns[4:8], axis=1)
        self.offsets, self.variables, _ = paths
        self.texts = texts
        self.objects = objects

    @classmethod
    def empty(cls, source: ReportSource) -> MatchTable:
        none = np.zeros(0, np.int64)
        columns = [none] * 8
        texts = HeldTexts(np.zeros(0, np.uint8), (), none, none, none, np.zeros((0, 4), np.int64))
        return cls(source, columns, (np.zeros(1, np.int64), none, none), texts, {})

    def __len__(self) -> int:
        return len(self.kinds)

    def report(self, j: int) -> LazyMatch:
        """Report `j` (its fields worked out, and its events rebuilt, when first read)."""
        source = self.source
        rule = source.rule
        kind = "match" if self.kinds[j] == 0 else "timeout"
        key = source.key_record(int(self.parts[j]))
        cells = range(int(self.offsets[j]), int(self.offsets[j + 1]))
        path = linked_path(source.var_names, self.variables, cells, self._event)
        content = partial(source.content, path, kind, key)
        return LazyMatch.pending(
            rule.name, kind, int(self.ts[j]), key, rule.severity, rule.tags, content
        )

    def pairs(self) -> list[tuple[tuple, LazyMatch]]:
        """(release key, report) for each report."""
        releases = map(tuple, self.releases.tolist())
        return list(zip(releases, map(self.report, range(len(self))), strict=True))

    def _event(self, k: int) -> Any:
        """History cell `k`'s event: kept as an object, or made from its kept text."""
        event = self.objects.get(k)
        return self._kept(k) if event is None else event

    def _kept(self, k: int) -> KeptEvent:
        """History cell `k`'s event from its kept text: its JSON line as read."""
        texts = self.texts
        at = int(texts.source[k])
        data = texts.data if at == OWN else texts.lent[at]
        text = data[texts.starts[k] : texts.ends[k]].tobytes().decode("utf-8", "surrogatepass")
        type_code, ts, line, seq = texts.info[k].tolist()
        return KeptEvent(text, self.source.type_names[type_code], ts, line, seq, json_record)


class Reports(Sequence[Match]):
    """A batch's reports over every rule, in release order (by release key, then rule
    index, then each rule's own order), each made when first read."""

    __slots__ = ("_count", "_indexes", "_made", "_rows", "_tables", "_which")

    def __init__(self, tables: list[MatchTable], indexes: list[int]) -> None:
        self._tables = tables
        self._indexes = indexes
        self._count = sum(len(table) for table in tables)
        self._made: dict[int, Match] = {}
        #: each report's table and row in it, by place in release order (`_ordered`)
        self._which: list[int] | None = None
        self._rows: list[int] = []

    def _ordered(self) -> None:
        """Work out the release order, when a report is first read."""
        tables = self._tables
        if not self._count:
            self._which = []
            return
        merged, order = release_order([table.releases for table in tables], self._indexes)
        # each report's table, by where it stands in the tables' reports one after another
        ends = np.cumsum([len(table) for table in tables])
        self._which = np.searchsorted(ends, order, side="right").tolist()
        self._rows = merged[order, 5].tolist()

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, at: int) -> Match: ...

    @overload
    def __getitem__(self, at: slice) -> list[Match]: ...

    def __getitem__(self, at: int | slice) -> Match | list[Match]:
        if isinstance(at, slice):
            return [self._report(k) for k in range(*at.indices(len(self)))]
        n = len(self)
        if not -n <= at < n:
            raise IndexError("report index out of range")
        return self._report(at + n if at < 0 else at)

    def __iter__(self) -> Iterator[Match]:
        return map(self._report, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Reports | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Reports({list(self)!r})"

    def _report(self, k: int) -> Match:
        made = self._made.get(k)
        if made is None:
            if self._which is None:
                self._ordered()
                assert self._which is not None
            made = self._made[k] = self._tables[self._which[k]].report(self._rows[k])
        return made
