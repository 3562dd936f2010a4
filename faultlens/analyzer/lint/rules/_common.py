"""Helpers shared by several rules (not a rule module: the registry skips ``_`` modules)."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from faultlens.analyzer.lint import fixes
from faultlens.analyzer.lint.context import LintContext, span_tuple
from faultlens.analyzer.lint.facts import call_name, dotted
from faultlens.analyzer.lint.finding import Edit, Fix
from faultlens.taxonomy import AFFINE_LAYERS, LINT_FUNCTIONAL_LOSSES

#: functional loss names -> loss type (as the graph names them): the lint subset
FUNCTIONAL_LOSSES = LINT_FUNCTIONAL_LOSSES


def loss_type_of(ctx: LintContext, call) -> tuple[str | None, Any]:
    """``(loss_type, loss node)`` of a ``loss`` call."""
    tgt = ctx.target(call)
    if tgt is not None and tgt.kind == "loss":
        return tgt.get("loss_type"), tgt
    recv = call.get("receiver") or ""
    last = recv.rsplit(".", 1)[-1]
    if last in FUNCTIONAL_LOSSES:
        return FUNCTIONAL_LOSSES[last], None
    from faultlens.analyzer.lint.rules._loops import by_var

    loss = by_var(ctx, "loss", call)
    if loss is not None:
        return loss.get("loss_type"), loss
    return None, None


def loss_calls(ctx: LintContext, *types: str) -> list[tuple[Any, str, Any]]:
    """``(call, loss_type, loss node)`` for every loss call of the given types."""
    out = []
    for call in ctx.calls("loss"):
        lt, loss = loss_type_of(ctx, call)
        if lt in types:
            out.append((call, lt, loss))
    # functional losses the graph may model only as loss nodes (no call node)
    seen = {c.span for c, _, _ in out}
    for loss in ctx.nodes("loss"):
        if loss.get("functional") and loss.get("loss_type") in types and loss.span not in seen:
            if not any(ctx.target(c) is not None and ctx.target(c).id == loss.id for c, _, _ in out):
                out.append((loss, loss.get("loss_type"), loss))
    return out


def ast_call_for(ctx: LintContext, node) -> ast.Call | None:
    """The ``ast.Call`` of a graph call/loss node (matched inside its statement span)."""
    facts = ctx.facts(node.span.path)
    if facts is None:
        return None
    t = span_tuple(node.get("expr_span")) or span_tuple(node.span)
    _, line, col, eline, ecol = t
    recv = node.get("receiver")
    if node.kind == "loss" and node.get("functional"):
        recv = None
    found = facts.find_call(line, eline, func=recv) if recv else None
    if found is None:
        cands = sorted(facts.calls_between(line, eline), key=lambda c: (c.lineno, c.col_offset))
        for c in cands:
            if facts.pos(c)[:2] == (line, col):
                return c
        inputs = node.get("inputs") or []
        for c in cands:
            if inputs and c.args and facts.text(c.args[0]) == inputs[0]:
                return c
        lt = node.get("loss_type")
        for c in cands:
            if lt and (call_name(c) == lt or FUNCTIONAL_LOSSES.get(call_name(c)) == lt):
                return c
    return found


def prediction_arg(call: ast.Call) -> ast.AST | None:
    """The prediction argument of a loss call: first positional or ``input=``."""
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    for kw in call.keywords:
        if kw.arg == "input":
            return kw.value
    return None


def target_arg(call: ast.Call) -> ast.AST | None:
    if len(call.args) > 1:
        return call.args[1]
    for kw in call.keywords:
        if kw.arg == "target":
            return kw.value
    return None


@dataclass
class Producer:
    """What produced a loss call's prediction tensor."""

    kind: str | None          # softmax | log_softmax | sigmoid | affine | other | detached | None
    where: tuple | None       # location tuple for a finding
    node: Any = None          # graph node (op/layer in a forward) when from a model
    ast_node: Any = None      # ast node (inline activation in the training code)
    model: Any = None         # model node whose forward produced it
    model_class: Any = None   # module_class node
    describe: str = ""


