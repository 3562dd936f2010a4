"""Source rewrite: insert short probe calls at the statements the program graph names.

Every insertion stays on the line of the statement it follows (``stmt; __faultlens__.x(...)``)
or replaces an expression in place, so the rewritten program has the same line numbers as
the original: tracebacks, crash locations and graph spans need no mapping. The edits:

* after the statement that creates a model / optimizer / loss module / data loader / LR
  scheduler: ``__faultlens__.watch_model(model, node="model:train.py:30:model")`` (etc.);
* a functional loss call ``F.cross_entropy(out, y)`` becomes
  ``__faultlens__.call_loss(F.cross_entropy, out, y, node="loss:...")``;
* the iterable of an epoch loop ``for epoch in range(n):`` becomes
  ``__faultlens__.epochs(range(n), node="loop:...")``;
* ``import faultlens.instrumenter.runtime as __faultlens__`` joins the first statement line
  after the docstring and ``from __future__`` imports (a new first line only when the file
  starts with a compound statement).

libcst keeps every other byte of the file, so ``diff FILE OUT`` shows only these calls.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from faultlens.errors import ParseError
from faultlens.taxonomy import TORCH_OPTIMIZERS

RUNTIME = "__faultlens__"
IMPORT_STMT = f"import faultlens.instrumenter.runtime as {RUNTIME}"

WATCH_FN = {
    "model": "watch_model",
    "optimizer": "watch_optimizer",
    "loss": "watch_loss",
    "dataloader": "watch_loader",
    "scheduler": "watch_scheduler",
}

#: loop role (the graph's ``loop`` nodes) -> the runtime function that wraps its iterable:
#: ``epochs`` records an epoch event per iteration; ``iterations`` closes a training
#: iteration at each new item of the batch loop (runtime.iterations)
LOOP_FN = {"epoch": "epochs", "step": "iterations"}


@dataclass
class ProbeSite:
    """A record of one probe the rewrite inserted (reported in ``rewrite.json``; the rewrite
    itself is made by the transformer below, not by applying these)."""

    line: int
    kind: str        # watch | call_loss | epochs | iterations | import
    node: str | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "kind": self.kind, "node": self.node, "text": self.text}


@dataclass
class Rewrite:
    path: str
    code: str                   # the standalone rewritten program (imports the runtime)
    exec_code: str              # the same without the runtime import (the runner injects it)
    edits: list[ProbeSite] = field(default_factory=list)  # the probes inserted
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _node_str(node: str) -> cst.SimpleString:
    return cst.SimpleString('"' + node.replace("\\", "\\\\").replace('"', '\\"') + '"')


def _is_target_expr(text: str) -> cst.BaseExpression | None:
    try:
        e = cst.parse_expression(text)
    except Exception:
        return None
    ok = isinstance(e, cst.Name)
    cur = e
    while isinstance(cur, (cst.Attribute, cst.Subscript)):
        cur = cur.value
        ok = isinstance(cur, cst.Name)
    return e if ok else None


def plan_from_graph(graph: Any, relpath: str) -> tuple[dict[int, list[tuple[str, str, str]]],
                                                       dict[tuple[int, int], str],
                                                       dict[int, tuple[str, str]], list[dict[str, Any]]]:
    """Collect the edits for one file: after-statement watches keyed by statement line,
    functional-loss call replacements keyed by (line, 0-based column) of the call, and epoch
    and batch loop wraps keyed by the ``for`` line (node id, runtime function)."""
    after: dict[int, list[tuple[str, str, str]]] = {}
    calls: dict[tuple[int, int], str] = {}
    loops: dict[int, tuple[str, str]] = {}
    skipped: list[dict[str, Any]] = []
    if graph is None:
        return after, calls, loops, skipped
    if isinstance(graph, _NoGraph):
        return graph.plan(relpath)
    for n in graph.nodes():
        if n.span.path != relpath:
            continue
        if n.kind in WATCH_FN:
            if n.kind == "loss" and n.get("hand_derived"):
                # a loss computed by hand in a loop without autograd: recorded as assigned
                after.setdefault(n.span.line, []).append(("record_loss", n.get("var"), n.id))
                continue
            if n.kind == "loss" and n.get("functional"):
                es = n.get("expr_span") or n.span.to_dict()
                if isinstance(es, dict):
                    calls[(int(es["line"]), int(es["column"]) - 1)] = n.id
                continue
            var = n.get("var")
            if not isinstance(var, str) or _is_target_expr(var) is None:
                skipped.append({"node": n.id, "reason": "no assignable variable"})
                continue
            after.setdefault(n.span.line, []).append((WATCH_FN[n.kind], var, n.id))
        elif n.kind == "loop" and n.get("role") in LOOP_FN:
            loops[n.span.line] = (n.id, LOOP_FN[n.get("role")])
    return after, calls, loops, skipped


class _Transformer(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, after, calls, loops):
        super().__init__()
        self.after = after
        self.calls = calls
        self.loops = loops
        self.edits: list[ProbeSite] = []
        self.done_after: set[int] = set()

    def _pos(self, node):
        try:
            return self.get_metadata(PositionProvider, node).start
        except KeyError:
            return None

    def _append(self, original, updated):
        pos = self._pos(original)
        if pos is None:
            return updated
        lines = {self._pos(s).line for s in original.body if self._pos(s) is not None}
        lines.add(pos.line)
        extra = []
        for line in sorted(lines):
            if line in self.after and line not in self.done_after:
                self.done_after.add(line)
                for fn, var, nid in self.after[line]:
                    call = cst.Call(
                        func=cst.Attribute(cst.Name(RUNTIME), cst.Name(fn)),
                        args=[cst.Arg(cst.parse_expression(var)),
                              cst.Arg(_node_str(nid), keyword=cst.Name("node"),
                                      equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))],
                    )
                    extra.append(cst.Expr(call))
                    self.edits.append(ProbeSite(line, "watch", nid, cst.Module([]).code_for_node(call)))
        if not extra:
            return updated
        body = list(updated.body)
        last = body[-1]
        if isinstance(last.semicolon, cst.MaybeSentinel):
            body[-1] = last.with_changes(semicolon=cst.Semicolon(
                whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(" ")))
        for i, e in enumerate(extra):
            if i < len(extra) - 1:
                e = e.with_changes(semicolon=cst.Semicolon(
                    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(" ")))
            body.append(e)
        return updated.with_changes(body=body)

    def leave_SimpleStatementLine(self, original, updated):
        return self._append(original, updated)

    def leave_SimpleStatementSuite(self, original, updated):
        return self._append(original, updated)

    def leave_Call(self, original, updated):
        pos = self._pos(original)
        if pos is None:
            return updated
        nid = self.calls.get((pos.line, pos.column))
        if nid is None:
            return updated
        del self.calls[(pos.line, pos.column)]
        args = [cst.Arg(updated.func)] + [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in updated.args]
        args.append(cst.Arg(_node_str(nid), keyword=cst.Name("node"),
                            equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))))
        new = cst.Call(func=cst.Attribute(cst.Name(RUNTIME), cst.Name("call_loss")), args=args)
        self.edits.append(ProbeSite(pos.line, "call_loss", nid, cst.Module([]).code_for_node(new)))
        return new

    def leave_For(self, original, updated):
        pos = self._pos(original)
        if pos is None or pos.line not in self.loops:
            return updated
        nid, fn = self.loops.pop(pos.line)
        new_iter = cst.Call(
            func=cst.Attribute(cst.Name(RUNTIME), cst.Name(fn)),
            args=[cst.Arg(updated.iter),
                  cst.Arg(_node_str(nid), keyword=cst.Name("node"),
                          equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))],
        )
        self.edits.append(ProbeSite(pos.line, fn, nid, cst.Module([]).code_for_node(new_iter)))
        return updated.with_changes(iter=new_iter)


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _is_future(stmt: cst.CSTNode) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine)
            and all(isinstance(s, cst.ImportFrom) and isinstance(s.module, cst.Name)
                    and s.module.value == "__future__" for s in stmt.body))


def add_runtime_import(module: cst.Module) -> tuple[cst.Module, int]:
    """Put the runtime import on an existing line when possible. Returns (module, line)."""
    body = list(module.body)
    imp = cst.parse_statement(IMPORT_STMT).body[0]  # type: ignore[attr-defined]
    semi = cst.Semicolon(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(" "))
    i = 0
    if i < len(body) and _is_docstring(body[i]):
        i += 1
    while i < len(body) and _is_future(body[i]):
        i += 1
    if i < len(body) and isinstance(body[i], cst.SimpleStatementLine):
        stmt = body[i]
        body[i] = stmt.with_changes(body=[imp.with_changes(semicolon=semi)] + list(stmt.body))
        where = i
    elif i > 0 and isinstance(body[i - 1], cst.SimpleStatementLine):
        stmt = body[i - 1]
        small = list(stmt.body)
        small[-1] = small[-1].with_changes(semicolon=semi)
        body[i - 1] = stmt.with_changes(body=small + [imp])
        where = i - 1
    else:
        body.insert(0, cst.SimpleStatementLine(body=[imp]))
        where = -1
    return module.with_changes(body=body), where


def rewrite_source(source: str, graph: Any = None, relpath: str | None = None,
                   path: str = "<source>") -> Rewrite:
    """Rewrite one file's source. ``relpath`` is the file's path as the graph's spans spell it."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise ParseError(path, str(exc).splitlines()[0] if str(exc) else "syntax error") from exc
    rel = relpath if relpath is not None else os.path.basename(path)
    if graph is None:
        graph = _NoGraph(source)
    after, calls, loops, skipped = plan_from_graph(graph, rel)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    tr = _Transformer(after, calls, loops)
    new = wrapper.visit(tr)
    for line, items in after.items():
        if line not in tr.done_after:
            for _, _, nid in items:
                skipped.append({"node": nid, "reason": f"no simple statement starts on line {line}"})
    for (line, _), nid in tr.calls.items():
        skipped.append({"node": nid, "reason": f"loss call not found on line {line}"})
    for line, (nid, _) in tr.loops.items():
        skipped.append({"node": nid, "reason": f"no for statement on line {line}"})
    exec_code = new.code
    with_import, where = add_runtime_import(new)
    edits = sorted(tr.edits, key=lambda e: e.line)
    first_line = 1
    if where >= 0:
        # the line of the statement the import joined
        pos_mod = MetadataWrapper(new, unsafe_skip_copy=True)
        positions = pos_mod.resolve(PositionProvider)
        first_line = positions[pos_mod.module.body[where]].start.line
    edits.insert(0, ProbeSite(first_line, "import", None, IMPORT_STMT))
    return Rewrite(path=path, code=with_import.code, exec_code=exec_code, edits=edits, skipped=skipped)


