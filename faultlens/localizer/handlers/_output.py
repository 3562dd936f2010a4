"""The output/loss contract, shared by the ``activation`` and ``loss_function`` handlers: the
patch that removes a squashing activation before a logits loss or swaps the loss for the one
that matches the model's output."""
from __future__ import annotations

import ast

from faultlens.localizer import resolve_path
from faultlens.localizer import source as src
from faultlens.edits.structural import RemoveArg, ReplaceExpr
from faultlens.localizer.handlers._base import EditPlan
from faultlens.localizer.handlers._common import graph_node


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


def _remove_output_activation(fault, g) -> EditPlan | None:
    """Remove a softmax/sigmoid that feeds a logits loss: an op call is replaced by its input,
    an element of ``nn.Sequential(...)`` dropped, a module attribute's call skipped."""
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
            parent = graph_node(g, last.get("parent"))
            owner0 = graph_node(g, last.get("owner"))
            sp = last.get("expr_span") or last.span.to_dict()
            if parent is not None or (owner0 is not None and owner0.kind == "model"):  # an element of nn.Sequential(...)
                return ab, [RemoveArg(sp["line"], sp["column"])], \
                    f"drop the nn.{k} layer before {lt or 'the loss'} (it expects raw logits)"
            owner = graph_node(g, last.get("owner"))
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


def _swap_loss(g, old: str, new: str, fold: str, fnew: str) -> EditPlan | None:
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


def output_pairing(fault, g) -> EditPlan | None:
    """The patch of a broken output/loss contract (``output_range_mismatch``'s ``problem``):
    raw scores into ``NLLLoss`` -> ``CrossEntropyLoss``, logits into ``BCELoss`` ->
    ``BCEWithLogitsLoss``, else the softmax/sigmoid before a logits loss removed."""
    probs = [d for d in fault.detections if d.symptom == "output_range_mismatch"]
    problem = probs[0].details.get("problem") if probs else None
    if problem == "scores_into_nll":
        return _swap_loss(g, "NLLLoss", "CrossEntropyLoss", "nll_loss", "cross_entropy")
    if problem == "logits_into_bce":
        return _swap_loss(g, "BCELoss", "BCEWithLogitsLoss", "binary_cross_entropy", "binary_cross_entropy_with_logits")
    return _remove_output_activation(fault, g)
