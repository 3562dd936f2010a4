"""The program-graph builder: source files -> :class:`ProgramGraph` (see docs/graph.md).

Passes, all over libcst trees parsed once per file (``faultlens.analyzer.source``):

0. index (``faultlens.analyzer.index``): imports, classes, functions, definitions, call sites;
   local imports are followed inside the root, so every file of the program is indexed;
1. module classes (fixpoint over local bases), their layers and forward flow;
2. definitions: hyperparameters (argparse, constants, configs, dataclass fields) and
   objects (models, losses, optimizers, schedulers, data loaders, transforms);
3. statements: loops, training calls, forward/loss calls, contexts, init calls, transforms;
4. finishing: loop roles, feeds edges, backward targets, function nodes, params kinds.

Value and object resolution is lazy and memoised: a name is resolved through its latest
definition before the use, a function parameter through the arguments at the function's
call sites (when they agree), ``self.x`` through the class's ``self.x`` definitions, and
imported names through the defining local file. What does not resolve stays unresolved.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterator

import libcst as cst

from faultlens.analyzer import frameworks as FW
from faultlens.analyzer import names as N
from faultlens.analyzer.graph import ProgramGraph, Span
from faultlens.analyzer.index import (
    END, CallSite, ClassInfo, Def, FileInfo, Scope, index_file, resolve_local_module,
)
from faultlens.analyzer.names import child_nodes, dotted, head, iter_nodes
from faultlens.analyzer.source import ParsedFile, parse_path, parse_source

_WRAPPERS = {"to", "cuda", "cpu", "double", "float", "half", "bfloat16", "train", "eval", "fit",
             "requires_grad_", "share_memory"}
_ITER_WRAPPERS = {"enumerate", "tqdm", "tqdm.tqdm", "iter", "zip", "list", "tqdm.auto.tqdm", "trange"}
_TRANSFORM_CLASSES = {"StandardScaler", "MinMaxScaler", "RobustScaler", "Normalizer", "MaxAbsScaler",
                      "Normalize", "QuantileTransformer", "PowerTransformer"}
_UNRESOLVED = object()
#: parameters of functions with more call sites than this are not bound to their arguments
MAX_CALL_SITES = 8
#: name lookups per graph before the builder stops resolving (a guard for huge helper code)
LOOKUP_BUDGET = 200_000


@dataclass
class Val:
    """The result of evaluating an expression."""

    value: Any = None
    resolved: bool = False
    source: str = "unknown"
    hp: str | None = None                 # hyperparameter node this value is exactly
    deps: frozenset = frozenset()         # hyperparameter nodes it derives from
    obj: Any = None                       # a container (argparse namespace, dict, instance)
    via: str = ""                         # how a name reached it: argparse | config | name


UNRES = Val()


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return repr(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _body(node) -> list:
    body = getattr(node, "body", None)
    if isinstance(body, (cst.IndentedBlock, cst.SimpleStatementSuite)):
        return list(body.body)
    return []


def _unwrap_call(expr):
    """Strip ``.to(device)`` / ``.cuda()`` / ``.float()`` ... from a constructor call."""
    while (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)
           and expr.func.attr.value in _WRAPPERS and isinstance(expr.func.value, cst.Call)):
        expr = expr.func.value
    return expr


def iter_calls(expr: cst.CSTNode, in_arg: bool = False) -> Iterator[tuple[cst.Call, bool]]:
    """Calls in ``expr`` in evaluation order (callee/receiver, then arguments, then the call).
    The flag says whether the call sits inside another call's argument list."""
    if isinstance(expr, cst.Call):
        yield from iter_calls(expr.func, in_arg)
        for a in expr.args:
            yield from iter_calls(a.value, True)
        yield expr, in_arg
        return
    if isinstance(expr, (cst.FunctionDef, cst.ClassDef)):
        return
    for child in child_nodes(expr):
        yield from iter_calls(child, in_arg)


def _stmt_exprs(st) -> list:
    if isinstance(st, (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Expr, cst.Return)):
        return [st.value] if st.value is not None else []
    if isinstance(st, cst.Del):
        return []
    if isinstance(st, cst.Assert):
        return [st.test]
    return []


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


@dataclass
class Ctx:
    scope: Scope
    loops: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    in_closure: bool = False
    loop_vars: dict[str, cst.CSTNode] = field(default_factory=dict)
    module_class: ClassInfo | None = None


