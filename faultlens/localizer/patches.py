"""Patches: a concrete libcst edit per fault where one is sensible.

``make_patch(fault, graph, *, trace=None, locations=None) -> Patch | None``

What each fault type gets (see docs/report.md):

* ``learning_rate`` — the value at its definition (literal, module constant or argparse
  default) is replaced. Too high: when the trace measured the curvature, the new rate is half
  the stability limit, ``0.5 * limit / lambda_max`` (limit 2 for GD, 2(1+beta) with momentum;
  Cohen et al., ICLR 2021), else the old rate / 10. Too low: x10 (adaptive optimizers with lr < 1e-5: 1e-3).
  The value is rounded down to one significant digit.
* ``training_loop`` — insert the missing ``optimizer.zero_grad()`` (top of the step loop),
  ``optimizer.step()`` (after ``backward``/clipping), ``model.eval()`` (before the no-grad
  evaluation block, plus ``model.train()`` at the top of the epoch loop when the program has
  none), ``model.train()``; a ``zero_grad`` between backward and step is moved to the top of
  the loop.
* ``activation`` / ``loss_function`` — a softmax/sigmoid before a logits loss is removed (the
  op call is replaced by its input; an ``nn.Softmax`` element of a Sequential is dropped);
  raw scores into ``NLLLoss`` -> ``CrossEntropyLoss``; logits into ``BCELoss`` ->
  ``BCEWithLogitsLoss``.
* ``weight_initialization`` — a zero/constant/huge init is replaced by ``xavier_uniform_``
  (``kaiming_uniform_(..., nonlinearity="relu")`` in ReLU networks).
* ``data_preprocessing`` — the loaded input array is standardised right after it is loaded
  (``X = (X - X.mean(0)) / (X.std(0) + 1e-8)``).
* ``optimizer`` — parameters of the wrong model / a subset -> ``model.parameters()``; plain
  SGD that converges slowly -> momentum 0.9.
* ``epochs`` x3; ``batch_size`` <= 2 -> 32, >= 2048 -> 256; ``regularization``: dropout >= 0.7
  -> 0.3, weight decay >= 0.05 -> 5e-4, overfitting with neither -> ``weight_decay=1e-4``.
* ``architecture`` and ``data``: no automatic patch (the summary says what to look at).
"""
from __future__ import annotations

import ast
import math
import re
import os
from dataclasses import dataclass, field
from typing import Any

from faultlens.analyzer.reads import read_elsewhere
from faultlens.localizer import source as src
from faultlens.localizer.edits import (
    AddKwarg, EditError, InsertStmt, RemoveArg, RemoveStmt, ReplaceExpr, annotate, apply_edits, diff_path, unified,
)
from faultlens.localizer import resolve_path


@dataclass
class Patch:
    description: str
    diff: str
    verified: bool | None = None
    path: str = ""          # the patched file (absolute)
    new_source: str = ""
    verification: dict[str, Any] = field(default_factory=dict)
    #: a command-line patch (the value came from the run's argv): the argv to run with; ``diff``
    #: is then empty and ``new_source`` the unchanged source
    argv: list[str] | None = None
    #: the quick check ``faultlens run`` makes by default: True when a short run of the patched
    #: copy started training; None when it was not checked (``verified`` is the full re-run)
    checked: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"description": self.description, "diff": self.diff, "verified": self.verified,
             "checked": self.checked}
        if self.argv is not None:
            d["command_line"] = list(self.argv)
        if self.verification:
            d["verification"] = self.verification
        return d


def round_down(x: float) -> float:
    """Round down to one significant digit (0.0837 -> 0.08)."""
    if x <= 0 or not math.isfinite(x):
        return x
    e = math.floor(math.log10(x))
    m = math.floor(x / 10 ** e + 1e-9)
    return float(f"{m}e{e}")


def fmt_num(x: float) -> str:
    if x == int(x) and abs(x) >= 1:
        return str(int(x))
    s = f"{x:.6g}"
    return s


# ------------------------------------------------------------------ helpers
def _node(g, nid):
    if g is None or nid is None:
        return None
    nid = nid.split("#", 1)[0]
    return g.node(nid) if nid in g else None


#: optimizer arguments whose definition, when other code reads it too (a hand-written update, a
#: second optimizer), is left alone: the patch edits the flagged optimizer's own argument. A loop
#: bound (epochs, batch size) read by log lines or a scheduler's horizon is edited where defined,
#: so that its readers follow.
_EXCLUSIVE = {"lr", "weight_decay", "momentum"}


