"""`cep fmt`: a rule file in the canonical layout, with its comments kept.

The printer (`cep.lang.printer`) writes the syntax tree, which holds no comments. This
module finds the comments in the source text and puts each one back beside the printed
line that holds what it was written beside, gofmt-style:

- a comment on a line of its own goes above the next declaration, clause, field,
  `given` event or `expect` after it (or, when nothing follows in its block, above the
  block's closing brace; at the end of the file, at the end);
- a comment after code goes at the end of the printed line of the declaration, clause,
  field or event that the code belongs to. When several such comments land on one
  printed line (a clause written over several lines), they go above it instead, in
  order.

Blank lines: declarations are one blank line apart, except consecutive `import` or
`const` lines that the source wrote without one; a blank line after a comment is kept.
The result is stable: formatting it again gives the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cep.lang import ast
from cep.lang.diagnostics import Diagnostic
from cep.lang.parser import parse_source
from cep.lang.printer import INDENT, WIDTH, Line, block_of, format_item


class LayoutError(Exception):
    """The text does not parse: it cannot be laid out."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(f"{len(diagnostics)} syntax error(s)")
        self.diagnostics = diagnostics


@dataclass
class Comment:
    line: int
    text: str
    #: nothing but spaces before it on its line
    own_line: bool
    #: the source line after it is blank
    blank_after: bool = False


@dataclass
class _Slot:
    """A printed line and the comments that go above it and at its end."""

    text: str
    first: int  # source lines it came from (0: none)
    last: int
    above: list[Comment] = field(default_factory=list)
    after: list[Comment] = field(default_factory=list)


@dataclass
class _Declaration:
    item: ast.Item
    header: _Slot
    inner: list[_Slot]
    close: _Slot | None  # the closing brace of a block
    #: own-line comments after the last inner line, above the closing brace
    before_close: list[Comment] = field(default_factory=list)

    @property
    def first(self) -> int:
        return min([self.header.first, *(c.line for c in self.header.above)])

    @property
    def last(self) -> int:
        return self.close.last if self.close is not None else self.header.last


def format_source(source: str, path: str = "<string>") -> str:
    """`source` in the canonical layout, comments kept; LayoutError if it does not parse."""
    parsed = parse_source(source, path)
    errors = [d for d in parsed.diagnostics if d.severity == "error"]
    if errors:
        raise LayoutError(errors)
    text = source.removeprefix("\ufeff")
    lines = text.split("\n")
    comments, blocks = _scan(lines)
    declarations = [_declaration(item, blocks) for item in parsed.module.items]
    trailing = _place(comments, declarations)
    return _render(declarations, trailing, lines)


def _scan(lines: list[str]) -> tuple[list[Comment], list[tuple[int, int]]]:
    """The comments, and the (opening, closing) lines of each top-level `{ }` block.
    A `#` or a brace inside a string is text (strings never span lines)."""
    comments: list[Comment] = []
    blocks: list[tuple[int, int]] = []
    depth, opened = 0, 0
    for number, line in enumerate(lines, start=1):
        in_string = escaped = False
        for column, char in enumerate(line):
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char == "#":
                own_line = not line[:column].strip()
                blank_after = number < len(lines) and not lines[number].strip()
                comments.append(Comment(number, line[column:].rstrip(), own_line, blank_after))
                break
            elif char == "{":
                depth += 1
                if depth == 1:
                    opened = number
            elif char == "}" and depth > 0:
                depth -= 1
                if depth == 0:
                    blocks.append((opened, number))
    return comments, blocks


def _declaration(item: ast.Item, blocks: list[tuple[int, int]]) -> _Declaration:
    start = item.span.line
    block = block_of(item)
    if block is None:
        header = _Slot(format_item(item), start, item.span.end_line)
        return _Declaration(item, header, [], None)
    title, lines = block
    close_line = next((close for open_, close in blocks if open_ >= start), item.span.end_line)
    return _Declaration(
        item,
        _Slot(f"{title} {{", start, start),
        [_inner(line) for line in lines],
        _Slot("}", close_line, close_line),
    )


def _inner(line: Line) -> _Slot:
    text, span = line
    if span is None:
        return _Slot(text, 0, 0)
    return _Slot(text, span.line, span.end_line)