class Builder:
    def __init__(self, root: str, argv: list[str] | None = None):
        self.root = os.path.abspath(root)
        self.g = ProgramGraph(root=self.root)
        #: the run's command line (None: not known; the graph then holds the argparse defaults)
        self.argv = None if argv is None else [str(a) for a in argv]
        self.g.argv = None if argv is None else list(self.argv)
        self._argspecs: list[Any] = []   # faultlens.analyzer.argv.ArgSpec per add_argument, in order
        self.files: dict[str, FileInfo] = {}     # abspath -> FileInfo
        self.by_rel: dict[str, FileInfo] = {}
        self._def_val: dict[int, Val] = {}
        self._def_obj: dict[int, str | None] = {}
        self._expr_obj: dict[int, str | None] = {}
        self._in_progress: set[int] = set()
        self._bindings: dict[int, list[CallSite]] = {}
        self._calls_by_name: dict[int, tuple[int, dict[str, list[CallSite]]]] = {}
        self._dict_entries: dict[tuple[int, str], Val] = {}
        self._argparse: dict[str, dict[str, tuple[str, Val]]] = {}
        self._unresolved_seen: set[tuple] = set()
        self.loop_info: dict[str, dict] = {}
        self.fn_calls: dict[int, list[Scope]] = {}      # id(scope) -> local functions it calls
        self.loop_fn_calls: dict[str, list[Scope]] = {}
        self.closures: dict[int, str] = {}              # id(function scope) -> optimizer.step call id
        self.init_fns: set[int] = set()
        self.scope_nodes: dict[int, list[str]] = {}     # id(scope) -> top-level loop/call ids
        self.scope_of_node: dict[str, Scope] = {}
        self.call_records: list[dict] = []
        self._stmt_lookup: dict[str, Any] = {}          # node id -> its statement (for consumer-site hps)
        self._container_leaves: dict[str, list[str]] = {}
        self._lookup_memo: dict[tuple, Val] = {}
        self._steps = 0
        self._param_memo: dict[tuple, Val | None] = {}
        self._obj_memo: dict[tuple, str | None] = {}

    # ================================================================ loading
    def load(self, entry_abs: str, source: str | None = None, entry_text: str | None = None) -> FileInfo:
        """``entry_text``: the text to parse for the entry file at ``entry_abs`` instead of
        reading it (the lint path's text with unreachable statements blanked, same lines)."""
        rel = os.path.relpath(entry_abs, self.root) if source is None else entry_abs
        rel = rel.replace(os.sep, "/")
        if source is None and entry_text is not None:
            pf = parse_source(entry_text, rel)
        else:
            pf = parse_path(entry_abs, rel) if source is None else parse_source(source, rel)
        entry = index_file(pf, entry_abs if source is None else os.path.join(self.root, "<source>"), True)
        self._register(entry)
        self.g.entry = rel
        search = [os.path.dirname(entry.abspath), self.root]
        queue = [entry]
        while queue:
            fi = queue.pop(0)
            for modname, level, spec in fi.local_imports:
                for abs_path, alias, kind, member in self._import_targets(fi, modname, level, spec, search):
                    if abs_path not in self.files:
                        r = os.path.relpath(abs_path, self.root).replace(os.sep, "/")
                        sub = index_file(parse_path(abs_path, r, allow_empty=True), abs_path, False)
                        self._register(sub)
                        queue.append(sub)
                    target = self.files[abs_path]
                    if kind == "star":
                        fi.imports.setdefault("*" + target.rel, ("star", target.rel))
                    elif kind == "mod":
                        fi.imports[alias] = ("localmod", target.rel)
                    else:
                        fi.imports[alias] = ("local", target.rel, member)
        return entry

    def _register(self, fi: FileInfo) -> None:
        self.files[fi.abspath] = fi
        self.by_rel[fi.rel] = fi
        self.g.files.append(fi.rel)
        self.g.file_hashes[fi.rel] = fi.parsed.sha256

    def _import_targets(self, fi, modname, level, spec, search):
        out = []
        if spec == "" or (spec and ":" not in spec and spec != "*"):
            p = resolve_local_module(modname, level, fi.abspath, self.root, search)
            if p:
                alias = spec if spec else modname
                out.append((p, alias, "mod", None))
            return out
        if spec == "*":
            p = resolve_local_module(modname, level, fi.abspath, self.root, search)
            if p:
                out.append((p, "*", "star", None))
            return out
        member, alias = spec.split(":", 1)
        sub = resolve_local_module(f"{modname}.{member}" if modname else member, level, fi.abspath, self.root, search)
        if sub:
            out.append((sub, alias, "mod", None))
            return out
        p = resolve_local_module(modname, level, fi.abspath, self.root, search)
        if p:
            out.append((p, alias, "member", member))
        return out

    # ================================================================ names
    def qualify(self, fi: FileInfo, key: str | None, depth: int = 0):
        """What a dotted callee names: ("ext", qualname) | ("class", ClassInfo) |
        ("func", Scope) | ("var", FileInfo, name) | ("localmod", FileInfo) | None."""
        if not key or depth > 8 or "[" in key:
            return None
        parts = key.split(".")
        h = parts[0]
        if h in fi.classes:
            return ("class", fi.classes[h]) if len(parts) == 1 else None
        if h in fi.functions:
            return ("func", fi.functions[h]) if len(parts) == 1 else None
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            t = fi.imports.get(prefix)
            if t is None:
                continue
            rest = parts[i:]
            if t[0] == "ext":
                return ("ext", ".".join([t[1]] + rest))
            if t[0] == "localmod":
                target = self.by_rel[t[1]]
                if not rest:
                    return ("localmod", target)
                return self.qualify(target, ".".join(rest), depth + 1)
            if t[0] == "local":
                target = self.by_rel[t[1]]
                return self.qualify(target, ".".join([t[2]] + rest), depth + 1)
        for k, t in fi.imports.items():
            if t[0] == "star":
                target = self.by_rel[t[1]]
                if h in target.classes or h in target.functions:
                    return self.qualify(target, key, depth + 1)
        if len(parts) == 1 and fi.module_scope and h in fi.module_scope.defs:
            return ("var", fi, h)
        return None

    def ext(self, fi: FileInfo, key: str | None) -> str | None:
        q = self.qualify(fi, key)
        return q[1] if q and q[0] == "ext" else None

    def classify_callee(self, fi: FileInfo, func: cst.CSTNode):
        """(category, type name, ClassInfo|None) for a constructor/function callee."""
        q = self.qualify(fi, dotted(func))
        if q is None:
            return None
        if q[0] == "class":
            ci = q[1]
            if self.is_module(ci):
                if ci.name.endswith("Loss"):
                    return ("loss", ci.name, ci)
                return ("module", ci.name, ci)
            return ("class", ci.name, ci)
        if q[0] == "func":
            return ("func", q[1].qualname, q[1])
        if q[0] != "ext":
            return None
        qual = q[1]
        last = qual.split(".")[-1]
        if qual.startswith("torch.nn.functional."):
            return ("functional", last, None)
        if qual.startswith("torch.nn.init."):
            return ("init", last, None)
        if qual.startswith("torch.nn.utils."):
            return ("nnutils", last, None)
        if qual.startswith("torch.optim.lr_scheduler."):
            return ("scheduler", last, None)
        if qual.startswith("torch.optim.") and last[:1].isupper() and last != "Optimizer":
            return ("optimizer", last, None)
        if qual.startswith("torch.utils.data") and last == "DataLoader":
            return ("dataloader", last, None)
        if (qual.startswith("torch.nn.") and qual.count(".") == 2 or qual.startswith("torch.nn.modules.")) \
                and last[:1].isupper():
            if last.endswith("Loss"):
                return ("loss", last, None)
            if last in ("Module", "Parameter", "ParameterList", "ParameterDict"):
                return None
            return ("layer", last, None)
        if last in _TRANSFORM_CLASSES and (qual.startswith("sklearn.") or ".transforms." in qual
                                           or qual.startswith("transforms.")):
            return ("transform", last, None)
        if qual.startswith("torch.") and qual.count(".") == 1:
            return ("torchfn", last, None)
        fw = FW.callee_kind(qual)  # Lightning / Hugging Face trainers (analyzer/frameworks.py)
        if fw is not None:
            return fw
        return ("ext", qual, None)

    def is_module(self, ci: ClassInfo, stack: frozenset = frozenset()) -> bool:
        if ci.is_module is not None:
            return ci.is_module
        if id(ci) in stack:
            return False
        result = False
        for b in ci.bases:
            q = self.qualify(ci.file, dotted(b))
            if q is None:
                continue
            if q[0] == "ext":
                qual = q[1]
                if qual in N.MODULE_BASES or (qual.startswith("torch.nn.") and qual.split(".")[-1][:1].isupper()
                                              and not qual.startswith("torch.nn.functional")) \
                        or FW.is_lightning_base(qual):
                    result = True
                    ci.module_base = ci.module_base or qual
            elif q[0] == "class":
                if self.is_module(q[1], stack | {id(ci)}):
                    result = True
                    ci.local_bases.append(q[1])
        ci.is_module = result
        return result

    # ================================================================ spans / nodes
    def span(self, fi: FileInfo, node) -> Span:
        return fi.parsed.span(node)

    def text(self, fi: FileInfo, node) -> str:
        return fi.parsed.text(node)

    def add(self, kind: str, name: str, fi: FileInfo, stmt, scope: Scope | None = None, **attrs) -> str:
        sp = self.span(fi, stmt)
        if "function" not in attrs:
            attrs["function"] = self._fn_name(scope)
        nid = self.g.add_node(kind, name, sp, fi.parsed.snippet(stmt), **attrs)
        if scope is not None:
            self.scope_of_node[nid] = scope
        return nid

    @staticmethod
    def _fn_name(scope: Scope | None) -> str:
        while scope is not None and scope.kind == "class":
            scope = scope.parent
        if scope is None or scope.kind == "module":
            return "<module>"
        return scope.qualname

    def unresolved(self, node_id: str, attr: str, expr: str, reason: str) -> None:
        k = (node_id, attr)
        if k in self._unresolved_seen:
            return
        self._unresolved_seen.add(k)
        self.g.unresolved.append({"node": node_id, "attr": attr, "expr": expr, "reason": reason})

    # ================================================================ values
    def eval(self, expr, scope: Scope, pos, depth: int = 0) -> Val:
        if expr is None or depth > 25:
            return UNRES
        fi = scope.file
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
            v = self.eval(expr.expression, scope, pos, depth + 1)
            if v.resolved and _is_number(v.value):
                op = type(expr.operator).__name__
                res = {"Minus": -v.value, "Plus": v.value}.get(op, _UNRESOLVED)
                if op == "BitInvert" and isinstance(v.value, int):
                    res = ~v.value
                if res is not _UNRESOLVED:
                    lit = v.source == "literal" and v.hp is None
                    return Val(res, True, "literal" if lit else "arith", None, v.deps)
            if v.resolved and isinstance(expr.operator, cst.Not):
                return Val(not v.value, True, "arith", None, v.deps)
            return Val(None, False, "unknown", None, v.deps)
        if isinstance(expr, cst.BinaryOperation):
            a = self.eval(expr.left, scope, pos, depth + 1)
            b = self.eval(expr.right, scope, pos, depth + 1)
            deps = a.deps | b.deps
            if a.resolved and b.resolved and _is_number(a.value) and _is_number(b.value):
                res = _arith(type(expr.operator).__name__, a.value, b.value)
                if res is not _UNRESOLVED:
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
            return Val(None, False, "unknown", obj=("dict", expr, scope, pos))
        key = dotted(expr)
        if key is not None:
            v = self.lookup(key, scope, pos, depth + 1)
            if v.hp:
                return Val(v.value, v.resolved, v.source, v.hp, frozenset([v.hp]), v.obj, v.via)
            return v
        return UNRES

    def _eval_call(self, expr: cst.Call, scope: Scope, pos, depth: int) -> Val:
        fi = scope.file
        fkey = dotted(expr.func)
        pos_args = [a.value for a in expr.args if not a.keyword and not a.star]
        kw = {a.keyword.value: a.value for a in expr.args if a.keyword}
        if fkey in ("int", "float", "bool", "str", "round", "abs") and len(pos_args) == 1:
            v = self.eval(pos_args[0], scope, pos, depth + 1)
            if v.resolved:
                try:
                    conv = {"int": int, "float": float, "bool": bool, "str": str, "round": round, "abs": abs}[fkey]
                    return Val(conv(v.value), True, v.source if v.source != "literal" else "literal", v.hp,
                               v.deps, via=v.via)
                except (TypeError, ValueError, OverflowError):
                    pass
            return Val(None, False, "unknown", v.hp, v.deps)
        if fkey in ("min", "max") and pos_args and not kw:
            vals = [self.eval(a, scope, pos, depth + 1) for a in pos_args]
            deps = frozenset().union(*[v.deps for v in vals])
            if len(vals) > 1 and all(v.resolved and _is_number(v.value) for v in vals):
                return Val((min if fkey == "min" else max)(v.value for v in vals), True, "arith", None, deps)
            return Val(None, False, "unknown", None, deps)
        if isinstance(expr.func, cst.Attribute):
            meth = expr.func.attr.value
            if meth in ("parse_args", "parse_known_args"):
                return Val(None, False, "unknown", obj=("args", fi.rel, meth == "parse_known_args"), via="argparse")
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
        if fkey in ("dict", "SimpleNamespace", "types.SimpleNamespace", "argparse.Namespace", "Namespace",
                    "EasyDict", "edict"):
            return Val(None, False, "unknown", obj=("kwargs", expr, scope, pos), via="config")
        q = self.qualify(fi, fkey)
        if q and q[0] == "class" and not self.is_module(q[1]):
            return Val(None, False, "unknown", obj=("instance", q[1], expr, scope, pos), via="config")
        if q and q[0] == "func" and depth < 20:
            # args = parse_args() / cfg = get_config(): the function's returned value (when all agree)
            fn: Scope = q[1]
            rets = [r for r in _iter_returns(fn.node) if r.value is not None]
            if rets:
                vals = [self.eval(r.value, fn, self._pos(fn.file, r), depth + 1) for r in rets]
                first = vals[0]
                if first.obj is not None and all(v.obj == first.obj for v in vals[1:]):
                    return first
                if first.resolved and all(v.resolved and v.value == first.value for v in vals[1:]):
                    return Val(first.value, True, first.source, None, frozenset().union(*[v.deps for v in vals]))
        return UNRES

    def member(self, obj, name: str, depth: int = 0) -> Val | None:
        """Member ``name`` of a container value (argparse namespace, dict, namespace, instance)."""
        kind = obj[0]
        if kind == "args":
            ap = self.argparse_defs(self.by_rel[obj[1]])
            if name in ap:
                hp_id, v = ap[name]
                return Val(v.value, v.resolved, "argparse", hp_id, frozenset([hp_id]), via="argparse")
            return None
        if kind == "dict":
            d, scope, pos = obj[1], obj[2], obj[3]
            return self.dict_entry(d, scope, name, depth)
        if kind == "kwargs":
            call, scope, pos = obj[1], obj[2], obj[3]
            for a in call.args:
                if a.keyword and a.keyword.value == name:
                    return self.kwarg_entry(call, a, scope, depth)
            for a in call.args:
                if not a.keyword and not a.star and isinstance(a.value, cst.Dict):
                    return self.dict_entry(a.value, scope, name, depth)
            return None
        if kind == "instance":
            ci, call, scope, pos = obj[1], obj[2], obj[3], obj[4]
            for a in call.args:
                if a.keyword and a.keyword.value == name:
                    return self.kwarg_entry(call, a, scope, depth)
            return self.class_attr(ci, name, depth)
        if kind == "class":
            return self.class_attr(obj[1], name, depth)
        if kind == "hparams":  # self.hparams.x of a LightningModule: its constructor's x
            return FW.hparams_member(self, obj[1], name, depth)
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
            ds = scope.cls.attr_defs.get(key) or FW.inherited_attr_defs(self, scope.cls, key)
            if ds:
                init = [x for x in ds if x.scope.qualname.endswith(".__init__")]
                return self.def_val((init or ds)[-1], depth + 1)
            if key.startswith("self.hparams") and FW.class_framework(self, scope.cls):
                if key == "self.hparams":
                    return Val(None, False, "unknown", obj=("hparams", scope.cls), via="config")
                base, memb = _split_key(key)
                if base == "self.hparams":
                    return FW.hparams_member(self, scope.cls, memb, depth) or UNRES
        if h in scope.params and scope.kind == "function":
            v = self.param_val(scope, h, key[len(h):], depth + 1)
            if v is not None:
                return v
        if key != h:
            base, memb = _split_key(key)
            if base is not None:
                bv = self.lookup(base, scope, pos, depth + 1)
                if bv.obj is not None:
                    m = self.member(bv.obj, memb, depth + 1)
                    if m is not None:
                        return m
        if h in scope.defs and key == h:
            pass
        # enclosing scopes see the final state of their names
        if scope.parent is not None and not (h in scope.params) and h not in scope.defs:
            return self.lookup(key, scope.parent, END, depth + 1)
        if scope.kind == "module":
            q = self.qualify(scope.file, h)
            if q and q[0] == "var" and q[1] is not scope.file:
                return self.lookup(q[2] + key[len(h):], q[1].module_scope, END, depth + 1)
            if q and q[0] == "class":
                if key == h:
                    return Val(None, False, "unknown", obj=("class", q[1]), via="config")
                return self.member(("class", q[1]), key[len(h) + 1:], depth + 1) or UNRES
            if q and q[0] == "localmod" and key != h:
                return self.lookup(key[len(h) + 1:], q[1].module_scope, END, depth + 1)
            imp = scope.file.imports.get(h)
            if imp and imp[0] == "local":
                target = self.by_rel[imp[1]]
                return self.lookup(imp[2] + key[len(h):], target.module_scope, END, depth + 1)
            if imp and imp[0] == "localmod" and key != h:
                return self.lookup(key[len(h) + 1:], self.by_rel[imp[1]].module_scope, END, depth + 1)
        return UNRES

    def _calls_named(self, fi: FileInfo, short: str) -> list[CallSite]:
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
            for cs in self._calls_named(fi, short):
                if target_cls is None and fn.cls is not None:
                    if cs.key == f"self.{short}" and cs.scope.cls is fn.cls:
                        out.append(cs)
                    continue
                q = self.qualify(fi, cs.key)
                if q and ((q[0] == "func" and q[1] is fn) or (q[0] == "class" and q[1] is target_cls)):
                    out.append(cs)
        if target_cls is not None and FW.class_framework(self, target_cls):
            # a LightningModule subclass without an __init__ of its own passes its arguments on
            out.extend(FW.inherited_init_sites(self, target_cls))
        self._bindings[k] = out
        return out

    def _bound_arg(self, fn: Scope, param: str, cs: CallSite):
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
                return _UNRESOLVED
            if i < len(pos_args):
                return pos_args[i].value
        return None

    def param_val(self, fn: Scope, param: str, suffix: str, depth: int) -> Val | None:
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
            arg = self._bound_arg(fn, param, cs)
            if arg is _UNRESOLVED:
                return UNRES
            if arg is None:
                vals.append(self._param_default(fn, param, suffix, depth))
                continue
            if suffix:
                ak = dotted(arg)
                if ak is None:
                    base = self.eval(arg, cs.scope, cs.pos, depth + 1)
                    m = self.member(base.obj, _split_key("x" + suffix)[1], depth + 1) if base.obj else None
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
                                 hp=N.canonical_hp(param), value=_jsonable(v.value), resolved=True,
                                 source="literal", expr=self.text(fn.file, dflt),
                                 value_span=self.span(fn.file, dflt).to_dict(), function=fn.qualname,
                                 default_of=fn.qualname)
            self._def_val_param = getattr(self, "_def_val_param", {})
            v = Val(v.value, True, "literal", hp, frozenset([hp]))
            fn.param_defaults[param] = dflt
            # memoise by replacing the default expression's cache
            self._def_val[id(dflt)] = v
        return self._def_val.get(id(dflt), v)

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
        fi = d.scope.file
        if d.kind in ("loop", "with", "import", "def", "param"):
            return UNRES
        if d.kind == "class":
            return Val(None, False, "unknown", obj=("class", d.extra), via="config")
        if d.kind == "unpack":
            return UNRES
        if d.kind == "aug":
            prev = self.lookup(d.key, d.scope, d.pos, depth + 1)
            rhs = self.eval(d.value, d.scope, d.pos, depth + 1)
            deps = prev.deps | rhs.deps
            val = Val(None, False, "unknown", None, deps)
            # inside a loop ``prev`` includes this update itself (back edge): unresolved
            if prev.resolved and rhs.resolved and _is_number(prev.value) and _is_number(rhs.value):
                opname = type(d.extra).__name__.replace("Assign", "")
                res = _arith(opname, prev.value, rhs.value)
                if res is not _UNRESOLVED:
                    val = Val(res, True, "arith", None, deps)
            return self._maybe_hp(d, val, "arith")
        value = d.value
        if value is None:
            return UNRES
        if isinstance(value, cst.Dict):
            return Val(None, False, "unknown", obj=("dict", value, d.scope, d.pos), via="config")
        v = self.eval(value, d.scope, d.pos, depth + 1)
        if v.obj is not None:
            return v
        if d.key.endswith("]"):
            src = "config" if v.resolved or v.deps else "unknown"
        elif isinstance(value, (cst.Integer, cst.Float, cst.UnaryOperation)) and v.resolved and v.source == "literal":
            src = "constant" if d.scope.kind == "module" else ("config" if d.scope.kind == "class" else "literal")
        elif isinstance(value, (cst.SimpleString, cst.Name, cst.ConcatenatedString, cst.Tuple, cst.List)) \
                and v.source == "literal" and v.hp is None:
            src = "constant" if d.scope.kind == "module" else ("config" if d.scope.kind == "class" else "literal")
        elif dotted(value) is not None:
            src = {"argparse": "args_attr", "config": "config"}.get(v.via, "alias")
        elif isinstance(value, (cst.BinaryOperation, cst.UnaryOperation)):
            src = "arith"
        else:
            src = v.source if v.resolved else "unknown"
        return self._maybe_hp(d, v, src)

    def _maybe_hp(self, d: Def, v: Val, src: str, force: bool = False) -> Val:
        """Create the hyperparameter node of definition ``d`` when it defines a number/bool
        (or something derived from hyperparameters)."""
        key = d.key
        if key.startswith("self.") and key.count(".") > 1:
            return v
        numeric = v.resolved and (isinstance(v.value, (int, float, bool)) or
                                  (isinstance(v.value, list) and v.value and all(_is_number(x) for x in v.value)))
        if not (numeric or v.deps or (force and v.resolved)):
            return v
        if d.kind == "aug" and not v.resolved:
            return v  # an accumulator (``total += loss.item()``), not a hyperparameter
        if not v.resolved and d.value is not None and _has_foreign_call(d.value):
            return v  # a tensor computed from hyperparameters (``loss / accum_steps``)
        short = key.split(".")[-1]
        if N.canonical_hp(short) == short and short not in N.CANONICAL_HPS and any(
                x.kind == "aug" and x.loop_depth > d.loop_depth for x in d.scope.defs.get(key, ())):
            return v  # a counter initialised here and incremented in a loop
        if d.scope.kind == "class" and not (d.scope.cls and (d.scope.cls.is_dataclass or not self.is_module(d.scope.cls))):
            return v
        fi = d.scope.file
        name = key.split(".")[-1] if not key.endswith("]") else _split_key(key)[1]
        value_span = None
        if isinstance(d.value, (cst.Integer, cst.Float, cst.SimpleString, cst.Name, cst.Tuple, cst.List,
                                cst.UnaryOperation)) and v.source == "literal" and v.hp is None:
            value_span = self.span(fi, d.value).to_dict()
        attrs = dict(hp=N.canonical_hp(name), value=_jsonable(v.value) if v.resolved else None,
                     resolved=v.resolved, source=src if v.resolved or v.deps else "unknown",
                     expr=self.text(fi, d.value) if d.value is not None else "", value_span=value_span,
                     key=key)
        if d.kind == "aug":
            attrs["expr"] = self.text(fi, d.stmt)
        if d.scope.kind == "class":
            attrs["owner_class"] = d.scope.qualname
        bkey, memb = _split_key(key)
        if bkey is not None and head(key) != "self":
            base = self.lookup(bkey, d.scope, d.pos)
            if base.obj is not None:
                prev = self.member(base.obj, memb)
                if prev is not None and prev.hp:
                    attrs["overrides"] = prev.hp
        hp = self.add("hyperparameter", name, fi, d.stmt, d.scope, **attrs)
        for dep in sorted(v.deps):
            if dep in self.g and dep != hp:
                self.g.add_edge(dep, hp, "defines")
        if not v.resolved:
            self.unresolved(hp, "value", attrs["expr"], "value could not be resolved statically")
        return Val(v.value, v.resolved, src, hp, frozenset([hp]), via=v.via)

    def dict_entry(self, dnode: cst.Dict, scope: Scope, name: str, depth: int = 0) -> Val | None:
        k = (id(dnode), name)
        if k in self._dict_entries:
            return self._dict_entries[k]
        fi = scope.file
        for el in dnode.elements:
            if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString) \
                    and el.key.evaluated_value == name:
                v = self.eval(el.value, scope, END, depth + 1)
                stmt = self._stmt_of_dict(dnode, scope) or el
                value_span = self.span(fi, el.value).to_dict() if v.source == "literal" and v.hp is None else None
                if v.resolved or v.deps:
                    hp = self.add("hyperparameter", name, fi, stmt, scope, hp=N.canonical_hp(name),
                                  value=_jsonable(v.value) if v.resolved else None, resolved=v.resolved,
                                  source="config", expr=self.text(fi, el.value), value_span=value_span,
                                  key=name, expr_span=self.span(fi, el.value).to_dict())
                    for dep in sorted(v.deps):
                        if dep in self.g and dep != hp:
                            self.g.add_edge(dep, hp, "defines")
                    v = Val(v.value, v.resolved, "config", hp, frozenset([hp]), via="config")
                self._dict_entries[k] = v
                return v
        self._dict_entries[k] = None
        return None

    def kwarg_entry(self, call: cst.Call, arg: cst.Arg, scope: Scope, depth: int) -> Val:
        k = (id(arg), "")
        if k in self._dict_entries:
            return self._dict_entries[k]
        fi = scope.file
        name = arg.keyword.value
        v = self.eval(arg.value, scope, END, depth + 1)
        if v.resolved or v.deps:
            stmt = self._stmt_of_dict(call, scope) or call
            hp = self.add("hyperparameter", name, fi, stmt, scope, hp=N.canonical_hp(name),
                          value=_jsonable(v.value) if v.resolved else None, resolved=v.resolved, source="config",
                          expr=self.text(fi, arg.value), key=name,
                          value_span=self.span(fi, arg.value).to_dict() if v.source == "literal" and v.hp is None else None)
            for dep in sorted(v.deps):
                if dep in self.g and dep != hp:
                    self.g.add_edge(dep, hp, "defines")
            v = Val(v.value, v.resolved, "config", hp, frozenset([hp]), via="config")
        self._dict_entries[k] = v
        return v

    def _stmt_of_dict(self, node, scope: Scope):
        for ds in scope.defs.values():
            for d in ds:
                if d.value is node:
                    return d.stmt
        return None

    def argparse_defs(self, fi: FileInfo) -> dict[str, tuple[str, Val]]:
        """dest -> (hyperparameter id, value) for every ``add_argument`` in ``fi``."""
        if fi.rel in self._argparse:
            return self._argparse[fi.rel]
        out: dict[str, tuple[str, Val]] = {}
        self._argparse[fi.rel] = out
        for call, stmt, scope in fi.add_arguments:
            flags = []
            for a in call.args:
                if a.keyword or a.star:
                    continue
                v = self.eval(a.value, scope, END)
                if v.resolved and isinstance(v.value, str):
                    flags.append(v.value)
            kw = {a.keyword.value: a.value for a in call.args if a.keyword}
            dest = None
            if "dest" in kw:
                dv = self.eval(kw["dest"], scope, END)
                dest = dv.value if dv.resolved and isinstance(dv.value, str) else None
            if dest is None:
                longs = [f for f in flags if f.startswith("--")]
                shorts = [f for f in flags if f.startswith("-") and not f.startswith("--")]
                pick = longs[0] if longs else (shorts[0] if shorts else (flags[0] if flags else None))
                if pick is None:
                    continue
                dest = pick.lstrip("-").replace("-", "_")
            action = self.eval(kw.get("action"), scope, END) if "action" in kw else Val(None, True)
            typ = dotted(kw.get("type")) if "type" in kw else None
            required = self.eval(kw["required"], scope, END).value is True if "required" in kw else False
            positional = bool(flags) and not flags[0].startswith("-")
            value_span = None
            spos = self._pos(fi, stmt)
            if "default" in kw:
                dv = self.eval(kw["default"], scope, spos)
                val, resolved = dv.value, dv.resolved
                if resolved and isinstance(val, str) and typ in ("int", "float"):
                    try:
                        val = int(val) if typ == "int" else float(val)
                    except ValueError:
                        resolved, val = False, None
                if dv.source == "literal" and dv.hp is None:
                    value_span = self.span(fi, kw["default"]).to_dict()
                expr = self.text(fi, kw["default"])
                deps = dv.deps
            else:
                act = action.value if action.resolved else None
                if act == "store_true":
                    val, resolved = False, True
                elif act == "store_false":
                    val, resolved = True, True
                elif required or positional:
                    val, resolved = None, False
                else:
                    val, resolved = None, True
                expr, deps = "", frozenset()
            if required or positional:
                resolved = False if "default" not in kw else resolved
            hp = self.add("hyperparameter", dest, fi, stmt, scope, hp=N.canonical_hp(dest),
                          value=_jsonable(val) if resolved else None, resolved=resolved, source="argparse",
                          expr=expr, value_span=value_span, flags=flags, type=typ, key=f"args.{dest}",
                          expr_span=self.span(fi, call).to_dict())
            for dep in sorted(deps):
                if dep in self.g and dep != hp:
                    self.g.add_edge(dep, hp, "defines")
            if not resolved:
                self.unresolved(hp, "value", expr or " ".join(flags),
                                "default not resolved statically" if "default" in kw
                                else "no default (given on the command line)")
            out[dest] = (hp, Val(val, resolved, "argparse", hp, frozenset([hp]), via="argparse"))
            self._argspecs.append(self._argspec(fi, dest, flags, kw, action, typ, scope, hp))
        return out

    def _argspec(self, fi: FileInfo, dest: str, flags: list[str], kw: dict, action: Val, typ, scope, hp):
        """What :func:`faultlens.analyzer.argv.parse_argv` needs of one ``add_argument``."""
        from faultlens.analyzer.argv import ArgSpec
        known = True
        act = None
        if "action" in kw:
            if action.resolved and isinstance(action.value, str):
                act = action.value
            else:
                act = dotted(kw["action"])  # argparse.BooleanOptionalAction, a custom Action class
                known = act is not None
        nargs = None
        if "nargs" in kw:
            nv = self.eval(kw["nargs"], scope, END)
            if nv.resolved and (isinstance(nv.value, str) or (isinstance(nv.value, int) and not isinstance(nv.value, bool))):
                nargs = nv.value
            else:
                known = False
        const, const_resolved = None, True
        if "const" in kw:
            cv = self.eval(kw["const"], scope, END)
            const, const_resolved = (cv.value, True) if cv.resolved else (None, False)
        if "type" in kw and typ is None:
            typ = "<expr>"  # a lambda or call: converted by program code, not evaluated here
        return ArgSpec(dest=dest, flags=list(flags), hp=hp, action=act, type=typ, nargs=nargs, const=const,
                       const_resolved=const_resolved, known=known)

    def apply_argv(self) -> None:
        """Parse the run's argv with the program's argparse declarations and give each
        hyperparameter the command line set its run value: ``value`` becomes what the run used,
        ``source`` ``"argv"``, the default is kept in ``default`` (and its literal's span in
        ``default_span``: ``value_span`` is dropped, so that nothing edits a default the run
        never used). Called once every file's ``add_argument`` calls are known."""
        if not self.argv or not self._argspecs:
            return
        from faultlens.analyzer.argv import parse_argv
        values, error = parse_argv(self._argspecs, self.argv)
        if error:
            self.g.unresolved.append({"node": None, "attr": "argv", "expr": " ".join(self.argv), "reason": error})
            return
        for av in values:
            s = av.spec
            for rel, table in self._argparse.items():
                ent = table.get(s.dest)
                if ent is None or ent[0] != s.hp:
                    continue
                hp = s.hp
                a = self.g.store.nodes[hp]["attrs"]
                a.update(default=a.get("value"), default_resolved=a.get("resolved"),
                         default_span=a.get("value_span"), value_span=None,
                         value=_jsonable(av.value) if av.resolved else None, resolved=av.resolved,
                         source="argv", argv=list(av.tokens))
                self.g.unresolved[:] = [u for u in self.g.unresolved
                                        if not (u.get("node") == hp and u.get("attr") == "value")]
                if not av.resolved:
                    self._unresolved_seen.discard((hp, "value"))
                    self.unresolved(hp, "value", " ".join(av.tokens) or s.dest,
                                    "given on the command line through a type the analyzer does not evaluate")
                table[s.dest] = (hp, Val(av.value, av.resolved, "argv", hp, frozenset([hp]), via="argparse"))

    # ================================================================ objects
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
                return FW.self_model(self, scope.cls) if scope.kind == "function" else None
        if h in scope.params and scope.kind == "function":
            if key != h:
                return None
            results = set()
            sites = self.call_sites(scope)
            if len(sites) > MAX_CALL_SITES:
                return None
            for cs in sites:
                arg = self._bound_arg(scope, h, cs)
                if arg is None or arg is _UNRESOLVED:
                    continue
                results.add(self.obj_of_expr(arg, cs.scope, cs.stmt, cs.pos, None, depth + 1))
            results.discard(None)
            return results.pop() if len(results) == 1 else None
        if scope.parent is not None and h not in scope.defs:
            return self.resolve_obj(key, scope.parent, END, depth + 1)
        if scope.kind == "module":
            imp = scope.file.imports.get(h)
            if imp and imp[0] == "local" and key == h:
                return self.resolve_obj(imp[2], self.by_rel[imp[1]].module_scope, END, depth + 1)
            if imp and imp[0] == "localmod" and key != h:
                return self.resolve_obj(key[len(h) + 1:], self.by_rel[imp[1]].module_scope, END, depth + 1)
        return None

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
        expr = _unwrap_call(expr)
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
        kind, tname, ci = cat
        if kind in ("module", "layer"):
            if kind == "layer" and tname.split(".")[-1] in ("DataParallel", "DistributedDataParallel"):
                args = [a.value for a in call.args if not a.keyword]
                return self.obj_of_expr(args[0], scope, stmt, pos, None, depth + 1) if args else None
            return self._make_model(call, scope, stmt, var, tname, ci)
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
            return FW.make_trainer(self, call, scope, stmt, var, tname)
        if kind == "func" and var is not None:
            fn: Scope = ci
            for st in _iter_returns(fn.node):
                if st.value is None:
                    continue
                ret = _unwrap_call(st.value)
                if isinstance(ret, cst.Call):
                    rc = self.classify_callee(fn.file, ret.func)
                    if rc is not None and rc[0] in ("module", "layer") and \
                            rc[1] not in ("DataParallel", "DistributedDataParallel"):
                        # the model node sits at the caller's assignment; its class, arguments
                        # and Sequential children come from the factory's return statement
                        return self._make_model(ret, fn, st, var, rc[1], rc[2], site=(scope, stmt))
                fpos = self._pos(fn.file, st)
                o = self.obj_of_expr(st.value, fn, st, fpos, f"{fn.qualname}()", depth + 1)
                if o:
                    return o
        return None

    # -------- argument handling shared by consumers
    def consume_args(self, node_id: str, call: cst.Call, scope: Scope, pos, param_names: list[str],
                     hp_args: set[str] | None, skip: set[str] = frozenset(), literal_hp_names: dict | None = None,
                     start: int = 0) -> tuple[dict, dict, dict, dict]:
        """Evaluate a consumer call's arguments: args/args_resolved/arg_spans/arg_hps, plus
        ``uses`` edges from the hyperparameters they come from. Literal arguments named in
        ``hp_args`` (None: all) get their own hyperparameter node at the call."""
        fi = scope.file
        args, resolved, spans, hps = {}, {}, {}, {}
        items: list[tuple[str, cst.CSTNode, Scope, Any]] = []
        i = 0
        for a in call.args:
            if a.star == "**":
                dv = self.eval(a.value, scope, pos)
                dnode = None
                if dv.obj and dv.obj[0] == "dict":
                    dnode = dv.obj[1]
                    dscope = dv.obj[2]
                if dnode is not None:
                    for el in dnode.elements:
                        if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
                            items.append((el.key.evaluated_value, el.value, dscope, ("dict", dnode)))
                    dk = dotted(a.value)
                    if dk:  # later d['k'] = v / d.update(...) assignments
                        for fcs in fi.calls:
                            if fcs.key == f"{dk}.update" and fcs.scope is scope and fcs.pos < pos:
                                for ua in fcs.call.args:
                                    if isinstance(ua.value, cst.Dict):
                                        for el in ua.value.elements:
                                            if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
                                                items.append((el.key.evaluated_value, el.value, scope, ("dict", ua.value)))
                                    elif ua.keyword:
                                        items.append((ua.keyword.value, ua.value, scope, None))
                else:
                    self.unresolved(node_id, "args", self.text(fi, a.value), "**kwargs not resolved")
                continue
            if a.star == "*":
                i = 10**6
                continue
            if a.keyword:
                items.append((a.keyword.value, a.value, scope, None))
            else:
                idx = i + start
                name = param_names[idx] if idx < len(param_names) else str(idx)
                items.append((name, a.value, scope, None))
                i += 1
        for name, expr, escope, origin in items:
            if name in skip:
                spans[name] = self.span(escope.file, expr).to_dict()
                args[name] = self.text(escope.file, expr)
                resolved[name] = False
                continue
            epos = pos if escope is scope else END
            v = self.eval(expr, escope, epos)
            if origin is not None and origin[0] == "dict" and escope is not scope:
                ent = self.dict_entry(origin[1], escope, name)
                v = ent if ent is not None else v
            elif origin is not None and origin[0] == "dict":
                ent = self.dict_entry(origin[1], escope, name)
                v = ent if ent is not None else v
            spans[name] = self.span(escope.file, expr).to_dict()
            resolved[name] = bool(v.resolved)
            args[name] = _jsonable(v.value) if v.resolved else self.text(escope.file, expr)
            want_hp = hp_args is None or name in hp_args
            hp = v.hp
            if hp is None and want_hp and (v.resolved or v.deps):
                is_lit = v.source == "literal"
                if is_lit and not (isinstance(v.value, (int, float, bool)) or isinstance(v.value, list)
                                   or (hp_args is not None and name in hp_args)):
                    hp = None
                else:
                    hname = (literal_hp_names or {}).get(name, name)
                    hp = self.add("hyperparameter", hname, escope.file, self._stmt_for(node_id, escope, expr),
                                  escope, hp=N.canonical_hp(hname), value=_jsonable(v.value) if v.resolved else None,
                                  resolved=v.resolved, source="literal" if is_lit else ("arith" if v.resolved or v.deps else "unknown"),
                                  expr=self.text(escope.file, expr),
                                  value_span=self.span(escope.file, expr).to_dict() if is_lit else None,
                                  key=name, expr_span=self.span(escope.file, expr).to_dict())
                    for dep in sorted(v.deps):
                        if dep in self.g and dep != hp:
                            self.g.add_edge(dep, hp, "defines")
                    if not v.resolved:
                        self.unresolved(hp, "value", self.text(escope.file, expr), "value could not be resolved statically")
            if hp is not None:
                hps[name] = hp
                self.g.add_edge(hp, node_id, "uses", arg=name)
            elif v.deps:
                for dep in sorted(v.deps):
                    self.g.add_edge(dep, node_id, "uses", arg=name)
            if not v.resolved and want_hp and (hp_args is not None and name in hp_args):
                self.unresolved(node_id, f"args.{name}", self.text(escope.file, expr), "argument value not resolved")
        return args, resolved, spans, hps

    def _stmt_for(self, node_id: str, scope: Scope, expr):
        st = self._stmt_lookup.get(node_id)
        if st is None or scope.file.parsed.positions.get(st) is None:
            return expr
        return st

    # -------- object makers
    def _base_attrs(self, call, scope, stmt):
        fi = scope.file
        return {"expr_span": self.span(fi, call).to_dict()}

    def _make_model(self, call, scope, stmt, var, tname, ci, site=None, arg_stmt=None) -> str:
        """A model node. ``site`` = (scope, statement) of the assignment that receives the model
        when ``call`` is the value a factory function returns (``model = build_model()``)."""
        fi = scope.file
        cls_attr = ci.node_id if ci is not None else (self.ext(fi, dotted(call.func)) or tname)
        name = var or tname
        sscope, sstmt = site if site is not None else (scope, stmt)
        nid = self.add("model", name, sscope.file, sstmt, sscope, var=var, **{"class": cls_attr},
                       model_type=tname, **self._base_attrs(call, scope, stmt))
        if site is not None:
            self.g.set_attr(nid, factory=scope.qualname, factory_span=self.span(fi, stmt).to_dict())
        self._stmt_lookup[nid] = sstmt
        pos = self._pos(fi, stmt)
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
                        items.extend(self.emit_layer(child, nid, name, key, None, model_owner=True))
                    self.set_forward(nid, items, containers={})
        self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
        return nid

    def _make_loss(self, call, scope, stmt, var, tname) -> str:
        fi = scope.file
        nid = self.add("loss", var or tname, fi, stmt, scope, var=var, loss_type=tname, functional=False,
                       **self._base_attrs(call, scope, stmt))
        self._stmt_lookup[nid] = stmt
        a, r, s, h = self.consume_args(nid, call, scope, self._pos(fi, stmt), [], None, skip={"weight", "pos_weight"})
        self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
        return nid

    def _params_info(self, expr, scope, pos, depth=0):
        """(params_model id, params_kind) for an optimizer's params argument."""
        if expr is None or depth > 5:
            return None, "unknown"
        k = dotted(expr)
        if k is not None:
            d = scope.latest(k, pos)
            if d is not None and d.value is not None:
                return self._params_info(d.value, d.scope, d.pos, depth + 1)
            if k in scope.params and scope.kind == "function" and len(self.call_sites(scope)) <= MAX_CALL_SITES:
                for cs in self.call_sites(scope):
                    arg = self._bound_arg(scope, k, cs)
                    if arg is not None and arg is not _UNRESOLVED:
                        return self._params_info(arg, cs.scope, cs.pos, depth + 1)
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
        direct = _unwrap_list(expr)
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
        pos = self._pos(fi, stmt)
        params_expr = None
        for i, a in enumerate(call.args):
            if (a.keyword and a.keyword.value == "params") or (not a.keyword and not a.star and i == 0):
                params_expr = a.value
                break
        pm, pk = self._params_info(params_expr, scope, pos)
        nid = self.add("optimizer", var or tname, fi, stmt, scope, var=var, optimizer_type=tname,
                       params_source=self.text(fi, params_expr) if params_expr is not None else None,
                       params_model=pm, params_kind=pk, **self._base_attrs(call, scope, stmt))
        self._stmt_lookup[nid] = stmt
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
        pos = self._pos(fi, stmt)
        opt_expr = None
        for i, a in enumerate(call.args):
            if (a.keyword and a.keyword.value == "optimizer") or (not a.keyword and i == 0):
                opt_expr = a.value
                break
        oid = self.obj_of_expr(opt_expr, scope, stmt, pos, None) if opt_expr is not None else None
        nid = self.add("scheduler", var or tname, fi, stmt, scope, var=var, scheduler_type=tname, optimizer=oid,
                       **self._base_attrs(call, scope, stmt))
        self._stmt_lookup[nid] = stmt
        a, r, s, h = self.consume_args(nid, call, scope, pos, N.SCHEDULER_PARAMS.get(tname, ["optimizer"]),
                                       None, skip={"optimizer", "lr_lambda"})
        self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
        return nid

    def _make_dataloader(self, call, scope, stmt, var) -> str:
        fi = scope.file
        pos = self._pos(fi, stmt)
        nid = self.add("dataloader", var or "DataLoader", fi, stmt, scope, var=var,
                       **self._base_attrs(call, scope, stmt))
        self._stmt_lookup[nid] = stmt
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
                       **self._base_attrs(call, scope, stmt))
        self._stmt_lookup[nid] = stmt
        a, r, s, h = self.consume_args(nid, call, scope, self._pos(fi, stmt), ["mean", "std"] if tname == "Normalize" else [], set())
        self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
        return nid

    def _pos(self, fi: FileInfo, node) -> tuple[int, int]:
        r = fi.parsed.positions[node]
        return (r.start.line, r.start.column)

    # ================================================================ layers
    def layer_spec(self, expr, scope: Scope, pos, depth: int, dyn: bool, stmt, cond: bool = False) -> Spec | None:
        if expr is None or depth > 12:
            return None
        fi = scope.file
        expr = _unwrap_call(expr)
        if isinstance(expr, cst.IfExp):
            a = self.layer_spec(expr.body, scope, pos, depth + 1, dyn, stmt)
            b = self.layer_spec(expr.orelse, scope, pos, depth + 1, dyn, stmt)
            if a or b:
                cands = sorted({s.layer_type for s in (a, b) if s and s.layer_type})
                return Spec(expr, None, stmt, scope, dynamic=True, conditional=cond, candidates=cands)
            return None
        if isinstance(expr, cst.Call):
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
            kind, tname, ci = cat
            if kind == "func":
                return self._factory_spec(ci, scope, depth, dyn, cond)
            if kind not in ("layer", "module", "loss"):
                return None
            if kind == "loss" and ci is None and depth == 0 and not (scope.cls and self.is_module(scope.cls)):
                return None
            spec = Spec(expr, tname, stmt, scope, class_ref=ci, dynamic=dyn, conditional=cond)
            if tname in N.CONTAINERS and ci is None:
                spec.children = self._container_children(expr, tname, scope, pos, depth, dyn, stmt, cond)
            return spec
        k = dotted(expr)
        if k is not None and not k.startswith("self."):
            d = scope.latest(k, pos)
            if d is not None and d.value is not None and d.kind in ("assign", "ann"):
                s = self.layer_spec(d.value, d.scope, d.pos, depth + 1, dyn or d.loop_depth > 0, d.stmt, d.conditional)
                return s
        return None

    def _factory_spec(self, fn: Scope, scope: Scope, depth: int, dyn: bool, cond) -> Spec | None:
        """The layer a local helper function returns (``self.net = build_mlp(64, 10)``): the
        spec of its first ``return`` whose value is a layer/container/module, with the spans
        of the constructions inside the helper and ``factory`` set to the helper's qualname on
        it and all its children (an inner factory keeps its own name)."""
        if depth > 10 or fn is None or fn.kind != "function" or fn is scope:
            return None
        for st in _iter_returns(fn.node):
            if st.value is None or fn.file.parsed.positions.get(st) is None:
                continue
            spec = self.layer_spec(st.value, fn, self._pos(fn.file, st), depth + 1, dyn, st, cond)
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
        return base_items + out

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

    def emit_layer(self, spec: Spec, owner_id: str, owner_name: str, path: str, parent: str | None,
                   model_owner: bool = False) -> list[str]:
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
        self._stmt_lookup[nid] = stmt
        if spec.candidates is not None:
            self.g.set_attr(nid, candidates=spec.candidates)
        if spec.factory is not None:
            self.g.set_attr(nid, factory=spec.factory)
        if spec.layer_type is None:
            what = self.text(fi, spec.type_expr) if spec.type_expr is not None else self.text(fi, spec.call)
            self.unresolved(nid, "layer_type", what, "layer type chosen at run time")
        if isinstance(spec.call, cst.Call):
            pos = self._pos(fi, stmt)
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
            a, r, s, h = self.consume_args(nid, spec.call, scope, pos, params, hp_args, skip=skip,
                                           literal_hp_names=lit_names)
            if spec.layer_type in N.CONTAINERS:
                a, r, s = {}, {}, {}
            self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
        self.g.add_edge(owner_id, nid, "contains")
        if ci is not None:
            self.g.add_edge(nid, ci.node_id, "instance_of")
        if spec.children:
            leaves = []
            for key, child in spec.children:
                leaves.extend(self.emit_layer(child, owner_id, owner_name, f"{path}.{key}", nid, model_owner))
            self._container_leaves[nid] = leaves
            return leaves
        return [nid]

    # ================================================================ module classes
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
        seen: dict[str, str] = {}
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
                if isinstance(d, CallSite):
                    argv = [a.value for a in d.call.args if not a.keyword]
                    if d.key == "setattr":
                        if len(argv) < 3 or dotted(argv[0]) != "self":
                            continue
                        argv = argv[1:]
                    if len(argv) < 2:
                        continue
                    nv = self.eval(argv[0], m, d.pos)
                    spec = self.layer_spec(argv[1], m, d.pos, 0, d.depth > 0, d.stmt, d.conditional)
                    if spec is None:
                        continue
                    if nv.resolved and isinstance(nv.value, str) and d.depth == 0:
                        attr = nv.value
                    else:
                        attr = "*"
                        spec.dynamic = True
                else:
                    spec = self.layer_spec(d.value, m, d.pos, 0, d.loop_depth > 0, d.stmt, d.conditional)
                    if spec is None:
                        continue
                    attr = d.key[5:]
                    if spec.layer_type in ("ModuleList", "Sequential") and spec.class_ref is None:
                        extra = self._list_items(cst.parse_expression(d.key), m, END, 0, False, d.stmt, False) \
                            if False else self._appended(ci, d.key, spec, m)
                        if extra:
                            spec.children = (spec.children or []) + extra
                            spec.children = _renumber(spec.children)
                leaves = self.emit_layer(spec, ci.node_id, ci.qualname, attr, None)
                first = leaves[0] if leaves else None
                top = self._top_layer(first) if first else None
                ci.layers[attr] = top or first

    def _appended(self, ci: ClassInfo, key: str, spec: Spec, m: Scope) -> list:
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

    def build_forward(self, ci: ClassInfo) -> None:
        fwd = ci.methods.get("forward")
        if ci.node_id is None:
            return
        if fwd is None:
            inherited = self.method_of(ci, "forward")
            if inherited is not None and inherited.cls is not None and inherited.cls.node_id:
                self.g.set_attr(ci.node_id, forward_from=inherited.cls.node_id)
            return
        items: list[str] = []
        self._forward_block(ci, fwd, _body(fwd.node), items, {}, [fwd.qualname])
        self.set_forward(ci.node_id, items)

    def set_forward(self, owner_id: str, items: list[str], containers=None) -> None:
        order = 0
        seen = set()
        for it in items:
            if it not in seen:
                seen.add(it)
                self.g.store.remove_edges_from([(owner_id, it, "contains")])
                self.g.add_edge(owner_id, it, "contains", order=order)
                order += 1
        for i in range(len(items) - 1):
            self.g.add_edge(items[i], items[i + 1], "flow", order=i)
        self.g.set_attr(owner_id, forward=list(items))
        for it in seen:
            a = self.g.store.nodes[it]["attrs"]
            a["forward_calls"] = items.count(it)

    def _expand(self, lid: str) -> list[str]:
        return self._container_leaves.get(lid, [lid])

    def _forward_block(self, ci, m: Scope, stmts, items, loopvars, stack) -> None:
        fi = m.file
        for st in stmts:
            if isinstance(st, cst.SimpleStatementLine):
                for sm in st.body:
                    for e in _stmt_exprs(sm):
                        self._forward_expr(ci, m, e, sm, items, loopvars, stack)
            elif isinstance(st, (cst.For,)):
                lv = dict(loopvars)
                k = dotted(_unwrap_iter(st.iter))
                if k and k.startswith("self."):
                    lid = self.layer_by_path(ci, k[5:])
                    if lid:
                        tk = dotted(st.target)
                        if tk is None and isinstance(st.target, cst.Tuple) and st.target.elements:
                            tk = dotted(st.target.elements[-1].value)
                        if tk:
                            lv[tk] = lid
                self._forward_expr(ci, m, st.iter, st, items, loopvars, stack, header=True)
                self._forward_block(ci, m, _body(st), items, lv, stack)
            elif isinstance(st, cst.While):
                self._forward_block(ci, m, _body(st), items, loopvars, stack)
            elif isinstance(st, cst.If):
                self._forward_expr(ci, m, st.test, st, items, loopvars, stack, header=True)
                self._forward_block(ci, m, _body(st), items, loopvars, stack)
                o = st.orelse
                while o is not None:
                    if isinstance(o, cst.If):
                        self._forward_block(ci, m, _body(o), items, loopvars, stack)
                        o = o.orelse
                    else:
                        self._forward_block(ci, m, _body(o), items, loopvars, stack)
                        o = None
            elif isinstance(st, (cst.With,)):
                self._forward_block(ci, m, _body(st), items, loopvars, stack)
            elif isinstance(st, cst.Try):
                self._forward_block(ci, m, _body(st), items, loopvars, stack)

    def _forward_expr(self, ci, m: Scope, expr, stmt, items, loopvars, stack, header=False) -> None:
        fi = m.file
        for call, _ in iter_calls(expr):
            f = call.func
            k = dotted(f)
            if k is not None and k.startswith("self."):
                path = k[5:]
                lid = self.layer_by_path(ci, path)
                if lid is None and path.endswith(".forward"):
                    lid = self.layer_by_path(ci, path[: -len(".forward")])
                if lid:
                    items.extend(self._expand(lid))
                    continue
                meth = self.method_of(ci, path) if "." not in path else None
                if meth is not None and meth.qualname not in stack and len(stack) < 8:
                    self._forward_block(ci, meth, _body(meth.node), items, {}, stack + [meth.qualname])
                    continue
            if k is not None and k in loopvars:
                items.extend(self._expand(loopvars[k]))
                continue
            if isinstance(f, cst.Attribute) and isinstance(f.value, cst.Call) and dotted(f.value.func) == "super":
                # super().forward(x) / super().encode(x): inline the parent's method (looked up
                # from the class that defines the calling method), on this class's layers
                defining = m.cls if m.cls is not None else ci
                meth = None
                for b in defining.local_bases:
                    meth = self.method_of(b, f.attr.value)
                    if meth is not None:
                        break
                if meth is not None:
                    if meth.qualname not in stack and len(stack) < 8:
                        self._forward_block(ci, meth, _body(meth.node), items, {}, stack + [meth.qualname])
                    continue
            if isinstance(f, cst.Subscript):
                bk = dotted(f.value)
                if bk and bk.startswith("self."):
                    lid = self.layer_by_path(ci, bk[5:])
                    if lid:
                        leaves = self._expand(lid)
                        sl = f.slice[0].slice if f.slice else None
                        if isinstance(sl, cst.Index) and isinstance(sl.value, cst.Integer):
                            idx = int(sl.value.value)
                            path = self.g.store.nodes[lid]["attrs"]["module_path"] + f".{idx}"
                            match = [x for x in leaves if self.g.store.nodes[x]["attrs"]["module_path"] == path]
                            items.extend(match or leaves)
                        else:
                            items.extend(leaves)
                        continue
            op = self._op_of(fi, call)
            if op is not None:
                opname, qual, dim = op
                name = f"{ci.qualname}.{opname}"
                oid = self.add("op", name, fi, stmt, m, owner=ci.node_id, op=opname, qualname=qual, dim=dim,
                               expr_span=self.span(fi, call).to_dict(),
                               args={(a.keyword.value if a.keyword else str(i)): self.text(fi, a.value)
                                     for i, a in enumerate(call.args)})
                self.g.add_edge(ci.node_id, oid, "contains")
                items.append(oid)

    def _op_of(self, fi: FileInfo, call: cst.Call):
        f = call.func
        k = dotted(f)
        q = self.ext(fi, k) if k else None
        if q is not None:
            last = q.split(".")[-1]
            if q.startswith("torch.nn.functional."):
                return last, q, self._dim(call, N.DIM_INDEX_FUNCTION.get(last))
            if q.startswith("torch.") and q.count(".") == 1 and last in N.TORCH_FUNCTION_OPS:
                return last, q, self._dim(call, N.DIM_INDEX_FUNCTION.get(last))
            return None
        if isinstance(f, cst.Attribute) and f.attr.value in N.TENSOR_METHOD_OPS:
            rk = dotted(f.value)
            if rk is not None and (rk == "self" or self.qualify(fi, rk.split(".")[0]) is not None and rk.split(".")[0] not in ("x",)):
                if rk == "self" or (self.qualify(fi, rk.split(".")[0]) or ("",))[0] in ("ext", "localmod"):
                    return None
            last = f.attr.value
            return last, f"Tensor.{last}", self._dim(call, N.DIM_INDEX_METHOD.get(last))
        return None

    def _dim(self, call: cst.Call, index: int | None):
        for a in call.args:
            if a.keyword and a.keyword.value in N.DIM_KEYWORDS:
                return _int_literal(a.value)
        if index is not None:
            pos_args = [a for a in call.args if not a.keyword and not a.star]
            if index < len(pos_args):
                return _int_literal(pos_args[index].value)
        return None