def _value_target(g: Any, consumer: Any, arg: str, hp: str) -> tuple[str, Any, float | None] | None:
    """(abspath, span, current value) of the literal that defines ``consumer``'s ``arg``."""
    from faultlens.localizer import _hp_definitions
    defs = _hp_definitions(g, consumer.id, arg) if consumer is not None else []
    if not defs:
        # no uses edge (e.g. a value read through args inside a function): the definitions of
        # that hyperparameter name, when there is exactly one with a literal value
        named = [h for h in g.nodes("hyperparameter", hp=hp) if h.get("value_span")]
        if len(named) == 1:
            defs = named
    shared = False
    for h in defs:
        vs = h.get("value_span")
        v = h.get("value")
        if vs and isinstance(v, (int, float)) and not isinstance(v, bool):
            if consumer is not None and hp in _EXCLUSIVE and read_elsewhere(g, h, consumer):
                # other code reads that definition too: edit only the consumer's own argument
                shared = True
                break
            return resolve_path(g, vs["path"]), vs, float(v)
    if consumer is not None and shared:
        sp = (consumer.get("arg_spans") or {}).get(arg)
        v = (consumer.get("args") or {}).get(arg)
        if sp and isinstance(v, (int, float)) and not isinstance(v, bool):
            return resolve_path(g, sp["path"]), sp, float(v)
        return None
    if consumer is not None:
        spans = consumer.get("arg_spans") or {}
        v = (consumer.get("args") or {}).get(arg)
        if arg in spans and isinstance(v, (int, float)) and not isinstance(v, bool):
            sp = spans[arg]
            text = src.lines(resolve_path(g, sp["path"]))[sp["line"] - 1][sp["column"] - 1: sp["end_column"] - 1] \
                if sp["line"] == sp["end_line"] else ""
            try:
                lit = ast.literal_eval(text)
            except Exception:
                lit = None
            if isinstance(lit, (int, float)):
                return resolve_path(g, sp["path"]), sp, float(v)
    return None


@dataclass
class _CommandLine:
    """A fix of a value the run's command line set: run with other arguments."""

    path: str
    argv: list[str]
    description: str


def _command_line_value(g, consumer, arg, hp, new_value_fn, what) -> _CommandLine | None:
    """When the value ``consumer``'s ``arg`` uses came from the run's command line (a
    hyperparameter with ``source: "argv"``), the fix is to the command line, never to the
    argparse default the run did not use."""
    from faultlens.analyzer.argv import ArgSpec, option_text, replace_option
    from faultlens.localizer import _hp_definitions
    defs = _hp_definitions(g, consumer.id, arg) if consumer is not None else []
    if not defs:
        defs = [h for h in g.nodes("hyperparameter", hp=hp) if h.get("source") == "argv"]
    h = next((h for h in defs if h.get("source") == "argv"), None)
    if h is None:
        return None
    old = h.get("value")
    if not isinstance(old, (int, float)) or isinstance(old, bool):
        return None
    new = new_value_fn(float(old))
    if new is None or new == old:
        return None
    if isinstance(old, int) and float(new) == int(new):
        new = int(new)
    spec = ArgSpec(h.name, list(h.get("flags") or []), type=h.get("type"))
    run_argv = list(getattr(g, "argv", None) or [])
    argv = replace_option(run_argv, spec, new)
    if argv is None:
        return None
    was = " ".join(h.get("argv") or []) or option_text(spec, old)
    entry = resolve_path(g, g.entry) if getattr(g, "entry", None) else ""
    return _CommandLine(entry, argv, f"{what}: run with {option_text(spec, new)} instead of {was} "
                                     f"(the value came from the command line; the default in the program is not used)")


def _replace_value(g, consumer, arg, hp, new_value_fn, what) -> tuple[str, list, str] | _CommandLine | None:
    cl = _command_line_value(g, consumer, arg, hp, new_value_fn, what)
    if cl is not None:
        return cl
    t = _value_target(g, consumer, arg, hp)
    if t is None:
        return None
    path, sp, old = t
    new = new_value_fn(old)
    if new is None or new == old:
        return None
    code = fmt_num(new) if not (isinstance(new, float) and new == int(new) and hp in ("epochs", "batch_size")) else str(int(new))
    return path, [ReplaceExpr(sp["line"], sp["column"], code, sp["end_line"], sp["end_column"])], \
        f"{what}: {fmt_num(old)} -> {code}"


