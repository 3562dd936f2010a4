"""Small source queries the localizer needs beyond the graph (stdlib ``ast`` only).

All positions are 1-based lines and 1-based columns (``ast`` columns are 0-based; converted
here), end columns one past the last character, like :class:`faultlens.analyzer.graph.Span`.
"""
from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

from faultlens.analyzer.pysyntax import split_lines

#: statements that load, generate or select data (a loader call, a random tensor, ``.data``)
DATA_CALL = re.compile(
    r"\b(load_\w+|make_\w+|fetch_\w+|read_csv|read_\w+|np\.load|torch\.load|loadtxt|genfromtxt|"
    r"torch\.rand\w*|np\.random\.\w+|rng\.\w+|from_numpy|torch\.tensor|TensorDataset)\b|\.data\b|\.target\b"
)


@dataclass(frozen=True)
class Pos:
    line: int
    column: int
    end_line: int
    end_column: int


@lru_cache(maxsize=64)
def _parse(path: str, mtime: float) -> tuple[str, ast.Module | None]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return "", None
    try:
        return text, ast.parse(text)
    except SyntaxError:
        return text, None


def parse(path: str) -> tuple[str, ast.Module | None]:
    try:
        m = os.path.getmtime(path)
    except OSError:
        return "", None
    return _parse(path, m)


def lines(path: str) -> list[str]:
    return split_lines(parse(path)[0])


def pos_of(node: ast.AST) -> Pos:
    return Pos(node.lineno, node.col_offset + 1, getattr(node, "end_lineno", node.lineno) or node.lineno,
               (getattr(node, "end_col_offset", node.col_offset) or 0) + 1)


def _walk_bodies(tree: ast.AST) -> Iterator[list[ast.stmt]]:
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            b = getattr(node, name, None)
            if isinstance(b, list) and b and isinstance(b[0], ast.stmt):
                yield b
        if isinstance(node, ast.Try):
            for h in node.handlers:
                yield h.body


def stmt_at(path: str, line: int) -> tuple[ast.stmt, list[ast.stmt], int] | None:
    """The innermost statement starting at ``line`` with its parent body and index."""
    _, tree = parse(path)
    if tree is None:
        return None
    best = None
    for body in _walk_bodies(tree):
        for i, st in enumerate(body):
            if st.lineno == line:
                # prefer the innermost (the deepest body that has it)
                if best is None or st.col_offset >= best[0].col_offset:
                    best = (st, body, i)
    return best


def stmt_containing(path: str, line: int) -> tuple[ast.stmt, list[ast.stmt], int] | None:
    """The innermost simple statement whose range contains ``line``."""
    _, tree = parse(path)
    if tree is None:
        return None
    best = None
    for body in _walk_bodies(tree):
        for i, st in enumerate(body):
            if st.lineno <= line <= (st.end_lineno or st.lineno):
                if best is None or (st.end_lineno - st.lineno) <= (best[0].end_lineno - best[0].lineno):
                    best = (st, body, i)
    return best


def text_at(path: str, span: dict[str, Any]) -> str | None:
    """The source text of a one-line span (1-based line and column, end column exclusive)."""
    ls = lines(path)
    line = int(span.get("line") or 0)
    if not 1 <= line <= len(ls) or int(span.get("end_line") or line) != line:
        return None
    return ls[line - 1][int(span["column"]) - 1:int(span["end_column"]) - 1]


def first_body_stmt(path: str, line: int) -> ast.stmt | None:
    """The first statement in the body of the compound statement (loop, with, def) at ``line``."""
    found = stmt_at(path, line)
    if found is None:
        return None
    st = found[0]
    body = getattr(st, "body", None)
    if isinstance(body, list) and body:
        return body[0]
    return None


def next_stmt(path: str, line: int) -> tuple[ast.stmt | None, ast.stmt | None]:
    """(the statement at ``line``, the statement after it in the same body or None)."""
    found = stmt_containing(path, line)
    if found is None:
        return None, None
    st, body, i = found
    return st, (body[i + 1] if i + 1 < len(body) else None)


