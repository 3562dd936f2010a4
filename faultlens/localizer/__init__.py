"""Localization: a fault type plus its evidence nodes -> source statements, ranked.

``localize(fault, graph, *, nodes=None, crash=None, detections=None) -> list[Location]``.

Roles (``Location.role``):

``definition``      where a hyperparameter value is defined (literal, module constant, argparse
                    default: the value's span) — hyperparameter faults;
``use``             where that value is consumed (the optimizer's ``lr=`` argument, the
                    DataLoader's ``batch_size=``, the epoch loop);
``construction``    where a layer / activation / loss / optimizer / init is built;
``call``            where it is applied (the layer's call in ``forward``, the loss call);
``insertion_point`` the statement before which a missing call belongs (``zero_grad``,
                    ``step``, ``eval``, ``train``); ``line`` is that statement's line. When
                    nothing follows in the block, the block's last statement, after which the
                    call belongs (``note`` is ``"after"``): always a statement, never the blank
                    or comment line below it;
``carries``         where a tensor carries one backward's graph into another (a recurrent state
                    kept across iterations, one output fed to two backwarded losses): where a
                    ``.detach()`` belongs, after a "backward through the graph a second time"
                    crash (:mod:`faultlens.localizer.carried`); ``note`` is ``kind:variable``;
``update``          a hand-written parameter update whose rule is wrong (``w += lr * grad``:
                    it climbs the loss);
``misplaced``       a call that is in the wrong place (``zero_grad`` between backward and step);
``data``            statements that load or scale the data entering the model;
``crash``           the statement that raised;
``related``         other statements that the evidence touches.

Lines and columns are 1-based. ``path`` is relative to the current directory when the file is
below it (else absolute), so that it matches the program path the user gave.

Where the statements come from: one handler per fault type
(:mod:`faultlens.localizer.handlers`, a registry filled by discovery); its ``locate`` adds the
type's statements to a :class:`Collector`, after the crash statement of a crashed run
(:class:`~faultlens.localizer.handlers.crash.CrashStatement`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from faultlens.localizer import source as src

__all__ = ["Collector", "Location", "localize", "resolve_path"]


@dataclass
class Location:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    node: str | None
    role: str
    abspath: str = ""
    note: str = ""
    #: in a notebook: the cell (1-based, every cell counted) and the line within it; ``line``
    #: stays the line of the notebook's program (faultlens/notebook.py)
    cell: int | None = None
    cell_line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"path": self.path, "line": self.line, "column": self.column, "end_line": self.end_line,
             "end_column": self.end_column, "node": self.node, "role": self.role}
        if self.cell is not None:
            d = {"path": self.path, "line": self.line, "cell": self.cell, "cell_line": self.cell_line,
                 **{k: v for k, v in d.items() if k not in ("path", "line")}}
        return d


def resolve_path(graph: Any, rel: str) -> str:
    root = getattr(graph, "root", ".") or "."
    return rel if os.path.isabs(rel) else os.path.normpath(os.path.join(root, rel))


def user_path(abspath: str, cwd: str | None = None) -> str:
    cwd = cwd or os.getcwd()
    try:
        r = os.path.relpath(abspath, cwd)
    except ValueError:
        return abspath
    return abspath if r.startswith("..") else r


class Collector:
    """What one ``localize`` call has found so far, in rank order, and the request it serves.

    Handlers add statements with :meth:`add_span` (a graph span) or :meth:`add_pos` (a source
    position); a second statement with the same file, line and role is dropped. The crash
    statement, when there is one, is already in ``out`` when the fault type's handler runs."""

    def __init__(self, graph: Any, cwd: str | None, nodes: list[str] = (), detections: list[Any] = (),
                 crash: dict[str, Any] | None = None):
        self.graph = graph
        self.cwd = cwd
        #: the evidence graph nodes, the fault's detections and the trace's crash record
        self.nodes = list(nodes)
        self.detections = list(detections)
        self.crash = crash
        self.out: list[Location] = []

    def add_span(self, span: Any, node: str | None, role: str, note: str = "") -> None:
        if span is None:
            return
        if isinstance(span, dict):
            path, line, col, el, ec = span["path"], span["line"], span["column"], span["end_line"], span["end_column"]
        else:
            path, line, col, el, ec = span.path, span.line, span.column, span.end_line, span.end_column
        ab = resolve_path(self.graph, path)
        self.add(Location(user_path(ab, self.cwd), int(line), int(col), int(el), int(ec), node, role, ab, note))

    def add_pos(self, abspath: str, pos: src.Pos, node: str | None, role: str, note: str = "") -> None:
        self.add(Location(user_path(abspath, self.cwd), pos.line, pos.column, pos.end_line, pos.end_column,
                           node, role, abspath, note))

    def add(self, loc: Location) -> None:
        for o in self.out:
            if o.abspath == loc.abspath and o.line == loc.line and o.role == loc.role:
                return
        self.out.append(loc)

    def node(self, nid: str | None):
        g = self.graph
        if g is None or nid is None:
            return None
        nid = nid.split("#", 1)[0]
        return g.node(nid) if nid in g else None


# ------------------------------------------------------------------ hyperparameters
def _hp_definitions(g: Any, consumer: str, arg: str) -> list[Any]:
    """Hyperparameter nodes feeding ``consumer``'s ``arg``, followed back through ``defines``
    edges to their first definitions (outermost first)."""
    out: list[Any] = []
    start = [u for u, v, d in g.edges("uses") if v == consumer and d.get("arg") == arg]
    seen: set[str] = set()
    stack = list(start)
    chain: list[str] = []
    while stack:
        h = stack.pop()
        if h in seen:
            continue
        seen.add(h)
        chain.append(h)
        stack.extend(p.id for p in g.predecessors(h, "defines"))
    for h in chain:
        out.append(g.node(h))
    # definitions first (those without a defining predecessor), then aliases
    out.sort(key=lambda n: (bool(g.predecessors(n.id, "defines")), n.span.line))
    return out


def localize(fault: Any, graph: Any, *, nodes: list[str] | None = None, crash: dict[str, Any] | None = None,
             detections: list[Any] | None = None, cwd: str | None = None, program: str | None = None,
             errors: list[str] | None = None, crash_statement: bool = True) -> list[Location]:
    """Rank the statements responsible for ``fault`` (a FaultCandidate or a fault-type string).

    ``nodes``: evidence graph nodes (default: ``fault.nodes``); ``crash``: the trace's crash
    record (its statement comes first, role ``crash``, unless ``crash_statement`` is false: the
    report's later faults, whose handlers still read the crash); ``program``: the entry file as the
    user gave it (used for crash paths when the graph is missing). An unknown fault type raises
    ``KeyError`` (when there is a graph to search). A handler that fails part-way (a partial
    graph) keeps the statements found so far; ``errors``, when given, gets one line naming the
    failure, which the pipeline puts into the report's notes."""
    from faultlens.localizer.handlers import CRASH, handler_for
    ftype = fault if isinstance(fault, str) else fault.type
    nodes = list(nodes if nodes is not None else getattr(fault, "nodes", []) or [])
    detections = list(detections if detections is not None else getattr(fault, "detections", []) or [])
    c = Collector(graph, cwd, nodes, detections, crash)
    if crash_statement:
        CRASH.locate(c, program)
    if graph is None:
        return c.out
    handler = handler_for(ftype)
    try:
        handler.locate(c)
    except KeyError:
        raise
    except Exception as exc:  # noqa: BLE001 - a partial graph: keep what was found, and say so
        if errors is not None:
            errors.append(f"localization ({ftype}) stopped part-way: {type(exc).__name__}: {exc}")
    return c.out
