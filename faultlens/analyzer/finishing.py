"""The finishing pass (pass 4 of the graph builder), over what the statement walk recorded:
closures, loop roles (docs/graph.md, "Loop roles") and their ``range`` bounds, the feeds edges
from forward calls to loss calls, backward targets, function nodes, unused building-block
models and other-model optimizer parameters."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import libcst as cst

from faultlens.analyzer import names as N
from faultlens.analyzer.cst_util import body_of, iter_calls, unwrap_iter
from faultlens.analyzer.index import Scope
from faultlens.analyzer.names import dotted, head, iter_nodes, names_in
from faultlens.analyzer.values import Val, jsonable
from faultlens.analyzer.walk_state import LoopInfo, WalkRecord

if TYPE_CHECKING:
    from faultlens.analyzer.builder import Builder

_LOADER_HINT = re.compile(r"loader|batch|dataset|data\b|minibatch", re.I)
_EVAL_NAME = re.compile(r"(^|_)(test|eval|evaluate|valid|validate|validation|predict|inference)($|_)", re.I)


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


#: the base class of custom autograd functions, as imported
_AUTOGRAD_FUNCTION_BASES = frozenset(("torch.autograd.Function", "torch.autograd.function.Function"))


#: calls whose derivative is zero almost everywhere (or undefined): a Function built on them
#: supplies a surrogate gradient on purpose (a straight-through estimator)
_STEP_CALLS = frozenset(("round", "sign", "floor", "ceil", "trunc", "argmax", "argmin", "bernoulli",
                         "heaviside", "quantize_per_tensor", "fake_quantize_per_tensor_affine"))


def _surrogate_forward(fn: cst.FunctionDef) -> bool:
    """A custom Function whose backward is not meant to be its forward's derivative: the forward
    is a step function (rounding, sign, thresholding ``(x > 0).float()``: a straight-through
    estimator) or the identity (``x.view_as(x)``, ``x.clone()``: a gradient-reversal or
    gradient-scaling layer, Ganin & Lempitsky 2015)."""
    params = [p.name.value for p in fn.params.params[1:]]  # after ctx
    for n in iter_nodes(fn):
        if isinstance(n, cst.Call):
            name = dotted(n.func) or ""
            if name.split(".")[-1] in _STEP_CALLS:
                return True
        if isinstance(n, cst.Comparison) and any(
                isinstance(p.operator, _ORDERING) for p in n.comparisons):
            return True
        if isinstance(n, cst.Return) and n.value is not None:
            v = n.value
            if isinstance(v, cst.Name) and v.value in params:
                return True
            if isinstance(v, cst.Call) and isinstance(v.func, cst.Attribute) and v.func.attr.value in (
                    "view_as", "clone", "view", "detach") and isinstance(v.func.value, cst.Name) \
                    and v.func.value.value in params:
                return True
    return False


def _gradient_statements(fn: cst.FunctionDef) -> tuple[list, list]:
    """The statements of a ``backward`` that compute what it returns: its returns whose value is
    computed (not bare names), and the assignments to the returned names."""
    returns = [n for n in iter_nodes(fn) if isinstance(n, cst.Return) and n.value is not None]
    names: set[str] = set()
    out = []
    for r in returns:
        v = r.value
        parts = [e.value for e in v.elements] if isinstance(v, cst.Tuple) else [v]
        bare = [p for p in parts if isinstance(p, cst.Name)]
        names |= {p.value for p in bare}
        if len(bare) < len([p for p in parts if not (isinstance(p, cst.Name) and p.value == "None")]):
            out.append(r)
    assigns = []
    for n in iter_nodes(fn):
        if isinstance(n, cst.Assign):
            tgts = [t.target for t in n.targets]
        elif isinstance(n, cst.AugAssign):
            tgts = [n.target]
        else:
            continue
        heads = {head(dotted(t.value if isinstance(t, cst.Subscript) else t) or "") for t in tgts}
        if heads & names:
            assigns.append(n)
    return out, assigns


#: comparison operators of a bound (``iter_num > max_iters``), not of a flag (``iter_num == 0``)
_ORDERING = (cst.GreaterThan, cst.GreaterThanEqual, cst.LessThan, cst.LessThanEqual)


class Finisher:
    def __init__(self, b: "Builder", rec: WalkRecord):
        self.b = b
        self.g = b.g
        self.rec = rec

    def run(self) -> None:
        self._mark_closures()
        self._loop_roles()
        self._feeds_and_targets()
        self._functions()
        self._autograd_functions()
        self._models()

    def _mark_closures(self) -> None:
        for rec in self.rec.calls:
            if id(rec.scope) in self.rec.closures:
                self.g.set_attr(rec.id, in_closure=True)

    def _fn_backward(self, fn: Scope, seen=None) -> bool:
        seen = seen or set()
        if id(fn) in seen:
            return False
        seen.add(id(fn))
        for rec in self.rec.calls:
            if rec.method == "backward" and _within(rec.scope, fn):
                return True
        for f in self.rec.fn_fn_calls.get(id(fn), []):
            if self._fn_backward(f, seen):
                return True
        return False

    # ---------------------------------------------------------------- loop roles
    def _loop_roles(self) -> None:
        g = self.g
        loops = self.rec.loops
        has_bw: dict[str, bool] = {}
        # a loop that derives its gradients by hand trains without backward: its loss node
        # (StatementWalker._hand_derived) stands for the backward
        hand = [n.get("loops") or [] for n in g.nodes("loss") if n.get("hand_derived")]
        for lid in loops:
            direct = any(rec.method == "backward" and lid in g.store.nodes[rec.id]["attrs"]["loops"]
                         for rec in self.rec.calls) or any(lid in ls for ls in hand)
            via = any(self._fn_backward(f) for f in self.rec.loop_fn_calls.get(lid, []))
            has_bw[lid] = direct or via
        in_training = self._functions_in_training(has_bw)
        # which functions contain a training loop (for epoch loops calling train())
        fn_has_train_loop: dict[int, bool] = {}
        for lid, info in loops.items():
            if has_bw[lid]:
                sc = info.scope
                while sc is not None and sc.kind != "module":
                    fn_has_train_loop[id(sc)] = True
                    sc = sc.parent
        roles = {}
        for lid, info in loops.items():
            a = g.store.nodes[lid]["attrs"]
            if not has_bw[lid]:
                roles[lid] = "other"
                continue
            # an endless counter (``for i in itertools.count(1)``, ``while True`` ended by a break)
            # has no bound of its own: a break ends it (``_break_bounds``)
            unbounded = self._unbounded(info)
            if unbounded:
                g.set_attr(lid, unbounded=True)
            nested = any(has_bw[o] and lid in g.store.nodes[o]["attrs"]["loops"] for o in loops if o != lid)
            if nested or self._calls_train_loop(lid, fn_has_train_loop):
                roles[lid] = "epoch"
                continue
            outer_training = any(has_bw.get(o) for o in info.outer) or id(info.scope) in in_training \
                or _scope_in(info.scope, in_training)
            loaderish = bool(a.get("iterates")) or bool(_LOADER_HINT.search(a.get("iter") or "")) \
                or _range_has_step(info.stmt)
            # an unbounded loop that trains directly counts batches: it has no epoch count
            roles[lid] = "step" if (outer_training or loaderish or unbounded) else "epoch"
        for lid, role in roles.items():
            g.set_attr(lid, role=role)
            self._range_uses(lid, role)

    def _functions_in_training(self, has_bw: dict[str, bool]) -> set[int]:
        """ids of the functions called (transitively, nested ones included) from inside a training loop."""
        in_training: set[int] = set()

        def mark(fn: Scope, depth=0):
            if id(fn) in in_training or depth > 20:
                return
            in_training.add(id(fn))
            for f in self.rec.fn_fn_calls.get(id(fn), []):
                mark(f, depth + 1)
            for sc in fn.children:
                mark(sc, depth + 1)

        for lid in self.rec.loops:
            if has_bw[lid]:
                for f in self.rec.loop_fn_calls.get(lid, []):
                    mark(f)
        return in_training

    def _calls_train_loop(self, lid: str, fn_has_train_loop: dict[int, bool]) -> bool:
        """Loop ``lid`` calls (transitively) a function that contains a training loop."""
        stack = list(self.rec.loop_fn_calls.get(lid, []))
        seen = set()
        while stack:
            f = stack.pop()
            if id(f) in seen:
                continue
            seen.add(id(f))
            if fn_has_train_loop.get(id(f)):
                return True
            stack.extend(self.rec.fn_fn_calls.get(id(f), []))
        return False

    def _unbounded(self, info: LoopInfo) -> bool:
        """The loop has no bound of its own: ``itertools.count(...)`` (also imported as
        ``count``), ``itertools.repeat(x)`` without ``times``, ``while True`` / ``while 1``."""
        st = info.stmt
        if isinstance(st, cst.While):
            t = st.test
            if isinstance(t, cst.Name) and t.value == "True":
                return True
            return isinstance(t, cst.Integer) and t.evaluated_value != 0
        it = unwrap_iter(st.iter)
        if not isinstance(it, cst.Call):
            return False
        q = self.b.ext(info.scope.file, dotted(it.func)) or ""
        if q == "itertools.count":
            return True
        return q == "itertools.repeat" and len(it.args) == 1 and not it.args[0].keyword

    def _range_uses(self, lid: str, role: str) -> None:
        b = self.b
        info = self.rec.loops[lid]
        st = info.stmt
        sc = info.scope
        fi = sc.file
        pos = info.pos
        if self.g.store.nodes[lid]["attrs"].get("unbounded"):
            self._break_bounds(lid, info)
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
            hp = b.add("hyperparameter", "epochs", fi, st, sc, hp="epochs", value=jsonable(stop.value), resolved=True,
                       source="literal", expr=b.text(fi, stop_e), value_span=b.span(fi, stop_e).to_dict(), key="range")
            self.g.add_edge(hp, lid, "uses", arg="range")
        if step_e is not None:
            for dep in sorted(step.deps):
                self.g.add_edge(dep, lid, "uses", arg="range_step")
        if role == "epoch" and not stop.resolved:
            b.unresolved(lid, "range", b.text(fi, stop_e), "epoch count not resolved")

    def _break_bounds(self, lid: str, info: LoopInfo) -> None:
        """An unbounded loop (``while True``, ``itertools.count``) ends where its body breaks:
        the ``if <test>: ... break`` statements of its body (outside nested loops) are its
        bound (``break_spans``, in source order), and what their comparisons compare against
        (``if iter_num > max_iters``) is used by the loop as its range. Tests of a counter the
        loop increments come first."""
        b, fi, sc = self.b, info.scope.file, info.scope
        spans: list[tuple[bool, dict]] = []
        counters = {dotted(n.target) for n in iter_nodes(info.stmt)
                    if isinstance(n, cst.AugAssign) and isinstance(n.operator, cst.AddAssign) and dotted(n.target)}

        def visit(stmts) -> None:
            for st in stmts:
                if isinstance(st, cst.If):
                    # ``if t: break`` on one line (a suite of small statements) or in a block
                    small = [sm for line in body_of(st)
                             for sm in (line.body if isinstance(line, cst.SimpleStatementLine) else [line])]
                    if any(isinstance(sm, cst.Break) for sm in small):
                        # a test of a counter the loop increments (``iter_num > max_iters``)
                        # bounds it; others (``eval_only``, ``loss < tol``) come after
                        counts = any(isinstance(part.operator, _ORDERING) and names_in(cmp) & counters
                                     for cmp in iter_nodes(st.test) if isinstance(cmp, cst.Comparison)
                                     for part in cmp.comparisons)
                        spans.append((not counts, b.span(fi, st.test).to_dict()))
                        t = st.test
                        if isinstance(t, cst.Comparison):
                            pos = b.pos(fi, st)
                            for part in t.comparisons:
                                for dep in sorted(b.eval(part.comparator, sc, pos).deps):
                                    self.g.add_edge(dep, lid, "uses", arg="range")
                    visit(body_of(st))
                    if isinstance(st.orelse, cst.Else):
                        visit(body_of(st.orelse))
                    elif isinstance(st.orelse, cst.If):
                        visit([st.orelse])
                elif isinstance(st, (cst.With, cst.Try)):
                    visit(body_of(st))

        visit(body_of(info.stmt))
        if spans:
            self.g.set_attr(lid, break_spans=[sp for _, sp in sorted(spans, key=lambda t: t[0])])

    # ---------------------------------------------------------------- data flow between calls
    def _feeds_and_targets(self) -> None:
        g = self.g
        calls = self.rec.calls
        fwd = [r for r in calls if r.method == "forward"]
        losses = [r for r in calls if r.method == "loss"]
        for lr in losses:
            used = set()
            nested_fwd = set()
            for a in lr.call.args:
                used |= {head(n) for n in names_in(a.value)}
                for c, _ in iter_calls(a.value):
                    nested_fwd.add(id(c))
            best = None
            for fr in fwd:
                if fr.scope is not lr.scope:
                    continue
                if id(fr.call) in nested_fwd:
                    best = fr
                    break
                if fr.result and fr.pos <= lr.pos and (
                        head(fr.result) in used or any(head(t.strip()) in used for t in fr.result.strip("()").split(","))):
                    if best is None or fr.pos >= best.pos:
                        best = fr
            if best is not None:
                g.add_edge(best.id, lr.id, "feeds")
                g.set_attr(lr.id, forward=best.id)
        for br in [r for r in calls if r.method == "backward"]:
            recv = head(br.receiver)
            best = None
            for lr in losses:
                if lr.scope is not br.scope or not lr.result or lr.pos > br.pos:
                    continue
                if head(lr.result) == recv:
                    if best is None or lr.pos >= best.pos:
                        best = lr
            if best is None:  # loss = criterion(...) + reg ; loss.backward()
                d = br.scope.latest(recv, br.pos)
                if d is not None and d.value is not None:
                    inner = {id(c) for c, _ in iter_calls(d.value)}
                    for lr in losses:
                        if id(lr.call) in inner:
                            best = lr
            if best is not None:
                g.set_attr(br.id, target=best.id)
                g.add_edge(br.id, best.id, "targets")

    # ---------------------------------------------------------------- functions and models
    def _functions(self) -> None:
        b = self.b
        g = self.g
        for fi in b.files.values():
            mains = set(fi.main_guard_calls)
            for sc in fi.scopes:
                if sc.kind != "function":
                    continue
                top = self.rec.scope_top.get(id(sc), [])
                role = self._function_role(sc, top, mains)
                if role is None:
                    continue
                if sc.cls is not None and b.is_module(sc.cls) and role in ("other",):
                    continue
                fid = b.add("function", sc.qualname, fi, sc.node, sc.parent, qualname=sc.qualname, role=role,
                            params=list(sc.params), function=sc.qualname)
                for nid in top:
                    if nid in g:
                        g.add_edge(fid, nid, "contains")

    def _autograd_functions(self) -> None:
        """A ``torch.autograd.Function`` subclass of the program (a custom ReLU, a Legendre
        polynomial with its derivative written by hand): a ``function`` node (role
        ``autograd_function``) with the spans of the statements in its ``backward`` that build
        the returned gradient (``gradient_spans``: a computed return value first, then the
        assignments to the returned names, the last first), where a wrong derivative is."""
        b = self.b
        for fi in b.files.values():
            for ci in fi.all_classes:
                quals = {getattr(b.qualify(fi, dotted(base)), "qualname", None) for base in ci.bases}
                if not quals & _AUTOGRAD_FUNCTION_BASES:
                    continue
                bw = ci.methods.get("backward")
                rets, assigns = _gradient_statements(bw.node) if bw is not None else ([], [])
                spans = sorted((b.span(fi, st).to_dict() for st in rets), key=lambda d: d["line"]) + \
                    sorted((b.span(fi, st).to_dict() for st in assigns), key=lambda d: -d["line"])
                fw = ci.methods.get("forward")
                b.add("function", ci.qualname, fi, ci.node, ci.scope.parent or fi.module_scope, qualname=ci.qualname,
                      role="autograd_function", function=ci.qualname, gradient_spans=spans,
                      surrogate=fw is not None and _surrogate_forward(fw.node),
                      backward_span=b.span(fi, bw.node).to_dict() if bw is not None else None)

    def _function_role(self, sc: Scope, top: list[str], mains: set) -> str | None:
        name = sc.qualname.split(".")[-1]
        if id(sc) in self.rec.closures:
            return "closure"
        if id(sc) in self.rec.init_fns:
            return "init_fn"
        if name == "main" or name in mains:
            return "main"
        if self._fn_backward(sc) or (name == "training_step" and self.b.class_framework(sc.cls)):
            return "train"
        if _EVAL_NAME.search(name) and top:
            return "evaluate"
        if top:
            return "other"
        return None

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
        for rec in self.rec.calls:
            if rec.method == "forward":
                t = g.store.nodes[rec.id]["attrs"].get("target")
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
