"""Python's own verdict on a source text (standard library only: the lint path imports it
before deciding whether libcst is needed)."""
from __future__ import annotations

import re
import warnings


#: the last few verdicts by source text: lint checks a file before building its graph and
#: the graph builder checks it again; compiling a large file twice doubles that cost. The
#: verdict names no file (position and message only), so the path is not part of the key.
_LAST: dict[str, str | None] = {}


def python_syntax_error(source: str, path: str) -> str | None:
    """Python's verdict on ``source`` (see :func:`_python_syntax_error`), remembered."""
    if source in _LAST:
        return _LAST[source]
    verdict = _python_syntax_error(source, path)
    if len(_LAST) >= 4:
        _LAST.pop(next(iter(_LAST)))
    _LAST[source] = verdict
    return verdict


def _python_syntax_error(source: str, path: str, cell: int | None = None) -> str | None:
    """``"syntax error at line L, column C: MSG"`` as Python's own compiler reports it
    (``compile()``: the parser and the compiler's checks such as ``'return' outside function``),
    or None when Python compiles the text. Columns are 1-based (``SyntaxError.offset``), so
    every faultlens command names the position ``python FILE`` names. ``cell``: the text is a
    notebook cell, named in the message (``"syntax error at cell C:line L, ..."``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings (invalid escapes) are not errors
            compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if cell is None else f"cell {cell}:line {exc.lineno or 1}"
        where += f", column {exc.offset}" if exc.offset else ""
        return f"syntax error at {where}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return (f"cell {cell}: " if cell is not None else "") + f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


_LINE_END = re.compile(r"\r\n|\r|\n")


def split_lines(text: str, keepends: bool = False) -> list[str]:
    r"""The lines of ``text`` as Python's tokenizer (and libcst, and ``ast``) count them: ended by
    ``\n``, ``\r\n`` or ``\r`` only. ``str.splitlines`` also splits at ``\v``, ``\f``,
    ``\x1c``-``\x1e``, ``\x85``, ``\u2028`` and ``\u2029``, which may sit inside a string
    literal; every line after one would then be off by one."""
    out: list[str] = []
    pos = 0
    for m in _LINE_END.finditer(text):
        out.append(text[pos:m.end() if keepends else m.start()])
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out
