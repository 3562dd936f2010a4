"""Facts about a program read from its :class:`~faultlens.analyzer.graph.ProgramGraph`.

Symptoms and the diagnosis ask the same few questions of the graph (which layers are ReLUs,
which loss is used, what the learning rate is, does the model have dropout or batch norm,
what is the last op of the forward). :class:`GraphFacts` answers them once, and answers
"unknown" (empty / None) when no graph is available, so every detector also works on a bare
trace.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from faultlens.taxonomy import (  # noqa: F401 (re-exported: symptoms import them from here)
    DROPOUT_BN_TYPES, LOGIT_LOSSES, PARAM_LAYER_TYPES, REGRESSION_LOSSES, RELU_TYPES, SATURATING_TYPES, ZERO_TYPES,
)


#: in-place initialisers that set every element of a tensor to one value
CONSTANT_INITS = frozenset(("zeros_", "ones_", "constant_", "fill_", "zero_"))


def is_constant_weight_init(n: Any) -> bool:
    """An ``init`` node that sets weights (not only biases) to one constant."""
    fn = n.get("fn") or n.get("applied_fn") or ""
    return fn in CONSTANT_INITS and "bias" not in str(n.get("target") or "")


_INDEX = re.compile(r"\[(\d+)\]")


def init_module_path(n: Any) -> tuple[str, str] | None:
    """(root name, module path) of an ``init`` node whose target names one layer's weight
    through attributes and indices -- ``self.fc_loc[2].weight.data`` -> ("self", "fc_loc.2"),
    ``model.out.weight`` -> ("model", "out") -- else None (a loop variable's ``m.weight`` names
    every module the loop visits)."""
    t = str(n.get("target") or "")
    t = t[:-len(".data")] if t.endswith(".data") else t
    if not t.endswith(".weight"):
        return None
    parts = _INDEX.sub(lambda m: "." + m.group(1), t[:-len(".weight")]).split(".")
    if len(parts) < 2 or not all(p.isidentifier() or p.isdigit() for p in parts):
        return None
    return parts[0], ".".join(parts[1:])


def base_node(node: str | None) -> str | None:
    """``layer:...#weight`` -> ``layer:...``."""
    if node is None:
        return None
    return node.split("#", 1)[0]


