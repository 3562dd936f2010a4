"""Static analyzer: parse a training program into a :class:`ProgramGraph` (docs/graph.md).

``build_graph(path_or_source, *, root=None)`` is the entry function; it never imports torch.
"""
from faultlens.analyzer.build import build_graph
from faultlens.analyzer.graph import EDGE_KINDS, NODE_KINDS, SCHEMA, Node, ProgramGraph, Span

__all__ = ["build_graph", "ProgramGraph", "Node", "Span", "NODE_KINDS", "EDGE_KINDS", "SCHEMA"]
