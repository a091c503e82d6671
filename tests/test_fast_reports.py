"""Reports written in bulk (`ColumnarRun(as_text=True)`, what `cep run` writes): `emit`
computed by the kernel, events as read. Each line must be strict JSON and read back as
the line the interpreter's `Match.to_json` writes for the same report."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.api import load_rules
from cep.fast.engine import ColumnarRun
from cep.fast.plan import fast_path_refusal
from cep.io.columnar import read_jsonl_batches
from cep.io.sources import Reject
from cep.io.validation import Validator
from cep.lang.checker import check_paths, check_sources
from cep.lang.program import constant_value
from cep.runtime.engine import MatchingEngine
from cep.testing.runner import TestRunner
from tests.row_readers import read_jsonl

SCHEMA = "event E { k: str, v: int?, x: float?, s: str?, b: bool? }\n"


def _values(lines: list[str]) -> list[Any]:
    """Report lines as JSON values (each strict JSON: no NaN, no infinity)."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not strict JSON")

    return [json.loads(line, parse_constant=refuse) for line in lines]


def _interpreted(checked, rules, lines: list[str], flush: bool, delay: int = 0) -> list[Any]:
    engine = MatchingEngine(rules, allowed_delay_ms=delay)
    out = []
    for item in read_jsonl(lines, validator=Validator(checked.schemas)):
        if not isinstance(item, Reject):
            out.extend(engine.push(item))
    out.extend(engine.finish(flush=flush))
    return _values([m.to_json() for m in out])


def _written(checked, rules, lines: list[str], flush: bool, size: int, delay: int = 0) -> list[Any]:
    run = ColumnarRun(rules, checked.schemas, as_text=True, allowed_delay_ms=delay)
    source = io.BytesIO("".join(line + "\n" for line in lines).encode())
    out: list = []
    for batch in read_jsonl_batches(
        source, fields=run.fields(), validator=Validator(checked.schemas), batch_size=size
    ):
        out.extend(run.run(batch))
    out.extend(run.finish(flush=flush))
    assert all(type(line) is str for line in out)
    return _values(out)


def test_library_rules_write_what_the_interpreter_writes() -> None:
    """Every library rule that runs compiled, over the bundled feed, line for line."""
    checked = check_paths(["rules/payments.cep"])
    rules = [r for r in load_rules(checked) if fast_path_refusal(r) is None]
    with open("examples/payments.jsonl", encoding="utf-8") as feed:
        lines = feed.read().splitlines()
    expected = _interpreted(checked, rules, lines, flush=True)
    assert len(expected) > 3
    assert _written(checked, rules, lines, flush=True, size=200) == expected


def test_library_emit_fields_are_computed_by_the_kernel() -> None:
    """The payment rules' `emit` lists compile (none is left to the interpreter)."""
    checked = check_paths(["rules/payments.cep"])
    for rule in load_rules(checked):
        run = ColumnarRun([rule], checked.schemas, as_text=True)
        assert run.engine.rules[0].emit_plan is not None, rule.name


_PROGRAM = check_paths(["rules", "tests/flink"])
_RUNNER = TestRunner(_PROGRAM)
_CASES = [
    (path, test)
    for path, test in _PROGRAM.tests
    if fast_path_refusal(_RUNNER.rule(test.rule)) is None
]


@pytest.mark.parametrize("item", _CASES, ids=[f"{p}::{t.rule}::{t.description}" for p, t in _CASES])
def test_rule_tests_write_what_the_interpreter_writes(item: tuple) -> None:
    """Each eligible test block of the library and the Flink cases (those with an
    `allowed delay` too), its events as JSON lines: the same lines."""
    path, test = item
    consts = _PROGRAM.program.files[path].consts
    rule = _RUNNER.rule(test.rule)
    lines = [
        json.dumps({"type": event.type, "ts": event.ts, **event.data})
        for event in (_RUNNER._event(literal, consts) for literal in test.given)
    ]
    delay = 0
    if test.allowed_delay is not None:
        delay = int(constant_value(test.allowed_delay, consts)[0])  # type: ignore[arg-type]
    expected = _interpreted(_PROGRAM, [rule], lines, test.flush, delay)
    assert _written(_PROGRAM, [rule], lines, test.flush, 3, delay) == expected


