"""The nodes the statement walk makes: training calls (``call``), functional losses, init calls,
data transforms written as arithmetic, and hand-written parameter updates (a ``manual``
optimizer and its ``step`` calls)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import libcst as cst

from faultlens.analyzer import names as N
from faultlens.analyzer.cst_util import mentions_grad
from faultlens.analyzer.index import END, Scope
from faultlens.analyzer.names import dotted, uses_detach
from faultlens.analyzer.refs import LocalFunction
from faultlens.analyzer.values import is_number, jsonable
from faultlens.analyzer.walk_state import CallAt, CallRecord, Ctx, WalkRecord

if TYPE_CHECKING:
    from faultlens.analyzer.builder import Builder

#: init function -> (keyword, positional index) of the value it sets (``normal_(w, 0, 0.02)`` -> std)
INIT_VALUE_ARG = {"constant_": ("val", 1), "normal_": ("std", 2), "uniform_": ("b", 2), "trunc_normal_": ("std", 2),
                  "xavier_uniform_": ("gain", 1), "xavier_normal_": ("gain", 1), "orthogonal_": ("gain", 1),
                  "kaiming_uniform_": ("a", 1), "kaiming_normal_": ("a", 1)}


class StatementNodes:
    def __init__(self, b: "Builder", rec: WalkRecord):
        self.b = b
        self.g = b.g
        self.rec = rec
        self.manual_opt: dict[Any, str] = {}   # parameter loop call / (tensors, loop) -> manual optimizer id

    def place(self, parents: list[str], scope: Scope, nid: str) -> None:
        """``contains`` edge from the innermost enclosing loop/context, else a top-level node of ``scope``."""
        if parents:
            self.g.add_edge(parents[-1], nid, "contains")
        else:
            self.rec.top(scope, nid)

    # ---------------------------------------------------------------- calls
    def call_node(self, method: str, receiver: str, target: str | None, at: CallAt, **extra) -> str:
        b = self.b
        call, ctx = at.call, at.ctx
        fi = ctx.scope.file
        recv = receiver if len(receiver) <= 60 else receiver[:57] + "..."
        name = f"{recv}.{method}" if recv else method
        inputs = [b.text(fi, a.value) for a in call.args]
        extra.setdefault("manual", False)
        cid = b.add("call", name, fi, at.stmt, ctx.scope, method=method, receiver=receiver, target=target,
                    loop=ctx.loops[-1] if ctx.loops else None, loops=list(ctx.loops), contexts=list(ctx.contexts),
                    in_closure=ctx.in_closure or id(ctx.scope) in self.rec.closures, result=at.result, inputs=inputs,
                    detached=any(uses_detach(a.value) for a in call.args),
                    expr_span=b.span(fi, call).to_dict(), **extra)
        if target:
            self.g.add_edge(cid, target, "targets")
        self.place(at.parents, ctx.scope, cid)
        self.rec.calls.append(CallRecord(cid, method, ctx.scope, b.pos(fi, at.stmt), call, at.result, receiver))
        return cid

    def functional_loss(self, at: CallAt, fname: str) -> None:
        """``F.cross_entropy(out, y)``: a functional loss node and the ``loss`` call of it."""
        b = self.b
        call, ctx = at.call, at.ctx
        fi = ctx.scope.file
        ltype = N.FUNCTIONAL_LOSSES[fname]
        lid = b.add("loss", fname, fi, at.stmt, ctx.scope, var=None, loss_type=ltype, functional=True,
                    qualname=f"torch.nn.functional.{fname}", expr_span=b.span(fi, call).to_dict())
        b.stmt_lookup[lid] = at.stmt
        a, r, s, h = b.consume_args(lid, call, ctx.scope, at.pos, ["input", "target"], None,
                                    skip={"input", "target", "weight", "pos_weight"})
        self.g.set_attr(lid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
        cid = self.call_node("loss", b.text(fi, call.func), lid, at)
        self.g.set_attr(cid, loss=lid)

    def user_loss(self, at: CallAt, fn) -> None:
        """``loss = loss_func(pred, yb)``, a loss function of the program's own that feeds
        ``backward()`` (``StatementWalker._user_fn_losses``): a functional loss node of no
        known type, recorded at the call."""
        b = self.b
        call, ctx = at.call, at.ctx
        fi = ctx.scope.file
        lid = b.add("loss", fn.qualname, fi, at.stmt, ctx.scope, var=None, loss_type=None, functional=True,
                    user_fn=fn.qualname, qualname=fn.qualname, expr_span=b.span(fi, call).to_dict(),
                    args={}, args_resolved={})
        b.stmt_lookup[lid] = at.stmt
        self.place(at.parents, ctx.scope, lid)

    # ---------------------------------------------------------------- init calls
    def init(self, call, stmt, ctx: Ctx, fn: str, target_text) -> None:
        b = self.b
        fi = ctx.scope.file
        pos = b.pos(fi, stmt)
        attrs: dict[str, Any] = {"fn": fn, "target": target_text, "value": None,
                                 "owner": ctx.module_class.node_id if ctx.module_class else None,
                                 "expr_span": b.span(fi, call).to_dict()}
        vexpr = None
        if fn == "apply":
            fexpr = call.args[0].value
            attrs["applied_fn"] = b.text(fi, fexpr)
            fsc = self._applied_fn(dotted(fexpr), ctx)
            if fsc is not None:
                self.rec.init_fns.add(id(fsc))
        elif fn in ("fill_",):
            vexpr = call.args[0].value if call.args else None
        elif fn in ("zero_", "zeros_"):
            attrs["value"] = 0
        elif fn == "ones_":
            attrs["value"] = 1
        else:
            kwname, idx = INIT_VALUE_ARG.get(fn, (None, None))
            if fn in ("normal_", "uniform_") and not (call.args and b.classify_callee(fi, call.func)):
                idx = idx - 1  # tensor method form: w.normal_(mean, std)
            for a in call.args:
                if a.keyword and a.keyword.value == kwname:
                    vexpr = a.value
            pa = [a.value for a in call.args if not a.keyword]
            if vexpr is None and idx is not None and idx < len(pa):
                vexpr = pa[idx]
        nid = b.add("init", f"{fn}", fi, stmt, ctx.scope, **attrs)
        b.stmt_lookup[nid] = stmt
        if vexpr is not None:
            v = b.eval(vexpr, ctx.scope, pos)
            self.g.set_attr(nid, value=jsonable(v.value) if v.resolved else None,
                            value_span=b.span(fi, vexpr).to_dict(), expr=b.text(fi, vexpr))
            if v.hp:
                self.g.add_edge(v.hp, nid, "uses", arg="value")
            elif not v.resolved:
                b.unresolved(nid, "value", b.text(fi, vexpr), "init value not resolved")

    def _applied_fn(self, fk: str | None, ctx: Ctx) -> Scope | None:
        """The local function ``model.apply(fn)`` is given."""
        if not fk:
            return None
        b = self.b
        if fk.startswith("self.") and ctx.scope.cls is not None:
            return b.method_of(ctx.scope.cls, fk[5:])
        q = b.qualify(ctx.scope.file, fk)
        if isinstance(q, LocalFunction):
            return q.fn
        d = ctx.scope.latest(fk, END)
        if d is not None and d.kind == "def":
            return d.extra
        return None

    # ---------------------------------------------------------------- transforms
    def transform_assign(self, sm: cst.Assign, ctx: Ctx) -> None:
        """``x = x / 255``, ``(x - mean) / std``, ``(x - x.min()) / (x.max() - x.min())``."""
        b = self.b
        fi = ctx.scope.file
        v = sm.value
        if not isinstance(v, cst.BinaryOperation) or not isinstance(v.operator, cst.Divide):
            return
        right = b.eval(v.right, ctx.scope, b.pos(fi, sm))
        left = v.left
        kind = None
        tgt = None
        if right.resolved and is_number(right.value) and right.value in (255, 255.0, 256, 256.0, 127.5):
            kind, tgt = "divide", b.text(fi, left)
        elif isinstance(left, cst.BinaryOperation) and isinstance(left.operator, cst.Subtract):
            ltxt, rtxt = b.text(fi, left.right), b.text(fi, v.right)
            if re.search(r"mean|mu\b|avg", ltxt, re.I) and re.search(r"std|sigma|var|scale", rtxt, re.I):
                kind, tgt = "standardize", b.text(fi, left.left)
            elif re.search(r"\bmin\b|\.min\(", ltxt) and re.search(r"max", rtxt):
                kind, tgt = "minmax", b.text(fi, left.left)
        if kind is None:
            return
        nid = b.add("transform", kind, fi, sm, ctx.scope, transform=kind, target=tgt,
                    result=b.text(fi, sm.targets[0].target), expr_span=b.span(fi, v).to_dict())
        if kind == "divide":
            self.g.set_attr(nid, value=jsonable(right.value), value_span=b.span(fi, v.right).to_dict(),
                            expr=b.text(fi, v.right))

    # ---------------------------------------------------------------- hand-written updates
    def manual_update(self, stmt, expr, ctx: Ctx, parents, pvar: str, tensor: bool = False, lr_expr: Any = None) -> None:
        """``p.data.add_(p.grad, alpha=-lr)`` / ``p -= lr * p.grad`` inside
        ``for p in model.parameters()``, or ``w -= lr * w.grad`` on a raw leaf tensor:
        a hand-written SGD step. One manual optimizer per parameter loop (or, for raw
        tensors, per innermost loop), listing the tensors it updates in ``params``.
        ``lr_expr``: the step size where the gradient is a variable of the program's own
        (``w -= lr * grad_w``, no ``.grad`` to tell the factors apart)."""
        b = self.b
        fi = ctx.scope.file
        pos = b.pos(fi, stmt)
        pcall = None if tensor else ctx.loop_vars.get(pvar)
        lid = ctx.loops[-1] if ctx.loops else None
        key = id(pcall) if pcall is not None else ("tensors", lid or id(ctx.scope))
        if key in self.manual_opt:
            params = self.g.store.nodes[self.manual_opt[key]]["attrs"].setdefault("params", [])
            if pvar not in params:
                params.append(pvar)
        else:
            self.manual_opt[key] = self._manual_optimizer(stmt, expr, ctx, pos, pcall, pvar, tensor, lr_expr)
        oid = self.manual_opt[key]
        if _update_sign(stmt, expr, hand=lr_expr is not None) > 0:
            # the update adds the gradient: gradient ascent (a sign slip in a hand-written step)
            self.g.set_attr(oid, ascent=True, ascent_span=b.span(fi, stmt).to_dict())
        call = expr if isinstance(expr, cst.Call) else None
        cid = b.add("call", f"{pvar}.step", fi, stmt, ctx.scope, method="step", receiver=pvar, target=oid,
                    loop=lid, loops=list(ctx.loops), contexts=list(ctx.contexts), in_closure=ctx.in_closure,
                    result=None, inputs=[], detached=False, manual=True, closure=None,
                    expr_span=b.span(fi, call if call is not None else stmt).to_dict())
        self.g.add_edge(cid, oid, "targets")
        self.place(parents, ctx.scope, cid)
        self.rec.calls.append(CallRecord(cid, "step", ctx.scope, pos, call, None, pvar))

    def _manual_optimizer(self, stmt, expr, ctx: Ctx, pos, pcall, pvar: str, tensor: bool, lr_expr: Any = None) -> str:
        """The ``manual`` optimizer node of a hand-written update, with its learning rate."""
        b = self.b
        fi = ctx.scope.file
        hand = lr_expr is not None
        lr_expr = _unsigned(lr_expr) if hand else _lr_factor(expr)
        mk = dotted(pcall.func.value) if pcall is not None else None
        pm = b.resolve_obj(mk, ctx.scope, pos) if mk else None
        oid = b.add("optimizer", "manual_sgd", fi, stmt, ctx.scope, var=None, optimizer_type="manual",
                    manual=True, params_source=b.text(fi, pcall) if pcall is not None else pvar,
                    params_model=pm, params_kind="all" if pm else ("tensors" if tensor else "unknown"),
                    params=[pvar], expr_span=b.span(fi, stmt).to_dict(), hand_derived=hand)
        b.stmt_lookup[oid] = stmt
        args, res, spans, hps = {}, {}, {}, {}
        varies = False
        if lr_expr is not None:
            v = b.eval(lr_expr, ctx.scope, pos)
            if not v.resolved and v.deps:
                # ``lr = args.lr`` then ``lr /= 4`` in the epoch loop: the update starts with the
                # initial value (as a torch optimizer's lr does under a scheduler)
                init = b.initial_value(dotted(lr_expr), ctx.scope)
                if init is not None:
                    v, varies = init, True
            args["lr"] = jsonable(v.value) if v.resolved else b.text(fi, lr_expr)
            res["lr"] = v.resolved
            spans["lr"] = b.span(fi, lr_expr).to_dict()
            hp = v.hp
            if hp is None and (v.resolved or v.deps):
                lit = v.source == "literal"
                hp = b.add("hyperparameter", "lr", fi, stmt, ctx.scope, hp="lr",
                           value=jsonable(v.value) if v.resolved else None, resolved=v.resolved,
                           source="literal" if lit else "arith", expr=b.text(fi, lr_expr),
                           value_span=b.span(fi, lr_expr).to_dict() if lit else None, key="lr")
                for dep in sorted(v.deps):
                    if dep in self.g and dep != hp:
                        self.g.add_edge(dep, hp, "defines")
            if hp:
                hps["lr"] = hp
                self.g.add_edge(hp, oid, "uses", arg="lr")
        self.g.set_attr(oid, args=args, args_resolved=res, arg_spans=spans, arg_hps=hps,
                        lr=args.get("lr") if res.get("lr") else None, lr_is_default=False)
        if varies:
            self.g.set_attr(oid, lr_varies=True)
        if pm:
            self.g.add_edge(oid, pm, "params_of")
        return oid


def _sign(e) -> int:
    """+1 / -1: the sign of an update expression's factor, taking names as positive."""
    if isinstance(e, cst.UnaryOperation) and isinstance(e.operator, cst.Minus):
        return -_sign(e.expression)
    if isinstance(e, cst.BinaryOperation) and isinstance(e.operator, (cst.Multiply, cst.Divide)):
        return _sign(e.left) * _sign(e.right)
    return 1


