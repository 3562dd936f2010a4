"""Diagnosis: symptoms + lint findings + graph facts (+ the trained classifier) -> faults.

How the confidence is computed (documented in docs/diagnosis.md):

1. **Is the program faulty?** Every fired *failure* or *defect* symptom ``e`` has a
   reliability ``q_e`` (its class attribute: the probability that a program showing it is
   faulty) and a strength ``s_e`` in [0, 1]. A noisy-OR gives
   ``P(faulty) = 1 - prod_e (1 - q_e * s_e)``. *Context* symptoms (dead ReLUs, saturation,
   input scale, update ratio) and lint findings never raise ``P(faulty)`` on their own: a
   program that trains well is healthy whatever its style (false alarms are the anchors'
   weakness). When the classifier is available and reports a ``healthy`` probability, it is
   blended in with weight ``CLASSIFIER_WEIGHT`` (< 0.5, so it can never flip a verdict alone).
2. **Which fault type?** A rule-evidence table (:data:`EVIDENCE`, one row per symptom: its
   class's ``evidence`` attribute) gives each symptom a score per fault type (a log-likelihood
   ratio on a natural-log scale: +1 makes the type e times more likely). Scores are scaled by
   the symptom strength and summed with graph facts (:func:`_graph_scores`: e.g. an Adam
   learning rate > 0.01 adds to ``learning_rate`` when the loss diverges) and lint findings
   (each finding adds to its rule's ``fault_type``).
   ``p_rules = softmax(scores)`` over all twelve types (types without evidence keep score 0:
   a uniform prior). With the classifier, ``p = (1 - w) * p_rules + w * p_clf``.
3. A fault's confidence is ``P(faulty) * p(type)``. Faults are listed in that order; types
   with ``p(type) < 0.08`` are dropped (the top one always stays).

Verdicts: ``crashed`` when the program raised; ``inconclusive`` when fewer than
``MIN_STEPS`` training steps were recorded (or no loss at all) and nothing fired;
``faulty`` when ``P(faulty) >= 0.5``; ``healthy`` otherwise.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faultlens.models.symptoms import REGISTRY, Detection, GraphFacts, TraceView, detect_all
from faultlens.models.symptoms.base import adversarial_training, fmt  # noqa: F401 (re-exported)
from faultlens.models.symptoms.base import finite
from faultlens.models.symptoms.amp import amp_note, amp_summary
from faultlens.models.symptoms.loss import cut_by_budget, settled_early
from faultlens.taxonomy import ADAPTIVE_OPTIMIZERS as _ADAPTIVE
from faultlens.taxonomy import CLOSURE_REEVALUATING_OPTIMIZERS
from faultlens.taxonomy import CRASH_CATEGORIES, FAULT_TYPES, FREED_GRAPH_MESSAGE, MIN_STEPS, VERDICTS  # noqa: F401 (re-exported)
from faultlens.taxonomy import BCE_RANGE_MESSAGE, OPTIMIZER_DEFAULT_LR
from faultlens.taxonomy import REFERENCE_LR as _REFERENCE_LR
from faultlens.taxonomy import REGRESSION_LOSSES as _REGRESSION_LOSSES

CLASSIFIER_WEIGHT = 0.3
MIN_TYPE_P = 0.08

#: symptom -> {fault type: score}. Scores are natural-log likelihood ratios (see module doc).
#: Each row is its symptom class's ``evidence`` attribute; the table is read from the registry.
EVIDENCE: dict[str, dict[str, float]] = {name: dict(cls.evidence) for name, cls in REGISTRY.items()}

#: amp_scale_collapse while the loss itself is non-finite: the forward already fails, and the
#: symptoms of that failure (nan_or_inf, diverging_loss) say why; the collapse adds little
AMP_AFTER_NONFINITE: dict[str, float] = {"learning_rate": 0.5, "data": 0.3, "data_preprocessing": 0.3}

#: symptoms of slow progress (explained away by badly scaled inputs / targets)
SLOW_PROGRESS = {"slow_convergence", "still_improving", "loss_not_decreasing", "no_better_than_baseline"}

#: context symptoms that corroborate a failure enter the noisy-OR with this factor on their
#: reliability (only when a failure or defect symptom fired: context alone is never a fault)
CONTEXT_CORROBORATION = 0.5

#: capacity_limit: which limit -> scores (replaces the default row)
CAPACITY: dict[str, dict[str, float]] = {
    "narrow": {"architecture": 3.5, "activation": 0.3},
    "linear": {"activation": 3.5, "architecture": 0.8},
    "symmetric": {"weight_initialization": 3.5, "architecture": 0.3},
}

#: output_range_mismatch: which contract was broken -> scores (replaces the default row)
OUTPUT_MISMATCH: dict[str, dict[str, float]] = {
    "probabilities_into_logit_loss": {"activation": 3.0, "loss_function": 2.2},  # redundant softmax/sigmoid
    "scores_into_nll": {"loss_function": 3.0, "activation": 2.0},                # NLLLoss without log_softmax
    "logits_into_bce": {"loss_function": 3.0, "activation": 2.0},                # BCELoss on logits
    "bounded_output_regression": {"activation": 3.0, "loss_function": 1.0},      # ReLU/sigmoid output head
}

#: too_few_steps where the loop hands ``step`` a closure that its optimizer evaluates once
#: (replaces the default row): the loop is written for an optimizer that makes many updates per
#: call (LBFGS), so its few outer steps are few updates under SGD or Adam
CLOSURE_ONCE: dict[str, float] = {"optimizer": 3.5, "epochs": 2.0}


def closure_evaluated_once(gf: GraphFacts) -> str | None:
    """The optimizer node whose ``step(closure)`` calls evaluate the closure once per step
    (every torch optimizer but those of :data:`CLOSURE_REEVALUATING_OPTIMIZERS`), else None."""
    g = gf.graph
    if g is None:
        return None
    for call in g.nodes("call", method="step"):
        if not call.get("closure"):
            continue
        target = call.get("target")
        opt = g.node(target) if target and target in g else None
        otype = opt.get("optimizer_type") if opt is not None else None
        if otype and otype not in CLOSURE_REEVALUATING_OPTIMIZERS and not opt.get("manual"):
            return opt.id
    return None


#: symptoms whose learning-rate reading is explained away by a broken output/loss contract
EXPLAINED_BY_CONTRACT = {"nan_or_inf", "diverging_loss", "exploding_gradient", "oscillating_loss", "loss_spike",
                         "dead_gradients"}

#: crash kind -> {fault type: score}
CRASH_EVIDENCE: dict[str, dict[str, float]] = {
    "shape_mismatch": {"architecture": 3.0, "data": 1.0, "data_preprocessing": 0.6, "loss_function": 0.6},
    "dtype": {"data_preprocessing": 2.0, "data": 1.0, "loss_function": 1.0},
    "device": {"training_loop": 1.5, "architecture": 0.5},
    "out_of_memory": {"batch_size": 3.0, "architecture": 1.0},
    "nan_check": {"learning_rate": 2.0, "data": 0.6},
    "other": {"architecture": 0.8, "training_loop": 0.8, "data": 0.6, "loss_function": 0.5},
}

_TARGET_OOB = re.compile(r"[Tt]arget (-?\d+) is out of bounds")


def _crash_node(crash: dict[str, Any], gf: GraphFacts | None) -> Any:
    """The graph node of the crash statement, or None (no graph, or a statement it lacks)."""
    g = getattr(gf, "graph", None)
    node = crash.get("node")
    return g.node(node) if g is not None and node and node in g else None


def _crash_loss_type(crash: dict[str, Any], gf: GraphFacts | None) -> str | None:
    """The loss type of the loss call the crash was raised in (the crash statement's graph
    node is a call whose target is a loss), else None."""
    n = _crash_node(crash, gf)
    if n is None:
        return None
    g = gf.graph
    node = n.id
    target = n.get("target") if n.kind == "call" else (node if n.kind == "loss" else None)
    if not target or target not in g:
        return None
    t = g.node(target)
    return t.get("loss_type") if t.kind == "loss" else None


def _crash_construction(crash: dict[str, Any], gf: GraphFacts | None) -> str | None:
    """``optimizer`` or ``scheduler`` when the crash statement is that object's construction
    (the crash's graph node is the optimizer or scheduler node), else None."""
    n = _crash_node(crash, gf)
    return n.kind if n is not None and n.kind in ("optimizer", "scheduler") else None


#: words of torch.optim's argument checks ("Invalid learning rate: -0.1") that name the rate
_LR_WORDS = re.compile(r"\b(learning[ _]rate|lr)\b", re.I)


def crash_scores(crash: dict[str, Any], gf: GraphFacts | None = None) -> dict[str, float]:
    """Scores from a crash: its kind (CRASH_EVIDENCE) refined by the message and by the role of
    the statement that raised it: a class target out of range is a data fault when negative
    (labels not 0..C-1) and an architecture fault otherwise (the output layer has fewer units
    than there are classes); "input should be between 0 and 1" is BCELoss fed logits
    (loss_function); a shape or dtype error raised in a regression loss's call (MSELoss given
    class indices) is the loss function's; backward through a freed graph is a loop that
    carries state (a recurrent hidden state) across iterations without detaching it; an error
    raised while a data loop fetched its next batch is the data pipeline's (its transforms); an
    error raised by the optimizer's (or lr scheduler's) construction is the optimizer's, or the
    learning rate's where the message names the rate."""
    kind = crash.get("kind") or "other"
    msg = str(crash.get("message") or "")
    if FREED_GRAPH_MESSAGE in msg:
        return {"training_loop": 3.5, "architecture": 0.3}
    built = _crash_construction(crash, gf)
    if built is not None:
        # raised while the optimizer (or lr scheduler) was built: an argument its class does
        # not take (``momentum=`` given to Adam after a swap from SGD) or a value torch.optim's
        # checks refuse ("Invalid learning rate", "Invalid beta parameter")
        if _LR_WORDS.search(msg) or built == "scheduler":
            return {"learning_rate": 3.5, "optimizer": 2.0}
        return {"optimizer": 3.5, "learning_rate": 0.5}
    if _raised_by_the_data_loop(crash, gf):
        # raised while the ``for`` statement fetched the next batch: the dataset's item or its
        # transforms (a Normalize for three channels on one-channel images, a missing
        # ToTensor before collation), not the model
        return {"data_preprocessing": 3.0, "data": 1.5, "batch_size": 0.3}
    if kind in ("shape_mismatch", "dtype") or "dtype" in msg.lower() or "must match the size" in msg:
        if _crash_loss_type(crash, gf) in _REGRESSION_LOSSES:
            return {"loss_function": 3.5, "data": 0.6, "architecture": 0.4}
    m = _TARGET_OOB.search(msg)
    if m:
        return {"data": 3.0, "data_preprocessing": 0.5} if int(m.group(1)) < 0 else \
            {"architecture": 2.5, "data": 1.0, "loss_function": 0.5}
    if BCE_RANGE_MESSAGE in msg:
        return {"loss_function": 3.0, "activation": 1.5}
    if "expected scalar type" in msg or "dtype" in msg.lower():
        return CRASH_EVIDENCE["dtype"]
    return CRASH_EVIDENCE.get(kind, CRASH_EVIDENCE["other"])


_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def _raised_by_the_data_loop(crash: dict[str, Any], gf: GraphFacts | None) -> bool:
    """The crash was raised while a loop over a data loader fetched its next batch: one frame
    of the traceback (or the crash statement) is that loop's ``for`` line -- whatever deeper
    frames follow (the dataset's ``__getitem__``, its transforms, the collate function) --
    rather than a statement of the loop's body."""
    g = gf.graph if gf is not None else None
    if g is None:
        return False
    frames = [(p.replace("\\", "/"), int(ln)) for p, ln in _FRAME.findall(str(crash.get("traceback") or ""))]
    if crash.get("path") and crash.get("frame_line"):
        frames.append((str(crash["path"]).replace("\\", "/"), int(crash["frame_line"])))
    for n in g.nodes("loop"):
        if not str(n.get("iterates") or "").startswith("dataloader:"):
            continue
        path = n.span.path.replace("\\", "/")
        if any(ln == n.span.line and (p == path or p.endswith("/" + path)) for p, ln in frames):
            return True
    return False


# exception classes of the crash categories (faultlens.taxonomy.CRASH_CATEGORIES) environment and api
_ENVIRONMENT_ERRORS = frozenset((
    "ModuleNotFoundError", "ImportError", "FileNotFoundError", "PermissionError", "IsADirectoryError",
    "NotADirectoryError", "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "URLError",
    "HTTPError", "gaierror", "TimeoutError", "SSLError"))
_API_ERRORS = frozenset(("UnpicklingError", "PicklingError"))


def crash_category(crash: dict[str, Any] | None) -> str | None:
    """``exit``, ``environment`` or ``api`` for a crash that is not a training fault, else None."""
    if not crash:
        return None
    t = str(crash.get("type") or "")
    if t == "SystemExit":
        return "exit"
    if t in _ENVIRONMENT_ERRORS:
        return "environment"
    if t in _API_ERRORS or "weights_only" in str(crash.get("message") or ""):
        return "api"
    return None


#: lint finding weight by severity (added to the rule's fault type)
LINT_WEIGHT = {"error": 1.5, "warning": 0.8, "info": 0.3}


@dataclass
class Evidence:
    symptom: str
    step: int | None
    node: str | None
    value: Any

    def to_dict(self) -> dict[str, Any]:
        from faultlens.models.symptoms.base import _jsonable
        return {"symptom": self.symptom, "step": self.step, "node": self.node, "value": _jsonable(self.value)}


@dataclass
class FaultCandidate:
    """One ranked fault type with its confidence, a one-line summary, the evidence for it and
    the graph nodes that localization starts from."""

    type: str
    confidence: float
    probability: float  # p(type | faulty)
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "confidence": round(self.confidence, 4), "probability": round(self.probability, 4),
                "summary": self.summary, "evidence": [e.to_dict() for e in self.evidence], "nodes": list(self.nodes)}