_VALUE_FUNCS = {"int", "float", "round", "abs", "min", "max", "bool", "str", "len", "get"}


def _has_foreign_call(expr) -> bool:
    """True when ``expr`` calls something other than a value conversion."""
    for call, _ in iter_calls(expr):
        k = dotted(call.func)
        if k is None or k.split(".")[-1] not in _VALUE_FUNCS:
            return True
    return False


def _int_literal(e):
    if isinstance(e, cst.Integer):
        return int(e.value)
    if isinstance(e, cst.UnaryOperation) and isinstance(e.operator, cst.Minus) and isinstance(e.expression, cst.Integer):
        return -int(e.expression.value)
    return None


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


def _unwrap_iter(expr):
    while isinstance(expr, cst.Call) and dotted(expr.func) in _ITER_WRAPPERS:
        pa = [a.value for a in expr.args if not a.keyword]
        if not pa:
            break
        expr = pa[0]
    return expr


def _unwrap_list(expr):
    while isinstance(expr, cst.Call) and dotted(expr.func) in ("list", "tuple") and expr.args:
        expr = expr.args[0].value
    return expr


def _iter_returns(fn) -> Iterator[cst.Return]:
    return (n for n in iter_nodes(fn, skip_defs=True) if isinstance(n, cst.Return))


def _split_key(key: str) -> tuple[str | None, str]:
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


def _arith(op: str, a, b):
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
                return _UNRESOLVED
            return a ** b
    except (ZeroDivisionError, OverflowError, TypeError, ValueError):
        return _UNRESOLVED
    return _UNRESOLVED
