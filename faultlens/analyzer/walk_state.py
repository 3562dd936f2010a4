"""What the statement walk carries and records: the context of a statement (:class:`Ctx`), a
call being walked (:class:`CallAt`), and the loops, calls and call relations it found
(:class:`WalkRecord`), which the finishing pass reads."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from faultlens.analyzer.index import ClassInfo, Scope


@dataclass
class Ctx:
    """Where a statement sits: its scope, enclosing loop and grad-context node ids (outer
    first), whether it is in a closure passed to ``optimizer.step``, the parameter loops'
    variables (``p`` -> the ``model.parameters()`` call) and the module class it is in."""

    scope: Scope
    loops: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    in_closure: bool = False
    loop_vars: dict[str, cst.CSTNode] = field(default_factory=dict)
    module_class: ClassInfo | None = None

    def inner(self, **changes) -> "Ctx":
        """A copy for a nested block (its lists and dict copied), with ``changes`` applied."""
        fields = dict(scope=self.scope, loops=list(self.loops), contexts=list(self.contexts),
                      in_closure=self.in_closure, loop_vars=dict(self.loop_vars), module_class=self.module_class)
        fields.update(changes)
        return Ctx(**fields)


@dataclass
class CallAt:
    """A call being walked: the call, its statement and context, the enclosing loop/context
    node ids (``parents``), the variable its result is assigned to, and the statement's position."""

    call: cst.Call
    stmt: cst.CSTNode
    ctx: Ctx
    parents: list[str]
    result: str | None
    pos: tuple[int, int]


@dataclass
class LoopInfo:
    stmt: cst.CSTNode             # the for/while statement
    scope: Scope
    outer: list[str]              # enclosing loop ids, outer first
    pos: tuple[int, int]


@dataclass
class CallRecord:
    """A call node the walk made (``method`` as in the node's attrs)."""

    id: str
    method: str
    scope: Scope
    pos: tuple[int, int]
    call: cst.Call | None
    result: str | None
    receiver: str


@dataclass
class WalkRecord:
    loops: dict[str, LoopInfo] = field(default_factory=dict)     # loop id -> info, in walk order
    calls: list[CallRecord] = field(default_factory=list)
    loop_fn_calls: dict[str, list[Scope]] = field(default_factory=dict)  # loop id -> local functions called in it
    fn_fn_calls: dict[int, list[Scope]] = field(default_factory=dict)    # id(scope) -> local functions it calls
    scope_top: dict[int, list[str]] = field(default_factory=dict)        # id(scope) -> its top-level node ids
    closures: set[int] = field(default_factory=set)   # id(function scope) passed to optimizer.step
    init_fns: set[int] = field(default_factory=set)   # id(function scope) passed to .apply
    # candidates of a loop that computes its gradients by hand (no autograd), kept until the
    # whole program is walked (``StatementWalker._hand_derived``): ``w -= lr * grad_w``
    # updates (stmt, ctx, parents, target, lr expression) and ``loss = ...`` assignments
    # (stmt, ctx, parents, name)
    hand_updates: list[tuple[Any, Any, list[str], str, Any]] = field(default_factory=list)
    hand_losses: list[tuple[Any, Any, list[str], str]] = field(default_factory=list)
    # ``loss = loss_fn(pred, y)`` with ``loss_fn`` a function of the program: (call, local
    # function) kept until the walk has seen the ``backward()`` calls (``_user_fn_losses``)
    fn_losses: list[tuple[Any, Any]] = field(default_factory=list)

    def top(self, scope: Scope, nid: str) -> None:
        self.scope_top.setdefault(id(scope), []).append(nid)

    def fn_call(self, ctx: Ctx, fn: Scope) -> None:
        """A call of local function ``fn`` from ``ctx`` (its scope and every enclosing loop)."""
        self.fn_fn_calls.setdefault(id(ctx.scope), []).append(fn)
        for lid in ctx.loops:
            self.loop_fn_calls.setdefault(lid, []).append(fn)
