"""Small read-only helpers over libcst trees, shared by the analyzer's passes."""
from __future__ import annotations

from typing import Iterator

import libcst as cst

from faultlens.analyzer.names import child_nodes, dotted, iter_nodes, mentions_attr

#: methods that return the object they are called on (``Net().to(device)``)
WRAPPERS = {"to", "cuda", "cpu", "double", "float", "half", "bfloat16", "train", "eval", "fit",
            "requires_grad_", "share_memory"}
#: callables that wrap the iterable of a ``for`` loop (``enumerate(loader)``)
ITER_WRAPPERS = {"enumerate", "tqdm", "tqdm.tqdm", "iter", "zip", "list", "tqdm.auto.tqdm", "trange"}


def body_of(node) -> list:
    """The statements of a compound statement's body (empty for anything else)."""
    body = getattr(node, "body", None)
    if isinstance(body, (cst.IndentedBlock, cst.SimpleStatementSuite)):
        return list(body.body)
    return []


def stmt_exprs(st) -> list:
    """The expressions a small statement evaluates (its value, an assert's test)."""
    if isinstance(st, (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Expr, cst.Return)):
        return [st.value] if st.value is not None else []
    if isinstance(st, cst.Assert):
        return [st.test]
    return []


def iter_calls(expr: cst.CSTNode, in_arg: bool = False) -> Iterator[tuple[cst.Call, bool]]:
    """Calls in ``expr`` in evaluation order (callee/receiver, then arguments, then the call).
    The flag says whether the call sits inside another call's argument list."""
    if isinstance(expr, cst.Call):
        yield from iter_calls(expr.func, in_arg)
        for a in expr.args:
            yield from iter_calls(a.value, True)
        yield expr, in_arg
        return
    if isinstance(expr, (cst.FunctionDef, cst.ClassDef)):
        return
    for child in child_nodes(expr):
        yield from iter_calls(child, in_arg)


def iter_returns(fn) -> Iterator[cst.Return]:
    """The ``return`` statements of a function (not those of functions nested in it)."""
    return (n for n in iter_nodes(fn, skip_defs=True) if isinstance(n, cst.Return))


def unwrap_call(expr):
    """Strip ``.to(device)`` / ``.cuda()`` / ``.float()`` ... from a constructor call."""
    while (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)
           and expr.func.attr.value in WRAPPERS and isinstance(expr.func.value, cst.Call)):
        expr = expr.func.value
    return expr


def unwrap_iter(expr):
    """``enumerate(tqdm(loader))`` -> ``loader``."""
    while isinstance(expr, cst.Call) and dotted(expr.func) in ITER_WRAPPERS:
        pa = [a.value for a in expr.args if not a.keyword]
        if not pa:
            break
        expr = pa[0]
    return expr


def unwrap_list(expr):
    """``list(tuple(x))`` -> ``x``."""
    while isinstance(expr, cst.Call) and dotted(expr.func) in ("list", "tuple") and expr.args:
        expr = expr.args[0].value
    return expr


def int_literal(e):
    """The value of an integer literal (``3``, ``-1``), else None."""
    if isinstance(e, cst.Integer):
        return int(e.value)
    if isinstance(e, cst.UnaryOperation) and isinstance(e.operator, cst.Minus) and isinstance(e.expression, cst.Integer):
        return -int(e.expression.value)
    return None


def reads_name(expr, name: str) -> bool:
    """``expr`` reads the variable ``name`` (``lr * 0.9``; not the attribute of ``args.lr``)."""
    attrs = {id(n.attr) for n in iter_nodes(expr) if isinstance(n, cst.Attribute)}
    return any(isinstance(n, cst.Name) and n.value == name and id(n) not in attrs for n in iter_nodes(expr))


def mentions_grad(node) -> bool:
    """``node`` reads a ``.grad`` attribute."""
    return mentions_attr(node, "grad")