def _place(comments: list[Comment], declarations: list[_Declaration]) -> list[Comment]:
    """Attach each comment to a slot; the comments after the last declaration."""
    trailing: list[Comment] = []
    for comment in comments:
        line = comment.line
        owner = next((d for d in declarations if d.header.first <= line <= d.last), None)
        if owner is None:
            after = [d for d in declarations if d.header.first > line]
            if after:
                min(after, key=lambda d: d.header.first).header.above.append(comment)
            else:
                trailing.append(comment)
        elif owner.close is None or (line == owner.header.first and not comment.own_line):
            (owner.header.above if comment.own_line else owner.header.after).append(comment)
        elif line == owner.close.first and not comment.own_line:
            owner.close.after.append(comment)
        else:
            _place_inside(comment, owner)
    return trailing


def _place_inside(comment: Comment, owner: _Declaration) -> None:
    line = comment.line
    placed = [slot for slot in owner.inner if slot.first]
    if not comment.own_line:
        covering = [slot for slot in placed if slot.first <= line <= slot.last]
        if covering:
            max(covering, key=lambda slot: slot.first).after.append(comment)
            return
    later = [slot for slot in placed if slot.first > line]
    if later:
        min(later, key=lambda slot: slot.first).above.append(comment)
    else:
        owner.before_close.append(comment)


#: a printed line: its code and the comment at its end ("" for none)
_Out = list[list[str]]


def _render(declarations: list[_Declaration], trailing: list[Comment], lines: list[str]) -> str:
    out: _Out = []
    previous: _Declaration | None = None
    for declaration in declarations:
        if previous is not None and _blank_between(previous, declaration, lines):
            out.append(["", ""])
        _emit(out, declaration.header, "")
        if declaration.close is not None:
            for slot in declaration.inner:
                indent = INDENT + slot.text[: len(slot.text) - len(slot.text.lstrip())]
                _emit(out, slot, INDENT, indent)
            out.extend(_comment_lines(declaration.before_close, INDENT))
            _emit(out, declaration.close, "")
            _join_empty_block(out, declaration)
        previous = declaration
    if trailing:
        if out and (previous is None or _blank_in(lines, previous.last, trailing[0].line)):
            out.append(["", ""])
        out.extend(_comment_lines(trailing, ""))
    while out and out[-1] == ["", ""]:
        out.pop()
    _align_comments(out)
    return "".join(f"{code}  {note}\n" if note else f"{code}\n" for code, note in out)


def _align_comments(out: _Out) -> None:
    """Comments at the ends of consecutive lines start in one column (gofmt's way),
    unless that column would pass `WIDTH`."""
    start = 0
    while start < len(out):
        end = start
        while end < len(out) and out[end][1]:
            end += 1
        if end == start:
            start += 1
            continue
        column = max(len(code) for code, _ in out[start:end])
        if column + 2 <= WIDTH:
            for row in out[start:end]:
                row[0] = row[0].ljust(column)
        start = end


def _emit(out: _Out, slot: _Slot, indent: str, comment_indent: str | None = None) -> None:
    above, after = slot.above, slot.after
    if len(after) > 1:  # several comments for one printed line: above it, in order
        above, after = sorted([*above, *after], key=lambda c: c.line), []
    out.extend(_comment_lines(above, indent if comment_indent is None else comment_indent))
    physical = [[indent + part, ""] for part in slot.text.split("\n")]
    if after:
        physical[-1][1] = after[0].text
    out.extend(physical)


def _comment_lines(comments: list[Comment], indent: str) -> _Out:
    lines: _Out = []
    for comment in comments:
        lines.append([indent + comment.text, ""])
        if comment.blank_after:
            lines.append(["", ""])
    return lines


def _join_empty_block(out: _Out, declaration: _Declaration) -> None:
    """`event E {}`: an empty block with no comments inside stays on one line."""
    if declaration.inner or declaration.before_close or declaration.close is None:
        return
    if declaration.close.above or out[-2][1] or out[-1][1]:
        return
    close, _ = out.pop()
    out[-1][0] += close


def _blank_between(previous: _Declaration, current: _Declaration, lines: list[str]) -> bool:
    """One blank line between declarations, except between consecutive `import` or
    `const` lines written without one."""
    kind = type(current.item)
    if kind is not type(previous.item) or kind not in (ast.Import, ast.ConstDecl):
        return True
    return _blank_in(lines, previous.last, current.first)


def _blank_in(lines: list[str], after: int, before: int) -> bool:
    """Whether a blank line lies strictly between two 1-based source lines."""
    return any(not lines[number - 1].strip() for number in range(after + 1, before))
