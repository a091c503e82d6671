"""`cep fmt`: canonical layout that keeps every comment, means the same and is stable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.cli import main
from cep.lang.layout import LayoutError, format_source
from cep.lang.parser import parse_source
from cep.lang.printer import WIDTH, format_module
from tests import strategies as cst

ROOT = Path(__file__).resolve().parent.parent
RULE_FILES = sorted(p for p in ROOT.glob("**/*.cep") if ".git" not in p.parts)


def _comments(text: str) -> list[str]:
    """The comments of a rule file (strings in these files hold no `#`)."""
    return [line[line.index("#") :].rstrip() for line in text.splitlines() if "#" in line]


def _same_meaning(before: str, after: str) -> None:
    assert parse_source(after, "x.cep").module == parse_source(before, "x.cep").module


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_rule_file_of_the_project_formats_stably_keeping_comments(path: Path) -> None:
    source = path.read_text()
    formatted = format_source(source, str(path))
    _same_meaning(source, formatted)
    assert sorted(_comments(formatted)) == sorted(_comments(source))
    assert format_source(formatted, str(path)) == formatted


MESSY = """\
# header comment

# about the schema
event Payment {   # trailing on the header
  user : str   # who paid
   amount:float
  # before the last field
  status: str
  # at the end of the block
}
const A = 1   # one
const B = 2
const C = 3


const D = 4
rule r "d" {
  within 1m   # written first
  pattern a = Payment ->
     b = Payment  # on the pattern's second line
  # before tags
  tags "x"
  partition by user
}   # after the rule
test r {
  given   # the setup
    Payment { ts: 0s, user: "u", amount: 1, status: "# not a comment" }
    Payment { ts: 1s, user: "u", amount: 2,
              status: "ok" }  # a two-line event
  expect r
}
# the end
"""

MESSY_FORMATTED = """\
# header comment

# about the schema
event Payment {  # trailing on the header
  user: str      # who paid
  amount: float
  # before the last field
  status: str
  # at the end of the block
}

const A = 1  # one
const B = 2
const C = 3

const D = 4

rule r "d" {
  partition by user
  pattern a = Payment -> b = Payment  # on the pattern's second line
  within 1m                           # written first
  # before tags
  tags "x"
}  # after the rule

test r {
  given
    # the setup
    Payment { ts: 0s, user: "u", amount: 1, status: "# not a comment" }
    Payment { ts: 1s, user: "u", amount: 2, status: "ok" }  # a two-line event
  expect r
}
# the end
"""


def test_a_messy_file_gets_the_canonical_layout_with_each_comment_in_its_place() -> None:
    assert format_source(MESSY) == MESSY_FORMATTED
    assert format_source(MESSY_FORMATTED) == MESSY_FORMATTED


def test_long_clauses_are_wrapped_one_part_per_line() -> None:
    names = ", ".join(f"field_number_{i} = a.user" for i in range(6))
    source = (
        "event E { user: str }\n"
        'rule r { pattern a = E[user == "a very long literal to pass the width"] -> '
        'b = E[user == "another quite long literal"] -> c = E\n'
        f"  emit {names}\n}}\n"
    )
    formatted = format_source(source)
    rule = formatted[formatted.index("rule") :].splitlines()
    assert rule[1].startswith("  pattern a = E[") and rule[2].strip().startswith("-> b = E[")
    assert rule[4] == "  emit field_number_0 = a.user,"
    assert rule[5] == "       field_number_1 = a.user,"
    assert all(len(line) <= WIDTH for line in rule)
    _same_meaning(source, formatted)
    assert format_source(formatted) == formatted


def test_the_example_library_is_in_the_canonical_layout() -> None:
    """What `cep fmt --check rules` says in a user's CI about the files they start from."""
    for path in sorted((ROOT / "rules").glob("*.cep")):
        source = path.read_text()
        assert format_source(source, str(path)) == source, path


TABLE = """\
event Login { user: str, ip: str, ok: bool }
event Logout { user: str }
test r "t" {
  given
    Login {ts:0s,user:"alice",ip:"203.0.113.7",ok:false}
    Login {ts:1m30s,user:"bob",ip:"10.0.0.1",ok:true}
    Logout {ts:2m,user:"bob"}
    Login {ts:3m,ip:"10.0.0.1",user:"bob",ok:true}
  expect no r
}
"""

TABLE_FORMATTED = """\
event Login {
  user: str
  ip: str
  ok: bool
}

event Logout {
  user: str
}

test r "t" {
  given
    Login  { ts: 0s,    user: "alice", ip: "203.0.113.7", ok: false }
    Login  { ts: 1m30s, user: "bob",   ip: "10.0.0.1",    ok: true }
    Logout { ts: 2m, user: "bob" }
    Login  { ts: 3m, ip: "10.0.0.1", user: "bob", ok: true }
  expect no r
}
"""


