"""`=~` in RE2 (issue 27, item 2): linear time whatever the pattern, bad literal patterns
refused by the checker at line:col, bad patterns from data false and counted, the same
on every engine."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep import Engine
from cep.compile.expressions import _matches
from cep.lang.checker import check_sources
from cep.lang.regex import DataPatterns, compile_regex

ENGINES = ["interpreter", "fast", "auto"]

_RULES = """
event Login { user: str, status: str }
rule slow { pattern a = Login[user =~ "(a+)+$"] }
rule data { pattern a = Login[user =~ status] }
"""


def _run(kind: str, events: list[dict[str, object]]) -> tuple[list[tuple[str, int]], int]:
    engine = Engine.from_string(_RULES, engine=kind)  # type: ignore[arg-type]
    reports = [*engine.feed(events), *engine.finish(flush=True)]
    return sorted((m.rule, m.ts) for m in reports), engine.stats().bad_patterns


# ---------------------------------------------------------------------------- checker


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\\1", "invalid escape sequence"),
        ("(?=a)b", "invalid perl operator"),
        ("(?<!x)a", "invalid perl operator"),
        ("a{99999999999}", "repeat count 99999999999 is over the limit of 1000"),
        ("a{2,1001}", "over the limit of 1000"),
        ("(unclosed", "missing )"),
    ],
)
def test_a_literal_pattern_re2_refuses_is_an_error_at_its_line_and_column(
    pattern: str, why: str
) -> None:
    source = f'event L {{ user: str }}\nrule r {{\n  pattern a = L[user =~ "{pattern}"]\n}}\n'
    checked = check_sources({"r.cep": source})
    (error,) = checked.errors
    assert error.code == "bad-regex" and why in error.message
    assert (error.span.line, error.span.column) == (3, 25)


def test_cep_check_reports_a_huge_repeat_count_without_a_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "r.cep"
    path.write_text('event L { user: str }\nrule r { pattern a = L[user =~ "a{99999999999}"] }\n')
    done = subprocess.run(
        [sys.executable, "-m", "cep.cli", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "r.cep:2:32: error: invalid regular expression" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_repeat_counts_in_classes_or_escaped_are_text() -> None:
    for pattern in (r"[{]99999999999}", r"\{99999999999}", "[a{99999999999}]", "a{1000}",
                    "[]{99999999999}]", r"\Qa{99999999999}\E"):  # fmt: skip
        assert compile_regex(pattern)[1] is None, pattern


# ---------------------------------------------------------------------------- meaning

_ATOMS = st.sampled_from(["a", "b", "ab", ".", "[ab]", "[^a]", r"\d", "(a|b)", "(ab)", "x"])
_QUANTIFIERS = st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,3}", "*?", "+?"])


@st.composite
def _patterns(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(_ATOMS, _QUANTIFIERS), min_size=1, max_size=4))
    body = "".join(atom + q for atom, q in parts)
    return draw(st.sampled_from(["", "^"])) + body + draw(st.sampled_from(["", "$"]))


@settings(max_examples=400, deadline=None)
@given(_patterns(), st.text(alphabet="abx1 ", max_size=12))
def test_matching_is_python_re_search_on_patterns_both_take(pattern: str, text: str) -> None:
    expected = re.search(pattern, text) is not None
    compiled, problem = compile_regex(pattern)
    assert problem is None
    assert (compiled.search(text) is not None) == expected
    assert _matches(text, pattern) == expected  # the engines' test of a data pattern


@pytest.mark.parametrize("kind", ENGINES)
def test_literal_and_data_patterns_agree_with_python_on_every_engine(kind: str) -> None:
    pairs = [("alice", "^a"), ("bob", "o+b$"), ("carol", "x|ro"), ("dave", "^(da|ve)+$"),
             ("aaa", "a{2}"), ("b", "[^b]")]  # fmt: skip
    events = [
        {"type": "Login", "ts": i, "user": user, "status": pattern}
        for i, (user, pattern) in enumerate(pairs)
    ]
    reports, bad = _run(kind, events)
    expected = [("data", i) for i, (u, p) in enumerate(pairs) if re.search(p, u)]
    assert [r for r in reports if r[0] == "data"] == expected
    assert bad == 0


# ---------------------------------------------------------------------------- runaway


_CATASTROPHIC = """
import sys
from cep import Engine
rules = 'event Login {{ user: str }}\\nrule slow {{ pattern a = Login[user =~ "(a+)+$"] }}\\n'
engine = Engine.from_string(rules, engine="{kind}")
events = [{{"type": "Login", "ts": n, "user": "a" * n + "b"}} for n in range(28, 51)]
events.append({{"type": "Login", "ts": 60, "user": "a" * 50}})
reports = [*engine.feed(events), *engine.finish(flush=True)]
print([m.ts for m in reports])
"""


@pytest.mark.parametrize("kind", ENGINES)
def test_a_backtracking_pattern_returns_on_every_engine(kind: str) -> None:
    """`(a+)+$` against 28-50 a's and a b: hours in a backtracking engine."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CATASTROPHIC.format(kind=kind))],
        capture_output=True,
        text=True,
        timeout=600,  # generous: the fast path may compile first; RE2 takes milliseconds
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[60]"


# ---------------------------------------------------------------------------- from data


@pytest.mark.parametrize("kind", ENGINES)
def test_a_bad_pattern_from_data_is_false_and_counted_on_every_engine(kind: str) -> None:
    bad = ["a{99999999999}", r"(a)\1", "(?=a)", "(", "a{1001}"]
    events = [
        {"type": "Login", "ts": i, "user": "a{99999999999}", "status": p} for i, p in enumerate(bad)
    ]
    events += [
        {"type": "Login", "ts": 10 + i, "user": "aa", "status": p} for i, p in enumerate(bad)
    ]
    events.append({"type": "Login", "ts": 20, "user": "aa", "status": "^a+$"})
    reports, count = _run(kind, events)
    assert [r for r in reports if r[0] == "data"] == [("data", 20)]
    assert count == 2 * len(bad)


def test_patterns_from_data_are_kept_in_a_bounded_cache() -> None:
    patterns = DataPatterns(size=3)
    for n in range(10):
        assert patterns.search("a" * n, f"^a{{{n}}}$")
    assert len(patterns._compiled) == 3
    assert not patterns.search("x", "(") and patterns.bad == 1
    assert not patterns.search("x", "(") and patterns.bad == 2  # counted per test, cached


def test_the_run_summary_counts_bad_patterns_from_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "r.cep"
    rules.write_text(_RULES)
    events = tmp_path / "e.jsonl"
    events.write_text(
        '{"type": "Login", "ts": 1, "user": "a", "status": "(a)\\\\1"}\n'
        '{"type": "Login", "ts": 2, "user": "a", "status": "^a$"}\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "cep.cli", "run", str(rules), "--input", str(events),
         "--engine", "interpreter"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 bad patterns from data" in done.stderr
    assert done.stdout.count('"rule":"data"') + done.stdout.count('"rule": "data"') == 1


def test_text_with_a_lone_surrogate_is_searched_not_a_crash() -> None:
    """RE2 reads UTF-8; `"\\ud800"` in JSON decodes to a lone surrogate."""
    assert _matches("a\ud800", "^a.$") and _matches("\udc00b", "b$")
    assert not _matches("b", "\ud800") and compile_regex("\ud800")[1] is not None
