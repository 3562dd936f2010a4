"""Mutation operators: small classes that inject one fault into a training program.

Every operator has a ``name``, a ``fault_type`` (one of :data:`FAULT_TYPES`), a ``family``
(DeepCrime's operator families: Humbatova et al., "DeepCrime: Mutation Testing of Deep
Learning Systems Based on Real Faults", ISSTA 2021), a list of parameter ``variants`` that
:func:`enumerate_mutants` expands, ``sites(graph)`` — the graph nodes where it applies, found
through :mod:`faultlens.analyzer` (never by searching text) — and ``edits(graph, site, params)``,
the structural edits that inject the fault (built with :mod:`faultlens.corpus.edits`, applied by
the edit engine, :mod:`faultlens.edits.structural`).

Generated code refers to torch as ``_fl_torch`` (a module-level ``import torch as _fl_torch``
is added after the program's imports), so mutants never depend on how the program imported
torch.

Coverage of DeepCrime's list: training data (label noise, shuffled labels, deleted data,
unbalanced data, input noise, unnormalised inputs), hyperparameters (learning rate up/down,
batch size up/down, disable batching, fewer epochs, patience 0), activation (change / remove / add per
layer or functional op), regularisation (dropout rate, added dropout, weight decay), weights
(zeros / constant / too-large / too-small initialisation), loss (unsuited loss), optimiser
(change), gradient clipping, architecture (layer removal / duplication, width change, bias
removed / added), and
PyTorch training-loop faults that DeepCrime (Keras) cannot express: missing ``zero_grad``,
missing ``step``, missing ``eval()``, softmax before ``CrossEntropyLoss``, ``NLLLoss`` on
raw logits. Not covered: validation-set removal (no Keras-style validation split).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from faultlens.corpus.edits import MutationError, edit_at
from faultlens.edits.structural import Prelude, StructuralEdit, apply_edits
from faultlens.registry import Registry
from faultlens.taxonomy import DROPOUT_LAYERS, FAULT_TYPES, MUTATION_OPTIMIZERS as OPTIMIZERS, WEIGHT_LAYERS
from faultlens.taxonomy import POINTWISE_ACTIVATION_LAYERS as ACTIVATION_LAYERS
from faultlens.taxonomy import POINTWISE_ACTIVATION_OPS as ACTIVATION_OPS

TORCH_PRELUDE = "import torch as _fl_torch"

# replacement activations: module class name and functional expression
ACT_MODULE = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax(dim=-1)",
              "identity": "Identity"}
ACT_FUNC = {"relu": "_fl_torch.relu({x})", "sigmoid": "_fl_torch.sigmoid({x})",
            "tanh": "_fl_torch.tanh({x})", "softmax": "_fl_torch.softmax({x}, dim=-1)"}
BIG_BATCH = 1_000_000  # "disable batching": one batch holds the whole training set


@dataclass(frozen=True)
class Site:
    """Where an operator applies: a graph node id plus what the operator needs from it."""

    node: str
    info: tuple = ()  # hashable extra data (pairs)

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.info).get(key, default)


@dataclass(frozen=True)
class Mutant:
    """One applicable (operator, site, params) of a program."""

    operator: str
    site: str
    params: tuple  # sorted (name, value) pairs
    fault_type: str
    info: tuple = ()

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def id(self) -> str:
        raw = json.dumps([self.operator, self.site, list(self.params)], default=str)
        return f"{self.operator}-{hashlib.sha1(raw.encode()).hexdigest()[:10]}"

    def describe(self) -> str:
        ps = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.operator}({ps}) at {self.site}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "operator": self.operator, "site": self.site,
                "params": self.param_dict, "fault_type": self.fault_type}


class MutationOperator:
    name = ""
    fault_type = ""
    family = ""
    description = ""
    variants: list[dict[str, Any]] = [{}]

    def sites(self, graph) -> list[Site]:  # pragma: no cover - abstract
        raise NotImplementedError

    def edits(self, graph, site: Site, params: dict[str, Any]) -> list[StructuralEdit]:  # pragma: no cover
        raise NotImplementedError

    def variants_for(self, graph, site: Site) -> list[dict[str, Any]]:
        return [dict(v) for v in self.variants]


def _check_operator(op: MutationOperator) -> None:
    if op.fault_type not in FAULT_TYPES:
        raise ValueError(f"operator {op.name!r}: unknown fault type {op.fault_type!r}")


#: every mutation operator (one stateless instance each) by name, filled by ``@register``.
REGISTRY: Registry[MutationOperator] = Registry("mutation operator", check=_check_operator, instantiate=True)
register = REGISTRY.register


# ----------------------------------------------------------------- graph helpers
def _nodes(graph, kind: str) -> list:
    return list(graph.nodes(kind))


def _expr_span(node) -> Any:
    return node.attrs.get("expr_span") or node.span


def _arg_span(node, *names: str):
    spans = node.attrs.get("arg_spans") or {}
    for n in names:
        if spans.get(n):
            return spans[n]
    return None


def _training_step_calls(graph, method: str) -> list:
    return [n for n in _nodes(graph, "call") if n.attrs.get("method") == method]


def _optimizer_step_calls(graph) -> list:
    out = []
    for n in _training_step_calls(graph, "step"):
        tgt = n.attrs.get("target")
        if tgt and tgt in graph and graph.node(tgt).kind == "optimizer":
            out.append(n)
        elif tgt is None and "opt" in (n.attrs.get("receiver") or "").lower():
            out.append(n)
    return out


def _file_of(node) -> str:
    return node.span.path


def _scale_expr(factor: float, integer: bool = False) -> str:
    if integer:
        return "max(1, int(({x}) * %r))" % factor
    return "({x}) * %r" % factor


def _lr_hyperparameters(graph) -> list:
    return [n for n in _nodes(graph, "hyperparameter")
            if n.attrs.get("hp") in ("lr", "learning_rate") and n.attrs.get("value_span")]


def _loss_nodes(graph) -> list:
    return _nodes(graph, "loss")


def _forward_flow(graph) -> list[list]:
    """Forward item sequences (layers/ops in order) of every module class used by a model."""
    seqs = []
    for mc in _nodes(graph, "module_class"):
        try:
            seq = graph.flow(mc.id)
        except Exception:  # noqa: BLE001 - a graph without flow info for this class
            seq = []
        if seq:
            seqs.append(seq)
    # nn.Sequential models at module level: their layers have no owner class
    classes = {mc.id for mc in _nodes(graph, "module_class")}
    loose = [n for n in _nodes(graph, "layer")
             if (n.attrs.get("owner") not in classes) and (n.attrs.get("owner") or n.attrs.get("parent"))]
    if loose:
        by_parent: dict[str, list] = {}
        for n in loose:
            by_parent.setdefault(n.attrs.get("parent") or n.attrs.get("owner"), []).append(n)
        for items in by_parent.values():
            seqs.append(sorted(items, key=lambda n: (n.span.path, _expr_line(n))))
    return seqs


def _expr_line(n) -> tuple[int, int]:
    s = _expr_span(n)
    s = s.to_dict() if hasattr(s, "to_dict") else s
    return (int(s["line"]), int(s["column"]))


def _int_arg(node, *names: str) -> int | None:
    args = node.attrs.get("args") or {}
    for n in names:
        v = args.get(n)
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
    return None


def _dims(layer) -> tuple[int | None, int | None]:
    lt = layer.attrs.get("layer_type")
    if lt == "Linear":
        return _int_arg(layer, "in_features", "0"), _int_arg(layer, "out_features", "1")
    if lt and lt.startswith("Conv"):
        return _int_arg(layer, "in_channels", "0"), _int_arg(layer, "out_channels", "1")
    return None, None


def _is_layer(n, types: Iterable[str]) -> bool:
    return n.kind == "layer" and n.attrs.get("layer_type") in set(types)


def _module_prefix(layer) -> str:
    """Callee of a layer constructor (``nn.Linear``) -> ``_fl_torch.nn.``."""
    return "_fl_torch.nn."


# ----------------------------------------------------------------- hyperparameters
@register
class LearningRateScale(MutationOperator):
    name = "lr_scale"
    fault_type = "learning_rate"
    family = "hyperparameters"
    description = "multiply the learning rate by a factor (too high: x10, x100; too low: /100, /1000)"
    variants = [{"factor": 100.0}, {"factor": 10.0}, {"factor": 0.01}, {"factor": 0.001}]
    DEFAULT_LR = {"Adam": 1e-3, "AdamW": 1e-3, "RMSprop": 1e-2, "Adagrad": 1e-2, "Adadelta": 1.0,
                  "SGD": 1e-3, "Adamax": 2e-3, "NAdam": 2e-3, "RAdam": 1e-3, "LBFGS": 1.0}

    def sites(self, graph):
        out = []
        for o in _nodes(graph, "optimizer"):
            span = _arg_span(o, "lr", "1")
            if span is not None:
                out.append(Site(o.id, (("mode", "arg"),)))
            elif o.attrs.get("optimizer_type") in self.DEFAULT_LR:
                out.append(Site(o.id, (("mode", "add"),)))
        if not out:  # manual updates: the lr hyperparameter itself
            out = [Site(h.id, (("mode", "hp"),)) for h in _lr_hyperparameters(graph)]
        return out

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        f = float(params.get("factor", 10.0))
        mode = site.get("mode")
        if mode == "arg":
            return [edit_at("replace_expr", _arg_span(n, "lr", "1"), template=_scale_expr(f))]
        if mode == "add":
            lr = self.DEFAULT_LR[n.attrs["optimizer_type"]] * f
            return [edit_at("set_kwarg", _expr_span(n), name="lr", code=repr(lr))]
        return [edit_at("replace_expr", n.attrs["value_span"], template=_scale_expr(f))]


def _batch_sites(graph) -> list[Site]:
    out = []
    for d in _nodes(graph, "dataloader"):
        if _arg_span(d, "batch_size", "1") is not None:
            out.append(Site(d.id, (("mode", "arg"),)))
    if not out:
        out = [Site(h.id, (("mode", "hp"),)) for h in _nodes(graph, "hyperparameter")
               if h.attrs.get("hp") == "batch_size" and h.attrs.get("value_span")]
    return out


def _batch_span(graph, site):
    n = graph.node(site.node)
    if site.get("mode") == "arg":
        return _arg_span(n, "batch_size", "1")
    return n.attrs["value_span"]


@register
class BatchSizeScale(MutationOperator):
    name = "batch_size_scale"
    fault_type = "batch_size"
    family = "hyperparameters"
    description = "change the batch size by a factor (x8: large batches, few updates; x1/16 on request: tiny batches)"
    # x1/16 multiplies the steps (and the run time) by 16 and rarely hurts the final score, so
    # enumerate_mutants lists only x8 by default; `faultlens mutate --param factor=0.0625` still works
    variants = [{"factor": 8.0}]

    def sites(self, graph):
        return _batch_sites(graph)

    def edits(self, graph, site, params):
        return [edit_at("replace_expr", _batch_span(graph, site),
                        template=_scale_expr(float(params.get("factor", 0.0625)), integer=True))]


@register
class DisableBatching(MutationOperator):
    name = "disable_batching"
    fault_type = "batch_size"
    family = "hyperparameters"
    description = "train on the whole data set as one batch (DeepCrime 'disable batching')"

    def sites(self, graph):
        return _batch_sites(graph)

    def edits(self, graph, site, params):
        return [edit_at("replace_expr", _batch_span(graph, site), template=str(BIG_BATCH))]


@register
class EpochsDecrease(MutationOperator):
    name = "epochs_decrease"
    fault_type = "epochs"
    family = "hyperparameters"
    description = "train for a fraction of the epochs (too few epochs)"
    variants = [{"factor": 0.1}, {"factor": 0.25}]

    def sites(self, graph):
        hps = [Site(h.id, (("mode", "hp"),)) for h in _nodes(graph, "hyperparameter")
               if h.attrs.get("hp") == "epochs" and h.attrs.get("value_span")]
        if hps:
            return hps
        return [Site(lp.id, (("mode", "loop"),)) for lp in _nodes(graph, "loop")
                if lp.attrs.get("role") == "epoch" and str(lp.attrs.get("iter", "")).startswith("range(")]

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        t = _scale_expr(float(params.get("factor", 0.1)), integer=True)
        if site.get("mode") == "hp":
            return [edit_at("replace_expr", n.attrs["value_span"], template=t)]
        return [edit_at("wrap_range", n.span, template=t)]


def _patience_sites(graph) -> list[Site]:
    """Patience values: the ``patience`` of every scheduler (through the hyperparameter it reads
    when the analyzer resolved one, else the argument itself; ``patience=0`` is added to a
    ReduceLROnPlateau that uses the default, 10), plus any hyperparameter named ``patience`` or
    ``*_patience``, any case (hand-written early stopping: ``if bad_epochs >= args.patience: break``)."""
    out: list[Site] = []
    hp_ids: set[str] = set()
    for s in _nodes(graph, "scheduler"):
        hp_id = (s.attrs.get("arg_hps") or {}).get("patience")
        if hp_id and hp_id in graph and graph.node(hp_id).attrs.get("value_span"):
            if hp_id not in hp_ids:
                hp_ids.add(hp_id)
                out.append(Site(hp_id, (("mode", "hp"),)))
        elif _arg_span(s, "patience") is not None:
            out.append(Site(s.id, (("mode", "arg"),)))
        elif s.attrs.get("scheduler_type") == "ReduceLROnPlateau" and _expr_span(s) is not None:
            out.append(Site(s.id, (("mode", "add"),)))
    for h in _nodes(graph, "hyperparameter"):
        hp = str(h.attrs.get("hp") or "").lower()
        if (hp == "patience" or hp.endswith("_patience")) and h.attrs.get("value_span") and h.id not in hp_ids:
            hp_ids.add(h.id)
            out.append(Site(h.id, (("mode", "hp"),)))
    return out


@register
class PatienceChange(MutationOperator):
    name = "patience_change"
    fault_type = "epochs"
    family = "hyperparameters"
    description = ("set the patience of a ReduceLROnPlateau scheduler or of early stopping to 0 "
                   "(DeepCrime 'change patience': the lr decays / training stops at the first bad epoch)")
    variants = [{"value": 0}]

    def sites(self, graph):
        return _patience_sites(graph)

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        code = repr(int(params.get("value", 0)))
        mode = site.get("mode")
        if mode == "hp":
            return [edit_at("replace_expr", n.attrs["value_span"], template=code)]
        if mode == "arg":
            return [edit_at("replace_expr", _arg_span(n, "patience"), template=code)]
        return [edit_at("set_kwarg", _expr_span(n), name="patience", code=code)]


# ----------------------------------------------------------------- activations
def _activation_sites(graph) -> list[Site]:
    out = []
    for n in _nodes(graph, "layer"):
        lt = n.attrs.get("layer_type")
        if lt in ACTIVATION_LAYERS:
            out.append(Site(n.id, (("form", "layer"), ("act", ACTIVATION_LAYERS[lt]))))
    for n in _nodes(graph, "op"):
        op = n.attrs.get("op")
        if op in ACTIVATION_OPS:
            out.append(Site(n.id, (("form", "op"), ("act", op))))
    return out


@register
class ActivationChange(MutationOperator):
    name = "activation_change"
    fault_type = "activation"
    family = "activation"
    description = "replace an activation function by another (relu / sigmoid / tanh)"
    variants = [{"to": "relu"}, {"to": "sigmoid"}, {"to": "tanh"}]

    def sites(self, graph):
        return _activation_sites(graph)

    def variants_for(self, graph, site):
        return [v for v in self.variants if v["to"] != site.get("act")]

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        to = params.get("to", "sigmoid")
        if site.get("form") == "layer":
            return [edit_at("replace_expr", _expr_span(n), template=f"_fl_torch.nn.{ACT_MODULE[to]}" +
                            ("" if "(" in ACT_MODULE[to] else "()")), Prelude(TORCH_PRELUDE)]
        return [edit_at("replace_callee", _expr_span(n), code=ACT_FUNC[to].split("(")[0]),
                edit_at("keep_args", _expr_span(n), keep=(0,)),
                Prelude(TORCH_PRELUDE)]


@register
class ActivationRemove(MutationOperator):
    name = "activation_remove"
    fault_type = "activation"
    family = "activation"
    description = "remove an activation function (the layer becomes linear)"

    def sites(self, graph):
        return _activation_sites(graph)

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        if site.get("form") == "layer":
            return [edit_at("replace_expr", _expr_span(n), template="_fl_torch.nn.Identity()"),
                    Prelude(TORCH_PRELUDE)]
        # F.relu(x) -> (x): keep the first argument only, call the identity
        return [edit_at("replace_callee", _expr_span(n), code="(lambda _t, *_a, **_k: _t)")]


@register
class ActivationAdd(MutationOperator):
    name = "activation_add"
    fault_type = "activation"
    family = "activation"
    description = "add an activation after a Linear/Conv layer (e.g. ReLU or sigmoid on the logits)"
    variants = [{"act": "relu"}, {"act": "sigmoid"}]

    def sites(self, graph):
        return [Site(n.id) for n in _nodes(graph, "layer")
                if n.attrs.get("layer_type") in WEIGHT_LAYERS and n.attrs.get("expr_span")]

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        act = ACT_MODULE[params.get("act", "relu")]
        return [edit_at("replace_expr", _expr_span(n),
                        template="_fl_torch.nn.Sequential({x}, _fl_torch.nn.%s%s)" % (act, "" if "(" in act else "()")),
                Prelude(TORCH_PRELUDE)]


@register
class SoftmaxBeforeCrossEntropy(MutationOperator):
    name = "softmax_before_ce"
    fault_type = "activation"
    family = "activation"
    description = "apply softmax to the logits fed to CrossEntropyLoss (double softmax)"

    def sites(self, graph):
        ce = {n.id for n in _loss_nodes(graph) if n.attrs.get("loss_type") == "CrossEntropyLoss"}
        out = []
        for c in _training_step_calls(graph, "loss"):
            tgt = c.attrs.get("target")
            if (tgt in ce or c.id in ce) and c.attrs.get("expr_span"):
                out.append(Site(c.id))
        if not out:  # functional loss: the loss node is the call itself
            out = [Site(n.id) for n in _loss_nodes(graph)
                   if n.attrs.get("loss_type") == "CrossEntropyLoss" and n.attrs.get("functional")]
        return out

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        return [edit_at("wrap_arg", _expr_span(n), index=0, template="_fl_torch.softmax({x}, dim=-1)"),
                Prelude(TORCH_PRELUDE)]


# ----------------------------------------------------------------- regularisation
@register
class DropoutRate(MutationOperator):
    name = "dropout_rate"
    fault_type = "regularization"
    family = "regularisation"
    description = "set a dropout rate far too high"
    variants = [{"p": 0.9}]

    def sites(self, graph):
        out = [Site(n.id, (("form", "layer"), ("type", n.attrs.get("layer_type"))))
               for n in _nodes(graph, "layer") if n.attrs.get("layer_type") in DROPOUT_LAYERS]
        out += [Site(n.id, (("form", "op"),)) for n in _nodes(graph, "op") if n.attrs.get("op") == "dropout"]
        return out

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        p = float(params.get("p", 0.9))
        if site.get("form") == "layer":
            return [edit_at("replace_expr", _expr_span(n), template=f"_fl_torch.nn.{site.get('type')}(p={p!r})"),
                    Prelude(TORCH_PRELUDE)]
        return [edit_at("set_kwarg", _expr_span(n), name="p", code=repr(p), positional=1)]


@register
class DropoutAdd(MutationOperator):
    name = "dropout_add"
    fault_type = "regularization"
    family = "regularisation"
    description = "add heavy dropout before a Linear layer"
    variants = [{"p": 0.8}]

    def sites(self, graph):
        return [Site(n.id) for n in _nodes(graph, "layer")
                if n.attrs.get("layer_type") == "Linear" and n.attrs.get("expr_span")]

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        p = float(params.get("p", 0.8))
        return [edit_at("replace_expr", _expr_span(n),
                        template="_fl_torch.nn.Sequential(_fl_torch.nn.Dropout(p=%r), {x})" % p),
                Prelude(TORCH_PRELUDE)]


@register
class WeightDecay(MutationOperator):
    name = "weight_decay"
    fault_type = "regularization"
    family = "regularisation"
    description = "set an excessive weight decay (L2 penalty) on the optimizer"
    variants = [{"value": 0.5}, {"value": 0.05}]

    def sites(self, graph):
        return [Site(o.id) for o in _nodes(graph, "optimizer")
                if o.attrs.get("optimizer_type") in OPTIMIZERS and (o.attrs.get("expr_span") or o.span)]

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        return [edit_at("set_kwarg", _expr_span(n), name="weight_decay", code=repr(float(params.get("value", 0.5))))]


# ----------------------------------------------------------------- weights
INIT_CODE = {
    "zeros": "_fl_torch.nn.init.zeros_(_fl_p)",
    "constant": "_fl_torch.nn.init.constant_(_fl_p, 0.5)",
    "large_normal": "_fl_torch.nn.init.normal_(_fl_p, 0.0, 5.0)",
    "small_normal": "_fl_torch.nn.init.normal_(_fl_p, 0.0, 1e-4)",
}


@register
class WeightInit(MutationOperator):
    name = "weight_init"
    fault_type = "weight_initialization"
    family = "weights"
    description = "re-initialise every parameter right after the model is built (zeros, constant, N(0,5), N(0,1e-4))"
    variants = [{"mode": m} for m in INIT_CODE]

    def sites(self, graph):
        return [Site(m.id) for m in _nodes(graph, "model") if m.attrs.get("var")
                and re.fullmatch(r"[A-Za-z_][\w.]*", str(m.attrs.get("var")))]

    def edits(self, graph, site, params):
        m = graph.node(site.node)
        code = (f"with _fl_torch.no_grad():\n    for _fl_p in {m.attrs['var']}.parameters():\n"
                f"        {INIT_CODE[params.get('mode', 'zeros')]}\n")
        return [edit_at("insert_after", m.span, code=code), Prelude(TORCH_PRELUDE)]


# ----------------------------------------------------------------- loss
_F = "_fl_torch.nn.functional"
_ONEHOT = "_fl_torch.nn.functional.one_hot(_t.long(), _o.shape[-1]).to(_o.dtype)"
LOSS_ALTERNATIVES = {
    "CrossEntropyLoss": {
        "mse_onehot": f"(lambda _o, _t, *_a, **_k: {_F}.mse_loss(_o, {_ONEHOT}))",
        "l1_onehot": f"(lambda _o, _t, *_a, **_k: {_F}.l1_loss(_o, {_ONEHOT}))",
    },
    "NLLLoss": {
        "mse_onehot": f"(lambda _o, _t, *_a, **_k: {_F}.mse_loss(_o, {_ONEHOT}))",
        "signed_mean": "(lambda _o, _t, *_a, **_k: -_o.mean())",
    },
    "MSELoss": {
        "signed_error": "(lambda _o, _t, *_a, **_k: (_o - _t.reshape(_o.shape)).mean())",
        "l1": f"{_F}.l1_loss",
    },
    "L1Loss": {
        "signed_error": "(lambda _o, _t, *_a, **_k: (_o - _t.reshape(_o.shape)).mean())",
        "mse": f"{_F}.mse_loss",
    },
    "SmoothL1Loss": {
        "signed_error": "(lambda _o, _t, *_a, **_k: (_o - _t.reshape(_o.shape)).mean())",
        "mse": f"{_F}.mse_loss",
    },
    "HuberLoss": {
        "signed_error": "(lambda _o, _t, *_a, **_k: (_o - _t.reshape(_o.shape)).mean())",
    },
    "BCEWithLogitsLoss": {
        "mse_on_logits": f"(lambda _o, _t, *_a, **_k: {_F}.mse_loss(_o, _t.to(_o.dtype)))",
        "soft_margin_01": f"(lambda _o, _t, *_a, **_k: {_F}.soft_margin_loss(_o, _t.to(_o.dtype)))",
    },
    "BCELoss": {
        "bce_with_logits_on_probs": f"(lambda _o, _t, *_a, **_k: {_F}.binary_cross_entropy_with_logits(_o, _t.to(_o.dtype)))",
        "signed_mean": "(lambda _o, _t, *_a, **_k: (_o - _t.to(_o.dtype)).mean())",
    },
}


def _loss_sites(graph, types: Iterable[str] | None = None) -> list[Site]:
    out = []
    for n in _loss_nodes(graph):
        lt = n.attrs.get("loss_type")
        if types is not None and lt not in types:
            continue
        if not (n.attrs.get("expr_span") or n.span):
            continue
        out.append(Site(n.id, (("loss", lt), ("functional", bool(n.attrs.get("functional"))))))
    return out


def _replace_loss(n, site, code: str) -> list[StructuralEdit]:
    if site.get("functional"):
        return [edit_at("replace_callee", _expr_span(n), code=code)]
    if code.startswith("(lambda") or code.startswith(_F):
        return [edit_at("replace_expr", _expr_span(n), template=code)]
    return [edit_at("replace_expr", _expr_span(n), template=code + "()")]


@register
class LossChange(MutationOperator):
    name = "loss_change"
    fault_type = "loss_function"
    family = "loss"
    description = "replace the loss by one unsuited to the task (regression loss on classes, signed error, ...)"

    def sites(self, graph):
        return _loss_sites(graph, LOSS_ALTERNATIVES)

    def variants_for(self, graph, site):
        return [{"to": k} for k in LOSS_ALTERNATIVES.get(site.get("loss"), {})]

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        alts = LOSS_ALTERNATIVES[site.get("loss")]
        code = alts[params.get("to") or next(iter(alts))]
        return _replace_loss(n, site, code) + [Prelude(TORCH_PRELUDE)]


@register
class NLLWithoutLogSoftmax(MutationOperator):
    name = "nll_without_log_softmax"
    fault_type = "loss_function"
    family = "loss"
    description = "use NLLLoss on raw logits (CrossEntropyLoss replaced, no log_softmax)"

    def sites(self, graph):
        return _loss_sites(graph, ("CrossEntropyLoss",))

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        code = f"{_F}.nll_loss" if site.get("functional") else "_fl_torch.nn.NLLLoss"
        return _replace_loss(n, site, code) + [Prelude(TORCH_PRELUDE)]


# ----------------------------------------------------------------- optimizer
@register
class OptimizerChange(MutationOperator):
    name = "optimizer_change"
    fault_type = "optimizer"
    family = "optimiser"
    description = "replace the optimizer (keeping its parameters and learning rate)"
    variants = [{"to": o} for o in ("SGD", "Adam", "Adagrad", "Adadelta", "RMSprop")]

    def sites(self, graph):
        return [Site(o.id, (("type", o.attrs.get("optimizer_type")), ("lr", _arg_span(o, "lr", "1") is not None)))
                for o in _nodes(graph, "optimizer") if o.attrs.get("optimizer_type") in OPTIMIZERS]

    def variants_for(self, graph, site):
        return [v for v in self.variants if v["to"] != site.get("type")]

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        span = _expr_span(n)
        keep = (0, 1, "params", "lr")
        return [edit_at("replace_callee", span, code=f"_fl_torch.optim.{params.get('to', 'SGD')}"),
                edit_at("keep_args", span, keep=keep),
                Prelude(TORCH_PRELUDE)]


@register
class GradientClipping(MutationOperator):
    name = "grad_clip"
    fault_type = "optimizer"
    family = "optimiser"
    description = "clip the gradient norm to a tiny value before every optimizer step"
    variants = [{"max_norm": 1e-3}]

    def sites(self, graph):
        return [Site(c.id, (("opt", c.attrs.get("receiver") or "optimizer"),))
                for c in _optimizer_step_calls(graph) if not c.attrs.get("in_closure")
                and re.fullmatch(r"[A-Za-z_][\w.]*", str(c.attrs.get("receiver") or ""))]

    def edits(self, graph, site, params):
        c = graph.node(site.node)
        code = (f"_fl_torch.nn.utils.clip_grad_norm_([_fl_q for _fl_g in {site.get('opt')}.param_groups "
                f"for _fl_q in _fl_g['params']], {float(params.get('max_norm', 1e-3))!r})\n")
        return [edit_at("insert_before", c.span, code=code), Prelude(TORCH_PRELUDE)]


# ----------------------------------------------------------------- training loop
class _DropCall(MutationOperator):
    fault_type = "training_loop"
    family = "training loop"
    method = ""

    def _calls(self, graph):
        return _training_step_calls(graph, self.method)

    def sites(self, graph):
        out = []
        for c in self._calls(graph):
            snippet = (c.snippet or "").strip()
            # only a statement that is just the call (not `loss = ...; x = opt.step()` forms)
            if snippet.endswith(")") and "=" not in snippet.split("(")[0]:
                out.append(Site(c.id))
        return out

    def edits(self, graph, site, params):
        return [edit_at("remove_stmt", graph.node(site.node).span)]


@register
class DropZeroGrad(_DropCall):
    name = "drop_zero_grad"
    method = "zero_grad"
    description = "remove optimizer.zero_grad() / model.zero_grad(): gradients accumulate"


@register
class DropStep(_DropCall):
    name = "drop_step"
    method = "step"
    description = "remove optimizer.step(): the weights never change"

    def _calls(self, graph):
        return _optimizer_step_calls(graph)


@register
class DropEval(_DropCall):
    name = "drop_eval"
    method = "eval"
    description = "remove model.eval() before evaluation (dropout/batch-norm stay in training mode)"


# ----------------------------------------------------------------- data
DATA_HELPER = '''
def _fl_corrupt(data, mode, frac=0.3, role="dataset"):
    """faultlens mutation: corrupt training data (deterministic, seed 12345)."""
    import numpy as _np
    import torch as _t
    gen = _t.Generator().manual_seed(12345)
    def _tt(a):
        return a if isinstance(a, _t.Tensor) else _t.as_tensor(_np.asarray(a))
    def _back(orig, a):
        return a.numpy() if isinstance(orig, _np.ndarray) else a
    def _labels(y):
        yt = _tt(y).clone()
        n = yt.shape[0]
        if mode == "shuffled_labels":
            return _back(y, yt[_t.randperm(n, generator=gen)])
        idx = _t.randperm(n, generator=gen)[: int(n * frac)]
        if yt.is_floating_point() and not bool(((yt == 0) | (yt == 1)).all()):
            yt[idx] = yt[idx] + _t.randn(yt[idx].shape, generator=gen).to(yt.dtype) * (yt.std() + 1e-8) * 3
        else:  # discrete targets (class ids, one-hot or multi-label rows): labels of random other samples
            yt[idx] = yt[_t.randint(n, (len(idx),), generator=gen)]
        return _back(y, yt)
    def _inputs(x):
        xt = _tt(x).clone()
        if mode == "unnormalized":
            xt = xt * 255.0 + 100.0 if xt.is_floating_point() else xt
        elif mode == "input_noise":
            xt = xt + _t.randn(xt.shape, generator=gen).to(xt.dtype) * (xt.std() + 1e-8) * 2.0
        return _back(x, xt)
    def _subset(x, y):
        xt, yt = _tt(x), _tt(y)
        n = yt.shape[0]
        if mode == "deleted_data":
            keep = _t.randperm(n, generator=gen)[: max(2, int(n * frac))]
        else:  # unbalanced: keep 5% of the samples of the lower half of the classes / targets
            flat = yt.reshape(n, -1)[:, 0].double()
            cut = flat.median()
            low = flat < cut if bool((flat < cut).any()) else flat <= cut
            r = _t.rand(n, generator=gen)
            keep = _t.nonzero(~low | (r < 0.05)).reshape(-1)
        return _back(x, xt[keep]), _back(y, yt[keep])
    if role == "labels":
        return _labels(data)
    if role == "inputs":
        return _inputs(data)
    items = [data[i] for i in range(len(data))]
    xs = _t.stack([_tt(it[0]) for it in items])
    ys = _t.stack([_tt(it[1]) for it in items])
    if mode in ("label_noise", "shuffled_labels"):
        ys = _labels(ys)
    elif mode in ("unnormalized", "input_noise"):
        xs = _inputs(xs)
    else:
        xs, ys = _subset(xs, ys)
    return _t.utils.data.TensorDataset(xs, ys)
'''

DATA_MODES = {
    "label_noise": ("data", 0.3), "shuffled_labels": ("data", 1.0), "deleted_data": ("data", 0.1),
    "unbalanced": ("data", 0.05), "input_noise": ("data", 2.0), "unnormalized": ("data_preprocessing", 0.0),
}


def _base_name(text: str | None) -> str | None:
    if not text:
        return None
    m = re.match(r"\s*([A-Za-z_]\w*)", text)
    return m.group(1) if m else None


def _data_sites(graph) -> list[Site]:
    out = []
    for d in _nodes(graph, "dataloader"):
        if _arg_span(d, "dataset", "0") is not None:
            out.append(Site(d.id, (("form", "loader"),)))
    if out:
        return out
    # manual batching: corrupt the tensors the training loss/forward read, before the epoch loop
    # every name a loop binds (``for xb, yb in loader`` binds xb and yb): corrupting one of them
    # before the epoch loop would reference it before it exists
    loop_vars = {name for lp in _nodes(graph, "loop")
                 for name in re.findall(r"[A-Za-z_]\w*", str(lp.attrs.get("target") or ""))}
    epoch_loops = [lp for lp in _nodes(graph, "loop") if lp.attrs.get("role") == "epoch"]
    if not epoch_loops:
        return out
    anchor = epoch_loops[0]
    for c in _training_step_calls(graph, "loss"):
        inputs = c.attrs.get("inputs") or []
        if len(inputs) >= 2:
            fwd_in = None
            for f in _training_step_calls(graph, "forward"):
                if f.attrs.get("result") and f.attrs.get("result") == _base_name(inputs[0]):
                    fwd_in = (f.attrs.get("inputs") or [None])[0]
            x_name = _base_name(fwd_in) or (_base_name(inputs[0].split("(", 1)[1]) if "(" in inputs[0] else None)
            y_name = _base_name(inputs[1])
            aliases = _loop_aliases(graph, anchor)
            x_name, y_name = _resolve_alias(x_name, aliases), _resolve_alias(y_name, aliases)
            if y_name and y_name not in loop_vars and x_name and x_name not in loop_vars:
                out.append(Site(anchor.id, (("form", "tensors"), ("x", x_name), ("y", y_name))))
                break
    return out


def _loop_aliases(graph, loop) -> dict[str, str]:
    """Inside an epoch loop: ``name -> base variable`` of simple assignments like
    ``yb = y_train[idx]`` / ``xb = X[perm[i:j]].to(dev)`` (so the corruption targets y_train)."""
    import ast

    try:
        tree = ast.parse(_read(graph, loop.span.path))
    except (OSError, SyntaxError):
        return {}
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.While)) and node.lineno == loop.span.line:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Assign) and len(sub.targets) == 1 and isinstance(sub.targets[0], ast.Name):
                    base = sub.value
                    while isinstance(base, (ast.Subscript, ast.Attribute, ast.Call)):
                        if isinstance(base, ast.Call):
                            base = base.func.value if isinstance(base.func, ast.Attribute) else None
                        else:
                            base = base.value
                    if isinstance(base, ast.Name):
                        out[sub.targets[0].id] = base.id
    return out


def _resolve_alias(name: str | None, aliases: dict[str, str]) -> str | None:
    seen = set()
    while name in aliases and name not in seen:
        seen.add(name)
        name = aliases[name]
    return name


@register
class DataFault(MutationOperator):
    name = "data_fault"
    fault_type = "data"
    family = "training data"
    description = "corrupt the training data after it is built: label noise, shuffled labels, deleted or unbalanced data, input noise"
    variants = [{"mode": m} for m, (ft, _) in DATA_MODES.items() if ft == "data"]

    def sites(self, graph):
        return _data_sites(graph)

    def edits(self, graph, site, params):
        n = graph.node(site.node)
        mode = params.get("mode", "label_noise")
        frac = DATA_MODES[mode][1]
        helper = Prelude(DATA_HELPER)
        if site.get("form") == "loader":
            return [edit_at("replace_expr", _arg_span(n, "dataset", "0"),
                            template="_fl_corrupt({x}, %r, %r)" % (mode, frac)), helper]
        x, y = site.get("x"), site.get("y")
        if mode in ("label_noise", "shuffled_labels"):
            code = f"{y} = _fl_corrupt({y}, {mode!r}, {frac!r}, role='labels')\n"
        elif mode in ("unnormalized", "input_noise"):
            code = f"{x} = _fl_corrupt({x}, {mode!r}, {frac!r}, role='inputs')\n"
        else:
            code = f"{x}, {y} = _fl_corrupt(({x}, {y}), {mode!r}, {frac!r}, role='pair')\n"
        return [edit_at("insert_before", n.span, code=code), helper]


@register
class Unnormalized(DataFault):
    name = "unnormalized_inputs"
    fault_type = "data_preprocessing"
    family = "training data"
    description = "feed unnormalised inputs (x * 255 + 100) to training"
    variants = [{"mode": "unnormalized"}]


# the 'pair' role for manual batching is handled by a tiny adapter inside the helper
DATA_HELPER += '''
_fl_corrupt_ds = _fl_corrupt
def _fl_corrupt(data, mode, frac=0.3, role="dataset"):
    if role == "pair":
        ds = _fl_corrupt_ds(_FlPair(*data), mode, frac)
        x, y = ds.tensors
        import numpy as _np
        return (x.numpy() if isinstance(data[0], _np.ndarray) else x,
                y.numpy() if isinstance(data[1], _np.ndarray) else y)
    return _fl_corrupt_ds(data, mode, frac, role)
class _FlPair:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def __len__(self):
        return len(self.y)
    def __getitem__(self, i):
        return self.x[i], self.y[i]
'''


# ----------------------------------------------------------------- architecture
def _linear_pairs(graph) -> list[tuple[Any, Any]]:
    """Consecutive weight layers of one forward flow whose dims chain (A.out == B.in)."""
    pairs = []
    for seq in _forward_flow(graph):
        layers = [n for n in seq if _is_layer(n, WEIGHT_LAYERS)]
        for a, b in zip(layers, layers[1:]):
            if a.attrs.get("layer_type") != b.attrs.get("layer_type"):
                continue
            _, a_out = _dims(a)
            b_in, _ = _dims(b)
            if a_out is not None and a_out == b_in and _arg_span(a, "out_features", "out_channels", "1") \
                    and _arg_span(b, "in_features", "in_channels", "0"):
                pairs.append((a, b))
    return pairs


@register
class WidthChange(MutationOperator):
    name = "width_change"
    fault_type = "architecture"
    family = "architecture"
    description = "shrink a hidden layer's width (both ends of a chained pair of layers)"
    variants = [{"factor": 0.0625}]

    def sites(self, graph):
        return [Site(a.id, (("next", b.id),)) for a, b in _linear_pairs(graph)]

    def edits(self, graph, site, params):
        a, b = graph.node(site.node), graph.node(site.get("next"))
        t = _scale_expr(float(params.get("factor", 0.0625)), integer=True)
        sa = _arg_span(a, "out_features", "out_channels", "1")
        sb = _arg_span(b, "in_features", "in_channels", "0")
        if sa == sb:
            return [edit_at("replace_expr", sa, template=t)]
        return [edit_at("replace_expr", sa, template=t), edit_at("replace_expr", sb, template=t)]


def _square_layers(graph) -> list:
    out = []
    for n in _nodes(graph, "layer"):
        if n.attrs.get("layer_type") in WEIGHT_LAYERS and n.attrs.get("expr_span"):
            i, o = _dims(n)
            if i is not None and i == o:
                out.append(n)
    return out


@register
class LayerRemove(MutationOperator):
    name = "layer_remove"
    fault_type = "architecture"
    family = "architecture"
    description = "remove a layer whose input and output sizes match (replaced by Identity)"

    def sites(self, graph):
        return [Site(n.id) for n in _square_layers(graph)]

    def edits(self, graph, site, params):
        return [edit_at("replace_expr", _expr_span(graph.node(site.node)), template="_fl_torch.nn.Identity()"),
                Prelude(TORCH_PRELUDE)]


@register
class LayerDuplicate(MutationOperator):
    name = "layer_duplicate"
    fault_type = "architecture"
    family = "architecture"
    description = "duplicate a size-preserving layer (two stacked copies, no activation between)"

    def sites(self, graph):
        return [Site(n.id) for n in _square_layers(graph)]

    def edits(self, graph, site, params):
        return [edit_at("replace_expr", _expr_span(graph.node(site.node)),
                        template="_fl_torch.nn.Sequential({x}, {x})"),
                Prelude(TORCH_PRELUDE)]


# positional index of ``bias`` in the constructors (torch.nn.Linear(in, out, bias);
# ConvNd(in, out, kernel_size, stride, padding, dilation, groups, bias))
BIAS_POSITION = {"Linear": 2, "Conv1d": 7, "Conv2d": 7, "Conv3d": 7}


def _bias_state(layer) -> bool | None:
    """True/False: the layer is built with / without a bias; None: unknown (not resolved)."""
    args = layer.attrs.get("args") or {}
    resolved = layer.attrs.get("args_resolved") or {}
    for key in ("bias", str(BIAS_POSITION[layer.attrs["layer_type"]])):
        if key in args:
            v = args[key]
            return v if isinstance(v, bool) and resolved.get(key, True) else None
    return True  # the constructors' default


def _bias_sites(graph, want: bool) -> list[Site]:
    """One site per weight-layer construction (distinct expr_span) whose bias is ``want``.

    Only calls whose input and output sizes are explicit arguments (so no ``*args`` /
    ``**kwargs`` could already carry ``bias``)."""
    out, seen = [], set()
    for n in _nodes(graph, "layer"):
        lt = n.attrs.get("layer_type")
        if lt not in BIAS_POSITION or not n.attrs.get("expr_span"):
            continue
        if _arg_span(n, "in_features", "in_channels", "0") is None or \
                _arg_span(n, "out_features", "out_channels", "1") is None:
            continue
        key = json.dumps(_expr_span(n).to_dict() if hasattr(_expr_span(n), "to_dict") else _expr_span(n),
                         sort_keys=True, default=str)
        if key in seen or _bias_state(n) is not want:
            continue
        seen.add(key)
        out.append(Site(n.id, (("type", lt),)))
    return out


def _set_bias(n, value: bool) -> list[StructuralEdit]:
    span = _arg_span(n, "bias", str(BIAS_POSITION[n.attrs["layer_type"]]))
    if span is not None:
        return [edit_at("replace_expr", span, template=repr(value))]
    return [edit_at("set_kwarg", _expr_span(n), name="bias", code=repr(value))]


@register
class BiasRemove(MutationOperator):
    name = "bias_remove"
    fault_type = "architecture"
    family = "architecture"
    description = "build a Linear/Conv layer without its bias (bias=False; DeepCrime 'remove bias')"

    def sites(self, graph):
        return _bias_sites(graph, True)

    def edits(self, graph, site, params):
        return _set_bias(graph.node(site.node), False)


@register
class BiasAdd(MutationOperator):
    name = "bias_add"
    fault_type = "architecture"
    family = "architecture"
    description = "give a Linear/Conv layer built with bias=False a bias (DeepCrime 'add bias')"

    def sites(self, graph):
        return _bias_sites(graph, False)

    def edits(self, graph, site, params):
        return _set_bias(graph.node(site.node), True)


# ----------------------------------------------------------------- public API
def get_operator(name: str) -> MutationOperator:
    try:
        return REGISTRY[name]
    except KeyError:
        raise MutationError(f"unknown mutation operator {name!r} (see `faultlens mutate --list`)") from None


def registry_signature() -> str:
    """A short digest of the registered operators and their variants: a changed registry
    (new operator, changed variants) gives a new signature, so cached mutant lists of
    programs planned before (``faultlens.corpus.builder.plan_program``) are re-enumerated."""
    spec = sorted([name, op.fault_type, sorted(json.dumps(v, sort_keys=True, default=str) for v in op.variants)]
                  for name, op in REGISTRY.items())
    return hashlib.sha256(json.dumps(spec, default=str).encode()).hexdigest()[:12]


def enumerate_mutants(program, graph=None, operators: Iterable[str] | None = None) -> list[Mutant]:
    """All applicable (operator, site, params) of ``program`` (a path or a ProgramGraph).

    Each candidate is applied once to check that it produces a valid, different program;
    those that do not are left out."""
    if graph is None:
        from faultlens.analyzer import build_graph
        graph = build_graph(program) if not hasattr(program, "nodes") else program
    names = list(operators) if operators is not None else list(REGISTRY)
    out: list[Mutant] = []
    seen: set[str] = set()
    for name in names:
        op = get_operator(name)
        try:
            sites = op.sites(graph)
        except Exception:  # noqa: BLE001 - a graph missing attrs for this operator
            sites = []
        for site in sites:
            for params in op.variants_for(graph, site):
                m = Mutant(op.name, site.node, tuple(sorted(params.items())), op.fault_type, site.info)
                if m.id in seen:
                    continue
                try:
                    sources = apply_mutant(graph, m)
                except MutationError:
                    continue
                if not sources:
                    continue
                seen.add(m.id)
                out.append(m)
    return out


def _read(graph, rel: str) -> str:
    root = getattr(graph, "root", ".") or "."
    path = rel if os.path.isabs(rel) else os.path.join(root, rel)
    with open(path, encoding="utf-8") as fh:
        return fh.read()  # (small files; the parsed form is cached in faultlens.edits.structural)


def apply_mutant(graph, mutant: Mutant, sources: dict[str, str] | None = None) -> dict[str, str]:
    """Apply ``mutant`` and return ``{relative path: new source}`` for each changed file.

    ``sources`` optionally gives file texts (relative path -> text) instead of reading them
    from ``graph.root``. Raises MutationError when it does not apply or changes nothing."""
    op = get_operator(mutant.operator)
    site = Site(mutant.site, mutant.info)
    if mutant.site not in graph:
        raise MutationError(f"{mutant.operator}: site {mutant.site!r} is not in the program graph")
    edits = op.edits(graph, site, mutant.param_dict)
    if not edits:
        return {}
    rel = _file_of(graph.node(mutant.site))  # an operator edits the file of its site
    text = sources[rel] if sources and rel in sources else _read(graph, rel)
    new = apply_edits(text, edits)
    try:
        compile(new, "<mutant>", "exec")
    except SyntaxError as exc:  # e.g. a keyword the call already has
        raise MutationError(f"mutant does not compile: {exc}") from None
    if new == text:
        raise MutationError(f"{mutant.operator}: the edit changes nothing")
    return {rel: new}


def mutant_from_spec(graph, operator: str, params: dict[str, Any], site: str | None = None) -> Mutant:
    """The mutant of ``operator`` with ``params`` at ``site`` (first applicable site when None)."""
    op = get_operator(operator)
    sites = op.sites(graph)
    if site is not None:
        sites = [s for s in sites if s.node == site]
    if not sites:
        raise MutationError(f"operator {operator!r} has no applicable site in this program"
                            + (f" at {site!r}" if site else ""))
    s = sites[0]
    defaults = (op.variants_for(graph, s) or [{}])[0]
    merged = {**defaults, **params}
    return Mutant(op.name, s.node, tuple(sorted(merged.items())), op.fault_type, s.info)