def _optimizers_that_ran(g: Any, tv: Any) -> list[Any]:
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


def _var(n: Any, default: str) -> str:
    v = n.get("var") if n is not None else None
    return v if isinstance(v, str) and v.isidentifier() else default


# ------------------------------------------------------------------ per type
def _lr(fault, g, tv) -> tuple[str, list, str] | None:
    """The learning-rate patch. Its new value follows a fixed ladder from the value the program
    uses (and the optimizer's family), never from the sampled figures that found the fault: the
    probes sample every Nth step, so the update ratio or lambda_max of two runs of the same
    program differ, and a value scaled by them flipped between runs (lr 1 -> 0.0001 in one run,
    -> 0.001 in the next). The patch text names no sampled figure either (the report's symptoms
    carry them), so the same evidence gives the same patch, byte for byte.

    Too high: a factor 10 smaller (one significant digit: 1 -> 0.1, 0.5 -> 0.05); SGD whose
    effective step lr/(1-momentum) exceeds 1 goes to an effective 0.1; an adaptive
    optimizer above 1e-3 goes straight to 1e-3, the usual rate of Adam and its relatives (Kingma
    & Ba's default), when that is lower. Too low: a factor 10 larger; an adaptive optimizer below
    1e-5 goes to 1e-3; an lr of 0 to 1e-3 (adaptive) or 0.01."""
    from faultlens.models.diagnosis import lr_direction
    opts = _optimizers_that_ran(g, tv)
    if not opts:
        return None
    opt = opts[0]
    direction = lr_direction(list(fault.detections))
    if direction == "collapse":
        return _scheduler_gamma(g)
    too_high = direction == "high"
    too_low = direction == "low"
    otype = opt.get("optimizer_type") or ""
    adaptive = otype in {"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta"}
    mom = (opt.get("args") or {}).get("momentum") or 0.0
    mom = float(mom) if isinstance(mom, (int, float)) and not isinstance(mom, bool) and 0 <= mom < 1 else 0.0
    why = ""

    def new_value(old: float) -> float | None:
        nonlocal why
        if too_high:
            if adaptive and old > 1e-3:
                why = "the usual Adam rate"
                return 1e-3
            if not adaptive and old / (1.0 - mom) > 1.0:
                # plain/momentum SGD: the effective step lr / (1 - momentum) above 1 diverges for
                # standard initialisations (Bengio 2012, "Practical recommendations"): one step
                # down to an effective 0.1, instead of several rounds of a factor 10
                cand = round_down(0.1 * (1.0 - mom))
                if 0 < cand < old:
                    why = "an effective step lr/(1-momentum) of 0.1" if mom else "an SGD rate of 0.1"
                    return cand
            why = "a factor 10 smaller"
            return round_down(old / 10)
        if too_low:
            if old == 0:
                why = "lr was 0"
                return 1e-3 if adaptive else 0.01
            if adaptive and old < 1e-5:
                why = "the usual Adam rate"
                return 1e-3
            why = "a factor 10 larger"
            return round_down(old * 10) if round_down(old * 10) > old else old * 10
        return None

    r = _replace_value(g, opt, "lr", "lr", new_value, "learning rate")
    if r is None or isinstance(r, _CommandLine):
        return r
    path, edits, desc = r
    return path, edits, f"{desc} ({why})" if why else desc


def _scheduler_gamma(g) -> tuple[str, list, str] | None:
    """A decay factor that kills the lr early (gamma < 0.1 per step of a StepLR/ExponentialLR)
    -> 0.5."""
    for sch in g.nodes("scheduler"):
        gamma = (sch.get("args") or {}).get("gamma")
        if isinstance(gamma, (int, float)) and not isinstance(gamma, bool) and gamma < 0.1:
            r = _replace_value(g, sch, "gamma", "gamma", lambda old: 0.5, "scheduler decay factor gamma")
            if isinstance(r, _CommandLine):
                return r
            if r is not None:
                path, edits, desc = r
                return path, edits, desc + " (the learning rate fell below 1e-3 of its start before half the run)"
    return None


def _first_stmt_pos(g, loop) -> tuple[str, int] | None:
    ab = resolve_path(g, loop.span.path)
    first = src.first_body_stmt(ab, loop.span.line)
    return (ab, first.lineno) if first is not None else None


