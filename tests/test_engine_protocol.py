"""One engine interface (`cep.engine.RuleEngine`): the interpreter, the fast path and the
mixed engine, fed the same stream through the interface, report the same and count the
same; `open_engine` picks the engine each rule can run on."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pytest

from cep.api import load_rules
from cep.engine import EngineOptions, InterpreterEngine, RuleEngine, open_engine
from cep.engine.fast import FastPathEngine
from cep.engine.mixed import MixedEngine
from cep.io.columnar import read_jsonl_batches
from cep.io.sources import SourceEvent
from cep.io.validation import Validator
from cep.lang.checker import check_sources
from cep.runtime.event import Event

COMPILED = """
event E { k: str, v: int, s: str, w: float? }
rule seq { partition by k  pattern a = E[v == 1] -> b = E[v >= 2]{2,} within 4ms }
rule strict { partition by k  pattern a = E[v == 1] => b = E[v == 2] -> not E[v == 3]
              within 3ms  on timeout emit k = a.k }
rule loose { pattern a = E[w > 1.5] ->> b = E[v in [2, 3]] within 5ms skip none }
rule climb { partition by k
             pattern a = E[v == 1] -> b = E[count(b) == 0 or v >= last(b).v]{2,}
             where sum(b.v) > 3  within 5ms }
"""
#: a rule the fast path refuses (a regular expression from an earlier event)
REFUSED = """
rule echo { partition by k  pattern a = E[v == 1] -> b = E[s =~ a.s]  within 3ms
            on timeout emit k = a.k }