def _forward_model(ctx: LintContext, loss_node, callee_text: str | None, line: int) -> Any:
    """The model node a forward call ``callee_text(...)`` (on ``line``) refers to."""
    from faultlens.analyzer.lint.rules._loops import by_var

    if callee_text:
        for fwd in ctx.calls("forward"):
            if (fwd.get("receiver") == callee_text and fwd.span.path == loss_node.span.path
                    and fwd.span.line <= line <= fwd.span.end_line):
                tgt = ctx.target(fwd)
                if tgt is not None:
                    return tgt
        class _Probe:  # the receiver lookup of by_var, scoped like the loss call
            span = loss_node.span

            @staticmethod
            def get(k, d=None):
                return {"receiver": callee_text, "function": loss_node.get("function")}.get(k, d)

        m = by_var(ctx, "model", _Probe)
        if m is not None:
            return m
    for fwd in ctx.graph.predecessors(loss_node.id, "feeds"):
        if fwd.kind == "call":
            tgt = ctx.target(fwd)
            if tgt is not None:
                return tgt
    return None


def prediction_producer(ctx: LintContext, loss_call) -> Producer:
    facts = ctx.facts(loss_call.span.path)
    call = ast_call_for(ctx, loss_call)
    rel = loss_call.span.path
    callee = None
    fwd_line = loss_call.span.line
    if facts is not None and call is not None:
        pred = prediction_arg(call)
        scope = facts.enclosing_function(call)
        kind, node = facts.producer(pred, call.lineno, scope)
        if kind in ("softmax", "log_softmax", "sigmoid", "detached"):
            return Producer(kind, ctx.ast_location(rel, node), ast_node=node,
                            describe=facts.text(node).split("\n")[0])
        if kind == "call" and isinstance(node, ast.Call):
            fwd_line = node.lineno
            callee = facts.text(node.func)
            if isinstance(node.func, ast.Attribute) and node.func.attr == "forward":
                callee = facts.text(node.func.value)
        elif kind != "name":
            if kind == "other" and pred is not None and not isinstance(pred, (ast.Name, ast.Call)):
                return Producer(None, None)
    model = _forward_model(ctx, loss_call, callee, fwd_line)
    cls = ctx.model_class(model) if model is not None else None
    if (cls is None or cls.kind != "module_class") and model is not None and ctx.graph.flow(model.id):
        cls = model  # a container model (nn.Sequential(...)): its layers hang off the model node
    elif cls is None and model is not None:
        kind = (model.get("model_type") or str(model.get("class") or "")).rsplit(".", 1)[-1]
        if kind in AFFINE_LAYERS:  # model = nn.Linear(13, 3): the model is one affine layer
            return Producer("affine", ctx.location(model), node=model, model=model, describe=model.get("var") or kind)
    if cls is None or cls.kind not in ("module_class", "model"):
        return Producer(None, None, model=model)
    kind, item = ctx.output_of_class(cls.id)
    where = ctx.location(item) if item is not None else None
    return Producer(kind, where, node=item, model=model, model_class=cls,
                    describe=f"{cls.name}.forward" if cls.kind == "module_class" else cls.name)


def remove_activation_fix(ctx: LintContext, prod: Producer, what: str) -> Fix | None:
    """A fix removing the activation that produced ``prod``: unwrap an inline call, drop
    ``x = act(x)`` statements in a forward, or remove an activation layer from a Sequential."""
    if prod.ast_node is not None and isinstance(prod.ast_node, ast.Call):
        rel = prod.where[0]
        facts = ctx.facts(rel)
        _, line, col, eline, ecol = prod.where
        text = facts.segment(line, col, eline, ecol)
        return fixes.rewrite_expression(rel, (line, col, eline, ecol), text, fixes.unwrap_call,
                                        f"remove the redundant {what}")
    item = prod.node
    if item is None:
        return None
    rel = item.span.path
    facts = ctx.facts(rel)
    if facts is None:
        return None
    if item.kind == "op":
        call = ast_call_for(ctx, item) if item.get("expr_span") is None else None
        t = span_tuple(item.get("expr_span"))
        if t is None and call is not None:
            t = ctx.ast_location(rel, call)
        if t is None:
            return None
        return _unwrap_or_delete(ctx, facts, rel, t, what)
    if item.kind == "layer":
        parent = ctx.node(item.get("parent"))
        if parent is not None and parent.get("layer_type") == "Sequential":
            return _drop_from_sequential(ctx, facts, rel, parent, item, what)
        # an attribute layer: find its use self.<attr>(x) in the owner's forward
        attr = item.get("attr")
        owner = ctx.node(item.get("owner"))
        if not attr or owner is None:
            return None
        for c in facts.calls:
            if facts.text(c.func) == f"self.{attr}" and c.args:
                fn = facts.enclosing_function(c)
                if fn is not None and getattr(fn, "name", "") == "forward":
                    return _unwrap_or_delete(ctx, facts, rel, ctx.ast_location(rel, c), what)
    return None


