"""Loop/training-call helpers shared by the training-loop rules."""
from __future__ import annotations

import ast
from typing import Any, Callable

from faultlens.analyzer.lint import fixes
from faultlens.analyzer.lint.context import LintContext, span_tuple
from faultlens.analyzer.lint.facts import call_name


def calls_in_loop(ctx: LintContext, loop_id: str, method: str) -> list:
    by_loop = ctx._memo.get(("calls_by_loop", method))
    if by_loop is None:
        by_loop = {}
        for c in ctx.calls(method):
            for lid in set((c.get("loops") or []) + ([c.get("loop")] if c.get("loop") else [])):
                by_loop.setdefault(lid, []).append(c)
        ctx._memo[("calls_by_loop", method)] = by_loop
    return list(by_loop.get(loop_id, ()))


def is_distributed_backward(call) -> bool:
    """``dist_autograd.backward(context_id, [loss])``: gradients go to a distributed autograd
    context (read by a DistributedOptimizer), not to ``.grad``; zero_grad does not apply."""
    recv = (call.get("receiver") or "").replace(" ", "")
    return "dist_autograd" in recv or "distributed.autograd" in recv


def optimizer_steps(ctx: LintContext, calls: list) -> list:
    """``step`` calls that are (or may be) optimizer steps, not scheduler steps."""
    return [c for c in calls if ctx.is_optimizer_call(c) is not False]


def body_lines(ctx: LintContext, loop) -> tuple[int, int]:
    t = span_tuple(loop.get("body_span")) or span_tuple(loop.span)
    return t[1], t[3]


def optimizer_of(ctx: LintContext, call) -> Any:
    tgt = ctx.target(call)
    if tgt is not None and tgt.kind == "optimizer":
        return tgt
    return by_var(ctx, "optimizer", call)


def model_of_optimizer(ctx: LintContext, opt) -> Any:
    if opt is None:
        return None
    succ = ctx.graph.successors(opt.id, "params_of")
    if succ:
        return succ[0]
    return ctx.node(opt.get("params_model"))


def model_of_call(ctx: LintContext, call) -> Any:
    tgt = ctx.target(call)
    if tgt is not None and tgt.kind == "model":
        return tgt
    return by_var(ctx, "model", call)


def by_var(ctx: LintContext, kind: str, call) -> Any:
    """The ``kind`` node whose variable is the call's receiver, in the call's scope: the same
    function, else module level unless the name is a parameter/local of the function."""
    recv = call.get("receiver")
    if not recv:
        return None
    fn = call.get("function") or "<module>"
    same = [m for m in ctx.nodes(kind) if m.get("var") == recv and (m.get("function") or "<module>") == fn]
    if same:
        return same[-1]
    if fn != "<module>" and _is_local_name(ctx, call, recv.split(".")[0]):
        return None
    glob = [m for m in ctx.nodes(kind) if m.get("var") == recv and (m.get("function") or "<module>") == "<module>"]
    return glob[-1] if glob else None


def _is_local_name(ctx: LintContext, call, name: str) -> bool:
    facts = ctx.facts(call.span.path)
    if facts is None:
        return True
    fn = facts.enclosing_function(call.span.line)
    if fn is None:
        return False
    a = fn.args
    params = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
    params |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
    if name in params:
        return True
    return any(n == name and facts.enclosing_function(stmt) is fn for n, _, _, stmt in facts.assigns)


def same_model(ctx: LintContext, call, model) -> bool:
    """Does a train/eval/forward call act on ``model``? Unknown receivers count as a match
    (the rules only flag what they can show)."""
    m = model_of_call(ctx, call)
    if m is None:
        return True
    return model is None or m.id == model.id


def called_function_names(ctx: LintContext, rel: str, line: int, end_line: int) -> set[str]:
    """Names of functions/methods called in a line range (``train_epoch(...)``,
    ``self.evaluate(...)`` -> ``train_epoch``, ``evaluate``)."""
    facts = ctx.facts(rel)
    if facts is None:
        return set()
    out = set()
    for c in facts.calls_between(line, end_line):
        if isinstance(c.func, ast.Name):
            out.add(c.func.id)
        elif isinstance(c.func, ast.Attribute) and isinstance(c.func.value, ast.Name) and c.func.value.id == "self":
            out.add(c.func.attr)
    return out


