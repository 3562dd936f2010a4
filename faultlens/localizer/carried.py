"""Where a tensor carries one backward's graph into another: the statement a ``.detach()`` belongs to.

PyTorch frees a graph's saved tensors when ``backward()`` runs over it; a second backward that
reaches the same graph raises "Trying to backward through the graph a second time" (the autograd
mechanics notes of the PyTorch docs). In training programs two shapes of code do this, and the
statement to change is not the one that raised:

- **state carried across iterations**: a recurrent hidden state (or any tensor) that a model
  computes in one iteration and reads in the next (``out, hidden = rnn(x, hidden)``). The next
  iteration's loss reaches back into the previous iteration's freed graph. The statement that
  carries it is the assignment that produces the state from the model;
- **one output fed to two losses**: a tensor computed once (a GAN's ``fake = netG(noise)``) is used
  by an earlier loss, backwarded first, and by a later one. The statement to change is the earlier
  loss's use of it (``netD(fake)`` where ``netD(fake.detach())`` was meant).

:func:`carried_statements` finds them by a plain data-flow walk over the loop body that holds the
failing ``backward()`` (statements in source order; names read and written), using the program
graph's module variables (models and layers) to tell tensors that carry a graph from plain data.
It is a static approximation: state kept in attributes (``self.hidden``) is not followed.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from faultlens.localizer import source as src

__all__ = ["Carried", "carried_statements"]


@dataclass(frozen=True)
class Carried:
    stmt: ast.stmt
    #: ``state`` (carried across iterations) or ``shared`` (one output fed to two backwarded losses)
    kind: str
    #: the variable that carries the graph
    name: str


@dataclass
class _Stmt:
    node: ast.stmt
    reads: set[str]
    writes: set[str]
    #: a plain assignment replaces its targets (``x += ...`` reads and writes them)
    kills: bool


#: attributes whose value no longer carries its tensor's graph
_CUT = ("detach", "detach_", "item", "tolist", "numpy", "data")


def _names(node: ast.AST | None, ctx: type) -> set[str]:
    """Names stored (``ast.Store``) or read (``ast.Load``) in ``node``; a read through
    ``x.detach()``, ``x.item()``, ``x.data`` ... is not a read of ``x``'s graph and is left out."""
    if node is None:
        return set()
    cut = {id(n.value) for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr in _CUT}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx) and id(n) not in cut}


def _flatten(body: list[ast.stmt]) -> list[_Stmt]:
    """The simple statements of a loop body in source order (nested blocks opened, nested
    function and class definitions skipped); a compound statement's header counts as a read."""
    out: list[_Stmt] = []
    for st in body:
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(st, (ast.For, ast.AsyncFor)):
            out.append(_Stmt(st, _names(st.iter, ast.Load), _names(st.target, ast.Store), True))
            out.extend(_flatten(st.body) + _flatten(st.orelse))
        elif isinstance(st, (ast.While, ast.If)):
            out.append(_Stmt(st, _names(st.test, ast.Load), set(), False))
            out.extend(_flatten(st.body) + _flatten(st.orelse))
        elif isinstance(st, (ast.With, ast.AsyncWith)):
            heads = [i.context_expr for i in st.items]
            out.append(_Stmt(st, set().union(*(_names(h, ast.Load) for h in heads)),
                             set().union(*(_names(i.optional_vars, ast.Store) for i in st.items)), True))
            out.extend(_flatten(st.body))
        elif isinstance(st, ast.Try):
            out.extend(_flatten(st.body))
            for h in st.handlers:
                out.extend(_flatten(h.body))
            out.extend(_flatten(st.orelse) + _flatten(st.finalbody))
        elif isinstance(st, ast.AugAssign):
            t = _names(st.target, ast.Store)
            out.append(_Stmt(st, _names(st.value, ast.Load) | t, t, False))
        else:
            out.append(_Stmt(st, _names(st, ast.Load), _names(st, ast.Store), isinstance(st, (ast.Assign, ast.AnnAssign))))
    return out


