"""Pass 3 and 4 of the graph builder: statements (loops, training calls, forward and loss
calls, contexts, initialisation, transforms) and the finishing touches (loop roles, feeds
edges, backward targets, function nodes, other-model parameters)."""
from __future__ import annotations

import re
from typing import Any

import libcst as cst

from faultlens.analyzer import frameworks as FW
from faultlens.analyzer import names as N
from faultlens.analyzer.builder import (
    Builder, Ctx, Val, _body, _int_literal, _jsonable, _unwrap_iter, iter_calls, _stmt_exprs,
)
from faultlens.analyzer.index import END, ClassInfo, FileInfo, Scope, is_main_guard
from faultlens.analyzer.names import dotted, head, iter_nodes, mentions_attr, names_in, uses_detach

_LOADER_HINT = re.compile(r"loader|batch|dataset|data\b|minibatch", re.I)
_EVAL_NAME = re.compile(r"(^|_)(test|eval|evaluate|valid|validate|validation|predict|inference)($|_)", re.I)
_TRAIN_NAME = re.compile(r"(^|_)(train|fit)", re.I)
_INIT_VALUE_ARG = {"constant_": ("val", 1), "normal_": ("std", 2), "uniform_": ("b", 2), "trunc_normal_": ("std", 2),
                   "xavier_uniform_": ("gain", 1), "xavier_normal_": ("gain", 1), "orthogonal_": ("gain", 1),
                   "kaiming_uniform_": ("a", 1), "kaiming_normal_": ("a", 1)}


