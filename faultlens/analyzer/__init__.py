"""Static analyzer: parse a training program into a :class:`ProgramGraph` (docs/graph.md).

``build_graph(path_or_source, *, root=None)`` is the entry function; it never imports torch.
Attributes load lazily, so importing a submodule (``faultlens.analyzer.commands``,
``faultlens.analyzer.lint``) does not pull in libcst/networkx until they are needed.
"""
from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'faultlens.analyzer' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
