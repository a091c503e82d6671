"""`cep run` and `cep explain` end to end: output contract, rejects, summary, exit codes."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cep.cli import main

PAYMENTS = """\
event Payment { user: str, amount: float }

rule rising "a payment larger than the one before" {
  partition by user
  pattern a = Payment -> b = Payment[amount > a.amount]
  within 1m
  emit user = a.user, gap = b.ts - a.ts, at = a.ts, total = a.amount + b.amount
  severity high
  tags "fraud", "payments"
}
"""

PAIRS = """\
rule ab { partition by user  pattern a = A -> b = B  within 1m }
rule silent { pattern a = A -> not B  within 1m }
"""


def write_rules(tmp_path: Path, text: str, name: str = "rules.cep") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def write_lines(tmp_path: Path, records: list[Any], name: str = "in.jsonl") -> str:
    """Input lines: dicts as JSON, strings as they are."""
    path = tmp_path / name
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def cep(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    """Run `cep ARGS` in-process: exit code, output records, standard error."""
    code = main(list(args))
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    return code, records, captured.err


def rejects(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def ev(type_: str, ts: Any, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "ts": ts, **fields}


# ------------------------------------------------------------------ output contract


def test_output_record_follows_the_contract_exactly(tmp_path: Path, capsys) -> None:
    """One JSON object per match: times as epoch ms, durations as int ms, metadata copied,
    and `events` holding the input records exactly as read (ISO time and int amount kept)."""
    rules = write_rules(tmp_path, PAYMENTS)
    first = ev("Payment", "2024-01-01T00:00:00Z", user="u1", amount=10)
    second = ev("Payment", 1704067230000, user="u1", amount=12.5)
    code, records, _ = cep(capsys, "run", rules, "--input", write_lines(tmp_path, [first, second]))
    assert code == 0
    assert records == [
        {
            "rule": "rising",
            "kind": "match",
            "ts": 1704067230000,
            "key": {"user": "u1"},
            "fields": {"user": "u1", "gap": 30000, "at": 1704067200000, "total": 22.5},
            "events": {"a": first, "b": second},
            "severity": "high",
            "tags": ["fraud", "payments"],
        }
    ]
    assert isinstance(records[0]["events"]["a"]["amount"], int)


def test_time_fields_are_written_as_epoch_ms_and_events_as_read(tmp_path: Path, capsys) -> None:
    """A `time` field given as ISO text is epoch ms in `fields`, ISO text in `events`; a
    `duration` is integer milliseconds."""
    rules = write_rules(
        tmp_path,
        "event A { at: time, d: duration }\n"
        "rule r { pattern a = A  within 1m  emit at = a.at, d = a.d, later = a.at + a.d }\n",
    )
    record = ev("A", "2024-01-01T00:00:01Z", at="2024-01-01T00:00:00Z", d=5000)
    code, records, _ = cep(capsys, "run", rules, "--input", write_lines(tmp_path, [record]))
    assert code == 0
    assert records[0]["ts"] == 1704067201000
    assert records[0]["fields"] == {"at": 1704067200000, "d": 5000, "later": 1704067205000}
    assert records[0]["events"] == {"a": record}


def test_a_record_without_metadata_has_exactly_the_six_keys(tmp_path: Path, capsys) -> None:
    """Without `severity` or `tags`, a record has `rule, kind, ts, key, fields, events` only;
    the default `fields` are the partition key."""
    rules = write_rules(tmp_path, PAIRS)
    events = [ev("A", 0, user="u1"), ev("B", 1000, user="u1")]
    code, records, _ = cep(
        capsys, "run", rules, "--rule", "ab", "--input", write_lines(tmp_path, events)
    )
    assert code == 0
    assert records == [
        {
            "rule": "ab",
            "kind": "match",
            "ts": 1000,
            "key": {"user": "u1"},
            "fields": {"user": "u1"},
            "events": {"a": events[0], "b": events[1]},
        }
    ]


def test_a_rule_without_partition_writes_key_null(tmp_path: Path, capsys) -> None:
    """`"key": null` for a rule without `partition by`."""
    rules = write_rules(tmp_path, "rule r { pattern a = A -> b = B  within 1m }\n")
    events = [ev("A", 0), ev("B", 1)]
    _, records, _ = cep(capsys, "run", rules, "--input", write_lines(tmp_path, events))
    assert [r["key"] for r in records] == [None]
    assert records[0]["fields"] == {}


def test_timeout_record_has_kind_timeout_and_the_window_close_time(tmp_path: Path, capsys) -> None:
    """An `on timeout emit` report says `timeout`, at start + window, with what was bound."""
    rules = write_rules(
        tmp_path,
        "rule r { pattern a = A -> b = B  within 1m  on timeout emit who = a.user }\n",
    )
    events = [ev("A", 1000, user="u1"), ev("X", 90_000)]
    _, records, _ = cep(capsys, "run", rules, "--input", write_lines(tmp_path, events))
    assert records == [
        {
            "rule": "r",
            "kind": "timeout",
            "ts": 61_000,
            "key": None,
            "fields": {"who": "u1"},
            "events": {"a": events[0]},
        }
    ]


def test_output_option_writes_matches_to_a_file(tmp_path: Path, capsys) -> None:
    """`--output FILE` puts the records in the file, not on standard output."""
    rules = write_rules(tmp_path, PAIRS)
    out = tmp_path / "out.jsonl"
    events = [ev("A", 0, user="u"), ev("B", 1, user="u")]
    code, records, _ = cep(
        capsys,
        "run",
        rules,
        "--rule",
        "ab",
        "--input",
        write_lines(tmp_path, events),
        "--output",
        str(out),
    )
    assert code == 0
    assert records == []
    assert [json.loads(line)["rule"] for line in out.read_text().splitlines()] == ["ab"]


# ------------------------------------------------------------------ input formats and options


def test_csv_input_is_read_by_its_header(tmp_path: Path, capsys) -> None:
    """A `.csv` input is read by its header row; schema fields get their declared types."""
    rules = write_rules(tmp_path, PAYMENTS)
    path = tmp_path / "in.csv"
    path.write_text(
        "type,ts,user,amount\nPayment,0,u1,10\nPayment,1000,u2,50\nPayment,2000,u1,11.5\n"
    )
    code, records, _ = cep(capsys, "run", rules, "--input", str(path))
    assert code == 0
    assert [(r["ts"], r["key"], r["fields"]["total"]) for r in records] == [
        (2000, {"user": "u1"}, 21.5)
    ]


def test_format_option_overrides_the_file_name(tmp_path: Path, capsys) -> None:
    """`--format csv` reads CSV from a file whose name does not say so."""
    rules = write_rules(tmp_path, PAIRS)
    path = tmp_path / "events.txt"
    path.write_text("type,ts,user\nA,0,u1\nB,1,u1\n")
    code, records, _ = cep(
        capsys, "run", rules, "--rule", "ab", "--format", "csv", "--input", str(path)
    )
    assert code == 0
    assert [r["key"] for r in records] == [{"user": "u1"}]


def test_rule_option_selects_the_rules_to_run(tmp_path: Path, capsys) -> None:
    """`--rule ab` runs only `ab`; the other rule reports nothing and is not summarised."""
    rules = write_rules(tmp_path, PAIRS)
    events = [ev("A", 0, user="u"), ev("X", 120_000, user="u")]
    _, all_records, _ = cep(capsys, "run", rules, "--input", write_lines(tmp_path, events))
    assert [r["rule"] for r in all_records] == ["silent"]
    code, records, err = cep(
        capsys, "run", rules, "--rule", "ab", "--input", write_lines(tmp_path, events)
    )
    assert code == 0
    assert records == []
    assert "  silent:" not in err and "  ab: 0 matches" in err  # (only `ab` summarised)


def test_type_option_gives_lines_without_type_a_default(tmp_path: Path, capsys) -> None:
    """Without `--type`, a line with no type is rejected `no type`; with it, it is an event."""
    rules = write_rules(tmp_path, PAIRS)
    lines = [{"ts": 0, "user": "u"}, ev("B", 1, user="u")]
    rej = tmp_path / "rej.jsonl"
    args = ["run", rules, "--rule", "ab", "--input", write_lines(tmp_path, lines)]
    code, records, _ = cep(capsys, *args, "--rejects", str(rej))
    assert (code, records) == (0, [])
    assert rejects(rej) == [{"line": 1, "reason": "no type", "raw": json.dumps(lines[0])}]
    code, records, _ = cep(capsys, *args, "--type", "A", "--rejects", str(rej))
    assert code == 0
    assert [r["rule"] for r in records] == ["ab"]
    assert rejects(rej) == []


def test_type_and_time_field_options_name_other_fields(tmp_path: Path, capsys) -> None:
    """`--type-field kind --time-field at` read the type and time from those fields."""
    rules = write_rules(tmp_path, PAIRS)
    lines = [{"kind": "A", "at": 0, "user": "u"}, {"kind": "B", "at": 5, "user": "u"}]
    code, records, _ = cep(
        capsys,
        "run",
        rules,
        "--rule",
        "ab",
        "--input",
        write_lines(tmp_path, lines),
        "--type-field",
        "kind",
        "--time-field",
        "at",
    )
    assert code == 0
    assert [(r["ts"], r["events"]["b"]) for r in records] == [(5, lines[1])]


def test_allowed_delay_matches_out_of_order_input(tmp_path: Path, capsys) -> None:
    """With `--allowed-delay 5s`, a B read before its earlier A still matches."""
    rules = write_rules(tmp_path, PAIRS)
    events = [ev("B", 2000, user="u"), ev("A", 1000, user="u")]
    path = write_lines(tmp_path, events)
    _, records, _ = cep(capsys, "run", rules, "--rule", "ab", "--input", path)
    assert records == []
    _, records, _ = cep(
        capsys, "run", rules, "--rule", "ab", "--input", path, "--allowed-delay", "5s"
    )
    assert [(r["ts"], r["events"]["a"]) for r in records] == [(2000, events[1])]


@pytest.mark.parametrize("engine", ["fast", "auto"])
def test_allowed_delay_on_the_fast_path(tmp_path: Path, capsys, engine: str) -> None:
    """`--engine fast --allowed-delay 5s` holds events back as the interpreter does: the
    out-of-order pair matches, an event older than the watermark is rejected as late,
    and the output, rejects and summary are the interpreter's."""
    rules = write_rules(tmp_path, PAIRS)
    events = [ev("B", 2000, user="u"), ev("A", 1000, user="u"), ev("B", 9000, user="v"),
              ev("A", 3000, user="v"), ev("B", 9500, user="v")]  # fmt: skip
    path = write_lines(tmp_path, events)
    found = []
    for which in ("interpreter", engine):
        rejected = tmp_path / f"{which}.rejects"
        code, records, err = cep(
            capsys, "run", rules, "--rule", "ab", "--input", path, "--allowed-delay", "5s",
            "--engine", which, "--rejects", str(rejected),
        )  # fmt: skip
        assert code == 0, err
        found.append((records, rejects(rejected), err))
    assert found[1] == found[0]
    records, late, _ = found[0]
    assert [(r["ts"], r["events"]["a"]) for r in records] == [(2000, events[1])]
    assert late == [{"line": 4, "reason": "late", "raw": json.dumps(events[3])}]


