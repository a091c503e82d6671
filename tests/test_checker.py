"""The checker: each error and lint, with its exact message and position."""

from __future__ import annotations

import textwrap

import pytest

from cep.lang.checker import check_sources

SCHEMAS = """\
event Payment { user: str, amount: float, status: str, country: str? }
event Login { user: str, ok: bool, country: str }
const WINDOW = 1m
"""


def diagnostics(body: str, *, schemas: bool = True) -> list[tuple[str, int, int, str]]:
    """(severity, line, column, message) of each diagnostic; body lines start at line 4."""
    text = (SCHEMAS if schemas else "") + textwrap.dedent(body)
    checked = check_sources({"t.cep": text})
    return [(d.severity, d.span.line, d.span.column, d.message) for d in checked.diagnostics]


def only(body: str, **kw: bool) -> tuple[str, int, int, str]:
    found = diagnostics(body, **kw)
    assert len(found) == 1, found
    return found[0]


def notes_of(body: str) -> list[str]:
    checked = check_sources({"t.cep": SCHEMAS + textwrap.dedent(body)})
    return [note for d in checked.diagnostics for note in d.notes]


def test_a_clean_rule_has_no_diagnostics():
    assert (
        diagnostics("""\
        rule three_failed "three failed payments" {
          partition by user
          pattern f = Payment[status == "failed"]{3}
          within WINDOW
          emit user = f[0].user, first_at = f[0].ts, total = sum(f.amount)
          severity high
        }
        """)
        == []
    )


# ---------------------------------------------------------------------------- names


def test_unknown_field_in_condition_names_the_closest_field():
    assert only("""\
        rule r { pattern a = Payment[amout > 3] within 1m }
        """) == ("error", 4, 30, "`Payment` has no field `amout`")
    assert "help: did you mean `amount`?" in notes_of(
        "rule r { pattern a = Payment[amout > 3] within 1m }"
    )


def test_unknown_field_of_a_variable():
    assert only("""\
        rule r { pattern a = Payment -> b = Login[user == a.usr] within 1m }
        """) == ("error", 4, 51, "`Payment` has no field `usr`")


def test_variable_used_before_it_is_bound():
    assert only("""\
        rule r { pattern a = Payment[b.ok] -> b = Login within 1m }
        """) == ("error", 4, 30, "variable `b` is used before it is bound")


def test_negated_variable_never_binds():
    assert only("""\
        rule r { pattern a = Payment -> not n = Login -> c = Payment[n.ok] within 1m }
        """) == ("error", 4, 62, "`n` is bound under `not`, so it never holds an event")


def test_unknown_name_suggests_a_constant():
    assert (
        only("""\
        rule r { pattern a = Payment within WINDW }
        """)[3]
        == "`within` takes a duration such as `1m` or a constant naming one"
    )
    assert "help: did you mean `WINDOW`?" in notes_of("rule r { pattern a = Payment within WINDW }")


def test_unknown_name_in_emit():
    assert only("""\
        rule r { pattern a = Payment within 1m emit x = b.user, y = a.user }
        """) == ("error", 4, 49, "unknown name `b`")


def test_this_outside_a_condition():
    assert only("""\
        rule r { pattern a = Payment within 1m where this.user == "x" }
        """)[3].startswith("`this` means the candidate event")


def test_own_single_variable_inside_its_condition():
    assert only("""\
        rule r { pattern a = Payment[a.amount > 1] within 1m }
        """)[3].startswith("`a` is this term's own variable")


def test_own_repeated_variable_is_the_events_held_so_far():
    assert (
        diagnostics("""\
        rule r {
          pattern b = Payment[count(b) == 0 or amount > last(b).amount]+
          within 1m
        }
        """)
        == []
    )


def test_unknown_function_suggests_the_closest():
    assert only("""\
        rule r { pattern f = Payment+ within 1m emit n = cout(f) }
        """) == ("error", 4, 50, "unknown function `cout`")


