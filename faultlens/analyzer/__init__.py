"""Static analyzer: parse a training program into a :class:`ProgramGraph` (docs/graph.md).

``build_graph(path_or_source, *, root=None)`` is the entry function; it never imports torch.
Attributes load lazily, so importing a submodule (``faultlens.analyzer.commands``,
``faultlens.analyzer.lint``) does not pull in libcst/networkx until they are needed.
"""
from __future__ import annotations

from faultlens._lazy import lazy_exports

_LAZY = {
    "build_graph": "faultlens.analyzer.build",
    "ProgramGraph": "faultlens.analyzer.graph",
    "Node": "faultlens.analyzer.graph",
    "Span": "faultlens.analyzer.graph",
    "NODE_KINDS": "faultlens.analyzer.graph",
    "EDGE_KINDS": "faultlens.analyzer.graph",
    "SCHEMA": "faultlens.analyzer.graph",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