def test_flush_reports_absences_and_timeouts_at_the_end(tmp_path: Path, capsys) -> None:
    """Without `--flush` a trailing absence is an open run in the summary; with it, a match."""
    rules = write_rules(tmp_path, PAIRS)
    path = write_lines(tmp_path, [ev("A", 0, user="u")])
    code, records, err = cep(capsys, "run", rules, "--rule", "silent", "--input", path)
    assert (code, records) == (0, [])
    assert "1 run open at the end" in err
    code, records, err = cep(capsys, "run", rules, "--rule", "silent", "--input", path, "--flush")
    assert code == 0
    assert [(r["rule"], r["ts"]) for r in records] == [("silent", 60_000)]
    assert "0 runs open at the end" in err


def test_max_runs_per_key_drops_and_counts_runs(tmp_path: Path, capsys) -> None:
    """`--max-runs-per-key 2` keeps two runs; the summary counts the three it dropped."""
    rules = write_rules(
        tmp_path, "rule r { partition by user  pattern a = A -> b = B  within 1m  skip none }\n"
    )
    events = [ev("A", i, user="u") for i in range(5)] + [ev("B", 10, user="u")]
    code, records, err = cep(
        capsys, "run", rules, "--input", write_lines(tmp_path, events), "--max-runs-per-key", "2"
    )
    assert code == 0
    assert len(records) == 2
    assert "3 runs dropped by --max-runs-per-key" in err
    assert "r: 2 matches, 0 open, 3 runs dropped" in err