#: `emit` values over `a` (one event), `f` (a repetition) and `c` (one event)
_VALUES = [
    "a.v", "a.x", "a.s", "a.b", "a.ts", "c.ts - a.ts", "count(f)", "sum(f.v)", "sum(f.x)",
    "avg(f.v)", "avg(f.x)", "min(f.x)", "max(f.v)", "first(f).s", "last(f).x", "f[0].v",
    "f[-1].x", "f[5].v", "a.v + 1", "a.v * 2", "a.v / 2", "a.v % 2", "a.x * 1.5", "-a.v",
    "abs(a.x)", "a.v > 1", 'a.s == "é"', "not a.b", "a.b and c.b", "exists(a.x)",
    "min(a.v, c.v)", "max(a.x, c.x)", "a.v in [1, 2]", "a.s in f.s", "a.x * 1e16",
    "a.x / 100000", "c.v - a.v * 3", "sum(f.v) * 2", "1.0", '"lit\\"eral"',
    # outside the compiled family: the interpreter evaluates the rule's `emit`
    "lower(a.s)", "min(a.v, c.x)", "sum(f.v) - 1",
]  # fmt: skip


@st.composite
def _rules(draw: st.DrawFn) -> str:
    quantifier = draw(st.sampled_from(["+", "+?", "{2}", "{1,3}", "{1,3}?", "*?", "{0,2}"]))
    first = draw(st.sampled_from(["v == 1", "exists(v)", "true", "true"]))
    middle = draw(st.sampled_from(["v >= 2", "true", "not exists(v)", "exists(x)"]))
    last = draw(st.sampled_from(["v == 1", "b", "x > 1.0", "not exists(x)", "true"]))
    pattern = f"a = E[{first}] -> f = E[{middle}]{quantifier} -> c = E[{last}]"
    fields = draw(st.lists(st.sampled_from(_VALUES), min_size=0, max_size=4, unique=True))
    emit = ""
    if fields:
        emit = "emit " + ", ".join(f"e{i} = {value}" for i, value in enumerate(fields))
    timeout = ""
    if draw(st.booleans()):
        late = draw(st.lists(st.sampled_from(["a.v", "a.s", "count(f)", "sum(f.x)"]), max_size=2))
        timeout = "on timeout emit " + (
            ", ".join(f"t{i} = {value}" for i, value in enumerate(late)) or "n = a.k"
        )
    partition = draw(st.sampled_from(["", "partition by k"]))
    skip = draw(st.sampled_from(["none", "past last", "to next"]))
    meta = draw(st.sampled_from(["", 'severity low tags "x", "é"', 'tags "\\ud800"']))
    return (
        f"rule r {{ {partition} pattern {pattern} within 6ms skip {skip} {emit} {timeout} {meta} }}"
    )


_NUMBERS = [1, 2, 3, 2**53 + 1, -(2**60)]
_FLOATS = [0.5, 1.0, 2.5, 1e16, 1e-5, 0.1, 0.2, -0.0, 1e300, 123456789.125]
_TEXTS = ["é", "a\\b", 'q"q', "1e5", "0.00001", "\u2028", "\ud800", "plain"]


@st.composite
def _lines(draw: st.DrawFn) -> list[str]:
    out = []
    ts = 0
    for _ in range(draw(st.integers(0, 16))):
        ts += draw(st.integers(0, 2))
        record: dict = {"type": "E", "ts": ts, "k": draw(st.sampled_from(["a", "b"]))}
        if draw(st.booleans()):
            record["v"] = draw(st.sampled_from(_NUMBERS[:3] * 3 + _NUMBERS[3:]))
        if draw(st.booleans()):
            record["x"] = draw(st.sampled_from(_FLOATS))
        if draw(st.booleans()):
            record["s"] = draw(st.sampled_from(_TEXTS))
        if draw(st.booleans()):
            record["b"] = draw(st.booleans())
        if draw(st.integers(0, 5)) == 0:
            record["extra"] = draw(st.sampled_from([[1, 2.5e-7], {"n": None}, "ü"]))
        # a lone surrogate can only be written escaped
        ascii_only = draw(st.booleans()) or record.get("s") == "\ud800"
        out.append(json.dumps(record, ensure_ascii=ascii_only))
    return out


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rules(), _lines(), st.booleans(), st.sampled_from([1, 4, 64]))
def test_random_emits_write_what_the_interpreter_writes(
    text: str, lines: list[str], flush: bool, size: int
) -> None:
    """Random `emit` lists (numbers of both kinds, text, truth values, nulls,
    aggregates of a repetition that may be empty, integers beyond 2**53, floats `json`
    writes with exponents, timeouts) over random feeds: the same lines."""
    checked = check_sources({"r.cep": SCHEMA + text})
    if not checked.ok:
        return  # a shape the checker refuses
    rules = load_rules(checked)
    assert fast_path_refusal(rules[0]) is None, text
    expected = _interpreted(checked, rules, lines, flush)
    assert _written(checked, rules, lines, flush, size) == expected, text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rules(), _lines(), st.booleans())