class Walker:
    def __init__(self, b: Builder):
        self.b = b
        self.g = b.g
        self.scope_by_node: dict[int, Scope] = {}
        self.class_by_node: dict[int, ClassInfo] = {}
        self.loops: dict[str, dict] = {}          # loop id -> info
        self.calls: list[dict] = []               # call records (id, method, scope, pos, ...)
        self.manual_opt: dict[int, str] = {}      # id(param loop stmt) -> manual optimizer id
        self.loop_fn_calls: dict[str, list[Scope]] = {}
        self.fn_fn_calls: dict[int, list[Scope]] = {}
        self.scope_top: dict[int, list[str]] = {}
        self.closures: set[int] = set()
        self.init_fns: set[int] = set()
        self.contexts_in: dict[int, list[str]] = {}

    # ================================================================ driving
    def run(self) -> None:
        for fi in self.b.files.values():
            for sc in fi.scopes:
                self.scope_by_node[id(sc.node)] = sc
            for ci in fi.all_classes:
                self.class_by_node[id(ci.node)] = ci
        for fi in self.b.files.values():
            self._block(_body_of_module(fi), Ctx(scope=fi.module_scope), top=True, fi=fi)
        self.finish()

    def _block(self, stmts, ctx: Ctx, top: bool = False, fi: FileInfo | None = None, parents=None) -> None:
        parents = parents if parents is not None else []
        for st in stmts:
            self._stmt(st, ctx, top, parents)

    def _stmt(self, st, ctx: Ctx, top: bool, parents: list[str]) -> None:
        b = self.b
        fi = ctx.scope.file
        if isinstance(st, cst.SimpleStatementLine):
            for sm in st.body:
                self._small(sm, ctx, parents)
        elif isinstance(st, cst.FunctionDef):
            sc = self.scope_by_node.get(id(st))
            if sc is None:
                return
            mc = ctx.module_class
            if mc is not None and sc.cls is mc and FW.training_method(b, mc, st.name.value):
                mc = None  # a LightningModule's training_step / configure_optimizers: training code
            sub = Ctx(scope=sc, loops=list(ctx.loops), contexts=list(ctx.contexts), in_closure=ctx.in_closure,
                      loop_vars=dict(ctx.loop_vars), module_class=mc)
            sub_parents = list(parents)
            for dec in st.decorators:
                e = dec.decorator
                q = b.ext(fi, dotted(e.func if isinstance(e, cst.Call) else e))
                if q in N.GRAD_CONTEXTS and ctx.module_class is None:
                    cid = b.add("context", N.GRAD_CONTEXTS[q], fi, dec, sc, ctx=N.GRAD_CONTEXTS[q],
                                body_span=b.span(fi, st.body).to_dict(), decorator=True, function=sc.qualname)
                    sub.contexts.append(cid)
                    self._top(sc, cid)
                    sub_parents = sub_parents + [cid]
            self._block(_body(st), sub, parents=sub_parents)
        elif isinstance(st, cst.ClassDef):
            ci = self.class_by_node.get(id(st))
            if ci is None:
                return
            mc = ci if b.is_module(ci) else None
            self._block(_body(st), Ctx(scope=ci.scope, module_class=mc), parents=[])
        elif isinstance(st, cst.For):
            self._loop(st, ctx, parents)
        elif isinstance(st, cst.While):
            self._loop(st, ctx, parents)
        elif isinstance(st, cst.If):
            main = top and is_main_guard(st.test)
            if main and not fi.is_entry:
                return
            self._exprs([st.test], st, ctx, parents)
            self._block(_body(st), ctx, top=top and main, parents=parents)
            o = st.orelse
            while o is not None:
                if isinstance(o, cst.If):
                    self._exprs([o.test], o, ctx, parents)
                    self._block(_body(o), ctx, parents=parents)
                    o = o.orelse
                else:
                    self._block(_body(o), ctx, parents=parents)
                    o = None
        elif isinstance(st, cst.With):
            new_ctx = Ctx(scope=ctx.scope, loops=list(ctx.loops), contexts=list(ctx.contexts),
                          in_closure=ctx.in_closure, loop_vars=dict(ctx.loop_vars), module_class=ctx.module_class)
            new_parents = list(parents)
            for item in st.items:
                e = item.item
                q = b.ext(fi, dotted(e.func)) if isinstance(e, cst.Call) else None
                if q in N.GRAD_CONTEXTS and ctx.module_class is None:
                    kind = N.GRAD_CONTEXTS[q]
                    attrs: dict[str, Any] = {}
                    if kind == "set_grad_enabled" and e.args:
                        v = b.eval(e.args[0].value, ctx.scope, b._pos(fi, st))
                        attrs["enabled"] = v.value if v.resolved else None
                    if kind == "inference_mode" and e.args:
                        v = b.eval(e.args[0].value, ctx.scope, b._pos(fi, st))
                        attrs["enabled"] = v.value if v.resolved else None
                    cid = b.add("context", kind, fi, st, ctx.scope, ctx=kind, body_span=b.span(fi, st.body).to_dict(),
                                expr_span=b.span(fi, e).to_dict(), loop=ctx.loops[-1] if ctx.loops else None, **attrs)
                    if new_parents:
                        self.g.add_edge(new_parents[-1], cid, "contains")
                    else:
                        self._top(ctx.scope, cid)
                    new_ctx.contexts.append(cid)
                    new_parents.append(cid)
                else:
                    self._exprs([e], st, ctx, parents)
            self._block(_body(st), new_ctx, top=top, parents=new_parents)
        elif isinstance(st, cst.Try):
            self._block(_body(st), ctx, top=top, parents=parents)
            for h in st.handlers:
                self._block(_body(h), ctx, parents=parents)
            if st.orelse:
                self._block(_body(st.orelse), ctx, parents=parents)
            if st.finalbody:
                self._block(_body(st.finalbody), ctx, parents=parents)
        elif isinstance(st, cst.Match):
            for case in st.cases:
                self._block(_body(case), ctx, parents=parents)

    def _top(self, scope: Scope, nid: str) -> None:
        self.scope_top.setdefault(id(scope), []).append(nid)

    # ================================================================ loops
    def _loop(self, st, ctx: Ctx, parents: list[str]) -> None:
        b = self.b
        fi = ctx.scope.file
        pos = b._pos(fi, st)
        self._exprs([st.iter if isinstance(st, cst.For) else st.test], st, ctx, parents)
        if ctx.module_class is not None:
            sub = Ctx(scope=ctx.scope, loops=list(ctx.loops), contexts=list(ctx.contexts), in_closure=ctx.in_closure,
                      loop_vars=dict(ctx.loop_vars), module_class=ctx.module_class)
            self._block(_body(st), sub, parents=parents)
            return
        attrs: dict[str, Any] = {"depth": len(ctx.loops), "body_span": b.span(fi, st.body).to_dict(),
                                 "role": "other", "iterates": None}
        if isinstance(st, cst.For):
            attrs["target"] = b.text(fi, st.target)
            attrs["iter"] = b.text(fi, st.iter)
            attrs["iter_span"] = b.span(fi, st.iter).to_dict()
            name = attrs["target"] if len(attrs["target"]) < 40 else "for"
            inner = _unwrap_iter(st.iter)
            ik = dotted(inner)
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
        if parents:
            self.g.add_edge(parents[-1], lid, "contains")
        else:
            self._top(ctx.scope, lid)
        self.loops[lid] = {"stmt": st, "scope": ctx.scope, "outer": list(ctx.loops), "pos": pos}
        sub = Ctx(scope=ctx.scope, loops=ctx.loops + [lid], contexts=list(ctx.contexts), in_closure=ctx.in_closure,
                  loop_vars=dict(ctx.loop_vars), module_class=ctx.module_class)
        if isinstance(st, cst.For):
            inner = _unwrap_iter(st.iter)
            if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) \
                    and inner.func.attr.value == "parameters":
                tk = dotted(st.target)
                if tk:
                    sub.loop_vars[tk] = inner
                    self.loops[lid]["param_loop"] = inner
        self._block(_body(st), sub, parents=parents + [lid])
        if st.orelse:
            self._block(_body(st.orelse), ctx, parents=parents)

    # ================================================================ statements
    def _small(self, sm, ctx: Ctx, parents: list[str]) -> None:
        b = self.b
        fi = ctx.scope.file
        exprs = _stmt_exprs(sm)
        if isinstance(sm, cst.AugAssign) and ctx.module_class is None:
            tk = dotted(sm.target)
            if tk and isinstance(sm.operator, (cst.SubtractAssign, cst.AddAssign)):
                if head(tk) in ctx.loop_vars:
                    self._manual_update(sm, sm.value, ctx, parents, head(tk))
                elif f"{head(tk)}.grad" in names_in(sm.value):
                    self._manual_update(sm, sm.value, ctx, parents, head(tk), tensor=True)
        if isinstance(sm, cst.Assign) and ctx.module_class is None and len(sm.targets) == 1:
            self._transform_assign(sm, ctx)
            tk = dotted(sm.targets[0].target)
            if tk and head(tk) in ctx.loop_vars and _mentions_grad(sm.value):
                self._manual_update(sm, sm.value, ctx, parents, head(tk))
        self._exprs(exprs, sm, ctx, parents)

    def _exprs(self, exprs, stmt, ctx: Ctx, parents) -> None:
        result = None
        if isinstance(stmt, (cst.Assign,)) and len(stmt.targets) == 1:
            result = self.b.text(ctx.scope.file, stmt.targets[0].target)
        elif isinstance(stmt, cst.AnnAssign):
            result = self.b.text(ctx.scope.file, stmt.target)
        for e in exprs:
            for call, in_arg in iter_calls(e):
                self._call(call, in_arg, stmt, ctx, parents, None if in_arg else result)

    def _call(self, call: cst.Call, in_arg: bool, stmt, ctx: Ctx, parents, result) -> None:
        b = self.b
        fi = ctx.scope.file
        pos = b._pos(fi, stmt)
        f = call.func
        k = dotted(f)
        mc = ctx.module_class
        cat = b.classify_callee(fi, f) if k else None
        # ---- initialisation (also inside module classes)
        if cat and cat[0] == "init":
            self._init(call, stmt, ctx, cat[1], b.text(fi, call.args[0].value) if call.args else None)
            return
        if isinstance(f, cst.Attribute):
            meth = f.attr.value
            rk = dotted(f.value)
            rtext = b.text(fi, f.value)
            if meth == "apply" and len(call.args) == 1:
                target = b.resolve_obj(rk, ctx.scope, pos) if rk and rk != "self" else None
                if (rk == "self" and mc is not None) or (target and self.g.store.nodes[target]["kind"] == "model"):
                    self._init(call, stmt, ctx, "apply", rtext)
                    return
            if meth in N.INIT_SUFFIX_FNS and _is_weight_ref(f.value):
                if "grad" in _attr_chain(f.value):
                    if meth == "zero_":
                        self._call_node("zero_grad", rtext, None, call, stmt, ctx, parents, result, manual=True)
                    return
                if meth == "copy_" and ctx.loop_vars and head(rtext) in ctx.loop_vars:
                    self._manual_update(stmt, call.args[0].value if call.args else None, ctx, parents, head(rtext))
                    return
                if meth != "copy_":
                    self._init(call, stmt, ctx, meth, rtext)
                    return
            if mc is not None:
                return
            if meth in ("add_", "sub_") and rk and head(rk) in ctx.loop_vars and _mentions_grad(call):
                self._manual_update(stmt, call, ctx, parents, head(rk))
                return
            if meth in ("add_", "sub_") and rk and f"{head(rk)}.grad" in names_in(call):
                self._manual_update(stmt, call, ctx, parents, head(rk), tensor=True)
                return
            if meth == "zero_" and "grad" in _attr_chain(f.value):
                self._call_node("zero_grad", rtext, None, call, stmt, ctx, parents, result, manual=True)
                return
            if meth in ("zero_grad", "step", "train", "eval", "load_state_dict", "backward", "forward"):
                target = b.resolve_obj(rk, ctx.scope, pos) if rk and (rk != "self" or (
                    meth == "forward" and FW.class_framework(b, ctx.scope.cls))) else None
                tkind = self.g.store.nodes[target]["kind"] if target else None
                if meth == "backward":
                    self._call_node("backward", rtext, None, call, stmt, ctx, parents, result)
                    return
                if meth == "zero_grad":
                    extra = {}
                    for a in call.args:
                        if a.keyword and a.keyword.value == "set_to_none" or (not a.keyword and call.args.index(a) == 0):
                            v = b.eval(a.value, ctx.scope, pos)
                            extra["set_to_none"] = v.value if v.resolved else None
                    if "set_to_none" not in extra:
                        extra["set_to_none"] = True  # the PyTorch 2.x default
                    self._call_node("zero_grad", rtext, target, call, stmt, ctx, parents, result, **extra)
                    return
                if meth == "step":
                    if tkind not in (None, "optimizer", "scheduler"):
                        return
                    extra = {"closure": None}
                    if tkind == "scheduler":
                        extra["scheduler"] = True
                    ca = [a for a in call.args if not a.keyword or a.keyword.value == "closure"]
                    if ca and tkind != "scheduler":
                        cexpr = ca[0].value
                        extra["closure"] = b.text(fi, cexpr)
                        if isinstance(cexpr, cst.Name):
                            d = ctx.scope.latest(cexpr.value, (10**9, 0))
                            if d is None and ctx.scope.parent is not None:
                                d = ctx.scope.parent.latest(cexpr.value, END)
                            if d is not None and d.kind == "def":
                                self.closures.add(id(d.extra))
                                self._record_fn_call(ctx, d.extra)
                    if tkind is None and not rk:
                        return
                    self._call_node("step", rtext, target, call, stmt, ctx, parents, result, **extra)
                    return
                if meth in ("train", "eval"):
                    if tkind not in (None, "model") or len(call.args) > 1 or rk in (None, "self"):
                        return
                    extra = {}
                    if meth == "train" and call.args:
                        v = b.eval(call.args[0].value, ctx.scope, pos)
                        extra["mode"] = v.value if v.resolved else None
                    self._call_node(meth, rtext, target, call, stmt, ctx, parents, result, **extra)
                    return
                if meth == "load_state_dict":
                    self._call_node("load_state_dict", rtext, target, call, stmt, ctx, parents, result)
                    return
                if meth == "forward" and tkind == "model":
                    self._forward_call(call, rtext, target, stmt, ctx, parents, result)
                    return
            if meth in ("fit_transform", "fit", "transform") and rk:
                target = b.resolve_obj(rk, ctx.scope, pos)
                if target and self.g.store.nodes[target]["kind"] == "transform" and call.args:
                    a = self.g.store.nodes[target]["attrs"]
                    a.setdefault("applied_to", []).append(b.text(fi, call.args[0].value))
                    if a.get("target") in (None, a.get("var")):
                        a["target"] = b.text(fi, call.args[0].value)
                    return
        if mc is not None:
            return
        if cat is not None:
            kind, tname, obj = cat
            if kind == "functional" and tname in N.FUNCTIONAL_LOSSES:
                self._functional_loss(call, tname, stmt, ctx, parents, result)
                return
            if kind == "nnutils" and tname in ("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm"):
                pexpr = call.args[0].value if call.args else None
                pm, _ = b._params_info(pexpr, ctx.scope, pos) if pexpr is not None else (None, "unknown")
                cid = self._call_node(tname if tname != "clip_grad_norm" else "clip_grad_norm_",
                                      b.text(fi, pexpr) if pexpr is not None else "", pm, call, stmt, ctx, parents, result)
                names = ["parameters", "max_norm", "norm_type"] if "norm" in tname else ["parameters", "clip_value"]
                a, r, s, h = b.consume_args(cid, call, ctx.scope, pos, names, {"max_norm", "clip_value"},
                                            skip={"parameters"})
                self.g.set_attr(cid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
                return
            if kind == "func":
                fn = obj
                self._record_fn_call(ctx, fn)
                return
            if kind == "class":
                return
        # methods of local helper objects / self.method()
        if k and "." in k:
            fn = self._method_target(k, ctx, pos)
            if fn is not None:
                self._record_fn_call(ctx, fn)
                return
        # callable objects: model(x) / criterion(out, y)
        if k:
            target = b.resolve_obj(k, ctx.scope, pos)
            if target:
                tkind = self.g.store.nodes[target]["kind"]
                if tkind == "model":
                    self._forward_call(call, k, target, stmt, ctx, parents, result)
                elif tkind == "loss":
                    cid = self._call_node("loss", k, target, call, stmt, ctx, parents, result)
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
            if q and q[0] == "class":
                return b.method_of(q[1], meth)
        return None

    def _record_fn_call(self, ctx: Ctx, fn: Scope) -> None:
        self.fn_fn_calls.setdefault(id(ctx.scope), []).append(fn)
        for lid in ctx.loops:
            self.loop_fn_calls.setdefault(lid, []).append(fn)

    # ================================================================ node makers
    def _call_node(self, method: str, receiver: str, target: str | None, call, stmt, ctx: Ctx, parents,
                   result, **extra) -> str:
        b = self.b
        fi = ctx.scope.file
        recv = receiver if len(receiver) <= 60 else receiver[:57] + "..."
        name = f"{recv}.{method}" if recv else method
        inputs = [b.text(fi, a.value) for a in call.args]
        extra.setdefault("manual", False)
        cid = b.add("call", name, fi, stmt, ctx.scope, method=method, receiver=receiver, target=target,
                    loop=ctx.loops[-1] if ctx.loops else None, loops=list(ctx.loops), contexts=list(ctx.contexts),
                    in_closure=ctx.in_closure or id(ctx.scope) in self.closures, result=result, inputs=inputs,
                    detached=any(uses_detach(a.value) for a in call.args),
                    expr_span=b.span(fi, call).to_dict(), **extra)
        if target:
            self.g.add_edge(cid, target, "targets")
        if parents:
            self.g.add_edge(parents[-1], cid, "contains")
        else:
            self._top(ctx.scope, cid)
        self.calls.append({"id": cid, "method": method, "scope": ctx.scope, "pos": b._pos(fi, stmt),
                           "call": call, "result": result, "receiver": receiver})
        return cid

    def _forward_call(self, call, receiver, target, stmt, ctx, parents, result) -> None:
        self._call_node("forward", receiver, target, call, stmt, ctx, parents, result)

    def _functional_loss(self, call, fname, stmt, ctx: Ctx, parents, result) -> None:
        b = self.b
        fi = ctx.scope.file
        pos = b._pos(fi, stmt)
        ltype = N.FUNCTIONAL_LOSSES[fname]
        lid = b.add("loss", fname, fi, stmt, ctx.scope, var=None, loss_type=ltype, functional=True,
                    qualname=f"torch.nn.functional.{fname}", expr_span=b.span(fi, call).to_dict())
        b._stmt_lookup[lid] = stmt
        a, r, s, h = b.consume_args(lid, call, ctx.scope, pos, ["input", "target"], None,
                                    skip={"input", "target", "weight", "pos_weight"})
        self.g.set_attr(lid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
        cid = self._call_node("loss", b.text(fi, call.func), lid, call, stmt, ctx, parents, result)
        self.g.set_attr(cid, loss=lid)

    def _init(self, call, stmt, ctx: Ctx, fn: str, target_text) -> None:
        b = self.b
        fi = ctx.scope.file
        pos = b._pos(fi, stmt)
        attrs: dict[str, Any] = {"fn": fn, "target": target_text, "value": None,
                                 "owner": ctx.module_class.node_id if ctx.module_class else None,
                                 "expr_span": b.span(fi, call).to_dict()}
        vexpr = None
        if fn == "apply":
            fexpr = call.args[0].value
            attrs["applied_fn"] = b.text(fi, fexpr)
            fk = dotted(fexpr)
            if fk:
                fsc = None
                if fk.startswith("self.") and ctx.scope.cls is not None:
                    fsc = b.method_of(ctx.scope.cls, fk[5:])
                else:
                    q = b.qualify(fi, fk)
                    if q and q[0] == "func":
                        fsc = q[1]
                    else:
                        d = ctx.scope.latest(fk, END)
                        if d is not None and d.kind == "def":
                            fsc = d.extra
                if fsc is not None:
                    self.init_fns.add(id(fsc))
        elif fn in ("fill_",):
            vexpr = call.args[0].value if call.args else None
        elif fn in ("zero_", "zeros_"):
            attrs["value"] = 0
        elif fn == "ones_":
            attrs["value"] = 1
        else:
            kwname, idx = _INIT_VALUE_ARG.get(fn, (None, None))
            if fn in ("normal_", "uniform_") and not (call.args and b.classify_callee(fi, call.func)):
                idx = idx - 1  # tensor method form: w.normal_(mean, std)
            for a in call.args:
                if a.keyword and a.keyword.value == kwname:
                    vexpr = a.value
            pa = [a.value for a in call.args if not a.keyword]
            if vexpr is None and idx is not None and idx < len(pa):
                vexpr = pa[idx]
        nid = b.add("init", f"{fn}", fi, stmt, ctx.scope, **attrs)
        b._stmt_lookup[nid] = stmt
        if vexpr is not None:
            v = b.eval(vexpr, ctx.scope, pos)
            self.g.set_attr(nid, value=_jsonable(v.value) if v.resolved else None,
                            value_span=b.span(fi, vexpr).to_dict(), expr=b.text(fi, vexpr))
            if v.hp:
                self.g.add_edge(v.hp, nid, "uses", arg="value")
            elif not v.resolved:
                b.unresolved(nid, "value", b.text(fi, vexpr), "init value not resolved")

    def _transform_assign(self, sm: cst.Assign, ctx: Ctx) -> None:
        b = self.b
        fi = ctx.scope.file
        v = sm.value
        if not isinstance(v, cst.BinaryOperation) or not isinstance(v.operator, cst.Divide):
            return
        right = b.eval(v.right, ctx.scope, b._pos(fi, sm))
        left = v.left
        kind = None
        tgt = None
        if right.resolved and _is_num(right.value) and right.value in (255, 255.0, 256, 256.0, 127.5):
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
            self.g.set_attr(nid, value=_jsonable(right.value), value_span=b.span(fi, v.right).to_dict(),
                            expr=b.text(fi, v.right))

    def _manual_update(self, stmt, expr, ctx: Ctx, parents, pvar: str, tensor: bool = False) -> None:
        """``p.data.add_(p.grad, alpha=-lr)`` / ``p -= lr * p.grad`` inside
        ``for p in model.parameters()``, or ``w -= lr * w.grad`` on a raw leaf tensor:
        a hand-written SGD step. One manual optimizer per parameter loop (or, for raw
        tensors, per innermost loop), listing the tensors it updates in ``params``."""
        b = self.b
        fi = ctx.scope.file
        pos = b._pos(fi, stmt)
        pcall = None if tensor else ctx.loop_vars.get(pvar)
        lid = ctx.loops[-1] if ctx.loops else None
        key = id(pcall) if pcall is not None else ("tensors", lid or id(ctx.scope))
        lr_expr = _lr_factor(expr)
        if key in self.manual_opt:
            params = self.g.store.nodes[self.manual_opt[key]]["attrs"].setdefault("params", [])
            if pvar not in params:
                params.append(pvar)
        if key not in self.manual_opt:
            mk = dotted(pcall.func.value) if pcall is not None else None
            pm = b.resolve_obj(mk, ctx.scope, pos) if mk else None
            oid = b.add("optimizer", "manual_sgd", fi, stmt, ctx.scope, var=None, optimizer_type="manual",
                        manual=True, params_source=b.text(fi, pcall) if pcall is not None else pvar,
                        params_model=pm, params_kind="all" if pm else ("tensors" if tensor else "unknown"),
                        params=[pvar], expr_span=b.span(fi, stmt).to_dict())
            b._stmt_lookup[oid] = stmt
            args, res, spans, hps = {}, {}, {}, {}
            varies = False
            if lr_expr is not None:
                v = b.eval(lr_expr, ctx.scope, pos)
                if not v.resolved and v.deps:
                    # ``lr = args.lr`` then ``lr /= 4`` in the epoch loop: the update starts with the
                    # initial value (as a torch optimizer's lr does under a scheduler)
                    init = self._initial_value(dotted(lr_expr), ctx.scope)
                    if init is not None:
                        v, varies = init, True
                args["lr"] = _jsonable(v.value) if v.resolved else b.text(fi, lr_expr)
                res["lr"] = v.resolved
                spans["lr"] = b.span(fi, lr_expr).to_dict()
                hp = v.hp
                if hp is None and (v.resolved or v.deps):
                    lit = v.source == "literal"
                    hp = b.add("hyperparameter", "lr", fi, stmt, ctx.scope, hp="lr",
                               value=_jsonable(v.value) if v.resolved else None, resolved=v.resolved,
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
            self.manual_opt[key] = oid
        oid = self.manual_opt[key]
        if _update_sign(stmt, expr) > 0:
            # the update adds the gradient: gradient ascent (a sign slip in a hand-written step)
            self.g.set_attr(oid, ascent=True, ascent_span=b.span(fi, stmt).to_dict())
        call = expr if isinstance(expr, cst.Call) else None
        cid = b.add("call", f"{pvar}.step", fi, stmt, ctx.scope, method="step", receiver=pvar, target=oid,
                    loop=lid, loops=list(ctx.loops), contexts=list(ctx.contexts), in_closure=ctx.in_closure,
                    result=None, inputs=[], detached=False, manual=True, closure=None,
                    expr_span=b.span(fi, call if call is not None else stmt).to_dict())
        self.g.add_edge(cid, oid, "targets")
        if parents:
            self.g.add_edge(parents[-1], cid, "contains")
        else:
            self._top(ctx.scope, cid)
        self.calls.append({"id": cid, "method": "step", "scope": ctx.scope, "pos": pos, "call": call,
                           "result": None, "receiver": pvar})

    # ================================================================ finishing
    def finish(self) -> None:
        self._mark_closures()
        self._loop_roles()
        self._feeds_and_targets()
        self._functions()
        self._models()

    def _mark_closures(self) -> None:
        for rec in self.calls:
            if id(rec["scope"]) in self.closures:
                self.g.set_attr(rec["id"], in_closure=True)

    def _fn_backward(self, fn: Scope, seen=None) -> bool:
        seen = seen or set()
        if id(fn) in seen:
            return False
        seen.add(id(fn))
        for rec in self.calls:
            if rec["method"] in ("backward",) and _within(rec["scope"], fn):
                return True
        for f in self.fn_fn_calls.get(id(fn), []):
            if self._fn_backward(f, seen):
                return True
        return False

    def _loop_roles(self) -> None:
        g = self.g
        has_bw: dict[str, bool] = {}
        for lid, info in self.loops.items():
            direct = any(rec["method"] in ("backward",) and lid in g.store.nodes[rec["id"]]["attrs"]["loops"]
                         for rec in self.calls)
            via = any(self._fn_backward(f) for f in self.loop_fn_calls.get(lid, []))
            has_bw[lid] = direct or via
        # functions called (transitively) from inside a training loop
        in_training: set[int] = set()

        def mark(fn: Scope, depth=0):
            if id(fn) in in_training or depth > 20:
                return
            in_training.add(id(fn))
            for f in self.fn_fn_calls.get(id(fn), []):
                mark(f, depth + 1)
            for sc in fn.children:
                mark(sc, depth + 1)

        for lid, info in self.loops.items():
            if has_bw[lid]:
                for f in self.loop_fn_calls.get(lid, []):
                    mark(f)
        # which functions contain a training loop (for epoch loops calling train())
        fn_has_train_loop: dict[int, bool] = {}
        for lid, info in self.loops.items():
            if has_bw[lid]:
                sc = info["scope"]
                while sc is not None and sc.kind != "module":
                    fn_has_train_loop[id(sc)] = True
                    sc = sc.parent

        def calls_train_loop(lid) -> bool:
            stack = list(self.loop_fn_calls.get(lid, []))
            seen = set()
            while stack:
                f = stack.pop()
                if id(f) in seen:
                    continue
                seen.add(id(f))
                if fn_has_train_loop.get(id(f)):
                    return True
                stack.extend(self.fn_fn_calls.get(id(f), []))
            return False

        roles = {}
        for lid, info in self.loops.items():
            a = g.store.nodes[lid]["attrs"]
            if not has_bw[lid]:
                roles[lid] = "other"
                continue
            nested = any(has_bw[o] and lid in g.store.nodes[o]["attrs"]["loops"] for o in self.loops if o != lid)
            if nested or calls_train_loop(lid):
                roles[lid] = "epoch"
                continue
            outer_training = any(has_bw.get(o) for o in info["outer"]) or id(info["scope"]) in in_training \
                or _scope_in(info["scope"], in_training)
            loaderish = bool(a.get("iterates")) or bool(_LOADER_HINT.search(a.get("iter") or "")) \
                or _range_has_step(info["stmt"])
            # an endless counter (``for i in itertools.count(1)``, ``while True`` ended by a break)
            # counts batches: it has no epoch count to judge or change
            unbounded = self._unbounded(info)
            if unbounded:
                g.set_attr(lid, unbounded=True)
            roles[lid] = "step" if (outer_training or loaderish or unbounded) else "epoch"
        for lid, role in roles.items():
            g.set_attr(lid, role=role)
            self._range_uses(lid, role)

    def _initial_value(self, key: str | None, scope: Scope, depth: int = 0) -> Val | None:
        """The value a variable starts with when every other definition of it updates it from
        itself (``lr /= 4``, ``lr = lr * 0.9``): that one plain definition's value (resolved,
        numeric, with its hyperparameter). A function parameter is followed to the argument of
        its single call site. None when there is no such single start."""
        b = self.b
        if not key or "." in key or "[" in key or depth > 4:
            return None
        sc = scope
        while sc is not None and key not in sc.defs and key not in sc.params:
            sc = sc.parent
        if sc is None:
            return None
        if key in sc.params and sc.kind == "function":
            if key in sc.defs:
                return None
            sites = b.call_sites(sc)
            if len(sites) != 1:
                return None
            arg = b._bound_arg(sc, key, sites[0])
            if not isinstance(arg, cst.BaseExpression):
                return None
            return self._initial_value(dotted(arg), sites[0].scope, depth + 1)
        starts, updates = [], 0
        for d in sc.defs.get(key, ()):
            if d.kind == "aug" or (d.kind == "assign" and d.value is not None and _reads_name(d.value, key)):
                updates += 1
            elif d.kind in ("assign", "ann"):
                starts.append(d)
            else:
                return None
        if len(starts) != 1 or not updates:
            return None
        v = b.def_val(starts[0])
        if not (v.resolved and isinstance(v.value, (int, float)) and not isinstance(v.value, bool) and v.hp):
            return None
        return v

    def _unbounded(self, info) -> bool:
        """The loop has no bound of its own: ``itertools.count(...)`` (also imported as
        ``count``), ``itertools.repeat(x)`` without ``times``, ``while True`` / ``while 1``."""
        st = info["stmt"]
        if isinstance(st, cst.While):
            t = st.test
            if isinstance(t, cst.Name) and t.value == "True":
                return True
            return isinstance(t, cst.Integer) and t.evaluated_value != 0
        it = _unwrap_iter(st.iter)
        if not isinstance(it, cst.Call):
            return False
        fi = info["scope"].file
        q = self.b.ext(fi, dotted(it.func)) or ""
        if q == "itertools.count":
            return True
        return q == "itertools.repeat" and len(it.args) == 1 and not it.args[0].keyword

    def _range_uses(self, lid: str, role: str) -> None:
        b = self.b
        info = self.loops[lid]
        st = info["stmt"]
        sc = info["scope"]
        fi = sc.file
        pos = info["pos"]
        if isinstance(st, cst.While):
            t = st.test
            if isinstance(t, cst.Comparison) and len(t.comparisons) == 1:
                v = b.eval(t.comparisons[0].comparator, sc, pos)
                for dep in sorted(v.deps):
                    self.g.add_edge(dep, lid, "uses", arg="range")
            return
        it = st.iter
        if isinstance(it, cst.Call) and dotted(it.func) in ("enumerate",) and it.args:
            it = it.args[0].value
        if isinstance(it, cst.Call) and dotted(it.func) in ("tqdm", "tqdm.tqdm", "trange") and it.args:
            it = it.args[0].value
        if not (isinstance(it, cst.Call) and dotted(it.func) in ("range", "trange")):
            return
        pa = [a.value for a in it.args if not a.keyword]
        if not pa:
            return
        start_e, stop_e, step_e = (None, pa[0], None) if len(pa) == 1 else (pa[0], pa[1], pa[2] if len(pa) > 2 else None)
        start = b.eval(start_e, sc, pos) if start_e is not None else Val(0, True, "literal")
        stop = b.eval(stop_e, sc, pos)
        step = b.eval(step_e, sc, pos) if step_e is not None else Val(1, True, "literal")
        rng = {"start": start.value if start.resolved else None, "stop": stop.value if stop.resolved else None,
               "step": step.value if step.resolved else None}
        iters = None
        if all(isinstance(rng[k], int) for k in rng) and rng["step"]:
            iters = len(range(rng["start"], rng["stop"], rng["step"]))
        self.g.set_attr(lid, range=rng, iterations=iters, range_span=b.span(fi, stop_e).to_dict())
        if stop.hp:
            self.g.add_edge(stop.hp, lid, "uses", arg="range")
        elif stop.deps:
            for dep in sorted(stop.deps):
                self.g.add_edge(dep, lid, "uses", arg="range")
        elif role == "epoch" and stop.resolved and stop.source == "literal":
            hp = b.add("hyperparameter", "epochs", fi, st, sc, hp="epochs", value=_jsonable(stop.value), resolved=True,
                       source="literal", expr=b.text(fi, stop_e), value_span=b.span(fi, stop_e).to_dict(), key="range")
            self.g.add_edge(hp, lid, "uses", arg="range")
        if step_e is not None:
            for dep in sorted(step.deps):
                self.g.add_edge(dep, lid, "uses", arg="range_step")
        if role == "epoch" and not stop.resolved:
            b.unresolved(lid, "range", b.text(fi, stop_e), "epoch count not resolved")

    def _feeds_and_targets(self) -> None:
        g = self.g
        fwd = [r for r in self.calls if r["method"] == "forward"]
        losses = [r for r in self.calls if r["method"] == "loss"]
        for lr in losses:
            call = lr["call"]
            used = set()
            nested_fwd = set()
            for a in call.args:
                used |= {head(n) for n in names_in(a.value)}
                for c, _ in iter_calls(a.value):
                    nested_fwd.add(id(c))
            best = None
            for fr in fwd:
                if fr["scope"] is not lr["scope"]:
                    continue
                if id(fr["call"]) in nested_fwd:
                    best = fr
                    break
                if fr["result"] and fr["pos"] <= lr["pos"] and (
                        head(fr["result"]) in used or any(head(t.strip()) in used for t in fr["result"].strip("()").split(","))):
                    if best is None or fr["pos"] >= best["pos"]:
                        best = fr
            if best is not None:
                g.add_edge(best["id"], lr["id"], "feeds")
                g.set_attr(lr["id"], forward=best["id"])
        for br in [r for r in self.calls if r["method"] == "backward"]:
            recv = head(br["receiver"])
            best = None
            for lr in losses:
                if lr["scope"] is not br["scope"] or not lr["result"] or lr["pos"] > br["pos"]:
                    continue
                if head(lr["result"]) == recv:
                    if best is None or lr["pos"] >= best["pos"]:
                        best = lr
            if best is None:  # loss = criterion(...) + reg ; loss.backward()
                d = br["scope"].latest(recv, br["pos"])
                if d is not None and d.value is not None:
                    inner = {id(c) for c, _ in iter_calls(d.value)}
                    for lr in losses:
                        if id(lr["call"]) in inner:
                            best = lr
            if best is not None:
                g.set_attr(br["id"], target=best["id"])
                g.add_edge(br["id"], best["id"], "targets")

    def _functions(self) -> None:
        b = self.b
        g = self.g
        for fi in b.files.values():
            mains = {k for k in fi.main_guard_calls}
            for sc in fi.scopes:
                if sc.kind != "function":
                    continue
                name = sc.qualname.split(".")[-1]
                top = self.scope_top.get(id(sc), [])
                role = None
                if id(sc) in self.closures:
                    role = "closure"
                elif id(sc) in self.init_fns:
                    role = "init_fn"
                elif name == "main" or name in mains:
                    role = "main"
                elif self._fn_backward(sc) or (name == "training_step" and FW.class_framework(b, sc.cls)):
                    role = "train"
                elif _EVAL_NAME.search(name) and top:
                    role = "evaluate"
                elif top:
                    role = "other"
                if role is None:
                    continue
                if sc.cls is not None and b.is_module(sc.cls) and role in ("other",):
                    continue
                fid = b.add("function", sc.qualname, fi, sc.node, sc.parent, qualname=sc.qualname, role=role,
                            params=list(sc.params), function=sc.qualname)
                for nid in top:
                    if nid in g:
                        g.add_edge(fid, nid, "contains")

    def _models(self) -> None:
        g = self.g
        for m in g.nodes("model"):
            # `enc_layer = nn.TransformerEncoderLayer(...)` passed to another constructor: a building
            # block, not a model -- dropped when nothing trains, calls or optimises it
            if m["class"] and str(m["class"]).startswith("torch.nn.") and m.get("model_type") not in N.CONTAINERS \
                    and not [p for p in g.predecessors(m.id) if p.kind != "hyperparameter"] \
                    and not g.successors(m.id):
                local_hps = [p.id for p in g.predecessors(m.id)
                             if p.span == m.span and len(g.successors(p.id)) == 1]
                g.store.remove_node(m.id)
                g.store.remove_nodes_from(local_hps)
                g.unresolved[:] = [u for u in g.unresolved if u.get("node") in g.store]
        used = {}
        for rec in self.calls:
            if rec["method"] == "forward":
                t = g.store.nodes[rec["id"]]["attrs"].get("target")
                if t:
                    used[t] = used.get(t, 0) + 1
        for m in g.nodes("model"):
            g.set_attr(m.id, used_in_forward=m.id in used, forward_calls=used.get(m.id, 0))
        if not used:
            return
        for o in g.nodes("optimizer"):
            pm = o.get("params_model")
            if pm and pm not in used and o.get("params_kind") in ("all", "subset"):
                g.set_attr(o.id, params_kind="other_model")


def _body_of_module(fi: FileInfo) -> list:
    return list(fi.parsed.module.body)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _attr_chain(e) -> list[str]:
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


def _is_weight_ref(e) -> bool:
    chain = _attr_chain(e)
    return any(x in ("weight", "bias", "data", "grad") for x in chain)


def _mentions_grad(node) -> bool:
    return mentions_attr(node, "grad")


def _sign(e) -> int:
    """+1 / -1: the sign of an update expression's factor, taking names as positive."""
    if isinstance(e, cst.UnaryOperation) and isinstance(e.operator, cst.Minus):
        return -_sign(e.expression)
    if isinstance(e, cst.BinaryOperation) and isinstance(e.operator, (cst.Multiply, cst.Divide)):
        return _sign(e.left) * _sign(e.right)
    return 1


def _update_sign(stmt, expr) -> int:
    """+1 when a hand-written update adds the gradient (``p += lr * p.grad``,
    ``p.add_(lr * p.grad)``, ``p -= -lr * g``), -1 when it subtracts it, 0 when unknown."""
    if isinstance(stmt, cst.AugAssign) and expr is not None and _mentions_grad(expr):
        op = 1 if isinstance(stmt.operator, cst.AddAssign) else -1 if isinstance(stmt.operator, cst.SubtractAssign) else 0
        return op * _sign(expr)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in ("add_", "sub_"):
        op = 1 if expr.func.attr.value == "add_" else -1
        alpha = next((a.value for a in expr.args if a.keyword and a.keyword.value == "alpha"), None)
        pos = [a.value for a in expr.args if not a.keyword]
        if not pos or not _mentions_grad(expr):
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
            if not _mentions_grad(v):
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
            if _mentions_grad(expr.right) and not _mentions_grad(expr.left):
                return _unsigned(expr.left)
            if _mentions_grad(expr.left) and not _mentions_grad(expr.right):
                return _unsigned(expr.right)
        for side in (expr.right, expr.left):
            if _mentions_grad(side):
                f = _lr_factor(side)
                if f is not None:
                    return f
    return None


def _reads_name(expr, name: str) -> bool:
    """``expr`` reads the variable ``name`` (``lr * 0.9``; not the attribute of ``args.lr``)."""
    attrs = {id(n.attr) for n in iter_nodes(expr) if isinstance(n, cst.Attribute)}
    return any(isinstance(n, cst.Name) and n.value == name and id(n) not in attrs for n in iter_nodes(expr))


def _within(inner: Scope, outer: Scope) -> bool:
    s = inner
    while s is not None:
        if s is outer:
            return True
        s = s.parent
    return False


def _scope_in(sc: Scope, ids: set[int]) -> bool:
    s = sc
    while s is not None:
        if id(s) in ids:
            return True
        s = s.parent
    return False


def _range_has_step(st) -> bool:
    if not isinstance(st, cst.For):
        return False
    it = st.iter
    return isinstance(it, cst.Call) and dotted(it.func) == "range" and len([a for a in it.args if not a.keyword]) == 3