def test_quiet_leaves_out_the_summary(tmp_path: Path, capsys) -> None:
    """`--quiet` writes no summary on standard error."""
    rules = write_rules(tmp_path, PAIRS)
    path = write_lines(tmp_path, [ev("A", 0, user="u")])
    code, _, err = cep(capsys, "run", rules, "--rule", "ab", "--input", path, "--quiet")
    assert code == 0
    assert "read " not in err


# ------------------------------------------------------------------ rejects and the summary


def test_rejects_file_lists_each_bad_line_with_its_number_and_reason(
    tmp_path: Path, capsys
) -> None:
    """Bad JSON, a missing time, a wrong field type, no type and a late event each go to
    `--rejects` as `{"line", "reason", "raw"}`; the run goes on and still matches."""
    rules = write_rules(tmp_path, PAYMENTS)
    lines: list[Any] = [
        ev("Payment", 0, user="u1", amount=10),
        "not json",
        {"type": "Payment", "user": "u1", "amount": 3},
        ev("Payment", 5000, user="u1", amount="lots"),
        "",
        {"ts": 5000, "user": "u1", "amount": 3},
        ev("Payment", 30_000, user="u1", amount=12.5),
        ev("Payment", 20_000, user="u1", amount=99),
    ]
    path = write_lines(tmp_path, lines)
    raw = Path(path).read_text().splitlines()
    rej = tmp_path / "rejects.jsonl"
    code, records, _ = cep(capsys, "run", rules, "--input", path, "--rejects", str(rej))
    assert code == 0
    assert [r["ts"] for r in records] == [30_000]
    got = rejects(rej)
    assert [(r["line"], r["raw"]) for r in got] == [(n, raw[n - 1]) for n in (2, 3, 4, 6, 8)]
    reasons = [r["reason"] for r in got]
    assert reasons[0].startswith("bad json")
    assert reasons[1] == "missing time"
    assert reasons[2].startswith("invalid") and "amount" in reasons[2]
    assert reasons[3:] == ["no type", "late"]
    assert set(got[0]) == {"line", "reason", "raw"}