def rewrite_file(path: str, graph: Any = None, *, build: bool = True) -> Rewrite:
    """Rewrite ``path`` using ``graph`` (built for it when None, ``build`` is true and the
    analyzer is present; an analyzer failure other than a parse error falls back to the
    syntactic planner)."""
    from faultlens.errors import UsageError
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from exc
    if graph is None and build:
        graph, _ = safe_graph(path)
    rel = relpath_in_graph(graph, path)
    return rewrite_source(source, graph, rel, path=path)


def relpath_in_graph(graph: Any, path: str) -> str:
    if graph is None:
        return os.path.basename(path)
    root = getattr(graph, "root", None) or os.path.dirname(os.path.abspath(path))
    try:
        return os.path.relpath(os.path.abspath(path), os.path.abspath(root)).replace(os.sep, "/")
    except ValueError:  # pragma: no cover - other drive on Windows
        return os.path.basename(path)


_OPTIMIZERS = TORCH_OPTIMIZERS
_SCHEDULER_HINT = ("LR", "lr_scheduler", "Scheduler", "OnPlateau")


class _NoGraph:
    """Fallback planner when no program graph is available (the analyzer is missing or
    failed): a syntactic scan of ``x = Ctor(...)`` statements. Optimizers (by torch.optim
    class name; the model is watched from ``m.parameters()`` in the first argument), loss
    modules (``*Loss`` constructors), ``DataLoader``s, LR schedulers. Node ids follow the
    graph format (``kind:path:line:var``) but exist in no graph."""

    def __init__(self, source: str):
        self.source = source

    def plan(self, relpath: str):
        import ast
        after: dict[int, list[tuple[str, str, str]]] = {}
        try:
            tree = ast.parse(self.source)
        except SyntaxError:
            return after, {}, {}, []
        for st in ast.walk(tree):
            if not isinstance(st, ast.Assign) or len(st.targets) != 1 or not isinstance(st.value, ast.Call):
                continue
            tgt = ast.unparse(st.targets[0])
            if _is_target_expr(tgt) is None:
                continue
            fn = ast.unparse(st.value.func)
            last = fn.rsplit(".", 1)[-1]
            items = after.setdefault(st.lineno, [])
            if last in _OPTIMIZERS:
                a0 = st.value.args[0] if st.value.args else None
                if (isinstance(a0, ast.Call) and isinstance(a0.func, ast.Attribute)
                        and a0.func.attr == "parameters" and _is_target_expr(ast.unparse(a0.func.value))):
                    mvar = ast.unparse(a0.func.value)
                    items.append(("watch_model", mvar, f"model:{relpath}:{st.lineno}:{mvar}"))
                items.append(("watch_optimizer", tgt, f"optimizer:{relpath}:{st.lineno}:{tgt}"))
            elif last.endswith("Loss"):
                items.append(("watch_loss", tgt, f"loss:{relpath}:{st.lineno}:{tgt}"))
            elif last == "DataLoader":
                items.append(("watch_loader", tgt, f"dataloader:{relpath}:{st.lineno}:{tgt}"))
            elif any(h in fn for h in _SCHEDULER_HINT) and st.value.args:
                items.append(("watch_scheduler", tgt, f"scheduler:{relpath}:{st.lineno}:{tgt}"))
            if not items:
                del after[st.lineno]
        return after, {}, {}, []


def safe_graph(path: str, argv: Any = None) -> tuple[Any, str | None]:
    """(graph or None, error text). Parse errors (FaultlensError) propagate: the program
    cannot run either; any other analyzer failure is returned as text. ``argv``: the run's
    command line (the graph then holds the values it sets)."""
    from faultlens.errors import FaultlensError
    try:
        return load_graph(path, argv), None
    except FaultlensError:
        raise
    except Exception as exc:  # an analyzer bug must not stop instrumentation
        return None, f"{type(exc).__name__}: {exc}"


def load_graph(path: str, argv: Any = None) -> Any:
    """Build the program graph with the analyzer; None when the analyzer is not available."""
    try:
        from faultlens.analyzer import build_graph  # type: ignore[attr-defined]
    except ImportError:
        return None
    return build_graph(path, argv=None if argv is None else list(argv))
