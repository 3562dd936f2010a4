"""The mutation operators' edits, by the corpus's kind names.

Operators find their sites in the program graph (``docs/graph.md``) and name an edit by kind and
graph span; :func:`edit_at` / :func:`edit` build the typed edit of the edit engine
(:mod:`faultlens.edits.structural`), whose ``apply_edits`` applies them. Kinds:

``replace_expr``  replace the expression at ``span`` with ``template.format(x=<old code>)``
``replace_callee`` replace the function of the call at ``span`` (arguments kept)
``set_kwarg``     set (or add) keyword ``name`` of the call at ``span`` to ``code``
``keep_args``     keep only the listed positional indexes / keywords of the call at ``span``
``wrap_arg``      wrap argument ``index`` of the call at ``span``: ``template.format(x=...)``
``remove_stmt``   replace the statement starting on ``span.line`` with ``pass``
``insert_after`` / ``insert_before``  insert ``code`` (statements) next to that statement
``wrap_range``    wrap the argument of ``range(...)`` of the ``for`` loop on ``span.line``
``prelude``       module-level code placed after the last top-level import
"""
from __future__ import annotations

from typing import Any

from faultlens.edits.structural import (EditError, InsertStmt, KeepArgs, Prelude, ReplaceCallee, ReplaceExpr,
                                        ReplaceWithPass, SetKwarg, StructuralEdit, WrapArg, WrapRange, apply_edits)

#: a mutation that could not be applied (site not found, invalid result): the engine's error
MutationError = EditError

__all__ = ["MutationError", "apply_edits", "edit", "edit_at"]


def edit(kind: str, line: int, column: int = 0, end_line: int = 0, end_column: int = 0, *,
         template: str = "{x}", name: str = "", code: str = "", index: int = 0, keep: tuple = (),
         positional: int | None = None) -> StructuralEdit:
    """The edit of ``kind`` at a position (1-based line and column; ``end_line`` 0: any end)."""
    if kind == "replace_expr":
        return ReplaceExpr(line, column, end_line=end_line, end_column=end_column, template=template)
    if kind == "replace_callee":
        return ReplaceCallee(line, column, code, end_line, end_column)
    if kind == "set_kwarg":
        return SetKwarg(line, column, name, code, end_line, end_column, positional=positional)
    if kind == "keep_args":
        return KeepArgs(line, column, tuple(keep), end_line, end_column)
    if kind == "wrap_arg":
        return WrapArg(line, column, template, index, name, end_line, end_column)
    if kind == "remove_stmt":
        return ReplaceWithPass(line)
    if kind in ("insert_after", "insert_before"):
        return InsertStmt(line, code, after=kind == "insert_after")
    if kind == "wrap_range":
        return WrapRange(line, template)
    if kind == "prelude":
        return Prelude(code)
    raise ValueError(f"unknown edit kind {kind!r}")


def edit_at(kind: str, span: Any, **kw: Any) -> StructuralEdit:
    """The edit of ``kind`` at a graph span (a :class:`~faultlens.analyzer.graph.Span` or its
    dict); raises :class:`MutationError` when the site has no span."""
    if span is None:
        raise MutationError(f"{kind}: no span for the site")
    if hasattr(span, "to_dict"):
        span = span.to_dict()
    return edit(kind, int(span["line"]), int(span.get("column", 0)), int(span.get("end_line", 0)),
                int(span.get("end_column", 0)), **kw)