@dataclass
class GraphFacts:
    graph: Any = None
    layer_type: dict[str, str | None] = field(default_factory=dict)
    op_kind: dict[str, str | None] = field(default_factory=dict)
    losses: list[Any] = field(default_factory=list)
    optimizers: list[Any] = field(default_factory=list)
    models: list[Any] = field(default_factory=list)
    hyper: dict[str, list[Any]] = field(default_factory=dict)
    by_path: dict[str, str] = field(default_factory=dict)  # "<model id>#<module path>" -> layer id
    model_owners: dict[str, list[str]] = field(default_factory=dict)  # model id -> [model id, class id]
    _path_cache: dict[str, str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, graph: Any) -> "GraphFacts":
        if isinstance(graph, GraphFacts):
            return graph
        gf = cls(graph=graph)
        if graph is None:
            return gf
        try:
            for n in graph.nodes("layer"):
                gf.layer_type[n.id] = n.get("layer_type")
            for n in graph.nodes("op"):
                gf.op_kind[n.id] = n.get("op")
            gf.losses = graph.nodes("loss")
            gf.optimizers = graph.nodes("optimizer")
            gf.models = graph.nodes("model")
            for n in graph.nodes("hyperparameter"):
                gf.hyper.setdefault(n.get("hp") or n.name, []).append(n)
            owners_of_model: dict[str, list[str]] = {}
            for m in gf.models:
                owners_of_model[m.id] = [m.id] + ([m.get("class")] if isinstance(m.get("class"), str) else [])
            for n in graph.nodes("layer"):
                mp = n.get("module_path") or n.get("attr")
                if not mp:
                    continue
                for mid, owners in owners_of_model.items():
                    if n.get("owner") in owners:
                        gf.by_path.setdefault(f"{mid}#{mp}", n.id)
            gf.model_owners = owners_of_model
        except Exception:  # a partial graph: answer what we can
            pass
        return gf

    # ------------------------------------------------------------ layers
    def canonical(self, node: str | None) -> str | None:
        """The graph node a trace node refers to: ``<layer id>#weight`` -> the layer id;
        ``<model id>#net.0`` (a layer the trace names by module path) -> that layer's id."""
        if node is None:
            return None
        if node in self.by_path:
            return self.by_path[node]
        head, _, suffix = node.partition("#")
        if not suffix:
            return head
        if head in self.model_owners:
            # a runtime name the exact map misses: ``blocks.0`` for a layer built in a loop
            # (``blocks.*``), a layer inside a local sub-module class (``block.fc``)
            if node not in self._path_cache:
                self._path_cache[node] = self._layer_by_runtime_path(head, suffix)
            hit = self._path_cache[node]
            if hit:
                return hit
        return head

    def _layer_by_runtime_path(self, model_id: str, path: str) -> str | None:
        """Layer id for ``path`` under a model: the whole path as a module path, else (a
        parameter name such as ``net.0.weight``) its owning module path; exact entries of
        :attr:`by_path` first, then ``graph.layer_for_path`` (``*`` segments, sub-classes)."""
        finder = getattr(self.graph, "layer_for_path", None)
        owner_path = path.rsplit(".", 1)[0] if "." in path else None
        try:
            if finder is not None:
                for owner in self.model_owners.get(model_id, ()):
                    n = finder(owner, path)
                    if n is not None:
                        return n.id
            if owner_path is None:
                return None
            hit = self.by_path.get(f"{model_id}#{owner_path}")
            if hit or finder is None:
                return hit
            for owner in self.model_owners.get(model_id, ()):
                n = finder(owner, owner_path)
                if n is not None:
                    return n.id
        except Exception:  # a partial graph: fall back to the head id
            return None
        return None

    def kind_of(self, node: str | None) -> str | None:
        """Layer type or op name for a trace node (``#suffix`` ignored)."""
        b = self.canonical(node)
        if b in self.layer_type:
            return self.layer_type[b]
        if b in self.op_kind:
            op = self.op_kind[b] or ""
            return {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax",
                    "log_softmax": "LogSoftmax", "leaky_relu": "LeakyReLU", "gelu": "GELU",
                    "dropout": "Dropout", "elu": "ELU", "relu6": "ReLU6"}.get(op, op)
        return None

    def is_zeroing_activation(self, node: str) -> bool | None:
        k = self.kind_of(node)
        return None if k is None else k in ZERO_TYPES

    def is_saturating(self, node: str) -> bool | None:
        k = self.kind_of(node)
        return None if k is None else k in {"Sigmoid", "Tanh", "Hardtanh", "Hardsigmoid", "Softsign"}

    def has_dropout_or_bn(self) -> bool | None:
        if self.graph is None:
            return None
        if any(t in DROPOUT_BN_TYPES for t in self.layer_type.values() if t):
            return True
        if any(o in {"dropout", "batch_norm", "dropout2d", "alpha_dropout"} for o in self.op_kind.values() if o):
            return True
        # layers of an unresolved type may hide dropout/bn: say unknown, not no
        if any(t is None for t in self.layer_type.values()):
            return None
        return False

    # ------------------------------------------------------------ loss / output
    def output_width(self) -> int | None:
        """``out_features`` of the program's last ``nn.Linear`` (the output layer), or None."""
        if self.graph is None:
            return None
        outs = [n for n in self.graph.nodes("layer") if n.get("layer_type") == "Linear"
                and isinstance((n.get("args") or {}).get("out_features"), int)]
        return int((outs[-1].get("args") or {})["out_features"]) if outs else None

    def lone_step_loop(self) -> bool:
        """The graph shows an epoch loop and no batch loop in the program: one loop of steps
        over sampled mini-batches (a language model's ``for it in range(max_iters)``), where
        each "epoch" is one step by construction."""
        g = self.graph
        return g is not None and bool(g.nodes("loop", role="epoch")) and not g.nodes("loop", role="step")

    def init_layer(self, n: Any) -> Any:
        """The layer node an ``init`` node's target names (``init_module_path``): a layer of
        the init's own module class (``self....``) or of the model built under that name."""
        g = self.graph
        named = init_module_path(n)
        if g is None or named is None:
            return None
        root, path = named
        owners = {n.get("owner")} if root == "self" and n.get("owner") else \
            {m.id for m in self.models if m.name == root} | {m.get("class") for m in self.models if m.name == root}
        owners.discard(None)
        return next((la for la in g.nodes("layer") if la.get("owner") in owners and la.get("module_path") == path), None)

    def output_layer_init(self, n: Any) -> bool:
        """The init sets the weights of one named layer whose outputs no weight layer of its
        own container reads: the last weight layer of an ``nn.Sequential``, or the last item of
        a model's forward. Its units are the container's distinct outputs (the six affine
        parameters of a spatial transformer's localisation head, started at zero so the
        transform starts as the identity; a zero-initialised classifier head), each with its
        own gradient: no symmetry among hidden units to break (Goodfellow, Bengio and
        Courville, Deep Learning, 8.4), unlike a constant over every layer."""
        la = self.init_layer(n)
        g = self.graph
        if la is None:
            return False
        parent = la.get("parent")
        if parent:
            sibs = [x for x in g.nodes("layer") if x.get("parent") == parent and x.get("layer_type") in PARAM_LAYER_TYPES]

            def index(x: Any) -> int:
                tail = str(x.get("module_path") or "").rsplit(".", 1)[-1]
                return int(tail) if tail.isdigit() else -1
            return bool(sibs) and max(sibs, key=index).id == la.id and index(la) >= 0
        return any(x.id == la.id for x in self.last_forward_items())

    def symmetric_init(self, n: Any) -> bool:
        """An init that leaves units of a layer alike: weights set to one constant
        (``is_constant_weight_init``), other than a lone output layer's (``output_layer_init``)."""
        return is_constant_weight_init(n) and not self.output_layer_init(n)

    def loss_types(self) -> list[str]:
        return [n.get("loss_type") for n in self.losses if n.get("loss_type")]

    def sum_reduced(self) -> bool:
        """A loss of the program is built with ``reduction='sum'`` (its value scales with the batch)."""
        return any((n.get("args") or {}).get("reduction") == "sum" for n in self.losses)

    def mixed_targets(self) -> bool:
        """The program computes one loss from one prediction against two target sets
        (``lam * crit(pred, y_a) + (1 - lam) * crit(pred, y_b)``: mixup, CutMix; within three
        lines): the training accuracy against either set is no measure of the fit."""
        if self.graph is None:
            return False
        seen: dict[tuple, list[tuple[int, str]]] = {}
        for c in self.graph.nodes("call"):
            ins = c.get("inputs") or []
            if c.get("method") == "loss" and len(ins) >= 2:
                seen.setdefault((c.get("loss") or c.get("target"), c.span.path, ins[0]), []).append(
                    (c.span.line, ins[1]))
        return any(a[1] != b[1] and abs(a[0] - b[0]) <= 3
                   for calls in seen.values() for i, a in enumerate(calls) for b in calls[i + 1:])

    def main_loss(self) -> Any:
        return self.losses[0] if self.losses else None

    def last_forward_items(self) -> list[Any]:
        """For each module class used by a model, the last item of its forward flow."""
        g = self.graph
        out = []
        if g is None:
            return out
        try:
            classes = []
            for m in self.models:
                c = m.get("class")
                if isinstance(c, str) and c in g:
                    classes.append(c)
            if not classes:
                classes = [n.id for n in g.nodes("module_class")]
            for m in self.models:  # nn.Sequential(...) models own their layers directly
                own = [n for n in g.nodes("layer") if n.get("owner") == m.id]
                if own:
                    def pos(n):
                        sp = n.get("expr_span") or n.span.to_dict()
                        return (sp["line"], sp["column"])
                    out.append(max(own, key=pos))
            for c in classes:
                fl = g.flow(c)
                if fl:
                    last = fl[-1]
                    # a nested Sequential as last item: look inside it
                    if last.kind == "layer" and last.get("layer_type") == "Sequential":
                        kids = [n for n in g.nodes("layer") if n.get("parent") == last.id]
                        if kids:
                            last = kids[-1]
                    out.append(last)
        except Exception:
            pass
        return out

    # ------------------------------------------------------------ hyperparameters
    def optimizer_lr(self) -> tuple[Any, float | None]:
        for o in self.optimizers:
            lr = (o.get("args") or {}).get("lr")
            if isinstance(lr, (int, float)) and not isinstance(lr, bool):
                return o, float(lr)
        if self.optimizers:
            return self.optimizers[0], None
        return None, None

    def hp_value(self, name: str) -> float | None:
        for n in self.hyper.get(name, []):
            v = n.get("value")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return float(v)
        return None
