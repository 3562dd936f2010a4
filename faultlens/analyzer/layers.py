"""Module classes and their layers: the ``module_class`` nodes, the ``layer`` nodes an
``__init__`` (or a helper it calls) builds, containers and their children (a pass mixed into
``Builder``; the forward flow over the layers is ``faultlens.analyzer.forward``)."""
from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from faultlens.analyzer import names as N
from faultlens.analyzer.cst_util import iter_returns, unwrap_call
from faultlens.analyzer.index import CallSite, ClassInfo, Scope
from faultlens.analyzer.names import dotted
from faultlens.analyzer.state import BuildState


@dataclass
class Spec:
    """A layer about to be emitted."""

    call: cst.CSTNode | None
    layer_type: str | None
    stmt: cst.CSTNode
    scope: Scope
    class_ref: ClassInfo | None = None
    dynamic: bool = False
    conditional: bool = False
    children: list[tuple[str, "Spec"]] | None = None
    candidates: list[str] | None = None
    type_expr: cst.CSTNode | None = None
    factory: str | None = None    # qualname of the local function whose return value built it


def _renumber(children):
    out, idx, wild = [], 0, False
    for key, s in children:
        if key == "*" or s.dynamic:
            wild = True
        if key is not None and key != "*" and not key.isdigit():
            out.append((key, s))
        else:
            out.append(("*" if wild else str(idx), s))
        idx += 1
    return out