def _unwrap_or_delete(ctx, facts, rel, t, what) -> Fix | None:
    _, line, col, eline, ecol = t
    call = None
    for c in facts.calls_between(line, eline):
        if facts.pos(c) == (line, col, eline, ecol):
            call = c
            break
    if call is not None:
        stmt = facts.enclosing_statement(call)
        if (isinstance(stmt, ast.Assign) and stmt.value is call and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name) and call.args
                and isinstance(call.args[0], ast.Name) and call.args[0].id == stmt.targets[0].id):
            # x = F.softmax(x, dim=1)  ->  (statement removed)
            sline, eline2 = stmt.lineno, stmt.end_lineno or stmt.lineno
            return Fix(f"remove the redundant {what}", (fixes.delete_lines(rel, sline, eline2),))
    text = facts.segment(line, col, eline, ecol)
    return fixes.rewrite_expression(rel, (line, col, eline, ecol), text, fixes.unwrap_call,
                                    f"remove the redundant {what}")


def _drop_from_sequential(ctx, facts, rel, parent, item, what) -> Fix | None:
    t = span_tuple(parent.get("expr_span"))
    seq_call = None
    if t is not None:
        for c in facts.calls_between(t[1], t[3]):
            if facts.pos(c) == t[1:]:
                seq_call = c
                break
    if seq_call is None:
        pt = span_tuple(parent.span)
        for c in facts.calls_between(pt[1], pt[3]):
            if call_name(c) == "Sequential":
                seq_call = c
                break
    if seq_call is None:
        return None
    lt = item.get("layer_type")
    targets = [i for i, a in enumerate(seq_call.args) if isinstance(a, ast.Call) and call_name(a) == lt]
    if len(targets) != 1:
        return None
    idx = targets[0]
    loc = ctx.ast_location(rel, seq_call)
    text = facts.segment(*loc[1:])

    def drop(node):
        import libcst as cst

        if not isinstance(node, cst.Call) or idx >= len(node.args):
            return None
        args = list(node.args)
        del args[idx]
        if args and idx == len(args):  # removed the last one: keep the previous comma style
            args[-1] = args[-1].with_changes(comma=node.args[idx].comma)
        return node.with_changes(args=args)

    return fixes.rewrite_expression(rel, loc[1:], text, drop, f"remove the redundant {what} layer")


def swap_loss_fix(ctx: LintContext, loss, new_type: str, functional_new: str) -> Fix | None:
    """Replace ``nn.NLLLoss(...)`` by ``nn.<new_type>(...)`` (or the functional form)."""
    if loss is None:
        return None
    rel = loss.span.path
    facts = ctx.facts(rel)
    if facts is None:
        return None
    t = span_tuple(loss.get("expr_span"))
    call = None
    cands = list(facts.calls_between(loss.span.line, loss.span.end_line))
    if t is not None:
        call = next((c for c in cands if facts.pos(c) == t[1:]), None)
    if call is None:
        old = loss.get("loss_type")
        call = next((c for c in cands if call_name(c) == old or FUNCTIONAL_LOSSES.get(call_name(c)) == old), None)
    if call is None:
        return None
    loc = ctx.ast_location(rel, call)
    name = functional_new if FUNCTIONAL_LOSSES.get(call_name(call)) else new_type
    return fixes.rewrite_expression(rel, loc[1:], facts.segment(*loc[1:]),
                                    lambda n: fixes.rename_callee(n, name), f"use {name}")


def layer_kind(node) -> str:
    """``Linear`` for a layer node or for a model that is a single torch layer."""
    if node is None:
        return "?"
    return node.get("layer_type") or (node.get("model_type") or str(node.get("class") or "?")).rsplit(".", 1)[-1]


def loop_of(ctx: LintContext, call) -> Any:
    return ctx.node(call.get("loop"))


def receiver_text(call) -> str:
    return call.get("receiver") or ""


def where_text(ctx: LintContext, t: tuple | None) -> str:
    if not t:
        return "?"
    return f"{t[0]}:{t[1]}"


__all__ = [
    "Edit", "FUNCTIONAL_LOSSES", "Producer", "ast_call_for", "dotted", "loss_calls", "loss_type_of",
    "prediction_arg", "prediction_producer", "remove_activation_fix", "swap_loss_fix", "target_arg",
]