def _closure(stmts: list[_Stmt], names: set[str], end: int) -> tuple[list[int], set[str]]:
    """The statements before index ``end`` that ``names`` depend on (walked back to the body's
    top), and the names still unresolved there (read before any write in the iteration)."""
    frontier = set(names)
    deps: list[int] = []
    for i in range(end - 1, -1, -1):
        s = stmts[i]
        if isinstance(s.node, (ast.For, ast.AsyncFor, ast.While, ast.If)) and not (s.writes & frontier):
            continue
        if s.writes & frontier:
            deps.append(i)
            if s.kills:
                frontier -= s.writes
            frontier |= s.reads
    return deps, frontier


def _calls_module(node: ast.AST, modules: set[str]) -> bool:
    """The statement calls one of the program's modules (``netG(z)``, ``self.rnn(x, h)`` counts
    by its last attribute) without detaching the result."""
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and n.attr in _CUT:
            return False
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            name = f.id if isinstance(f, ast.Name) else (f.attr if isinstance(f, ast.Attribute) else None)
            if name in modules:
                return True
    return False


def _backward_receiver(st: ast.stmt) -> set[str]:
    for n in ast.walk(st):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "backward":
            return _names(n.func.value, ast.Load)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "grad" \
                and isinstance(n.func.value, ast.Name) and n.func.value.id == "autograd" and n.args:
            return _names(n.args[0], ast.Load)
    return set()


def _innermost_loop(tree: ast.AST, line: int) -> ast.stmt | None:
    best = None
    for n in ast.walk(tree):
        if isinstance(n, (ast.For, ast.AsyncFor, ast.While)) and n.lineno <= line <= (n.end_lineno or n.lineno):
            if best is None or n.lineno >= best.lineno:
                best = n
    return best


def carried_statements(path: str, backward_line: int, modules: set[str]) -> list[Carried]:
    """The statements where a graph is carried into the ``backward()`` at ``backward_line`` (the
    line that raised the freed-graph error), most specific first; empty when none is found."""
    _, tree = src.parse(path)
    if tree is None:
        return []
    loop = _innermost_loop(tree, backward_line)
    if loop is None:
        return []
    stmts = _flatten(loop.body)
    at = next((i for i, s in enumerate(stmts) if s.node.lineno <= backward_line <= (s.node.end_lineno or s.node.lineno)
               and not isinstance(s.node, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith))), None)
    if at is None:
        return []
    loss = _backward_receiver(stmts[at].node)
    if not loss:
        return []
    deps, unresolved = _closure(stmts, loss, at)
    out: list[Carried] = []
    # one output fed to two losses: an earlier backward in the same iteration whose loss shares a
    # module-computed tensor with this one; the earlier loss's use of it is where to detach
    for j in range(at - 1, -1, -1):
        if isinstance(stmts[j].node, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith)):
            continue
        other = _backward_receiver(stmts[j].node)
        if not other:
            continue
        deps0, _ = _closure(stmts, other, j)
        shared = [i for i in deps0 if i in deps and _calls_module(stmts[i].node, modules)]
        for i in sorted(shared):
            for name in sorted(stmts[i].writes):
                users = [k for k in sorted(deps0) if k not in deps and k > i and name in stmts[k].reads]
                for k in users[:1]:
                    c = Carried(stmts[k].node, "shared", name)
                    if c not in out:
                        out.append(c)
        if out:
            return out
    # state carried across iterations: a name the loss reads before the iteration writes it,
    # written in the loop body from a module's output
    # (the iteration's last write of it decides: ``h = h.detach()`` after the model call cuts it)
    for name in sorted(unresolved):
        writers = [s for s in stmts if name in s.writes]
        last = writers[-1] if writers else None
        if last is not None and not isinstance(last.node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)) \
                and _calls_module(last.node, modules):
            out.append(Carried(last.node, "state", name))
    return out
