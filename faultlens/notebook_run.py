"""``faultlens run NOTEBOOK.ipynb``: run a notebook's code cells as one program.

The program of the code cells (``faultlens.notebook``: magics and shell lines kept as ``pass``
lines, so program line N is one cell line) is written into the run directory as
``notebook/<name>.ipynb.py`` (a name no ``import`` can reach) and run like a script by the
ordinary ``faultlens run`` path, in the notebook's directory as Jupyter runs it: the working
directory is the notebook's, and its directory is on ``sys.path`` (through ``PYTHONPATH``, for the
run and the patch check's runs). Before the report is rendered, everything that names the
program is mapped back: locations, the crash, lint findings and patches name the notebook,
its cell and the line within the cell, and a patch's new source is the notebook's JSON with the
cells edited in place (``--fix`` writes it, ``--diff`` shows the cells' diffs).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

from faultlens.errors import ParseError, UsageError
from faultlens.notebook import Notebook, read_notebook


@dataclass
class NotebookProgram:
    """A notebook prepared for a run: its program file inside the run directory."""

    notebook: Notebook
    shown: str      # the notebook's path as the user sees it (relative to the working directory)
    run_dir: str
    program: str    # the program file (absolute)

    def map(self, report: Any) -> None:
        map_report(report, self.notebook, self.program, self.shown)


def prepare(path: str, out_dir: str | None = None) -> NotebookProgram:
    """Read the notebook at ``path`` (one clear error for a bad one) and write its program."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise UsageError(f"{path}: not a file")
    nb = read_notebook(path)
    err = nb.syntax_error()
    if err:
        raise ParseError(path, err)
    if not nb.program.strip():
        raise UsageError(f"{path}: the notebook has no code to run")
    from faultlens.instrumenter.runner import new_run_dir

    cwd = os.getcwd()
    run_dir = os.path.abspath(out_dir) if out_dir else new_run_dir(nb.path, os.path.join(cwd, ".faultlens", "runs"))
    prog_dir = os.path.join(run_dir, "notebook")
    os.makedirs(prog_dir, exist_ok=True)
    program = os.path.join(prog_dir, os.path.basename(nb.path) + ".py")
    with open(program, "w", encoding="utf-8") as fh:
        fh.write(nb.program)
    return NotebookProgram(nb, _display(nb.path, cwd), run_dir, program)


@contextlib.contextmanager
def in_notebook_dir(nb: Notebook):
    """Work in the notebook's directory with it on ``sys.path`` of the runs started meanwhile
    (``PYTHONPATH``), as Jupyter runs a notebook; both restored afterwards."""
    cwd = os.getcwd()
    nb_dir = os.path.dirname(nb.path)
    old_pp = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = nb_dir + (os.pathsep + old_pp if old_pp else "")
    try:
        os.chdir(nb_dir)
        yield
    finally:
        os.chdir(cwd)
        if old_pp is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_pp


def run_notebook(args: argparse.Namespace, run_script: Callable[[argparse.Namespace], int]) -> int:
    """Run the notebook ``args.file`` through ``run_script`` (``faultlens run`` on a ``.py``)."""
    for key in ("json", "sarif", "html", "out"):  # the user's paths stay relative to where they typed them
        if getattr(args, key, None):
            setattr(args, key, os.path.abspath(getattr(args, key)))
    np_ = prepare(str(args.file), args.out)
    if not getattr(args, "quiet", False):
        n_code = sum(1 for t in np_.notebook.cell_types if t == "code")
        print(f"faultlens: notebook {np_.shown}: {n_code} code cell(s) run as one program", file=sys.stderr)
        for note in np_.notebook.notes():
            print(f"faultlens: note: {note}", file=sys.stderr)
    args.file, args.out = np_.program, np_.run_dir
    args.notebook_map = np_.map
    with in_notebook_dir(np_.notebook):  # the program runs where Jupyter runs it
        return run_script(args)


def _display(abspath: str, cwd: str) -> str:
    try:
        rel = os.path.relpath(abspath, cwd)
    except ValueError:
        return abspath
    return abspath if rel.startswith("..") else rel


def _is_program(p: Any, shadow: str) -> bool:
    """Does ``p`` (absolute, relative to the working directory, or to the program's directory,
    the graph's root) name the notebook's program file?"""
    if not p or not isinstance(p, str):
        return False
    if os.path.isabs(p):
        return os.path.normpath(p) == shadow
    return os.path.normpath(os.path.join(os.path.dirname(shadow), p)) == shadow \
        or os.path.abspath(p) == shadow


def map_report(report: Any, nb: Notebook, shadow: str, shown: str) -> None:
    """Rewrite ``report`` (built for the program file ``shadow``) in the notebook's terms."""
    shadow = os.path.normpath(shadow)
    report.program = shown
    report.notes = list(nb.notes()) + [nb.relabel(n) for n in report.notes]
    for f in report.faults:
        f.summary = nb.relabel(f.summary)
        for loc in f.locations:
            if _is_program(getattr(loc, "abspath", "") or loc.path, shadow) or _is_program(loc.path, shadow):
                c = nb.where(loc.line)
                loc.path, loc.abspath = shown, nb.path
                if c is not None:
                    loc.cell, loc.cell_line = c
        p = f.patch
        if p is not None and _is_program(p.path, shadow):
            p.description = nb.relabel(p.description)
            if getattr(p, "argv", None) is not None:  # a command-line patch: the notebook is unchanged
                p.path, p.new_source = nb.path, nb.raw
                continue
            try:
                new_raw = nb.with_program(p.new_source)
                diff = nb.cells_diff(p.new_source, shown.replace(os.sep, "/"))
            except ValueError as exc:
                report.notes.append(f"a proposed patch ({p.description}) was withdrawn: {exc}")
                f.patch = None
                continue
            head = "".join(ln for ln in p.diff.splitlines(keepends=True)[:1] if ln.startswith("faultlens:"))
            p.path, p.new_source, p.diff = nb.path, new_raw, head + diff
    c = report.crash
    if c and _is_program(c.get("path"), shadow):
        c["path"] = shown
        where = nb.where(c.get("line"))
        if where is not None:
            c["cell"], c["cell_line"] = where
    lint = []
    for d in report.lint:
        if _is_program(d.get("path"), shadow):
            d = dict(d, path=shown, message=nb.relabel(str(d.get("message", ""))))
            where = nb.where(d.get("line"))
            if where is not None:
                d = _with_cell(d, where)
        lint.append(d)
    report.lint = lint


def _with_cell(d: dict[str, Any], where: tuple[int, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out[k] = v
        if k == "line":
            out["cell"], out["cell_line"] = where
    return out