def test_given_events_of_one_shape_in_a_row_are_laid_out_as_a_table() -> None:
    """Consecutive events of one type with the same fields share columns; the braces of
    a `given` block line up whatever the types."""
    assert format_source(TABLE) == TABLE_FORMATTED
    assert format_source(TABLE_FORMATTED) == TABLE_FORMATTED
    _same_meaning(TABLE, TABLE_FORMATTED)


def test_wide_given_rows_and_expects_wrap_at_the_same_field() -> None:
    fields = ", ".join(f"field_{i}: str" for i in range(8))
    values = ", ".join(f'field_{i}: "value {i}"' for i in range(8))
    source = (
        f"event E {{ {fields} }}\n"
        f'test r "t" {{\n  given\n    E {{ ts: 0s, {values} }}\n'
        f"    E {{ ts: 1m30s, {values} }}\n  expect r {{ {values} }} at 1m30s\n}}\n"
    )
    formatted = format_source(source)
    lines = formatted[formatted.index("test") :].splitlines()
    assert all(len(line) <= WIDTH for line in lines)
    given = lines[2 : lines.index(next(x for x in lines if x.startswith("  expect")))]
    assert len(given) == 4  # (two rows of two lines)
    assert given[0].startswith("    E { ts: 0s,    field_0:")
    assert given[1].index("field_") == given[3].index("field_") == len("    E { ")
    assert given[1].split()[0] == given[3].split()[0]  # (both break before one field)
    expect = lines[2 + len(given) : -1]
    assert expect[0].startswith('  expect r { field_0: "value 0",') and len(expect) > 1
    assert all(line.startswith(" " * len("  expect r { ") + "field_") for line in expect[1:])
    assert expect[-1].endswith(' field_7: "value 7" } at 1m30s')
    _same_meaning(source, formatted)
    assert format_source(formatted) == formatted


def test_several_comments_for_one_printed_line_go_above_it_in_order() -> None:
    source = (
        "event E { user: str }\nrule r {\n  pattern a = E  # first\n    -> b = E   # second\n}\n"
    )
    formatted = format_source(source)
    assert "  # first\n  # second\n  pattern a = E -> b = E\n" in formatted
    assert format_source(formatted) == formatted


def test_a_file_that_does_not_parse_is_refused_with_its_diagnostics() -> None:
    with pytest.raises(LayoutError) as error:
        format_source("rule r {\n  pattern\n}\n", "bad.cep")
    assert error.value.diagnostics[0].span.line == 3


_WORDS = st.text(alphabet='abc xyz#"{}', max_size=12)


@settings(max_examples=150, deadline=None)
@given(cst.modules("x.cep"), st.data())
def test_random_files_with_random_comments_keep_meaning_and_comments(module, data) -> None:
    lines = format_module(module).split("\n")[:-1]
    commented: list[str] = []
    for line in lines:
        if data.draw(st.booleans()):
            commented.append("  # own " + data.draw(_WORDS).replace("\n", " "))
        note = data.draw(st.one_of(st.none(), _WORDS))
        # a `#` inside a string is text, so only add a comment after the line's strings
        commented.append(line if note is None or not line.strip() else f"{line}  # {note}")
    source = "\n".join(commented) + "\n"
    formatted = format_source(source, "x.cep")
    _same_meaning(source, formatted)
    assert sorted(c.strip() for c in _comment_texts(formatted)) == sorted(
        c.strip() for c in _comment_texts(source)
    )
    assert format_source(formatted, "x.cep") == formatted


def _comment_texts(text: str) -> list[str]:
    from cep.lang.layout import _scan

    comments, _ = _scan(text.split("\n"))
    return [c.text for c in comments]


def test_cep_fmt_rewrites_files_and_check_reports_them(tmp_path: Path, capsys) -> None:
    messy = tmp_path / "rules" / "messy.cep"
    messy.parent.mkdir()
    messy.write_text(MESSY)
    tidy = tmp_path / "rules" / "tidy.cep"
    tidy.write_text(MESSY_FORMATTED)
    assert main(["fmt", "--check", str(tmp_path / "rules")]) == 1
    err = capsys.readouterr().err
    assert f"would reformat {messy}" in err and str(tidy) not in err
    assert "1 file would be reformatted, 1 file already formatted" in err
    assert messy.read_text() == MESSY
    assert main(["fmt", str(tmp_path / "rules")]) == 0
    assert messy.read_text() == MESSY_FORMATTED
    assert main(["fmt", "--check", str(tmp_path / "rules")]) == 0


def test_cep_fmt_leaves_a_broken_file_as_it_was(tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.cep"
    broken.write_text("rule r {\n  pattern\n}\n")
    assert main(["fmt", str(broken)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"broken\.cep:3:1", err)
    assert "1 file with syntax errors left as they were" in err
    assert broken.read_text() == "rule r {\n  pattern\n}\n"
    assert main(["fmt", str(tmp_path / "missing.cep")]) == 2


def test_cep_fmt_reads_standard_input() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cep", "fmt", "-"], input=MESSY, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == MESSY_FORMATTED
