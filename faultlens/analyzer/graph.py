"""The program graph: plain data that every later stage keys its results by.

A :class:`ProgramGraph` is a thin, documented wrapper over a ``networkx.MultiDiGraph`` (:attr:`ProgramGraph.g`).
Every node has a stable string id, a ``kind`` (one of :data:`NODE_KINDS`), an exact
:class:`Span` and the source snippet, plus kind-specific attributes (see ``docs/graph.md``).
Edges carry a ``kind`` (one of :data:`EDGE_KINDS`).

Node ids are ``"<kind>:<relpath>:<line>:<name>"`` (e.g. ``optimizer:train.py:42:optimizer``,
``layer:model.py:12:Net.fc1``). They are stable for a given source text: the instrumenter
writes them into the rewritten program and the trace, diagnosis and report refer to them.

This module imports only the standard library: it is on the lint path, which must not pay for
networkx's import (about 0.2 s). The graph is kept in :class:`Adjacency`, networkx's own
multigraph layout (dict of dicts of dicts of edge-key dicts) with the handful of operations the
analyzer uses; :attr:`ProgramGraph.g` turns it into a ``networkx.MultiDiGraph`` on first access
(importing networkx then) and the graph lives on in that object from there on.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

SCHEMA = "faultlens.graph/1"

#: Node kinds. Attributes per kind are documented in docs/graph.md.
NODE_KINDS = (
    "module_class",   # an nn.Module subclass (incl. subclasses of local subclasses)
    "layer",          # a sub-module built in a module class: self.fc1 = nn.Linear(...)
    "op",             # a functional op / tensor method in forward: F.relu, softmax, view ...
    "model",          # a model instance: model = Net(...)
    "loss",           # a loss object (criterion = nn.CrossEntropyLoss()) or a functional loss call
    "optimizer",      # optimizer = optim.SGD(model.parameters(), lr=...)
    "scheduler",      # an LR scheduler
    "dataloader",     # DataLoader(...), with batch_size / shuffle
    "loop",           # a for/while loop around training (role: epoch | step | other)
    "call",           # a training-step or mode call: zero_grad, backward, step, clip_grad_norm_,
                      # train, eval, forward (model(x)), loss (criterion(out, y)), closure
    "context",        # with torch.no_grad() / inference_mode() / enable_grad()
    "init",           # weight initialisation: nn.init.*, self.apply(fn), .data.fill_
    "transform",      # input transform / normalisation of data
    "hyperparameter", # a value with a definition site, linked to its uses
    "function",       # a function of interest (main, train, closure passed to LBFGS step)
    "trainer",        # a framework trainer: Lightning's Trainer(...), HF Trainer / TrainingArguments
)

#: Edge kinds.
EDGE_KINDS = (
    "contains",     # class -> layer, loop -> call/loop/context, function -> loop
    "flow",         # forward data flow, in order: layer/op -> layer/op (attr order=int)
    "instance_of",  # model -> module_class
    "params_of",    # optimizer -> model whose parameters it updates
    "targets",      # call -> the object it acts on (optimizer, model, loss, tensor-producing call)
    "defines",      # hyperparameter -> hyperparameter (definition feeds an alias/derived value)
    "uses",         # hyperparameter -> node that consumes it (attr 'arg': e.g. "lr")
    "feeds",        # dataloader -> loop that iterates it; forward call -> loss call
)


@dataclass(frozen=True)
class Span:
    """An exact source range. Lines and columns are 1-based; end_column is exclusive+1
    style as libcst reports (end points one past the last character, 1-based)."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Span":
        return cls(d["path"], int(d["line"]), int(d["column"]), int(d["end_line"]), int(d["end_column"]))


@dataclass
class Node:
    """A read-only view of one graph node (built on demand from the graph data)."""

    id: str
    kind: str
    name: str
    span: Span
    snippet: str
    attrs: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.attrs[key]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "span": self.span.to_dict(),
            "snippet": self.snippet,
            "attrs": self.attrs,
        }


class _NodeTable:
    """``adjacency.nodes``: ``nodes[id]`` is a node's data dict; ``nodes(data=True)`` yields
    ``(id, data)`` pairs; iteration and ``in`` go over the ids (as networkx's ``G.nodes``)."""

    __slots__ = ("_node",)

    def __init__(self, node: dict):
        self._node = node

    def __getitem__(self, n: str) -> dict:
        return self._node[n]

    def __call__(self, data: bool = False):
        return iter(self._node.items()) if data else iter(self._node)

    def __iter__(self):
        return iter(self._node)

    def __contains__(self, n: object) -> bool:
        return n in self._node

    def __len__(self) -> int:
        return len(self._node)


