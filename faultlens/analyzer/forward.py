"""The forward flow of module classes: which layers and ops ``forward`` calls, in order (the
``forward`` attribute, ``contains`` edges with ``order``, ``flow`` edges; docs/graph.md)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import libcst as cst

from faultlens.analyzer import names as N
from faultlens.analyzer.cst_util import body_of, int_literal, iter_calls, stmt_exprs, unwrap_iter
from faultlens.analyzer.index import ClassInfo, FileInfo, Scope
from faultlens.analyzer.names import dotted
from faultlens.analyzer.refs import External, LocalModule

if TYPE_CHECKING:
    from faultlens.analyzer.builder import Builder


def set_forward(g: Any, owner_id: str, items: list[str]) -> None:
    """Record ``items`` (layer/op ids in call order, repeats included) as the forward of
    ``owner_id`` (a module class, or a Sequential model)."""
    order = 0
    seen = set()
    for it in items:
        if it not in seen:
            seen.add(it)
            g.store.remove_edges_from([(owner_id, it, "contains")])
            g.add_edge(owner_id, it, "contains", order=order)
            order += 1
    for i in range(len(items) - 1):
        g.add_edge(items[i], items[i + 1], "flow", order=i)
    g.set_attr(owner_id, forward=list(items))
    for it in seen:
        a = g.store.nodes[it]["attrs"]
        a["forward_calls"] = items.count(it)


class ForwardFlow:
    """Builds the forward flow of each module class over the layers the layers pass emitted."""

    def __init__(self, b: "Builder"):
        self.b = b
        self.g = b.g

    def build(self, ci: ClassInfo) -> None:
        b = self.b
        fwd = ci.methods.get("forward")
        if ci.node_id is None:
            return
        if fwd is None:
            inherited = b.method_of(ci, "forward")
            if inherited is not None and inherited.cls is not None and inherited.cls.node_id:
                self.g.set_attr(ci.node_id, forward_from=inherited.cls.node_id)
            return
        items: list[str] = []
        self._block(ci, fwd, body_of(fwd.node), items, {}, [fwd.qualname])
        set_forward(self.g, ci.node_id, items)

    def _expand(self, lid: str) -> list[str]:
        return self.b.container_leaves.get(lid, [lid])

    def _block(self, ci, m: Scope, stmts, items, loopvars, stack) -> None:
        for st in stmts:
            if isinstance(st, cst.SimpleStatementLine):
                for sm in st.body:
                    for e in stmt_exprs(sm):
                        self._expr(ci, m, e, sm, items, loopvars, stack)
            elif isinstance(st, cst.For):
                lv = dict(loopvars)
                k = dotted(unwrap_iter(st.iter))
                if k and k.startswith("self."):
                    lid = self.b.layer_by_path(ci, k[5:])
                    if lid:
                        tk = dotted(st.target)
                        if tk is None and isinstance(st.target, cst.Tuple) and st.target.elements:
                            tk = dotted(st.target.elements[-1].value)
                        if tk:
                            lv[tk] = lid
                self._expr(ci, m, st.iter, st, items, loopvars, stack)
                self._block(ci, m, body_of(st), items, lv, stack)
            elif isinstance(st, cst.If):
                self._expr(ci, m, st.test, st, items, loopvars, stack)
                self._block(ci, m, body_of(st), items, loopvars, stack)
                o = st.orelse
                while o is not None:
                    self._block(ci, m, body_of(o), items, loopvars, stack)
                    o = o.orelse if isinstance(o, cst.If) else None
            elif isinstance(st, (cst.While, cst.With, cst.Try)):
                self._block(ci, m, body_of(st), items, loopvars, stack)

    def _inline(self, ci, meth: Scope, items, stack) -> bool:
        """Inline method ``meth`` (``self.helper(x)``, ``super().forward(x)``) on ``ci``'s layers;
        False when it is already being inlined (recursion) or the inlining is 8 deep."""
        if meth.qualname in stack or len(stack) >= 8:
            return False
        self._block(ci, meth, body_of(meth.node), items, {}, stack + [meth.qualname])
        return True

    def _expr(self, ci, m: Scope, expr, stmt, items, loopvars, stack) -> None:
        b = self.b
        fi = m.file
        for call, _ in iter_calls(expr):
            f = call.func
            k = dotted(f)
            if k is not None and k.startswith("self."):
                path = k[5:]
                lid = b.layer_by_path(ci, path)
                if lid is None and path.endswith(".forward"):
                    lid = b.layer_by_path(ci, path[: -len(".forward")])
                if lid:
                    items.extend(self._expand(lid))
                    continue
                meth = b.method_of(ci, path) if "." not in path else None
                if meth is not None and self._inline(ci, meth, items, stack):
                    continue
            if k is not None and k in loopvars:
                items.extend(self._expand(loopvars[k]))
                continue
            if isinstance(f, cst.Attribute) and isinstance(f.value, cst.Call) and dotted(f.value.func) == "super":
                # super().forward(x) / super().encode(x): inline the parent's method (looked up
                # from the class that defines the calling method), on this class's layers
                defining = m.cls if m.cls is not None else ci
                meth = None
                for base in defining.local_bases:
                    meth = b.method_of(base, f.attr.value)
                    if meth is not None:
                        break
                if meth is not None:
                    self._inline(ci, meth, items, stack)
                    continue
            if isinstance(f, cst.Subscript) and self._indexed_layer(ci, f, items):
                continue
            op = _op_of(b, fi, call)
            if op is not None:
                opname, qual, dim = op
                name = f"{ci.qualname}.{opname}"
                oid = b.add("op", name, fi, stmt, m, owner=ci.node_id, op=opname, qualname=qual, dim=dim,
                            expr_span=b.span(fi, call).to_dict(),
                            args={(a.keyword.value if a.keyword else str(i)): b.text(fi, a.value)
                                  for i, a in enumerate(call.args)})
                self.g.add_edge(ci.node_id, oid, "contains")
                items.append(oid)

    def _indexed_layer(self, ci, f: cst.Subscript, items) -> bool:
        """``self.blocks[0](x)`` / ``self.blocks[i](x)``: the indexed child of a container
        layer (all its children when the index is not a literal). False when not a layer."""
        bk = dotted(f.value)
        if not (bk and bk.startswith("self.")):
            return False
        lid = self.b.layer_by_path(ci, bk[5:])
        if not lid:
            return False
        leaves = self._expand(lid)
        sl = f.slice[0].slice if f.slice else None
        if isinstance(sl, cst.Index) and isinstance(sl.value, cst.Integer):
            idx = int(sl.value.value)
            nodes = self.g.store.nodes
            path = nodes[lid]["attrs"]["module_path"] + f".{idx}"
            match = [x for x in leaves if nodes[x]["attrs"]["module_path"] == path]
            items.extend(match or leaves)
        else:
            items.extend(leaves)
        return True


def _op_of(b: "Builder", fi: FileInfo, call: cst.Call):
    """(op name, qualname, dim) of a functional / tensor-method op call in forward, or None."""
    f = call.func
    k = dotted(f)
    q = b.ext(fi, k) if k else None
    if q is not None:
        last = q.split(".")[-1]
        if q.startswith("torch.nn.functional."):
            return last, q, _dim(call, N.DIM_INDEX_FUNCTION.get(last))
        if q.startswith("torch.") and q.count(".") == 1 and last in N.TORCH_FUNCTION_OPS:
            return last, q, _dim(call, N.DIM_INDEX_FUNCTION.get(last))
        return None
    if isinstance(f, cst.Attribute) and f.attr.value in N.TENSOR_METHOD_OPS:
        rk = dotted(f.value)
        # a method of ``self``, of a library or of a local module (``torch.max``), not a tensor's
        if rk is not None and (rk == "self" or rk.split(".")[0] != "x"
                               and isinstance(b.qualify(fi, rk.split(".")[0]), (External, LocalModule))):
            return None
        last = f.attr.value
        return last, f"Tensor.{last}", _dim(call, N.DIM_INDEX_METHOD.get(last))
    return None


def _dim(call: cst.Call, index: int | None):
    for a in call.args:
        if a.keyword and a.keyword.value in N.DIM_KEYWORDS:
            return int_literal(a.value)
    if index is not None:
        pos_args = [a for a in call.args if not a.keyword and not a.star]
        if index < len(pos_args):
            return int_literal(pos_args[index].value)
    return None
