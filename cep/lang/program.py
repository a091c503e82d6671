"""Loading rule files into one program: folders, imports, schemas and constants.

The result, `Program`, is what the checker annotates and the compiler consumes.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cep.lang import ast
from cep.lang.diagnostics import Diagnostic, DiagnosticSink, did_you_mean
from cep.lang.parse_cache import parse_cached
from cep.lang.parser import parse_source
from cep.lang.types import DYNAMIC, SCALAR_TYPE_NAMES, Type, join, list_of

BUILTIN_FIELDS: dict[str, Type] = {"ts": Type("time"), "type": Type("str")}


class RulePathError(Exception):
    """A path given on the command line does not exist or cannot be read."""


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str
    type: Type
    optional: bool
    span: ast.Span


@dataclass
class Schema:
    """An event schema with the fields it inherits."""

    name: str
    decl: ast.EventDecl
    fields: dict[str, FieldInfo] = field(default_factory=dict)

    def field_type(self, name: str) -> Type | None:
        if name in BUILTIN_FIELDS:
            return BUILTIN_FIELDS[name]
        info = self.fields.get(name)
        return info.type if info else None

    def field_names(self) -> list[str]:
        return [*BUILTIN_FIELDS, *self.fields]


@dataclass(frozen=True, slots=True)
class ConstInfo:
    name: str
    value: object
    type: Type
    span: ast.Span


@dataclass
class SourceFile:
    """One loaded file: where it is, its text, its tree and what it can see."""

    path: str
    source: str
    module: ast.Module
    imports: list[str] = field(default_factory=list)
    consts: dict[str, ConstInfo] = field(default_factory=dict)
    broken_names: set[str] = field(default_factory=set)


@dataclass
class Program:
    """Every loaded file, the schemas, and the diagnostics found so far."""

    files: dict[str, SourceFile] = field(default_factory=dict)
    schemas: dict[str, Schema] = field(default_factory=dict)
    sink: DiagnosticSink = field(default_factory=DiagnosticSink)
    #: the files named by the user (not pulled in by an import), in load order
    roots: list[str] = field(default_factory=list)
    #: pairs of places already reported as conflicting (each conflict is reported once)
    reported: set[tuple[ast.Span, ast.Span]] = field(default_factory=set)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.sink.items

    def source_of(self, path: str) -> str | None:
        loaded = self.files.get(path)
        return loaded.source if loaded else None

    def visible_files(self, path: str) -> list[str]:
        """`path` and every file it imports, directly or not."""
        seen: list[str] = []
        stack = [path]
        while stack:
            current = stack.pop()
            if current in seen or current not in self.files:
                continue
            seen.append(current)
            stack.extend(reversed(self.files[current].imports))
        return seen


def collect_rule_files(paths: list[str]) -> list[str]:
    """Files named, and `*.cep` files under folders named (recursively, sorted)."""
    found: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(str(p) for p in sorted(path.rglob("*.cep")) if p.is_file())
        elif path.is_file():
            found.append(str(path))
        else:
            raise RulePathError(f"no such file or folder: {raw}")
    for name in found:
        if not os.access(name, os.R_OK):
            raise RulePathError(f"cannot read {name}")
    return found


class _Loader:
    def __init__(self, program: Program, *, cached: bool = False) -> None:
        self.program = program
        self.sink = program.sink
        self.loading: list[str] = []
        #: parse files through the on-disk cache (`cep.lang.parse_cache`)
        self.cached = cached

    def load_text(self, path: str, source: str) -> None:
        if path in self.program.files:
            return
        result = parse_cached(source, path) if self.cached else parse_source(source, path)
        self.sink.extend(result.diagnostics)
        loaded = SourceFile(path, source, result.module, broken_names=result.broken_names)
        self.program.files[path] = loaded
        self.loading.append(path)
        for item in result.module.of_type(ast.Import):
            target = os.path.normpath(os.path.join(os.path.dirname(path), item.path))
            if target in self.loading:
                cycle = [*self.loading[self.loading.index(target) :], target]
                self.sink.error(
                    "import cycle: " + " -> ".join(cycle),
                    item.span,
                    "help: move what both files need into a third file that both import",
                    code="import-cycle",
                )
                continue
            if target not in self.program.files:
                source = self._read_import(target, item)
                if source is None:
                    continue
                self.load_text(target, source)
            loaded.imports.append(target)
        self.loading.pop()

    def _read_import(self, path: str, importer: ast.Import) -> str | None:
        try:
            if Path(path).exists() and not Path(path).is_file():
                # a folder, a device such as /dev/zero or a pipe: reading could never end
                raise IsADirectoryError(errno.EISDIR, "not a regular file")
            return Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError, ValueError) as error:
            reason = "not UTF-8 text"
            if isinstance(error, FileNotFoundError):
                reason = "no such file"
            elif isinstance(error, OSError):
                reason = error.strerror or "unreadable"
            elif not isinstance(error, UnicodeDecodeError):
                reason = "not a file name"  # a NUL in the path
            self.sink.error(
                f'cannot import "{importer.path}": {reason} ({path})',
                importer.span,
                code="bad-import",
            )
            return None

    def load_file(self, path: str) -> None:
        try:
            source = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else _not_utf8(error)
            raise RulePathError(f"cannot read {path}: {reason}") from error
        self.load_text(path, source)


def _not_utf8(error: UnicodeDecodeError) -> str:
    """Where a file stops being UTF-8, as a line and column (counted in bytes)."""
    before = error.object[: error.start]
    line = before.count(b"\n") + 1
    column = error.start - (before.rfind(b"\n") + 1) + 1
    byte = error.object[error.start]
    return f"not UTF-8 text (byte 0x{byte:02x} at line {line}, column {column})"


def load_program(paths: list[str]) -> Program:
    """Parse the rule files under `paths` and everything they import (through the
    cache of parsed files, `cep.lang.parse_cache`)."""
    program = Program()
    loader = _Loader(program, cached=True)
    for path in collect_rule_files(paths):
        normal = os.path.normpath(path)
        program.roots.append(normal)
        loader.load_file(normal)
    _resolve_declarations(program)
    return program


def load_sources(sources: dict[str, str]) -> Program:
    """Like `load_program`, for in-memory files (name -> text); imports may name files."""
    program = Program()
    loader = _Loader(program)
    for name, text in sources.items():
        program.roots.append(name)
        loader.load_text(name, text)
    _resolve_declarations(program)
    return program


# ---------------------------------------------------------------------------- declarations


def _resolve_declarations(program: Program) -> None:
    _collect_schemas(program)
    for path in program.files:
        _collect_consts(program, path)


def _type_from_ref(ref: ast.TypeRef, sink: DiagnosticSink) -> Type:
    if ref.name == "list":
        if ref.arg is None:
            sink.error("`list` needs an element type, as in `list[str]`", ref.span, code="bad-type")
            return list_of(DYNAMIC)
        return list_of(_type_from_ref(ref.arg, sink))
    if ref.arg is not None:
        sink.error(f"type `{ref.name}` takes no element type", ref.span, code="bad-type")
    if ref.name in SCALAR_TYPE_NAMES:
        return Type(ref.name)
    sink.error(
        f"unknown type `{ref.name}`",
        ref.span,
        "expected one of " + ", ".join(f"`{t}`" for t in (*SCALAR_TYPE_NAMES, "list[T]")),
        *did_you_mean(ref.name, (*SCALAR_TYPE_NAMES, "list")),
        code="unknown-type",
    )
    return DYNAMIC


def _collect_schemas(program: Program) -> None:
    decls: dict[str, ast.EventDecl] = {}
    for loaded in program.files.values():
        for decl in loaded.module.of_type(ast.EventDecl):
            if decl.name in decls:
                first = decls[decl.name].name_span
                what = f"event schema `{decl.name}`"
                program.sink.declared_twice(what, decl.name_span, first, "duplicate-schema")
                continue
            decls[decl.name] = decl

    resolving: list[str] = []

    def resolve(name: str) -> Schema:
        if name in program.schemas:
            return program.schemas[name]
        decl = decls[name]
        schema = Schema(name, decl)
        resolving.append(name)
        if decl.extends is not None:
            if decl.extends in resolving:
                cycle = " extends ".join(
                    [*resolving[resolving.index(decl.extends) :], decl.extends]
                )
                program.sink.error(
                    f"schemas extend each other in a cycle: {cycle}",
                    decl.extends_span,
                    code="extends-cycle",
                )
            elif decl.extends not in decls:
                program.sink.error(
                    f"`{decl.name}` extends unknown schema `{decl.extends}`",
                    decl.extends_span,
                    *did_you_mean(decl.extends, decls),
                    code="unknown-schema",
                )
            else:
                schema.fields.update(resolve(decl.extends).fields)
        for field_decl in decl.fields:
            if field_decl.name in BUILTIN_FIELDS:
                program.sink.error(
                    f"`{field_decl.name}` is built into every event and cannot be declared",
                    field_decl.span,
                    code="builtin-field",
                )
                continue
            if field_decl.name in schema.fields and any(
                f.name == field_decl.name for f in decl.fields if f is not field_decl
            ):
                program.sink.error(
                    f"field `{field_decl.name}` is declared twice in `{decl.name}`",
                    field_decl.span,
                    code="duplicate-field",
                )
                continue
            schema.fields[field_decl.name] = FieldInfo(
                field_decl.name,
                _type_from_ref(field_decl.type, program.sink),
                field_decl.optional,
                field_decl.span,
            )
        resolving.pop()
        program.schemas[name] = schema
        return schema

    for name in decls:
        resolve(name)


class NotConstant(Exception):
    """An expression that cannot be evaluated when the rules load."""

    def __init__(self, node: ast.Expr) -> None:
        super().__init__("not a constant")
        self.node = node

    def hints(self, names: Iterable[str]) -> tuple[str, ...]:
        """A "did you mean" note where the expression is a misspelt name."""
        return did_you_mean(self.node.name, names) if isinstance(self.node, ast.Name) else ()


def constant_value(expr: ast.Expr, consts: dict[str, ConstInfo]) -> tuple[object, Type]:
    """The value and type of a literal expression (literals, lists, `-`, named constants)."""
    if isinstance(expr, ast.Literal):
        return expr.value, Type(expr.kind)
    if isinstance(expr, ast.Name) and expr.name in consts:
        info = consts[expr.name]
        return info.value, info.type
    if isinstance(expr, ast.ListExpr):
        values = []
        elem = Type("null")
        for item in expr.items:
            value, item_type = constant_value(item, consts)
            values.append(value)
            elem = join(elem, item_type)
        return values, list_of(elem)
    if isinstance(expr, ast.Unary) and expr.op == "-":
        value, value_type = constant_value(expr.operand, consts)
        if value_type.kind in ("int", "float", "duration") and not isinstance(value, bool):
            return -value, value_type  # type: ignore[operator]
    if isinstance(expr, ast.ObjectExpr):
        return {k: constant_value(v, consts)[0] for k, v in expr.fields}, Type("event")
    raise NotConstant(expr)


def _collect_consts(program: Program, path: str) -> None:
    loaded = program.files[path]
    visible: dict[str, ConstInfo] = {}
    for other in reversed(program.visible_files(path)[1:]):
        for decl in program.files[other].module.of_type(ast.ConstDecl):
            info = _evaluate_const(decl, visible, program.sink, report=False)
            if info is None:
                continue
            first = visible.get(decl.name)
            if first is None:
                visible[decl.name] = info
            elif first.span != info.span and (first.span, info.span) not in program.reported:
                program.reported.add((first.span, info.span))
                program.sink.error(
                    f"constant `{decl.name}` is declared in two files that `{path}` imports",
                    info.span,
                    f"note: also declared at {first.span.location}",
                    code="duplicate-const",
                )
    for decl in loaded.module.of_type(ast.ConstDecl):
        if decl.name in visible:
            first = visible[decl.name].span
            what = f"constant `{decl.name}`"
            program.sink.declared_twice(what, decl.name_span, first, "duplicate-const")
            continue
        info = _evaluate_const(decl, visible, program.sink, report=True)
        if info:
            visible[decl.name] = info
    loaded.consts = visible


def _evaluate_const(
    decl: ast.ConstDecl, visible: dict[str, ConstInfo], sink: DiagnosticSink, *, report: bool
) -> ConstInfo | None:
    try:
        value, value_type = constant_value(decl.value, visible)
    except NotConstant as problem:
        if report:
            sink.error(
                f"constant `{decl.name}` must be a literal value "
                "(a number, string, duration, boolean or list)",
                problem.node.span,
                *problem.hints(visible),
                code="bad-const",
            )
        return None
    return ConstInfo(decl.name, value, value_type, decl.name_span)