def test_function_arity():
    assert (
        only("""\
        rule r { pattern f = Payment+ within 1m emit n = lower(f[0].user, "x") }
        """)[3]
        == "`lower` takes 1 argument, not 2"
    )


# ---------------------------------------------------------------------------- types


def test_comparing_text_with_a_number():
    assert only("""\
        rule r { pattern a = Payment[user > 3] within 1m }
        """) == ("error", 4, 30, "cannot compare a str with an int")


def test_comparing_a_time_with_a_duration_suggests_subtraction():
    assert (
        only("""\
        rule r { pattern a = Payment -> b = Payment[ts < 5m] within 1m }
        """)[3]
        == "cannot compare a time with a duration"
    )
    assert "help: subtract two times to get a duration: `b.ts - a.ts < 5m`" in notes_of(
        "rule r { pattern a = Payment -> b = Payment[ts < 5m] within 1m }"
    )


def test_a_condition_must_be_boolean():
    assert only("""\
        rule r { pattern a = Payment[amount + 1] within 1m }
        """) == ("error", 4, 30, "a term's condition must be true or false, but this is a float")


def test_invalid_regular_expression_is_reported_at_load_time():
    assert only("""\
        rule r { pattern a = Payment[user =~ "(a"] within 1m }
        """)[3].startswith("invalid regular expression")


def test_aggregate_over_a_single_variable():
    assert only("""\
        rule r { pattern a = Payment within 1m emit n = count(a) }
        """) == (
        "error",
        4,
        49,
        "`count` aggregates a repeated variable, but `a` binds a single event",
    )


def test_indexing_a_single_variable():
    assert only("""\
        rule r { pattern a = Payment within 1m emit u = a[0].user }
        """) == ("error", 4, 49, "`a` binds a single event, so it cannot be indexed")


def test_optional_term_binds_a_single_event():
    assert (
        only("""\
        rule r { pattern a = Payment -> b = Login? -> c = Payment within 1m
                 emit n = count(b), c = c.user, u = a.user }
        """)[3]
        == "`count` aggregates a repeated variable, but `b` binds a single event"
    )


def test_projection_and_aggregates_over_repeated_variables():
    assert (
        diagnostics("""\
        rule r {
          pattern f = Payment{2,5} -> (Login -> h = Payment)+
          within 1m
          where sum(f.amount) > 10 and count(h) >= 1 and avg(f.amount) < max(f.amount)
          emit first = first(f).user, last_country = last(h).country, n = len(f)
        }
        """)
        == []
    )


# ---------------------------------------------------------------------------- structure


def test_quantifier_on_a_negation():
    assert only("""\
        rule r { pattern a = Payment -> (not Login){2} -> c = Payment within 1m
                 emit x = a.user, y = c.user }
        """) == ("error", 4, 33, "a repetition cannot apply to `not`")


def test_skip_to_an_unknown_variable():
    assert only("""\
        rule r { pattern a = Payment -> b = Login within 1m skip to first c }
        """) == ("error", 4, 53, "`skip to first c` names an unknown variable")


def test_negation_at_the_end_needs_within():
    found = diagnostics("""\
        rule r { pattern a = Payment -> not Login }
        """)
    assert ("error", 4, 33, "a pattern that ends with `-> not ...` needs `within`") in found


def test_negation_at_the_end_with_within_is_fine():
    assert (
        diagnostics("""\
        rule r { pattern a = Payment -> not Login[user == a.user] within 1h }
        """)
        == []
    )


def test_pattern_starting_with_not():
    assert only("""\
        rule r { pattern not Login -> a = Payment within 1m }
        """) == ("error", 4, 18, "a pattern cannot start with `not`")


def test_any_into_not():
    assert only("""\
        rule r { pattern a = Payment ->> not Login within 1m }
        """)[3].startswith("`->>` cannot lead into `not`")


def test_pattern_that_can_match_nothing():
    assert only("""\
        rule r { pattern a = Payment? within 1m }
        """) == ("error", 4, 18, "this pattern can match without any event")


