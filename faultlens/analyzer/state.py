"""The state every pass of the graph builder shares, and the helpers that add nodes to the graph.

:class:`BuildState` holds the graph under construction, the program's indexed files and the
memo tables of the lazy resolution passes (``values``, ``bindings``, ``hyperparams``,
``objects``, ``layers``, ``frameworks``), which ``faultlens.analyzer.builder.Builder`` mixes
together. The tables are the passes' own; a pass that makes a value or an object node outside
them (a literal made a hyperparameter node, a library model handed to a trainer) records it
through :meth:`BuildState.memo_val` / :meth:`~BuildState.seed_val`,
:meth:`~BuildState.seed_expr_obj`, :meth:`~BuildState.seed_def_obj` and
:meth:`~BuildState.forget_name_objs`.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import libcst as cst

from faultlens.analyzer.graph import ProgramGraph, Span
from faultlens.analyzer.index import CallSite, Def, FileInfo, Scope

if TYPE_CHECKING:
    from faultlens.analyzer.argv import ArgSpec
    from faultlens.analyzer.values import Val


class BuildState:
    def __init__(self, root: str, argv: list[str] | None = None):
        self.root = os.path.abspath(root)
        self.g = ProgramGraph(root=self.root)
        #: the run's command line (None: not known; the graph then holds the argparse defaults)
        self.argv = None if argv is None else [str(a) for a in argv]
        self.g.argv = None if argv is None else list(self.argv)
        # ---- loading
        self.files: dict[str, FileInfo] = {}     # abspath -> FileInfo
        self.by_rel: dict[str, FileInfo] = {}
        # ---- nodes
        self.scope_of_node: dict[str, Scope] = {}
        self.stmt_lookup: dict[str, Any] = {}    # node id -> its statement (for consumer-site hps)
        self._unresolved_seen: set[tuple] = set()
        # ---- values (memo tables keyed by id() of the definition / expression / scope)
        self._def_val: dict[int, Val] = {}
        self._lookup_memo: dict[tuple, Val] = {}
        self._in_progress: set[int] = set()      # definitions being evaluated (values and objects)
        self._steps = 0                          # name lookups so far (values.LOOKUP_BUDGET)
        # ---- bindings
        self._bindings: dict[int, list[CallSite]] = {}
        self._calls_by_name: dict[int, tuple[int, dict[str, list[CallSite]]]] = {}
        self._param_memo: dict[tuple, Val | None] = {}
        # ---- hyperparameters
        self._dict_entries: dict[tuple[int, str], Val | None] = {}
        self._argparse: dict[str, dict[str, tuple[str, Val]]] = {}   # file -> dest -> (hp id, value)
        self._argspecs: list[ArgSpec] = []   # one per add_argument, in order
        # ---- objects
        self._def_obj: dict[int, str | None] = {}
        self._expr_obj: dict[int, str | None] = {}
        self._obj_memo: dict[tuple, str | None] = {}
        # ---- layers
        self.container_leaves: dict[str, list[str]] = {}  # container layer id -> its leaf layers
        # ---- frameworks
        self.trainer_calls: dict[str, cst.Call] = {}  # trainer node id -> its Trainer(...) call

    # ---------------------------------------------------------------- memo entries made outside the lazy passes
    def memo_val(self, node: Def | cst.CSTNode) -> Val | None:
        """The memoised value of a definition, or of a literal recorded with :meth:`seed_val`."""
        return self._def_val.get(id(node))

    def seed_val(self, node: Def | cst.CSTNode, v: Val) -> Val:
        """Record ``v`` as the value of ``node`` (a literal argument or default made a
        hyperparameter node: later readers get that node rather than a new one)."""
        self._def_val[id(node)] = v
        return v

    def seed_expr_obj(self, call: cst.Call, nid: str | None) -> None:
        """Record object node ``nid`` as what constructor call ``call`` builds."""
        self._expr_obj[id(call)] = nid

    def seed_def_obj(self, d: Def, nid: str | None) -> None:
        """Record object node ``nid`` as the object definition ``d`` assigns."""
        self._def_obj[id(d)] = nid

    def forget_name_objs(self) -> None:
        """Forget which object each name was found to be (``resolve_obj``): object nodes were
        made since, which a name looked up before may now reach."""
        self._obj_memo.clear()

    # ---------------------------------------------------------------- spans / nodes
    def span(self, fi: FileInfo, node) -> Span:
        return fi.parsed.span(node)

    def text(self, fi: FileInfo, node) -> str:
        return fi.parsed.text(node)

    def pos(self, fi: FileInfo, node) -> tuple[int, int]:
        """(line, column) where ``node`` starts: the position definitions and uses are ordered by."""
        r = fi.parsed.positions[node]
        return (r.start.line, r.start.column)

    def add(self, kind: str, name: str, fi: FileInfo, stmt, scope: Scope | None = None, **attrs) -> str:
        sp = self.span(fi, stmt)
        if "function" not in attrs:
            attrs["function"] = self.fn_name(scope)
        nid = self.g.add_node(kind, name, sp, fi.parsed.snippet(stmt), **attrs)
        if scope is not None:
            self.scope_of_node[nid] = scope
        return nid

    @staticmethod
    def fn_name(scope: Scope | None) -> str:
        """The ``function`` attribute of a node in ``scope`` (``<module>`` at top level)."""
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
