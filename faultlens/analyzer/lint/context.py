"""What a rule sees: the program graph plus per-file ``ast`` facts and a few graph queries
shared by several rules (what a model's forward ends with, which calls live in a loop, ...)."""
from __future__ import annotations

import ast
import os
from typing import Any, Iterable

from faultlens.analyzer.lint.facts import FileFacts
from faultlens.errors import FaultlensError
from faultlens.taxonomy import ACTIVATION_OUT, AFFINE_LAYERS

#: layer types / ops that do not change what kind of values flow through them
TRANSPARENT_LAYERS = frozenset({
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "Flatten", "Unflatten",
    "Identity",
})
TRANSPARENT_OPS = frozenset({
    "view", "reshape", "flatten", "squeeze", "unsqueeze", "dropout", "permute", "transpose",
    "contiguous", "view_as", "float", "double", "to", "clone", "t",
})
# AFFINE_LAYERS (affine layers) and ACTIVATION_OUT (output activation -> what it produces):
# faultlens.taxonomy


def span_tuple(span: Any) -> tuple[str, int, int, int, int] | None:
    if span is None:
        return None
    if isinstance(span, dict):
        return (span["path"], int(span["line"]), int(span["column"]), int(span["end_line"]), int(span["end_column"]))
    return (span.path, span.line, span.column, span.end_line, span.end_column)


