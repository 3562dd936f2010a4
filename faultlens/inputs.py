"""What every command accepts as a program file (standard library only: ``faultlens lint``
imports it before anything heavy).

A file is taken as Python source whatever its name, as ``python FILE`` does, except for the
formats known to hold something else. A Jupyter notebook is JSON whose code cells are strings:
run as Python it would at best evaluate one dict literal (and say nothing about the cells),
linted as Python it would be judged on text that is not the program. ``lint``, ``graph``, ``run``
and ``analyze`` read a notebook as its code cells' program (faultlens/notebook.py); the commands
that take Python source as such (``instrument``, the runner's own entry) refuse it with one line.
"""
from __future__ import annotations

import os

#: file extension -> what the file is and what to do instead
NOT_PYTHON: dict[str, str] = {
    ".ipynb": "a Jupyter notebook; `faultlens lint`, `run` and `graph` read notebooks, this command "
              "does not: export one with `jupyter nbconvert --to script NOTEBOOK` and pass the .py file",
}


def not_python_reason(path: str) -> str | None:
    """Why ``path`` is not a Python program (one clause), or None."""
    return NOT_PYTHON.get(os.path.splitext(str(path))[1].lower())


def not_python_message(path: str) -> str | None:
    """``"PATH: not a Python file (...)"`` for a file every command refuses, or None."""
    reason = not_python_reason(path)
    return None if reason is None else f"{path}: not a Python file ({reason})"
