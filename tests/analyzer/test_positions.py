"""faultlens.analyzer.positions gives exactly libcst's PositionProvider map."""
from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from faultlens.analyzer.positions import node_positions

# every statement and expression kind, odd whitespace, comments, decorators, continuation
# lines, CRLF-free multi-line strings, f-strings, walrus, match, async, lambda, star targets
KITCHEN_SINK = textwrap.dedent('''\
    #!/usr/bin/env python
    """Module docstring
    on two lines."""
    from __future__ import annotations
    import os, sys as _sys
    from . import  x   # comment
    from a.b import (c,
                     d as e)

    @decorator(1,
               key="v")
    @other
    class K(Base, metaclass=Meta):
        attr: int = 1
        def m(self, a, /, b=2, *args, c, d=3, **kw) -> "K":
            global G
            nonlocal_ = lambda q, *r, **s: (q, r, s)
            if (n := len(args)) > 1 and not b or c is None:
                return [i ** 2 for i in range(n) if i % 2]
            elif b in {1, 2}:
                yield from (j for j in args)
            else:
                pass
            try:
                raise ValueError(f"{a!r:>10} and {b}") from None
            except (ValueError, TypeError) as exc:
                del exc
            finally:
                assert a, "msg"
            try:
                ...
            except* OSError:
                pass
            with open("f") as fh, open("g"):
                x = y = fh.read()[1:2, ::3]
            while True:
                break
            else:
                continue
            for k, *rest in {"a": 1}.items():
                x += 1; x -= 2
            return \\
                None

    async def coro():
        async with ctx() as v:
            await v
        async for z in gen():
            print(z, sep="", end='')
        return {**{}, "k": [*(), 1]}

    match command.split():
        case [action]:
            pass
        case [action, obj] if obj:
            pass
        case Point(x=0, y=0) | {"k": _} | None:
            pass
        case _:
            pass

    t = (1,) + (2, 3)[0:1]; u = -x if x else ~x
    s = b"bytes" b"concat", r"raw"
    v: list[int]
    print(*t, **{}); del t[0]
    ''')


def _same(source: str) -> None:
    module = cst.parse_module(source)
    ref = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    mine = node_positions(module)
    assert len(mine) == len(ref)
    for node, rng in ref.items():
        assert mine[node] == rng, (type(node).__name__, rng, mine[node])
        assert mine.get(node) == rng and node in mine


def test_kitchen_sink_matches_position_provider():
    _same(KITCHEN_SINK)


@pytest.mark.parametrize("source", ["", "\n", "x = 1", "x = 1\r\ny = 2\r\n", "if x:\n\ty = 1\n", "# only a comment"])
def test_edge_cases_match(source):
    _same(source)


def test_faultlens_sources_match():
    root = Path(__file__).resolve().parents[2] / "faultlens" / "analyzer"
    for path in sorted(root.glob("*.py"))[:8]:
        _same(path.read_text())


def test_trusted_parse_builds_the_same_tree_and_restores_validation():
    import gc

    from faultlens.analyzer.positions import gc_paused, trusted_parse

    with trusted_parse():
        fast = cst.parse_module(KITCHEN_SINK)
    assert fast.deep_equals(cst.parse_module(KITCHEN_SINK)) and fast.code == KITCHEN_SINK
    with pytest.raises(cst.CSTValidationError):   # nodes built afterwards are validated again
        cst.Name("not a name")
    was = gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled() == was