@dataclass
class Diagnosis:
    verdict: str
    p_faulty: float
    faults: list[FaultCandidate]
    symptoms: list[Detection]
    lint: list[Any] = field(default_factory=list)
    steps: int = 0
    status: str = "finished"
    crash: dict[str, Any] | None = None
    scores: dict[str, float] = field(default_factory=dict)
    classifier: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def top(self) -> FaultCandidate | None:
        return self.faults[0] if self.faults else None

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "p_faulty": round(self.p_faulty, 4),
                "faults": [f.to_dict() for f in self.faults], "symptoms": [d.to_dict() for d in self.symptoms],
                "steps": self.steps, "status": self.status, "crash": self.crash, "notes": list(self.notes)}


# ---------------------------------------------------------------- graph facts -> scores
REG_NAMES = ("l2", "lambda", "penalty", "weight_decay", "wd", "reg_", "regular")


def _graph_scores(gf: GraphFacts, fired: set[str], det: list[Detection], tv: TraceView) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Extra scores from the program's structure, each only in the presence of the failure
    it explains. Returns (scores, nodes-per-type)."""
    sc: dict[str, float] = {}
    nodes: dict[str, list[str]] = {}

    def add(t: str, w: float, *ns: str | None) -> None:
        sc[t] = sc.get(t, 0.0) + w
        for n in ns:
            if n and n not in nodes.setdefault(t, []):
                nodes[t].append(n)

    explosive = fired & {"diverging_loss", "nan_or_inf", "exploding_gradient", "oscillating_loss", "beyond_stability",
                         "loss_spike"}
    stuck = fired & {"loss_not_decreasing", "slow_convergence", "unchanged_weights", "no_better_than_baseline"}
    opt, lr = gf.optimizer_lr()
    if opt is not None and lr is None:
        lr = _recorded_peak_lr(tv)  # set where the analyzer cannot follow (a config file exec'd)
    if opt is not None and lr is not None:
        otype = opt.get("optimizer_type") or ""
        momentum = (opt.get("args") or {}).get("momentum") or 0
        adaptive = otype in _ADAPTIVE
        # UMLAUT: lr > 0.01 for Adam-like optimizers; plain SGD tolerates ~1
        high = lr > (0.01 if adaptive else (0.5 if momentum else 1.0))
        # plain steps: also a hundredth of the optimizer's reference rate, which for a
        # quasi-Newton or line-search method (LBFGS, default 1; torch.optim docs) is far above SGD's
        # a loss summed over n elements (``reduction='sum'``) scales every gradient by n: the
        # step a plain optimizer takes is lr * n in mean-loss units (adaptive ones normalise it)
        plain_lr = lr * (_summed_elements(gf, tv) if not adaptive else 1.0)
        low = (lr < 1e-5) if adaptive else plain_lr < max(1e-4, 1e-2 * _REFERENCE_LR.get(otype, 0.0))
        if explosive and high:
            add("learning_rate", 2.0, opt.id)
            if adaptive and lr >= SGD_SIZED_LR:
                # a rate of SGD's customary size given to an adaptive method (an optimizer
                # swapped, the old rate kept): the optimizer is the other reading of the blow-up
                add("optimizer", 1.0, opt.id)
        if stuck and low:
            add("learning_rate", 2.0, opt.id)
        if stuck and adaptive and lr >= 100 * OPTIMIZER_DEFAULT_LR.get(otype, 1e-3):
            # an adaptive method moves every weight by about lr per step whatever its gradient
            # (Adam's normalised update, Kingma & Ba 2015, sec. 2.1): at a hundred times its
            # documented default it cannot settle, and the loss stays at the baseline
            add("learning_rate", 2.0, opt.id)
            if lr >= SGD_SIZED_LR:
                add("optimizer", 2.0, opt.id)  # SGD's rate kept after a swap to this method
        if stuck and lr == 0:
            add("learning_rate", 3.0, opt.id)
        if stuck and not adaptive and not momentum and not low and "slow_convergence" in fired:
            # plain SGD at a rate of an adaptive method's size (1e-3: Adam's default) learns
            # slowly: a swap from Adam that kept its rate reads so as much as a low rate does
            add("optimizer", 1.0 if plain_lr <= ADAPTIVE_SIZED_LR else 0.4, opt.id)
        if stuck and opt.get("params_kind") in {"subset", "other_model"}:
            add("optimizer", 3.0, opt.id)
    failing = any(d.category == "failure" for d in det)
    for o in gf.optimizers:
        if o.get("manual") and o.get("ascent") and (explosive or stuck or failing):
            # a hand-written step that adds the gradient climbs the loss: the update rule is wrong
            add("training_loop", 4.0, o.id)
            add("optimizer", 1.5, o.id)
    for oid, odd in _odd_optimizer_settings(gf, tv).items():
        # optimizer-specific hyperparameters far outside their standard ranges (torch defaults:
        # Adam eps 1e-8, betas (0.9, 0.999); SGD momentum 0..0.95): effective step sizes change
        # by orders of magnitude
        if failing:
            add("optimizer", 3.0, oid)
    epochs = gf.hp_value("epochs")
    if fired & {"slow_convergence", "still_improving"} and epochs is not None and epochs <= 3:
        add("epochs", 1.5, *[n.id for n in gf.hyper.get("epochs", [])])
    bs = gf.hp_value("batch_size")
    if bs is None:
        for n in (gf.graph.nodes("dataloader") if gf.graph is not None else []):
            if isinstance(n.get("batch_size"), (int, float)):
                bs = float(n.get("batch_size"))
    if bs is not None:
        if bs <= 2 and fired & {"oscillating_loss", "diverging_loss", "slow_convergence"}:
            add("batch_size", 1.5)
        if bs >= 2048 and "slow_convergence" in fired:
            add("batch_size", 0.8)
    # full-batch training: one optimizer step per epoch (the whole dataset in one batch) leaves
    # only as many updates as epochs. Read only where a batch loop sits inside the epoch loop
    # (as too_few_steps reads it): where the graph shows one training loop and no batch loop in
    # it, a loop of steps over sampled mini-batches (a language model's
    # ``for it in range(max_iters)``), each "epoch" is one step by construction
    epochs_seen = sum(1 for e in tv.events if e.event == "epoch")
    steps_seen = sum(1 for e in tv.events if e.event == "step")
    slow = fired & {"still_improving", "slow_convergence", "loss_not_decreasing"}
    if not gf.lone_step_loop() and epochs_seen >= 3 and steps_seen and steps_seen / epochs_seen <= 1.0 and slow:
        add("batch_size", 3.0, *[n.id for n in (gf.graph.nodes("dataloader") if gf.graph is not None else [])][:1])
    dropout = gf.hp_value("dropout")
    for n in gf.graph.nodes("layer") if gf.graph is not None else []:
        if (n.get("layer_type") or "").startswith("Dropout"):
            p = (n.get("args") or {}).get("p", (n.get("args") or {}).get("0"))
            if isinstance(p, (int, float)) and not isinstance(p, bool):
                dropout = max(dropout or 0, float(p))
                if p >= 0.7 and stuck:
                    add("regularization", 2.0, n.id)
    wd = None
    if opt is not None:
        wd = (opt.get("args") or {}).get("weight_decay")
    if isinstance(wd, (int, float)) and not isinstance(wd, bool) and wd >= 0.05 and stuck:
        add("regularization", 2.0, opt.id)
    for name, hps in gf.hyper.items():
        # an explicit penalty coefficient (L2_LAMBDA = 1.0, reg = 0.5, ...) large enough to
        # dominate the data loss
        low = name.lower()
        if any(k in low for k in REG_NAMES) and "lr" not in low:
            v = gf.hp_value(name)
            if v is not None and 0.05 <= v < 1e6 and stuck:
                add("regularization", 2.0, *[h.id for h in hps])
    if dropout is not None and dropout >= 0.7 and stuck:
        add("regularization", 1.0, *[n.id for n in gf.hyper.get("dropout", [])])
    if gf.graph is not None:
        for n in gf.graph.nodes("init"):
            fn = n.get("fn") or n.get("applied_fn") or ""
            val = n.get("value")
            bad = gf.symmetric_init(n)
            big = fn in {"normal_", "uniform_"} and isinstance(val, (int, float)) and abs(val) >= 1
            if (bad or big) and (stuck or explosive or fired & {"vanishing_gradient", "dead_relu", "saturated_activation"}):
                add("weight_initialization", 2.0, n.id)
        if not gf.graph.nodes("transform") and "input_out_of_range" in fired:
            add("data_preprocessing", 0.5)
    # the last op before a logits loss is an activation that does not belong there
    lts = gf.loss_types()
    for last in gf.last_forward_items():
        k = gf.kind_of(last.id)
        if lts and lts[0] in {"CrossEntropyLoss", "BCEWithLogitsLoss", "NLLLoss"} and k in {"Softmax", "Sigmoid", "ReLU", "Tanh"}:
            if fired & ({"output_range_mismatch"} | stuck | explosive):
                add("activation", 1.5, last.id)
        if lts and lts[0] == "NLLLoss" and "output_range_mismatch" in fired and k != "LogSoftmax":
            add("activation", 0.3, last.id)
    # residual: the model cannot fit its training data although the optimizer moves the weights
    # normally (update ratio recorded and inside TheDeepChecker's band, no blow-up) and nothing
    # in the program's structure explains it -> the data (labels unrelated to inputs, a broken
    # pairing of inputs and labels)
    normal_updates = bool(tv.nodes("update_ratio_total")) and "abnormal_update_ratio" not in fired
    not_fitting = fired & {"loss_not_decreasing"} or any(
        d.symptom == "slow_convergence" and d.details.get("rule") in ("accuracy", "below_target") for d in det)
    structural = any(sc.get(t, 0.0) >= 1.0 for t in ("learning_rate", "optimizer", "weight_initialization",
                                                      "regularization", "epochs", "batch_size", "activation"))
    defects = fired & {"output_range_mismatch", "negative_loss", "accumulating_gradients", "missing_update",
                       "eval_mode_missing", "train_mode_missing", "input_out_of_range", "target_out_of_range",
                       "vanishing_gradient", "dead_relu", "saturated_activation", "still_improving",
                       "shrinking_weights", "preprocessing_mismatch", "custom_gradient_mismatch"}
    if not_fitting and normal_updates and not explosive and not structural and not defects:
        add("data", 0.0)
        sc["__data_residual__"] = 2.0
    if "output_range_mismatch" in fired:
        for ln in gf.losses[:1]:
            add("loss_function", 0.0, ln.id)
        for last in gf.last_forward_items():
            add("activation", 0.0, last.id)
    return sc, nodes


#: rates of the size customary for SGD (0.01-0.1) and for adaptive methods (1e-4-3e-3, Adam's
#: default 1e-3): an optimizer given the other family's rate reads as a swap that kept the rate
SGD_SIZED_LR = 0.05
ADAPTIVE_SIZED_LR = 3e-3


def _summed_elements(gf: GraphFacts, tv: TraceView) -> float:
    """How many elements a sum-reduced loss adds up per step (the median ``target_numel``
    recorded), 1 for a mean-reduced loss or when nothing was recorded."""
    if not gf.sum_reduced():
        return 1.0
    _, v = finite(*tv.series("target_numel"))
    v = v[v > 0]
    return float(np.sort(v)[len(v) // 2]) if len(v) else 1.0


def _recorded_peak_lr(tv: TraceView) -> float | None:
    """The largest learning rate the run recorded (its first param group's, for the optimizer
    with most records; a warmup or decay schedule peaks there), None when none was recorded."""
    _, v = finite(*tv.series("lr"))
    return float(np.max(v)) if len(v) else None


def _opt_arg(gf: GraphFacts, o: Any, name: str) -> Any:
    """An optimizer argument's value: the resolved literal, else (for ``args.eps``-style text)
    the value of the hyperparameter of that name (argparse default), else None."""
    v = (o.get("args") or {}).get(name)
    if isinstance(v, str):
        key = v.split(".")[-1].strip()
        hv = gf.hp_value(key) if key.isidentifier() else None
        return hv
    return v


def _odd_optimizer_settings(gf: GraphFacts, tv: TraceView | None = None) -> dict[str, list[str]]:
    """Optimizer hyperparameters far outside their standard ranges, per optimizer id."""
    out: dict[str, list[str]] = {}
    for o in gf.optimizers:
        otype = o.get("optimizer_type") or ""
        eps, mom, betas = (_opt_arg(gf, o, k) for k in ("eps", "momentum", "betas"))
        if tv is not None:
            for node in tv.nodes("momentum"):  # the value the optimizer actually used, when traced
                if node and node.split("#")[0] == o.id:
                    _, v = tv.series("momentum", node)
                    v = v[v == v]
                    if len(v):
                        mom = float(v[-1])
        odd = []
        if otype in _ADAPTIVE and isinstance(eps, (int, float)) and not isinstance(eps, bool) and eps >= 1e-3:
            odd.append(f"eps={eps}")
        if isinstance(mom, (int, float)) and not isinstance(mom, bool) and mom >= 0.99:
            odd.append(f"momentum={mom}")
        if isinstance(betas, (list, tuple)) and len(betas) == 2 and all(isinstance(b, (int, float)) for b in betas):
            if betas[0] >= 0.999 or betas[1] < 0.9 or betas[0] < 0.5:
                odd.append(f"betas={tuple(betas)}")
        if odd:
            out[o.id] = odd
    return out


def _explainers(dets: list[Detection], gf: GraphFacts) -> set[str]:
    """Observed causes that explain a blow-up better than the learning rate does."""
    ex = set()
    for d in dets:
        if d.symptom in ("output_range_mismatch", "negative_loss", "accumulating_gradients",
                         "regression_loss_on_class_indices"):
            ex.add(d.symptom)
        if d.symptom in ("input_out_of_range", "target_out_of_range") and d.strength >= 1.0:
            ex.add(d.symptom)
        if d.symptom == "abnormal_activation_scale" and d.details.get("direction") == "high":
            ex.add(d.symptom)
        if d.symptom in ("custom_gradient_mismatch", "preprocessing_mismatch"):
            # measured defects: wrong gradients, or training inputs scaled unlike the
            # evaluation's, explain a blow-up or slow progress whatever the learning rate
            ex.add(d.symptom)
        if d.symptom == "missing_update":
            # a model whose loss is computed but that no optimizer steps: in a program that
            # trains several models against each other (a GAN) its adversary wins and the
            # losses blow up; the missing step explains that, not the learning rate
            ex.add(d.symptom)
    if _odd_optimizer_settings(gf):
        ex.add("odd_optimizer")
    if any(o.get("manual") and o.get("ascent") for o in gf.optimizers):
        ex.add("gradient_ascent")  # a hand-written step that adds the gradient
    return ex


#: symptoms that judge the loss curve's trend: a minimax game's losses are not expected to fall
LOSS_TRENDS = frozenset(("loss_not_decreasing", "slow_convergence", "still_improving", "loss_spike",
                         "diverging_loss", "oscillating_loss", "no_better_than_baseline", "could_train_longer"))


def _lint_fault_types() -> dict[str, str]:
    try:
        from faultlens.analyzer.lint.registry import all_rules
        return {r.code: getattr(r, "fault_type", "") for r in all_rules()}
    except Exception:
        return {}


def not_built(tv: Any) -> set[str]:
    """Optimizers and schedulers whose construction the program's source has (the instrumenter
    watched the statement) but that a run to the program's own end never built: they sit behind
    a branch the run did not take (``if args.optimizer == "adam":``)."""
    meta = getattr(tv, "meta", None) or {}
    if meta.get("status") != "finished" or not meta.get("steps"):
        return set()
    inst = {n for n in (meta.get("instrumented") or []) if isinstance(n, str)
            and n.split(":", 1)[0] in ("optimizer", "scheduler")}
    w = meta.get("watched") or {}
    built = set(w.get("optimizers") or []) | set(w.get("schedulers") or [])
    return inst - built


def _lint_scores(lint: list[Any] | None, unbuilt: set[str] | None = None
                 ) -> tuple[dict[str, float], dict[str, list[str]], list[dict[str, Any]]]:
    """Per fault type score and nodes from the lint findings. A finding on an object the run
    never built (``unbuilt``) is kept, marked ``ran: False``, and scores nothing."""
    sc: dict[str, float] = {}
    nodes: dict[str, list[str]] = {}
    items: list[dict[str, Any]] = []
    if not lint:
        return sc, nodes, items
    codes = _lint_fault_types()
    for f in lint:
        d = f.to_dict() if hasattr(f, "to_dict") else dict(f)
        t = d.get("fault_type") or (getattr(f, "extra", {}) or {}).get("fault_type") or codes.get(d.get("code", ""), "")
        d["fault_type"] = t or None
        items.append(d)
        if unbuilt and d.get("node") in unbuilt:
            d["ran"] = False
            continue
        if t in FAULT_TYPES:
            sc[t] = sc.get(t, 0.0) + LINT_WEIGHT.get(d.get("severity", "info"), 0.3)
            if d.get("node"):
                nodes.setdefault(t, []).append(d["node"])
    return sc, nodes, items


def _classifier_probs(trace: Any, graph: Any, errors: list[str]) -> tuple[dict[str, float] | None, float | None]:
    """(p(type) from the shipped classifier, p(faulty) from its triage head) or Nones; a model
    that fails on this run leaves the rules alone and one line in ``errors`` (the report's notes)."""
    try:
        from faultlens.models import classifier as _clf  # owned by the corpus/models helper
        model = _clf.load_shipped()
        if model is None:
            return None, None
        from faultlens.models import features as _feat
        tr = trace
        path = trace if isinstance(trace, (str, os.PathLike)) else (getattr(trace, "path", None) if isinstance(trace, TraceView) else None)
        if path is not None:
            from faultlens.instrumenter.trace import load_trace
            tr = load_trace(path)
        feats = _feat.extract(tr, graph)
        probs = {str(k): float(v) for k, v in dict(model.predict_proba(feats)).items()}
        triage = model.triage_proba(feats) if hasattr(model, "triage_proba") else None
        return probs, (None if triage is None else float(triage))
    except Exception as exc:  # noqa: BLE001 - the rules diagnose alone
        errors.append(f"the trained model was not used (rules only): {type(exc).__name__}: {exc}")
        return None, None


def _softmax(scores: dict[str, float]) -> dict[str, float]:
    m = max(scores.values())
    ex = {t: math.exp(s - m) for t, s in scores.items()}
    z = sum(ex.values())
    return {t: v / z for t, v in ex.items()}


# ---------------------------------------------------------------- summaries
def lr_direction(dets: list[Detection]) -> str | None:
    """"high" / "low" / None: which way the learning-rate evidence points."""
    names = {d.symptom for d in dets}
    if names & {"diverging_loss", "nan_or_inf", "exploding_gradient", "oscillating_loss", "beyond_stability",
                "loss_spike"} or any(d.symptom == "abnormal_update_ratio" and d.details.get("direction") == "high"
                                     for d in dets):
        return "high"
    if "lr_collapse" in names:
        return "collapse"
    if names & {"loss_not_decreasing", "slow_convergence", "abnormal_update_ratio", "unchanged_weights",
                "no_better_than_baseline"}:
        return "low"
    return None


def _summary(t: str, dets: list[Detection], gf: GraphFacts) -> str:
    names = {d.symptom for d in dets}
    key = "; ".join(d.message for d in dets[:2] if d.message)
    _, lr = gf.optimizer_lr()
    direction = lr_direction(dets)
    once = closure_evaluated_once(gf) if t == "optimizer" and "too_few_steps" in names else None
    head = {
        "learning_rate": ("learning rate too high" if direction == "high" else
                          "learning rate decays to ~0 too early" if direction == "collapse" else
                          "learning rate too low" if direction == "low" else "learning rate badly chosen")
        + (f" (lr={fmt(lr)})" if lr is not None else ""),
        "optimizer": (_closure_head(gf, once) if once else "the optimizer does not update the model well"),
        "loss_function": "the loss function does not match the model output",
        "activation": "an activation does not fit (output activation / loss pairing or saturation)",
        "weight_initialization": "the weight initialisation breaks training",
        "data_preprocessing": "the input data is not normalised",
        "epochs": "training stops before the model converges (too few epochs)",
        "batch_size": "the batch size makes training unstable or slow",
        "regularization": "regularisation is wrong (over- or under-fitting)",
        "training_loop": _loop_head(names),
        "architecture": "the architecture does not fit the task",
        "data": "the data or labels prevent learning",
    }[t]
    return f"{head}: {key}" if key else head


def _closure_head(gf: GraphFacts, opt_id: str) -> str:
    opt = gf.graph.node(opt_id)
    return (f"step(closure) is written for an optimizer that re-evaluates the closure (LBFGS), but "
            f"{opt.get('optimizer_type')} evaluates it once: one update per outer step")


def _loop_head(names: set[str]) -> str:
    if "accumulating_gradients" in names:
        return "gradients are never cleared (optimizer.zero_grad() missing)"
    if "missing_update" in names:
        return "the optimizer never applies the gradients (optimizer.step() missing or zero_grad misplaced)"
    if "eval_mode_missing" in names:
        return "evaluation runs in training mode (model.eval() missing)"
    if "train_mode_missing" in names:
        return "training runs in eval mode (model.train() missing)"
    return "the training loop is wrong"


# ---------------------------------------------------------------- main entry
def diagnose(trace: Any, graph: Any = None, lint: list[Any] | None = None, *, use_classifier: bool = True) -> Diagnosis:
    """Diagnose one run. ``trace``: a Trace, a trace.sqlite path or a TraceView; ``graph``: the
    ProgramGraph (or None); ``lint``: lint findings for the program (Finding objects or dicts)."""
    tv = TraceView.of(trace)
    gf = GraphFacts.of(graph)
    errors: list[str] = []
    dets = detect_all(tv, gf, errors=errors)
    adversarial = adversarial_training(tv)
    if adversarial:
        dets = [d for d in dets if d.symptom not in LOSS_TRENDS]
    fired = {d.symptom for d in dets}
    crash = tv.crash
    status = tv.status
    steps = tv.steps
    lint_sc, lint_nodes, lint_items = _lint_scores(lint, not_built(tv))

    # 1. P(faulty)
    prod = 1.0
    primary = [d for d in dets if d.category in ("failure", "defect")]
    for d in primary:
        q = REGISTRY[d.symptom].reliability
        prod *= 1.0 - q * d.strength
    if primary:
        for d in dets:
            if d.category == "context":
                prod *= 1.0 - CONTEXT_CORROBORATION * REGISTRY[d.symptom].reliability * d.strength
    p_rules_faulty = 1.0 - prod
    clf, triage = _classifier_probs(trace, graph, errors) if use_classifier else (None, None)
    p_faulty = p_rules_faulty
    if triage is not None:
        p_faulty = (1 - CLASSIFIER_WEIGHT) * p_rules_faulty + CLASSIFIER_WEIGHT * triage
    elif clf and "healthy" in clf:
        p_faulty = (1 - CLASSIFIER_WEIGHT) * p_rules_faulty + CLASSIFIER_WEIGHT * (1.0 - clf["healthy"])

    # 2. type scores
    explainers = _explainers(dets, gf)
    scores = {t: 0.0 for t in FAULT_TYPES}
    per_type_dets: dict[str, list[tuple[float, Detection]]] = {t: [] for t in FAULT_TYPES}
    strongest: dict[tuple[str, str], float] = {}
    for d in dets:
        table = dict(EVIDENCE.get(d.symptom, {}))
        if d.symptom == "nan_or_inf" and d.details.get("what") == "input":
            table = {"data_preprocessing": 2.0, "data": 2.0}
        if d.symptom == "unchanged_weights" and d.details.get("scope") == "parameter":
            table = {"optimizer": 2.5, "architecture": 0.5}
        if d.symptom == "abnormal_update_ratio" and d.details.get("direction") == "high":
            table = {"learning_rate": 2.0}
        if d.symptom == "too_few_steps" and d.details.get("one_step_epochs"):
            table = {"batch_size": 3.5, "epochs": 2.0}
        if d.symptom == "too_few_steps" and closure_evaluated_once(gf):
            table = dict(CLOSURE_ONCE)
        if d.symptom == "capacity_limit":
            table = dict(CAPACITY[d.details.get("problem", "narrow")])
        if d.symptom == "custom_gradient_mismatch" and not d.details.get("elementwise"):
            table = {"architecture": 3.0, "activation": 0.5}  # a layer-like Function, not an activation
        if d.symptom == "amp_scale_collapse" and d.details.get("loss_nonfinite"):
            table = dict(AMP_AFTER_NONFINITE)
        if d.symptom == "output_range_mismatch" and d.details.get("problem") in OUTPUT_MISMATCH:
            table = dict(OUTPUT_MISMATCH[d.details["problem"]])
        if d.symptom in EXPLAINED_BY_CONTRACT | {"abnormal_update_ratio"} and explainers:
            # a broken output/loss contract, accumulating gradients, unscaled data, a huge init or
            # an odd optimizer setting explains the blow-up: the lr reading is weak evidence
            table = {t: (w * 0.3 if t == "learning_rate" else w) for t, w in table.items()}
        if d.symptom in SLOW_PROGRESS and explainers & {"input_out_of_range", "target_out_of_range"}:
            # badly scaled data also explains slow progress (an ill-conditioned problem)
            table = {t: (w if t == "data_preprocessing" else w * 0.5) for t, w in table.items()}
        if d.symptom in SLOW_PROGRESS | {"too_few_steps"} and "preprocessing_mismatch" in explainers:
            # training inputs scaled unlike the evaluation's, a defect measured directly: when
            # the training side lost its normalisation, its slower progress is that fault's
            # consequence, and the loss trends that suggest more epochs are read weakly
            table = {t: (w if t == "data_preprocessing" else w * 0.3) for t, w in table.items()}
        if d.symptom == "abnormal_activation_scale" and d.details.get("direction") == "high":
            table = {"weight_initialization": 1.0, "data_preprocessing": 1.0}
        for t, w in table.items():
            # one symptom is one piece of evidence however many layers or nodes show it (a
            # small initial output std in every residual projection of a transformer is one
            # fact about its initialisation, not twelve): its strongest detection counts
            best = strongest.setdefault((d.symptom, t), 0.0)
            if w * d.strength > best:
                scores[t] += w * d.strength - best
                strongest[(d.symptom, t)] = w * d.strength
            per_type_dets[t].append((w * d.strength, d))
    g_sc, g_nodes = _graph_scores(gf, fired, dets, tv)
    residual = g_sc.pop("__data_residual__", 0.0)
    for t, w in g_sc.items():
        scores[t] += w
    if residual and not lint_sc:  # no lint finding names another cause either
        scores["data"] += residual
    if crash:
        for t, w in crash_scores(crash, gf).items():
            scores[t] += w
    has_trouble = bool(crash) or p_rules_faulty > 0
    if has_trouble:
        for t, w in lint_sc.items():
            scores[t] += w
    cut = cut_by_budget(tv) or settled_early(tv)
    if cut:
        # a budget or the settled early stop ended the run, not the program's epochs
        scores["epochs"] = min(scores["epochs"], 0.0)
    p_rules = _softmax(scores)
    if clf:
        z = sum(v for k, v in clf.items() if k in FAULT_TYPES)
        if z > 0:
            p = {t: (1 - CLASSIFIER_WEIGHT) * p_rules[t] + CLASSIFIER_WEIGHT * clf.get(t, 0.0) / z for t in FAULT_TYPES}
        else:
            p = p_rules
    else:
        p = p_rules
    if cut:
        p = {**p, "epochs": 0.0}

    # 3. verdict
    notes = list(errors)
    if adversarial:
        notes.append(f"adversarial training ({adversarial}): the loss curves' trends are not judged")
    amp = amp_summary(tv)
    if amp is not None:
        notes.append(amp_note(amp))
    has_loss = bool(tv.nodes("loss"))
    category = crash_category(crash)
    if crash or status == "crashed":
        verdict = "crashed"
        p_faulty = 1.0
        if category is not None:
            crash = {**crash, "category": category}
            notes.append(f"crash kind {category}: {CRASH_CATEGORIES[category]}")
    elif p_faulty >= 0.5:
        verdict = "faulty"
    elif steps < MIN_STEPS or not has_loss:
        verdict = "inconclusive"
        notes.append(f"only {steps} training steps recorded" if has_loss else "no training loss was recorded")
    else:
        verdict = "healthy"

    faults: list[FaultCandidate] = []
    if verdict == "faulty" or (verdict == "crashed" and category is None):
        ranked = sorted(FAULT_TYPES, key=lambda t: -p[t])
        for i, t in enumerate(ranked):
            if i > 0 and (p[t] < MIN_TYPE_P or scores[t] <= 0):
                continue
            tdets = [d for _, d in sorted(per_type_dets[t], key=lambda x: -x[0])]
            ev = [Evidence(d.symptom, d.step, d.node, d.value) for d in tdets]
            nodes = []
            for d in tdets:
                for n in (d.node, d.details.get("backward_node")):
                    if n and n not in nodes:
                        nodes.append(n)
            for n in g_nodes.get(t, []) + lint_nodes.get(t, []):
                if n not in nodes:
                    nodes.append(n)
            summary = _summary(t, tdets, gf)
            if crash and i == 0:
                ev.insert(0, Evidence("crash", crash.get("step"), crash.get("node"),
                                      f"{crash.get('type', 'Error')}: {crash.get('message', '')}"))
                summary = f"the program crashed ({crash.get('type', 'error')}: {crash.get('message', '')})"
                if crash.get("kind") and crash.get("kind") != "other":
                    summary += f" [{crash.get('kind')}]"
            faults.append(FaultCandidate(t, p_faulty * p[t], p[t], summary, ev, nodes, tdets))
            if len(faults) >= 4:
                break
    for d in lint_items:
        if d.get("ran") is False:
            notes.append(f"lint {d.get('code')} at {d.get('path')}:{d.get('line')} concerns an object the run never "
                         "built (a branch the run did not take): not counted")
    return Diagnosis(verdict, p_faulty, faults, dets, lint_items, steps, status, crash, scores, clf, notes)