def _training_loop(fault, g, tv, locations) -> tuple[str, list, str] | None:
    names = {d.symptom for d in fault.detections}
    opt = (g.nodes("optimizer") or [None])[0]
    ov = _var(opt, "optimizer")
    models = g.nodes("model")
    mv = _var(models[0] if models else None, "model")
    ins = [l for l in (locations or []) if l.role == "insertion_point"]
    if "accumulating_gradients" in names and ins:
        l = ins[0]
        upd = g.node(l.node) if l.node and l.node in g else None
        if opt is not None and opt.get("manual") and upd is not None and upd.kind == "call" and upd.get("manual"):
            # the insertion point follows a hand-written update: clear each updated tensor's
            # gradient after it (there is no optimizer object to call zero_grad on)
            params = [p for p in (opt.get("params") or []) if isinstance(p, str) and p.isidentifier()]
            if params:
                code = "; ".join(f"{p}.grad = None" for p in params)
                return (l.abspath, [InsertStmt(upd.span.line, code + "\n", after=True)],
                        f"clear the gradients after the hand-written update at line {upd.span.line}: {code}")
        return l.abspath, [InsertStmt(l.line, f"{ov}.zero_grad()\n")], f"insert {ov}.zero_grad() before line {l.line}"
    if "missing_update" in names:
        reason = next((d.details.get("reason") for d in fault.detections if d.symptom == "missing_update"), "no_step")
        if reason == "cleared":
            mis = [l for l in (locations or []) if l.role == "misplaced"]
            back = g.nodes("call", method="backward")
            if mis and back:
                others = [z for z in g.nodes("call", method="zero_grad") if z.span.line < back[0].span.line
                          and z.get("loop") == back[0].get("loop") and z.span.path == back[0].span.path]
                if others:  # gradients are already cleared before backward: just drop the extra call
                    return mis[0].abspath, [RemoveStmt(mis[0].line)], \
                        f"remove {ov}.zero_grad() at line {mis[0].line}: it clears the gradients before step()"
                loop = _node(g, back[0].get("loop"))
                pos = _first_stmt_pos(g, loop) if loop is not None else None
                if pos and pos[0] == mis[0].abspath:
                    return pos[0], [RemoveStmt(mis[0].line), InsertStmt(pos[1], f"{ov}.zero_grad()\n")], \
                        f"move {ov}.zero_grad() from line {mis[0].line} (between backward and step) to line {pos[1]}"
            return None
        back = g.nodes("call", method="backward")
        if ins and back:
            l = ins[0]
            after = back[0]
            for cl in g.nodes("call", method="clip_grad_norm_") + g.nodes("call", method="clip_grad_value_"):
                if cl.span.path == after.span.path and cl.span.line > after.span.line and cl.get("loop") == after.get("loop"):
                    after = cl
            st, nxt = src.next_stmt(l.abspath, after.span.end_line)
            if st is None:
                return None
            if nxt is None:  # nothing follows in its block: insert after it
                return l.abspath, [InsertStmt(st.lineno, f"{ov}.step()\n", after=True)], \
                    f"insert {ov}.step() after line {st.end_lineno}"
            return l.abspath, [InsertStmt(nxt.lineno, f"{ov}.step()\n")], f"insert {ov}.step() before line {nxt.lineno}"
    if "eval_mode_missing" in names and ins:
        l = ins[0]
        edits = [InsertStmt(l.line, f"{mv}.eval()\n")]
        desc = f"insert {mv}.eval() before line {l.line}"
        if not g.nodes("call", method="train"):
            loops = g.nodes("loop", role="epoch")
            pos = _first_stmt_pos(g, loops[0]) if loops else None
            if pos and pos[0] == l.abspath and pos[1] != l.line:
                edits.append(InsertStmt(pos[1], f"{mv}.train()\n"))
                desc += f" and {mv}.train() before line {pos[1]}"
        return l.abspath, edits, desc
    if "train_mode_missing" in names and ins:
        l = ins[0]
        return l.abspath, [InsertStmt(l.line, f"{mv}.train()\n")], f"insert {mv}.train() before line {l.line}"
    return None


def _call_first_arg(abspath: str, line: int, column: int) -> tuple[ast.Call, str] | None:
    text, tree = src.parse(abspath)
    if tree is None:
        return None
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and n.lineno == line and n.col_offset + 1 >= column and n.args:
            seg = ast.get_source_segment(text, n.args[0])
            if seg is not None:
                return n, seg
    return None


