"""Object creation: the model, loss, optimizer, scheduler, data loader and transform nodes a
program builds, and which of them a name refers to (a pass mixed into ``Builder``)."""
from __future__ import annotations

import libcst as cst

from faultlens.analyzer import names as N
from faultlens.analyzer.bindings import MAX_CALL_SITES, UNBOUND
from faultlens.analyzer.cst_util import iter_returns, unwrap_call, unwrap_list
from faultlens.analyzer.forward import set_forward
from faultlens.analyzer.index import END, Def, Scope
from faultlens.analyzer.names import dotted, head, iter_nodes
from faultlens.analyzer.state import BuildState

_DATA_PARALLEL = ("DataParallel", "DistributedDataParallel")


class Objects(BuildState):
    # ---------------------------------------------------------------- which object a name is
    def resolve_obj(self, key: str | None, scope: Scope, pos, depth: int = 0) -> str | None:
        if key is None or depth > 20:
            return None
        mk = (key, id(scope), pos)
        if mk in self._obj_memo:
            return self._obj_memo[mk]
        self._obj_memo[mk] = None
        o = self._resolve_obj(key, scope, pos, depth)
        self._obj_memo[mk] = o
        return o

    def _resolve_obj(self, key: str, scope: Scope, pos, depth: int) -> str | None:
        d = scope.latest(key, pos)
        if d is not None:
            return self.obj_of_def(d, depth + 1)
        h = head(key)
        if h == "self" and scope.cls is not None:
            ds = scope.cls.attr_defs.get(key)
            if ds:
                for dd in reversed(ds):
                    o = self.obj_of_def(dd, depth + 1)
                    if o:
                        return o
                return None
            if key == "self" and scope.cls.node_id:
                # in a LightningModule's training methods ``self`` is the model built from it
                return self.lightning_self_model(scope.cls) if scope.kind == "function" else None
        if h in scope.params and scope.kind == "function":
            if key != h:
                return None
            return self._param_obj(scope, h, depth)
        if scope.parent is not None and h not in scope.defs:
            return self.resolve_obj(key, scope.parent, END, depth + 1)
        if scope.kind == "module":
            imp = scope.file.imports.get(h)
            if imp and imp[0] == "local" and key == h:
                return self.resolve_obj(imp[2], self.by_rel[imp[1]].module_scope, END, depth + 1)
            if imp and imp[0] == "localmod" and key != h:
                return self.resolve_obj(key[len(h) + 1:], self.by_rel[imp[1]].module_scope, END, depth + 1)
        return None

    def _param_obj(self, fn: Scope, param: str, depth: int) -> str | None:
        """The object parameter ``param`` of ``fn`` is: the one all its call sites pass."""
        results = set()
        sites = self.call_sites(fn)
        if len(sites) > MAX_CALL_SITES:
            return None
        for cs in sites:
            arg = self.bound_arg(fn, param, cs)
            if arg is None or arg is UNBOUND:
                continue
            results.add(self.obj_of_expr(arg, cs.scope, cs.stmt, cs.pos, None, depth + 1))
        results.discard(None)
        return results.pop() if len(results) == 1 else None

    def obj_of_def(self, d: Def, depth: int = 0) -> str | None:
        k = id(d)
        if k in self._def_obj:
            return self._def_obj[k]
        if k in self._in_progress or depth > 20:
            return None
        if d.kind not in ("assign", "ann") or d.value is None:
            self._def_obj[k] = None
            return None
        self._in_progress.add(k)
        try:
            o = self.obj_of_expr(d.value, d.scope, d.stmt, d.pos, d.key, depth + 1)
        finally:
            self._in_progress.discard(k)
        self._def_obj[k] = o
        return o

    def obj_of_expr(self, expr, scope: Scope, stmt, pos, var: str | None, depth: int = 0) -> str | None:
        if depth > 20:
            return None
        expr = unwrap_call(expr)
        k = dotted(expr)
        if k is not None:
            return self.resolve_obj(k, scope, pos, depth + 1)
        if not isinstance(expr, cst.Call):
            return None
        if id(expr) in self._expr_obj:
            return self._expr_obj[id(expr)]
        self._expr_obj[id(expr)] = None
        o = self._create_obj(expr, scope, stmt, pos, var, depth)
        self._expr_obj[id(expr)] = o
        return o

    # ---------------------------------------------------------------- creating objects
    def _create_obj(self, call: cst.Call, scope: Scope, stmt, pos, var, depth) -> str | None:
        fi = scope.file
        if scope.cls is not None and self.is_module(scope.cls) and var and var.startswith("self."):
            return None  # layers of a module class are emitted by the class pass
        if scope.kind == "class" and scope.cls is not None and self.is_module(scope.cls):
            return None
        cat = self.classify_callee(fi, call.func)
        fkey = dotted(call.func)
        if cat is None:
            if fkey in ("nn.DataParallel", "DataParallel", "torch.nn.DataParallel") or \
                    (fkey and fkey.endswith("DistributedDataParallel")):
                args = [a.value for a in call.args if not a.keyword]
                return self.obj_of_expr(args[0], scope, stmt, pos, None, depth + 1) if args else None
            return None
        kind, tname, ci = cat.kind, cat.name, cat.cls
        if kind in ("module", "layer"):
            if kind == "layer" and tname.split(".")[-1] in _DATA_PARALLEL:
                args = [a.value for a in call.args if not a.keyword]
                return self.obj_of_expr(args[0], scope, stmt, pos, None, depth + 1) if args else None
            return self.make_model(call, scope, stmt, var, tname, ci)
        if kind == "loss":
            return self._make_loss(call, scope, stmt, var, tname)
        if kind == "optimizer":
            return self._make_optimizer(call, scope, stmt, var, tname)
        if kind == "scheduler":
            return self._make_scheduler(call, scope, stmt, var, tname)
        if kind == "dataloader":
            return self._make_dataloader(call, scope, stmt, var)
        if kind == "transform":
            return self._make_transform(call, scope, stmt, var, tname)
        if kind == "trainer":
            return self.make_trainer(call, scope, stmt, var, tname)
        if kind == "func" and var is not None:
            return self._factory_obj(cat.fn, scope, stmt, var, depth)
        return None

    def _factory_obj(self, fn: Scope, scope: Scope, stmt, var: str, depth: int) -> str | None:
        """``var = build_model()``: the object local function ``fn`` returns."""
        for st in iter_returns(fn.node):
            if st.value is None:
                continue
            ret = unwrap_call(st.value)
            if isinstance(ret, cst.Call):
                rc = self.classify_callee(fn.file, ret.func)
                if rc is not None and rc.kind in ("module", "layer") and rc.name not in _DATA_PARALLEL:
                    # the model node sits at the caller's assignment; its class, arguments
                    # and Sequential children come from the factory's return statement
                    return self.make_model(ret, fn, st, var, rc.name, rc.cls, site=(scope, stmt))
            fpos = self.pos(fn.file, st)
            o = self.obj_of_expr(st.value, fn, st, fpos, f"{fn.qualname}()", depth + 1)
            if o:
                return o
        return None

    def base_attrs(self, call, scope, stmt):
        """The attributes every object node has (``expr_span``: its constructor call)."""
        fi = scope.file
        return {"expr_span": self.span(fi, call).to_dict()}

    def make_model(self, call, scope, stmt, var, tname, ci, site=None) -> str:
        """A model node. ``site`` = (scope, statement) of the assignment that receives the model
        when ``call`` is the value a factory function returns (``model = build_model()``)."""
        fi = scope.file
        cls_attr = ci.node_id if ci is not None else (self.ext(fi, dotted(call.func)) or tname)
        name = var or tname
        sscope, sstmt = site if site is not None else (scope, stmt)
        nid = self.add("model", name, sscope.file, sstmt, sscope, var=var, **{"class": cls_attr},
                       model_type=tname, **self.base_attrs(call, scope, stmt))
        if site is not None:
            self.g.set_attr(nid, factory=scope.qualname, factory_span=self.span(fi, stmt).to_dict())
        self.stmt_lookup[nid] = sstmt
        pos = self.pos(fi, stmt)
        if ci is not None:
            init = ci.methods.get("__init__")
            params = list(init.params[1:]) if init else []
            a, r, s, h = self.consume_args(nid, call, scope, pos, params, set())
            self.g.add_edge(nid, ci.node_id, "instance_of")
        else:
            a, r, s, h = self.consume_args(nid, call, scope, pos, N.LAYER_PARAMS.get(tname, []), set())
            if tname in N.CONTAINERS:
                spec = self.layer_spec(call, scope, pos, 0, False, stmt)
                if spec is not None and spec.children:
                    items = []
                    for key, child in spec.children:
                        items.extend(self.emit_layer(child, nid, name, key, None))
                    set_forward(self.g, nid, items)
        self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
        return nid

    def _make_loss(self, call, scope, stmt, var, tname) -> str:
        fi = scope.file
        nid = self.add("loss", var or tname, fi, stmt, scope, var=var, loss_type=tname, functional=False,
                       **self.base_attrs(call, scope, stmt))
        self.stmt_lookup[nid] = stmt
        a, r, s, h = self.consume_args(nid, call, scope, self.pos(fi, stmt), [], None, skip={"weight", "pos_weight"})
        self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
        return nid

    def params_info(self, expr, scope, pos, depth=0):
        """(params_model id, params_kind) for an optimizer's params argument."""
        if expr is None or depth > 5:
            return None, "unknown"
        k = dotted(expr)
        if k is not None:
            d = scope.latest(k, pos)
            if d is not None and d.value is not None:
                return self.params_info(d.value, d.scope, d.pos, depth + 1)
            if k in scope.params and scope.kind == "function" and len(self.call_sites(scope)) <= MAX_CALL_SITES:
                for cs in self.call_sites(scope):
                    arg = self.bound_arg(scope, k, cs)
                    if arg is not None and arg is not UNBOUND:
                        return self.params_info(arg, cs.scope, cs.pos, depth + 1)
            return None, "unknown"
        found = [n for n in iter_nodes(expr) if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute)
                 and n.func.attr.value in ("parameters", "named_parameters")]
        if not found:
            return None, "unknown"
        models = []
        subset = False
        for c in found:
            rk = dotted(c.func.value)
            mid = self.resolve_obj(rk, scope, pos) if rk else None
            if mid is None and rk and "." in rk:
                base = rk.split(".")[0]
                mid = self.resolve_obj(base, scope, pos)
                if mid is not None:
                    subset = True
            if mid is not None:
                models.append(mid)
        direct = unwrap_list(expr)
        if not (isinstance(direct, cst.Call) and direct in found):
            subset = True
        uniq = list(dict.fromkeys(models))
        if not uniq:
            return None, "unknown"
        if len(uniq) > 1:
            return uniq[0], "unknown"
        return uniq[0], "subset" if subset else "all"

    def _make_optimizer(self, call, scope, stmt, var, tname) -> str:
        fi = scope.file
        pos = self.pos(fi, stmt)
        params_expr = None
        for i, a in enumerate(call.args):
            if (a.keyword and a.keyword.value == "params") or (not a.keyword and not a.star and i == 0):
                params_expr = a.value
                break
        pm, pk = self.params_info(params_expr, scope, pos)
        nid = self.add("optimizer", var or tname, fi, stmt, scope, var=var, optimizer_type=tname,
                       params_source=self.text(fi, params_expr) if params_expr is not None else None,
                       params_model=pm, params_kind=pk, **self.base_attrs(call, scope, stmt))
        self.stmt_lookup[nid] = stmt
        a, r, s, h = self.consume_args(nid, call, scope, pos, N.OPTIMIZER_PARAMS.get(tname, ["params", "lr"]),
                                       None, skip={"params"})
        lr = a.get("lr") if r.get("lr") else None
        self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h,
                        lr=lr if "lr" in a else N.OPTIMIZER_DEFAULT_LR.get(tname),
                        lr_is_default="lr" not in a)
        if pm is not None:
            self.g.add_edge(nid, pm, "params_of")
        else:
            self.unresolved(nid, "params_model", self.text(fi, params_expr) if params_expr is not None else "",
                            "could not tell which model's parameters are optimised")
        return nid

    def _make_scheduler(self, call, scope, stmt, var, tname) -> str:
        fi = scope.file
        pos = self.pos(fi, stmt)
        opt_expr = None
        for i, a in enumerate(call.args):
            if (a.keyword and a.keyword.value == "optimizer") or (not a.keyword and i == 0):
                opt_expr = a.value
                break
        oid = self.obj_of_expr(opt_expr, scope, stmt, pos, None) if opt_expr is not None else None
        nid = self.add("scheduler", var or tname, fi, stmt, scope, var=var, scheduler_type=tname, optimizer=oid,
                       **self.base_attrs(call, scope, stmt))
        self.stmt_lookup[nid] = stmt
        a, r, s, h = self.consume_args(nid, call, scope, pos, N.SCHEDULER_PARAMS.get(tname, ["optimizer"]),
                                       None, skip={"optimizer", "lr_lambda"})
        self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
        return nid

    def _make_dataloader(self, call, scope, stmt, var) -> str:
        fi = scope.file
        pos = self.pos(fi, stmt)
        nid = self.add("dataloader", var or "DataLoader", fi, stmt, scope, var=var,
                       **self.base_attrs(call, scope, stmt))
        self.stmt_lookup[nid] = stmt
        a, r, s, h = self.consume_args(nid, call, scope, pos, N.DATALOADER_PARAMS,
                                       {"batch_size", "shuffle", "drop_last"},
                                       skip={"dataset", "sampler", "batch_sampler", "collate_fn"})
        bs = a.get("batch_size") if r.get("batch_size") else None
        if "batch_size" not in a:
            bs = None if "batch_sampler" in a else 1
        sh = a.get("shuffle") if r.get("shuffle") else None
        if "shuffle" not in a:
            sh = None if "sampler" in a else False
        self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h, batch_size=bs, shuffle=sh,
                        dataset=a.get("dataset"))
        return nid

    def _make_transform(self, call, scope, stmt, var, tname) -> str:
        fi = scope.file
        nid = self.add("transform", var or tname, fi, stmt, scope, transform=tname, target=var, var=var,
                       **self.base_attrs(call, scope, stmt))
        self.stmt_lookup[nid] = stmt
        a, r, s, h = self.consume_args(nid, call, scope, self.pos(fi, stmt),
                                       ["mean", "std"] if tname == "Normalize" else [], set())
        self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
        return nid