def test_compaction_changes_no_line(text: str, lines: list[str], flush: bool) -> None:
    """History compacted after every batch and record texts rewritten at every
    compaction: the same lines."""
    import cep.fast.reporttext as reporttext
    import cep.fast.rule as fast_rule

    checked = check_sources({"r.cep": SCHEMA + text})
    if not checked.ok:
        return
    rules = load_rules(checked)
    saved = fast_rule.COMPACT_AT, reporttext.REWRITE_AT
    fast_rule.COMPACT_AT, reporttext.REWRITE_AT = 1, 0
    try:
        written = _written(checked, rules, lines, flush, 2)
    finally:
        fast_rule.COMPACT_AT, reporttext.REWRITE_AT = saved
    assert written == _interpreted(checked, rules, lines, flush), text


def test_record_texts_stay_bounded_by_live_state() -> None:
    """Over a long feed whose live state is small, the record texts kept for reports
    take no more room as the run goes on."""
    import cep.fast.reporttext as reporttext
    import cep.fast.rule as fast_rule

    checked = check_sources(
        {
            "r.cep": SCHEMA
            + "rule r { partition by k pattern a = E[v == 1] -> b = E[v == 2] within 5ms }"
        }
    )
    rules = load_rules(checked)
    saved = fast_rule.COMPACT_AT, reporttext.REWRITE_AT
    fast_rule.COMPACT_AT, reporttext.REWRITE_AT = 2_000, 50_000
    try:
        run = ColumnarRun(rules, checked.schemas, as_text=True)
        table = run.engine.rules[0]._record_texts
        lines = [
            json.dumps({"type": "E", "ts": i, "k": "ab"[i % 2], "v": 1 + i % 3, "s": "x" * 20})
            for i in range(60_000)
        ]
        source = io.BytesIO("".join(line + "\n" for line in lines).encode())
        reports = 0
        sizes = []
        for batch in read_jsonl_batches(
            source, fields=run.fields(), validator=Validator(checked.schemas), batch_size=1_000
        ):
            reports += len(run.run(batch))
            sizes.append((len(table), len(table.data)))
    finally:
        fast_rule.COMPACT_AT, reporttext.REWRITE_AT = saved
    assert reports > 10_000
    assert max(size for size, _ in sizes[10:]) < 10_000, sizes
    assert max(room for _, room in sizes[10:]) <= 4 * 65_536 + 200_000, sizes


def test_text_table_keeps_renumbers_and_rewrites() -> None:
    """A `TextTable`: texts by entry, entries renumbered as the kernel compacts, the
    buffer rewritten."""
    import numpy as np

    import cep.fast.reporttext as reporttext

    table = reporttext.TextTable(width=1)
    table.put_texts(np.array([3, 0, 5]), [b"three", "zéro, zéro".encode(), b"five"])
    assert (table.text(3), table.text(0), table.text(5)) == ("three", "zéro, zéro", "five")
    assert table.ends[1] == reporttext.NOT_MADE
    table.info[3, 0] = 33
    saved = reporttext.REWRITE_AT
    reporttext.REWRITE_AT = 0
    try:
        table.keep(np.array([3, 5]))
    finally:
        reporttext.REWRITE_AT = saved
    assert table.text(0) == "three" and table.info[0, 0] == 33
    assert table.text(1) == "five"
    assert table.used == len("threefive")


