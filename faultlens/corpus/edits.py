"""Position-addressed source edits applied with libcst.

Mutation operators find their sites in the program graph (``docs/graph.md``), whose spans are
1-based lines and 1-based columns. An :class:`Edit` names a span and what to do there; the
:func:`apply_edits` transformer locates the libcst node at that position (through libcst's
``PositionProvider``) and rewrites it, so the result is always a syntactically valid module
produced by libcst, never a text splice.

Edit kinds:

``replace_expr``  replace the expression at ``span`` with ``template.format(x=<old code>)``
``replace_callee`` replace the function of the call at ``span`` (arguments kept)
``set_kwarg``     set (or add) keyword ``name`` of the call at ``span`` to ``code``
``keep_args``     keep only the listed positional indexes / keywords of the call at ``span``
``wrap_arg``      wrap argument ``index`` of the call at ``span``: ``template.format(x=...)``
``remove_stmt``   replace the simple statement starting on ``span.line`` with ``pass``
``insert_after`` / ``insert_before``  insert ``code`` (statements) next to that statement
``wrap_range``    wrap the argument of ``range(...)`` of the ``for`` loop on ``span.line``
``prelude``       module-level code placed after the last top-level import
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from faultlens.errors import FaultlensError


class MutationError(FaultlensError):
    """A mutation could not be applied (site not found, invalid result)."""


@dataclass
class Edit:
    kind: str
    line: int
    column: int = 0            # 1-based, 0 = any
    end_line: int = 0
    end_column: int = 0
    template: str = "{x}"
    name: str = ""
    code: str = ""
    index: int = 0
    keep: tuple = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def at(cls, kind: str, span: Any, **kw: Any) -> "Edit":
        if span is None:
            raise MutationError(f"{kind}: no span for the site")
        if hasattr(span, "to_dict"):
            span = span.to_dict()
        return cls(kind, int(span["line"]), int(span.get("column", 0)), int(span.get("end_line", 0)),
                   int(span.get("end_column", 0)), **kw)


def _stmt_lines(code: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(code).body)


class _Applier(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, edits: list[Edit]):
        super().__init__()
        self.expr_edits = [e for e in edits if e.kind in
                           ("replace_expr", "replace_callee", "set_kwarg", "keep_args", "wrap_arg")]
        self.stmt_edits = [e for e in edits if e.kind in ("remove_stmt", "insert_after", "insert_before")]
        self.loop_edits = [e for e in edits if e.kind == "wrap_range"]
        self.prelude = [e for e in edits if e.kind == "prelude"]
        self.done: set[int] = set()

    # ---- matching
    def _pos(self, node: cst.CSTNode):
        return self.get_metadata(PositionProvider, node)

    def _match_expr(self, node: cst.CSTNode) -> list[tuple[int, Edit]]:
        out = []
        pos = None
        for i, e in enumerate(self.expr_edits):
            key = id(e)
            if key in self.done:
                continue
            if pos is None:
                pos = self._pos(node)
            # graph spans (docs/graph.md): 1-based columns, end exclusive; libcst: 0-based columns
            if pos.start.line != e.line or pos.start.column != e.column - 1:
                continue
            if e.end_line and (pos.end.line != e.end_line
                               or pos.end.column != e.end_column - 1):
                continue
            out.append((i, e))
        return out

    # ---- expressions
    def on_leave(self, original_node, updated_node):  # type: ignore[override]
        if isinstance(original_node, cst.BaseExpression) and self.expr_edits:
            for _, e in self._match_expr(original_node):
                new = self._apply_expr(e, updated_node)
                if new is not None:
                    self.done.add(id(e))
                    updated_node = new
        return super().on_leave(original_node, updated_node)

    def _code(self, node: cst.CSTNode) -> str:
        return cst.Module(body=[]).code_for_node(node)

    def _apply_expr(self, e: Edit, node: cst.BaseExpression):
        if e.kind == "replace_expr":
            return cst.parse_expression(e.template.format(x=self._code(node)))
        if not isinstance(node, cst.Call):
            return None
        if e.kind == "replace_callee":
            return node.with_changes(func=cst.parse_expression(e.code))
        if e.kind == "set_kwarg":
            val = cst.parse_expression(e.code)
            args = list(node.args)
            pos_index = e.extra.get("positional")
            for j, a in enumerate(args):
                if (a.keyword is not None and a.keyword.value == e.name) or (
                        a.keyword is None and pos_index is not None and j == pos_index and a.star == ""):
                    args[j] = a.with_changes(value=val)
                    return node.with_changes(args=args)
            new_arg = cst.Arg(value=val, keyword=cst.Name(e.name),
                              equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
            if args:
                last = args[-1]
                if last.comma is cst.MaybeSentinel.DEFAULT or isinstance(last.comma, cst.MaybeSentinel):
                    args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                else:
                    new_arg = new_arg.with_changes(comma=last.comma)
                    args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            args.append(new_arg)
            return node.with_changes(args=args)
        if e.kind == "keep_args":
            keep = set(e.keep)
            args = [a for j, a in enumerate(node.args)
                    if (a.keyword is None and a.star == "" and j in keep)
                    or (a.keyword is not None and a.keyword.value in keep)]
            args = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) if j == len(args) - 1 else
                    a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                    for j, a in enumerate(args)]
            return node.with_changes(args=args)
        if e.kind == "wrap_arg":
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
            args[target] = a.with_changes(value=cst.parse_expression(e.template.format(x=self._code(a.value))))
            return node.with_changes(args=args)
        return None

    # ---- statements (handled at the block level so that insertions keep indentation)
    def _rewrite_body(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in body:
            line = self._orig_line.get(id(stmt))
            before, after, removed = [], [], False
            if line is not None:
                for e in self.stmt_edits:
                    if id(e) in self.done or e.line != line:
                        continue
                    self.done.add(id(e))
                    if e.kind == "remove_stmt":
                        removed = True
                    elif e.kind == "insert_before":
                        before.extend(_stmt_lines(e.code))
                    else:
                        after.extend(_stmt_lines(e.code))
            out.extend(before)
            if removed:
                out.append(cst.SimpleStatementLine(body=[cst.Pass()],
                                                   leading_lines=getattr(stmt, "leading_lines", ())))
            else:
                out.append(stmt)
            out.extend(after)
        return out

    def visit_Module(self, node: cst.Module) -> None:
        self._orig_line: dict[int, int] = {}

    def _note(self, node: cst.BaseStatement) -> None:
        pos = self._pos(node)
        # statement lines: the statement's first line (after leading comments/blank lines)
        self._orig_line[id(node)] = pos.start.line

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._note(node)

    def visit_For(self, node: cst.For) -> None:
        self._note(node)

    def visit_While(self, node: cst.While) -> None:
        self._note(node)

    def visit_With(self, node: cst.With) -> None:
        self._note(node)

    def visit_If(self, node: cst.If) -> None:
        self._note(node)

    def leave_SimpleStatementLine(self, original_node, updated_node):
        self._orig_line[id(updated_node)] = self._orig_line.get(id(original_node), -1)
        return updated_node

    def leave_For(self, original_node: cst.For, updated_node: cst.For):
        line = self._orig_line.get(id(original_node))
        for e in self.loop_edits:
            if id(e) in self.done or e.line != line:
                continue
            it = updated_node.iter
            if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "range" and it.args:
                idx = 0 if len(it.args) == 1 else 1
                args = list(it.args)
                a = args[idx]
                args[idx] = a.with_changes(value=cst.parse_expression(e.template.format(x=self._code(a.value))))
                updated_node = updated_node.with_changes(iter=it.with_changes(args=args))
                self.done.add(id(e))
        self._orig_line[id(updated_node)] = line if line is not None else -1
        return updated_node

    def _keep_line(self, original_node, updated_node):
        self._orig_line[id(updated_node)] = self._orig_line.get(id(original_node), -1)
        return updated_node

    def leave_While(self, original_node, updated_node):
        return self._keep_line(original_node, updated_node)

    def leave_With(self, original_node, updated_node):
        return self._keep_line(original_node, updated_node)

    def leave_If(self, original_node, updated_node):
        return self._keep_line(original_node, updated_node)

    def leave_IndentedBlock(self, original_node, updated_node):
        return updated_node.with_changes(body=self._rewrite_body(list(updated_node.body)))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module):
        body = self._rewrite_body(list(updated_node.body))
        if self.prelude:
            last_import = -1
            for j, s in enumerate(body):
                if isinstance(s, cst.SimpleStatementLine) and any(
                        isinstance(x, (cst.Import, cst.ImportFrom)) for x in s.body):
                    last_import = j
            if last_import < 0:  # after a module docstring / __future__ block
                last_import = 0 if body and _is_docstring(body[0]) else -1
            extra: list[cst.BaseStatement] = []
            seen = set()
            for e in self.prelude:
                if e.code in seen:
                    self.done.add(id(e))
                    continue
                seen.add(e.code)
                extra.extend(_stmt_lines(e.code))
                self.done.add(id(e))
            body = body[: last_import + 1] + extra + body[last_import + 1:]
        return updated_node.with_changes(body=body)


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.SimpleString))


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
        raise MutationError(f"cannot parse source: {exc}") from None
    w = MetadataWrapper(module)
    w.resolve(PositionProvider)
    _WRAPPERS[source] = w
    while len(_WRAPPERS) > 8:
        _WRAPPERS.popitem(last=False)
    return w


def apply_edits(source: str, edits: list[Edit]) -> str:
    """Apply ``edits`` to ``source`` and return the new source.

    Raises :class:`MutationError` when an edit's site is not found or the result does not
    parse (a mutant is then not applicable — never silently the original)."""
    wrapper = _wrapper(source)
    applier = _Applier(edits)
    try:
        new = wrapper.visit(applier)
    except cst.ParserSyntaxError as exc:
        raise MutationError(f"generated code does not parse: {exc}") from None
    missing = [e for e in edits if id(e) not in applier.done]
    if missing:
        e = missing[0]
        raise MutationError(f"{e.kind}: no matching site at line {e.line} column {e.column}")
    code = new.code
    try:
        compile(code, "<mutant>", "exec")
    except SyntaxError as exc:  # pragma: no cover - libcst output is valid by construction
        raise MutationError(f"mutant does not compile: {exc}") from None
    return code
