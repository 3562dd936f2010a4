"""A small, fast per-file index over the standard-library ``ast`` tree.

The program graph (``faultlens.analyzer.build_graph``) gives the rules their objects (models,
layers, losses, optimizers, loops, training calls) and how they connect. A few questions the
rules ask are local data flow inside one function ("what expression produced the tensor
passed to this loss call?", "is there a manual ``p.grad = None`` in this loop?"). Those are
answered here from ``ast`` (C parser, positions included, ~100x faster than libcst metadata),
keyed by the graph's spans. Positions returned are 1-based lines and 1-based *character*
columns, end exclusive (the graph's convention); ``ast``'s UTF-8 byte offsets are converted.
"""
from __future__ import annotations

import ast
import re
from bisect import bisect_right
from collections import deque
from typing import Iterator

from faultlens.analyzer.pysyntax import split_lines

#: tensor methods / functions that pass a tensor through without changing what kind of
#: values it holds (shape or dtype changes only)
PASSTHROUGH_METHODS = frozenset({
    "squeeze", "unsqueeze", "view", "reshape", "flatten", "float", "double", "half", "contiguous",
    "to", "cpu", "cuda", "type", "permute", "transpose", "view_as", "reshape_as", "clone", "t",
})

_MANUAL_UPDATE_METHODS = frozenset({"add_", "sub_", "copy_", "addcdiv_", "addcmul_", "mul_"})


