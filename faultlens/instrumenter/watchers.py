"""What the runtime keeps about each object it watches, and how trace nodes are named.

A watched model, optimizer or loss gets one record here (:class:`ModelWatch`,
:class:`OptWatch`, :class:`LossWatch`); mixed precision gets an :class:`AmpWatch` once a
GradScaler steps. The runtime (:mod:`faultlens.instrumenter.runtime`) writes these records;
probes (:mod:`faultlens.instrumenter.probes`) receive them in their hooks and only read them.
The node names of layers and parameters (``docs/trace.md``, "Nodes") are made here, from the
program graph. No torch import: the records only call methods of the objects they hold.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faultlens.taxonomy import PROBED_ACTIVATION_OPS


class ModelWatch:
    """A watched ``nn.Module`` (the object of one ``watch_model`` call).

    ``module_nodes``: dotted module path -> layer node id; when one graph layer stands for
    several instances (a local block class used twice), each instance gets
    ``"<layer id>#<module path>"`` so series never collide. ``after_ops``: dotted module path
    -> ``[(op node id, op name)]``, the functional activations the graph's flow applies to that
    layer's output. ``leaves``: the leaf layers (activation statistics are taken there)."""

    def __init__(self, model: Any, node: str, names: dict[str, str], after_ops: dict[str, list]):
        self.model = model
        self.node = node
        actual = [n for n, _ in model.named_modules() if n]
        used: dict[str, int] = {}
        for n in actual:
            if n in names:
                used[names[n]] = used.get(names[n], 0) + 1
        names = {n: (nid if used.get(nid, 0) <= 1 else f"{nid}#{n}") for n, nid in names.items()}
        self.module_nodes = names
        self.after_ops = after_ops
        self.leaves: list[tuple[str, Any]] = [
            (n, m) for n, m in model.named_modules() if n and not any(True for _ in m.children())
        ]
        self.param_names: dict[int, str] = {id(p): n for n, p in model.named_parameters()}
        self.module_names: dict[int, str] = {id(m): n for n, m in model.named_modules()}
        #: handles of the leaf-layer hooks of the sampled forward in progress (removed after it)
        self.act_handles: list[Any] = []
        self.sampled_step = -1        # the last step whose training forward ran the sampled probes
        self.eval_sampled_step = -1   # the last step whose evaluation forward ran the probes
        self.handles: list[Any] = []  # the model's own pre/post call hooks
        self.last_output: Any = None  # output of the last forward (which model fed a loss)
        self.last_inputs: tuple | None = None  # (args, kwargs) of the last training forward

    def layer_node(self, name: str) -> str:
        return self.module_nodes.get(name) or f"{self.node}#{name}"

    def param_node(self, pname: str) -> str:
        mod, _, leaf = pname.rpartition(".")
        if mod and mod in self.module_nodes:
            base = self.module_nodes[mod]
            return f"{base}.{leaf}" if "#" in base else f"{base}#{leaf}"
        return f"{self.node}#{pname}"


class OptWatch:
    """A watched optimizer; ``node`` is None for one the runtime saw step but no rewrite named."""

    def __init__(self, opt: Any, node: str | None):
        self.opt = opt
        self.node = node
        self.steps = 0   # optimizer steps taken (``opt_step``)


class LossWatch:
    """A loss: a criterion module, a functional loss call site, or (``loss_type``
    ``"backward"``) whatever ``.backward()`` was called on."""

    def __init__(self, fn: Any, node: str, loss_type: str):
        self.fn = fn
        self.node = node
        self.loss_type = loss_type


class AmpWatch:
    """What the program's GradScalers did (created at the first ``scaler.step``): steps taken
    through a scaler, steps it skipped (inf/NaN gradients: ``optimizer.step()`` not called),
    the current run of consecutive skips and the scales seen."""

    def __init__(self):
        self.steps = 0
        self.skipped = 0
        self.streak = 0
        self.streak_from: int | None = None
        self.longest = 0
        self.first_scale: float | None = None
        self.last_scale: float | None = None
        self.min_scale: float | None = None

    def to_meta(self) -> dict[str, Any]:
        return {"steps": self.steps, "skipped": self.skipped, "longest_skip_run": self.longest,
                "first_scale": self.first_scale, "last_scale": self.last_scale, "min_scale": self.min_scale}


@dataclass(frozen=True)
class LastBatch:
    """The last training loss whose input a watched model produced: enough to compute that
    loss again at the current parameters (kept only for probes with ``uses_last_batch``)."""

    model: ModelWatch
    inputs: tuple            # (args, kwargs) of the model's forward
    loss: LossWatch
    rest: tuple              # the loss call's arguments after the model output
    kwargs: dict


# ---------------------------------------------------------------------- node names
def param_node(param_owner: dict[int, tuple[ModelWatch, str]], p: Any, ow: OptWatch | None = None,
               gi: int = 0, pi: int = 0) -> str | None:
    """Trace node of a parameter: ``<layer id>#<name>`` / ``<model id>#<dotted name>`` when a
    watched model owns it, else ``<optimizer id>#g<i>.p<j>``; None when neither is known."""
    owner = param_owner.get(id(p))
    if owner is not None:
        mw, pname = owner
        return mw.param_node(pname)
    if ow is not None and ow.node:
        return f"{ow.node}#g{gi}.p{pi}"
    return None


def params_node(param_owner: dict[int, tuple[ModelWatch, str]], ow: OptWatch, params: Any) -> str | None:
    """Node of figures over all of an optimizer's parameters (``grad_norm_total``...): the
    watched model that owns the first of ``params`` it knows, else the optimizer."""
    for p in params:
        owner = param_owner.get(id(p))
        if owner is not None:
            return owner[0].node
    return ow.node


def module_map(graph: Any, node: str | None) -> tuple[dict[str, str], dict[str, list]]:
    """Map dotted module paths of the model ``node`` to graph layer ids (and the functional
    activation ops the flow applies after each layer)."""
    g = graph
    names: dict[str, str] = {}
    after: dict[str, list] = {}
    if g is None or node is None or node not in g:
        return names, after
    try:
        gn = g.node(node)
    except Exception:
        return names, after
    cls = gn.get("class")
    if not isinstance(cls, str) or cls not in g:
        return names, after

    def bases(cid: str, seen: set[str]) -> list[str]:
        out = [cid]
        try:
            for b in g.node(cid).get("local_bases") or []:
                if b in g and b not in seen:
                    seen.add(b)
                    out.extend(bases(b, seen))
        except Exception:
            pass
        return out

    def walk(cid: str, prefix: str, depth: int) -> None:
        if depth > 8:
            return
        for c in bases(cid, {cid}):
            try:
                layers = g.nodes("layer", owner=c)
            except Exception:
                layers = []
            for L in layers:
                mp = L.get("module_path") or L.get("attr")
                if not isinstance(mp, str) or not mp:
                    continue
                full = prefix + mp
                names.setdefault(full, L.id)
                ref = L.get("class_ref")
                if isinstance(ref, str) and ref in g:
                    walk(ref, full + ".", depth + 1)
            try:
                flow = g.flow(c)
            except Exception:
                flow = []
            for a, b in zip(flow, flow[1:]):
                if a.kind == "layer" and b.kind == "op" and b.get("op") in PROBED_ACTIVATION_OPS:
                    mp = a.get("module_path") or a.get("attr")
                    if isinstance(mp, str) and mp:
                        after.setdefault(prefix + mp, []).append((b.id, b.get("op")))

    walk(cls, "", 0)
    return names, after
