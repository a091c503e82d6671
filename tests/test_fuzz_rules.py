"""Fuzzing the checker: no rule file, however deep, long or strange, crashes `cep check`.

Two sources of hostile files: the library's rule files (`rules/*.cep`) mutated byte by
byte (deletions, duplications, deep nesting, huge numbers, odd bytes), and random
syntax trees from `tests/strategies.py` printed and then mutated the same way. Each case
runs `cep check` in-process; a sample also runs `cep test` (which checks first) and a
few run as a subprocess. The properties: no traceback, exit status 0, 1 or 2 (never 3,
an internal error), every diagnostic at a line and column of the file.

Default sizes keep the suite within CI time; `CEP_FUZZ_CASES=N` runs N mutation cases
(and N/5 syntax trees), `CEP_FUZZ_SEED` picks another seed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep import cli
from cep.lang import checker
from tests.strategies import modules

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = sorted((ROOT / "rules").glob("*.cep"))
CASES = int(os.environ.get("CEP_FUZZ_CASES", "2000"))
SEED = int(os.environ.get("CEP_FUZZ_SEED", "27"))

# ---------------------------------------------------------------------------- mutations

_ITEM = re.compile(rb"^(?=(?:import|const|event|rule|test)\b)", re.MULTILINE)


def excerpts(source: bytes) -> list[bytes]:
    """Smaller files cut from `source`, so that a case is quick: its declarations of
    events and constants and a run of one to three of its other declarations."""
    head, *items = _ITEM.split(source)
    shared = b"".join(i for i in items if i.startswith((b"event", b"const", b"import")))
    others = [i for i in items if not i.startswith((b"event", b"const", b"import"))]
    return [head + shared + b"".join(others[at : at + 3]) for at in range(len(others))]


def _deep(rng: random.Random) -> bytes:
    """A fragment nested `k` levels deep, k around and far beyond the limit."""
    k = rng.choice((3, 50, 99, 101, 150, 600, 1500, 5000))
    shapes: list[Callable[[int], str]] = [
        lambda k: "abs(" * k + "1" + ")" * k,
        lambda k: "not " * k + "true",
        lambda k: "-" * k + "1",
        lambda k: "-(" * k + "1" + ")" * k,
        lambda k: " and ".join(["a > 1"] * k),
        lambda k: " or ".join(["true"] * k),
        lambda k: " + ".join(["1"] * k),
        lambda k: "x" + "[0]" * k,
        lambda k: "[" * k + "1" + "]" * k,
        lambda k: "(" * k + "1" + ")" * k,
        lambda k: "(" * k + "a = T -> b = T" + ")" * k,
        lambda k: "".join(f"(a{i} = T | " for i in range(k)) + "b = T" + ")" * k,
        lambda k: "{" * k + "}" * k,
        lambda k: "(" * k,
    ]
    return rng.choice(shapes)(k).encode()


def _huge(rng: random.Random) -> bytes:
    digits = "9" * rng.choice((19, 20, 400, 4300, 4301, 9000))
    return rng.choice(
        (
            digits,
            f"{digits}ms",
            f"{digits}d",
            "9223372036854775807",
            "9223372036854775808",
            "9223372036854775808ms",
            "106751991167d",
            f"{{{digits}}}",
            "{99999999999}",
            "{10001}",
            "{1,99999999999}",
            f"1e{digits}",
            f"{digits}.{digits}",
        )
    ).encode()


_ODD = (b"\x00", b"\xff", b"\xef\xbb\xbf", b"\r", b"\t", b"\x1b[31m", b"\x7f", b"\xc3",
        b"\xe2\x80\xae", b"\\", b'"', b"'", b"`", b"\n\n", b"\xf0\x9f\x92\xa5",
        b"\x0c")  # fmt: skip
_TOKENS = (b"(", b")", b"[", b"]", b"{", b"}", b"->", b"->>", b"|", b"&", b"!", b"=~",
           b"rule", b"event", b"test", b"const", b"import", b"pattern", b"within",
           b"not", b"and", b"emit", b"given", b"expect", b",", b":", b".", b"*", b"+",
           b"?", b"0", b"-1", b"\"", b"#", b"this", b"null")  # fmt: skip


def mutate(data: bytes, rng: random.Random) -> bytes:
    """`data` with one to three random edits."""
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(data) + 1)
        length = rng.randint(1, 80)
        kind = rng.randrange(8)
        if kind == 0:
            data = data[:at] + data[at + length :]
        elif kind == 1:
            data = data[:at] + data[at : at + length] * rng.randint(2, 40) + data[at:]
        elif kind == 2:
            data = data[:at] + _deep(rng) + data[at:]
        elif kind == 3:
            data = data[:at] + _huge(rng) + data[at:]
        elif kind == 4:
            data = data[:at] + rng.choice(_ODD) + data[at:]
        elif kind == 5:
            data = data[:at] + rng.choice(_TOKENS) + data[at:]
        elif kind == 6:
            noise = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            data = data[:at] + noise + data[at:]
        else:
            data = data[:at]
    return data


# ---------------------------------------------------------------------------- the property


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exit_:  # argparse
            status = exit_.code if isinstance(exit_.code, int) else 2
    return status, out.getvalue(), err.getvalue()


def assert_handled(path: Path, *, text: bool = False, test: bool = False) -> dict | None:
    """Check `path` with `cep check` (and `cep test`): no crash, every error placed."""
    status, out, err = run_cli(["check", "--format", "json", str(path)])
    context = f"{path}: exit {status}\n{err[-2000:]}"
    assert status in (0, 1, 2), context
    assert "Traceback" not in out + err, context
    report = None
    if status != 2:
        report = json.loads(out)
        for diagnostic in report["diagnostics"]:
            assert diagnostic["line"] >= 1 and diagnostic["column"] >= 1, diagnostic
            assert diagnostic["file"], diagnostic
    if text:
        status, out, err = run_cli(["check", str(path)])
        assert status in (0, 1, 2), f"{path}: exit {status}\n{err[-2000:]}"
        assert "Traceback" not in out + err
        assert "\x00" not in out + err and "\x1b" not in out + err, "control characters shown raw"
    if test:
        status, out, err = run_cli(["test", str(path)])
        assert status in (0, 1, 2), f"{path}: cep test exit {status}\n{err[-2000:]}"
        assert "Traceback" not in out + err
    return report


@pytest.fixture(autouse=True)
def _no_parse_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEP_CACHE_DIR", "")


def test_mutated_library_files(tmp_path: Path) -> None:
    """`CASES` mutations of the library's rule files; each is checked, some also tested."""
    rng = random.Random(SEED)
    whole = [path.read_bytes() for path in LIBRARY]
    parts = [part for source in whole for part in excerpts(source)]
    found_errors = 0
    for case in range(CASES):
        mutated = mutate(rng.choice(whole if case % 8 == 0 else parts), rng)
        path = tmp_path / f"case{case % 8}.cep"
        path.write_bytes(mutated)
        try:
            report = assert_handled(path, text=case % 5 == 0, test=case % 40 == 0)
        except AssertionError:
            kept = tmp_path / f"failed-{SEED}-{case}.cep"
            kept.write_bytes(mutated)
            raise
        found_errors += bool(report and report["errors"])
    assert found_errors > CASES // 4  # the mutations do break files


