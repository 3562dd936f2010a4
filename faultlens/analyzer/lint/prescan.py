"""Which top-level statements of a file the lint rules can see at all, found with the standard
library's ``ast`` before libcst parses anything.

libcst's parse, its position pass and the graph builder's passes cost time in proportion to the
code they are given; on a large file that is mostly ordinary code (a vendored utility module
with a model and a training script in it) nearly all of that is spent on statements that no
rule can match. :func:`reduce_source` keeps the statements the program graph needs and replaces
every run of the other top-level statements by one string literal holding as many newlines:
the text libcst parses then has the same lines, the kept statements the same lines and columns,
so every position, span and snippet of the graph is exact without any mapping back.

A top-level statement is **kept** when

* it is an import (kept as it is; what it binds connects nothing by itself, see below), a
  compound statement other than a function or class (``if``/``for``/``while``/``with``/``try``/
  ``match`` at module level, ``if __name__ == "__main__":`` among them), or it contains a star
  import anywhere (then every statement is kept: the names it binds are unknown);
* it mentions a name bound by an import of anything but the standard library (``torch``,
  ``nn``, ``F``, ``DataLoader``, a local module's class, ``np``, ...), a framework's module name,
  or a word of :func:`vocabulary`: the names the graph builder recognises on objects it has not
  resolved (``backward``, ``step``, ``zero_grad``, ``train``, ``eval``, ``forward``, ``grad``,
  ``parameters``, ``apply``, the in-place init methods, ...) and the hyperparameter names it and
  the rules match by name (``lr``, ``num_classes``, ``epochs``, ... with their aliases). The
  words are matched against every identifier in the statement's text, strings and comments
  included, case-insensitively, with ``--learning-rate`` read as ``learning_rate``;
* it is connected by a module-level name to a kept statement: it binds a name that a kept
  statement mentions (a helper the training loop calls, a constant it reads, a base class), or
  it mentions a name that a kept statement binds (code that calls into, reads or changes what
  the kept code defines). This runs to a fixed point.

Everything else (statements that reference no deep-learning name, none of those words, and no
module-level name that kept code binds or reads) is replaced. The lint rules' ``ast`` facts
(``faultlens.analyzer.lint.facts``) are still built from the whole file, so their file-wide
scans (dataset calls, softmax calls, assignments by name) see every statement as before.
``faultlens graph`` and :func:`faultlens.analyzer.build_graph` never reduce anything.

Set ``FAULTLENS_LINT_PRESCAN=0`` to lint the whole text (``benchmarks/lint_prescan_check.py``
compares the two outputs).
"""
from __future__ import annotations

import ast
import os
import re
import sys
from typing import Iterable

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DASHED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)+")
_GLOBAL = re.compile(r"\bglobal\b")

#: framework packages: their module names count as deep-learning names wherever they appear
FRAMEWORKS = frozenset({
    "torch", "torchvision", "torchaudio", "torchtext", "lightning", "pytorch_lightning", "transformers",
    "accelerate", "sklearn", "timm",
})

#: methods and attributes the builder and walker recognise on objects whose type they do not
#: know (faultlens/analyzer/statements.py: training calls, manual updates, init calls, closures)
_METHOD_WORDS = frozenset({
    "backward", "step", "zero_grad", "train", "eval", "forward", "load_state_dict", "state_dict",
    "parameters", "named_parameters", "grad", "data", "detach", "requires_grad", "requires_grad_",
    "no_grad", "inference_mode", "enable_grad", "set_grad_enabled", "clip_grad_norm_", "clip_grad_value_",
    "clip_grad_norm", "apply", "closure", "training_step", "configure_optimizers", "add_", "sub_",
    "copy_", "mul_", "addcdiv_", "addcmul_", "zero_", "fill_", "softmax", "log_softmax", "sigmoid",
})

_STMT_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try) + (
    (ast.Match,) if hasattr(ast, "Match") else ()) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())

_VOCAB: frozenset[str] | None = None


def enabled() -> bool:
    return os.environ.get("FAULTLENS_LINT_PRESCAN", "1").strip().lower() not in ("0", "no", "off", "false")


def vocabulary() -> frozenset[str]:
    """The words that keep a statement (lower case): :data:`FRAMEWORKS`, the method words above,
    the analyzer's own tables of training methods, init functions and hyperparameter aliases,
    and the class-count names FL011 reads hyperparameters by."""
    global _VOCAB
    if _VOCAB is None:
        from faultlens.analyzer import names
        from faultlens.analyzer.lint.rules import fl011_output_width
        from faultlens.analyzer.statement_nodes import INIT_VALUE_ARG

        words: set[str] = set(FRAMEWORKS) | set(_METHOD_WORDS)
        words |= set(names.TRAINING_METHODS) | set(names.INIT_SUFFIX_FNS) | set(INIT_VALUE_ARG)
        words |= set(names._HP_ALIASES) | set(names._HP_ALIASES.values()) | set(names.CANONICAL_HPS)
        words |= set(getattr(fl011_output_width, "_CLASS_HP", ()))
        _VOCAB = frozenset(w.lower() for w in words)
    return _VOCAB


def _stdlib(module: str) -> bool:
    top = module.split(".", 1)[0]
    return top in getattr(sys, "stdlib_module_names", ()) or top in sys.builtin_module_names


class _Unit:
    """Top-level statements that share lines (``a = 1; b = 2``), as one piece of text."""

    __slots__ = ("start", "end", "stmts", "tokens", "defs", "kind")

    def __init__(self, start: int, end: int, stmt: ast.stmt):
        self.start, self.end, self.stmts = start, end, [stmt]
        self.tokens: set[str] = set()
        self.defs: set[str] = set()
        self.kind = "candidate"  # "import" (kept, inert) | "kept" | "candidate"


