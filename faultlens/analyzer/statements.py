"""The statement walk (pass 3 of the graph builder): every file's statements in order, making
the loop and grad-context nodes and recognising training calls, forward and loss calls, init
calls, transforms and hand-written updates (their nodes: ``faultlens.analyzer.statement_nodes``).
What it records (:class:`~faultlens.analyzer.walk_state.WalkRecord`) is the input of the
finishing pass (``faultlens.analyzer.finishing``)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import libcst as cst

from faultlens.analyzer import names as N
from faultlens.analyzer.cst_util import body_of, iter_calls, mentions_grad, stmt_exprs, unwrap_iter
from faultlens.analyzer.index import END, ClassInfo, Scope, is_main_guard
from faultlens.analyzer.names import dotted, head, iter_nodes, names_in
from faultlens.analyzer.refs import Callee, LocalClass
from faultlens.analyzer.statement_nodes import StatementNodes
from faultlens.analyzer.values import is_number
from faultlens.analyzer.walk_state import CallAt, Ctx, LoopInfo, WalkRecord

if TYPE_CHECKING:
    from faultlens.analyzer.builder import Builder

#: methods whose calls are training calls (``call`` nodes) when their receiver resolves
_TRAINING_METHODS = ("zero_grad", "step", "train", "eval", "load_state_dict", "backward", "forward")
_CLIP_FNS = ("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm")


def _attr_chain(e) -> list[str]:
    """``self.fc.weight.data`` -> ``["data", "weight", "fc", "self"]`` (through subscripts and calls)."""
    out = []
    while isinstance(e, (cst.Attribute, cst.Subscript, cst.Call)):
        if isinstance(e, cst.Attribute):
            out.append(e.attr.value)
            e = e.value
        elif isinstance(e, cst.Subscript):
            e = e.value
        else:
            e = e.func
    if isinstance(e, cst.Name):
        out.append(e.value)
    return out


#: names a hand-written training loop gives its loss (``loss``, ``train_loss``, ``cost``)
_HAND_LOSS_NAME = re.compile(r"^(?:\w+_)?(?:loss|cost)(?:_\w+)?$", re.I)


def _loss_inputs(loss_stmt, loop, loss_pos, pos_of) -> set[str]:
    """The names a loss assignment is computed from inside its loop: the names of its value,
    and, back through the loop body's assignments before it, the names those were computed
    from (``loss <- y_pred <- h_relu, w2 <- h <- x, w1``)."""
    assigns: list[tuple[set[str], set[str]]] = []  # (names assigned, names read) before the loss
    for n in iter_nodes(loop):
        if isinstance(n, (cst.Assign, cst.AugAssign)) and n is not loss_stmt and pos_of(n) < loss_pos:
            targets = [t.target for t in n.targets] if isinstance(n, cst.Assign) else [n.target]
            assigns.append((set().union(*(names_in(t) for t in targets)), names_in(n.value)))
    feeds = set(names_in(loss_stmt.value))
    for _ in range(len(assigns) + 1):
        grown = set(feeds)
        for tnames, reads in assigns:
            if tnames & feeds:
                grown |= reads
        if grown == feeds:
            break
        feeds = grown
    return feeds


def _hand_lr_factor(sm) -> Any:
    """The step size of ``w -= lr * grad_w`` / ``w += -lr * g`` / ``a -= step * g.sum()``: an
    in-place subtraction (or addition) of a product whose one factor is a plain name or number,
    the other an expression of the gradient (a tuple of both factors where both are plain names
    and neither says ``grad``: the one with a numeric value is chosen once values are known);
    None for other augmented assignments (counters, running sums: ``total += loss``)."""
    if not isinstance(sm.operator, (cst.SubtractAssign, cst.AddAssign)):
        return None
    v = sm.value
    if not (isinstance(v, cst.BinaryOperation) and isinstance(v.operator, cst.Multiply)):
        return None

    def simple(e) -> bool:
        if isinstance(e, cst.UnaryOperation) and isinstance(e.operator, cst.Minus):
            e = e.expression
        return isinstance(e, (cst.Name, cst.Integer, cst.Float)) or (isinstance(e, cst.Attribute) and dotted(e) is not None)

    sides = [e for e in (v.left, v.right) if simple(e)]
    if len(sides) == 2:  # ``lr * grad_w``: the gradient is the side its name says is one
        named = [e for e in sides if "grad" not in (dotted(e) or "").lower()]
        sides = named if len(named) == 1 else sides
    return sides[0] if len(sides) == 1 else (tuple(sides) if sides else None)


def _is_weight_ref(e) -> bool:
    chain = _attr_chain(e)
    return any(x in ("weight", "bias", "data", "grad") for x in chain)


class StatementWalker:
    def __init__(self, b: "Builder"):
        self.b = b
        self.g = b.g
        self.record = WalkRecord()
        self.nodes = StatementNodes(b, self.record)
        self.scope_by_node: dict[int, Scope] = {}
        self.class_by_node: dict[int, ClassInfo] = {}

    def run(self) -> None:
        for fi in self.b.files.values():
            for sc in fi.scopes:
                self.scope_by_node[id(sc.node)] = sc
            for ci in fi.all_classes:
                self.class_by_node[id(ci.node)] = ci
        for fi in self.b.files.values():
            self._block(list(fi.parsed.module.body), Ctx(scope=fi.module_scope), top=True)
        self._hand_derived()
        self._user_fn_losses()

    def _user_fn_losses(self) -> None:
        """A loss computed by a function the program defines and then given to ``backward()``
        (``loss = loss_func(pred, yb)`` with ``def nll(input, target)``, as the "from scratch"
        tutorials write it): a functional loss node at that call, so that the call is recorded
        with its input and target (accuracy, the targets' statistics) as a criterion's call is.
        Without it only the loss value is seen, at ``backward()``. The runtime records the call
        only when its first argument carries gradients and its second does not (a prediction
        and a target, not ``compute_loss(x, y)`` on raw inputs)."""
        rec = self.record
        backs = {(c.receiver, id(c.scope)) for c in rec.calls if c.method == "backward"}
        for at, fn in rec.fn_losses:
            if (at.result, id(at.ctx.scope)) in backs:
                self.nodes.user_loss(at, fn)

    def _hand_derived(self) -> None:
        """A program that trains without autograd: no ``backward()``, no optimizer and no loss
        criterion anywhere, and a loop that assigns a loss (``loss = (y_pred - y).pow(2).sum()``)
        next to in-place updates of the form ``w -= lr * grad_w`` (the gradients derived by hand,
        as the numpy-style first steps of the PyTorch tutorials write them). The loss becomes a
        ``loss`` node (``hand_derived``) recorded at its assignment, and the updates a manual
        optimizer with the learning rate of their factor. Any autograd or optimizer use in the
        program leaves this alone: its own nodes describe the training."""
        rec, g = self.record, self.g
        if not rec.hand_losses or not rec.hand_updates:
            return
        if any(c.method == "backward" for c in rec.calls) or g.nodes("optimizer") or g.nodes("loss"):
            return
        b = self.b
        for sm, ctx, parents, name in rec.hand_losses:
            lid = ctx.loops[-1]
            fi = ctx.scope.file
            feeds = _loss_inputs(sm, rec.loops[lid].stmt, b.pos(fi, sm), lambda n: b.pos(fi, n))
            # an update of a name the loss is computed from (``w2`` -> ``y_pred`` -> ``loss``);
            # a decay or running sum beside the loss (``eps -= 0.05 * eps``) feeds nothing
            ups = [u for u in rec.hand_updates if u[1].loops and u[1].loops[-1] == lid and u[1].scope is ctx.scope
                   and u[3] in feeds]
            if not ups:
                continue
            value = sm.value
            text = b.text(fi, value)
            reduction = "sum" if ".sum(" in text or text.startswith("torch.sum(") or text.startswith("sum(") else "mean"
            nid = b.add("loss", name, fi, sm, ctx.scope, var=name, loss_type=None, functional=False,
                        hand_derived=True, loops=list(ctx.loops), expr=text[:200], args={"reduction": reduction},
                        args_resolved={"reduction": True}, expr_span=b.span(fi, value).to_dict())
            b.stmt_lookup[nid] = sm
            self.nodes.place(parents, ctx.scope, nid)
            for usm, uctx, uparents, target, lr in ups:
                if isinstance(lr, tuple):  # ``step * g``: the factor whose value is a number
                    pos = b.pos(fi, usm)
                    lr = next((e for e in lr if is_number(b.eval(e, uctx.scope, pos).value)), lr[0])
                self.nodes.manual_update(usm, usm.value, uctx, uparents, target, tensor=True, lr_expr=lr)
            return  # one training loop

    # ================================================================ compound statements
    def _block(self, stmts, ctx: Ctx, top: bool = False, parents=None) -> None:
        parents = parents if parents is not None else []
        for st in stmts:
            self._stmt(st, ctx, top, parents)

    def _stmt(self, st, ctx: Ctx, top: bool, parents: list[str]) -> None:
        if isinstance(st, cst.SimpleStatementLine):
            for sm in st.body:
                self._small(sm, ctx, parents)
        elif isinstance(st, cst.FunctionDef):
            self._function_def(st, ctx, parents)
        elif isinstance(st, cst.ClassDef):
            ci = self.class_by_node.get(id(st))
            if ci is None:
                return
            mc = ci if self.b.is_module(ci) else None
            self._block(body_of(st), Ctx(scope=ci.scope, module_class=mc), parents=[])
        elif isinstance(st, (cst.For, cst.While)):
            self._loop(st, ctx, parents)
        elif isinstance(st, cst.If):
            self._if(st, ctx, top, parents)
        elif isinstance(st, cst.With):
            self._with(st, ctx, top, parents)
        elif isinstance(st, cst.Try):
            self._block(body_of(st), ctx, top=top, parents=parents)
            for h in st.handlers:
                self._block(body_of(h), ctx, parents=parents)
            if st.orelse:
                self._block(body_of(st.orelse), ctx, parents=parents)
            if st.finalbody:
                self._block(body_of(st.finalbody), ctx, parents=parents)
        elif isinstance(st, cst.Match):
            for case in st.cases:
                self._block(body_of(case), ctx, parents=parents)

    def _function_def(self, st: cst.FunctionDef, ctx: Ctx, parents: list[str]) -> None:
        b = self.b
        fi = ctx.scope.file
        sc = self.scope_by_node.get(id(st))
        if sc is None:
            return
        mc = ctx.module_class
        if mc is not None and sc.cls is mc and b.framework_training_method(mc, st.name.value):
            mc = None  # a LightningModule's training_step / configure_optimizers: training code
        sub = ctx.inner(scope=sc, module_class=mc)
        sub_parents = list(parents)
        for dec in st.decorators:
            e = dec.decorator
            q = b.ext(fi, dotted(e.func if isinstance(e, cst.Call) else e))
            if q in N.GRAD_CONTEXTS and ctx.module_class is None:
                cid = b.add("context", N.GRAD_CONTEXTS[q], fi, dec, sc, ctx=N.GRAD_CONTEXTS[q],
                            body_span=b.span(fi, st.body).to_dict(), decorator=True, function=sc.qualname)
                sub.contexts.append(cid)
                self.record.top(sc, cid)
                sub_parents = sub_parents + [cid]
        self._block(body_of(st), sub, parents=sub_parents)

    def _if(self, st: cst.If, ctx: Ctx, top: bool, parents: list[str]) -> None:
        main = top and is_main_guard(st.test)
        if main and not ctx.scope.file.is_entry:
            return  # an imported file's ``if __name__ == "__main__":`` does not run
        self._exprs([st.test], st, ctx, parents)
        self._block(body_of(st), ctx, top=top and main, parents=parents)
        o = st.orelse
        while o is not None:
            if isinstance(o, cst.If):
                self._exprs([o.test], o, ctx, parents)
                self._block(body_of(o), ctx, parents=parents)
                o = o.orelse
            else:
                self._block(body_of(o), ctx, parents=parents)
                o = None

    def _with(self, st: cst.With, ctx: Ctx, top: bool, parents: list[str]) -> None:
        b = self.b
        fi = ctx.scope.file
        new_ctx = ctx.inner()
        new_parents = list(parents)
        for item in st.items:
            e = item.item
            q = b.ext(fi, dotted(e.func)) if isinstance(e, cst.Call) else None
            if q in N.GRAD_CONTEXTS and ctx.module_class is None:
                kind = N.GRAD_CONTEXTS[q]
                attrs: dict[str, Any] = {}
                if kind in ("set_grad_enabled", "inference_mode") and e.args:
                    v = b.eval(e.args[0].value, ctx.scope, b.pos(fi, st))
                    attrs["enabled"] = v.value if v.resolved else None
                cid = b.add("context", kind, fi, st, ctx.scope, ctx=kind, body_span=b.span(fi, st.body).to_dict(),
                            expr_span=b.span(fi, e).to_dict(), loop=ctx.loops[-1] if ctx.loops else None, **attrs)
                self.nodes.place(new_parents, ctx.scope, cid)
                new_ctx.contexts.append(cid)
                new_parents.append(cid)
            else:
                self._exprs([e], st, ctx, parents)
        self._block(body_of(st), new_ctx, top=top, parents=new_parents)

    # ================================================================ loops
    def _loop(self, st, ctx: Ctx, parents: list[str]) -> None:
        b = self.b
        fi = ctx.scope.file
        pos = b.pos(fi, st)
        self._exprs([st.iter if isinstance(st, cst.For) else st.test], st, ctx, parents)
        if ctx.module_class is not None:
            self._block(body_of(st), ctx.inner(), parents=parents)
            return
        attrs: dict[str, Any] = {"depth": len(ctx.loops), "body_span": b.span(fi, st.body).to_dict(),
                                 "role": "other", "iterates": None}
        if isinstance(st, cst.For):
            attrs["target"] = b.text(fi, st.target)
            attrs["iter"] = b.text(fi, st.iter)
            attrs["iter_span"] = b.span(fi, st.iter).to_dict()
            name = attrs["target"] if len(attrs["target"]) < 40 else "for"
            ik = dotted(unwrap_iter(st.iter))
            it_obj = b.resolve_obj(ik, ctx.scope, pos) if ik else None
            if it_obj and self.g.store.nodes[it_obj]["kind"] == "dataloader":
                attrs["iterates"] = it_obj
        else:
            attrs["target"] = None
            attrs["iter"] = b.text(fi, st.test)
            attrs["iter_span"] = b.span(fi, st.test).to_dict()
            name = "while"
        lid = b.add("loop", name, fi, st, ctx.scope, loop=ctx.loops[-1] if ctx.loops else None,
                    loops=list(ctx.loops), **attrs)
        if attrs["iterates"]:
            self.g.add_edge(attrs["iterates"], lid, "feeds")
        self.nodes.place(parents, ctx.scope, lid)
        self.record.loops[lid] = LoopInfo(st, ctx.scope, list(ctx.loops), pos)
        sub = ctx.inner(loops=ctx.loops + [lid])
        if isinstance(st, cst.For):
            inner = unwrap_iter(st.iter)
            if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) \
                    and inner.func.attr.value == "parameters":
                tk = dotted(st.target)
                if tk:
                    sub.loop_vars[tk] = inner
        self._block(body_of(st), sub, parents=parents + [lid])
        if st.orelse:
            self._block(body_of(st.orelse), ctx, parents=parents)

    # ================================================================ small statements
    def _small(self, sm, ctx: Ctx, parents: list[str]) -> None:
        nodes = self.nodes
        exprs = stmt_exprs(sm)
        if isinstance(sm, cst.AugAssign) and ctx.module_class is None:
            tk = dotted(sm.target)
            if tk and isinstance(sm.operator, (cst.SubtractAssign, cst.AddAssign)):
                if head(tk) in ctx.loop_vars:
                    nodes.manual_update(sm, sm.value, ctx, parents, head(tk))
                elif f"{head(tk)}.grad" in names_in(sm.value):
                    nodes.manual_update(sm, sm.value, ctx, parents, head(tk), tensor=True)
        if isinstance(sm, cst.AugAssign) and ctx.module_class is None and ctx.loops:
            tk = dotted(sm.target)
            lr = _hand_lr_factor(sm) if tk and "." not in tk else None
            if lr is not None:
                self.record.hand_updates.append((sm, ctx, list(parents), tk, lr))
        if isinstance(sm, cst.Assign) and ctx.module_class is None and len(sm.targets) == 1 and ctx.loops:
            t = sm.targets[0].target
            if isinstance(t, cst.Name) and _HAND_LOSS_NAME.match(t.value):
                self.record.hand_losses.append((sm, ctx, list(parents), t.value))
        if isinstance(sm, cst.Assign) and ctx.module_class is None and len(sm.targets) == 1:
            nodes.transform_assign(sm, ctx)
            tk = dotted(sm.targets[0].target)
            if tk and head(tk) in ctx.loop_vars and mentions_grad(sm.value):
                nodes.manual_update(sm, sm.value, ctx, parents, head(tk))
        self._exprs(exprs, sm, ctx, parents)

    def _exprs(self, exprs, stmt, ctx: Ctx, parents) -> None:
        result = None
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            result = self.b.text(ctx.scope.file, stmt.targets[0].target)
        elif isinstance(stmt, cst.AnnAssign):
            result = self.b.text(ctx.scope.file, stmt.target)
        for e in exprs:
            for call, in_arg in iter_calls(e):
                self._call(call, stmt, ctx, parents, None if in_arg else result)

    # ================================================================ calls
    def _call(self, call: cst.Call, stmt, ctx: Ctx, parents, result) -> None:
        b = self.b
        fi = ctx.scope.file
        at = CallAt(call, stmt, ctx, parents, result, b.pos(fi, stmt))
        k = dotted(call.func)
        cat = b.classify_callee(fi, call.func) if k else None
        if cat is None and k and "." not in k and result and _HAND_LOSS_NAME.match(result):
            cat = self._aliased_function(k, ctx, at.pos)
        if cat and cat.kind == "init":  # initialisation (also inside module classes)
            self.nodes.init(call, stmt, ctx, cat.name, b.text(fi, call.args[0].value) if call.args else None)
            return
        if isinstance(call.func, cst.Attribute) and self._method_call(at):
            return
        if ctx.module_class is not None:
            return
        if cat is not None and self._library_call(at, cat):
            return
        self._object_call(at, k)

    def _method_call(self, at: CallAt) -> bool:
        """``receiver.method(...)``: init methods on weights, gradient resets, hand-written
        updates, training calls, transforms' ``fit``/``transform``. True when handled."""
        b, nodes = self.b, self.nodes
        call, ctx = at.call, at.ctx
        f = call.func
        meth = f.attr.value
        rk = dotted(f.value)
        rtext = b.text(ctx.scope.file, f.value)
        if meth == "apply" and len(call.args) == 1:
            target = b.resolve_obj(rk, ctx.scope, at.pos) if rk and rk != "self" else None
            if (rk == "self" and ctx.module_class is not None) or (target and self.g.store.nodes[target]["kind"] == "model"):
                nodes.init(call, at.stmt, ctx, "apply", rtext)
                return True
        if meth in N.INIT_SUFFIX_FNS and _is_weight_ref(f.value):
            if "grad" in _attr_chain(f.value):
                if meth == "zero_":
                    nodes.call_node("zero_grad", rtext, None, at, manual=True)
                return True
            if meth == "copy_" and ctx.loop_vars and head(rtext) in ctx.loop_vars:
                nodes.manual_update(at.stmt, call.args[0].value if call.args else None, ctx, at.parents, head(rtext))
                return True
            if meth != "copy_":
                nodes.init(call, at.stmt, ctx, meth, rtext)
                return True
        if ctx.module_class is not None:
            return True
        if meth in ("add_", "sub_") and rk and head(rk) in ctx.loop_vars and mentions_grad(call):
            nodes.manual_update(at.stmt, call, ctx, at.parents, head(rk))
            return True
        if meth in ("add_", "sub_") and rk and f"{head(rk)}.grad" in names_in(call):
            nodes.manual_update(at.stmt, call, ctx, at.parents, head(rk), tensor=True)
            return True
        if meth == "zero_" and "grad" in _attr_chain(f.value):
            nodes.call_node("zero_grad", rtext, None, at, manual=True)
            return True
        if meth in _TRAINING_METHODS and self._training_call(at, meth, rk, rtext):
            return True
        if meth in ("fit_transform", "fit", "transform") and rk:
            return self._transform_use(at, rk)
        return False

    def _training_call(self, at: CallAt, meth: str, rk: str | None, rtext: str) -> bool:
        """``optimizer.zero_grad()``, ``.step()``, ``model.train()``/``.eval()``,
        ``.load_state_dict()``, ``loss.backward()``, ``model.forward(x)``. True when handled."""
        b = self.b
        call, ctx = at.call, at.ctx
        target = b.resolve_obj(rk, ctx.scope, at.pos) if rk and (rk != "self" or (
            meth == "forward" and b.class_framework(ctx.scope.cls))) else None
        tkind = self.g.store.nodes[target]["kind"] if target else None
        if meth == "backward":
            self.nodes.call_node("backward", rtext, None, at)
            return True
        if meth == "zero_grad":
            extra = {}
            for a in call.args:
                if a.keyword and a.keyword.value == "set_to_none" or (not a.keyword and call.args.index(a) == 0):
                    v = b.eval(a.value, ctx.scope, at.pos)
                    extra["set_to_none"] = v.value if v.resolved else None
            if "set_to_none" not in extra:
                extra["set_to_none"] = True  # the PyTorch 2.x default
            self.nodes.call_node("zero_grad", rtext, target, at, **extra)
            return True
        if meth == "step":
            self._step_call(at, rk, rtext, target, tkind)
            return True
        if meth in ("train", "eval"):
            if tkind not in (None, "model") or len(call.args) > 1 or rk in (None, "self"):
                return True
            extra = {}
            if meth == "train" and call.args:
                v = b.eval(call.args[0].value, ctx.scope, at.pos)
                extra["mode"] = v.value if v.resolved else None
            self.nodes.call_node(meth, rtext, target, at, **extra)
            return True
        if meth == "load_state_dict":
            self.nodes.call_node("load_state_dict", rtext, target, at)
            return True
        if meth == "forward" and tkind == "model":
            self.nodes.call_node("forward", rtext, target, at)
            return True
        return False

    def _step_call(self, at: CallAt, rk: str | None, rtext: str, target: str | None, tkind: str | None) -> None:
        """``optimizer.step()`` / ``optimizer.step(closure)`` / ``scheduler.step()``."""
        if tkind not in (None, "optimizer", "scheduler"):
            return
        ctx = at.ctx
        extra: dict[str, Any] = {"closure": None}
        if tkind == "scheduler":
            extra["scheduler"] = True
        ca = [a for a in at.call.args if not a.keyword or a.keyword.value == "closure"]
        if ca and tkind != "scheduler":
            cexpr = ca[0].value
            extra["closure"] = self.b.text(ctx.scope.file, cexpr)
            if isinstance(cexpr, cst.Name):
                d = ctx.scope.latest(cexpr.value, (10**9, 0))
                if d is None and ctx.scope.parent is not None:
                    d = ctx.scope.parent.latest(cexpr.value, END)
                if d is not None and d.kind == "def":
                    self.record.closures.add(id(d.extra))
                    self.record.fn_call(ctx, d.extra)
        if tkind is None and not rk:
            return
        self.nodes.call_node("step", rtext, target, at, **extra)

    def _transform_use(self, at: CallAt, rk: str) -> bool:
        """``scaler.fit_transform(X)``: what a transform object is applied to. True when handled."""
        b = self.b
        call = at.call
        target = b.resolve_obj(rk, at.ctx.scope, at.pos)
        if target and self.g.store.nodes[target]["kind"] == "transform" and call.args:
            fi = at.ctx.scope.file
            a = self.g.store.nodes[target]["attrs"]
            a.setdefault("applied_to", []).append(b.text(fi, call.args[0].value))
            if a.get("target") in (None, a.get("var")):
                a["target"] = b.text(fi, call.args[0].value)
            return True
        return False

    def _library_call(self, at: CallAt, cat: Callee) -> bool:
        """Calls of functions the analyzer classifies: functional losses, gradient clipping,
        local functions, local classes. True when handled."""
        kind, tname = cat.kind, cat.name
        if kind == "functional" and tname in N.FUNCTIONAL_LOSSES:
            self.nodes.functional_loss(at, tname)
            return True
        if kind == "nnutils" and tname in _CLIP_FNS:
            self._clip_grad(at, tname)
            return True
        if kind == "func":
            self.record.fn_call(at.ctx, cat.fn)
            if (at.result and _HAND_LOSS_NAME.match(at.result) and len(at.call.args) >= 2
                    and isinstance(at.stmt, cst.Assign) and at.stmt.value is at.call):
                self.record.fn_losses.append((at, cat.fn))
            return True
        return kind == "class"

    def _aliased_function(self, name: str, ctx: Ctx, pos) -> Callee | None:
        """``loss_func = nll`` before ``loss = loss_func(pred, yb)``: the program's function a
        plain name was last bound to (in its scope, else at module level), None otherwise."""
        fi = ctx.scope.file
        d = ctx.scope.latest(name, pos) or fi.module_scope.latest(name, END)
        if d is None or d.kind != "assign" or not isinstance(d.value, cst.Name):
            return None
        cat = self.b.classify_callee(fi, d.value)
        return cat if cat is not None and cat.kind == "func" else None

    def _clip_grad(self, at: CallAt, tname: str) -> None:
        b = self.b
        call, ctx = at.call, at.ctx
        fi = ctx.scope.file
        pexpr = call.args[0].value if call.args else None
        pm, _ = b.params_info(pexpr, ctx.scope, at.pos) if pexpr is not None else (None, "unknown")
        cid = self.nodes.call_node(tname if tname != "clip_grad_norm" else "clip_grad_norm_",
                                   b.text(fi, pexpr) if pexpr is not None else "", pm, at)
        names = ["parameters", "max_norm", "norm_type"] if "norm" in tname else ["parameters", "clip_value"]
        a, r, s, h = b.consume_args(cid, call, ctx.scope, at.pos, names, {"max_norm", "clip_value"},
                                    skip={"parameters"})
        self.g.set_attr(cid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)

    def _object_call(self, at: CallAt, k: str | None) -> None:
        """Methods of local helper objects / ``self.method()``, and callable objects:
        ``model(x)`` (a forward call) / ``criterion(out, y)`` (a loss call)."""
        b = self.b
        ctx = at.ctx
        if k and "." in k:
            fn = self._method_target(k, ctx, at.pos)
            if fn is not None:
                self.record.fn_call(ctx, fn)
                return
        if k:
            target = b.resolve_obj(k, ctx.scope, at.pos)
            if target:
                tkind = self.g.store.nodes[target]["kind"]
                if tkind == "model":
                    self.nodes.call_node("forward", k, target, at)
                elif tkind == "loss":
                    cid = self.nodes.call_node("loss", k, target, at)
                    self.g.set_attr(cid, loss=target)

    def _method_target(self, k: str, ctx: Ctx, pos) -> Scope | None:
        b = self.b
        base, meth = k.rsplit(".", 1)
        if base == "self" and ctx.scope.cls is not None:
            return b.method_of(ctx.scope.cls, meth)
        if "." in base:
            return None
        d = ctx.scope.latest(base, pos)
        if d is None and ctx.scope.parent is not None:
            d = ctx.scope.parent.latest(base, END)
        if d is not None and isinstance(d.value, cst.Call):
            q = b.qualify(ctx.scope.file, dotted(d.value.func))
            if isinstance(q, LocalClass):
                return b.method_of(q.cls, meth)
        return None
