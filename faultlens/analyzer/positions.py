"""Node positions of a libcst module, the same map ``PositionProvider`` gives, computed faster.

``MetadataWrapper.resolve(PositionProvider)`` costs about three times the parse on a large
file: it code-generates the module once with a state that records every node's start and
end (that part is needed), then walks the whole tree a second time with an empty list of
batched visitors (libcst's resolver always runs the batched pass, even with nothing to batch)
and copies the result into a read-only mapping. Here the code generation runs once, with a
leaner state: token positions advance without a regular expression unless the token holds a
newline, the syntactic-position context manager is a small class instead of a generator, and
positions are kept as tuples and turned into ``CodeRange`` objects only when asked for.

The semantics are libcst's own (``libcst.metadata.position_provider``: a node's range is
recorded after its code generation unless ``record_syntactic_position`` already set it,
``start_node``/``end_node`` hoist a child's start/end). ``tests/analyzer`` compares the two
maps node for node on a source using every statement and expression kind; where libcst's
code generation state is not what this module expects, :func:`node_positions` falls back to
the public resolver.

Two more helpers for the same pass over a large file: :func:`trusted_parse` (build a parse's
nodes without libcst's per-node re-validation) and :func:`gc_paused` (no cyclic collections
while the tree and the graph's indexes grow).
"""
from __future__ import annotations

import gc
import re
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any, Iterator

import libcst as cst
from libcst._position import CodePosition, CodeRange
from libcst.metadata import MetadataWrapper, PositionProvider

try:  # libcst's code generation state (private, stable across libcst 1.x)
    from libcst._nodes.internal import CodegenState as _CodegenState
except ImportError:  # pragma: no cover - a libcst without it: use the public resolver
    _CodegenState = None  # type: ignore[assignment,misc]

_NEWLINE = re.compile(r"\r\n?|\n")


class Positions(Mapping):
    """``node -> CodeRange`` (libcst's ``PositionProvider`` ranges), built lazily from tuples."""

    __slots__ = ("_raw",)

    def __init__(self, raw: dict):
        self._raw = raw

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        sl, sc, el, ec = self._raw[node]
        return CodeRange(CodePosition(sl, sc), CodePosition(el, ec))

    def get(self, node: Any, default: Any = None) -> Any:
        t = self._raw.get(node)
        if t is None:
            return default
        return CodeRange(CodePosition(t[0], t[1]), CodePosition(t[2], t[3]))

    def __contains__(self, node: object) -> bool:
        return node in self._raw

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


class _Syntactic:
    """``with state.record_syntactic_position(node, start_node=..., end_node=...)``."""

    __slots__ = ("state", "node", "start_node", "end_node", "line", "column")

    def __init__(self, state: "_State", node, start_node, end_node):
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node

    def __enter__(self) -> None:
        self.line, self.column = self.state.line, self.state.column

    def __exit__(self, *exc: object) -> bool:
        st = self.state
        raw = st.raw
        if self.start_node is not None:
            s = raw[self.start_node]
            sl, sc = s[0], s[1]
        else:
            sl, sc = self.line, self.column
        if self.end_node is not None:
            e = raw[self.end_node]
            el, ec = e[2], e[3]
        else:
            el, ec = st.line, st.column
        raw[self.node] = (sl, sc, el, ec)
        return False


if _CodegenState is not None:
    class _State(_CodegenState):  # type: ignore[misc,valid-type]
        __slots__ = ("line", "column", "stack", "raw")

        def __init__(self, module: cst.Module):
            super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
            self.line = 1       # one-based
            self.column = 0     # zero-based, as in libcst
            self.stack: list = []
            self.raw: dict = {}

        def _advance(self, value: str) -> None:
            if "\n" in value or "\r" in value:
                segments = _NEWLINE.split(value)
                self.line += len(segments) - 1
                self.column = len(segments[-1])
            else:
                self.column += len(value)

        def add_indent_tokens(self) -> None:
            self.tokens.extend(self.indent_tokens)
            for token in self.indent_tokens:
                self._advance(token)

        def add_token(self, value: str) -> None:
            self.tokens.append(value)
            self._advance(value)

        def before_codegen(self, node: cst.CSTNode) -> None:
            self.stack.append((self.line, self.column))

        def after_codegen(self, node: cst.CSTNode) -> None:
            sl, sc = self.stack.pop()
            if node not in self.raw:      # a syntactic position recorded inside wins
                self.raw[node] = (sl, sc, self.line, self.column)

        def record_syntactic_position(self, node, *, start_node=None, end_node=None):  # type: ignore[override]
            return _Syntactic(self, node, start_node, end_node)


def node_positions(module: cst.Module) -> Mapping:
    """The positions of every node of ``module`` (what ``PositionProvider`` resolves)."""
    if _CodegenState is not None:
        try:
            state = _State(module)
            module._codegen(state)
            return Positions(state.raw)
        except (TypeError, AttributeError):  # pragma: no cover - libcst internals changed
            pass
    return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


@contextmanager
def trusted_parse() -> Iterator[None]:
    """Build the nodes of a parse without libcst's per-node validation.

    Every libcst node checks its own constraints in ``__post_init__`` (``_validate``: legal
    whitespace, matching parentheses, ...); that is a quarter of ``parse_module``'s time, and it
    re-checks what the parser already established: the parser only produces valid trees. The
    tree is the same either way (``tests/analyzer`` compares them); nodes built outside a parse
    are validated as always once the block ends."""
    base = cst.CSTNode
    saved = base.__dict__.get("__post_init__")
    if saved is None:  # pragma: no cover - a libcst without the hook: nothing to skip
        yield
        return
    base.__post_init__ = _no_validation  # type: ignore[method-assign]
    try:
        yield
    finally:
        base.__post_init__ = saved  # type: ignore[method-assign]


def _no_validation(self: cst.CSTNode) -> None:
    return None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Suspend the cyclic garbage collector while a file is analysed.

    Parsing and indexing allocate millions of long-lived objects (the tree, its positions, the
    graph's indexes) and few cycles to free; each collection walks the objects still young, so
    on a large file the collector took about a quarter of the time for nothing. Reference
    counting still frees everything that is not in a cycle; cycles wait until the block ends,
    where the collector is resumed as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