_SQUASH_OPS = {"softmax", "sigmoid", "log_softmax"}


def _remove_output_activation(fault, g) -> tuple[str, list, str] | None:
    """Remove a softmax/sigmoid that feeds a logits loss."""
    from faultlens.models.symptoms.graph_facts import GraphFacts
    gf = GraphFacts.of(g)
    lts = gf.loss_types()
    lt = lts[0] if lts else ""
    for last in gf.last_forward_items():
        k = gf.kind_of(last.id)
        if k not in {"Softmax", "Sigmoid"} and not (k == "LogSoftmax" and lt == "CrossEntropyLoss"):
            continue
        ab = resolve_path(g, last.span.path)
        if last.kind == "op":
            sp = last.get("expr_span") or last.span.to_dict()
            found = _call_first_arg(ab, sp["line"], sp["column"])
            if found is None:
                continue
            call, arg = found
            return ab, [ReplaceExpr(call.lineno, call.col_offset + 1, arg, call.end_lineno, call.end_col_offset + 1)], \
                f"remove the {k.lower()} before {lt or 'the loss'} (it expects raw logits)"
        if last.kind == "layer":
            parent = _node(g, last.get("parent"))
            owner0 = _node(g, last.get("owner"))
            sp = last.get("expr_span") or last.span.to_dict()
            if parent is not None or (owner0 is not None and owner0.kind == "model"):  # an element of nn.Sequential(...)
                return ab, [RemoveArg(sp["line"], sp["column"])], \
                    f"drop the nn.{k} layer before {lt or 'the loss'} (it expects raw logits)"
            owner = _node(g, last.get("owner"))
            attr = last.get("attr") or last.name.split(".")[-1]
            if owner is not None:
                oab = resolve_path(g, owner.span.path)
                text, tree = src.parse(oab)
                for n in ast.walk(tree) if tree is not None else []:
                    if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == attr
                            and isinstance(n.func.value, ast.Name) and n.func.value.id == "self" and n.args):
                        arg = ast.get_source_segment(text, n.args[0])
                        return oab, [ReplaceExpr(n.lineno, n.col_offset + 1, arg, n.end_lineno, n.end_col_offset + 1)], \
                            f"skip self.{attr} ({k}) before {lt or 'the loss'} (it expects raw logits)"
    return None


def _swap_loss(g, old: str, new: str, fold: str, fnew: str) -> tuple[str, list, str] | None:
    for ln in g.nodes("loss"):
        if ln.get("loss_type") != old:
            continue
        ab = resolve_path(g, ln.span.path)
        text, tree = src.parse(ab)
        if tree is None:
            continue
        for n in ast.walk(tree):
            if isinstance(n, ast.Call) and ln.span.line <= n.lineno <= ln.span.end_line:
                f = n.func
                name = f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else "")
                if name in (old, fold):
                    seg = ast.get_source_segment(text, f)
                    repl = seg[: len(seg) - len(name)] + (new if name == old else fnew)
                    return ab, [ReplaceExpr(f.lineno, f.col_offset + 1, repl, f.end_lineno, f.end_col_offset + 1)], \
                        f"use {new if name == old else fnew} instead of {name}"
    return None


def _output_pairing(fault, g) -> tuple[str, list, str] | None:
    probs = [d for d in fault.detections if d.symptom == "output_range_mismatch"]
    problem = probs[0].details.get("problem") if probs else None
    if problem == "scores_into_nll":
        return _swap_loss(g, "NLLLoss", "CrossEntropyLoss", "nll_loss", "cross_entropy")
    if problem == "logits_into_bce":
        return _swap_loss(g, "BCELoss", "BCEWithLogitsLoss", "binary_cross_entropy", "binary_cross_entropy_with_logits")
    return _remove_output_activation(fault, g)