def test_duplicate_rule_names():
    found = diagnostics("""\
        rule r { pattern a = Payment within 1m }
        rule r { pattern a = Login within 1m }
        """)
    assert found == [("error", 5, 6, "rule `r` is declared twice")]


def test_duplicate_variable():
    assert only("""\
        rule r { pattern a = Payment -> a = Login within 1m }
        """) == ("error", 4, 33, "variable `a` is bound twice in one pattern")


def test_duplicate_clause():
    assert only("""\
        rule r { pattern a = Payment within 1m within 2m }
        """) == ("error", 4, 40, "rule `r` has more than one `within` clause")


def test_within_must_be_positive_duration():
    assert only("""\
        rule r { pattern a = Payment within 5 }
        """) == ("error", 4, 37, "`within` takes a duration such as `1m`, not an int")


def test_misspelt_partition_field():
    assert only("""\
        rule r { partition by usr pattern a = Payment -> b = Login within 1m }
        """) == ("error", 4, 23, "partition field `usr` is not a field of `Payment`")


def test_schemas_are_open_undeclared_fields_are_usable():
    assert (
        diagnostics("""\
        rule r {
          partition by merchant
          pattern a = Payment[risk_score > 0.5] -> b = Login[device != a.device_id]
          within 1m
        }
        """)
        == []
    )


def test_unknown_severity():
    assert only("""\
        rule r { pattern a = Payment within 1m severity hgh }
        """) == ("error", 4, 49, "unknown severity `hgh`")


def test_missing_pattern():
    assert only("""\
        rule r { within 1m }
        """) == ("error", 4, 6, "rule `r` has no `pattern` clause")


# ---------------------------------------------------------------------------- lints


def test_lint_no_within():
    assert only("""\
        rule r { pattern a = Payment -> b = Login }
        """) == ("warning", 4, 6, "rule `r` has no `within`: its partial matches are kept forever")


def test_lint_any_without_window():
    found = diagnostics("""\
        rule r { pattern a = Payment ->> b = Login }
        """)
    assert (
        "warning",
        4,
        6,
        "`->>` without `within` keeps every combination of events forever",
    ) in found


def test_lint_always_false_contradicting_equalities():
    assert only("""\
        rule r { pattern a = Payment[status == "a" and status == "b"] within 1m }
        """) == (
        "warning",
        4,
        30,
        "this condition is always false (one value cannot equal two different values)",
    )


def test_lint_always_false_empty_range():
    assert only("""\
        rule r { pattern a = Payment[amount > 10 and amount < 5] within 1m }
        """)[3].startswith("this condition is always false")


def test_lint_always_false_constant():
    assert (
        only("""\
        rule r { pattern a = Payment[1 > 2] within 1m }
        """)[3]
        == "this condition is always false (it does not depend on any event)"
    )


def test_satisfiable_conditions_are_not_flagged():
    assert (
        diagnostics("""\
        rule r { pattern a = Payment[amount > 5 and amount < 10 and status != "ok"] within 1m }
        """)
        == []
    )


def test_lint_unused_variable_only_with_explicit_emit():
    assert only("""\
        rule r { pattern a = Payment -> b = Login within 1m emit u = a.user }
        """) == ("warning", 4, 33, "variable `b` is never used")
    assert (
        diagnostics("""\
        rule s { pattern a = Payment -> b = Login within 1m }
        """)
        == []
    )


def test_a_misspelt_event_type_is_an_error():
    """A pattern's type a letter or two away from a declared schema would never match."""
    assert only("""\
        rule r { pattern a = Paymnt within 1m }
        """) == (
        "error",
        4,
        18,
        "no event type `Paymnt` is declared, but `Payment` is: this term would never match",
    )
    assert notes_of("rule r { pattern a = Paymetn within 1m }") == ["help: did you mean `Payment`?"]


def test_an_undeclared_event_type_far_from_every_schema_is_a_warning():
    """`Signout` is not `Logout` misspelt: no schema anywhere is only a warning."""
    assert diagnostics("""\
        event Logout { user: str }
        rule r { pattern a = Signout[user == "u"] -> b = Logout within 1m }
        """) == [
        (
            "warning",
            5,
            18,
            "no schema is declared for event type `Signout` in any loaded file; "
            "its events' fields are typed from the data, unchecked",
        )
    ]