class Adjacency:
    """A directed multigraph in networkx's ``MultiDiGraph`` layout: ``_node[n]`` (data dict),
    ``_succ[u][v][key]`` and ``_pred[v][u][key]`` (the same edge-data dict, the key dict shared
    by both sides), with networkx's semantics for the operations the analyzer uses (add a node
    or edge, the lowest free integer key when none is given, remove nodes and edges, iterate in
    insertion order). networkx documents the layout ("Graph internal data structures", the
    ``MultiDiGraph`` reference), so :meth:`to_networkx` hands these dicts over as they are and
    the networkx graph iterates exactly as this one does."""

    __slots__ = ("_node", "_succ", "_pred", "nodes")

    def __init__(self):
        self._node: dict[str, dict] = {}
        self._succ: dict[str, dict[str, dict[Any, dict]]] = {}
        self._pred: dict[str, dict[str, dict[Any, dict]]] = {}
        self.nodes = _NodeTable(self._node)

    def __contains__(self, n: object) -> bool:
        try:
            return n in self._node
        except TypeError:
            return False

    def __len__(self) -> int:
        return len(self._node)

    def number_of_nodes(self) -> int:
        return len(self._node)

    def add_node(self, n: str, **attr: Any) -> None:
        if n not in self._succ:
            self._succ[n] = {}
            self._pred[n] = {}
            self._node[n] = dict(attr)
        else:
            self._node[n].update(attr)

    def add_edge(self, u: str, v: str, key: Any = None, **attr: Any) -> Any:
        for n in (u, v):
            if n not in self._succ:
                self.add_node(n)
        nbrs = self._succ[u]
        if key is None:
            keydict = nbrs.get(v)
            key = 0 if keydict is None else len(keydict)
            while keydict is not None and key in keydict:
                key += 1
        keydict = nbrs.get(v)
        if keydict is not None:
            data = keydict.get(key)
            if data is None:
                data = keydict[key] = {}
            data.update(attr)
        else:
            keydict = {key: dict(attr)}
            nbrs[v] = keydict
            self._pred[v][u] = keydict
        return key

    def remove_node(self, n: str) -> None:
        try:
            nbrs = self._succ[n]
            del self._node[n]
        except KeyError:
            raise KeyError(f"node {n!r} is not in the graph") from None
        for v in nbrs:
            del self._pred[v][n]
        del self._succ[n]
        for u in self._pred[n]:
            del self._succ[u][n]
        del self._pred[n]

    def remove_nodes_from(self, nodes) -> None:
        for n in list(nodes):
            if n in self._succ:
                self.remove_node(n)

    def remove_edges_from(self, ebunch) -> None:
        """``(u, v)`` removes one edge between them (the last added), ``(u, v, key)`` that key's
        edge; edges not in the graph are ignored (networkx's ``remove_edges_from``)."""
        for e in ebunch:
            u, v = e[0], e[1]
            keydict = self._succ.get(u, {}).get(v)
            if keydict is None:
                continue
            if len(e) > 2 and e[2] is not None:
                if e[2] not in keydict:
                    continue
                del keydict[e[2]]
            else:
                keydict.popitem()
            if not keydict:
                del self._succ[u][v]
                del self._pred[v][u]

    def edges(self, data: bool = False):
        for u, nbrs in self._succ.items():
            for v, keydict in nbrs.items():
                for d in keydict.values():
                    yield (u, v, d) if data else (u, v)

    def out_edges(self, n: str, data: bool = False):
        for v, keydict in self._succ[n].items():
            for d in keydict.values():
                yield (n, v, d) if data else (n, v)

    def in_edges(self, n: str, data: bool = False):
        for u, keydict in self._pred[n].items():
            for d in keydict.values():
                yield (u, n, d) if data else (u, n)

    def to_networkx(self):
        """The same graph as a ``networkx.MultiDiGraph`` (same dicts, same iteration order)."""
        import networkx as nx

        g = nx.MultiDiGraph()
        if getattr(g, "_succ", None) is getattr(g, "_adj", False) and isinstance(getattr(g, "_pred", None), dict) \
                and isinstance(getattr(g, "_node", None), dict):
            g._node.update(self._node)
            g._succ.update(self._succ)
            g._pred.update(self._pred)
            return g
        # pragma: no cover - a networkx whose layout differs: rebuild through its public API
        g.add_nodes_from(self._node.items())
        for u, v, key, d in ((u, v, k, d) for u, nbrs in self._succ.items()
                             for v, kd in nbrs.items() for k, d in kd.items()):
            g.add_edge(u, v, key=key, **d)
        return g


