"""Helpers that several handlers share (not a handler module: discovery skips ``_`` modules):
locating a hyperparameter, the loss, the activations and the data statements, and small graph
queries that the patches use."""
from __future__ import annotations

from typing import Any

from faultlens.localizer import Collector, _hp_definitions, resolve_path
from faultlens.localizer import source as src
from faultlens.taxonomy import LOCALIZER_ACTIVATION_LAYERS, LOCALIZER_ACTIVATION_OPS


# ------------------------------------------------------------------ graph queries
def graph_node(g: Any, nid: str | None) -> Any:
    """The graph node ``nid`` (a ``#``-suffixed id names its node), None when absent."""
    if g is None or nid is None:
        return None
    nid = nid.split("#", 1)[0]
    return g.node(nid) if nid in g else None


def var_name(n: Any, default: str) -> str:
    """The variable a node is bound to (``optimizer``, ``model``), else ``default``."""
    v = n.get("var") if n is not None else None
    return v if isinstance(v, str) and v.isidentifier() else default


def optimizers_that_ran(g: Any, tv: Any) -> list[Any]:
    """The graph's optimizers, those the run built first: an optimizer behind a command-line
    switch the run did not take is patched last (a program trained by a hand-written update
    while an ``Adam`` waits behind ``--optimizer adam`` gets its update's lr patched)."""
    opts = list(g.nodes("optimizer"))
    meta = getattr(tv, "meta", None) or {}
    if "watched" not in meta or not meta.get("steps"):
        return opts
    built = set((meta.get("watched") or {}).get("optimizers") or [])
    if built:
        return sorted(opts, key=lambda o: o.id not in built)
    return sorted(opts, key=lambda o: not o.get("manual"))


# ------------------------------------------------------------------ hyperparameters
def add_hp(c: Collector, consumer: Any, arg: str, hp_name: str) -> None:
    """The definitions of the value ``consumer``'s ``arg`` uses (at most two; by hyperparameter
    name when no ``uses`` edge leads there), then the argument itself (role ``use``)."""
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


# ------------------------------------------------------------------ loss and activations
def locate_loss(c: Collector) -> None:
    """The first loss's construction and its call."""
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


def layer_with_call(c: Collector, n: Any) -> None:
    c.add_span(n.get("expr_span") or n.span, n.id, "construction")
    if n.kind == "layer":
        owner = c.node(n.get("owner"))
        attr = n.get("attr") or n.name.split(".")[-1]
        if owner is not None and attr:
            ab = resolve_path(c.graph, owner.span.path)
            cls = owner.get("qualname") or owner.name
            # in forward, else in the helper method forward calls (``decode``, ``encode``)
            for p in (src.self_calls(ab, cls, attr) or src.self_calls(ab, cls, attr, method=None))[:1]:
                c.add_pos(ab, p, n.id, "call")


def is_activation(n: Any) -> bool:
    return (n.kind == "layer" and n.get("layer_type") in LOCALIZER_ACTIVATION_LAYERS) or \
        (n.kind == "op" and n.get("op") in LOCALIZER_ACTIVATION_OPS)


def locate_custom_backward(c: Collector) -> None:
    """The statements of a custom ``torch.autograd.Function``'s backward that build the gradient
    which disagreed with its forward (``custom_gradient_mismatch``; the analyzer's
    ``gradient_spans``, else the whole ``backward``), at most two."""
    if not any(d.symptom == "custom_gradient_mismatch" for d in c.detections):
        return
    ids = [d.node for d in c.detections if d.symptom == "custom_gradient_mismatch"] + list(c.nodes)
    for n in (c.node(x) for x in dict.fromkeys(ids) if x):
        if n is None or n.get("role") != "autograd_function":
            continue
        spans = list(n.get("gradient_spans") or []) or [n.get("backward_span")]
        for sp in spans[:2]:
            c.add_span(sp, n.id, "backward")
        return


def locate_activation(c: Collector, nodes: list[str]) -> None:
    """The activations among ``nodes`` (else the layers/ops given, else every activation of
    the graph): at most two, each construction with its call in ``forward``."""
    g = c.graph
    cand = [n for n in (c.node(x) for x in nodes) if n is not None and n.kind in ("layer", "op")]
    acts = [n for n in cand if is_activation(n)]
    if not acts and cand:
        acts = cand
    if not acts:
        acts = [n for n in g.nodes() if n.kind in ("layer", "op") and is_activation(n)]
    for n in acts[:2]:
        layer_with_call(c, n)


# ------------------------------------------------------------------ data statements
def locate_data(c: Collector, preprocessing: bool) -> None:
    """Statements that load or scale the data entering the model, followed back from the
    DataLoader's dataset, the forward's input and (data faults, out-of-range targets) the loss's
    targets; the transforms first for preprocessing faults (the graph's transform objects, then
    every scaling transform call and ``transform=`` argument at its own line); the DataLoader
    when nothing else."""
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
    if not preprocessing or any(d.symptom == "target_out_of_range" for d in c.detections):
        for call in g.nodes("call", method="loss"):
            for inp in (call.get("inputs") or [])[1:2]:  # the targets
                names |= src.names_in(str(inp))
    if entry_abs is None and g.entry:
        entry_abs = resolve_path(g, g.entry)
    if preprocessing and entry_abs:
        # the transforms themselves, at their own lines, before the statements that build the
        # data: in the file of the loader, then in the program's entry file where the datasets
        # are built elsewhere (a loader made in a worker function of another module)
        prog = resolve_path(g, g.entry) if g.entry else None
        for ab in dict.fromkeys(p for p in (entry_abs, prog) if p):
            for p in src.transform_sites(ab)[:4]:
                c.add_pos(ab, p, None, "data")
    if entry_abs and names:
        for p in src.data_sources(entry_abs, names, depth=6)[:5]:
            c.add_pos(entry_abs, p, None, "data")
    if not c.out:
        for dl in g.nodes("dataloader")[:1]:
            c.add_span(dl.span, dl.id, "data")