def function_short(call) -> str:
    fn = call.get("function") or "<module>"
    return fn.rsplit(".", 1)[-1]


def calls_reachable(ctx: LintContext, loop, method: str, depth: int = 2) -> list:
    """Calls of ``method`` inside ``loop`` plus those in functions called from its body
    (``depth`` levels of calls, matched by function name)."""
    found = {c.id: c for c in calls_in_loop(ctx, loop.id, method)}
    rel = loop.span.path
    line, eline = body_lines(ctx, loop)
    names = called_function_names(ctx, rel, line, eline)
    frontier = set(names)
    seen_fns: set[str] = set()
    for _ in range(depth):
        nxt: set[str] = set()
        by_fn = ctx._memo.get(("calls_by_function", method))
        if by_fn is None:
            by_fn = {}
            for c in ctx.calls(method):
                by_fn.setdefault(function_short(c), []).append(c)
            ctx._memo[("calls_by_function", method)] = by_fn
        for name in frontier - seen_fns:
            seen_fns.add(name)
            facts = ctx.facts(rel)
            for c in by_fn.get(name, ()):
                found.setdefault(c.id, c)
            # functions called from that function (same file only)
            if facts is not None:
                fns = ctx._memo.get(("functions_by_name", rel))
                if fns is None:  # one pass over the file's functions, not one per name and loop
                    fns = {}
                    for fn in facts.functions:
                        if getattr(fn, "name", None) is not None:
                            fns.setdefault(fn.name, []).append(fn)
                    ctx._memo[("functions_by_name", rel)] = fns
                for fn in fns.get(name, ()):
                    nxt |= called_function_names(ctx, rel, fn.lineno, fn.end_lineno or fn.lineno)
        frontier = nxt - seen_fns
        if not frontier:
            break
    return list(found.values())


def in_conditional(ctx: LintContext, call, loop) -> bool:
    """Is the call's statement inside an ``if`` within the loop body?"""
    facts = ctx.facts(call.span.path)
    if facts is None:
        return False
    stmt = facts.statement_at(call.span.line)
    node = facts.parent.get(stmt) if stmt is not None else None
    lstart, _ = body_lines(ctx, loop)
    while node is not None and not isinstance(node, (ast.For, ast.While, ast.AsyncFor, ast.FunctionDef, ast.Module)):
        if isinstance(node, ast.If):
            return True
        node = facts.parent.get(node)
    return False


def step_has_closure(ctx: LintContext, call) -> bool:
    if call.get("inputs"):
        return True
    facts = ctx.facts(call.span.path)
    if facts is None:
        return False
    c = facts.find_call(call.span.line, call.span.end_line, func=call.get("receiver") and f"{call.get('receiver')}.step")
    return bool(c is not None and (c.args or c.keywords))


def stmt_indent(ctx: LintContext, node) -> str:
    facts = ctx.facts(node.span.path)
    return facts.indent_of(node.span.line) if facts is not None else ""


def move_line_after(ctx: LintContext, node, anchor, describe: Callable[[str], str]):
    """A fix moving the one-line statement of ``node`` to the line after ``anchor``'s statement
    (same file), at ``anchor``'s indentation; ``describe(statement_text)`` titles it. None when
    the statement spans several lines, lies in another file or cannot be read back."""
    if node.span.path != anchor.span.path or node.span.line != node.span.end_line:
        return None
    facts = ctx.facts(node.span.path)
    text = facts.line_text(node.span.line).strip() if facts else ""
    if not text or facts.statement_at(node.span.line) is None:
        return None
    after = anchor.span.end_line + 1
    return fixes.Fix(describe(text), (
        fixes.delete_lines(node.span.path, node.span.line, node.span.end_line),
        fixes.Edit(node.span.path, after, 1, after, 1, f"{stmt_indent(ctx, anchor)}{fixes.statement_code(text)}\n"),
    ))


def is_eval_call(call) -> bool:
    if call.get("method") == "eval":
        return True
    if call.get("method") == "train":
        inputs = call.get("inputs") or []
        return bool(inputs) and str(inputs[0]).strip() in ("False", "0", "mode=False")
    return False


def is_train_call(call) -> bool:
    return call.get("method") == "train" and not is_eval_call(call)


__all__ = ["call_name"]