def self_calls(path: str, class_name: str, attr: str, method: str | None = "forward") -> list[Pos]:
    """Positions of the statements in ``class_name.method`` (``None``: any method but
    ``__init__``) that call ``self.<attr>(...)``."""
    _, tree = parse(path)
    if tree is None:
        return []
    out = []
    short = class_name.split(".")[-1]
    for cls in ast.walk(tree):
        if not (isinstance(cls, ast.ClassDef) and cls.name == short):
            continue
        for fn in cls.body:
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    fn.name == method or (method is None and fn.name != "__init__")):
                for body in _walk_bodies(fn):
                    for st in body:
                        if isinstance(st, (ast.If, ast.For, ast.While, ast.With, ast.Try)):
                            continue
                        for c in ast.walk(st):
                            if (isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
                                    and c.func.attr == attr and isinstance(c.func.value, ast.Name)
                                    and c.func.value.id == "self"):
                                out.append(pos_of(st))
                                break
    return sorted(set(out), key=lambda p: (p.line, p.column))


def data_sources(path: str, names: set[str], depth: int = 4) -> list[Pos]:
    """Assignment statements (module level or in functions) that produce ``names``, followed
    back through the names used on their right-hand side up to ``depth`` levels; only those
    that load, generate, select or scale data are kept (calls, ``.data``, indexing, arithmetic).
    Ordered by distance from ``names`` (nearest first), then by line."""
    _, tree = parse(path)
    if tree is None:
        return []
    assigns: dict[str, list[ast.stmt]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        assigns.setdefault(n.id, []).append(node)
    text = parse(path)[0]
    seen: set[int] = set()
    found: list[tuple[int, Pos]] = []
    frontier = set(names)
    for level in range(depth):
        nxt: set[str] = set()
        for name in sorted(frontier):
            for st in assigns.get(name, []):
                if id(st) in seen:
                    continue
                seen.add(id(st))
                seg = ast.get_source_segment(text, st) or ""
                value = getattr(st, "value", None)
                if value is not None:
                    for n in ast.walk(value):
                        if isinstance(n, ast.Name):
                            nxt.add(n.id)
                if DATA_CALL.search(seg) or isinstance(value, (ast.BinOp, ast.Call, ast.Subscript)):
                    found.append((level, pos_of(st)))
        frontier = nxt - names
    out: list[Pos] = []
    for _, p in sorted(found, key=lambda t: (t[0], t[1].line)):
        if p not in out:
            out.append(p)
    return out


#: transforms that change the scale of the inputs (torchvision.transforms, scikit-learn's scalers):
#: where a preprocessing fault is usually fixed
SCALING_TRANSFORMS = frozenset({"Normalize", "ToTensor", "Lambda", "StandardScaler", "MinMaxScaler",
                                "RobustScaler", "MaxAbsScaler", "Normalizer", "ConvertImageDtype"})


def transform_sites(path: str) -> list[Pos]:
    """Where inputs are transformed, at their own lines (a ``Compose([...])`` spans several):
    every call of a scaling transform (``transforms.Normalize(...)``, ``StandardScaler()``) and
    every ``transform=`` argument given to a call (a dataset's construction; a train and a test
    set built with different transforms differ there). Source order."""
    _, tree = parse(path)
    if tree is None:
        return []
    out: list[Pos] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else "")
        if name in SCALING_TRANSFORMS:
            out.append(pos_of(node))
        for kw in node.keywords:
            if kw.arg == "transform":
                out.append(pos_of(kw.value))
    uniq: list[Pos] = []
    for p in sorted(out, key=lambda p: (p.line, p.column)):
        if all(q.line != p.line for q in uniq):
            uniq.append(p)
    return uniq


def first_arg_names(expr_text: str) -> set[str]:
    """Names in the first positional argument of a call expression (the inputs of
    ``TensorDataset(X, y)``), else all names in the expression."""
    try:
        tree = ast.parse(expr_text.strip(), mode="eval")
    except SyntaxError:
        return names_in(expr_text)
    if isinstance(tree.body, ast.Call) and tree.body.args:
        return {n.id for n in ast.walk(tree.body.args[0]) if isinstance(n, ast.Name)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def names_in(expr_text: str) -> set[str]:
    try:
        tree = ast.parse(expr_text.strip(), mode="eval")
    except SyntaxError:
        return set(re.findall(r"[A-Za-z_]\w*", expr_text))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