def test_edit_distance_counts_swaps_as_one():
    from cep.lang.diagnostics import edit_distance, misspelling_of

    assert edit_distance("AddToCrat", "AddToCart") == 1
    assert edit_distance("Login", "Logout") == 3
    assert misspelling_of("AddToCrat", ["AddToCart", "Checkout"]) == "AddToCart"
    assert misspelling_of("Order", ["Orders"]) == "Orders"
    assert misspelling_of("Login", ["Logout"]) is None
    assert misspelling_of("Orderr", ["Order", "Orders"]) == "Order"  # (the nearest first)
    assert misspelling_of("F", ["E"]) is None  # (too short to tell)


def test_event_type_without_schema_is_dynamic():
    """No schema: fields typed from the data, any field allowed; one warning per term."""
    found = diagnostics("""\
        rule r { pattern a = Heartbeat[anything > 3] -> b = Heartbeat[f == a.other] within 1m }
        """)
    assert [(severity, message.split(";")[0]) for severity, _, _, message in found] == [
        ("warning", "no schema is declared for event type `Heartbeat` in any loaded file")
    ] * 2


# ---------------------------------------------------------------------------- schemas and files


def test_schema_extends_unknown_schema():
    assert only("event A extends Paymnt { x: int }\n", schemas=False)[3] == (
        "`A` extends unknown schema `Paymnt`"
    )


def test_schema_extends_inherits_fields():
    assert (
        diagnostics(
            """\
        event Base { order_id: str }
        event Shipped extends Base { carrier: str }
        rule r { pattern s = Shipped[order_id == "x" and carrier == "y"] within 1m }
        """,
            schemas=False,
        )
        == []
    )


def test_extends_cycle():
    found = diagnostics(
        "event A extends B { x: int }\nevent B extends A { y: int }\n", schemas=False
    )
    assert any("cycle" in m for *_, m in found)


def test_unknown_field_type():
    assert only("event A { x: integer }\n", schemas=False) == (
        "error",
        1,
        14,
        "unknown type `integer`",
    )


def test_constant_must_be_literal():
    assert only("const X = a.b\n", schemas=False)[3].startswith("constant `X` must be a literal")


def test_import_makes_schemas_and_constants_visible(tmp_path):
    (tmp_path / "common.cep").write_text("event Ping { host: str }\nconst W = 30s\n")
    (tmp_path / "main.cep").write_text(
        'import "common.cep"\nrule r { pattern p = Ping[host == "a"] within W }\n'
    )
    from cep.lang.checker import check_paths

    checked = check_paths([str(tmp_path / "main.cep")])
    assert checked.diagnostics == []
    assert "r" in checked.rules


def test_import_cycle_is_reported(tmp_path):
    (tmp_path / "a.cep").write_text('import "b.cep"\n')
    (tmp_path / "b.cep").write_text('import "a.cep"\n')
    from cep.lang.checker import check_paths

    checked = check_paths([str(tmp_path / "a.cep")])
    messages = [d.message for d in checked.diagnostics]
    assert len(messages) == 1 and messages[0].startswith("import cycle: ")


def test_missing_import(tmp_path):
    (tmp_path / "a.cep").write_text('import "nope.cep"\n')
    from cep.lang.checker import check_paths

    checked = check_paths([str(tmp_path / "a.cep")])
    (diagnostic,) = checked.diagnostics
    assert diagnostic.message.startswith('cannot import "nope.cep": no such file')
    assert (diagnostic.span.line, diagnostic.span.column) == (1, 1)


# ---------------------------------------------------------------------------- tests


RULE = """\
rule three {
  partition by user
  pattern f = Payment[status == "failed"]{3}
  within WINDOW
  emit user = f[0].user, total = sum(f.amount)
}
"""