def _start_line(s: ast.stmt) -> int:
    decos = getattr(s, "decorator_list", None) or []
    return min([s.lineno] + [d.lineno for d in decos])


def _names_bound(node: ast.AST, walk_all: bool) -> set[str]:
    """Module-level names a statement binds: a def's/class's name, assignment targets; with
    ``walk_all`` every name stored anywhere inside (for kept compound statements)."""
    out: set[str] = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not walk_all:
        out.add(node.name)
        return out
    if not walk_all and isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name):
                    out.add(n.id)
        return out
    if walk_all:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
                out.add(n.id)
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(n.name)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                out.update((a.asname or a.name).split(".", 1)[0] for a in n.names)
            elif isinstance(n, ast.Global):
                out.update(n.names)
    return out


def _extra_bound(node: ast.AST, text: str) -> set[str]:
    """Names bound at module level from inside a statement: ``global`` declarations in a
    function, assignment expressions (``:=``) in module-level code."""
    out: set[str] = set()
    if _GLOBAL.search(text) or ":=" in text:
        for n in ast.walk(node):
            if isinstance(n, ast.Global):
                out.update(n.names)
            elif isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name):
                out.add(n.target.id)
    return out


def _words(text: str) -> tuple[set[str], set[str]]:
    """(identifiers as written, their lower-case forms plus dashed words read with ``_``)."""
    idents = set(_IDENT.findall(text))
    low = {w.lower() for w in idents}
    if "-" in text:
        low.update(m.replace("-", "_").lower() for m in _DASHED.findall(text))
    return idents, low


def reduce_source(text: str, tree: ast.Module | None = None) -> tuple[str, int]:
    """``(text, skipped_lines)``: ``text`` with the top-level statements no rule can see
    replaced by same-sized string literals (see the module docstring), and how many lines that
    replaced. Returns the text unchanged when nothing can be skipped."""
    if "\r" in text or "\f" in text:  # one newline convention only: the placeholders use "\n"
        return text, 0
    if tree is None:
        tree = ast.parse(text)
    body = tree.body
    if len(body) < 2:
        return text, 0
    # lines as ``ast`` counts them: split at "\n" only (``str.splitlines`` also splits at
    # \v, \x1c-\x1e, \x85, \u2028, \u2029, which may sit inside a string literal)
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    units: list[_Unit] = []
    for s in body:
        start, end = _start_line(s), s.end_lineno or s.lineno
        if units and start <= units[-1].end:
            units[-1].end = max(units[-1].end, end)
            units[-1].stmts.append(s)
        else:
            units.append(_Unit(start, end, s))
    vocab = vocabulary()
    dl_aliases: set[str] = set()
    for u in units:
        for s in u.stmts:
            if isinstance(s, (ast.Import, ast.ImportFrom)):
                local = isinstance(s, ast.ImportFrom) and (s.level or 0) > 0
                mod = s.module or "" if isinstance(s, ast.ImportFrom) else ""
                for a in s.names:
                    if a.name == "*":
                        return text, 0
                    src = mod if isinstance(s, ast.ImportFrom) else a.name
                    if local or not _stdlib(src):
                        dl_aliases.add((a.asname or a.name).split(".", 1)[0])
    all_defs: dict[str, list[int]] = {}
    for i, u in enumerate(units):
        seg = "".join(lines[u.start - 1:u.end])
        if "import" in seg:
            for n in ast.walk(ast.Module(body=u.stmts, type_ignores=[])):
                if isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names):
                    return text, 0
        idents, low = _words(seg)
        u.tokens = idents
        if all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in u.stmts):
            u.kind = "import"
            continue
        compound = any(isinstance(s, _STMT_COMPOUND) for s in u.stmts)
        for s in u.stmts:
            u.defs |= _names_bound(s, walk_all=compound or isinstance(s, (ast.Import, ast.ImportFrom)))
            u.defs |= _extra_bound(s, seg)
        if compound or (low & vocab) or (idents & dl_aliases):
            u.kind = "kept"
        for d in u.defs:
            all_defs.setdefault(d, []).append(i)
    # mentions, indexed only for names some statement binds at module level
    mentions: dict[str, list[int]] = {}
    for i, u in enumerate(units):
        if u.kind == "import":
            continue
        for t in u.tokens:
            if t in all_defs:
                mentions.setdefault(t, []).append(i)
    kept = [u.kind == "kept" for u in units]
    todo = [i for i, k in enumerate(kept) if k]
    done_read: set[str] = set()   # names kept code mentions: their binders are pulled in
    done_bound: set[str] = set()  # names kept code binds: their mentioners are pulled in

    def pull(idx: Iterable[int]) -> None:
        for j in idx:
            if not kept[j]:
                kept[j] = True
                todo.append(j)

    while todo:
        u = units[todo.pop()]
        for t in u.tokens:
            if t in all_defs and t not in done_read:
                done_read.add(t)
                pull(all_defs[t])
        for d in u.defs:
            if d not in done_bound:
                done_bound.add(d)
                pull(mentions.get(d, ()))
    out: list[str] = []
    skipped = 0
    pos = 1  # next line (1-based) of ``lines`` not yet written
    i = 0
    while i < len(units):
        u = units[i]
        if u.kind == "import" or kept[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(units) and units[j + 1].kind != "import" and not kept[j + 1]:
            j += 1
        a, b = u.start, units[j].end
        out.append("".join(lines[pos - 1:a - 1]))
        out.append('"""' + "\n" * (b - a) + '"""' + ("\n" if lines[b - 1].endswith("\n") else ""))
        skipped += b - a + 1
        pos = b + 1
        i = j + 1
    if not skipped:
        return text, 0
    out.append("".join(lines[pos - 1:]))
    return "".join(out), skipped