def _init(fault, g) -> tuple[str, list, str] | None:
    relu = any(n.get("layer_type") in {"ReLU", "LeakyReLU"} for n in g.nodes("layer")) or \
        any(n.get("op") in {"relu", "leaky_relu"} for n in g.nodes("op"))
    for n in g.nodes("init"):
        fn = n.get("fn") or ""
        val = n.get("value")
        bad = fn in {"zeros_", "ones_", "constant_", "normal_", "uniform_"} and "bias" not in str(n.get("target") or "")
        if fn in {"normal_", "uniform_"} and not (isinstance(val, (int, float)) and abs(val) >= 1):
            bad = False
        if not bad:
            continue
        ab = resolve_path(g, n.span.path)
        text, tree = src.parse(ab)
        for c in ast.walk(tree) if tree is not None else []:
            if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == fn and \
                    n.span.line <= c.lineno <= n.span.end_line and c.args:
                prefix = ast.get_source_segment(text, c.func.value)
                target = ast.get_source_segment(text, c.args[0])
                new = (f'{prefix}.kaiming_uniform_({target}, nonlinearity="relu")' if relu
                       else f"{prefix}.xavier_uniform_({target})")
                return ab, [ReplaceExpr(c.lineno, c.col_offset + 1, new, c.end_lineno, c.end_col_offset + 1)], \
                    f"initialise {target} with {'kaiming_uniform_' if relu else 'xavier_uniform_'} instead of {fn}"
    return None


#: calls that pass an array on as data (a split, a tensor conversion, a dataset or loader):
#: standardising just before the first of them leaves what the program computed from the raw
#: values before it (labels made by thresholding a feature) as the program wrote it
_DATA_WRAP = re.compile(
    r"\b(train_test_split|TensorDataset|DataLoader|from_numpy|as_tensor|tensor|Tensor|FloatTensor|"
    r"DoubleTensor|astype|to|float|double|reshape|view)\s*\(")
#: constructors whose value is a Dataset/DataLoader object, not an array: ``.mean(0)`` on it fails
_DATASET_CALL = re.compile(r"(Dataset|DataLoader|Loader|Folder|MNIST|CIFAR\d*|FakeData|ImageNet|SVHN|STL10|"
                           r"CelebA|VOC\w*|Coco\w*)$")


def _call_name(node: ast.AST) -> str:
    f = node.func if isinstance(node, ast.Call) else None
    return f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else "")


def _is_dataset_object(g: Any, var: str, value: ast.AST) -> bool:
    """What the graph and the constructor tell of ``var``: a dataset/loader object, not an array."""
    if isinstance(value, ast.Call) and _DATASET_CALL.search(_call_name(value)):
        return True
    return any((dl.get("args") or {}).get("dataset") == var or dl.get("var") == var for dl in g.nodes("dataloader"))


def _reads(st: ast.stmt, var: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == var and isinstance(n.ctx, ast.Load) for n in ast.walk(st))


_STOP = "stop"


def _array_standardise(g, l) -> tuple[str, list, str] | str | None:
    """Standardise an array variable per feature before it is passed on as data. None: not an
    array statement (try the next); ``_STOP``: an array whose raw values the program reads
    before passing it on (labels made from it), so no data statement is safe to edit."""
    found = src.stmt_at(l.abspath, l.line)
    if found is None:
        return None
    st, body, i = found
    if not (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)):
        return None
    v = st.targets[0].id
    text = src.parse(l.abspath)[0]
    if re.search(rf"\b{re.escape(v)}\.(data|target|images|values|frame)\b", text):
        return None  # a dataset container (sklearn Bunch, DataFrame), not the array itself
    if _is_dataset_object(g, v, st.value):
        return None  # a Dataset object: the transform belongs where the loop feeds its tensors
    stmt = f"{v} = ({v} - {v}.mean(0)) / ({v}.std(0) + 1e-8)\n"
    desc = f"standardise {v} (zero mean, unit variance per feature) before it is used as data"
    for later in body[i + 1:]:
        if not _reads(later, v):
            continue
        seg = ast.get_source_segment(text, later) or ""
        if isinstance(later, ast.Assign) and _DATA_WRAP.search(seg) or \
                isinstance(later, ast.Assign) and isinstance(later.value, ast.Subscript) and _reads(later.value, v):
            if later is body[i + 1]:
                return l.abspath, [InsertStmt(st.lineno, stmt, after=True)], desc
            return l.abspath, [InsertStmt(later.lineno, stmt, after=False)], desc
        return _STOP  # read first by something else (labels computed from the raw values)
    return None


