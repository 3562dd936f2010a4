"""``build_graph``: the analyzer's entry function (see docs/graph.md)."""
from __future__ import annotations

import os
from typing import Sequence, Union

from faultlens.analyzer.builder import Builder
from faultlens.analyzer.finishing import Finisher
from faultlens.analyzer.forward import ForwardFlow
from faultlens.analyzer.frameworks import FrameworkObjects
from faultlens.analyzer.graph import ProgramGraph
from faultlens.analyzer.statements import StatementWalker
from faultlens.errors import ParseError

PathOrSource = Union[str, "os.PathLike[str]"]


def build_graph(path_or_source: PathOrSource, *, root: str | os.PathLike | None = None,
                argv: Sequence[str] | None = None, entry_text: str | None = None) -> ProgramGraph:
    """Build the :class:`ProgramGraph` of a training program.

    ``path_or_source`` is a path to an existing file, or source text (a string containing a
    newline, parsed with path ``"<source>"``). Local imports are followed inside ``root``
    (default: the entry file's directory; for source text, the current directory). Node
    paths are relative to ``root``. ``argv`` is the command line the program runs with (without
    the program name): values it sets through the program's argparse arguments replace their
    defaults (hyperparameter ``source: "argv"``, the default kept in ``default``); None (the
    default) keeps the defaults. Raises :class:`faultlens.errors.ParseError` when a file
    cannot be read or parsed. Never imports torch. ``entry_text`` (for a path): parse this text
    as the entry file instead of reading it (the lint path passes the file's text with the
    statements no rule can see blanked, ``faultlens.analyzer.lint.prescan``).
    """
    source = None
    if isinstance(path_or_source, os.PathLike):
        path = os.fspath(path_or_source)
    elif isinstance(path_or_source, str):
        if "\n" in path_or_source or not path_or_source.strip():
            source = path_or_source
            path = "<source>"
        else:
            path = path_or_source
    elif isinstance(path_or_source, bytes):
        raise ParseError("<source>", "expected text, got bytes")
    else:
        raise TypeError(f"build_graph expects a path or source text, not {type(path_or_source).__name__}")
    if source is None:
        if not os.path.exists(path):
            raise ParseError(path, "no such file")
        if os.path.isdir(path):
            raise ParseError(path, "is a directory")
        from faultlens.inputs import not_python_reason
        from faultlens.notebook import is_notebook, read_notebook
        if is_notebook(path):  # its code cells as one program (faultlens/notebook.py)
            err = read_notebook(path).syntax_error()
            if err:
                raise ParseError(path, err)
        elif not_python_reason(path):
            raise ParseError(path, f"not a Python file ({not_python_reason(path)})")
        entry_abs = os.path.abspath(path)
        root_dir = os.path.abspath(os.fspath(root)) if root is not None else os.path.dirname(entry_abs)
    else:
        root_dir = os.path.abspath(os.fspath(root)) if root is not None else os.getcwd()
        entry_abs = "<source>"
    if isinstance(argv, (str, bytes)):
        raise TypeError("build_graph: argv is a list of words, not one string")
    b = Builder(root_dir, None if argv is None else list(argv))
    b.g.root = root_dir
    from faultlens.analyzer.positions import gc_paused
    with gc_paused():  # millions of long-lived nodes, few cycles: see gc_paused
        b.load(entry_abs, source, entry_text=entry_text if source is None else None)
        _build(b)
    return b.g


def _build(b: Builder) -> None:
    """The passes, in order (faultlens/analyzer/builder.py lists them)."""
    files = list(b.files.values())
    classes = [ci for fi in files for ci in fi.all_classes]
    modules = [ci for ci in classes if b.is_module(ci)]
    for ci in modules:
        b.build_module_class(ci)
    for ci in _bases_first(modules):
        b.build_layers(ci)
    flow = ForwardFlow(b)
    for ci in modules:
        flow.build(ci)
    # hyperparameter definitions, then objects, in each scope's statement order
    for fi in files:
        b.argparse_defs(fi)
    b.apply_argv()  # the run's command line, before any value derived from args.* is computed
    for fi in files:
        for sc in fi.scopes:
            for d in _ordered_defs(sc):
                v = b.def_val(d)
                if v.obj is not None and d.kind in ("assign", "ann"):
                    b.config_entries(v.obj)
    for fi in files:
        for sc in fi.scopes:
            for d in _ordered_defs(sc):
                b.obj_of_def(d)
    FrameworkObjects(b).run()  # Lightning / Hugging Face: models given to trainers, configure_optimizers
    walker = StatementWalker(b)
    walker.run()
    Finisher(b, walker.record).run()


def _ordered_defs(sc):
    return sorted((d for ds in sc.defs.values() for d in ds), key=lambda d: d.pos)


def _bases_first(classes):
    out, seen = [], set()

    def visit(ci, depth=0):
        if id(ci) in seen or depth > 20:
            return
        seen.add(id(ci))
        for bse in ci.local_bases:
            visit(bse, depth + 1)
        out.append(ci)

    for ci in classes:
        visit(ci)
    return out