def test_test_block_naming_an_unknown_rule():
    assert only(
        RULE
        + 'test thre "x" { given Login { ts: 0s, user: "u", ok: true, country: "US" } '
        + "expect no thre }\n"
    )[3] in ("test names unknown rule `thre`",)


def test_test_event_needs_ts_and_required_fields():
    found = diagnostics(RULE + 'test three { given Payment { user: "u" } expect no three }\n')
    messages = [m for *_, m in found]
    assert "this `Payment` event has no `ts`" in messages
    assert "this `Payment` event lacks required fields `amount`, `status`" in messages


def test_test_event_field_of_wrong_type():
    found = diagnostics(
        RULE + 'test three { given Payment { ts: 0s, user: "u", amount: "x", status: "ok" } '
        "expect no three }\n"
    )
    assert [m for *_, m in found] == ["field `amount` of `Payment` is a float, not a str"]


def test_expect_names_an_unknown_output_field():
    found = diagnostics(
        RULE + 'test three { given Payment { ts: 0s, user: "u", amount: 1, status: "ok" } '
        "expect three { totl: 3 } }\n"
    )
    assert [m for *_, m in found] == ["rule `three` reports no field `totl`"]


def test_expect_timeout_needs_on_timeout_emit():
    found = diagnostics(
        RULE + 'test three { given Payment { ts: 0s, user: "u", amount: 1, status: "ok" } '
        "expect timeout three }\n"
    )
    assert [m for *_, m in found] == [
        "rule `three` has no `on timeout emit`, so it never reports a timeout"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "rule r { pattern a = Payment -> b = Login[user == a.user and country != a.country] "
        "within 1h }",
        "rule r { pattern a = Payment => not Login -> c = Payment within 1m }",
        "rule r { pattern all(a = Payment, b = Login) within 1m where a.user == b.user }",
        "rule r { pattern a = Payment -> (b = Login | c = Payment) within 1m }",
        'rule r { pattern a = any[type == "Payment"] -> b = any within 1m }',
        'rule r { pattern a = Payment[user in ["a", "b"] and user not in ["c"]] within 1m }',
        "rule r { pattern a = Payment -> b = Payment[ts - a.ts < 30s] within 1m }",
        "rule r { pattern f = Payment[amount < 5]{3,} consecutive -> g = Payment+? within 1m "
        "skip to last f }",
    ],
)
def test_valid_rules_have_no_diagnostics(text: str):
    assert diagnostics(text) == []


def test_comparison_with_null_is_flagged():
    assert only("""\
        rule r { pattern a = Payment[country == null] within 1m }
        """) == ("warning", 4, 30, "a comparison with `null` is always false, `!=` included")


def test_same_constant_in_two_imported_files(tmp_path):
    (tmp_path / "a.cep").write_text("const W = 1m\n")
    (tmp_path / "b.cep").write_text("const W = 2m\n")
    (tmp_path / "main.cep").write_text('import "a.cep"\nimport "b.cep"\n')
    from cep.lang.checker import check_paths

    checked = check_paths([str(tmp_path / "main.cep")])
    (diagnostic,) = checked.diagnostics
    assert diagnostic.message.startswith("constant `W` is declared in two files that")


@pytest.mark.parametrize("optional", ["c = Login?", "c = Login*", "c = Login{0,2}"])
def test_an_optional_term_cannot_follow_a_greedy_repetition(optional: str) -> None:
    found = only(f"""\
    rule r {{
      partition by user
      pattern a = Payment -> b = Payment+ -> {optional}
      within WINDOW
    }}
    """)
    column = len("  pattern a = Payment -> b = Payment+ -> ") + 1
    assert found[:3] == ("error", 6, column)
    assert found[3].startswith("an optional term cannot follow a greedy repetition")


def test_an_optional_term_may_follow_a_reluctant_repetition() -> None:
    assert (
        diagnostics("""\
        rule r {
          partition by user
          pattern a = Payment -> b = Payment+? -> c = Login? -> d = Login
          within WINDOW
        }
        """)
        == []
    )