def make_node_id(kind: str, path: str, line: int, name: str) -> str:
    return f"{kind}:{path}:{line}:{name}"


class ProgramGraph:
    """Graph of one program (an entry file plus the local files it imports).

    ``root`` is the directory that node paths are relative to; ``files`` lists the parsed
    files (relative paths); ``entry`` is the entry file's relative path.
    """

    def __init__(self, root: str = ".", entry: str | None = None):
        self._g: Any = Adjacency()  # a networkx.MultiDiGraph once .g was asked for
        self.root = root
        self.entry = entry
        self.files: list[str] = []
        self.unresolved: list[dict[str, Any]] = []  # things the builder could not resolve
        self.file_hashes: dict[str, str] = {}  # relpath -> sha256 of the parsed text (cache keys)
        #: the command line the graph's values were computed for (None: the program's defaults)
        self.argv: list[str] | None = None

    @property
    def g(self):
        """The graph as a ``networkx.MultiDiGraph`` (networkx is imported on first access; the
        graph is kept in that object from then on, so changes made through it are seen here)."""
        if isinstance(self._g, Adjacency):
            self._g = self._g.to_networkx()
        return self._g

    @g.setter
    def g(self, value) -> None:
        self._g = value

    @property
    def store(self):
        """The graph's own storage for the analyzer's use: an :class:`Adjacency` until someone
        asked for :attr:`g`, the ``networkx.MultiDiGraph`` after that (both answer ``nodes[id]``,
        ``in``, ``add_node``/``add_edge``, ``remove_node(s_from)``, ``remove_edges_from``)."""
        return self._g

    # ---------------------------------------------------------------- building
    def add_node(
        self,
        kind: str,
        name: str,
        span: Span,
        snippet: str = "",
        node_id: str | None = None,
        **attrs: Any,
    ) -> str:
        if kind not in NODE_KINDS:
            raise ValueError(f"unknown node kind {kind!r}")
        nid = node_id or make_node_id(kind, span.path, span.line, name)
        base, n = nid, 2
        while nid in self._g and node_id is None:  # same kind/name on one line: disambiguate
            nid = f"{base}#{n}"
            n += 1
        self._g.add_node(nid, kind=kind, name=name, span=span, snippet=snippet, attrs=dict(attrs))
        return nid

    def add_edge(self, src: str, dst: str, kind: str, **attrs: Any) -> None:
        if kind not in EDGE_KINDS:
            raise ValueError(f"unknown edge kind {kind!r}")
        if src not in self._g or dst not in self._g:
            raise KeyError(f"edge {src!r} -> {dst!r}: unknown node")
        self._g.add_edge(src, dst, key=kind if kind != "flow" else None, kind=kind, **attrs)

    def set_attr(self, node_id: str, **attrs: Any) -> None:
        self._g.nodes[node_id]["attrs"].update(attrs)

    # ---------------------------------------------------------------- reading
    def __contains__(self, node_id: str) -> bool:
        return node_id in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def node(self, node_id: str) -> Node:
        d = self._g.nodes[node_id]
        return Node(node_id, d["kind"], d["name"], d["span"], d["snippet"], d["attrs"])

    def nodes(self, kind: str | None = None, **where: Any) -> list[Node]:
        """Nodes of ``kind`` (all when None) whose attrs match every ``where`` item,
        in source order (path, line, column)."""
        out = []
        for nid, d in self._g.nodes(data=True):
            if kind is not None and d["kind"] != kind:
                continue
            if any(d["attrs"].get(k) != v for k, v in where.items()):
                continue
            out.append(Node(nid, d["kind"], d["name"], d["span"], d["snippet"], d["attrs"]))
        out.sort(key=lambda n: (n.span.path, n.span.line, n.span.column, n.id))
        return out

    def edges(self, kind: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for u, v, d in self._g.edges(data=True):
            if kind is None or d["kind"] == kind:
                yield u, v, d

    def successors(self, node_id: str, kind: str | None = None) -> list[Node]:
        seen, out = set(), []
        for _, v, d in self._g.out_edges(node_id, data=True):
            if (kind is None or d["kind"] == kind) and v not in seen:
                seen.add(v)
                out.append(self.node(v))
        return out

    def predecessors(self, node_id: str, kind: str | None = None) -> list[Node]:
        seen, out = set(), []
        for u, _, d in self._g.in_edges(node_id, data=True):
            if (kind is None or d["kind"] == kind) and u not in seen:
                seen.add(u)
                out.append(self.node(u))
        return out

    def flow(self, module_class_id: str) -> list[Node]:
        """The forward data flow of a module class: its layers/ops in call order."""
        items = [
            (d.get("order", 0), self.node(v))
            for u, v, d in self._g.out_edges(module_class_id, data=True)
            if d["kind"] == "contains" and "order" in d
        ]
        return [n for _, n in sorted(items, key=lambda t: t[0])]

    def layer_for_path(self, owner_id: str, module_path: str) -> Node | None:
        """The layer of ``owner_id`` (a module_class or model id) that a runtime
        ``named_modules()`` name denotes, following ``class_ref`` into local sub-module
        classes (``block.fc`` -> the ``fc`` layer of the class of ``block``). Layers built
        in loops carry ``*`` for the index they get at run time (``blocks.*``), which
        matches any one path segment."""
        return self._layer_for_path(owner_id, module_path.split(".") if module_path else [], 0)

    def _layer_for_path(self, owner_id: str, parts: list[str], depth: int) -> Node | None:
        if not parts or depth > 12 or owner_id not in self._g:
            return None
        owners = [owner_id]
        seen = {owner_id}
        i = 0
        while i < len(owners):  # the owner and its local base classes
            for b in self._g.nodes[owners[i]]["attrs"].get("local_bases") or []:
                if b in self._g and b not in seen:
                    seen.add(b)
                    owners.append(b)
            i += 1
        layers = [n for o in owners for n in self.nodes("layer", owner=o)]
        best: tuple[int, Node | None] = (-1, None)
        for n in layers:
            mp = (n.get("module_path") or "").split(".")
            k = len(mp)
            if k > len(parts) or not all(a == b or a == "*" for a, b in zip(mp, parts[:k])):
                continue
            score = k * 2 - mp.count("*")
            if k == len(parts):
                if score > best[0]:
                    best = (score, n)
            elif n.get("class_ref"):
                sub = self._layer_for_path(n["class_ref"], parts[k:], depth + 1)
                if sub is not None and score > best[0]:
                    best = (score, sub)
        return best[1]

    def at_line(self, path: str, line: int) -> list[Node]:
        return [n for n in self.nodes() if n.span.path == path and n.span.line <= line <= n.span.end_line]

    # ---------------------------------------------------------------- serialising
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "root": self.root,
            "entry": self.entry,
            "files": list(self.files),
            "nodes": [n.to_dict() for n in self.nodes()],
            "edges": [
                {"source": u, "target": v, **{k: val for k, val in d.items()}}
                for u, v, d in sorted(self._g.edges(data=True), key=lambda e: (e[0], e[1], e[2]["kind"]))
            ],
            "unresolved": list(self.unresolved),
            "file_hashes": dict(self.file_hashes),
            **({"argv": list(self.argv)} if self.argv is not None else {}),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=_json_default)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProgramGraph":
        schema = data.get("schema")
        if schema != SCHEMA:
            raise ValueError(f"unsupported graph schema {schema!r} (expected {SCHEMA!r})")
        pg = cls(root=data.get("root", "."), entry=data.get("entry"))
        pg.files = list(data.get("files", []))
        pg.unresolved = list(data.get("unresolved", []))
        pg.file_hashes = dict(data.get("file_hashes", {}))
        pg.argv = list(data["argv"]) if data.get("argv") is not None else None
        for n in data["nodes"]:
            pg._g.add_node(
                n["id"], kind=n["kind"], name=n["name"], span=Span.from_dict(n["span"]),
                snippet=n.get("snippet", ""), attrs=dict(n.get("attrs", {})),
            )
        for e in data["edges"]:
            e = dict(e)
            u, v = e.pop("source"), e.pop("target")
            pg._g.add_edge(u, v, **e)
        return pg

    @classmethod
    def from_json(cls, text: str) -> "ProgramGraph":
        return cls.from_dict(json.loads(text))

    def to_dot(self) -> str:
        lines = ["digraph faultlens {", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
        for n in self.nodes():
            label = f"{n.kind}\\n{n.name}\\n{n.span.path}:{n.span.line}"
            lines.append(f"  {_dot_quote(n.id)} [label={_dot_quote(label)}];")
        for u, v, d in self.edges():
            lines.append(f"  {_dot_quote(u)} -> {_dot_quote(v)} [label={_dot_quote(d['kind'])}];")
        lines.append("}")
        return "\n".join(lines) + "\n"


def _dot_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n") + '"'


def _json_default(o: Any) -> Any:
    if isinstance(o, Span):
        return o.to_dict()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return repr(o)


def iter_kinds(nodes: Iterable[Node], *kinds: str) -> Iterator[Node]:
    for n in nodes:
        if n.kind in kinds:
            yield n
