"""Fix construction and application.

Rules express a fix as a libcst transformation of the flagged expression or statement: the
source text of the span is parsed with libcst (``parse_expression`` / ``parse_statement``),
changed with ``with_changes`` / node replacement, and rendered back with
``Module.code_for_node``; the result is stored as a plain :class:`Edit` (text + span, the edit
engine's :class:`~faultlens.edits.text.TextEdit`) so it can be cached and shipped between
processes. :func:`apply_fixes` splices non-overlapping edits into a file
(:func:`~faultlens.edits.text.apply_text_edits`) and checks that the result still parses;
``faultlens lint --diff`` renders them with :func:`faultlens.edits.diff.unified_diff`.

libcst is imported lazily: the warm (cached) lint path never loads it.
"""
from __future__ import annotations

import ast
from typing import Callable, Iterable

from faultlens.analyzer.lint.finding import Edit, Finding, Fix
from faultlens.edits.text import apply_text_edits


def _cst():
    import libcst

    return libcst


def render(node) -> str:
    from faultlens.edits.structural import render as render_node
    return render_node(node)


def rewrite_expression(path: str, span: tuple[int, int, int, int], text: str,
                       transform: Callable, description: str) -> Fix | None:
    """Parse ``text`` (the source of ``span``) as an expression, apply ``transform(node) ->
    node | None`` and return a fix replacing the span, or None when it does not apply."""
    cst = _cst()
    try:
        node = cst.parse_expression(text)
    except Exception:  # not an expression (e.g. text spans lines oddly): no fix
        return None
    new = transform(node)
    if new is None:
        return None
    line, col, eline, ecol = span
    return Fix(description, (Edit(path, line, col, eline, ecol, render(new)),))


def unwrap_call(node):
    """``F.softmax(x, dim=1)`` -> ``x`` ; ``x.softmax(1)`` -> ``x`` ; ``torch.sigmoid(z)`` -> ``z`` ;
    ``self.softmax(x)`` (a softmax layer called) -> ``x``. Returns None when the call shape is not
    recognised. A method call on a tensor takes only dimensions (integer literals or keywords);
    a call whose first positional argument is anything else passes the tensor in, so that
    argument is what remains."""
    cst = _cst()
    if not isinstance(node, cst.Call):
        return None
    func = node.func
    if isinstance(func, cst.Attribute) and not _is_module_ref(func.value):
        first = next((a.value for a in node.args if a.keyword is None), None)
        if first is not None and not _is_int_literal(first):
            return first  # a layer held in an attribute, called on its input
        return func.value
    for arg in node.args:
        if arg.keyword is None or arg.keyword.value == "input":
            return arg.value
    return None


def _is_int_literal(node) -> bool:
    """``1`` or ``-1``: a dimension argument."""
    cst = _cst()
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        node = node.expression
    return isinstance(node, cst.Integer)


def _is_module_ref(node) -> bool:
    cst = _cst()
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
    else:
        return False
    head = parts[-1]
    return head in {"F", "torch", "nn", "functional"} or parts[0] == "functional"


def add_keyword(node, keyword: str, value_code: str):
    """Add ``keyword=value`` to a call (no-op when present)."""
    cst = _cst()
    if not isinstance(node, cst.Call):
        return None
    if any(a.keyword is not None and a.keyword.value == keyword for a in node.args):
        return None
    from faultlens.edits.structural import append_kwarg
    return append_kwarg(node, keyword, value_code)


def rename_callee(node, new_last: str):
    """``nn.NLLLoss(weight=w)`` -> ``nn.CrossEntropyLoss(weight=w)`` (last name component)."""
    cst = _cst()
    if not isinstance(node, cst.Call):
        return None
    func = node.func
    if isinstance(func, cst.Attribute):
        return node.with_changes(func=func.with_changes(attr=cst.Name(new_last)))
    if isinstance(func, cst.Name):
        return node.with_changes(func=cst.Name(new_last))
    return None


def statement_code(code: str) -> str:
    """Validate and normalise one simple statement with libcst (``optimizer.zero_grad()``)."""
    cst = _cst()
    return render(cst.parse_statement(code.strip() + "\n")).rstrip("\n")


def insert_line_before(path: str, line: int, indent: str, code: str, description: str) -> Fix:
    """Insert the statement ``code`` as a new line before ``line`` with ``indent``."""
    stmt = statement_code(code)
    return Fix(description, (Edit(path, line, 1, line, 1, f"{indent}{stmt}\n"),))


def delete_lines(path: str, line: int, end_line: int) -> Edit:
    return Edit(path, line, 1, end_line + 1, 1, "")


# ---------------------------------------------------------------------- application
def apply_fixes(text: str, findings: Iterable[Finding], path: str) -> tuple[str, list[Finding]]:
    """Apply the fixes of ``findings`` whose edits all target ``path``; a fix is kept only if
    the file still parses afterwards. Returns the new text and the findings fixed."""
    current, fixed = text, []
    for f in sorted(findings, key=lambda f: f.sort_key()):
        if not f.fix or not f.fix.edits or any(e.path != path for e in f.fix.edits):
            continue
        # edits are positioned against the original text: apply this fix together with
        # those already accepted, on the original
        trial_edits = [e for g in fixed for e in g.fix.edits] + list(f.fix.edits)
        new, rejected = apply_text_edits(text, trial_edits)
        if rejected:
            continue
        try:
            ast.parse(new)
        except SyntaxError:
            continue
        current = new
        fixed.append(f)
    return current, fixed
