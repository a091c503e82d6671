"""A fast rule's reports as JSON lines (`cep run`), made in bulk.

`reporttext.write_reports` joins each report line from texts made once each: the
fixed pieces every report of the rule shares, `emit` values the kernel computed
(`EmitPlan`), each partition's key text, each kept event's text as read. A report
whose `emit` only the interpreter can evaluate is written from its history
(`Match.to_json`), its text added after the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from cep.fast import evaluate
from cep.fast.emit import emit_pieces
from cep.fast.reports import linked_path
from cep.fast.reporttext import (
    CLOSE,
    COMMA,
    EMPTY,
    EVENTS,
    FALLBACK_TEXT,
    FIELDS,
    HEAD_MATCH,
    HEAD_TIMEOUT,
    KEY,
    NOT_MADE,
    OPEN,
    TAIL,
    VARS,
    ReportLines,
    TextTable,
    encoded_pieces,
    report_buffer,
    write_reports,
)
from cep.io.batch import TextPieces
from cep.runtime.match import Match, encode, encode_lines

if TYPE_CHECKING:
    from cep.fast.rule import FastRule


class ReportWriter:
    """One rule's report lines: the texts it makes once and keeps (its fixed pieces,
    each partition's key, its strings for `emit`), and the joining of a batch's
    reports."""

    __slots__ = ("fast_rule", "fixed", "key_texts", "strings_made")

    def __init__(self, fast_rule: FastRule) -> None:
        self.fast_rule = fast_rule
        #: what every report line shares (`_shape`), made when first needed
        self.fixed: Any = None
        #: each partition's `key` as JSON text
        self.key_texts = TextTable()
        #: the rule's strings, by code (for `emit` values that are text)
        self.strings_made: list[str] = []

    def lines(
        self, columns: list[np.ndarray], paths: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> ReportLines:
        """The reports as JSON lines, joined in bulk (`reporttext.write_reports`) from
        texts made once each: `emit` values computed by the kernel (`EmitPlan`), each
        partition's key text, each kept event's text; a report whose `emit` only the
        interpreter can evaluate is written by its path (`Match.to_json`, its text added
        at the end of the buffer)."""
        kinds, ts, cells, parts = columns[:4]
        field_data, field_starts, field_ends = self._emit_texts(kinds, cells)
        self._make_key_texts(parts)
        keys, records = self.key_texts, self.fast_rule._record_texts
        consts, const_starts, const_ends, order, repeated = self._shape()
        offsets, variables, events = paths
        n = len(kinds)
        line_starts = np.empty(n, np.int64)
        line_ends = np.empty(n, np.int64)
        arguments = (
            kinds, ts, parts, field_data, field_starts, field_ends,
            keys.data, keys.starts, keys.ends, records.data, records.starts, records.ends,
            offsets, variables, events, consts, const_starts, const_ends, order, repeated,
            bool(self.fast_rule.matcher.key_names),
        )  # fmt: skip
        room = write_reports(*arguments, np.empty(0, np.uint8), line_starts, line_ends, True)
        owner: bytearray | None
        owner, data = report_buffer(room)
        used = write_reports(*arguments, data, line_starts, line_ends, False)
        fallbacks = np.flatnonzero(line_ends < 0).tolist()
        if fallbacks:
            owner = None
            lazy = _Paths(*paths, self.fast_rule)
            written = [data.tobytes()]
            for j in fallbacks:
                kind = "match" if kinds[j] == 0 else "timeout"
                encoded = self._fallback_text(kind, int(ts[j]), int(parts[j]), lazy.path(j))
                line_starts[j] = used
                used += len(encoded)
                line_ends[j] = used
                written.append(encoded)
            data = np.frombuffer(b"".join(written), np.uint8)
        releases = np.stack(columns[4:8], axis=1) if n else np.zeros((0, 4), np.int64)
        return ReportLines(releases, data, line_starts, line_ends, owner)

    def _shape(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What every report line of the rule shares (`reporttext`'s fixed texts, by
        index: its start by kind up to `ts`, the separators, its end with severity and
        tags, each variable's `"name": `), the variables in report order, and which are
        repeated."""
        shape = self.fixed
        if shape is None:
            rule = self.fast_rule.rule
            name = encode(rule.name)
            tail = b"}"
            if rule.severity is not None:
                tail += b',"severity":' + encode(rule.severity)
            if rule.tags is not None:
                tail += b',"tags":' + encode(list(rule.tags))
            fixed = {
                HEAD_MATCH: b'{"rule":' + name + b',"kind":"match","ts":',
                HEAD_TIMEOUT: b'{"rule":' + name + b',"kind":"timeout","ts":',
                KEY: b',"key":',
                FIELDS: b',"fields":',
                EVENTS: b',"events":{',
                TAIL: tail + b"}",
                EMPTY: b"{}",
                COMMA: b",",
                OPEN: b"[",
                CLOSE: b"]",
            }
            texts = [fixed[i] for i in range(VARS)]
            texts += [encode(var) + b":" for var in self.fast_rule.var_names]
            index = {var: v for v, var in enumerate(self.fast_rule.var_names)}
            order = [index[var] for var in rule.variables if var in index]
            repeated = [var in rule.repeated for var in self.fast_rule.var_names]
            shape = self.fixed = (
                *encoded_pieces(texts),
                np.array(order, np.int64),
                np.array(repeated, np.bool_),
            )
        return shape

    def _emit_texts(self, kinds: np.ndarray, cells: np.ndarray) -> TextPieces:
        """Each report's `emit` text as a piece (`emit.emit_pieces`; `NOT_MADE`: the
        default fields; `FALLBACK_TEXT`: the interpreter's path evaluates `emit`)."""
        n = len(kinds)
        starts = np.zeros(n, np.int64)
        ends = np.full(n, FALLBACK_TEXT, np.int64)
        plan = self.fast_rule.emit_plan
        if plan is None or not self.fast_rule.emit_exact:
            return np.zeros(0, np.uint8), starts, ends
        blobs: list[np.ndarray] = []
        size = 0
        extras = self.fast_rule.extras(np.zeros((len(self.fast_rule.slots), 0), dtype=np.float64))
        if len(self.strings_made) < len(self.fast_rule.strings.codes):
            self.strings_made.extend(list(self.fast_rule.strings.codes)[len(self.strings_made) :])
        for code, fields in ((0, plan.match), (1, plan.timeout)):
            rows = np.flatnonzero(kinds == code)
            if not len(rows):
                continue
            if fields is None:
                ends[rows] = NOT_MADE
                continue
            values = np.empty((len(rows), len(fields.programs)), dtype=np.float64)
            state = self.fast_rule.state.tables
            evaluate.report_values(fields.programs, cells[rows], state, extras, values)
            data, made_starts, made_ends = emit_pieces(fields, values, self.strings_made)
            starts[rows] = made_starts + size
            ends[rows] = np.where(made_ends >= 0, made_ends + size, made_ends)
            blobs.append(data)
            size += len(data)
        return (np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)), starts, ends

    def _make_key_texts(self, parts: np.ndarray) -> None:
        """The `key` texts of partitions that have none yet, made in one go."""
        table = self.key_texts
        table.reserve(len(self.fast_rule.keys))
        missing = np.unique(parts[table.ends[parts] == NOT_MADE], return_index=True)[0]
        if not len(missing):
            return
        records = [self.fast_rule.key_record(part) for part in missing.tolist()]
        table.put_texts(missing, encode_lines(records).split(b"\n")[:-1])

    def _fallback_text(self, kind: str, ts: int, part: int, path: Any) -> bytes:
        """A report's text with its `emit` evaluated by the interpreter."""
        key = self.fast_rule.key_record(part)
        fields, bound = self.fast_rule.content(path, kind, key)
        rule = self.fast_rule.rule
        report = Match(rule.name, kind, ts, key, fields, bound, rule.severity, rule.tags)
        return report.to_json().encode()


class _Paths:
    """The histories of a run of reports, flattened (`histories.collect_paths`)."""

    __slots__ = ("events", "offsets", "rule", "variables")

    def __init__(
        self, offsets: np.ndarray, variables: np.ndarray, events: np.ndarray, rule: FastRule
    ) -> None:
        self.offsets = offsets.tolist()
        self.variables = variables.tolist()
        self.events = events.tolist()
        self.rule = rule

    def path(self, j: int) -> Any:
        """Report `j`'s history as the interpreter's linked path (newest cell first)."""
        stored, events = self.rule.stored, self.events
        cells = range(self.offsets[j], self.offsets[j + 1])
        return linked_path(self.rule.var_names, self.variables, cells, lambda k: stored(events[k]))
