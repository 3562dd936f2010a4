"""Value evaluation: what an expression evaluates to, statically (docs/graph.md, "Resolution rules").

:class:`Val` is the result of evaluating an expression; a container value (the parsed-args
namespace, a dict literal, a keyword namespace, an instance of a local class, the class itself,
a LightningModule's ``self.hparams``) carries one of the small dataclasses below in ``Val.obj``,
and :meth:`ValueEval.member` reads its members. Resolution is lazy and memoised: a name is
resolved through its reaching definitions, a function parameter through the call-site
arguments (``faultlens.analyzer.bindings``), ``self.x`` through the class's ``self.x``
definitions and an imported name through the defining local file. Evaluating a definition may
create its hyperparameter node (``faultlens.analyzer.hyperparams``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Union

import libcst as cst

from faultlens.analyzer.cst_util import iter_returns
from faultlens.analyzer.index import END, ClassInfo, Def, Scope
from faultlens.analyzer.names import dotted, head
from faultlens.analyzer.refs import LocalClass, LocalFunction, LocalModule, ModuleVar
from faultlens.analyzer.state import BuildState

#: the result of an arithmetic operation that has none (division by zero, a huge power)
NO_RESULT = object()
#: name lookups per graph before the builder stops resolving (a guard for huge helper code)
LOOKUP_BUDGET = 200_000


# ---------------------------------------------------------------- container values
@dataclass(frozen=True)
class ArgsNamespace:
    """``parser.parse_args()`` / ``parse_known_args()`` of the argparse parser in file ``rel``."""

    rel: str
    known_args: bool


@dataclass(frozen=True)
class DictLiteral:
    """A dict literal ``{"lr": 0.1}``, evaluated in ``scope`` at ``pos``."""

    node: cst.Dict
    scope: Scope
    pos: tuple[int, int]


@dataclass(frozen=True)
class KeywordNamespace:
    """``dict(lr=0.1)`` / ``SimpleNamespace(lr=0.1)`` / ``EasyDict(...)``: members are its keywords."""

    call: cst.Call
    scope: Scope
    pos: tuple[int, int]


@dataclass(frozen=True)
class Instance:
    """``Config(lr=0.1)``: an instance of a local class that is not an ``nn.Module``."""

    cls: ClassInfo
    call: cst.Call
    scope: Scope
    pos: tuple[int, int]


@dataclass(frozen=True)
class ClassRef:
    """A local class itself (``Config.lr`` reads its class attributes)."""

    cls: ClassInfo


@dataclass(frozen=True)
class HParams:
    """``self.hparams`` of a LightningModule class: its constructor's parameters."""

    cls: ClassInfo


Container = Union[ArgsNamespace, DictLiteral, KeywordNamespace, Instance, ClassRef, HParams]


@dataclass
class Val:
    """The result of evaluating an expression."""

    value: Any = None
    resolved: bool = False
    source: str = "unknown"
    hp: str | None = None                 # hyperparameter node this value is exactly
    deps: frozenset = frozenset()         # hyperparameter nodes it derives from
    obj: Container | None = None          # the container it is, when it is one
    via: str = ""                         # how a name reached it: argparse | config | name


UNRES = Val()