def _bound_in_loop(path: str, line: int, name: str) -> bool:
    """Is ``name`` (re)bound by the loop statement at ``line``: its target or an assignment in it?"""
    found = src.stmt_at(path, line)
    if found is None or not isinstance(found[0], (ast.For, ast.While)):
        return True
    loop = found[0]
    targets = [loop.target] if isinstance(loop, ast.For) else []
    for n in ast.walk(loop):
        if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets.extend(n.targets if isinstance(n, ast.Assign) else [n.target])
        elif isinstance(n, (ast.For, ast.comprehension)) and n is not loop:
            targets.append(n.target)
    return any(isinstance(t, ast.Name) and t.id == name for tt in targets for t in ast.walk(tt))


def _feed_standardise(g, tv) -> tuple[str, list, str] | None:
    """Standardise the tensor each loop feeds the model, with the training inputs' mean and
    std that the run measured: the same constants in training and evaluation loops, as a
    ``transforms.Normalize(mean, std)`` would apply them."""
    if tv is None:
        return None
    import numpy as np
    fwd = [c for c in g.nodes("call", method="forward") if c.get("loop") and len(c.get("inputs") or []) >= 1]
    if not fwd:
        return None
    model = fwd[0].get("target")
    nodes = [n for n in tv.nodes("input_mean") if n.split("#", 1)[0] == model] or tv.nodes("input_mean")
    if not nodes:
        return None
    mean, std = tv.series("input_mean", nodes[0])[1], tv.series("input_std", nodes[0])[1]
    if not len(mean) or not len(std):
        return None
    m, sd = float(np.median(mean)), float(np.median(std))
    if not (np.isfinite(m) and np.isfinite(sd) and sd > 0):
        return None
    edits, path, done = [], None, set()
    for c in fwd:
        x = (c.get("inputs") or [""])[0]
        if c.get("target") != model or not isinstance(x, str) or not x.isidentifier():
            continue
        ab = resolve_path(g, c.span.path)
        found = src.stmt_at(ab, c.span.line)
        if found is None or (path is not None and ab != path):
            continue
        at = found[0].lineno
        outer = _node(g, (c.get("loops") or [c.get("loop")])[0])
        if outer is not None and not _bound_in_loop(ab, outer.span.line, x):
            # a tensor made once and fed whole each iteration: transform it once, before the loop
            at = outer.span.line
        if (ab, at) in done:
            continue
        path = ab
        done.add((ab, at))
        edits.append(InsertStmt(at, f"{x} = ({x} - {m:.4g}) / {sd:.4g}\n", after=False))
    if not edits:
        return None
    return path, edits, (f"standardise the model's input where each loop feeds it (mean {m:.4g}, std {sd:.4g} "
                         f"measured on the training inputs), in {len(edits)} place(s)")


def _normalize(fault, g, locations, tv=None) -> tuple[str, list, str] | None:
    # an array loaded in the program: standardise it per feature before it becomes data (train
    # and test splits made from it then share the scaling); data statements first
    def key(l):
        line = (src.lines(l.abspath) or [""])[l.line - 1] if l.line - 1 < len(src.lines(l.abspath)) else ""
        return (0 if src._DATA_CALL.search(line) else 1, l.line)
    for l in sorted([x for x in locations or [] if x.role == "data"], key=key):
        r = _array_standardise(g, l)
        if r == _STOP:
            break  # the statements after it may be the labels made from it: none is edited
        if r is not None:
            return r
    # a Dataset object, or an array whose raw values the program reads first: at the feed
    return _feed_standardise(g, tv)


def _optimizer(fault, g, tv=None) -> tuple[str, list, str] | None:
    opts = _optimizers_that_ran(g, tv)
    if not opts:
        return None
    o = opts[0]
    ab = resolve_path(g, o.span.path)
    if o.get("params_kind") in {"subset", "other_model"}:
        fwd = g.nodes("call", method="forward")
        mv = fwd[0].get("receiver") if fwd else None
        mv = mv if isinstance(mv, str) and mv.replace(".", "").replace("_", "").isalnum() else _var((g.nodes("model") or [None])[0], "model")
        text, tree = src.parse(ab)
        for c in ast.walk(tree) if tree is not None else []:
            if isinstance(c, ast.Call) and c.lineno == (o.get("expr_span") or o.span.to_dict())["line"] and c.args:
                a = c.args[0]
                return ab, [ReplaceExpr(a.lineno, a.col_offset + 1, f"{mv}.parameters()", a.end_lineno, a.end_col_offset + 1)], \
                    f"optimize all parameters of {mv}"
    if (o.get("optimizer_type") == "SGD" and not (o.get("args") or {}).get("momentum")):
        sp = o.get("expr_span") or o.span.to_dict()
        text, tree = src.parse(ab)
        for c in ast.walk(tree) if tree is not None else []:
            if isinstance(c, ast.Call) and c.lineno == sp["line"] and isinstance(c.func, (ast.Attribute, ast.Name)) and \
                    (getattr(c.func, "attr", None) or getattr(c.func, "id", None)) == "SGD":
                return ab, [AddKwarg(c.lineno, c.col_offset + 1, "momentum", "0.9")], "add momentum=0.9 to SGD"
    return None


