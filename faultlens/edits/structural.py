"""Structural source edits applied with libcst: the edit engine of the corpus's mutation
operators and the localizer's patches.

An edit names a source position and what to do there. Positions follow the program graph's
:class:`~faultlens.analyzer.graph.Span` convention (docs/graph.md): 1-based lines, 1-based
columns, ``(end_line, end_column)`` one past the last character. :func:`apply_edits` locates
the libcst nodes at those positions (libcst's ``PositionProvider``) and rewrites them in ONE
pass over the original source, so every position refers to the original text, and the result
is always a module produced by libcst, never a text splice. (The result is not compiled here: a
replacement that Python rejects, e.g. a repeated keyword, is the caller's to check — the corpus
compiles every mutant.)

Expressions — the outermost expression that starts at ``(line, column)`` (and ends at
``(end_line, end_column)`` when given; a span names exactly one expression):

* :class:`ReplaceExpr` — replace it by ``code``, or by ``template.format(x=<its code>)``;
* :class:`ReplaceCallee` — replace the function of the call (arguments kept);
* :class:`SetKwarg` — set keyword ``name`` of the call to ``code`` (also a positional argument
  at index ``positional``), added when absent;
* :class:`AddKwarg` — append ``name=value`` to the call's arguments;
* :class:`KeepArgs` — keep only the listed positional indexes / keywords of the call;
* :class:`WrapArg` — wrap the call's keyword argument ``name`` or its ``index``-th positional
  argument: ``template.format(x=<its code>)``;
* :class:`RemoveArg` — remove the call argument that starts at ``(line, column)`` (the layout
  is kept: a removed last argument leaves its comma to the one before).

Statements — the statement whose first line (after comments and blank lines) is ``line``, in a
block or the module's body:

* :class:`InsertStmt` — insert ``code`` (one or more statements) before or after it;
* :class:`RemoveStmt` — remove it (with the comments above it);
* :class:`ReplaceWithPass` — replace it by ``pass`` (keeping the comments above it);
* :class:`WrapRange` — wrap the argument of the ``range(...)`` the ``for`` loop on ``line``
  iterates over (the stop argument of ``range(start, stop)``): ``template.format(x=...)``;
* :class:`Prelude` — module-level statements placed after the last top-level import (once per
  distinct ``code``).

An edit whose site is not in the source, or a result that does not parse, raises
:class:`EditError`. Several edits of one statement or expression apply in list order.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Union

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from faultlens.errors import FaultlensError


class EditError(FaultlensError):
    """An edit could not be applied: its site is not in the source, or the result is not
    valid code (the corpus calls it ``MutationError``: a mutant that does not apply)."""


# ---------------------------------------------------------------- edits
@dataclass(frozen=True)
class ReplaceExpr:
    line: int
    column: int
    code: str = ""
    end_line: int | None = None
    end_column: int | None = None
    template: str = ""   # when set: ``template.format(x=<the old expression's code>)``
    kind: ClassVar[str] = "replace_expr"


@dataclass(frozen=True)
class ReplaceCallee:
    line: int
    column: int
    code: str
    end_line: int | None = None
    end_column: int | None = None
    kind: ClassVar[str] = "replace_callee"


@dataclass(frozen=True)
class SetKwarg:
    line: int
    column: int
    name: str
    code: str
    end_line: int | None = None
    end_column: int | None = None
    positional: int | None = None   # the argument's positional index, when it can be passed so
    kind: ClassVar[str] = "set_kwarg"


@dataclass(frozen=True)
class AddKwarg:
    line: int
    column: int
    name: str
    value: str
    end_line: int | None = None
    end_column: int | None = None
    kind: ClassVar[str] = "add_kwarg"


@dataclass(frozen=True)
class KeepArgs:
    line: int
    column: int
    keep: tuple = ()   # positional indexes (int) and keyword names (str)
    end_line: int | None = None
    end_column: int | None = None
    kind: ClassVar[str] = "keep_args"


@dataclass(frozen=True)
class WrapArg:
    line: int
    column: int
    template: str
    index: int = 0
    name: str = ""
    end_line: int | None = None
    end_column: int | None = None
    kind: ClassVar[str] = "wrap_arg"


@dataclass(frozen=True)
class RemoveArg:
    line: int
    column: int
    kind: ClassVar[str] = "remove_arg"


@dataclass(frozen=True)
class InsertStmt:
    line: int
    code: str
    after: bool = False

    @property
    def kind(self) -> str:
        return "insert_after" if self.after else "insert_before"


@dataclass(frozen=True)
class RemoveStmt:
    line: int
    kind: ClassVar[str] = "delete_stmt"


@dataclass(frozen=True)
class ReplaceWithPass:
    line: int
    kind: ClassVar[str] = "remove_stmt"   # the corpus's name: the statement is removed, a pass stays


@dataclass(frozen=True)
class WrapRange:
    line: int
    template: str
    kind: ClassVar[str] = "wrap_range"


@dataclass(frozen=True)
class Prelude:
    code: str
    kind: ClassVar[str] = "prelude"


_EXPR_EDITS = (ReplaceExpr, ReplaceCallee, SetKwarg, AddKwarg, KeepArgs, WrapArg)
_CALL_EDITS = (ReplaceCallee, SetKwarg, AddKwarg, KeepArgs, WrapArg)
_STMT_EDITS = (InsertStmt, RemoveStmt, ReplaceWithPass)

StructuralEdit = Union[ReplaceExpr, ReplaceCallee, SetKwarg, AddKwarg, KeepArgs, WrapArg, RemoveArg,
                       InsertStmt, RemoveStmt, ReplaceWithPass, WrapRange, Prelude]


# ---------------------------------------------------------------- node helpers
def render(node: cst.CSTNode) -> str:
    """The source code of one libcst node."""
    return cst.Module(body=[]).code_for_node(node)


def _comma() -> cst.Comma:
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def append_kwarg(call: cst.Call, name: str, value_code: str) -> cst.Call:
    """``call`` with ``name=value_code`` appended to its arguments (after a trailing comma, if
    the call has one, as written)."""
    args = list(call.args)
    if args and args[-1].comma is cst.MaybeSentinel.DEFAULT:
        args[-1] = args[-1].with_changes(comma=_comma())
    args.append(cst.Arg(value=cst.parse_expression(value_code), keyword=cst.Name(name),
                        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                              whitespace_after=cst.SimpleWhitespace(""))))
    return call.with_changes(args=args)


def _set_kwarg(node: cst.Call, e: SetKwarg) -> cst.Call:
    val = cst.parse_expression(e.code)
    args = list(node.args)
    for j, a in enumerate(args):
        if (a.keyword is not None and a.keyword.value == e.name) or (
                a.keyword is None and e.positional is not None and j == e.positional and a.star == ""):
            args[j] = a.with_changes(value=val)
            return node.with_changes(args=args)
    new_arg = cst.Arg(value=val, keyword=cst.Name(e.name),
                      equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
    if args:
        last = args[-1]
        if not isinstance(last.comma, cst.MaybeSentinel):  # a trailing comma moves to the new last
            new_arg = new_arg.with_changes(comma=last.comma)
        args[-1] = last.with_changes(comma=_comma())
    args.append(new_arg)
    return node.with_changes(args=args)


def _keep_args(node: cst.Call, e: KeepArgs) -> cst.Call:
    keep = set(e.keep)
    args = [a for j, a in enumerate(node.args)
            if (a.keyword is None and a.star == "" and j in keep)
            or (a.keyword is not None and a.keyword.value in keep)]
    args = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) if j == len(args) - 1 else a.with_changes(comma=_comma())
            for j, a in enumerate(args)]
    return node.with_changes(args=args)


def _wrap_arg(node: cst.Call, e: WrapArg) -> cst.Call | None:
    positional = [j for j, a in enumerate(node.args) if a.keyword is None and a.star == ""]
    target = None
    if e.name:
        target = next((j for j, a in enumerate(node.args)
                       if a.keyword is not None and a.keyword.value == e.name), None)
    if target is None and e.index < len(positional):
        target = positional[e.index]
    if target is None:
        return None
    args = list(node.args)
    a = args[target]
    args[target] = a.with_changes(value=cst.parse_expression(e.template.format(x=render(a.value))))
    return node.with_changes(args=args)


def _apply_expr(e: Any, node: cst.BaseExpression) -> cst.BaseExpression | None:
    """The rewritten expression, or None when ``node`` is not a site for ``e``."""
    if isinstance(e, ReplaceExpr):
        return cst.parse_expression(e.template.format(x=render(node)) if e.template else e.code)
    if not isinstance(node, cst.Call):
        return None
    if isinstance(e, ReplaceCallee):
        return node.with_changes(func=cst.parse_expression(e.code))
    if isinstance(e, SetKwarg):
        return _set_kwarg(node, e)
    if isinstance(e, AddKwarg):
        return append_kwarg(node, e.name, e.value)
    if isinstance(e, KeepArgs):
        return _keep_args(node, e)
    return _wrap_arg(node, e)


def _statements(code: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(code).body)


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.SimpleString))


_STATEMENT = (cst.SimpleStatementLine, cst.BaseCompoundStatement)


# ---------------------------------------------------------------- the transformer
class _Editor(cst.CSTTransformer):
    """Applies a list of edits in one visit of the original module. Sites are claimed on the
    way down (so an expression edit takes the outermost expression at its position) and
    rewritten on the way up; statement edits are applied where the enclosing body is rebuilt,
    so that inserted statements get the block's indentation."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, edits: list[Any]):
        super().__init__()
        self.edits = edits
        self.done: set[int] = set()                       # indexes into edits
        self._expr = [i for i, e in enumerate(edits) if isinstance(e, _EXPR_EDITS)]
        self._arg = [i for i, e in enumerate(edits) if isinstance(e, RemoveArg)]
        self._stmt = [i for i, e in enumerate(edits) if isinstance(e, _STMT_EDITS)]
        self._loop = [i for i, e in enumerate(edits) if isinstance(e, WrapRange)]
        self._prelude = [i for i, e in enumerate(edits) if isinstance(e, Prelude)]
        self._claimed: dict[int, list[int]] = {}         # id(original node) -> edit indexes
        self._claimed_args: dict[int, int] = {}           # id(original Arg) -> RemoveArg index
        self._taken: set[int] = set()
        self._line: dict[int, int] = {}                   # id(updated statement) -> original first line

    # ---- locating
    def _start_end(self, node: cst.CSTNode) -> tuple[tuple[int, int], tuple[int, int]] | None:
        try:
            r = self.get_metadata(PositionProvider, node)
        except KeyError:
            return None
        # graph spans: 1-based columns; libcst: 0-based
        return (r.start.line, r.start.column + 1), (r.end.line, r.end.column + 1)

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self._expr and isinstance(node, cst.BaseExpression):
            pos = None
            for i in self._expr:
                if i in self._taken:
                    continue
                e = self.edits[i]
                if isinstance(e, _CALL_EDITS) and not isinstance(node, cst.Call):
                    continue
                if pos is None:
                    pos = self._start_end(node)
                    if pos is None:
                        break
                if pos[0] != (e.line, e.column) or (e.end_line and pos[1] != (e.end_line, e.end_column)):
                    continue
                self._taken.add(i)
                self._claimed.setdefault(id(node), []).append(i)
        elif self._arg and isinstance(node, cst.Arg):
            pos = self._start_end(node)
            for i in self._arg:
                e = self.edits[i]
                if i not in self._taken and pos is not None and pos[0] == (e.line, e.column):
                    self._taken.add(i)
                    self._claimed_args[id(node)] = i
                    break
        return super().on_visit(node)

    # ---- expressions and arguments
    def on_leave(self, original_node, updated_node):  # type: ignore[override]
        if self._claimed_args and isinstance(original_node, cst.Call):
            updated_node = self._remove_args(original_node, updated_node)
        for i in self._claimed.get(id(original_node), ()):
            new = _apply_expr(self.edits[i], updated_node)
            if new is not None:
                self.done.add(i)
                updated_node = new
        result = super().on_leave(original_node, updated_node)
        if isinstance(original_node, _STATEMENT):
            pos = self._start_end(original_node)
            self._line[id(result)] = pos[0][0] if pos else -1
        return result

    def _remove_args(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        gone = [j for j, a in enumerate(original.args) if id(a) in self._claimed_args]
        if not gone:
            return updated
        args = list(updated.args)
        for j in reversed(gone):  # the last first: as if applied one by one, bottom-up
            self.done.add(self._claimed_args[id(original.args[j])])
            removed = args.pop(j)
            if j == len(args) and j > 0:  # it was the last argument: the one before takes its comma
                args[j - 1] = args[j - 1].with_changes(comma=removed.comma)
        return updated.with_changes(args=args)

    # ---- statements
    def _rewrite_body(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in body:
            line = self._line.get(id(stmt))
            before: list[cst.BaseStatement] = []
            after: list[cst.BaseStatement] = []
            delete = to_pass = False
            if line is not None:
                for i in self._stmt:
                    e = self.edits[i]
                    if i in self.done or e.line != line:
                        continue
                    self.done.add(i)
                    if isinstance(e, RemoveStmt):
                        delete = True
                    elif isinstance(e, ReplaceWithPass):
                        to_pass = True
                    elif e.after:
                        after.extend(_statements(e.code))
                    else:
                        before.extend(_statements(e.code))
            out.extend(before)
            if delete:
                pass
            elif to_pass:
                out.append(cst.SimpleStatementLine(body=[cst.Pass()], leading_lines=getattr(stmt, "leading_lines", ())))
            else:
                out.append(stmt)
            out.extend(after)
        return out

    def leave_For(self, original_node: cst.For, updated_node: cst.For):
        pos = self._start_end(original_node)
        line = pos[0][0] if pos else None
        for i in self._loop:
            e = self.edits[i]
            if i in self.done or e.line != line:
                continue
            it = updated_node.iter
            if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "range" and it.args:
                idx = 0 if len(it.args) == 1 else 1
                args = list(it.args)
                a = args[idx]
                args[idx] = a.with_changes(value=cst.parse_expression(e.template.format(x=render(a.value))))
                updated_node = updated_node.with_changes(iter=it.with_changes(args=args))
                self.done.add(i)
        return updated_node

    def leave_IndentedBlock(self, original_node, updated_node):
        return updated_node.with_changes(body=self._rewrite_body(list(updated_node.body)))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module):
        body = self._rewrite_body(list(updated_node.body))
        if self._prelude:
            last_import = -1
            for j, s in enumerate(body):
                if isinstance(s, cst.SimpleStatementLine) and any(
                        isinstance(x, (cst.Import, cst.ImportFrom)) for x in s.body):
                    last_import = j
            if last_import < 0:  # after a module docstring / __future__ block
                last_import = 0 if body and _is_docstring(body[0]) else -1
            extra: list[cst.BaseStatement] = []
            seen = set()
            for i in self._prelude:
                code = self.edits[i].code
                self.done.add(i)
                if code not in seen:
                    seen.add(code)
                    extra.extend(_statements(code))
            body = body[: last_import + 1] + extra + body[last_import + 1:]
        return updated_node.with_changes(body=body)


# ---------------------------------------------------------------- applying
_WRAPPERS: "OrderedDict[str, MetadataWrapper]" = OrderedDict()


def _wrapper(source: str) -> MetadataWrapper:
    """Parsed module + resolved positions, cached for the last few sources (enumerating the
    mutants of one program applies many edits to the same text; visiting never mutates it)."""
    w = _WRAPPERS.get(source)
    if w is not None:
        _WRAPPERS.move_to_end(source)
        return w
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise EditError(f"cannot parse source: {exc}") from None
    w = MetadataWrapper(module)
    w.resolve(PositionProvider)
    _WRAPPERS[source] = w
    while len(_WRAPPERS) > 8:
        _WRAPPERS.popitem(last=False)
    return w


def apply_edits(source: str, edits: Iterable[StructuralEdit]) -> str:
    """Apply ``edits`` (positions of ``source``) in one pass and return the new source.

    Raises :class:`EditError` when an edit's site is not found or the result does not parse
    (never silently the original)."""
    edits = list(edits)
    editor = _Editor(edits)
    try:
        new = _wrapper(source).visit(editor)
    except cst.ParserSyntaxError as exc:
        raise EditError(f"generated code does not parse: {exc}") from None
    missing = [e for i, e in enumerate(edits) if i not in editor.done]
    if missing:
        e = missing[0]
        col = f" column {e.column}" if hasattr(e, "column") else ""
        raise EditError(f"{e.kind}: no matching site at line {e.line}{col}")
    return new.code