def dotted(node: ast.AST | None) -> str | None:
    """``torch.nn.functional.softmax`` for an Attribute/Name chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def call_name(call: ast.Call) -> str:
    """The last component of the called name (``softmax`` for ``F.softmax`` / ``x.softmax``)."""
    f = call.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Call):  # nn.Softmax(dim=1)(x)
        return call_name(f)
    return ""


def is_module_path(node: ast.AST) -> bool:
    """True for ``F`` / ``torch`` / ``torch.nn.functional``-like receivers (a module, not a
    tensor): used to tell ``F.softmax(x)`` (input = first argument) from ``x.softmax()``."""
    name = dotted(node)
    if name is None:
        return False
    head = name.split(".")[0]
    return head in {"F", "torch", "nn", "functional", "tf"} or name.endswith("functional")


class FileFacts:
    """Index of one source file."""

    def __init__(self, source: str, path: str = "<source>", tree: ast.Module | None = None):
        self.path = path
        self.source = source
        self.lines = split_lines(source, keepends=True)
        self.tree = ast.parse(source) if tree is None else tree  # ``tree``: ast.parse(source), done already
        self.parent: dict[ast.AST, ast.AST] = {}
        self.functions: list[ast.AST] = []
        self.calls: list[ast.Call] = []
        self.assigns: list[tuple[str, int, ast.AST, ast.AST]] = []  # (name, line, value, stmt)
        self.stmts: list[ast.stmt] = []
        todo = deque([self.tree])  # ast.walk's order, each node's children listed once
        while todo:
            parent = todo.popleft()
            for child in ast.iter_child_nodes(parent):
                self.parent[child] = parent
                todo.append(child)
            if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                self.functions.append(parent)
            elif isinstance(parent, ast.Call):
                self.calls.append(parent)
            if isinstance(parent, ast.stmt):
                self.stmts.append(parent)
            if isinstance(parent, ast.Assign):
                for tgt in parent.targets:
                    for name in _target_names(tgt):
                        self.assigns.append((name, parent.lineno, parent.value, parent))
            elif isinstance(parent, (ast.AnnAssign, ast.AugAssign)) and parent.value is not None:
                for name in _target_names(parent.target):
                    self.assigns.append((name, parent.lineno, parent.value, parent))
        self.stmts.sort(key=lambda s: (s.lineno, s.col_offset))
        self._stmt_lines = [s.lineno for s in self.stmts]
        self.calls.sort(key=lambda c: (c.lineno, c.col_offset))
        self._call_lines = [c.lineno for c in self.calls]
        self._all = sorted((n for n in self.parent if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset))
        self._all_lines = [n.lineno for n in self._all]
        # assignments by name, with their enclosing function computed once
        self._assigns_by_name: dict[str, list[tuple[int, ast.AST, ast.AST, ast.AST | None]]] = {}
        for name, ln, value, stmt in self.assigns:
            self._assigns_by_name.setdefault(name, []).append((ln, value, stmt, self._enclosing_def(stmt)))
        self._fn_by_line: dict[int, ast.AST | None] = {}

    # ------------------------------------------------------------------ positions
    def char_col(self, line: int, byte_col: int) -> int:
        """0-based character column of a 0-based UTF-8 byte column on 1-based ``line``."""
        if not 1 <= line <= len(self.lines):
            return byte_col
        text = self.lines[line - 1]
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", "replace"))

    def pos(self, node: ast.AST) -> tuple[int, int, int, int]:
        """``(line, column, end_line, end_column)``: 1-based, end exclusive (graph convention)."""
        line, eline = node.lineno, node.end_lineno or node.lineno
        col = self.char_col(line, node.col_offset) + 1
        ecol = self.char_col(eline, node.end_col_offset if node.end_col_offset is not None else node.col_offset) + 1
        return line, col, eline, ecol

    def text(self, node: ast.AST) -> str:
        """Source text of a node (``ast.get_source_segment`` re-splits the whole file on
        every call; this slices the pre-split lines)."""
        if getattr(node, "end_lineno", None) is None:
            return ""
        return self.segment(*self.pos(node))

    def segment(self, line: int, col: int, end_line: int, end_col: int) -> str:
        """Source text between two graph-style positions."""
        if line == end_line:
            return self.lines[line - 1][col - 1:end_col - 1] if line <= len(self.lines) else ""
        out = [self.lines[line - 1][col - 1:]]
        out.extend(self.lines[line:end_line - 1])
        out.append(self.lines[end_line - 1][:end_col - 1])
        return "".join(out)

    def indent_of(self, line: int) -> str:
        if not 1 <= line <= len(self.lines):
            return ""
        text = self.lines[line - 1]
        return text[: len(text) - len(text.lstrip(" \t"))]

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 1 <= line <= len(self.lines) else ""

    # ------------------------------------------------------------------ structure
    def enclosing_function(self, node_or_line) -> ast.AST | None:
        if isinstance(node_or_line, int):
            if node_or_line in self._fn_by_line:
                return self._fn_by_line[node_or_line]
            best = None
            for fn in self.functions:
                if isinstance(fn, ast.Lambda):
                    continue
                if fn.lineno <= node_or_line <= (fn.end_lineno or fn.lineno):
                    if best is None or fn.lineno >= best.lineno:
                        best = fn
            self._fn_by_line[node_or_line] = best
            return best
        return self._enclosing_def(node_or_line)

    def _enclosing_def(self, node_or_line) -> ast.AST | None:
        node = self.parent.get(node_or_line)
        while node is not None and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node = self.parent.get(node)
        return node

    def statement_at(self, line: int, col: int | None = None) -> ast.stmt | None:
        """The innermost statement that starts on ``line`` (and column, when given)."""
        best = None
        i = bisect_right(self._stmt_lines, line) - 1
        while i >= 0:      # backwards over the statements that start on ``line`` (no list copy)
            s = self.stmts[i]
            i -= 1
            if s.lineno != line:
                break
            if col is not None and self.char_col(s.lineno, s.col_offset) + 1 != col:
                continue
            if best is None or s.col_offset >= best.col_offset:
                best = s
        return best

    def enclosing_statement(self, node: ast.AST) -> ast.stmt | None:
        while node is not None and not isinstance(node, ast.stmt):
            node = self.parent.get(node)
        return node

    def calls_between(self, line: int, end_line: int) -> Iterator[ast.Call]:
        """Calls that start and end inside the line range, in source order."""
        lo = bisect_right(self._call_lines, line - 1)
        hi = bisect_right(self._call_lines, end_line)
        for c in self.calls[lo:hi]:
            if (c.end_lineno or c.lineno) <= end_line:
                yield c

    def nodes_between(self, line: int, end_line: int, types) -> Iterator[ast.AST]:
        lo = bisect_right(self._all_lines, line - 1)
        hi = bisect_right(self._all_lines, end_line)
        for n in self._all[lo:hi]:
            if isinstance(n, types):
                yield n

    def find_call(self, line: int, end_line: int, *, func: str | None = None, name: str | None = None) -> ast.Call | None:
        """The first call in the line range whose callee text is ``func`` or whose last
        called name is ``name``."""
        cands = list(self.calls_between(line, end_line))
        for c in cands:
            if func is not None and self.text(c.func) == func:
                return c
        for c in cands:
            if name is not None and call_name(c) == name:
                return c
        return None

    # ------------------------------------------------------------------ data flow
    def assignment_before(self, name: str, line: int, scope: ast.AST | None) -> tuple[ast.AST, ast.AST] | None:
        """The value (and statement) of the last ``name = value`` before ``line`` in the same
        function (or module level when ``scope`` is None)."""
        best = None
        for ln, value, stmt, fn in self._assigns_by_name.get(name, ()):
            if ln >= line or fn is not scope:
                continue
            if best is None or ln >= best[0]:
                best = (ln, value, stmt)
        return None if best is None else (best[1], best[2])

    def producer(self, expr: ast.AST, line: int, scope: ast.AST | None, depth: int = 0) -> tuple[str, ast.AST | None]:
        """Classify what produced a tensor expression, following passthrough methods and
        assignments inside the function. Returns ``(kind, node)`` with kind one of
        ``softmax``, ``log_softmax``, ``sigmoid``, ``detached``, ``call`` (any other call,
        e.g. a forward ``model(x)``), ``name`` (unresolved name), ``other``."""
        if depth > 8 or expr is None:
            return "other", expr
        if isinstance(expr, ast.Subscript):
            return self.producer(expr.value, line, scope, depth + 1)
        if isinstance(expr, ast.Attribute) and expr.attr == "data":
            return "detached", expr
        if isinstance(expr, ast.Name):
            found = self.assignment_before(expr.id, line, scope)
            if found is None:
                return "name", expr
            value, stmt = found
            if isinstance(stmt, ast.AugAssign):
                return "other", value
            return self.producer(value, stmt.lineno, scope, depth + 1)
        if isinstance(expr, ast.Call):
            nm = call_name(expr)
            f = expr.func
            method_form = isinstance(f, ast.Attribute) and not is_module_path(f.value)
            if nm in ("softmax", "Softmax"):
                return "softmax", expr
            if nm in ("log_softmax", "LogSoftmax"):
                return "log_softmax", expr
            if nm in ("sigmoid", "Sigmoid", "expit"):
                return "sigmoid", expr
            if nm == "log" and expr.args:
                inner, node = self.producer(expr.args[0], line, scope, depth + 1)
                if inner == "softmax":
                    return "log_softmax", expr
                return "other", expr
            if nm in ("detach",) and method_form:
                return "detached", expr
            if nm in PASSTHROUGH_METHODS and method_form:
                return self.producer(f.value, line, scope, depth + 1)
            return "call", expr
        return "other", expr

    # ------------------------------------------------------------------ patterns
    def manual_grad_zeroing(self, line: int, end_line: int) -> bool:
        """``p.grad = None`` / ``p.grad.zero_()`` / ``p.grad.data.zero_()`` / ``p.grad.detach_()``
        within the line range (manual zero_grad)."""
        for n in self.nodes_between(line, end_line, (ast.Assign, ast.Call)):
            if isinstance(n, ast.Assign):
                if any(isinstance(t, ast.Attribute) and t.attr == "grad" for t in n.targets):
                    return True
            elif call_name(n) in ("zero_", "detach_", "fill_") and ".grad" in self.text(n.func):
                return True
        return False

    def manual_parameter_update(self, line: int, end_line: int) -> bool:
        """A hand-written optimizer step in the range: ``p.data.add_(p.grad, alpha=-lr)``,
        ``p -= lr * p.grad``, ``p.data = p.data - lr * p.grad.data``, ``p.copy_(p - lr*p.grad)``."""
        for n in self.nodes_between(line, end_line, (ast.AugAssign, ast.Assign, ast.Call)):
            if isinstance(n, ast.AugAssign):
                if ".grad" in self.text(n.value) or "grad" in self.text(n.value):
                    return True
            elif isinstance(n, ast.Assign):
                if ".grad" in self.text(n.value) and not any(
                    isinstance(t, ast.Attribute) and t.attr == "grad" for t in n.targets
                ):
                    return True
            elif call_name(n) in _MANUAL_UPDATE_METHODS and "grad" in self.text(n):
                return True
        return False

    def freezes_parameters(self) -> bool:
        """``requires_grad = False`` / ``requires_grad_(False)`` anywhere in the file."""
        return bool(re.search(r"requires_grad\s*=\s*False|requires_grad_\(\s*False\s*\)", self.source))


def _target_names(tgt: ast.AST) -> list[str]:
    if isinstance(tgt, ast.Name):
        return [tgt.id]
    if isinstance(tgt, ast.Attribute):
        name = dotted(tgt)
        return [name] if name else []
    if isinstance(tgt, (ast.Tuple, ast.List)):
        out: list[str] = []
        for el in tgt.elts:
            out.extend(_target_names(el))
        return out
    return []
