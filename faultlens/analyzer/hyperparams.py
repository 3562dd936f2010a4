"""Hyperparameter discovery (docs/graph.md, "Which values become hyperparameter nodes"):
definitions of numbers and derived values, config dict entries and namespace keywords,
argparse ``add_argument`` calls (and the run's command line over them), and the literal
arguments of consumers (optimizers, losses, data loaders, ...). A pass mixed into ``Builder``."""
from __future__ import annotations

from typing import NamedTuple

import libcst as cst

from faultlens.analyzer import names as N
from faultlens.analyzer.cst_util import iter_calls
from faultlens.analyzer.index import END, Def, FileInfo, Scope
from faultlens.analyzer.names import dotted, head
from faultlens.analyzer.state import BuildState
from faultlens.analyzer.values import (
    Container, DictLiteral, KeywordNamespace, Val, is_number, jsonable, split_key,
)

_VALUE_FUNCS = {"int", "float", "round", "abs", "min", "max", "bool", "str", "len", "get"}


def _has_foreign_call(expr) -> bool:
    """True when ``expr`` calls something other than a value conversion."""
    for call, _ in iter_calls(expr):
        k = dotted(call.func)
        if k is None or k.split(".")[-1] not in _VALUE_FUNCS:
            return True
    return False


class ConsumerArg(NamedTuple):
    """One argument of a consumer call: keyed ``name``, its value ``expr`` in ``scope``;
    ``dict_node`` is the dict literal it comes from when a ``**kwargs`` expanded it."""

    name: str
    expr: cst.CSTNode
    scope: Scope
    dict_node: cst.Dict | None


