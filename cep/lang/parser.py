"""Rule files to syntax trees: what a parse gives (`ParseResult`) and the parse itself.

The parser (Lark, LALR, with the tree builder and error recovery) is
`cep.lang.larkparser`, imported on the first parse: a run whose rule files are in the
parse cache (`cep.lang.parse_cache`) starts without importing Lark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cep.lang import ast
from cep.lang.diagnostics import Diagnostic

if TYPE_CHECKING:
    from lark import Lark

#: syntax errors reported at most per file (the parser recovers after each)
MAX_SYNTAX_ERRORS = 50
#: how deeply syntax may nest (expressions and pattern groups, counted in tree levels):
#: later passes walk the tree recursively, so a deeper tree is an error, not a crash
MAX_NESTING = 100
#: the largest repetition count (`T{n}`, `T{n,m}`): every count is a state of the automaton
MAX_REPEAT = 10_000
#: integers (and durations in milliseconds) are the engine's 64-bit signed integers
INT_MAX = 2**63 - 1


@dataclass
class ParseResult:
    """A parsed file: its declarations, the source text and what went wrong."""

    module: ast.Module
    source: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: names declared by items that could not be parsed (to avoid follow-on errors)
    broken_names: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def parse_source(source: str, path: str = "<string>") -> ParseResult:
    """Parse rule-file text; never raises for bad input, errors go to `diagnostics`."""
    from cep.lang.larkparser import parse_source as parse

    return parse(source, path)


def lark_parser() -> Lark:
    """The Lark parser (it builds the AST while parsing)."""
    from cep.lang.larkparser import lark_parser as made

    return made()