def test_summary_accounts_for_every_record(tmp_path: Path, capsys) -> None:
    """The summary: records read = events accepted + rejected, with rejects by reason."""
    rules = write_rules(tmp_path, PAYMENTS)
    lines: list[Any] = [
        ev("Payment", 0, user="u1", amount=10),
        "{oops",
        ev("Payment", 5000, user="u1", amount="x"),
        ev("Payment", 30_000, user="u1", amount=12.5),
        ev("Payment", 20_000, user="u1", amount=1),
    ]
    code, _, err = cep(capsys, "run", rules, "--input", write_lines(tmp_path, lines))
    assert code == 0
    found = re.search(r"read (\d+) records: (\d+) events accepted, (\d+) rejected \((.*)\)", err)
    assert found is not None
    read, matched, rejected = (int(found.group(i)) for i in (1, 2, 3))
    assert (read, matched, rejected) == (5, 2, 3)
    assert found.group(4) == "bad json: 1, invalid: 1, late: 1"
    assert "1 match, 0 timeouts, 0 runs open at the end" in err
    assert "rising: 1 match, 0 open" in err


def test_summary_counts_events_without_the_partition_key(tmp_path: Path, capsys) -> None:
    """Events lacking the partition key are not lost: the summary counts them per rule."""
    rules = write_rules(tmp_path, PAIRS)
    events = [ev("A", 0), ev("B", 1, user="u")]
    code, records, err = cep(
        capsys, "run", rules, "--rule", "ab", "--input", write_lines(tmp_path, events)
    )
    assert (code, records) == (0, [])
    assert "read 2 records: 2 events accepted, 0 rejected" in err
    assert "ab: 0 matches, 0 open, 1 event without the partition key" in err


