"""Hints, not silence: a run whose input mostly went wrong in one way says what to do,
a rule path that holds events says to give it as --input, a terminal on standard
input is told it is being read."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from cep.cli import main

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules" / "payments.cep")
FEED = ROOT / "examples" / "payments.jsonl"


def _run(capsys, *args: str) -> tuple[int, str]:
    code = main(["run", RULES, "--output", "/dev/null", *args])
    return code, capsys.readouterr().err


def test_a_shuffled_feed_is_told_about_allowed_delay(tmp_path: Path, capsys) -> None:
    lines = FEED.read_text().splitlines()
    random.Random(1).shuffle(lines)
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("\n".join(lines) + "\n")
    code, err = _run(capsys, "--input", str(shuffled))
    assert code == 0
    (hint,) = [line for line in err.splitlines() if line.startswith("hint:")]
    assert "records rejected (late)" in hint and "--allowed-delay" in hint
    code, err = _run(capsys, "--input", str(shuffled), "--allowed-delay", "2h")
    assert "hint:" not in err


def test_records_without_a_type_are_told_about_type(tmp_path: Path, capsys) -> None:
    untyped = tmp_path / "untyped.jsonl"
    records = [json.loads(line) for line in FEED.read_text().splitlines()]
    untyped.write_text("".join(json.dumps({**r, "type": None}) + "\n" for r in records))
    _, err = _run(capsys, "--input", str(untyped))
    assert f"hint: {len(records)} of {len(records)} records rejected (no type)" in err
    assert "--type NAME" in err
    _, err = _run(capsys, "--input", str(untyped), "--type", "Payment")
    assert "hint:" not in err


def test_a_csv_without_a_header_is_told_to_add_one(tmp_path: Path, capsys) -> None:
    headless = tmp_path / "payments.csv"
    headless.write_text("Payment,1700000000000,u1,10.0,failed,US\n" * 5)
    _, err = _run(capsys, "--input", str(headless))
    assert "a CSV file's first line must name the fields" in err


def test_compressed_input_read_as_text_is_told_so(tmp_path: Path, capsys) -> None:
    import gzip

    packed = tmp_path / "payments.data"
    packed.write_bytes(gzip.compress(FEED.read_bytes()))
    _, err = _run(capsys, "--input", str(packed))
    assert "(not UTF-8): the input is not UTF-8 text: a compressed file" in err


def test_a_small_share_of_bad_records_gives_no_hint(capsys) -> None:
    _, err = _run(capsys, "--input", str(FEED))
    assert "hint:" not in err


@pytest.mark.parametrize("name", ["feed.jsonl", "events.txt"])
def test_events_given_as_rules_are_told_to_use_input(tmp_path: Path, capsys, name) -> None:
    data = tmp_path / name
    data.write_text(FEED.read_text()[:2000])
    code = main(["run", RULES, str(data)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"hint: {data} looks like events, not rules: give it as --input {data}" in err


CART = """\
event AddToCart { user: str }
event Checkout { user: str }
rule abandoned { partition by user  pattern a = AddToCart -> not Checkout  within 1m }
rule bought { partition by user  pattern a = AddToCart -> b = Checkout  within 1m }
"""


def test_the_summary_names_types_a_rule_waits_for_that_never_came(tmp_path: Path, capsys) -> None:
    rules = tmp_path / "cart.cep"
    rules.write_text(CART)
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"type":"AddToCart","ts":1000,"user":"u"}\n'
                    '{"type":"AddToCart","ts":100000,"user":"u"}\n')  # fmt: skip
    code = main(["run", str(rules), "--input", str(feed), "--output", "/dev/null"])
    err = capsys.readouterr().err.splitlines()
    assert code == 0
    assert err == [
        "read 2 records: 2 events accepted, 0 rejected",
        "1 match, 0 timeouts, 2 runs open at the end, 0 runs dropped by --max-runs-per-key",
        "  abandoned: 1 match, 1 open",
        "  bought: 0 matches, 1 open",
        "no Checkout events were read; rule bought waits for them",  # (not `abandoned`)
    ]


def test_a_misspelt_type_stops_the_run_before_it_starts(tmp_path: Path, capsys) -> None:
    rules = tmp_path / "cart.cep"
    rules.write_text(CART.replace("b = Checkout", "b = Chekout"))
    code = main(["run", str(rules), "--input", str(FEED)])
    err = capsys.readouterr().err
    assert code == 1
    assert "error: no event type `Chekout` is declared, but `Checkout` is" in err
    assert "help: did you mean `Checkout`?" in err
