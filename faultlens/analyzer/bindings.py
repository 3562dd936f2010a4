"""Call-site bindings: a function parameter's value is the argument its call sites pass (when
they all agree), else its default (a pass mixed into ``Builder``)."""
from __future__ import annotations

import libcst as cst

from faultlens.analyzer import names as N
from faultlens.analyzer.cst_util import reads_name
from faultlens.analyzer.index import END, CallSite, FileInfo, Scope
from faultlens.analyzer.names import dotted
from faultlens.analyzer.refs import LocalClass, LocalFunction
from faultlens.analyzer.state import BuildState
from faultlens.analyzer.values import UNRES, Val, jsonable, split_key

#: parameters of functions with more call sites than this are not bound to their arguments
MAX_CALL_SITES = 8
#: :meth:`Bindings.bound_arg` when a ``*args`` before the parameter hides which argument binds it
UNBOUND = object()


class Bindings(BuildState):
    def calls_named(self, fi: FileInfo, short: str) -> list[CallSite]:
        """``fi``'s call sites whose callee's last name is ``short``, in source order. The
        index is built once per file (rebuilt if the file's call list grew), so looking up
        the callers of every function costs linear, not quadratic, time in the file's size."""
        cached = self._calls_by_name.get(id(fi))
        if cached is None or cached[0] != len(fi.calls):
            by: dict[str, list[CallSite]] = {}
            for cs in fi.calls:
                by.setdefault(cs.key.rsplit(".", 1)[-1], []).append(cs)
            cached = self._calls_by_name[id(fi)] = (len(fi.calls), by)
        return cached[1].get(short, [])

    def call_sites(self, fn: Scope) -> list[CallSite]:
        """Call sites (in every file) whose callee resolves to function ``fn`` (or to the class
        whose ``__init__`` it is)."""
        k = id(fn)
        if k in self._bindings:
            return self._bindings[k]
        out = []
        target_cls = fn.cls if fn.cls is not None and fn.qualname.endswith(".__init__") else None
        short = fn.qualname.split(".")[-1] if target_cls is None else target_cls.name
        for fi in self.files.values():
            for cs in self.calls_named(fi, short):
                if target_cls is None and fn.cls is not None:
                    if cs.key == f"self.{short}" and cs.scope.cls is fn.cls:
                        out.append(cs)
                    continue
                q = self.qualify(fi, cs.key)
                if (isinstance(q, LocalFunction) and q.fn is fn) or (isinstance(q, LocalClass) and q.cls is target_cls):
                    out.append(cs)
        if target_cls is not None and self.class_framework(target_cls):
            # a LightningModule subclass without an __init__ of its own passes its arguments on
            out.extend(self.inherited_init_sites(target_cls))
        self._bindings[k] = out
        return out

    def bound_arg(self, fn: Scope, param: str, cs: CallSite):
        """The argument expression call site ``cs`` binds to ``fn``'s parameter ``param``: None
        when it passes none, :data:`UNBOUND` when a starred argument hides it."""
        params = list(fn.params)
        if fn.cls is not None and params and params[0] in ("self", "cls"):
            params = params[1:]
        for a in cs.call.args:
            if a.keyword and a.keyword.value == param:
                return a.value
        if param in params:
            i = params.index(param)
            pos_args = [a for a in cs.call.args if not a.keyword]
            if any(a.star for a in pos_args[: i + 1]):
                return UNBOUND
            if i < len(pos_args):
                return pos_args[i].value
        return None

    def param_val(self, fn: Scope, param: str, suffix: str, depth: int) -> Val | None:
        """The value of ``param + suffix`` (``args`` + ``.lr``) inside function ``fn``."""
        mk = (id(fn), param, suffix)
        if mk in self._param_memo:
            return self._param_memo[mk]
        self._param_memo[mk] = UNRES
        v = self._param_val(fn, param, suffix, depth)
        self._param_memo[mk] = v
        return v

    def _param_val(self, fn: Scope, param: str, suffix: str, depth: int) -> Val | None:
        sites = self.call_sites(fn)
        if len(sites) > MAX_CALL_SITES:
            return UNRES  # a helper called from many places: no single binding to follow
        vals = []
        for cs in sites:
            arg = self.bound_arg(fn, param, cs)
            if arg is UNBOUND:
                return UNRES
            if arg is None:
                vals.append(self._param_default(fn, param, suffix, depth))
                continue
            if suffix:
                ak = dotted(arg)
                if ak is None:
                    base = self.eval(arg, cs.scope, cs.pos, depth + 1)
                    m = self.member(base.obj, split_key("x" + suffix)[1], depth + 1) if base.obj else None
                    vals.append(m or UNRES)
                    continue
                vals.append(self.lookup(ak + suffix, cs.scope, cs.pos, depth + 1))
            else:
                vals.append(self.eval(arg, cs.scope, cs.pos, depth + 1))
        if not sites:
            return self._param_default(fn, param, suffix, depth)
        first = vals[0]
        if all(v.resolved == first.resolved and v.value == first.value and v.hp == first.hp for v in vals[1:]):
            return first
        return Val(None, False, "unknown", None, frozenset().union(*[v.deps for v in vals]))

    def _param_default(self, fn: Scope, param: str, suffix: str, depth: int) -> Val:
        dflt = fn.param_defaults.get(param)
        if dflt is None or suffix:
            return UNRES
        v = self.eval(dflt, fn.parent or fn, END, depth + 1)
        if v.resolved and v.hp is None and isinstance(dflt, (cst.Integer, cst.Float)):
            hp = self.g.add_node("hyperparameter", param, self.span(fn.file, dflt), self.text(fn.file, dflt),
                                 hp=N.canonical_hp(param), value=jsonable(v.value), resolved=True,
                                 source="literal", expr=self.text(fn.file, dflt),
                                 value_span=self.span(fn.file, dflt).to_dict(), function=fn.qualname,
                                 default_of=fn.qualname)
            # memoised: the default is this hyperparameter node from now on
            return self.seed_val(dflt, Val(v.value, True, "literal", hp, frozenset([hp])))
        hit = self.memo_val(dflt)
        return v if hit is None else hit

    def initial_value(self, key: str | None, scope: Scope, depth: int = 0) -> Val | None:
        """The value a variable starts with when every other definition of it updates it from
        itself (``lr /= 4``, ``lr = lr * 0.9``): that one plain definition's value (resolved,
        numeric, with its hyperparameter). A function parameter is followed to the argument of
        its single call site. None when there is no such single start."""
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
            sites = self.call_sites(sc)
            if len(sites) != 1:
                return None
            arg = self.bound_arg(sc, key, sites[0])
            if not isinstance(arg, cst.BaseExpression):
                return None
            return self.initial_value(dotted(arg), sites[0].scope, depth + 1)
        starts, updates = [], 0
        for d in sc.defs.get(key, ()):
            if d.kind == "aug" or (d.kind == "assign" and d.value is not None and reads_name(d.value, key)):
                updates += 1
            elif d.kind in ("assign", "ann"):
                starts.append(d)
            else:
                return None
        if len(starts) != 1 or not updates:
            return None
        v = self.def_val(starts[0])
        if not (v.resolved and isinstance(v.value, (int, float)) and not isinstance(v.value, bool) and v.hp):
            return None
        return v