class LintContext:
    """One program graph under lint. ``sources`` maps graph-relative paths to their text
    (filled lazily from ``graph.root`` when not given)."""

    def __init__(self, graph, sources: dict[str, str] | None = None):
        self.graph = graph
        self.sources: dict[str, str] = dict(sources or {})
        self._facts: dict[str, FileFacts | None] = {}
        self._memo: dict[tuple, list] = {}

    # ----------------------------------------------------------------- files
    def source(self, rel: str) -> str | None:
        if rel not in self.sources:
            full = rel if os.path.isabs(rel) else os.path.join(self.graph.root or ".", rel)
            try:
                from faultlens.notebook import read_text  # a notebook's program, else the file
                self.sources[rel] = read_text(full)
            except (OSError, UnicodeDecodeError, FaultlensError):
                self.sources[rel] = None  # type: ignore[assignment]
        return self.sources[rel]

    def facts(self, rel: str) -> FileFacts | None:
        if rel not in self._facts:
            src = self.source(rel)
            try:
                self._facts[rel] = None if src is None else FileFacts(src, rel)
            except SyntaxError:
                self._facts[rel] = None
        return self._facts[rel]

    def location(self, where) -> tuple[str, int, int, int, int]:
        if isinstance(where, tuple):
            return where  # type: ignore[return-value]
        if hasattr(where, "attrs"):  # graph Node
            t = span_tuple(where.attrs.get("expr_span")) or span_tuple(where.span)
            return t  # type: ignore[return-value]
        return span_tuple(where)  # type: ignore[return-value]

    def ast_location(self, rel: str, node: ast.AST) -> tuple[str, int, int, int, int]:
        facts = self.facts(rel)
        line, col, eline, ecol = facts.pos(node)  # type: ignore[union-attr]
        return (rel, line, col, eline, ecol)

    # ----------------------------------------------------------------- graph queries
    def nodes(self, kind: str | None = None, **where: Any):
        """``graph.nodes`` memoised (the graph does not change while rules run)."""
        try:
            key = (kind, tuple(sorted(where.items())))
            hash(key)
        except TypeError:
            return self.graph.nodes(kind, **where)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = self.graph.nodes(kind, **where)
        return hit

    def node(self, nid: str | None):
        if nid is None or nid not in self.graph:
            return None
        return self.graph.node(nid)

    def calls(self, method: str | None = None) -> list:
        return self.nodes("call", method=method) if method else self.nodes("call")

    def target(self, call) -> Any:
        """The node a call acts on (``targets`` edge, else the ``target`` attribute)."""
        succ = self.graph.successors(call.id, "targets")
        if succ:
            return succ[0]
        return self.node(call.get("target"))

    def model_class(self, model) -> Any:
        if model is None:
            return None
        if model.kind == "module_class":
            return model
        succ = self.graph.successors(model.id, "instance_of")
        if succ:
            return succ[0]
        cls = model.get("class")
        return self.node(cls) if isinstance(cls, str) else None

    def class_layers(self, class_id: str, _seen: set | None = None) -> list:
        """All layers of a module class, including those of local classes it contains or
        derives from (recursively)."""
        seen = _seen if _seen is not None else set()
        if class_id in seen:
            return []
        seen.add(class_id)
        out = []
        for lay in self.nodes("layer", owner=class_id):
            out.append(lay)
            if lay.get("class_ref"):
                out.extend(self.class_layers(lay.get("class_ref"), seen))
        cls = self.node(class_id)
        for base in (cls.get("local_bases") or []) if cls else []:
            out.extend(self.class_layers(base, seen))
        return out

    def class_ops(self, class_id: str) -> list:
        return self.nodes("op", owner=class_id)

    def sequential_children(self, layer) -> list:
        """Children of a container (a Sequential layer, or a container model such as
        ``model = nn.Sequential(...)``), in order."""
        kids = self.nodes("layer", parent=layer.id)
        if not kids:
            kids = [k for k in self.graph.flow(layer.id) if k.kind == "layer"]
        if not kids and layer.kind == "model":
            kids = self.nodes("layer", owner=layer.id)
        return kids

    def containers(self) -> list:
        """Sequential layers and container models."""
        out = list(self.nodes("layer", layer_type="Sequential"))
        for m in self.nodes("model"):
            if (m.get("model_type") or str(m.get("class") or "").rsplit(".", 1)[-1]) in ("Sequential",):
                out.append(m)
        return out

    def output_of_class(self, class_id: str, _depth: int = 0) -> tuple[str | None, Any]:
        """What a module class's forward ends with: ``softmax``/``log_softmax``/``sigmoid``
        (an output activation), ``affine`` (a Linear/Conv layer: unbounded logits), ``other``
        (anything else), or None when the forward is unknown. Returns ``(kind, node)``."""
        if _depth > 6:
            return None, None
        items = self.graph.flow(class_id)
        if not items:
            cls = self.node(class_id)
            for base in (cls.get("local_bases") or []) if cls else []:
                kind, node = self.output_of_class(base, _depth + 1)
                if kind is not None:
                    return kind, node
            return None, None
        return self._classify_tail(list(items), _depth)

    def _classify_tail(self, items: list, depth: int) -> tuple[str | None, Any]:
        for item in reversed(items):
            if item.kind == "op":
                op = item.get("op") or ""
                if op in TRANSPARENT_OPS:
                    continue
                if op in ACTIVATION_OUT:
                    return ACTIVATION_OUT[op], item
                return "other", item
            if item.kind == "layer":
                lt = item.get("layer_type")
                if lt in TRANSPARENT_LAYERS:
                    continue
                if lt in ACTIVATION_OUT:
                    return ACTIVATION_OUT[lt], item
                if lt in AFFINE_LAYERS:
                    return "affine", item
                if lt == "Sequential":
                    kids = self.sequential_children(item)
                    if kids:
                        return self._classify_tail(kids, depth + 1)
                    return None, item
                if item.get("class_ref"):
                    return self.output_of_class(item.get("class_ref"), depth + 1)
                return ("other" if lt else None), item
        return None, None

    def forward_layers(self, class_id: str) -> list:
        """The forward flow with Sequential containers and local sub-modules expanded."""
        out: list = []
        self._expand(self.graph.flow(class_id), out, 0)
        return out

    def _expand(self, items: Iterable, out: list, depth: int) -> None:
        for item in items:
            if depth < 6 and item.kind == "layer" and item.get("layer_type") == "Sequential":
                kids = self.sequential_children(item)
                if kids:
                    self._expand(kids, out, depth + 1)
                    continue
            out.append(item)

    # ----------------------------------------------------------------- loops
    def loop_calls(self, loop_id: str, method: str | None = None, nested: bool = True) -> list:
        """Calls whose enclosing loops include ``loop_id`` (or, with nested=False, whose
        innermost loop is ``loop_id``)."""
        out = []
        for c in self.calls(method):
            if nested:
                if loop_id in (c.get("loops") or []) or c.get("loop") == loop_id:
                    out.append(c)
            elif c.get("loop") == loop_id:
                out.append(c)
        return out

    def in_span(self, node, span_like) -> bool:
        t = span_tuple(span_like)
        if t is None:
            return False
        p, l, c, el, ec = t
        s = node.span
        return s.path == p and (s.line, s.column) >= (l, c) and (s.end_line, s.end_column) <= (el, ec)

    def receiver_matches(self, call, obj) -> bool:
        """Whether a call acts on ``obj`` (graph target, else the receiver text equals the
        object's variable)."""
        tgt = self.target(call)
        if tgt is not None:
            return tgt.id == obj.id
        var = obj.get("var")
        return bool(var) and call.get("receiver") == var

    def optimizers(self) -> list:
        return self.nodes("optimizer")

    def is_optimizer_call(self, call) -> bool | None:
        """True when the call's receiver is an optimizer, False when it is something else
        (a scheduler, a model), None when unknown."""
        tgt = self.target(call)
        if tgt is not None:
            return tgt.kind == "optimizer"
        recv = call.get("receiver") or ""
        if any(o.get("var") == recv for o in self.optimizers()):
            return True
        if any(s.get("var") == recv for s in self.nodes("scheduler")) or "sched" in recv.lower():
            return False
        return None