def _update_sign(stmt, expr, hand: bool = False) -> int:
    """+1 when a hand-written update adds the gradient (``p += lr * p.grad``,
    ``p.add_(lr * p.grad)``, ``p -= -lr * g``), -1 when it subtracts it, 0 when unknown.
    ``hand``: the gradient is a variable the program derived itself (``w -= lr * grad_w``)."""
    if isinstance(stmt, cst.AugAssign) and expr is not None and (hand or mentions_grad(expr)):
        op = 1 if isinstance(stmt.operator, cst.AddAssign) else -1 if isinstance(stmt.operator, cst.SubtractAssign) else 0
        return op * _sign(expr)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in ("add_", "sub_"):
        op = 1 if expr.func.attr.value == "add_" else -1
        alpha = next((a.value for a in expr.args if a.keyword and a.keyword.value == "alpha"), None)
        pos = [a.value for a in expr.args if not a.keyword]
        if not pos or not mentions_grad(expr):
            return 0
        return op * _sign(pos[0]) * (_sign(alpha) if alpha is not None else 1)
    return 0


def _unsigned(v):
    """``-lr`` -> ``lr``: an update written as ``p += -lr * g`` or ``p.add_(-lr * g)`` has the
    learning rate lr, not -lr."""
    if isinstance(v, cst.UnaryOperation) and isinstance(v.operator, cst.Minus):
        return v.expression
    return v


def _lr_factor(expr):
    """The learning-rate factor of a manual update expression (``alpha=-lr`` / ``lr * p.grad``
    / ``-0.1 * p.grad``), without its sign."""
    if expr is None:
        return None
    if isinstance(expr, cst.Call):
        for a in expr.args:
            if a.keyword and a.keyword.value == "alpha":
                return _unsigned(a.value)
        pa = [a.value for a in expr.args if not a.keyword]
        for v in pa:
            if not mentions_grad(v):
                return _unsigned(v)
        for v in pa:
            f = _lr_factor(v)
            if f is not None:
                return f
        return None
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        return _lr_factor(expr.expression)
    if isinstance(expr, cst.BinaryOperation):
        if isinstance(expr.operator, cst.Multiply):
            if mentions_grad(expr.right) and not mentions_grad(expr.left):
                return _unsigned(expr.left)
            if mentions_grad(expr.left) and not mentions_grad(expr.right):
                return _unsigned(expr.right)
        for side in (expr.right, expr.left):
            if mentions_grad(side):
                f = _lr_factor(side)
                if f is not None:
                    return f
    return None