def test_rejected_lines_do_not_move_the_watermark(tmp_path: Path, capsys) -> None:
    """An invalid line far in the future does not make the following events late."""
    rules = write_rules(tmp_path, PAYMENTS)
    lines = [
        ev("Payment", 1_000_000, user="u1", amount="x"),
        ev("Payment", 0, user="u1", amount=1),
        ev("Payment", 1000, user="u1", amount=2),
    ]
    rej = tmp_path / "rej.jsonl"
    code, records, _ = cep(
        capsys, "run", rules, "--input", write_lines(tmp_path, lines), "--rejects", str(rej)
    )
    assert code == 0
    assert [r["ts"] for r in records] == [1000]
    assert [r["line"] for r in rejects(rej)] == [1]


def test_an_int_for_a_float_field_is_accepted_and_kept(tmp_path: Path, capsys) -> None:
    """`amount: 10` is valid for `amount: float`; the output event keeps the int 10."""
    rules = write_rules(tmp_path, PAYMENTS)
    lines = [ev("Payment", 0, user="u", amount=1), ev("Payment", 1, user="u", amount=10)]
    rej = tmp_path / "rej.jsonl"
    code, records, _ = cep(
        capsys, "run", rules, "--input", write_lines(tmp_path, lines), "--rejects", str(rej)
    )
    assert code == 0
    assert rejects(rej) == []
    (record,) = records
    assert record["events"]["b"]["amount"] == 10
    assert isinstance(record["events"]["b"]["amount"], int)
    assert record["fields"]["total"] == 11


def test_warnings_go_to_stderr_and_do_not_change_the_exit_status(tmp_path: Path, capsys) -> None:
    """A rule without `within` runs, with its warning on standard error."""
    rules = write_rules(tmp_path, "rule r { pattern a = A -> b = B }\n")
    code, records, err = cep(
        capsys, "run", rules, "--input", write_lines(tmp_path, [ev("A", 0), ev("B", 1)])
    )
    assert code == 0
    assert len(records) == 1
    assert "warning" in err and "within" in err


# ------------------------------------------------------------------ exit codes


def test_a_rule_file_with_an_error_exits_1_and_runs_nothing(tmp_path: Path, capsys) -> None:
    """A type error in the rules: exit 1, the error on stderr with file:line:col, no output."""
    rules = write_rules(
        tmp_path, 'event P { n: int }\nrule r { pattern p = P[n == "x"]  within 1m }\n'
    )
    code, records, err = cep(
        capsys, "run", rules, "--input", write_lines(tmp_path, [ev("P", 0, n=1)])
    )
    assert code == 1
    assert records == []
    assert f"{rules}:2:" in err


def test_an_unreadable_input_exits_2(tmp_path: Path, capsys) -> None:
    """`--input` naming no file: exit 2 with a message."""
    rules = write_rules(tmp_path, PAIRS)
    code, records, err = cep(capsys, "run", rules, "--input", str(tmp_path / "missing.jsonl"))
    assert code == 2
    assert records == []
    assert "missing.jsonl" in err