def test_text_table_lends_texts_and_copies_them_when_settled() -> None:
    """Texts lent from a caller's buffer read as they lie there; `settle` copies them
    into the table (the buffers let go), also those of entries renumbered by `keep`."""
    import numpy as np

    import cep.fast.reporttext as reporttext

    table = reporttext.TextTable(width=1)
    table.put_texts(np.array([0]), [b"own"])
    first, second = b'{"a": 1}\n{"b": "\xc3\xa9"}\n', b"xx{}yy"
    table.lend(np.array([1, 2]), first, np.array([0, 9]), np.array([8, 20]))
    # by rows: entry 4 has row 2's span, whose end is -1 (no text: reported missing)
    spans = np.array([9, 2, 0]), np.array([20, 4, -1])
    missing = table.lend(np.array([3, 4]), second, *spans, rows=np.array([1, 2]))
    assert missing.tolist() == [1]
    texts = ["own", '{"a": 1}', '{"b": "é"}', "{}"]
    assert [table.text(i) for i in range(4)] == texts
    assert table.ends[4] == reporttext.NOT_MADE
    assert (len(table.lent), table.lent_bytes) == (2, len(first) + len(second))
    table.settle()
    assert [table.text(i) for i in range(4)] == texts
    assert (table.lent, table.lent_bytes) == ([], 0)
    assert (table.source[:5] == reporttext.OWN).all()
    table.lend(np.array([5]), b"[1, 2]", np.array([0]), np.array([6]))
    table.keep(np.array([5, 2]))
    assert [table.text(0), table.text(1)] == ["[1, 2]", '{"b": "é"}']
    assert table.lent == []
    starts, ends, source, info = table.held(np.array([1, 0, 7]))
    held = [table.data[s:e].tobytes() for s, e in zip(starts[:2], ends[:2], strict=True)]
    assert held == ['{"b": "é"}'.encode(), b"[1, 2]"]
    assert info.shape == (3, 1)
    assert ends[2] == reporttext.NOT_MADE and (source == reporttext.OWN).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(st.one_of(st.text(max_size=12), st.none(), st.just(-2)), max_size=12),
    before=st.lists(st.text(max_size=5), max_size=4),
    data=st.data(),
)
def test_text_table_puts_picked_texts_as_put_does_the_pieces_picked(
    texts: list[Any], before: list[str], data: st.DataObject
) -> None:
    """`put_picked` (kept rows' texts copied straight from those made ahead) leaves the
    table as `put` of the picked pieces does: the same texts, entries without one and
    `FALLBACK_TEXT` marks, after entries put before."""
    import numpy as np

    import cep.fast.reporttext as reporttext

    made = [t.encode() if isinstance(t, str) else b"~" for t in texts]
    data_, starts, ends = reporttext.encoded_pieces(made)
    for i, text in enumerate(texts):
        if not isinstance(text, str):  # (None: not made; -2: `FALLBACK_TEXT`)
            ends[i] = -1 if text is None else reporttext.FALLBACK_TEXT
    picks = data.draw(st.permutations(range(len(texts))))  # (kept rows: each once)
    picks = picks[: data.draw(st.integers(0, len(picks)))]
    at = data.draw(st.permutations(range(len(picks) + 3)))[: len(picks)]
    at, picks = np.array(at, np.int64), np.array(picks, np.int64)
    tables = [reporttext.TextTable(width=1) for _ in range(2)]
    for table in tables:
        table.put_texts(np.arange(len(before)) + 40, [t.encode() for t in before])
    tables[0].put(at, (data_, starts[picks], ends[picks]))
    tables[1].put_picked(at, (data_, starts, ends), picks)
    expect, got = tables
    assert len(got) == len(expect)
    for i in range(len(expect)):
        assert (got.ends[i] < 0) == (expect.ends[i] < 0)
        if expect.ends[i] < 0:
            assert got.ends[i] == expect.ends[i]
        else:
            assert got.text(i) == expect.text(i)
    assert (got.source[: len(got)] == reporttext.OWN).all()
    assert got.used <= expect.used  # (only the texts picked copied)


