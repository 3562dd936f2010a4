"""Pass 0 of the graph builder: a syntactic index of every parsed file.

For each file: its import table, top-level classes and functions, and for every scope
(module, function, class body) the ordered list of *definitions* (assignment targets with
their value expressions), plus every call site of a named callable (for binding
function parameters to arguments at the call sites) and every ``add_argument`` call.
Nothing here resolves values; :mod:`faultlens.analyzer.builder` does that lazily.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from faultlens.analyzer.names import dotted, iter_nodes
from faultlens.analyzer.source import ParsedFile

END = (10**9, 0)


@dataclass(eq=False)
class Def:
    """One definition of ``key`` (``lr``, ``args.lr``, ``self.fc1``, ``config['lr']``)."""

    key: str
    pos: tuple[int, int]          # (line, column) of the defining statement
    value: cst.CSTNode | None     # the assigned expression (None: unknown, e.g. a loop target)
    stmt: cst.CSTNode             # the small statement (or compound statement for loops/with)
    scope: "Scope"
    kind: str                     # assign | aug | ann | loop | with | unpack | import | param
    loop_depth: int = 0
    conditional: tuple = ()       # the if/else/except branches enclosing the definition
    extra: Any = None             # aug: the operator node; unpack: (value, index)
    loops: tuple = ()             # ids of the for/while loops whose body holds the definition
                                  # (outermost first); a loop target counts as in its own loop


@dataclass(eq=False)
class Scope:
    kind: str                     # module | function | class
    qualname: str
    file: "FileInfo"
    node: cst.CSTNode
    parent: "Scope | None" = None
    cls: "ClassInfo | None" = None  # owning class for methods
    params: list[str] = field(default_factory=list)
    param_defaults: dict[str, cst.CSTNode] = field(default_factory=dict)
    defs: dict[str, list[Def]] = field(default_factory=dict)
    children: list["Scope"] = field(default_factory=list)
    decorators: list[str] = field(default_factory=list)

    def add_def(self, d: Def) -> None:
        self.defs.setdefault(d.key, []).append(d)

    def latest(self, key: str, pos: tuple[int, int]) -> Def | None:
        best = None
        for d in self.defs.get(key, ()):
            if d.pos < pos and (best is None or d.pos >= best.pos):
                best = d
        return best

    def reaching(self, key: str, pos: tuple[int, int]) -> tuple[list[Def], bool]:
        """The definitions of ``key`` that may reach ``pos``.

        Going back from ``pos``: the latest definition, plus earlier ones while the later
        ones may not have run, i.e. sit in a branch that does not enclose ``pos`` or in the
        body of a loop that does not enclose ``pos`` (it may run zero times). Then the back
        edges: for every loop enclosing ``pos`` whose body does not certainly redefine
        ``key`` before ``pos``, every definition at or after ``pos`` in that loop's body
        (also in nested blocks) reaches ``pos`` on the next pass. The flag says whether one
        of them is certain to run before ``pos`` (else the value from outside the scope may
        reach too)."""
        if pos >= END:  # seen from an inner scope: any definition may be the live one
            ds = sorted(self.defs.get(key, ()), key=lambda d: d.pos, reverse=True)
            return ds, any(not d.conditional and not d.loops for d in ds)
        use_branch = self.file.branch_at.get(pos, ())
        use_loops = self.file.loops_at.get(pos, ())
        out: list[Def] = []
        killer: Def | None = None
        cands = sorted((d for d in self.defs.get(key, ()) if d.pos < pos), key=lambda d: d.pos, reverse=True)
        for d in cands:
            out.append(d)
            br = d.conditional
            if (not br or use_branch[: len(br)] == br) and use_loops[: len(d.loops)] == d.loops:
                killer = d
                break
        # a certain definition inside the loops it shares with the use runs again on every
        # pass before the use: no back edge of those loops reaches past it
        live = set(use_loops) - set(killer.loops if killer is not None else ())
        if live:
            for d in sorted(self.defs.get(key, ()), key=lambda d: d.pos):
                if d.pos >= pos and live.intersection(d.loops):
                    out.append(d)
        return out, killer is not None


@dataclass(eq=False)
class ClassInfo:
    name: str
    qualname: str
    file: "FileInfo"
    node: cst.ClassDef
    scope: Scope                  # the class body scope
    bases: list[cst.CSTNode] = field(default_factory=list)
    methods: dict[str, Scope] = field(default_factory=dict)
    attr_defs: dict[str, list[Def]] = field(default_factory=dict)  # self.x defs across methods
    decorators: list[str] = field(default_factory=list)
    is_module: bool | None = None
    module_base: str | None = None   # the torch.nn class it ultimately derives from
    local_bases: list["ClassInfo"] = field(default_factory=list)
    node_id: str | None = None
    layers: dict[str, str] = field(default_factory=dict)   # attr path -> layer id
    methods_order: list[str] = field(default_factory=list)

    @property
    def is_dataclass(self) -> bool:
        return any(d.split(".")[-1] == "dataclass" for d in self.decorators)


@dataclass(eq=False)
class CallSite:
    key: str                      # dotted text of the callee (``train``, ``utils.train``, ``Net``)
    call: cst.Call
    stmt: cst.CSTNode
    scope: Scope
    pos: tuple[int, int]
    depth: int = 0
    conditional: bool = False


@dataclass(eq=False)
class FileInfo:
    parsed: ParsedFile
    abspath: str
    is_entry: bool
    imports: dict[str, tuple] = field(default_factory=dict)  # alias -> ("ext", qual) | ("local", rel, member)
    local_imports: list[tuple[str, int, str]] = field(default_factory=list)  # (module, level, alias-name)
    module_scope: Scope | None = None
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    all_classes: list[ClassInfo] = field(default_factory=list)
    functions: dict[str, Scope] = field(default_factory=dict)
    scopes: list[Scope] = field(default_factory=list)
    calls: list[CallSite] = field(default_factory=list)
    add_arguments: list[tuple[cst.Call, cst.CSTNode, Scope]] = field(default_factory=list)
    main_guard_calls: list[str] = field(default_factory=list)
    branch_at: dict[tuple[int, int], tuple] = field(default_factory=dict)  # stmt pos -> enclosing branches
    loops_at: dict[tuple[int, int], tuple] = field(default_factory=dict)   # stmt pos -> enclosing loop ids

    @property
    def rel(self) -> str:
        return self.parsed.rel


def _pos(pf: ParsedFile, node: cst.CSTNode) -> tuple[int, int]:
    r = pf.positions[node]
    return (r.start.line, r.start.column)


def is_main_guard(test: cst.CSTNode) -> bool:
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        left = dotted(test.left)
        right = test.comparisons[0].comparator
        if left == "__name__" and isinstance(right, cst.SimpleString):
            return right.evaluated_value == "__main__"
    return False


def import_module_name(node: cst.CSTNode | None) -> str:
    if node is None:
        return ""
    d = dotted(node)
    return d or ""


class Indexer:
    """Builds the :class:`FileInfo` of one parsed file."""

    def __init__(self, pf: ParsedFile, abspath: str, is_entry: bool):
        self.pf = pf
        self.fi = FileInfo(pf, abspath, is_entry)
        self._loops: list[int] = []   # the loops enclosing the statement being indexed

    def run(self) -> FileInfo:
        mod = self.pf.module
        ms = Scope("module", "<module>", self.fi, mod)
        self.fi.module_scope = ms
        self.fi.scopes.append(ms)
        self._block(mod.body, ms, 0, (), top=True)
        return self.fi

    # ------------------------------------------------------------ statements
    def _block(self, stmts, scope: Scope, depth: int, cond: bool, top: bool = False) -> None:
        for st in stmts:
            self._stmt(st, scope, depth, cond, top)

    def _body(self, node) -> list:
        body = getattr(node, "body", None)
        if body is None:
            return []
        if isinstance(body, (cst.IndentedBlock, cst.SimpleStatementSuite)):
            return list(body.body)
        return list(body) if isinstance(body, (list, tuple)) else []

    def _stmt(self, st, scope: Scope, depth: int, cond: tuple, top: bool) -> None:
        pf = self.pf
        self.fi.branch_at[_pos(pf, st)] = cond
        self.fi.loops_at[_pos(pf, st)] = tuple(self._loops)
        if isinstance(st, cst.SimpleStatementLine):
            for small in st.body:
                self._small(small, scope, depth, cond, top)
        elif isinstance(st, cst.FunctionDef):
            self._function(st, scope)
        elif isinstance(st, cst.ClassDef):
            self._class(st, scope)
        elif isinstance(st, (cst.For,)):
            self._calls(st.iter, st, scope, depth, cond)  # evaluated once, before the loop
            self._loops.append(id(st))
            self._targets(st.target, None, st, scope, "loop", depth, cond)  # rebound every pass
            self._block(self._body(st), scope, depth + 1, cond)
            self._loops.pop()
            if st.orelse:
                self._block(self._body(st.orelse), scope, depth, cond)
        elif isinstance(st, cst.While):
            self._loops.append(id(st))
            self.fi.loops_at[_pos(pf, st)] = tuple(self._loops)  # the test runs on every pass
            self._calls(st.test, st, scope, depth, cond)
            self._block(self._body(st), scope, depth + 1, cond)
            self._loops.pop()
            if st.orelse:
                self._block(self._body(st.orelse), scope, depth, cond)
        elif isinstance(st, cst.If):
            main = top and is_main_guard(st.test)
            if main:
                for s in self._body(st):
                    if isinstance(s, cst.SimpleStatementLine):
                        for sm in s.body:
                            if isinstance(sm, cst.Expr) and isinstance(sm.value, cst.Call):
                                k = dotted(sm.value.func)
                                if k:
                                    self.fi.main_guard_calls.append(k)
                if not self.fi.is_entry:
                    return  # an imported file's __main__ block does not run
            self._calls(st.test, st, scope, depth, cond)
            self._block(self._body(st), scope, depth, cond if main else cond + ((id(st), 0),), top=top and main)
            orelse = st.orelse
            while orelse is not None:
                if isinstance(orelse, cst.If):
                    self._calls(orelse.test, orelse, scope, depth, cond + ((id(orelse), 1),))
                    self._block(self._body(orelse), scope, depth, cond + ((id(orelse), 0),))
                    orelse = orelse.orelse
                else:
                    self._block(self._body(orelse), scope, depth, cond + ((id(orelse), 1),))
                    orelse = None
        elif isinstance(st, cst.With):
            for item in st.items:
                self._calls(item.item, st, scope, depth, cond)
                if item.asname is not None:
                    self._targets(item.asname.name, item.item, st, scope, "with", depth, cond)
            self._block(self._body(st), scope, depth, cond, top=top)
        elif isinstance(st, (cst.Try, getattr(cst, "TryStar", cst.Try))):
            self._block(self._body(st), scope, depth, cond, top=top)
            for h in st.handlers:
                self._block(self._body(h), scope, depth, cond + ((id(h), 0),))
            if st.orelse:
                self._block(self._body(st.orelse), scope, depth, cond)
            if st.finalbody:
                self._block(self._body(st.finalbody), scope, depth, cond)
        elif isinstance(st, cst.Match):
            for case in st.cases:
                self._block(self._body(case), scope, depth, cond + ((id(case), 0),))

    def _small(self, sm, scope: Scope, depth: int, cond: tuple, top: bool) -> None:
        pf = self.pf
        self.fi.branch_at[_pos(pf, sm)] = cond
        self.fi.loops_at[_pos(pf, sm)] = tuple(self._loops)
        if isinstance(sm, cst.Assign):
            for t in sm.targets:
                self._targets(t.target, sm.value, sm, scope, "assign", depth, cond)
            self._calls(sm.value, sm, scope, depth, cond)
        elif isinstance(sm, cst.AnnAssign):
            if sm.value is not None:
                self._targets(sm.target, sm.value, sm, scope, "ann", depth, cond)
                self._calls(sm.value, sm, scope, depth, cond)
            elif scope.kind == "class":
                self._targets(sm.target, None, sm, scope, "ann", depth, cond)
        elif isinstance(sm, cst.AugAssign):
            k = dotted(sm.target)
            if k:
                self._add(Def(k, _pos(pf, sm), sm.value, sm, scope, "aug", depth, cond, sm.operator))
            self._calls(sm.value, sm, scope, depth, cond)
        elif isinstance(sm, (cst.Expr, cst.Return)):
            if sm.value is not None:
                self._calls(sm.value, sm, scope, depth, cond)
        elif isinstance(sm, cst.Import):
            for alias in sm.names:
                full = import_module_name(alias.name)
                if alias.asname is not None:
                    name = alias.asname.name.value
                    self.fi.imports[name] = ("ext", full)
                    self.fi.local_imports.append((full, 0, name))
                else:
                    first = full.split(".")[0]
                    self.fi.imports.setdefault(first, ("ext", first))
                    self.fi.local_imports.append((full, 0, ""))
        elif isinstance(sm, cst.ImportFrom):
            modname = import_module_name(sm.module)
            level = len(sm.relative)
            if isinstance(sm.names, cst.ImportStar):
                self.fi.local_imports.append((modname, level, "*"))
                return
            for alias in sm.names:
                member = import_module_name(alias.name)
                name = alias.asname.name.value if alias.asname is not None else member
                if level == 0:
                    self.fi.imports[name] = ("ext", f"{modname}.{member}" if modname else member)
                self.fi.local_imports.append((modname, level, f"{member}:{name}"))

    def _targets(self, target, value, stmt, scope: Scope, kind: str, depth: int, cond: bool) -> None:
        pf = self.pf
        if isinstance(target, (cst.Tuple, cst.List)):
            elts = [e.value for e in target.elements]
            vals = None
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elts) and not any(
                isinstance(e, cst.StarredElement) for e in value.elements
            ):
                vals = [e.value for e in value.elements]
            for i, t in enumerate(elts):
                if vals is not None:
                    self._targets(t, vals[i], stmt, scope, kind, depth, cond)
                else:
                    k = dotted(t)
                    if k:
                        self._add(Def(k, _pos(pf, stmt), None, stmt, scope,
                                      "unpack" if kind != "loop" else "loop", depth, cond, (value, i)))
                    elif isinstance(t, (cst.Tuple, cst.List)):
                        self._targets(t, None, stmt, scope, kind, depth, cond)
            return
        k = dotted(target)
        if k is None:
            return
        self._add(Def(k, _pos(pf, stmt), value if kind not in ("loop",) else None, stmt, scope, kind, depth, cond,
                      value if kind == "loop" else None))

    def _add(self, d: Def) -> None:
        if not d.loops:
            d.loops = tuple(self._loops)
        d.scope.add_def(d)
        sc = d.scope
        if d.key.startswith("self.") and sc.cls is not None and sc.kind == "function":
            sc.cls.attr_defs.setdefault(d.key, []).append(d)

    def _calls(self, expr, stmt, scope: Scope, depth: int = 0, cond: bool = False) -> None:
        """Record call sites of named callables and argparse ``add_argument`` calls."""
        pf = self.pf
        fi = self.fi
        for node in iter_nodes(expr):
            if isinstance(node, cst.Call):
                k = dotted(node.func)
                if k is None:
                    continue
                if k.endswith(".add_argument"):
                    fi.add_arguments.append((node, stmt, scope))
                else:
                    fi.calls.append(CallSite(k, node, stmt, scope, _pos(pf, stmt), depth, cond))

    # ------------------------------------------------------------ defs
    def _decorators(self, node) -> list[str]:
        out = []
        for d in node.decorators:
            e = d.decorator
            if isinstance(e, cst.Call):
                e = e.func
            out.append(dotted(e) or "")
        return out

    def _function(self, fn: cst.FunctionDef, parent: Scope) -> None:
        name = fn.name.value
        cls = parent.cls if parent.kind == "class" else None
        if parent.kind == "class":
            qual = f"{parent.qualname}.{name}"
            lexical_parent = parent.parent  # methods do not see class-body names
        elif parent.kind == "function":
            qual = f"{parent.qualname}.<locals>.{name}"
            lexical_parent = parent
        else:
            qual = name
            lexical_parent = parent
        sc = Scope("function", qual, self.fi, fn, lexical_parent, cls)
        sc.decorators = self._decorators(fn)
        p = fn.params
        for prm in list(p.posonly_params) + list(p.params) + list(p.kwonly_params):
            sc.params.append(prm.name.value)
            if prm.default is not None:
                sc.param_defaults[prm.name.value] = prm.default
        for star in (p.star_arg, p.star_kwarg):
            if isinstance(star, cst.Param):
                sc.params.append(star.name.value)
        parent.children.append(sc)
        self.fi.scopes.append(sc)
        if parent.kind == "module":
            self.fi.functions[name] = sc
        if cls is not None:
            cls.methods[name] = sc
            cls.methods_order.append(name)
        # a def is itself a definition of its name in the enclosing scope
        self._add(Def(name, _pos(self.pf, fn), None, fn, parent, "def", 0, False, sc))
        outer, self._loops = self._loops, []  # a body runs when called, not per pass
        self._block(self._body(fn), sc, 0, ())
        self._loops = outer

    def _class(self, node: cst.ClassDef, parent: Scope) -> None:
        name = node.name.value
        qual = name if parent.kind == "module" else f"{parent.qualname}.{name}"
        body_scope = Scope("class", qual, self.fi, node, parent)
        ci = ClassInfo(name, qual, self.fi, node, body_scope, [a.value for a in node.bases if not a.keyword])
        ci.decorators = self._decorators(node)
        body_scope.cls = ci
        self.fi.scopes.append(body_scope)
        self.fi.all_classes.append(ci)
        if parent.kind == "module":
            self.fi.classes[name] = ci
        self._add(Def(name, _pos(self.pf, node), None, node, parent, "class", 0, False, ci))
        outer, self._loops = self._loops, []
        self._block(self._body(node), body_scope, 0, ())
        self._loops = outer


def index_file(pf: ParsedFile, abspath: str, is_entry: bool) -> FileInfo:
    return Indexer(pf, abspath, is_entry).run()


def resolve_local_module(modname: str, level: int, importer_abs: str, root: str,
                         search: list[str]) -> str | None:
    """The absolute path of a local module file for an import, or None when not local.

    Absolute imports are looked up in ``search`` (the entry file's directory, then the
    root); relative imports from the importing file's package. Results stay inside root.
    """
    parts = [p for p in modname.split(".") if p]
    if level > 0:
        base = os.path.dirname(importer_abs)
        for _ in range(level - 1):
            base = os.path.dirname(base)
        bases = [base]
    else:
        bases = search
    for b in bases:
        cand = os.path.join(b, *parts) if parts else b
        for path in (cand + ".py", os.path.join(cand, "__init__.py")):
            if parts or path.endswith("__init__.py"):
                if os.path.isfile(path):
                    ap = os.path.abspath(path)
                    if _inside(ap, root):
                        return ap
    return None


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(path), os.path.abspath(root)]) == os.path.abspath(root)
    except ValueError:
        return False