def test_a_missing_rule_path_exits_2(tmp_path: Path, capsys) -> None:
    """A rule path that does not exist is bad usage."""
    code, _, err = cep(
        capsys, "run", str(tmp_path / "nope.cep"), "--input", write_lines(tmp_path, [])
    )
    assert code == 2
    assert "nope.cep" in err


def test_an_unknown_rule_exits_2(tmp_path: Path, capsys) -> None:
    """`--rule` naming no loaded rule: exit 2 and the name in the message."""
    rules = write_rules(tmp_path, PAIRS)
    path = write_lines(tmp_path, [ev("A", 0, user="u")])
    code, records, err = cep(capsys, "run", rules, "--input", path, "--rule", "nosuch")
    assert code == 2
    assert records == []
    assert "nosuch" in err


def test_a_folder_of_rule_files_runs_every_rule(tmp_path: Path, capsys) -> None:
    """A folder is searched for `*.cep`; rules of several files all see the feed."""
    folder = tmp_path / "rules"
    folder.mkdir()
    write_rules(folder, "rule one { pattern a = A  within 1m }\n", "one.cep")
    write_rules(folder, "rule two { pattern a = A  within 1m }\n", "two.cep")
    code, records, _ = cep(
        capsys, "run", str(folder), "--input", write_lines(tmp_path, [ev("A", 0)])
    )
    assert code == 0
    assert sorted(r["rule"] for r in records) == ["one", "two"]


# ------------------------------------------------------------------ streaming