def test_text_table_grows_keeping_every_text_and_views_held_elsewhere() -> None:
    """As its buffer grows (in place where nothing else views it, else into a new one),
    a `TextTable` keeps every text, and a view taken of the buffer before (a snapshot's
    held texts) still reads what it read."""
    import numpy as np

    import cep.fast.reporttext as reporttext

    table = reporttext.TextTable(width=1)
    texts = [bytes([65 + k % 26]) * (5_000 * (k + 1)) for k in range(40)]
    held = None
    for k, text in enumerate(texts):
        table.put_texts(np.array([k]), [text])
        if k == 10:
            held = table.data[: table.used]
            expected = held.tobytes()
        if k == 30:
            assert held is not None and held.tobytes() == expected
            held = None  # (let go: the buffer may grow in place again)
    assert table.used == sum(map(len, texts)) and len(table.data) >= table.used
    assert [table.text(k) for k in range(40)] == [text.decode() for text in texts]
    table.keep(np.array([5, 39]))
    assert [table.text(0), table.text(1)] == [texts[5].decode(), texts[39].decode()]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(
            st.lists(st.text(max_size=20), min_size=1, max_size=6),  # texts put
            st.lists(st.booleans(), min_size=12, max_size=12),  # entries kept
            st.booleans(),  # a view of the buffer held through the next rewrite
        ),
        min_size=1,
        max_size=8,
    )
)
def test_text_table_rewrites_reuse_a_spare_buffer_no_one_holds(
    steps: list[tuple[list[str], list[bool], bool]],
) -> None:
    """Each rewrite (`keep`) gathers the texts still held into the buffer the one before
    left, where nothing else holds it: every text still reads as put, and a view of the
    buffer taken before (a snapshot's, a `MatchTable`'s) still reads what it read."""
    import numpy as np

    import cep.fast.reporttext as reporttext

    table = reporttext.TextTable(width=1)
    texts: list[str] = []  # by entry: the oracle
    held: list[tuple[np.ndarray, bytes]] = []  # views held, and what they read
    saved = reporttext.REWRITE_AT
    reporttext.REWRITE_AT = 0
    try:
        for put, kept, hold in steps:
            at = np.arange(len(texts), len(texts) + len(put))
            table.put_texts(at, [text.encode() for text in put])
            texts += put
            keep = [i for i, k in enumerate(kept[: len(texts)]) if k] or [0]
            if hold:
                view = table.data[: table.used]
                held.append((view, view.tobytes()))
            table.keep(np.array(keep, np.int64))
            texts = [texts[i] for i in keep]
            assert [table.text(i) for i in range(len(texts))] == texts
            assert all(view.tobytes() == before for view, before in held)
    finally:
        reporttext.REWRITE_AT = saved


def test_text_table_rewrites_alternate_between_two_buffers() -> None:
    """Rewrite after rewrite, a `TextTable` writes into the buffer it left the time
    before (memory already in use, not fresh pages), while no one else holds it."""
    import weakref

    import numpy as np

    import cep.fast.reporttext as reporttext

    table = reporttext.TextTable(width=1)
    saved = reporttext.REWRITE_AT
    reporttext.REWRITE_AT = 0
    reused = 0
    try:
        for k in range(6):
            # (a weak reference: a strong one would hold the buffer, which is then
            # not reused)
            spare = None if table._spare is None else weakref.ref(table._spare)
            left = weakref.ref(table.data)
            table.put_texts(np.array([1, 2]), [b"x" * 1000, b"kept %d" % k])
            table.keep(np.array([2, 1]) if k == 5 else np.array([2]))
            if table.data is left():  # (no rewrite: the texts kept fill over half)
                continue
            assert table._spare is left()  # (left for the next rewrite)
            if spare is not None:
                assert table.data is spare()
                reused += 1
    finally:
        reporttext.REWRITE_AT = saved
    assert reused == 4
    assert [table.text(0), table.text(1)] == ["kept 5", "x" * 1000]
    # a buffer over `SPARE_LIMIT` is let go, not kept
    saved_limit, reporttext.SPARE_LIMIT = reporttext.SPARE_LIMIT, 0
    reporttext.REWRITE_AT = 0
    try:
        table.put_texts(np.array([2]), [b"y" * 5000])
        table.keep(np.array([0]))
    finally:
        reporttext.REWRITE_AT, reporttext.SPARE_LIMIT = saved, saved_limit
    assert table._spare is None and table.text(0) == "kept 5"


def test_report_lines_merge_in_release_order_and_write_utf8() -> None:
    """`ReportLines`: rules' lines merged by release key, then rule index, then each
    rule's order; joined as UTF-8 with a newline each."""
    import numpy as np

    from cep.fast.reporttext import ReportLines

    def lines(keys: list[tuple[int, ...]], texts: list[str]) -> ReportLines:
        encoded = [t.encode() for t in texts]
        ends = np.cumsum([len(e) for e in encoded])
        starts = ends - [len(e) for e in encoded]
        data = np.frombuffer(b"".join(encoded), np.uint8)
        return ReportLines(np.array(keys, np.int64).reshape(-1, 4), data, starts, ends)

    first = lines([(5, 0, 0, 0), (9, 0, 0, 0)], ['"a5"', '"a9"'])
    second = lines([(5, 0, 0, 0), (1, 1, 0, 0), (5, 0, 0, 0)], ['"b5"', '"b1"', '"é"'])
    merged = ReportLines.merge([first, second], [1, 0])
    assert merged.texts() == ['"b1"', '"b5"', '"é"', '"a5"', '"a9"']
    assert merged.keys[:, 4:].tolist() == [[0, 1], [0, 0], [0, 2], [1, 0], [1, 1]]
    assert merged.joined() == '"b1"\n"b5"\n"é"\n"a5"\n"a9"\n'.encode()
    assert len(ReportLines.merge([], [])) == 0


