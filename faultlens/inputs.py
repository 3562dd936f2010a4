"""What every command accepts as a program file (standard library only: ``faultlens lint``
imports it before anything heavy).

A file is taken as Python source whatever its name, as ``python FILE`` does, except for the
formats known to hold something else. A Jupyter notebook is JSON whose code cells are strings:
run as Python it would at best evaluate one dict literal (and say nothing about the cells),
linted as Python it would be judged on text that is not the program. Until notebooks are
supported, every command refuses them with one line.
"""
from __future__ import annotations

import os

#: file extension -> what the file is and what to do instead
NOT_PYTHON: dict[str, str] = {
    ".ipynb": "a Jupyter notebook; notebooks are not supported yet, export one with "
              "`jupyter nbconvert --to script NOTEBOOK` and pass the .py file",
}


def not_python_reason(path: str) -> str | None:
    """Why ``path`` is not a Python program (one clause), or None."""
    return NOT_PYTHON.get(os.path.splitext(str(path))[1].lower())


def not_python_message(path: str) -> str | None:
    """``"PATH: not a Python file (...)"`` for a file every command refuses, or None."""
    reason = not_python_reason(path)
    return None if reason is None else f"{path}: not a Python file ({reason})"
