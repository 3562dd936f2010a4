"""Python's own verdict on a source text (standard library only: the lint path imports it
before deciding whether libcst is needed)."""
from __future__ import annotations

import warnings


def python_syntax_error(source: str, path: str) -> str | None:
    """``"syntax error at line L, column C: MSG"`` as Python's own compiler reports it
    (``compile()``: the parser and the compiler's checks such as ``'return' outside function``),
    or None when Python compiles the text. Columns are 1-based (``SyntaxError.offset``), so
    every faultlens command names the position ``python FILE`` names."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings (invalid escapes) are not errors
            compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
        return f"syntax error at {where}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None
