"""libcst source edits and annotated unified diffs.

Edits are addressed by source position (1-based line, 1-based column, as in the graph's
spans) and applied with libcst transformers, so that the result is always valid code:

* :class:`ReplaceExpr` — replace the expression starting at a position with new code;
* :class:`InsertStmt` — insert a statement before / after the statement at a line;
* :class:`RemoveStmt` — remove the statement at a line;
* :class:`RemoveArg` — remove the call argument starting at a position (e.g. an
  ``nn.Softmax()`` element of an ``nn.Sequential(...)``);
* :class:`AddKwarg` — add ``name=value`` to the call starting at a position.

:func:`annotated_diff` turns (old, new) into a unified diff whose ``---``/``+++`` paths are
``./<path relative to the current directory>`` — accepted both by ``git apply`` (which strips
one leading component, the ``.``) and by ``patch -p0`` — with one ``# faultlens: ...`` comment
line added inside each hunk (so the diff still applies, and the fixed file explains itself),
and a free-text description line before the headers (ignored by both tools).
"""
from __future__ import annotations

import ast
import difflib
import os
from dataclasses import dataclass
from typing import Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from faultlens.analyzer.pysyntax import split_lines


class EditError(Exception):
    """The edit's target was not found in the source."""


@dataclass(frozen=True)
class ReplaceExpr:
    line: int
    column: int
    code: str
    end_line: int | None = None
    end_column: int | None = None


@dataclass(frozen=True)
class InsertStmt:
    line: int
    code: str
    after: bool = False


@dataclass(frozen=True)
class RemoveStmt:
    line: int


@dataclass(frozen=True)
class RemoveArg:
    line: int
    column: int


@dataclass(frozen=True)
class AddKwarg:
    line: int
    column: int
    name: str
    value: str


Edit = ReplaceExpr | InsertStmt | RemoveStmt | RemoveArg | AddKwarg


class _Apply(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, edit: Edit):
        super().__init__()
        self.edit = edit
        self.done = False
        self._target: cst.CSTNode | None = None

    # -------------------------------------------------------- locate
    def _start(self, node: cst.CSTNode) -> tuple[int, int]:
        r = self.get_metadata(PositionProvider, node)
        return r.start.line, r.start.column + 1

    def _end(self, node: cst.CSTNode) -> tuple[int, int]:
        r = self.get_metadata(PositionProvider, node)
        return r.end.line, r.end.column + 1

    def on_visit(self, node: cst.CSTNode) -> bool:
        e = self.edit
        if self._target is None:
            try:
                start = self._start(node)
            except KeyError:
                return True
            if isinstance(e, (ReplaceExpr, AddKwarg)) and isinstance(node, cst.BaseExpression) \
                    and start == (e.line, e.column):
                if isinstance(e, AddKwarg) and not isinstance(node, cst.Call):
                    return True
                if isinstance(e, ReplaceExpr) and e.end_line is not None:
                    if self._end(node) != (e.end_line, e.end_column):
                        return True  # an inner/outer expression with the same start: keep looking
                self._target = node
            elif isinstance(e, RemoveArg) and isinstance(node, cst.Arg) and start == (e.line, e.column):
                self._target = node
            elif isinstance(e, (InsertStmt, RemoveStmt)) and isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)) \
                    and start[0] == e.line:
                self._target = node
        return True

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        # RemoveArg: drop the argument and keep the layout — when it is the last one, the previous
        # argument takes over its comma (and so the line break before the closing parenthesis)
        if not isinstance(self.edit, RemoveArg) or self.done or self._target is None:
            return updated
        idx = next((i for i, a in enumerate(original.args) if a is self._target), None)
        if idx is None:
            return updated
        self.done = True
        args = list(updated.args)
        removed = args.pop(idx)
        if idx == len(args) and idx > 0:  # it was the last argument
            args[idx - 1] = args[idx - 1].with_changes(comma=removed.comma)
        return updated.with_changes(args=args)

    def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode):
        if isinstance(self.edit, RemoveArg) and isinstance(original, cst.Call):
            return self.leave_Call(original, updated)
        if original is not self._target or self.done:
            return updated
        if isinstance(self.edit, RemoveArg):
            return updated  # handled by the enclosing call
        self.done = True
        e = self.edit
        if isinstance(e, ReplaceExpr):
            return cst.parse_expression(e.code)
        if isinstance(e, AddKwarg):
            args = list(updated.args)
            if args and args[-1].comma is cst.MaybeSentinel.DEFAULT:
                args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            args.append(cst.Arg(value=cst.parse_expression(e.value), keyword=cst.Name(e.name),
                                equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                      whitespace_after=cst.SimpleWhitespace(""))))
            return updated.with_changes(args=args)
        if isinstance(e, RemoveStmt):
            return cst.RemoveFromParent()
        if isinstance(e, InsertStmt):
            new = cst.parse_statement(e.code)
            return cst.FlattenSentinel([updated, new] if e.after else [new, updated])
        return updated


def apply_edits(source: str, edits: Sequence[Edit]) -> str:
    """Apply ``edits`` one after another (positions refer to the ORIGINAL source: edits are
    applied bottom-up so earlier positions stay valid)."""
    def key(e):
        return (e.line, getattr(e, "column", 0), 1 if isinstance(e, InsertStmt) and e.after else 0)
    code = source
    for e in sorted(edits, key=key, reverse=True):
        wrapper = MetadataWrapper(cst.parse_module(code))
        t = _Apply(e)
        new = wrapper.visit(t)
        if not t.done:
            raise EditError(f"no target for {e}")
        code = new.code
    return code


# ---------------------------------------------------------------- diffs
def _string_lines(source: str) -> set[int]:
    """Lines that are inside (not the first line of) a multi-line string literal."""
    out: set[int] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return out
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes)) and n.end_lineno and n.end_lineno > n.lineno:
            out.update(range(n.lineno + 1, n.end_lineno + 1))
    return out


def annotate(old: str, new: str, message: str, context: int = 3) -> str:
    """Insert ``# faultlens: message`` before the first changed line of each group of changes
    (groups closer than ``2*context`` lines share one comment, as they share one hunk)."""
    a, b = split_lines(old, keepends=True), split_lines(new, keepends=True)
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    firsts: list[int] = []  # 0-based index into b where a comment goes
    last_end = None
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        if last_end is not None and j1 - last_end <= 2 * context:
            last_end = max(j2, j1 + 1)
            continue
        firsts.append(j1)
        last_end = max(j2, j1 + 1)
    inside = _string_lines(new)
    msg = " ".join(message.split())
    for j in reversed(firsts):
        if (j + 1) in inside:
            continue
        ref = b[j] if j < len(b) else (b[-1] if b else "")
        indent = ref[: len(ref) - len(ref.lstrip())] if ref.strip() else ""
        b.insert(j, f"{indent}# faultlens: {msg}\n")
    return "".join(b)


def diff_path(abspath: str, cwd: str | None = None) -> str:
    cwd = cwd or os.getcwd()
    rel = os.path.relpath(abspath, cwd)
    if rel.startswith(".."):
        return abspath
    return "./" + rel


def unified(old: str, new: str, path: str, description: str = "") -> str:
    """A unified diff of one file with ``path`` in both headers, preceded by a free-text
    description line (``faultlens: ...``)."""
    lines = list(difflib.unified_diff(split_lines(old, keepends=True), split_lines(new, keepends=True),
                                      fromfile=path, tofile=path, n=3))
    if not lines:
        return ""
    fixed = []
    for ln in lines:
        fixed.append(ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n")
    head = f"faultlens: {' '.join(description.split())}\n" if description else ""
    return head + "".join(fixed)