"""


def _lines(seed: int, n: int = 400) -> list[str]:
    """Random events of a few keys, times mostly rising, some back by up to 6 ms (late,
    or within an allowed delay), and a few bad lines."""
    rng = random.Random(seed)
    out, ts = [], 0
    for _ in range(n):
        ts += rng.randint(0, 2)
        if rng.random() < 0.03:
            out.append(rng.choice(["{bad json", '{"type": "E"}']))
            continue
        at = max(ts - rng.randint(1, 6), 0) if rng.random() < 0.2 else ts
        record: dict[str, Any] = {"type": "E", "ts": at, "k": rng.choice("ab")}
        record["v"] = rng.randint(1, 3)
        record["s"] = rng.choice(["a", "b", "a.*"])
        if rng.random() < 0.5:
            record["w"] = rng.choice([1, 2.5, 1.0])
        out.append(json.dumps(record))
    return out


def _rules(text: str) -> tuple[list, Any]:
    checked = check_sources({"r.cep": text})
    return load_rules(checked), checked.schemas


def _through_batches(engine: RuleEngine, lines: list[str], schemas: Any, flush: bool) -> tuple:
    """Reports (decoded JSON, in order), stats and late lines of a feed read as batches
    of 37 lines (matches and JSON lines alike)."""
    data = "".join(line + "\n" for line in lines).encode()
    batches = read_jsonl_batches(
        io.BytesIO(data), fields=engine.fields(), validator=Validator(schemas), batch_size=37
    )
    reports = []
    for batch in batches:
        engine.prepare(batch)
        if engine.options.json_lines:
            reports.extend(engine.feed_lines(batch).decode().splitlines())
        else:
            reports.extend(report.to_json() for report in engine.feed(batch))
    if engine.options.json_lines:
        reports.extend(engine.finish_lines(flush=flush).decode().splitlines())
    else:
        reports.extend(report.to_json() for report in engine.finish(flush=flush))
    return [json.loads(line) for line in reports], engine.stats()


def _through_events(engine: RuleEngine, lines: list[str], flush: bool, chunk: int) -> tuple:
    """The same feed as events in memory, `chunk` at a time, with an `advance_to`."""
    events = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "ts" in record:
            data = {k: v for k, v in record.items() if k not in ("type", "ts")}
            events.append(SourceEvent("E", record["ts"], data, raw=record))
    reports = []
    half = len(events) // 2
    for start in range(0, len(events), chunk):
        reports.extend(engine.feed_events(events[start : start + chunk]))
        if start <= half < start + chunk:
            reports.extend(engine.advance_to(events[half].ts - 3))
    reports.extend(engine.finish(flush=flush))
    return [json.loads(report.to_json()) for report in reports], engine.stats()


def _late_lines(make: Any, lines: list[str], schemas: Any, flush: bool) -> tuple:
    lates: list[Event] = []
    engine = make(EngineOptions(allowed_delay_ms=2, on_late=lates.append))
    outcome = _through_batches(engine, lines, schemas, flush)
    return outcome, [(event.line, event.ts) for event in lates]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("delay", [0, 2])
@pytest.mark.parametrize("json_lines", [False, True])
def test_every_engine_reports_and_counts_as_the_interpreter(
    seed: int, delay: int, json_lines: bool
) -> None:
    """The same random stream fed as batches through the interface: the fast path (its
    rules) and the mixed engine (with a rule it refuses) give the interpreter's reports,
    in its order, and its counters."""
    lines = _lines(seed)
    options = EngineOptions(allowed_delay_ms=delay, json_lines=json_lines)
    for text, other in ((COMPILED, FastPathEngine), (COMPILED + REFUSED, MixedEngine)):
        rules, schemas = _rules(text)
        interpreted = _through_batches(InterpreterEngine(rules, schemas, options), lines,
                                       schemas, flush=seed % 2 == 0)  # fmt: skip
        assert interpreted[0], "the stream should give reports"
        assert _through_batches(other(rules, schemas, options), lines, schemas,
                                flush=seed % 2 == 0) == interpreted  # fmt: skip


@pytest.mark.parametrize("delay", [0, 2])
@pytest.mark.parametrize("chunk", [1, 50])
def test_every_engine_takes_events_in_memory_as_the_interpreter(delay: int, chunk: int) -> None:
    """Events fed in memory (`feed_events`, `advance_to`, `finish`): the same reports
    and counters from every engine, whatever the chunk size."""
    lines = _lines(7)
    options = EngineOptions(allowed_delay_ms=delay)
    for text, other in ((COMPILED, FastPathEngine), (COMPILED + REFUSED, MixedEngine)):
        rules, schemas = _rules(text)
        interpreted = _through_events(InterpreterEngine(rules, schemas, options), lines,
                                      flush=True, chunk=chunk)  # fmt: skip
        assert interpreted[0]
        assert _through_events(other(rules, schemas, options), lines, flush=True,
                               chunk=chunk) == interpreted  # fmt: skip


def test_late_events_go_to_the_handler_alike() -> None:
    """Every engine hands the same late events to `on_late`, with their lines."""
    lines = _lines(4)
    rules, schemas = _rules(COMPILED + REFUSED)
    interpreted = _late_lines(lambda o: InterpreterEngine(rules, schemas, o), lines, schemas, True)
    assert interpreted[1], "the stream should have late events"
    assert _late_lines(lambda o: MixedEngine(rules, schemas, o), lines, schemas, True) == (
        interpreted
    )


def test_each_engine_is_a_rule_engine() -> None:
    """All three implement the interface (checked at run time too)."""
    rules, schemas = _rules(COMPILED + REFUSED)
    compiled = [rule for rule in rules if rule.name != "echo"]
    for engine in (
        InterpreterEngine(rules, schemas),
        FastPathEngine(compiled, schemas),
        MixedEngine(rules, schemas),
    ):
        assert isinstance(engine, RuleEngine)


def test_open_engine_runs_each_rule_where_it_can() -> None:
    """`auto` is the fast path when every rule compiles, the mixed engine when some do
    not, the interpreter when none does; `fast` refuses a rule it cannot compile."""
    rules, schemas = _rules(COMPILED + REFUSED)
    compiled = [rule for rule in rules if rule.name != "echo"]
    refused = [rule for rule in rules if rule.name == "echo"]
    assert type(open_engine(compiled, schemas, engine="auto")) is FastPathEngine
    assert type(open_engine(rules, schemas, engine="auto")) is MixedEngine
    assert type(open_engine(refused, schemas, engine="auto")) is InterpreterEngine
    assert type(open_engine(rules, schemas, engine="interpreter")) is InterpreterEngine
    with pytest.raises(ValueError, match="rule echo cannot run compiled"):
        open_engine(rules, schemas, engine="fast")
    with pytest.raises(ValueError, match="engine must be one of"):
        open_engine(rules, schemas, engine="numba")  # type: ignore[arg-type]


def test_an_engine_is_fed_batches_or_events_not_both() -> None:
    """Feeding events to a fast path fed batches (or the other way) is refused."""
    rules, schemas = _rules(COMPILED)
    engine = FastPathEngine(rules, schemas)
    engine.push(SourceEvent("E", 0, {"k": "a", "v": 1, "s": "a"}))
    (batch,) = read_jsonl_batches(
        io.BytesIO(b'{"type": "E", "ts": 1, "k": "a", "v": 1, "s": "a"}\n')
    )
    with pytest.raises(TypeError, match="fed events"):
        engine.feed(batch)