def test_standard_input_is_streamed(tmp_path: Path) -> None:
    """With `--input -`, a match is written as soon as its event is read, before stdin ends."""
    rules = write_rules(tmp_path, PAIRS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cep.cli", "run", rules, "--rule", "ab", "--input", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for event in (ev("A", 0, user="u"), ev("B", 1, user="u")):
            proc.stdin.write((json.dumps(event) + "\n").encode())
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "no match line while standard input is still open"
        line = proc.stdout.readline()
        assert json.loads(line)["rule"] == "ab"
        assert proc.poll() is None  # still running: stdin is open
        rest, err = proc.communicate(timeout=60)  # closes stdin: end of input
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert rest == b""
    assert b"read 2 records" in err


# ------------------------------------------------------------------ cep explain


def test_explain_prints_terms_states_and_edges(tmp_path: Path, capsys) -> None:
    """`cep explain FILE --rule NAME` prints the rule's terms and its states with edges."""
    rules = write_rules(tmp_path, PAIRS)
    code = main(["explain", rules, "--rule", "ab"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("rule ab ")
    assert "partition by: user" in out
    assert "window: 60000 ms; skip: past last" in out
    assert "  a: a = A" in out and "  b: b = B" in out
    assert "take -> b" in out and "take -> $end" in out
    assert "ignore -> a" in out
    assert "$end (final)" in out


def test_explain_says_how_the_fast_path_tests_each_term(tmp_path: Path, capsys) -> None:
    """For a rule the fast path takes, `cep explain` says how each term is tested: a
    batch at a time, compiled, per run, or by the interpreter (and why)."""
    rules = write_rules(
        tmp_path,
        "event E { v: int, u: int, w: str, k: str }\n"
        "rule r { pattern a = E[v > 1] -> b = E[v * 2 > u] -> c = E[v > b.v]"
        "  -> d = E[w < k] within 1m }\n",
    )
    assert main(["explain", rules, "--rule", "r"]) == 0
    out = capsys.readouterr().out
    assert "term tests on the fast path:" in out
    assert "  a: per batch (NumPy)" in out
    assert "  b: type per batch (NumPy); condition compiled (numba)" in out
    assert "  c: type per batch (NumPy); condition per run, compiled" in out
    refused = "  d: by the interpreter, event by event (does not compile: the comparison `w < k`)"
    assert refused in out


def test_explain_an_unknown_rule_exits_2_with_a_hint(tmp_path: Path, capsys) -> None:
    """A misspelt rule name: exit 2, and the message suggests the close name."""
    rules = write_rules(tmp_path, PAIRS)
    code = main(["explain", rules, "--rule", "abb"])
    err = capsys.readouterr().err
    assert code == 2
    assert "abb" in err
    assert "did you mean `ab`?" in err


def test_explain_a_file_with_errors_exits_1(tmp_path: Path, capsys) -> None:
    """A rule file with an error cannot be explained: exit 1."""
    rules = write_rules(tmp_path, "rule r { pattern a = A[x > ]  within 1m }\n")
    assert main(["explain", rules, "--rule", "r"]) == 1
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("delay", ["soon", "5", "5min", "-5s", ""])
def test_a_bad_allowed_delay_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], delay: str
) -> None:
    """`cep run --allowed-delay soon` (or `5`, `5min`, `-5s`, empty) is bad usage: exit 2,
    nothing run."""
    rules = tmp_path / "rules.cep"
    rules.write_text("rule ab { partition by user  pattern a = A -> b = B  within 1m }\n")
    events = tmp_path / "in.jsonl"
    events.write_text(json.dumps({"type": "A", "ts": 0, "user": "u"}) + "\n")
    args = ["run", str(rules), "--input", str(events), f"--allowed-delay={delay}"]
    code = main(args)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "--allowed-delay" in captured.err


@pytest.mark.parametrize("engine", ["interpreter", "fast"])
def test_lone_surrogates_are_written_escaped(tmp_path: Path, capsys, engine: str) -> None:
    """A string holding a lone surrogate (read from an escape) has no UTF-8 form: reports
    write it as its escape, which reads back as the same string."""
    rules = write_rules(
        tmp_path,
        'event E { k: str }\nrule r { pattern a = E[k == "x"] within 1s tags "\\ud800" }\n',
    )
    source = write_lines(tmp_path, ['{"type": "E", "ts": 1, "k": "x", "s": "\\ud800"}'])
    output = tmp_path / "out.jsonl"
    code = main(
        ["run", rules, "--input", source, "--output", str(output), "--engine", engine, "--quiet"]
    )
    assert code == 0, capsys.readouterr().err
    written = output.read_text(encoding="utf-8")
    (report,) = [json.loads(line) for line in written.splitlines()]
    assert report["events"]["a"]["s"] == "\ud800" and report["tags"] == ["\ud800"]
    assert written.count('"\\ud800"') == 2


def test_a_reject_holding_a_lone_surrogate_is_written_escaped(tmp_path: Path) -> None:
    from cep.io.rejects import RejectsWriter
    from cep.io.sources import Reject

    path = tmp_path / "bad.jsonl"
    with RejectsWriter.open(str(path)) as writer:
        writer.write(Reject(3, "bad time", '{"s": "\ud800"}'))
    (reject,) = rejects(path)
    assert reject == {"line": 3, "reason": "bad time", "raw": '{"s": "\ud800"}'}


def test_a_first_fast_run_says_it_compiles(tmp_path: Path, capsys, monkeypatch) -> None:
    """On a terminal, `cep run --engine fast` says when numba has not yet cached the fast
    path's machine code (a first run compiles for half a minute); not with `--quiet`,
    nor once it is cached."""
    from cep.fast import cache as fast_cache

    rules = write_rules(tmp_path, PAIRS)
    path = write_lines(tmp_path, [ev("A", 1000, user="u"), ev("B", 2000, user="u")])
    args = ["run", rules, "--rule", "ab", "--input", path, "--engine", "fast"]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    for cached, quiet, said in [(False, False, True), (False, True, False), (True, False, False)]:
        monkeypatch.setattr(fast_cache, "kernel_cached", lambda cached=cached: cached)
        code, records, err = cep(capsys, *args, *(["--quiet"] if quiet else []))
        assert (code, len(records)) == (0, 1)
        assert ("compiling the fast path" in err) == said


def test_an_empty_numba_cache_holds_no_kernel(tmp_path: Path) -> None:
    """`kernel_cached` reads numba's cache as it is: an empty cache folder has no kernel."""
    code = "from cep.fast.cache import kernel_cached; print(kernel_cached())"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "empty")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "False", done.stderr
