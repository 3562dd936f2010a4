"""Shared assertions for analyzer tests."""
from __future__ import annotations

from pathlib import Path

from faultlens.analyzer.graph import ProgramGraph, Span
from faultlens.analyzer.source import span_text


def text_at(root: Path, span: dict | Span) -> str:
    sp = span if isinstance(span, Span) else Span.from_dict(span)
    lines = (root / sp.path).read_text(encoding="utf-8").splitlines(keepends=True)
    return span_text(lines, sp)


def one(g: ProgramGraph, kind: str, name: str | None = None, **where):
    found = [n for n in g.nodes(kind, **where) if name is None or n.name == name]
    assert len(found) == 1, f"expected one {kind} {where}, got {[n.id for n in found]}"
    return found[0]


def edges(g: ProgramGraph, kind: str) -> set[tuple[str, str]]:
    return {(u, v) for u, v, _ in g.edges(kind)}


def hp_of(g: ProgramGraph, consumer: str, arg: str) -> list:
    """Hyperparameter nodes with a ``uses`` edge into ``consumer`` for ``arg``."""
    return [g.node(u) for u, v, d in g.edges("uses") if v == consumer and d.get("arg") == arg]


def check_spans(g: ProgramGraph, root: Path) -> None:
    """Every span slices the file to the text the graph claims it covers."""
    for n in g.nodes():
        stmt = text_at(root, n.span)
        assert stmt.strip(), n.id
        first = n.snippet.split(" ...")[0] if n.snippet.endswith(" ...") else n.snippet
        assert stmt.startswith(first[:40]), (n.id, stmt[:60], n.snippet)
        vs = n.get("value_span")
        if vs:
            assert text_at(root, vs) == n.get("expr"), (n.id, text_at(root, vs), n.get("expr"))
        for key, sp in (n.get("arg_spans") or {}).items():
            t = text_at(root, sp)
            assert t, (n.id, key)
            if not (n.get("args_resolved") or {}).get(key, True):
                assert t == n.get("args")[key], (n.id, key, t)
        es = n.get("expr_span")
        if es:
            sp = Span.from_dict(es)
            assert (sp.line, sp.column) >= (n.span.line, n.span.column) or n.kind == "hyperparameter" \
                or n.get("factory"), n.id