def _regularization(fault, g, tv=None) -> tuple[str, list, str] | None:
    for n in g.nodes("layer"):
        if (n.get("layer_type") or "").startswith("Dropout"):
            sp = (n.get("arg_spans") or {}).get("p") or (n.get("arg_spans") or {}).get("0")
            p = (n.get("args") or {}).get("p", (n.get("args") or {}).get("0"))
            if sp and isinstance(p, (int, float)) and p >= 0.7:
                return resolve_path(g, sp["path"]), [ReplaceExpr(sp["line"], sp["column"], "0.3", sp["end_line"], sp["end_column"])], \
                    f"dropout {p} -> 0.3"
    opts = _optimizers_that_ran(g, tv)
    if not opts:
        return None
    o = opts[0]
    wd = (o.get("args") or {}).get("weight_decay")
    if isinstance(wd, (int, float)) and wd >= 0.05:
        return _replace_value(g, o, "weight_decay", "weight_decay", lambda old: 5e-4, "weight decay")
    if wd is None and any(d.symptom == "train_validation_gap" for d in fault.detections):
        sp = o.get("expr_span") or o.span.to_dict()
        ab = resolve_path(g, sp["path"])
        text, tree = src.parse(ab)
        for c in ast.walk(tree) if tree is not None else []:
            if isinstance(c, ast.Call) and c.lineno == sp["line"] and c.col_offset + 1 == sp["column"]:
                return ab, [AddKwarg(c.lineno, c.col_offset + 1, "weight_decay", "1e-4")], "add weight_decay=1e-4 (L2 regularisation)"
    return None


def make_patch(fault: Any, graph: Any, *, trace: Any = None, locations: list[Any] | None = None,
               cwd: str | None = None) -> Patch | None:
    """Build the patch for one fault (a FaultCandidate) or None when no edit is sensible."""
    if graph is None:
        return None
    g = graph
    t = fault.type
    tv = None
    if trace is not None:
        from faultlens.models.symptoms import TraceView
        tv = TraceView.of(trace)
    try:
        if t == "learning_rate":
            r = _lr(fault, g, tv)
        elif t == "training_loop":
            r = _training_loop(fault, g, tv, locations)
        elif t in ("activation", "loss_function"):
            r = _output_pairing(fault, g)
        elif t == "weight_initialization":
            r = _init(fault, g)
        elif t == "data_preprocessing":
            r = _normalize(fault, g, locations, tv)
        elif t == "optimizer":
            r = _optimizer(fault, g, tv)
        elif t == "epochs":
            loops = g.nodes("loop", role="epoch")
            r = _replace_value(g, loops[0] if loops else None, "range", "epochs", lambda v: v * 3, "epochs")
        elif t == "batch_size":
            dls = g.nodes("dataloader")
            r = _replace_value(g, dls[0] if dls else None, "batch_size", "batch_size",
                               lambda v: 32 if v <= 2 else (256 if v >= 2048 else None), "batch size")
        elif t == "regularization":
            r = _regularization(fault, g, tv)
        else:
            r = None
    except (EditError, OSError, SyntaxError, KeyError, IndexError, TypeError, ValueError):
        r = None
    if r is None:
        return None
    if isinstance(r, _CommandLine):
        try:
            with open(r.path, encoding="utf-8") as fh:
                unchanged = fh.read()
        except OSError:
            return None
        return Patch(r.description, "", None, r.path, unchanged, argv=r.argv)
    path, edits, desc = r
    try:
        with open(path, encoding="utf-8") as fh:
            old = fh.read()
        new = apply_edits(old, edits)
    except (OSError, EditError, Exception):
        return None
    if new == old:
        return None
    new = annotate(old, new, desc)
    diff = unified(old, new, diff_path(path, cwd), f"{t}: {desc}")
    return Patch(desc, diff, None, path, new)
