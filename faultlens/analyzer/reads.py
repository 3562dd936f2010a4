"""Who else reads a value: is a hyperparameter's definition shared by other code?

A fix that edits a value where it is defined changes everything that reads it. When the
definition is read only by the flagged consumer (``lr = 0.5`` then ``SGD(..., lr=lr)``), editing
the definition is the natural fix; when other code reads it too (an argparse ``--lr`` that a
hand-written update also uses, a variable printed or handed to a scheduler), the fix must edit
the consumer's own argument instead, or it changes code nobody flagged.

``read_elsewhere(graph, definition, consumer)`` answers that from the graph (``uses`` edges of
the definition and of its aliases) and, because the graph records only the reads it models,
from the source: the number of reads of the definition's name (an argparse destination read as
``<args>.<dest>``, a variable read by name, a config key read by subscript) across the program's
files. More than one read means shared. The count errs on the side of "shared" (a read of the
same name in another scope counts), which only ever moves a fix to the consumer's argument.

Standard library only: it is on the lint path.
"""
from __future__ import annotations

import ast
import os
from functools import lru_cache
from typing import Any

from faultlens.errors import FaultlensError


@lru_cache(maxsize=64)
def _tree(path: str, mtime: float) -> ast.Module | None:
    try:
        from faultlens.notebook import read_text  # a notebook's program, any other file's text
        return ast.parse(read_text(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError, FaultlensError):
        return None


def _trees(graph: Any) -> list[ast.Module]:
    root = getattr(graph, "root", None) or "."
    out = []
    for rel in getattr(graph, "files", None) or []:
        p = rel if os.path.isabs(rel) else os.path.join(root, rel)
        try:
            t = _tree(os.path.abspath(p), os.path.getmtime(p))
        except OSError:
            continue
        if t is not None:
            out.append(t)
    return out


def _read_kind(definition: Any) -> tuple[str, str] | None:
    """('attr', dest) | ('name', var) | ('key', key): how the program reads this definition."""
    source = definition.get("source")
    key = definition.get("key")
    if not isinstance(key, str) or not key:
        return None
    if source == "argparse":
        return ("attr", key.rsplit(".", 1)[-1])
    if "[" in key:  # config["lr"]
        inner = key[key.index("[") + 1:].rstrip("]").strip("'\"")
        return ("key", inner) if inner else None
    if key.isidentifier():
        return ("name", key)
    if "." in key and all(p.isidentifier() for p in key.split(".")):
        return ("attr", key.rsplit(".", 1)[-1])
    return None


def count_reads(graph: Any, definition: Any) -> int | None:
    """Reads of ``definition``'s value by name across the program's files (None: unknown)."""
    kind = _read_kind(definition)
    if kind is None:
        return None
    how, name = kind
    n = 0
    for tree in _trees(graph):
        for node in ast.walk(tree):
            if how == "attr" and isinstance(node, ast.Attribute) and node.attr == name \
                    and isinstance(node.ctx, ast.Load):
                n += 1
            elif how == "name" and isinstance(node, ast.Name) and node.id == name \
                    and isinstance(node.ctx, ast.Load):
                n += 1
            elif how == "key" and isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) \
                    and isinstance(node.slice, ast.Constant) and node.slice.value == name:
                n += 1
    return n


def _within(span: dict | None, outer: dict | None) -> bool:
    if not span or not outer or span.get("path") != outer.get("path"):
        return False
    return (outer["line"], outer["column"]) <= (span["line"], span["column"]) and \
        (span["end_line"], span["end_column"]) <= (outer["end_line"], outer["end_column"])


def read_elsewhere(graph: Any, definition: Any, consumer: Any) -> bool:
    """True when code other than ``consumer`` reads the value that ``definition`` sets."""
    if graph is None or definition is None or consumer is None:
        return False
    outer = consumer.get("expr_span") or consumer.span.to_dict()
    if _within(definition.get("value_span"), outer):
        return False  # a literal written in the consumer's own call
    # the graph: uses of the definition and of every alias derived from it
    seen, stack, users = set(), [definition.id], set()
    while stack:
        h = stack.pop()
        if h in seen:
            continue
        seen.add(h)
        users.update(v for u, v, d in graph.edges("uses") if u == h)
        stack.extend(v for u, v, d in graph.edges("defines") if u == h)
    if users - {consumer.id}:
        return True
    n = count_reads(graph, definition)
    return n is not None and n > 1
