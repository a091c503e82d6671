"""Lark's expected-terminal sets turned into words a rule author understands."""

from __future__ import annotations

from collections.abc import Iterable

from lark import Lark

#: terminals whose pattern is a regular expression, described in words
_NAMED = {
    "NAME": "a name",
    "STRING": 'a string such as "text"',
    "INT": "a whole number",
    "FLOAT": "a number",
    "DURATION": "a duration such as `30s` or `5m`",
    "SEQ_OP": "`->`, `=>` or `->>`",
    "COMPARE": "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`)",
    "ADD_OP": "`+` or `-`",
    "MUL_OP": "`*`, `/` or `%`",
    "$END": "the end of the file",
}

#: a few groups of terminals that stand for one thing: (summary, core, extra), each
#: reported by its summary when every one of its `core` terminals is expected
_GROUPS: tuple[tuple[str, str, str], ...] = (
    (
        "an expression",
        "NAME STRING INT FLOAT DURATION GROUP_OPEN BRACKET_OPEN",
        "NEG KW_NOT KW_TRUE KW_FALSE KW_NULL KW_THIS",
    ),
    ("an operator", "COMPARE ADD_OP MUL_OP AND OR", "IN KW_NOT __ANON_REGEX DOT BRACKET_OPEN"),
    (
        "a rule clause (`partition by`, `pattern`, `where`, `within`, `skip`, `emit`, "
        "`on timeout emit`, `severity`, `tags`)",
        "KW_PARTITION KW_PATTERN KW_WHERE KW_WITHIN KW_SKIP KW_EMIT KW_ON",
        "KW_SEVERITY KW_TAGS",
    ),
    (
        "a declaration (`rule`, `event`, `const`, `import`, `test`)",
        "KW_RULE KW_EVENT KW_CONST KW_IMPORT KW_TEST",
        "",
    ),
    (
        "a test line (`given`, `expect`, `allowed delay`, `flush`)",
        "KW_GIVEN KW_EXPECT",
        "KW_ALLOWED KW_FLUSH",
    ),
    ("a repetition (`+`, `*`, `?`, `{n}`, `{n,m}`)", "PLUS STAR QMARK BRACE_OPEN", ""),
)


def _word(name: str, parser: Lark) -> str:
    if name in _NAMED:
        return _NAMED[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"`{pattern.value}`" if pattern.type == "str" else name.lower()


def _regex_op_name(parser: Lark) -> str | None:
    for terminal in parser.terminals:
        if terminal.pattern.type == "str" and terminal.pattern.value == "=~":
            return terminal.name
    return None


def describe_expected(expected: Iterable[str], parser: Lark) -> str:
    """`{'NAME', 'LSQB', ...}` -> "an expression, or `]`"."""
    remaining = set(expected)
    regex_op = _regex_op_name(parser)
    phrases: list[str] = []
    for summary, core_names, extra in _GROUPS:
        core = set(core_names.split())
        extra_names = {regex_op if n == "__ANON_REGEX" else n for n in extra.split()}
        if core <= remaining:
            phrases.append(summary)
            remaining -= core | extra_names
    words = sorted({_word(n, parser) for n in remaining}, key=lambda w: (w.startswith("`"), w))
    phrases.extend(words)
    if not phrases:
        return "something else"
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]