@settings(
    max_examples=max(CASES // 5, 10),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(module=modules(path="fuzz.cep"), seed=st.integers(0, 2**32), edits=st.booleans())
def test_printed_syntax_trees(tmp_path: Path, module: object, seed: int, edits: bool) -> None:
    """Random trees printed as rule text, as they are and mutated."""
    from cep.lang.printer import format_module

    data = format_module(module).encode()  # type: ignore[arg-type]
    if edits:
        data = mutate(data, random.Random(seed))
    path = tmp_path / "fuzz.cep"
    path.write_bytes(data)
    assert_handled(path, text=True, test=seed % 10 == 0)


# ---------------------------------------------------------------------------- named cases

HEADER = "event E { a: int, l: list[int] }\n"


def _rule(condition: str) -> str:
    return HEADER + f"rule r {{\n  pattern x = E[{condition}]\n  within 1m\n}}\n"


HOSTILE = {
    "abs": _rule("abs(" * 3000 + "a" + ")" * 3000 + " > 0"),
    "not": _rule("not " * 3000 + "true"),
    "minus": _rule("-" * 3000 + "a > 0"),
    "and": _rule(" and ".join(["a > 1"] * 3000)),
    "index": _rule("l" + "[0]" * 3000 + " > 0"),
    "lists": _rule("a in " + "[" * 3000 + "1" + "]" * 3000),
    "groups": HEADER
    + "rule r {\n  pattern "
    + "".join(f"(x{i} = E | " for i in range(3000))
    + "y = E"
    + ")" * 3000
    + "\n  within 1m\n}\n",
    "int": _rule("a > " + "9" * 5000),
    "int64": _rule("a > 9223372036854775808"),
    "repeat": HEADER + "rule r {\n  pattern x = E{99999999999}\n  within 1m\n}\n",
    "repeat range": HEADER + "rule r {\n  pattern x = E{2,10001}\n  within 1m\n}\n",
    "within": HEADER + "rule r {\n  pattern x = E -> y = E\n  within 9223372036854775808ms\n}\n",
    "days": HEADER + "rule r {\n  pattern x = E -> y = E\n  within 106751991167301d\n}\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_rule_is_an_error_at_line_and_column(tmp_path: Path, name: str) -> None:
    path = tmp_path / "hostile.cep"
    path.write_text(HOSTILE[name], encoding="utf-8")
    report = assert_handled(path, text=True, test=True)
    assert report is not None and report["errors"] >= 1
    first = report["diagnostics"][0]
    assert first["code"] in ("too-deep", "bad-number", "bad-repetition"), first
    assert first["line"] == (4 if name in ("within", "days") else 3)


def test_nesting_within_the_limit_runs_on_both_engines(tmp_path: Path) -> None:
    """What the checker lets through, the engines can run: the limit is not too high."""
    path = tmp_path / "deep.cep"
    path.write_text(_rule("abs(" * 95 + "a" + ")" * 95 + " > 0 and " + "not " * 90 + "true"))
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "E", "ts": 1, "a": 5, "l": [1]}\n')
    assert run_cli(["check", str(path)])[0] == 0
    for engine in ("interpreter", "fast"):
        status, _, err = run_cli(
            ["run", str(path), "--input", str(events), "--engine", engine, "--flush"]
        )
        assert status == 0, err


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.cep"
    path.write_bytes(b"\xef\xbb\xbf" + LIBRARY[0].read_bytes())
    assert run_cli(["check", str(path)])[0] == 0


def test_control_characters_are_shown_escaped(tmp_path: Path) -> None:
    path = tmp_path / "nul.cep"
    path.write_bytes(_rule("a > 1 \x00 \x1b[31m").encode())
    status, out, _ = run_cli(["check", str(path)])
    assert status == 1
    assert "\\x00" in out and "\x00" not in out and "\x1b" not in out


def test_an_internal_error_exits_3_asking_for_a_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(paths: list[str]) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(checker, "check_paths", broken)  # (`cep check` imports it when run)
    monkeypatch.delenv("CEP_DEBUG", raising=False)
    assert cli.main(["check", "x.cep"]) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err and "report" in err
    assert "Traceback" not in err
    monkeypatch.setenv("CEP_DEBUG", "1")
    assert cli.main(["check", "x.cep"]) == 3
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["abs", "int", "within"])
def test_hostile_rules_in_a_subprocess(tmp_path: Path, name: str) -> None:
    path = tmp_path / "hostile.cep"
    path.write_text(HOSTILE[name], encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CEP_CACHE_DIR": ""}
    for command in ("check", "test"):
        done = subprocess.run(
            [sys.executable, "-m", "cep.cli", command, str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("target", ["\\u0000", "/dev/zero", "."])
def test_an_import_of_what_is_no_file_is_an_error(tmp_path: Path, target: str) -> None:
    """Found by the fuzz suite: a NUL in an import crashed; a device would never end."""
    path = tmp_path / "imports.cep"
    path.write_text(f'import "{target}"\n', encoding="utf-8")
    report = assert_handled(path, text=True)
    assert report is not None and report["diagnostics"][0]["code"] == "bad-import"


def test_a_long_line_is_cut_around_the_spot(tmp_path: Path) -> None:
    path = tmp_path / "long.cep"
    path.write_text(_rule(" and ".join(["a > 1"] * 300) + " and a > \x00"), encoding="utf-8")
    status, out, _ = run_cli(["check", str(path)])
    assert status == 1
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("   3 |"))
    source_line, caret = lines[at], lines[at + 1]
    assert len(source_line) < 140 and source_line.endswith("\\x00]")
    assert caret.index("^") == source_line.index("\\x00")
