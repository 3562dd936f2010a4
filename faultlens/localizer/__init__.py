"""Localization: a fault type plus its evidence nodes -> source statements, ranked.

``localize(fault, graph, *, nodes=None, crash=None, detections=None) -> list[Location]``.

Roles (``Location.role``):

``definition``      where a hyperparameter value is defined (literal, module constant, argparse
                    default: the value's span) — hyperparameter faults;
``use``             where that value is consumed (the optimizer's ``lr=`` argument, the
                    DataLoader's ``batch_size=``, the epoch loop);
``construction``    where a layer / activation / loss / optimizer / init is built;
``call``            where it is applied (the layer's call in ``forward``, the loss call);
``insertion_point`` the statement before which a missing call belongs (``zero_grad``,
                    ``step``, ``eval``, ``train``); ``line`` is that statement's line;
``misplaced``       a call that is in the wrong place (``zero_grad`` between backward and step);
``data``            statements that load or scale the data entering the model;
``crash``           the statement that raised;
``related``         other statements that the evidence touches.

Lines and columns are 1-based. ``path`` is relative to the current directory when the file is
below it (else absolute), so that it matches the program path the user gave.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from faultlens.localizer import source as src
from faultlens.taxonomy import LOCALIZER_ACTIVATION_LAYERS, LOCALIZER_ACTIVATION_OPS

__all__ = ["Location", "localize", "resolve_path"]


@dataclass
class Location:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    node: str | None
    role: str
    abspath: str = ""
    note: str = ""
    #: in a notebook: the cell (1-based, every cell counted) and the line within it; ``line``
    #: stays the line of the notebook's program (faultlens/notebook.py)
    cell: int | None = None
    cell_line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"path": self.path, "line": self.line, "column": self.column, "end_line": self.end_line,
             "end_column": self.end_column, "node": self.node, "role": self.role}
        if self.cell is not None:
            d = {"path": self.path, "line": self.line, "cell": self.cell, "cell_line": self.cell_line,
                 **{k: v for k, v in d.items() if k not in ("path", "line")}}
        return d


def resolve_path(graph: Any, rel: str) -> str:
    root = getattr(graph, "root", ".") or "."
    return rel if os.path.isabs(rel) else os.path.normpath(os.path.join(root, rel))


def user_path(abspath: str, cwd: str | None = None) -> str:
    cwd = cwd or os.getcwd()
    try:
        r = os.path.relpath(abspath, cwd)
    except ValueError:
        return abspath
    return abspath if r.startswith("..") else r


class _Collector:
    def __init__(self, graph: Any, cwd: str | None):
        self.graph = graph
        self.cwd = cwd
        self.out: list[Location] = []

    def add_span(self, span: Any, node: str | None, role: str, note: str = "") -> None:
        if span is None:
            return
        if isinstance(span, dict):
            path, line, col, el, ec = span["path"], span["line"], span["column"], span["end_line"], span["end_column"]
        else:
            path, line, col, el, ec = span.path, span.line, span.column, span.end_line, span.end_column
        ab = resolve_path(self.graph, path)
        self._add(Location(user_path(ab, self.cwd), int(line), int(col), int(el), int(ec), node, role, ab, note))

    def add_pos(self, abspath: str, pos: src.Pos, node: str | None, role: str, note: str = "") -> None:
        self._add(Location(user_path(abspath, self.cwd), pos.line, pos.column, pos.end_line, pos.end_column,
                           node, role, abspath, note))

    def _add(self, loc: Location) -> None:
        for o in self.out:
            if o.abspath == loc.abspath and o.line == loc.line and o.role == loc.role:
                return
        self.out.append(loc)

    def node(self, nid: str | None):
        g = self.graph
        if g is None or nid is None:
            return None
        nid = nid.split("#", 1)[0]
        return g.node(nid) if nid in g else None


# ------------------------------------------------------------------ hyperparameters
def _hp_definitions(g: Any, consumer: str, arg: str) -> list[Any]:
    """Hyperparameter nodes feeding ``consumer``'s ``arg``, followed back through ``defines``
    edges to their first definitions (outermost first)."""
    out: list[Any] = []
    start = [u for u, v, d in g.edges("uses") if v == consumer and d.get("arg") == arg]
    seen: set[str] = set()
    stack = list(start)
    chain: list[str] = []
    while stack:
        h = stack.pop()
        if h in seen:
            continue
        seen.add(h)
        chain.append(h)
        stack.extend(p.id for p in g.predecessors(h, "defines"))
    for h in chain:
        out.append(g.node(h))
    # definitions first (those without a defining predecessor), then aliases
    out.sort(key=lambda n: (bool(g.predecessors(n.id, "defines")), n.span.line))
    return out


def _add_hp(c: _Collector, consumer: Any, arg: str, hp_name: str) -> None:
    g = c.graph
    defs = _hp_definitions(g, consumer.id, arg) if consumer is not None else []
    if not defs:
        defs = list(g.nodes("hyperparameter", hp=hp_name))
    for h in defs[:2]:
        c.add_span(h.get("value_span") or h.span, h.id, "definition")
    if consumer is not None:
        spans = consumer.get("arg_spans") or {}
        if arg in spans and spans[arg]:
            c.add_span(spans[arg], consumer.id, "use" if defs else "definition")
        else:
            c.add_span(consumer.span, consumer.id, "use")


# ------------------------------------------------------------------ per type
def _learning_rate(c: _Collector, nodes: list[str], detections: list[Any] = ()) -> None:
    g = c.graph
    if any(d.symptom == "lr_collapse" for d in detections):
        for sch in g.nodes("scheduler")[:1]:  # the schedule that drives the lr to ~0
            spans = sch.get("arg_spans") or {}
            for arg in ("gamma", "lr_lambda", "T_max", "step_size"):
                defs = _hp_definitions(g, sch.id, arg)
                for h in defs[:1]:
                    c.add_span(h.get("value_span") or h.span, h.id, "definition")
                if arg in spans and spans[arg] and not defs:
                    c.add_span(spans[arg], sch.id, "definition")
                if defs or arg in spans:
                    break
            c.add_span(sch.get("expr_span") or sch.span, sch.id, "construction")
    opts = [n for n in (c.node(x) for x in nodes) if n is not None and n.kind == "optimizer"] or g.nodes("optimizer")
    if not opts:
        for h in g.nodes("hyperparameter", hp="lr")[:2]:
            c.add_span(h.get("value_span") or h.span, h.id, "definition")
        return
    _add_hp(c, opts[0], "lr", "lr")


def _optimizer(c: _Collector, nodes: list[str]) -> None:
    opts = [n for n in (c.node(x) for x in nodes) if n is not None and n.kind == "optimizer"] or c.graph.nodes("optimizer")
    for o in opts[:2]:
        c.add_span(o.get("expr_span") or o.span, o.id, "construction")


def _loss(c: _Collector, nodes: list[str]) -> None:
    g = c.graph
    losses = g.nodes("loss")
    for ln in losses[:1]:
        c.add_span(ln.get("expr_span") or ln.span, ln.id, "construction")
        calls = [p for p in g.predecessors(ln.id, "targets") if p.kind == "call"]
        for call in calls[:1]:
            c.add_span(call.span, call.id, "call")
    if not losses:
        for call in g.nodes("call", method="loss")[:1]:
            c.add_span(call.span, call.id, "call")


def _loss_function(c: _Collector, nodes: list[str]) -> None:
    _loss(c, nodes)
    acts = [n for n in nodes if (c.node(n) is not None and c.node(n).kind in ("layer", "op"))]
    if acts:
        _activation(c, acts)


def _layer_with_call(c: _Collector, n: Any) -> None:
    c.add_span(n.get("expr_span") or n.span, n.id, "construction")
    if n.kind == "layer":
        owner = c.node(n.get("owner"))
        attr = n.get("attr") or n.name.split(".")[-1]
        if owner is not None and attr:
            ab = resolve_path(c.graph, owner.span.path)
            for p in src.self_calls(ab, owner.get("qualname") or owner.name, attr)[:1]:
                c.add_pos(ab, p, n.id, "call")


_ACT_KINDS = LOCALIZER_ACTIVATION_LAYERS
_ACT_OPS = LOCALIZER_ACTIVATION_OPS


def _is_act(n: Any) -> bool:
    return (n.kind == "layer" and n.get("layer_type") in _ACT_KINDS) or (n.kind == "op" and n.get("op") in _ACT_OPS)


def _activation(c: _Collector, nodes: list[str]) -> None:
    g = c.graph
    cand = [n for n in (c.node(x) for x in nodes) if n is not None and n.kind in ("layer", "op")]
    acts = [n for n in cand if _is_act(n)]
    if not acts and cand:
        acts = cand
    if not acts:
        acts = [n for n in g.nodes() if n.kind in ("layer", "op") and _is_act(n)]
    for n in acts[:2]:
        _layer_with_call(c, n)


def _init(c: _Collector, nodes: list[str]) -> None:
    g = c.graph
    inits = [n for n in (c.node(x) for x in nodes) if n is not None and n.kind == "init"] or g.nodes("init")
    for n in inits[:2]:
        c.add_span(n.span, n.id, "construction")
    if not inits:
        layers = [n for n in (c.node(x) for x in nodes) if n is not None and n.kind == "layer"]
        if not layers:
            layers = [n for n in g.nodes("layer") if n.get("layer_type") in {"Linear", "Conv2d", "Conv1d", "LSTM", "GRU"}]
        for n in layers[:2]:
            c.add_span(n.get("expr_span") or n.span, n.id, "construction")


def _data(c: _Collector, nodes: list[str], preprocessing: bool, detections: list[Any] = ()) -> None:
    g = c.graph
    if preprocessing:
        for t in g.nodes("transform")[:2]:
            c.add_span(t.span, t.id, "data")
    names: set[str] = set()
    entry_abs = None
    for dl in g.nodes("dataloader"):
        ds = str(dl.get("dataset") or (dl.get("args") or {}).get("dataset") or "")
        # inputs only for preprocessing faults; inputs and labels for data faults
        names |= src.first_arg_names(ds) if preprocessing else src.names_in(ds)
        entry_abs = resolve_path(g, dl.span.path)
    for call in g.nodes("call", method="forward"):
        for inp in (call.get("inputs") or [])[:1]:
            names |= src.names_in(str(inp))
        entry_abs = entry_abs or resolve_path(g, call.span.path)
    if not preprocessing or any(d.symptom == "target_out_of_range" for d in detections):
        for call in g.nodes("call", method="loss"):
            for inp in (call.get("inputs") or [])[1:2]:  # the targets
                names |= src.names_in(str(inp))
    if entry_abs is None and g.entry:
        entry_abs = resolve_path(g, g.entry)
    if entry_abs and names:
        for p in src.data_sources(entry_abs, names, depth=6)[:5]:
            c.add_pos(entry_abs, p, None, "data")
    if not c.out:
        for dl in g.nodes("dataloader")[:1]:
            c.add_span(dl.span, dl.id, "data")


def _epochs(c: _Collector, nodes: list[str]) -> None:
    g = c.graph
    loops = g.nodes("loop", role="epoch")
    if loops:
        _add_hp(c, loops[0], "range", "epochs")
        if not any(l.role == "use" for l in c.out):
            c.add_span(loops[0].span, loops[0].id, "use")
    else:
        for h in g.nodes("hyperparameter", hp="epochs")[:1]:
            c.add_span(h.get("value_span") or h.span, h.id, "definition")


def _batch_size(c: _Collector, nodes: list[str]) -> None:
    g = c.graph
    dls = g.nodes("dataloader")
    if dls:
        _add_hp(c, dls[0], "batch_size", "batch_size")
    else:
        for h in g.nodes("hyperparameter", hp="batch_size")[:1]:
            c.add_span(h.get("value_span") or h.span, h.id, "definition")


def _regularization(c: _Collector, nodes: list[str]) -> None:
    g = c.graph
    for n in (c.node(x) for x in nodes):
        if n is not None and n.kind == "hyperparameter":  # a penalty coefficient's definition
            c.add_span(n.get("value_span") or n.span, n.id, "definition")
            for u, v, d in g.edges("uses"):
                if u == n.id:
                    c.add_span(g.node(v).span, v, "use")
    given = [n for n in (c.node(x) for x in nodes) if n is not None and n.kind != "hyperparameter"]
    drops = [n for n in given if n.kind == "layer"] or [n for n in g.nodes("layer") if (n.get("layer_type") or "").startswith("Dropout")]
    for n in drops[:2]:
        c.add_span(n.get("expr_span") or n.span, n.id, "construction")
    for o in g.nodes("optimizer")[:1]:
        spans = o.get("arg_spans") or {}
        if "weight_decay" in spans:
            _add_hp(c, o, "weight_decay", "weight_decay")
        elif not drops:
            c.add_span(o.get("expr_span") or o.span, o.id, "use", "no weight decay / dropout")


def _calls(g: Any, method: str) -> list[Any]:
    return g.nodes("call", method=method)


def _manual_updates(g: Any, loop: Any) -> list[Any]:
    """The hand-written update statements (``w -= lr * w.grad``) of ``loop``, in source order."""
    return sorted((n for n in _calls(g, "step") if n.get("manual") and n.get("loop") == loop.id),
                  key=lambda n: (n.span.end_line, n.span.line))


def _training_loop(c: _Collector, nodes: list[str], detections: list[Any]) -> None:
    g = c.graph
    names = [d.symptom for d in detections]
    ab = None
    if "accumulating_gradients" in names:
        back = _calls(g, "backward")
        step_loops = g.nodes("loop", role="step") or [n for n in g.nodes("loop") if n.get("role") != "epoch"]
        loop = None
        if back:
            lid = back[0].get("loop")
            loop = c.node(lid) if lid else None
        loop = loop or (step_loops[0] if step_loops else None)
        if loop is not None:
            # the two places people clear gradients: just before the iteration's training
            # forward (the PyTorch tutorials' order: zero_grad, forward, loss, backward, step),
            # else the loop's first statement; and just before backward (zero_grad, backward,
            # step after the loss is computed). Both are reported, the first one first.
            ab = resolve_path(g, loop.span.path)
            b0 = back[0] if back else None
            manual = _manual_updates(g, loop)
            if manual:
                # hand-written updates: the gradients are cleared right after the last update
                # (the PyTorch tutorials' ``w.grad.zero_()`` / ``w.grad = None`` inside no_grad)
                st, nxt = src.next_stmt(ab, manual[-1].span.end_line)
                if nxt is not None:
                    c.add_pos(ab, src.pos_of(nxt), manual[-1].id, "insertion_point", "p.grad = None")
                elif st is not None:
                    end = (st.end_lineno or st.lineno) + 1
                    c.add_pos(ab, src.Pos(end, st.col_offset + 1, end, st.col_offset + 1), manual[-1].id,
                              "insertion_point", "p.grad = None")
            fwd = [f for f in _calls(g, "forward") if b0 is not None and f.get("loop") == loop.id
                   and not f.get("contexts") and f.span.path == b0.span.path and f.span.line < b0.span.line]
            at = src.stmt_containing(ab, fwd[0].span.line) if fwd else None
            first = at[0] if at is not None else src.first_body_stmt(ab, loop.span.line)
            if first is not None:
                c.add_pos(ab, src.pos_of(first), loop.id, "insertion_point", "optimizer.zero_grad()")
            before_back = src.stmt_containing(ab, b0.span.line) if b0 is not None else None
            if before_back is not None and (first is None or before_back[0].lineno != first.lineno):
                c.add_pos(ab, src.pos_of(before_back[0]), b0.id, "insertion_point", "optimizer.zero_grad()")
        for b in back[:1]:
            c.add_span(b.span, b.id, "related")
    if "missing_update" in names:
        reason = next((d.details.get("reason") for d in detections if d.symptom == "missing_update"), "no_step")
        if reason == "cleared":
            zs = _calls(g, "zero_grad")
            bk = _calls(g, "backward")
            st = _calls(g, "step")
            if bk and st:
                b0, s0 = bk[0], st[0]
                zs = [z for z in zs if z.span.path == b0.span.path and b0.span.line < z.span.line < s0.span.line] or zs
            for z in zs[:1]:
                c.add_span(z.span, z.id, "misplaced")
        back = _calls(g, "backward")
        if back:
            b = back[0]
            ab = resolve_path(g, b.span.path)
            after = b
            for cl in (_calls(g, "clip_grad_norm_") + _calls(g, "clip_grad_value_")):
                if cl.span.path == b.span.path and cl.span.line > after.span.line and cl.get("loop") == b.get("loop"):
                    after = cl
            st, nxt = src.next_stmt(ab, after.span.end_line)
            if nxt is not None and reason != "cleared":
                c.add_pos(ab, src.pos_of(nxt), b.id, "insertion_point", "optimizer.step()")
            elif reason != "cleared":
                end = (st.end_lineno if st is not None else after.span.end_line) + 1
                c.add_pos(ab, src.Pos(end, 1, end, 1), b.id, "insertion_point", "optimizer.step()")
            c.add_span(b.span, b.id, "related")
    if "eval_mode_missing" in names:
        ctxs = [n for n in g.nodes("context") if n.get("ctx") in ("no_grad", "inference_mode")]
        fwd = [n for n in _calls(g, "forward") if n.get("contexts")]
        target = None
        if fwd:
            ctx = c.node((fwd[0].get("contexts") or [None])[-1])
            target = ctx or fwd[0]
        elif ctxs:
            target = ctxs[0]
        if target is not None:
            c.add_span(target.span, target.id, "insertion_point", "model.eval()")
        for f in fwd[:1]:
            c.add_span(f.span, f.id, "related")
    if "train_mode_missing" in names:
        loops = g.nodes("loop", role="epoch") or g.nodes("loop", role="step")
        if loops:
            ab = resolve_path(g, loops[0].span.path)
            first = src.first_body_stmt(ab, loops[0].span.line)
            if first is not None:
                c.add_pos(ab, src.pos_of(first), loops[0].id, "insertion_point", "model.train()")
        for e in _calls(g, "eval")[:1]:
            c.add_span(e.span, e.id, "related")
    if not c.out:
        for m in ("zero_grad", "backward", "step"):
            for n in _calls(g, m)[:1]:
                c.add_span(n.span, n.id, "related")


def _architecture(c: _Collector, nodes: list[str], crash: dict[str, Any] | None = None) -> None:
    g = c.graph
    given = [n for n in (c.node(x) for x in nodes) if n is not None and n.kind in ("layer", "op")]
    if crash and crash.get("layer") and c.node(crash.get("layer")) is not None:
        given = [c.node(crash["layer"])] + given  # the layer whose forward raised
    if crash and "out of bounds" in str(crash.get("message") or ""):
        # class targets beyond the output width: the output layer is the statement to change
        from faultlens.models.symptoms.graph_facts import GraphFacts
        lin = [n for n in g.nodes("layer") if n.get("layer_type") == "Linear"]
        last = GraphFacts.of(g).last_forward_items()
        outs = [n for n in last if n.kind == "layer" and n.get("layer_type") == "Linear"] or lin[-1:]
        given = outs + given
    layers = given or [n for n in g.nodes("layer") if n.get("layer_type") not in (None, "Sequential", "ModuleList")]
    for n in layers[:2]:
        c.add_span(n.get("expr_span") or n.span, n.id, "construction")
    for n in given[:2]:
        _width_origins(c, n)


def _width_origins(c: _Collector, layer: Any) -> None:
    """Where the values of a layer's size arguments are set when its construction only reads
    them: a hyperparameter's definition, or the argument of the model's construction call
    that a constructor parameter (``nn.Linear(n_dim, ...)`` in ``__init__(self, n_dim)``) gets.
    That is the statement a person edits to widen the layer."""
    g = c.graph
    spans = layer.get("arg_spans") or {}
    hps = layer.get("arg_hps") or {}
    owner = layer.get("owner")
    for arg, span in spans.items():
        if not span or arg in ("bias", "inplace", "batch_first", "bidirectional", "dropout"):
            continue
        defs = _hp_definitions(g, layer.id, arg) or ([c.node(hps[arg])] if hps.get(arg) else [])
        for h in [d for d in defs if d is not None][:1]:
            c.add_span(h.get("value_span") or h.span, h.id, "definition")
        if defs:
            continue
        text = src.text_at(resolve_path(g, span["path"]), span) if isinstance(span, dict) else None
        if not text or not text.isidentifier():
            continue
        for m in g.nodes("model"):
            margs = m.get("arg_spans") or {}
            if owner and m.get("class") == owner and margs.get(text):
                c.add_span(margs[text], m.id, "definition")


def localize(fault: Any, graph: Any, *, nodes: list[str] | None = None, crash: dict[str, Any] | None = None,
             detections: list[Any] | None = None, cwd: str | None = None, program: str | None = None) -> list[Location]:
    """Rank the statements responsible for ``fault`` (a FaultCandidate or a fault-type string).

    ``nodes``: evidence graph nodes (default: ``fault.nodes``); ``crash``: the trace's crash
    record (its statement comes first, role ``crash``); ``program``: the entry file as the
    user gave it (used for crash paths when the graph is missing)."""
    ftype = fault if isinstance(fault, str) else fault.type
    nodes = list(nodes if nodes is not None else getattr(fault, "nodes", []) or [])
    detections = list(detections if detections is not None else getattr(fault, "detections", []) or [])
    c = _Collector(graph, cwd)
    if crash and crash.get("line"):
        p = crash.get("path") or program or ""
        ab = p if os.path.isabs(p) else (resolve_path(graph, p) if graph is not None else os.path.abspath(p))
        if not os.path.exists(ab) and program:
            ab = os.path.abspath(program)
        line = int(crash["line"])
        c._add(Location(user_path(ab, cwd), line, int(crash.get("column") or 1), int(crash.get("end_line") or line),
                        int(crash.get("end_column") or 1), crash.get("node"), "crash", ab))
    if graph is None:
        return c.out
    try:
        {
            "learning_rate": lambda: _learning_rate(c, nodes, detections),
            "optimizer": lambda: _optimizer(c, nodes),
            "loss_function": lambda: _loss_function(c, nodes),
            "activation": lambda: (_activation(c, nodes), _loss(c, nodes) if any(d.symptom == "output_range_mismatch" for d in detections) else None),
            "weight_initialization": lambda: _init(c, nodes),
            "data_preprocessing": lambda: _data(c, nodes, True, detections),
            "data": lambda: _data(c, nodes, False, detections),
            "epochs": lambda: _epochs(c, nodes),
            "batch_size": lambda: _batch_size(c, nodes),
            "regularization": lambda: _regularization(c, nodes),
            "training_loop": lambda: _training_loop(c, nodes, detections),
            "architecture": lambda: _architecture(c, nodes, crash),
        }[ftype]()
    except KeyError:
        raise
    except Exception:  # a partial graph: keep what was found
        pass
    return c.out