def jsonable(v: Any) -> Any:
    """``v`` as a JSON value (non-finite floats and other objects as their repr)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    return repr(v)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def split_key(key: str) -> tuple[str | None, str]:
    """``config['lr']`` -> (``config``, ``lr``); ``args.lr`` -> (``args``, ``lr``); ``lr`` -> (None, ``lr``)."""
    if key.endswith("]"):
        i = key.rfind("[")
        if i > 0:
            inner = key[i + 1:-1]
            try:
                import ast as _ast
                inner = _ast.literal_eval(inner)
            except Exception:
                pass
            return key[:i], str(inner)
    i = key.rfind(".")
    if i > 0:
        return key[:i], key[i + 1:]
    return None, key


def arith(op: str, a, b):
    """``a <op> b`` for a libcst operator class name (``Add``, ``Power``, ...), or :data:`NO_RESULT`."""
    try:
        if op == "Add":
            return a + b
        if op == "Subtract":
            return a - b
        if op == "Multiply":
            return a * b
        if op == "Divide":
            return a / b
        if op == "FloorDivide":
            return a // b
        if op == "Modulo":
            return a % b
        if op == "Power":
            if abs(b) > 64 or abs(a) > 1e6:
                return NO_RESULT
            return a ** b
    except (ZeroDivisionError, OverflowError, TypeError, ValueError):
        return NO_RESULT
    return NO_RESULT


_CONVERSIONS = {"int": int, "float": float, "bool": bool, "str": str, "round": round, "abs": abs}
_NAMESPACE_CALLS = ("dict", "SimpleNamespace", "types.SimpleNamespace", "argparse.Namespace", "Namespace",
                    "EasyDict", "edict")


class ValueEval(BuildState):
    """Expressions, names and definitions to :class:`Val` (a pass mixed into ``Builder``)."""

    def eval(self, expr, scope: Scope, pos, depth: int = 0) -> Val:
        if expr is None or depth > 25:
            return UNRES
        if isinstance(expr, cst.Integer):
            return Val(int(expr.value.replace("_", ""), 0) if not expr.value.startswith("0") or expr.value == "0"
                       or expr.value[:2].lower() in ("0x", "0o", "0b") else int(expr.value.replace("_", "")),
                       True, "literal")
        if isinstance(expr, cst.Float):
            return Val(float(expr.value.replace("_", "")), True, "literal")
        if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
            v = expr.evaluated_value
            return Val(v if isinstance(v, str) else repr(v), True, "literal")
        if isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
            return Val({"True": True, "False": False, "None": None}[expr.value], True, "literal")
        if isinstance(expr, cst.UnaryOperation):
            return self._eval_unary(expr, scope, pos, depth)
        if isinstance(expr, cst.BinaryOperation):
            a = self.eval(expr.left, scope, pos, depth + 1)
            b = self.eval(expr.right, scope, pos, depth + 1)
            deps = a.deps | b.deps
            if a.resolved and b.resolved and is_number(a.value) and is_number(b.value):
                res = arith(type(expr.operator).__name__, a.value, b.value)
                if res is not NO_RESULT:
                    return Val(res, True, "arith", None, deps)
            if a.resolved and b.resolved and isinstance(a.value, str) and isinstance(b.value, str) \
                    and isinstance(expr.operator, cst.Add):
                return Val(a.value + b.value, True, "arith", None, deps)
            return Val(None, False, "unknown", None, deps)
        if isinstance(expr, (cst.Tuple, cst.List)):
            vals = [self.eval(e.value, scope, pos, depth + 1) for e in expr.elements
                    if not isinstance(e, cst.StarredElement)]
            deps = frozenset().union(*[v.deps for v in vals]) if vals else frozenset()
            if len(vals) == len(expr.elements) and all(v.resolved for v in vals):
                lit = all(v.source == "literal" and v.hp is None for v in vals)
                return Val([v.value for v in vals], True, "literal" if lit else "arith", None, deps)
            return Val(None, False, "unknown", None, deps)
        if isinstance(expr, cst.IfExp):
            a = self.eval(expr.body, scope, pos, depth + 1)
            b = self.eval(expr.orelse, scope, pos, depth + 1)
            return Val(None, False, "unknown", None, a.deps | b.deps)
        if isinstance(expr, cst.Call):
            return self._eval_call(expr, scope, pos, depth)
        if isinstance(expr, cst.Dict):
            return Val(None, False, "unknown", obj=DictLiteral(expr, scope, pos))
        key = dotted(expr)
        if key is not None:
            v = self.lookup(key, scope, pos, depth + 1)
            if v.hp:
                return Val(v.value, v.resolved, v.source, v.hp, frozenset([v.hp]), v.obj, v.via)
            return v
        return UNRES

    def _eval_unary(self, expr: cst.UnaryOperation, scope: Scope, pos, depth: int) -> Val:
        v = self.eval(expr.expression, scope, pos, depth + 1)
        if v.resolved and is_number(v.value):
            op = type(expr.operator).__name__
            res = {"Minus": -v.value, "Plus": v.value}.get(op, NO_RESULT)
            if op == "BitInvert" and isinstance(v.value, int):
                res = ~v.value
            if res is not NO_RESULT:
                lit = v.source == "literal" and v.hp is None
                return Val(res, True, "literal" if lit else "arith", None, v.deps)
        if v.resolved and isinstance(expr.operator, cst.Not):
            return Val(not v.value, True, "arith", None, v.deps)
        return Val(None, False, "unknown", None, v.deps)

    def _eval_call(self, expr: cst.Call, scope: Scope, pos, depth: int) -> Val:
        fi = scope.file
        fkey = dotted(expr.func)
        pos_args = [a.value for a in expr.args if not a.keyword and not a.star]
        kw = {a.keyword.value: a.value for a in expr.args if a.keyword}
        if fkey in _CONVERSIONS and len(pos_args) == 1:
            v = self.eval(pos_args[0], scope, pos, depth + 1)
            if v.resolved:
                try:
                    return Val(_CONVERSIONS[fkey](v.value), True, v.source if v.source != "literal" else "literal",
                               v.hp, v.deps, via=v.via)
                except (TypeError, ValueError, OverflowError):
                    pass
            return Val(None, False, "unknown", v.hp, v.deps)
        if fkey in ("min", "max") and pos_args and not kw:
            vals = [self.eval(a, scope, pos, depth + 1) for a in pos_args]
            deps = frozenset().union(*[v.deps for v in vals])
            if len(vals) > 1 and all(v.resolved and is_number(v.value) for v in vals):
                return Val((min if fkey == "min" else max)(v.value for v in vals), True, "arith", None, deps)
            return Val(None, False, "unknown", None, deps)
        if isinstance(expr.func, cst.Attribute):
            meth = expr.func.attr.value
            if meth in ("parse_args", "parse_known_args"):
                return Val(None, False, "unknown", obj=ArgsNamespace(fi.rel, meth == "parse_known_args"),
                           via="argparse")
            if meth == "get" and pos_args:
                base = self.eval(expr.func.value, scope, pos, depth + 1)
                k = self.eval(pos_args[0], scope, pos, depth + 1)
                if base.obj is not None and k.resolved and isinstance(k.value, str):
                    m = self.member(base.obj, k.value, depth + 1)
                    if m is not None:
                        return m
                    if len(pos_args) > 1:
                        return self.eval(pos_args[1], scope, pos, depth + 1)
                return UNRES
        if fkey in ("vars",) and len(pos_args) == 1:
            v = self.eval(pos_args[0], scope, pos, depth + 1)
            return Val(None, False, "unknown", obj=v.obj, via=v.via)
        if fkey in _NAMESPACE_CALLS:
            return Val(None, False, "unknown", obj=KeywordNamespace(expr, scope, pos), via="config")
        q = self.qualify(fi, fkey)
        if isinstance(q, LocalClass) and not self.is_module(q.cls):
            return Val(None, False, "unknown", obj=Instance(q.cls, expr, scope, pos), via="config")
        if isinstance(q, LocalFunction) and depth < 20:
            return self._returned_value(q.fn, depth)
        return UNRES

    def _returned_value(self, fn: Scope, depth: int) -> Val:
        """``args = parse_args()`` / ``cfg = get_config()``: the function's returned value (when all agree)."""
        rets = [r for r in iter_returns(fn.node) if r.value is not None]
        if rets:
            vals = [self.eval(r.value, fn, self.pos(fn.file, r), depth + 1) for r in rets]
            first = vals[0]
            if first.obj is not None and all(v.obj == first.obj for v in vals[1:]):
                return first
            if first.resolved and all(v.resolved and v.value == first.value for v in vals[1:]):
                return Val(first.value, True, first.source, None, frozenset().union(*[v.deps for v in vals]))
        return UNRES

    def member(self, obj: Container, name: str, depth: int = 0) -> Val | None:
        """Member ``name`` of a container value (argparse namespace, dict, namespace, instance)."""
        if isinstance(obj, ArgsNamespace):
            ap = self.argparse_defs(self.by_rel[obj.rel])
            if name in ap:
                hp_id, v = ap[name]
                return Val(v.value, v.resolved, "argparse", hp_id, frozenset([hp_id]), via="argparse")
            return None
        if isinstance(obj, DictLiteral):
            return self.dict_entry(obj.node, obj.scope, name, depth)
        if isinstance(obj, KeywordNamespace):
            for a in obj.call.args:
                if a.keyword and a.keyword.value == name:
                    return self.kwarg_entry(obj.call, a, obj.scope, depth)
            for a in obj.call.args:
                if not a.keyword and not a.star and isinstance(a.value, cst.Dict):
                    return self.dict_entry(a.value, obj.scope, name, depth)
            return None
        if isinstance(obj, Instance):
            for a in obj.call.args:
                if a.keyword and a.keyword.value == name:
                    return self.kwarg_entry(obj.call, a, obj.scope, depth)
            return self.class_attr(obj.cls, name, depth)
        if isinstance(obj, ClassRef):
            return self.class_attr(obj.cls, name, depth)
        if isinstance(obj, HParams):  # self.hparams.x of a LightningModule: its constructor's x
            return self.hparams_member(obj.cls, name, depth)
        return None

    def class_attr(self, ci: ClassInfo, name: str, depth: int) -> Val | None:
        ds = ci.scope.defs.get(name)
        if ds:
            return self.def_val(ds[-1], depth + 1)
        ds = ci.attr_defs.get("self." + name)
        if ds:
            return self.def_val(ds[-1], depth + 1)
        for b in ci.local_bases:
            v = self.class_attr(b, name, depth + 1)
            if v is not None:
                return v
        return None

    # ---------------------------------------------------------------- names
    def lookup(self, key: str, scope: Scope, pos, depth: int = 0) -> Val:
        if depth > 25:
            return UNRES
        mk = (key, id(scope), pos)
        hit = self._lookup_memo.get(mk)
        if hit is not None:
            return hit
        self._lookup_memo[mk] = UNRES  # breaks cycles (recursive functions, self-references)
        v = self._lookup(key, scope, pos, depth)
        self._lookup_memo[mk] = v
        return v

    def _lookup(self, key: str, scope: Scope, pos, depth: int) -> Val:
        self._steps += 1
        if self._steps > LOOKUP_BUDGET:
            return UNRES
        reach, complete = scope.reaching(key, pos)
        if len(reach) == 1 and complete:
            return self.def_val(reach[0], depth + 1)
        if reach:
            vals = [self.def_val(x, depth + 1) for x in reach]
            if not complete:
                vals.append(self._lookup_outside(key, scope, pos, depth))
            deps = frozenset().union(*[v.deps for v in vals])
            first = vals[0]
            if all(v.resolved and v.value == first.value for v in vals):
                return Val(first.value, True, first.source, None, deps, via=first.via)
            return Val(None, False, "unknown", None, deps)
        return self._lookup_outside(key, scope, pos, depth)

    def _lookup_outside(self, key: str, scope: Scope, pos, depth: int) -> Val:
        """Resolve ``key`` without the scope's own definitions of it."""
        h = head(key)
        if h == "self" and scope.cls is not None:
            ds = scope.cls.attr_defs.get(key) or self.inherited_attr_defs(scope.cls, key)
            if ds:
                init = [x for x in ds if x.scope.qualname.endswith(".__init__")]
                return self.def_val((init or ds)[-1], depth + 1)
            if key.startswith("self.hparams") and self.class_framework(scope.cls):
                if key == "self.hparams":
                    return Val(None, False, "unknown", obj=HParams(scope.cls), via="config")
                base, memb = split_key(key)
                if base == "self.hparams":
                    return self.hparams_member(scope.cls, memb, depth) or UNRES
        if h in scope.params and scope.kind == "function":
            v = self.param_val(scope, h, key[len(h):], depth + 1)
            if v is not None:
                return v
        if key != h:
            base, memb = split_key(key)
            if base is not None:
                bv = self.lookup(base, scope, pos, depth + 1)
                if bv.obj is not None:
                    m = self.member(bv.obj, memb, depth + 1)
                    if m is not None:
                        return m
        # enclosing scopes see the final state of their names
        if scope.parent is not None and not (h in scope.params) and h not in scope.defs:
            return self.lookup(key, scope.parent, END, depth + 1)
        if scope.kind == "module":
            return self._lookup_module(key, h, scope, depth)
        return UNRES

    def _lookup_module(self, key: str, h: str, scope: Scope, depth: int) -> Val:
        """``key`` (head ``h``) at module level, outside the module's own definitions: through
        the file's imports of local files and local classes."""
        q = self.qualify(scope.file, h)
        if isinstance(q, ModuleVar) and q.file is not scope.file:
            return self.lookup(q.name + key[len(h):], q.file.module_scope, END, depth + 1)
        if isinstance(q, LocalClass):
            if key == h:
                return Val(None, False, "unknown", obj=ClassRef(q.cls), via="config")
            return self.member(ClassRef(q.cls), key[len(h) + 1:], depth + 1) or UNRES
        if isinstance(q, LocalModule) and key != h:
            return self.lookup(key[len(h) + 1:], q.file.module_scope, END, depth + 1)
        imp = scope.file.imports.get(h)
        if imp and imp[0] == "local":
            target = self.by_rel[imp[1]]
            return self.lookup(imp[2] + key[len(h):], target.module_scope, END, depth + 1)
        if imp and imp[0] == "localmod" and key != h:
            return self.lookup(key[len(h) + 1:], self.by_rel[imp[1]].module_scope, END, depth + 1)
        return UNRES

    # ---------------------------------------------------------------- definitions
    def def_val(self, d: Def, depth: int = 0) -> Val:
        k = id(d)
        if k in self._def_val:
            return self._def_val[k]
        if k in self._in_progress or depth > 25:
            return UNRES
        self._in_progress.add(k)
        try:
            v = self._compute_def(d, depth)
        finally:
            self._in_progress.discard(k)
        self._def_val[k] = v
        return v

    def _compute_def(self, d: Def, depth: int) -> Val:
        if d.kind in ("loop", "with", "import", "def", "param"):
            return UNRES
        if d.kind == "class":
            return Val(None, False, "unknown", obj=ClassRef(d.extra), via="config")
        if d.kind == "unpack":
            return UNRES
        if d.kind == "aug":
            prev = self.lookup(d.key, d.scope, d.pos, depth + 1)
            rhs = self.eval(d.value, d.scope, d.pos, depth + 1)
            deps = prev.deps | rhs.deps
            val = Val(None, False, "unknown", None, deps)
            # inside a loop ``prev`` includes this update itself (back edge): unresolved
            if prev.resolved and rhs.resolved and is_number(prev.value) and is_number(rhs.value):
                opname = type(d.extra).__name__.replace("Assign", "")
                res = arith(opname, prev.value, rhs.value)
                if res is not NO_RESULT:
                    val = Val(res, True, "arith", None, deps)
            return self.def_hp(d, val, "arith")
        value = d.value
        if value is None:
            return UNRES
        if isinstance(value, cst.Dict):
            return Val(None, False, "unknown", obj=DictLiteral(value, d.scope, d.pos), via="config")
        v = self.eval(value, d.scope, d.pos, depth + 1)
        if v.obj is not None:
            return v
        return self.def_hp(d, v, _def_source(d, value, v))


def _def_source(d: Def, value, v: Val) -> str:
    """The hyperparameter ``source`` of definition ``d`` whose value ``value`` evaluated to ``v``."""
    if d.key.endswith("]"):
        return "config" if v.resolved or v.deps else "unknown"
    if isinstance(value, (cst.Integer, cst.Float, cst.UnaryOperation)) and v.resolved and v.source == "literal":
        return "constant" if d.scope.kind == "module" else ("config" if d.scope.kind == "class" else "literal")
    if isinstance(value, (cst.SimpleString, cst.Name, cst.ConcatenatedString, cst.Tuple, cst.List)) \
            and v.source == "literal" and v.hp is None:
        return "constant" if d.scope.kind == "module" else ("config" if d.scope.kind == "class" else "literal")
    if dotted(value) is not None:
        return {"argparse": "args_attr", "config": "config"}.get(v.via, "alias")
    if isinstance(value, (cst.BinaryOperation, cst.UnaryOperation)):
        return "arith"
    return v.source if v.resolved else "unknown"
