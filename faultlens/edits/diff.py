"""Unified diffs of edited sources (standard library only).

* :func:`unified` — the localizer's patches and the report's lint-fix diff: ``path`` in both
  headers — ``./<path relative to the current directory>`` (:func:`diff_path`), accepted both by
  ``git apply`` (which strips one leading component, the ``.``) and by ``patch -p0`` — after a
  free-text ``faultlens: ...`` description line (ignored by both tools);
* :func:`annotate` — adds one ``# faultlens: ...`` comment line inside each hunk of the new
  source (so the diff still applies, and the fixed file explains itself);
* :func:`unified_diff` — ``faultlens lint --diff``: ``a/`` and ``b/`` prefixes, no description.
"""
from __future__ import annotations

import ast
import difflib
import os

from faultlens.analyzer.pysyntax import split_lines


def _string_lines(source: str) -> set[int]:
    """Lines that are inside (not the first line of) a multi-line string literal."""
    out: set[int] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return out
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes)) and n.end_lineno and n.end_lineno > n.lineno:
            out.update(range(n.lineno + 1, n.end_lineno + 1))
    return out


def annotate(old: str, new: str, message: str, context: int = 3) -> str:
    """Insert ``# faultlens: message`` before the first changed line of each group of changes
    (groups closer than ``2*context`` lines share one comment, as they share one hunk)."""
    a, b = split_lines(old, keepends=True), split_lines(new, keepends=True)
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    firsts: list[int] = []  # 0-based index into b where a comment goes
    last_end = None
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        if last_end is not None and j1 - last_end <= 2 * context:
            last_end = max(j2, j1 + 1)
            continue
        firsts.append(j1)
        last_end = max(j2, j1 + 1)
    inside = _string_lines(new)
    msg = " ".join(message.split())
    for j in reversed(firsts):
        if (j + 1) in inside:
            continue
        ref = b[j] if j < len(b) else (b[-1] if b else "")
        indent = ref[: len(ref) - len(ref.lstrip())] if ref.strip() else ""
        b.insert(j, f"{indent}# faultlens: {msg}\n")
    return "".join(b)


def diff_path(abspath: str, cwd: str | None = None) -> str:
    cwd = cwd or os.getcwd()
    rel = os.path.relpath(abspath, cwd)
    if rel.startswith(".."):
        return abspath
    return "./" + rel


def _diff_lines(old: str, new: str, fromfile: str, tofile: str) -> str:
    """difflib's unified diff (3 lines of context), with ``\\ No newline at end of file`` after
    a last line that has no newline, as ``git diff`` writes it."""
    out = []
    for ln in difflib.unified_diff(split_lines(old, keepends=True), split_lines(new, keepends=True),
                                   fromfile=fromfile, tofile=tofile, n=3):
        out.append(ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n")
    return "".join(out)


def unified(old: str, new: str, path: str, description: str = "") -> str:
    """A unified diff of one file with ``path`` in both headers, preceded by a free-text
    description line (``faultlens: ...``); empty when nothing changed."""
    body = _diff_lines(old, new, path, path)
    if not body:
        return ""
    head = f"faultlens: {' '.join(description.split())}\n" if description else ""
    return head + body


def unified_diff(path: str, before: str, after: str) -> str:
    """A ``git apply``-able unified diff of one file (``a/`` and ``b/`` prefixes)."""
    if before == after:
        return ""
    return _diff_lines(before, after, f"a/{path}", f"b/{path}")