def test_report_lines_joined_are_the_callers_to_keep() -> None:
    """Lines written into a report buffer in release order come back as that buffer,
    which the caller may grow; out of order, as a joined copy in release order."""
    import numpy as np

    from cep.fast.reporttext import ReportLines, report_buffer

    text = '"a"\n"é"\n'.encode()

    def written(keys: list[int]) -> ReportLines:
        owner, data = report_buffer(len(text))
        data[:] = np.frombuffer(text, np.uint8)
        release = np.array([[k, 0, 0, 0] for k in keys], np.int64)
        lines = ReportLines(release, data, np.array([0, 4]), np.array([3, 8]), owner)
        return ReportLines.merge([lines], [0])

    joined = written([1, 2]).joined()
    assert joined == text
    joined += b"{}\n"  # (no view of it is left behind to stop it growing)
    assert joined == text + b"{}\n"
    backwards = written([2, 1])
    assert backwards.joined() == '"é"\n"a"\n'.encode()
    assert backwards.texts() == ['"é"', '"a"']


def test_cep_run_writes_a_lone_surrogate_as_its_escape(tmp_path, capsys) -> None:
    """A tag and a key with a lone surrogate (which has no UTF-8 form) are written as
    their escape by every engine: strict JSON lines that read back the same."""
    from cep.cli import main

    rules = tmp_path / "r.cep"
    rules.write_text(
        SCHEMA + "rule r { partition by s pattern a = E[v == 1] -> b = E[v == 2] within 5ms "
        'tags "\\ud800" }'
    )
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        "".join(
            json.dumps({"type": "E", "ts": i, "k": "a", "v": 1 + i % 2, "s": "\ud800"}) + "\n"
            for i in range(6)
        )
    )
    written = []
    for engine in ("interpreter", "fast"):
        out = tmp_path / f"{engine}.jsonl"
        argv = ["run", str(rules), "--input", str(feed), "--output", str(out), "--quiet"]
        assert main([*argv, "--engine", engine]) == 0, capsys.readouterr().err
        written.append(out.read_bytes())
        assert written[-1].count(b'"tags":["\\ud800"]') == 3
    reports = [_values(text.decode().splitlines()) for text in written]
    assert reports[0] == reports[1]
    assert reports[0][0]["key"] == {"s": "\ud800"}
    assert reports[0][0]["events"]["a"] == json.loads(feed.read_text().splitlines()[0])


def test_events_rebuilt_from_record_texts_are_typed_by_their_schema() -> None:
    """A report the interpreter's path writes (an integer past 2**53 in `emit`) rebuilds
    its events from their kept record texts, validated as their own type: a time given
    as text is read as epoch milliseconds, as the interpreter reads it."""
    checked = check_sources(
        {
            "r.cep": "event E { k: str, big: int, when: time }\n"
            "rule r { partition by k pattern a = E -> b = E within 1m "
            "emit big = a.big, when = b.when }\n"
        }
    )
    rules = load_rules(checked)
    assert fast_path_refusal(rules[0]) is None
    lines = [
        json.dumps({"type": "E", "ts": t, "k": "x", "big": 2**53 + 1, "when": when})
        for t, when in ((1, "2024-01-01T00:00:00Z"), (2, "2024-01-01T00:00:01Z"))
    ]
    expected = _interpreted(checked, rules, lines, flush=True)
    assert len(expected) == 1 and expected[0]["fields"]["when"] == 1704067201000
    assert _written(checked, rules, lines, flush=True, size=64) == expected


def test_a_text_emit_value_of_no_string_is_null() -> None:
    """An `emit` of a text field no event had (the rule has seen no string yet) is null,
    as the interpreter writes it."""
    checked = check_sources(
        {
            "r.cep": SCHEMA + "rule r { pattern a = E[true] -> f = E[v >= 2]+ -> c = E[v == 1] "
            "within 6ms skip none on timeout emit t0 = a.s }"
        }
    )
    rules = load_rules(checked)
    lines = ['{"type": "E", "ts": 0, "k": "a", "extra": [1, 2.5e-07]}']
    expected = _interpreted(checked, rules, lines, flush=True)
    assert [report["fields"] for report in expected] == [{"t0": None}]
    assert _written(checked, rules, lines, flush=True, size=1) == expected