class Layers(BuildState):
    # ---------------------------------------------------------------- layer specs
    def layer_spec(self, expr, scope: Scope, pos, depth: int, dyn: bool, stmt, cond: bool = False) -> Spec | None:
        if expr is None or depth > 12:
            return None
        expr = unwrap_call(expr)
        if isinstance(expr, cst.IfExp):
            a = self.layer_spec(expr.body, scope, pos, depth + 1, dyn, stmt)
            b = self.layer_spec(expr.orelse, scope, pos, depth + 1, dyn, stmt)
            if a or b:
                cands = sorted({s.layer_type for s in (a, b) if s and s.layer_type})
                return Spec(expr, None, stmt, scope, dynamic=True, conditional=cond, candidates=cands)
            return None
        if isinstance(expr, cst.Call):
            return self._call_spec(expr, scope, pos, depth, dyn, stmt, cond)
        k = dotted(expr)
        if k is not None and not k.startswith("self."):
            d = scope.latest(k, pos)
            if d is not None and d.value is not None and d.kind in ("assign", "ann"):
                return self.layer_spec(d.value, d.scope, d.pos, depth + 1, dyn or d.loop_depth > 0, d.stmt,
                                       d.conditional)
        return None

    def _call_spec(self, expr: cst.Call, scope: Scope, pos, depth: int, dyn: bool, stmt, cond) -> Spec | None:
        fi = scope.file
        f = expr.func
        if isinstance(f, cst.Call) and dotted(f.func) == "getattr" and len(f.args) >= 2:
            mod = self.ext(fi, dotted(f.args[0].value))
            if mod and (mod == "torch.nn" or mod.startswith("torch.nn.")):
                tv = self.eval(f.args[1].value, scope, pos)
                t = tv.value if tv.resolved and isinstance(tv.value, str) else None
                return Spec(expr, t, stmt, scope, dynamic=True, conditional=cond, type_expr=f.args[1].value)
            return None
        fk = dotted(f)
        if fk is not None and fk.startswith("self.") and fk.count(".") == 1 and scope.cls is not None:
            # self.features = self._make_layers(cfg): a helper method of the class
            meth = self.method_of(scope.cls, fk[5:])
            if meth is not None and meth.node is not None and isinstance(meth.node, cst.FunctionDef):
                return self._factory_spec(meth, scope, depth, dyn, cond)
            return None
        cat = self.classify_callee(fi, f)
        if cat is None:
            return None
        kind, tname, ci = cat.kind, cat.name, cat.cls
        if kind == "func":
            return self._factory_spec(cat.fn, scope, depth, dyn, cond)
        if kind not in ("layer", "module", "loss"):
            return None
        if kind == "loss" and ci is None and depth == 0 and not (scope.cls and self.is_module(scope.cls)):
            return None
        spec = Spec(expr, tname, stmt, scope, class_ref=ci, dynamic=dyn, conditional=cond)
        if tname in N.CONTAINERS and ci is None:
            spec.children = self._container_children(expr, tname, scope, pos, depth, dyn, stmt, cond)
        return spec

    def _factory_spec(self, fn: Scope, scope: Scope, depth: int, dyn: bool, cond) -> Spec | None:
        """The layer a local helper function returns (``self.net = build_mlp(64, 10)``): the
        spec of its first ``return`` whose value is a layer/container/module, with the spans
        of the constructions inside the helper and ``factory`` set to the helper's qualname on
        it and all its children (an inner factory keeps its own name)."""
        if depth > 10 or fn is None or fn.kind != "function" or fn is scope:
            return None
        for st in iter_returns(fn.node):
            if st.value is None or fn.file.parsed.positions.get(st) is None:
                continue
            spec = self.layer_spec(st.value, fn, self.pos(fn.file, st), depth + 1, dyn, st, cond)
            if spec is None:
                continue
            stack = [spec]
            while stack:
                sp = stack.pop()
                if sp.factory is None:
                    sp.factory = fn.qualname
                stack.extend(c for _, c in (sp.children or []))
            return spec
        return None

    def _list_items(self, expr, scope: Scope, pos, depth: int, dyn: bool, stmt, cond: bool) -> list[tuple[str | None, Spec]]:
        """Layer specs of a list expression: literal, comprehension, or a local list variable
        built with ``append``/``extend``/``+=``."""
        out: list[tuple[str | None, Spec]] = []
        if isinstance(expr, (cst.List, cst.Tuple)):
            for el in expr.elements:
                if isinstance(el, cst.StarredElement):
                    out.extend(self._list_items(el.value, scope, pos, depth + 1, dyn, stmt, cond))
                else:
                    s = self.layer_spec(el.value, scope, pos, depth + 1, dyn, stmt, cond)
                    if s:
                        out.append((None, s))
            return out
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
            s = self.layer_spec(expr.elt, scope, pos, depth + 1, True, stmt, cond)
            if s:
                s.dynamic = True
                out.append(("*", s))
            return out
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
            return (self._list_items(expr.left, scope, pos, depth + 1, dyn, stmt, cond)
                    + self._list_items(expr.right, scope, pos, depth + 1, dyn, stmt, cond))
        k = dotted(expr)
        if k is None:
            return out
        d = scope.latest(k, pos)
        if d is not None and d.kind == "aug":
            # layers += [...]: start from the list's last plain definition; the augmented
            # assignments after it are replayed as events below
            base = [x for x in scope.defs.get(k, ()) if x.kind != "aug" and x.pos < pos]
            d = max(base, key=lambda x: x.pos) if base else None
        if d is None and k.startswith("self.") and scope.cls is not None:
            ds = scope.cls.attr_defs.get(k)
            d = ds[-1] if ds else None
        if d is None or d.value is None:
            return out
        base_items = self._list_items(d.value, d.scope, d.pos, depth + 1, dyn or d.loop_depth > 0, d.stmt, cond)
        return base_items + self._list_growth(k, d, scope, pos, depth, dyn)

    def _list_growth(self, k: str, d, scope: Scope, pos, depth: int, dyn: bool) -> list[tuple[str | None, Spec]]:
        """The layers added to list variable ``k`` (defined by ``d``) before ``pos``: its
        ``append``/``extend``/``insert`` calls and ``+=`` updates, in source order."""
        out: list[tuple[str | None, Spec]] = []
        events = []
        for cs in scope.file.calls:
            if cs.scope is not d.scope and not (k.startswith("self.") and cs.scope.cls is scope.cls):
                continue
            if cs.key in (f"{k}.append", f"{k}.extend", f"{k}.insert") and (cs.pos > d.pos or cs.scope is not d.scope) \
                    and (cs.pos < pos or cs.scope is not scope):
                events.append(cs)
        for ds in d.scope.defs.get(k, []):
            if ds.kind == "aug" and d.pos < ds.pos < pos:
                events.append(ds)
        events.sort(key=lambda e: e.pos)
        for ev in events:
            if isinstance(ev, CallSite):
                argv = [a.value for a in ev.call.args if not a.keyword]
                if not argv:
                    continue
                edyn = dyn or ev.depth > 0
                if ev.key.endswith(".append"):
                    s = self.layer_spec(argv[0], ev.scope, ev.pos, depth + 1, edyn, ev.stmt, ev.conditional)
                    if s:
                        s.dynamic = s.dynamic or edyn
                        out.append(("*" if edyn else None, s))
                elif ev.key.endswith(".extend"):
                    for key, s in self._list_items(argv[0], ev.scope, ev.pos, depth + 1, edyn, ev.stmt, ev.conditional):
                        s.dynamic = s.dynamic or edyn
                        out.append(("*" if edyn else key, s))
                else:
                    s = self.layer_spec(argv[-1], ev.scope, ev.pos, depth + 1, True, ev.stmt, ev.conditional)
                    if s:
                        out.append(("*", s))
            else:
                edyn = dyn or ev.loop_depth > 0
                for key, s in self._list_items(ev.value, ev.scope, ev.pos, depth + 1, edyn, ev.stmt, ev.conditional):
                    s.dynamic = s.dynamic or edyn
                    out.append(("*" if edyn else key, s))
        return out

    def _container_children(self, call: cst.Call, tname: str, scope, pos, depth, dyn, stmt, cond):
        items: list[tuple[str | None, Spec]] = []
        if tname == "Sequential":
            for a in call.args:
                if a.keyword:
                    continue
                if a.star == "*":
                    items.extend(self._list_items(a.value, scope, pos, depth + 1, dyn, stmt, cond))
                elif isinstance(a.value, cst.Call) and dotted(a.value.func) in ("OrderedDict", "collections.OrderedDict"):
                    inner = a.value.args[0].value if a.value.args else None
                    if isinstance(inner, (cst.List, cst.Tuple)):
                        for el in inner.elements:
                            t = el.value
                            if isinstance(t, cst.Tuple) and len(t.elements) == 2 and isinstance(t.elements[0].value, cst.SimpleString):
                                s = self.layer_spec(t.elements[1].value, scope, pos, depth + 1, dyn, stmt, cond)
                                if s:
                                    items.append((t.elements[0].value.evaluated_value, s))
                    elif isinstance(inner, cst.Dict):
                        items.extend(self._dict_items(inner, scope, pos, depth, dyn, stmt, cond))
                else:
                    s = self.layer_spec(a.value, scope, pos, depth + 1, dyn, stmt, cond)
                    if s:
                        items.append((None, s))
        elif tname == "ModuleList":
            argv = [a.value for a in call.args if not a.keyword]
            if argv:
                items.extend(self._list_items(argv[0], scope, pos, depth + 1, dyn, stmt, cond))
        elif tname == "ModuleDict":
            argv = [a.value for a in call.args if not a.keyword]
            if argv and isinstance(argv[0], cst.Dict):
                items.extend(self._dict_items(argv[0], scope, pos, depth, dyn, stmt, cond))
        out = []
        idx = 0
        wild = False
        for key, s in items:
            if key == "*" or s.dynamic:
                wild = True
            if key is not None and key != "*":
                out.append((key, s))
            else:
                out.append(("*" if wild else str(idx), s))
            idx += 1
        return out

    def _dict_items(self, d: cst.Dict, scope, pos, depth, dyn, stmt, cond):
        out = []
        for el in d.elements:
            if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
                s = self.layer_spec(el.value, scope, pos, depth + 1, dyn, stmt, cond)
                if s:
                    out.append((el.key.evaluated_value, s))
        return out

    # ---------------------------------------------------------------- layer nodes
    def emit_layer(self, spec: Spec, owner_id: str, owner_name: str, path: str, parent: str | None) -> list[str]:
        """Create the layer node (and its children); returns the ids of the leaves in order
        (a container with known children expands into them)."""
        scope = spec.scope
        fi = scope.file
        stmt = spec.stmt
        name = f"{owner_name}.{path}"
        ci = spec.class_ref
        nid = self.add("layer", name, fi, stmt, scope, owner=owner_id, attr=path.split(".")[0], module_path=path,
                       layer_type=spec.layer_type, class_ref=ci.node_id if ci is not None else None,
                       parent=parent, dynamic=bool(spec.dynamic), conditional=bool(spec.conditional),
                       expr_span=self.span(fi, spec.call).to_dict() if spec.call is not None else None)
        self.stmt_lookup[nid] = stmt
        if spec.candidates is not None:
            self.g.set_attr(nid, candidates=spec.candidates)
        if spec.factory is not None:
            self.g.set_attr(nid, factory=spec.factory)
        if spec.layer_type is None:
            what = self.text(fi, spec.type_expr) if spec.type_expr is not None else self.text(fi, spec.call)
            self.unresolved(nid, "layer_type", what, "layer type chosen at run time")
        if isinstance(spec.call, cst.Call):
            self._layer_args(nid, spec)
        self.g.add_edge(owner_id, nid, "contains")
        if ci is not None:
            self.g.add_edge(nid, ci.node_id, "instance_of")
        if spec.children:
            leaves = []
            for key, child in spec.children:
                leaves.extend(self.emit_layer(child, owner_id, owner_name, f"{path}.{key}", nid))
            self.container_leaves[nid] = leaves
            return leaves
        return [nid]

    def _layer_args(self, nid: str, spec: Spec) -> None:
        """The constructor arguments of a layer (a dropout probability is a hyperparameter)."""
        fi = spec.scope.file
        ci = spec.class_ref
        pos = self.pos(fi, spec.stmt)
        if ci is not None:
            init = ci.methods.get("__init__")
            params = list(init.params[1:]) if init else []
        else:
            params = N.LAYER_PARAMS.get(spec.layer_type or "", [])
        hp_args = set()
        lit_names = {}
        lt = spec.layer_type or ""
        if lt.startswith("Dropout") or lt == "AlphaDropout":
            hp_args = {"p"}
            lit_names = {"p": "dropout"}
        elif any(a.keyword and a.keyword.value == "dropout" for a in spec.call.args):
            hp_args = {"dropout"}
        skip = set()
        if spec.layer_type in N.CONTAINERS:
            skip = set(params) | {str(i) for i in range(len(spec.call.args))}
        a, r, s, h = self.consume_args(nid, spec.call, spec.scope, pos, params, hp_args, skip=skip,
                                       literal_hp_names=lit_names)
        if spec.layer_type in N.CONTAINERS:
            a, r, s = {}, {}, {}
        self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)

    # ---------------------------------------------------------------- module classes
    def build_module_class(self, ci: ClassInfo) -> None:
        fi = ci.file
        bases = [self.text(fi, b) for b in ci.bases]
        nid = self.add("module_class", ci.qualname, fi, ci.node, ci.scope.parent, qualname=ci.qualname, bases=bases,
                       local_bases=[], module_base=ci.module_base)
        ci.node_id = nid

    def build_layers(self, ci: ClassInfo) -> None:
        if ci.node_id is None:
            return
        self.g.set_attr(ci.node_id, local_bases=[b.node_id for b in ci.local_bases if b.node_id])
        order = sorted(ci.methods.values(), key=lambda m: (m.qualname.split(".")[-1] != "__init__",
                                                           ci.methods_order.index(m.qualname.split(".")[-1])))
        for m in order:
            if m.qualname.endswith(".forward"):
                continue
            defs = [d for ds in m.defs.values() for d in ds if d.key.startswith("self.") and d.key.count(".") == 1
                    and d.kind in ("assign", "ann")]
            for cs in ci.file.calls:
                if cs.scope is m and cs.key in ("self.add_module", "self.register_module", "setattr"):
                    defs.append(cs)
            defs.sort(key=lambda d: d.pos)
            for d in defs:
                found = self._registered_layer(d, m) if isinstance(d, CallSite) else self._attr_layer(ci, d, m)
                if found is None:
                    continue
                attr, spec = found
                leaves = self.emit_layer(spec, ci.node_id, ci.qualname, attr, None)
                first = leaves[0] if leaves else None
                top = self._top_layer(first) if first else None
                ci.layers[attr] = top or first

    def _registered_layer(self, cs: CallSite, m: Scope) -> tuple[str, Spec] | None:
        """``self.add_module(name, layer)`` / ``self.register_module(...)`` / ``setattr(self, name, layer)``:
        (attribute, spec); the attribute is ``*`` when its name is not a literal outside loops."""
        argv = [a.value for a in cs.call.args if not a.keyword]
        if cs.key == "setattr":
            if len(argv) < 3 or dotted(argv[0]) != "self":
                return None
            argv = argv[1:]
        if len(argv) < 2:
            return None
        nv = self.eval(argv[0], m, cs.pos)
        spec = self.layer_spec(argv[1], m, cs.pos, 0, cs.depth > 0, cs.stmt, cs.conditional)
        if spec is None:
            return None
        if nv.resolved and isinstance(nv.value, str) and cs.depth == 0:
            return nv.value, spec
        spec.dynamic = True
        return "*", spec

    def _attr_layer(self, ci: ClassInfo, d, m: Scope) -> tuple[str, Spec] | None:
        """``self.fc = nn.Linear(...)``: (attribute, spec); a ModuleList/Sequential attribute
        also gets the layers appended to it elsewhere in the class."""
        spec = self.layer_spec(d.value, m, d.pos, 0, d.loop_depth > 0, d.stmt, d.conditional)
        if spec is None:
            return None
        if spec.layer_type in ("ModuleList", "Sequential") and spec.class_ref is None:
            extra = self._appended(ci, d.key)
            if extra:
                spec.children = (spec.children or []) + extra
                spec.children = _renumber(spec.children)
        return d.key[5:], spec

    def _appended(self, ci: ClassInfo, key: str) -> list:
        out = []
        for cs in ci.file.calls:
            if cs.scope.cls is not ci or cs.key not in (f"{key}.append", f"{key}.extend"):
                continue
            argv = [a.value for a in cs.call.args if not a.keyword]
            if not argv:
                continue
            dyn = cs.depth > 0
            if cs.key.endswith(".append"):
                s = self.layer_spec(argv[0], cs.scope, cs.pos, 0, dyn, cs.stmt, cs.conditional)
                if s:
                    s.dynamic = s.dynamic or dyn
                    out.append(("*" if dyn else None, s))
            else:
                for k, s in self._list_items(argv[0], cs.scope, cs.pos, 0, dyn, cs.stmt, cs.conditional):
                    s.dynamic = s.dynamic or dyn
                    out.append(("*" if dyn else k, s))
        return out

    def _top_layer(self, lid: str) -> str:
        cur = lid
        while True:
            p = self.g.store.nodes[cur]["attrs"].get("parent")
            if not p:
                return cur
            cur = p

    # ---------------------------------------------------------------- inherited members
    def _inherited(self, ci: ClassInfo, table: str, key: str, depth: int = 0):
        """``key`` in the class's ``table`` (``layers`` or ``methods``), else in its local
        base classes, nearest first (at most 10 levels deep)."""
        found = getattr(ci, table)
        if key in found:
            return found[key]
        if depth < 10:
            for b in ci.local_bases:
                r = self._inherited(b, table, key, depth + 1)
                if r:
                    return r
        return None

    def layer_by_path(self, ci: ClassInfo, path: str) -> str | None:
        return self._inherited(ci, "layers", path)

    def method_of(self, ci: ClassInfo, name: str) -> Scope | None:
        return self._inherited(ci, "methods", name)