class Hyperparams(BuildState):
    # ---------------------------------------------------------------- definitions
    def def_hp(self, d: Def, v: Val, src: str) -> Val:
        """Create the hyperparameter node of definition ``d`` when it defines a number/bool
        (or something derived from hyperparameters)."""
        key = d.key
        if key.startswith("self.") and key.count(".") > 1:
            return v
        numeric = v.resolved and (isinstance(v.value, (int, float, bool)) or
                                  (isinstance(v.value, list) and v.value and all(is_number(x) for x in v.value)))
        if not (numeric or v.deps):
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
        name = key.split(".")[-1] if not key.endswith("]") else split_key(key)[1]
        value_span = None
        if isinstance(d.value, (cst.Integer, cst.Float, cst.SimpleString, cst.Name, cst.Tuple, cst.List,
                                cst.UnaryOperation)) and v.source == "literal" and v.hp is None:
            value_span = self.span(fi, d.value).to_dict()
        attrs = dict(hp=N.canonical_hp(name), value=jsonable(v.value) if v.resolved else None,
                     resolved=v.resolved, source=src if v.resolved or v.deps else "unknown",
                     expr=self.text(fi, d.value) if d.value is not None else "", value_span=value_span,
                     key=key)
        if d.kind == "aug":
            attrs["expr"] = self.text(fi, d.stmt)
        if d.scope.kind == "class":
            attrs["owner_class"] = d.scope.qualname
        bkey, memb = split_key(key)
        if bkey is not None and head(key) != "self":
            base = self.lookup(bkey, d.scope, d.pos)
            if base.obj is not None:
                prev = self.member(base.obj, memb)
                if prev is not None and prev.hp:
                    attrs["overrides"] = prev.hp
        hp = self.add("hyperparameter", name, fi, d.stmt, d.scope, **attrs)
        self._defines(v.deps, hp)
        if not v.resolved:
            self.unresolved(hp, "value", attrs["expr"], "value could not be resolved statically")
        return Val(v.value, v.resolved, src, hp, frozenset([hp]), via=v.via)

    def _defines(self, deps, hp: str) -> None:
        """``defines`` edges into hyperparameter ``hp`` from the ones its value derives from."""
        for dep in sorted(deps):
            if dep in self.g and dep != hp:
                self.g.add_edge(dep, hp, "defines")

    # ---------------------------------------------------------------- config entries
    def config_entries(self, obj: Container) -> None:
        """The hyperparameter nodes of a config dict's string keys / a namespace call's keywords."""
        if isinstance(obj, DictLiteral):
            for el in obj.node.elements:
                if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
                    k = el.key.evaluated_value
                    if isinstance(k, str):
                        self.dict_entry(obj.node, obj.scope, k)
        elif isinstance(obj, KeywordNamespace):
            for a in obj.call.args:
                if a.keyword:
                    self.kwarg_entry(obj.call, a, obj.scope, 0)

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
                                  value=jsonable(v.value) if v.resolved else None, resolved=v.resolved,
                                  source="config", expr=self.text(fi, el.value), value_span=value_span,
                                  key=name, expr_span=self.span(fi, el.value).to_dict())
                    self._defines(v.deps, hp)
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
                          value=jsonable(v.value) if v.resolved else None, resolved=v.resolved, source="config",
                          expr=self.text(fi, arg.value), key=name,
                          value_span=self.span(fi, arg.value).to_dict() if v.source == "literal" and v.hp is None else None)
            self._defines(v.deps, hp)
            v = Val(v.value, v.resolved, "config", hp, frozenset([hp]), via="config")
        self._dict_entries[k] = v
        return v

    def _stmt_of_dict(self, node, scope: Scope):
        for ds in scope.defs.values():
            for d in ds:
                if d.value is node:
                    return d.stmt
        return None

    # ---------------------------------------------------------------- argparse
    def argparse_defs(self, fi: FileInfo) -> dict[str, tuple[str, Val]]:
        """dest -> (hyperparameter id, value) for every ``add_argument`` in ``fi``."""
        if fi.rel in self._argparse:
            return self._argparse[fi.rel]
        out: dict[str, tuple[str, Val]] = {}
        self._argparse[fi.rel] = out
        for call, stmt, scope in fi.add_arguments:
            self._add_argument(fi, call, stmt, scope, out)
        return out

    def _add_argument(self, fi: FileInfo, call: cst.Call, stmt, scope: Scope, out: dict) -> None:
        """The hyperparameter node of one ``add_argument`` call, entered in ``out`` by its dest."""
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
                return
            dest = pick.lstrip("-").replace("-", "_")
        action = self.eval(kw.get("action"), scope, END) if "action" in kw else Val(None, True)
        typ = dotted(kw.get("type")) if "type" in kw else None
        required = self.eval(kw["required"], scope, END).value is True if "required" in kw else False
        positional = bool(flags) and not flags[0].startswith("-")
        value_span = None
        if "default" in kw:
            dv = self.eval(kw["default"], scope, self.pos(fi, stmt))
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
                      value=jsonable(val) if resolved else None, resolved=resolved, source="argparse",
                      expr=expr, value_span=value_span, flags=flags, type=typ, key=f"args.{dest}",
                      expr_span=self.span(fi, call).to_dict())
        self._defines(deps, hp)
        if not resolved:
            self.unresolved(hp, "value", expr or " ".join(flags),
                            "default not resolved statically" if "default" in kw
                            else "no default (given on the command line)")
        out[dest] = (hp, Val(val, resolved, "argparse", hp, frozenset([hp]), via="argparse"))
        self._argspecs.append(self._argspec(dest, flags, kw, action, typ, scope, hp))

    def _argspec(self, dest: str, flags: list[str], kw: dict, action: Val, typ, scope, hp):
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
            for table in self._argparse.values():
                ent = table.get(s.dest)
                if ent is None or ent[0] != s.hp:
                    continue
                hp = s.hp
                a = self.g.store.nodes[hp]["attrs"]
                a.update(default=a.get("value"), default_resolved=a.get("resolved"),
                         default_span=a.get("value_span"), value_span=None,
                         value=jsonable(av.value) if av.resolved else None, resolved=av.resolved,
                         source="argv", argv=list(av.tokens))
                self.g.unresolved[:] = [u for u in self.g.unresolved
                                        if not (u.get("node") == hp and u.get("attr") == "value")]
                if not av.resolved:
                    self._unresolved_seen.discard((hp, "value"))
                    self.unresolved(hp, "value", " ".join(av.tokens) or s.dest,
                                    "given on the command line through a type the analyzer does not evaluate")
                table[s.dest] = (hp, Val(av.value, av.resolved, "argv", hp, frozenset([hp]), via="argparse"))

    # ---------------------------------------------------------------- consumer arguments
    def consume_args(self, node_id: str, call: cst.Call, scope: Scope, pos, param_names: list[str],
                     hp_args: set[str] | None, skip: set[str] = frozenset(), literal_hp_names: dict | None = None,
                     start: int = 0) -> tuple[dict, dict, dict, dict]:
        """Evaluate a consumer call's arguments: args/args_resolved/arg_spans/arg_hps, plus
        ``uses`` edges from the hyperparameters they come from. Literal arguments named in
        ``hp_args`` (None: all) get their own hyperparameter node at the call."""
        args, resolved, spans, hps = {}, {}, {}, {}
        for name, expr, escope, dnode in self._consumer_args(node_id, call, scope, pos, param_names, start):
            if name in skip:
                spans[name] = self.span(escope.file, expr).to_dict()
                args[name] = self.text(escope.file, expr)
                resolved[name] = False
                continue
            epos = pos if escope is scope else END
            v = self.eval(expr, escope, epos)
            if dnode is not None:
                ent = self.dict_entry(dnode, escope, name)
                v = ent if ent is not None else v
            spans[name] = self.span(escope.file, expr).to_dict()
            resolved[name] = bool(v.resolved)
            args[name] = jsonable(v.value) if v.resolved else self.text(escope.file, expr)
            want_hp = hp_args is None or name in hp_args
            hp = v.hp
            if hp is None and want_hp and (v.resolved or v.deps):
                hp = self._consumer_hp(node_id, name, expr, escope, v, hp_args, literal_hp_names)
            if hp is not None:
                hps[name] = hp
                self.g.add_edge(hp, node_id, "uses", arg=name)
            elif v.deps:
                for dep in sorted(v.deps):
                    self.g.add_edge(dep, node_id, "uses", arg=name)
            if not v.resolved and want_hp and (hp_args is not None and name in hp_args):
                self.unresolved(node_id, f"args.{name}", self.text(escope.file, expr), "argument value not resolved")
        return args, resolved, spans, hps

    def _consumer_args(self, node_id: str, call: cst.Call, scope: Scope, pos, param_names: list[str],
                       start: int) -> list[ConsumerArg]:
        """The arguments of a consumer call keyed by name: keywords, positionals by their
        parameter name (else their index), ``**kwargs`` from a dict literal expanded."""
        items: list[ConsumerArg] = []
        i = 0
        for a in call.args:
            if a.star == "**":
                dv = self.eval(a.value, scope, pos)
                if isinstance(dv.obj, DictLiteral):
                    items.extend(self._expanded_kwargs(dv.obj, a.value, scope, pos))
                else:
                    self.unresolved(node_id, "args", self.text(scope.file, a.value), "**kwargs not resolved")
                continue
            if a.star == "*":
                i = 10**6
                continue
            if a.keyword:
                items.append(ConsumerArg(a.keyword.value, a.value, scope, None))
            else:
                idx = i + start
                name = param_names[idx] if idx < len(param_names) else str(idx)
                items.append(ConsumerArg(name, a.value, scope, None))
                i += 1
        return items

    def _expanded_kwargs(self, d: DictLiteral, expr, scope: Scope, pos) -> list[ConsumerArg]:
        """``**train_kwargs``: the dict literal's string keys, then those added before ``pos``
        with ``train_kwargs.update({...})`` / ``train_kwargs.update(k=v)``."""
        items = []
        for el in d.node.elements:
            if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
                items.append(ConsumerArg(el.key.evaluated_value, el.value, d.scope, d.node))
        dk = dotted(expr)
        if dk:  # later d['k'] = v / d.update(...) assignments
            for fcs in scope.file.calls:
                if fcs.key == f"{dk}.update" and fcs.scope is scope and fcs.pos < pos:
                    for ua in fcs.call.args:
                        if isinstance(ua.value, cst.Dict):
                            for el in ua.value.elements:
                                if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
                                    items.append(ConsumerArg(el.key.evaluated_value, el.value, scope, ua.value))
                        elif ua.keyword:
                            items.append(ConsumerArg(ua.keyword.value, ua.value, scope, None))
        return items

    def _consumer_hp(self, node_id: str, name: str, expr, escope: Scope, v: Val, hp_args: set[str] | None,
                     literal_hp_names: dict | None) -> str | None:
        """The hyperparameter node of a consumer argument that has none yet (a literal at the call,
        or a value derived from hyperparameters); None for a literal that is no hyperparameter."""
        is_lit = v.source == "literal"
        if is_lit and not (isinstance(v.value, (int, float, bool)) or isinstance(v.value, list)
                           or (hp_args is not None and name in hp_args)):
            return None
        hname = (literal_hp_names or {}).get(name, name)
        hp = self.add("hyperparameter", hname, escope.file, self._stmt_for(node_id, escope, expr),
                      escope, hp=N.canonical_hp(hname), value=jsonable(v.value) if v.resolved else None,
                      resolved=v.resolved, source="literal" if is_lit else ("arith" if v.resolved or v.deps else "unknown"),
                      expr=self.text(escope.file, expr),
                      value_span=self.span(escope.file, expr).to_dict() if is_lit else None,
                      key=name, expr_span=self.span(escope.file, expr).to_dict())
        self._defines(v.deps, hp)
        if not v.resolved:
            self.unresolved(hp, "value", self.text(escope.file, expr), "value could not be resolved statically")
        return hp

    def _stmt_for(self, node_id: str, scope: Scope, expr):
        st = self.stmt_lookup.get(node_id)
        if st is None or scope.file.parsed.positions.get(st) is None:
            return expr
        return st

