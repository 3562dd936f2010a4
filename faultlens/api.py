"""Library API.

``run(path, argv=(), *, config=None, **options) -> Report``
    Run a training program instrumented (a child process, or in this process with
    ``in_process=True`` for worker reuse), diagnose it, localize and patch the faults;
    ``verify=True`` re-runs the patched copy. The options are a
    :class:`~faultlens.runconfig.RunConfig` (``config``, or built from the keywords) that
    ``faultlens.report.pipeline.run_pipeline`` carries through every stage.
``analyze(path, run=False, *, select=None, ignore=None, config=None, **options) -> Analysis``
    A file or a whole repository: lint and graph every Python file, detect the entry-point
    training scripts and, with ``run=True``, run each of them under the budget.
``diagnose`` lives in :mod:`faultlens.models`; the result types in :mod:`faultlens.report`
(:class:`Report`, :class:`ReportFault`), :mod:`faultlens.localizer` (:class:`Location`) and
:mod:`faultlens.localizer.patches` (:class:`Patch`).

Nothing heavy is imported at module load.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from faultlens.errors import FaultlensError, UsageError
from faultlens.runconfig import RunConfig
from faultlens.taxonomy import VERDICT_EXIT_CODES
from faultlens.analyzer.pysyntax import split_lines

__all__ = ["run", "analyze", "Analysis", "FileAnalysis", "find_python_files", "is_entry_point", "lint_fix_diff"]

_SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "env", "__pycache__", "node_modules", "site-packages",
              ".faultlens", ".tox", ".mypy_cache", ".pytest_cache", "build", "dist"}
#: the run options of ``analyze(path, run=True)``'s runs: a 60 s budget per program
ANALYZE_RUN = RunConfig(max_seconds=60.0)
_MAIN_GUARD = re.compile(r"""^if\s+__name__\s*==\s*['"]__main__['"]\s*:""", re.M)


def run(path: str, argv: Sequence[str] | None = None, *, config: RunConfig | None = None, **options: Any) -> Any:
    """Run, diagnose and report one program. Returns a :class:`faultlens.report.Report`.

    The run options are ``config`` (default ``RunConfig()``) with ``argv`` and the keyword
    ``options`` applied (any :class:`~faultlens.runconfig.RunConfig` field: ``max_steps``,
    ``max_seconds``, ``curvature``, ``seed``, ``verify``, ``lint``, ``out_dir``, ``stream``,
    ``in_process``, ``sample_every``, ``early_stop``, ...)."""
    config = RunConfig.of(config, argv, **options)
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file")
    from faultlens.report.pipeline import run_pipeline
    if path.lower().endswith(".ipynb"):  # a notebook: its code cells' program, run in its directory
        from faultlens.notebook_run import in_notebook_dir, prepare
        nbp = prepare(path, config.out_dir)
        with in_notebook_dir(nbp.notebook):
            report = run_pipeline(nbp.program, config.replace(out_dir=nbp.run_dir))
            nbp.map(report)
        return report
    return run_pipeline(path, config)


@dataclass
class FileAnalysis:
    path: str
    entry_point: bool = False
    nodes: int = 0
    graph_error: str | None = None
    lint: list[Any] = field(default_factory=list)
    report: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "entry_point": self.entry_point, "nodes": self.nodes,
                "graph_error": self.graph_error, "lint": [f.to_dict() if hasattr(f, "to_dict") else f for f in self.lint],
                "report": self.report.to_dict() if self.report is not None else None}


@dataclass
class Analysis:
    path: str
    files: list[FileAnalysis] = field(default_factory=list)

    @property
    def entry_points(self) -> list[str]:
        return [f.path for f in self.files if f.entry_point]

    @property
    def reports(self) -> list[Any]:
        return [f.report for f in self.files if f.report is not None]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "faultlens.analysis/1", "path": self.path, "entry_points": self.entry_points,
                "files": [f.to_dict() for f in self.files]}

    def combined_diff(self) -> str:
        """Patches of the runs (when run) plus the lint fixes of files without a run patch."""
        parts, patched = [], set()
        for r in self.reports:
            d = r.combined_diff()
            if d:
                parts.append(d)
                patched.update(f.patch.path for f in r.faults if f.patch is not None)
        findings = [x for f in self.files for x in f.lint if os.path.abspath(getattr(x, "path", "")) not in patched]
        parts.append(lint_fix_diff(findings))
        return "".join(p for p in parts if p)

    def exit_code(self) -> int:
        codes = VERDICT_EXIT_CODES
        worst = 0
        for r in self.reports:
            c = codes.get(r.verdict, 1)
            worst = 1 if 1 in (worst, c) else max(worst, c)
        if any(getattr(x, "severity", "") == "error" for f in self.files for x in f.lint):
            worst = 1 if worst in (0, 3) else worst
        return worst


def _blank(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return not fh.read(1 << 20).strip() and os.path.getsize(path) < (1 << 20)
    except OSError:
        return False


def find_python_files(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise UsageError(f"{path}: no such file or directory")
    out = []
    for d, dirs, files in os.walk(path):
        dirs[:] = sorted(x for x in dirs if x not in _SKIP_DIRS and not x.startswith("."))
        for f in sorted(files):
            if f.endswith(".py") or (f.endswith(".ipynb") and _notebooks_readable()):
                out.append(os.path.join(d, f))
    return out


def _notebooks_readable() -> bool:
    """Notebooks are analysed when nbformat (``faultlens[notebook]``) is installed."""
    import importlib.util

    return importlib.util.find_spec("nbformat") is not None


def is_entry_point(path: str, graph: Any) -> bool:
    """A training entry point: a ``__main__`` guard or module-level code, and a training step
    (``backward`` and an optimizer ``step``) reachable in the program graph."""
    try:
        from faultlens.notebook import read_text  # a notebook's program, any other file's text
        text = read_text(path)
    except (OSError, UnicodeDecodeError, FaultlensError):
        return False
    if graph is None:
        return bool(_MAIN_GUARD.search(text)) and ".backward(" in text and ".step(" in text
    calls = graph.nodes("call")
    methods = {c.get("method") for c in calls}
    if "backward" not in methods or "step" not in methods:
        return False
    if _MAIN_GUARD.search(text):
        return True
    entry = getattr(graph, "entry", None)

    def here(n: Any) -> bool:
        return entry is None or n.span.path == entry

    top = (None, "<module>")
    if any(c.get("function") in top and c.get("method") == "backward" and here(c) for c in calls):
        return True
    # a module-level training loop (its body, or a function it calls, back-propagates)
    if any(lp.get("function") in top and lp.get("role") in ("epoch", "step") and here(lp)
           for lp in graph.nodes("loop")):
        return True
    # a module-level call of a function that trains (``train()`` / ``main()`` without a guard)
    trainers = {str(c.get("function")).split(".")[-1] for c in calls
                if c.get("method") == "backward" and c.get("function") not in top}
    trainers |= {str(f.get("qualname")).split(".")[-1] for f in graph.nodes("function")
                 if f.get("role") in ("main", "train")}
    return bool(trainers & _module_level_calls(text))


def _module_level_calls(text: str) -> set[str]:
    """Names of the functions the module's own statements call (not inside def/class bodies)."""
    import ast

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return set()
    out: set[str] = set()
    stack = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(n, ast.Call):
            f = n.func
            name = f.id if isinstance(f, ast.Name) else (f.attr if isinstance(f, ast.Attribute) else None)
            if name:
                out.add(name)
        stack.extend(ast.iter_child_nodes(n))
    return out


def lint_fix_diff(findings: list[Any]) -> str:
    """The lint findings' fixes (``Finding.fix.edits``) as one annotated diff per file."""
    from faultlens.edits.diff import annotate, diff_path, unified

    by_file: dict[str, list[tuple[Any, Any]]] = {}
    for f in findings:
        fix = getattr(f, "fix", None)
        if fix is None or not getattr(fix, "edits", None):
            continue
        for e in fix.edits:
            by_file.setdefault(os.path.abspath(e.path), []).append((f, e))
    parts = []
    notebooks = {p: items for p, items in by_file.items() if p.lower().endswith(".ipynb")}
    if notebooks:  # edits in a notebook's program lines: the cells' diffs
        from faultlens.analyzer.lint.output import to_diff
        parts.append(to_diff([f for items in notebooks.values() for f, _ in items])[0])
    for path, items in sorted(by_file.items()):
        if path in notebooks:
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                old = fh.read()
        except OSError:
            continue
        lines = split_lines(old, keepends=True)
        starts = [0]
        for ln in lines:
            starts.append(starts[-1] + len(ln))

        def off(line: int, col: int) -> int:
            return starts[min(line - 1, len(lines))] + col - 1

        new, last, descs = old, None, []
        for f, e in sorted(items, key=lambda t: (t[1].line, t[1].column), reverse=True):
            a, b = off(e.line, e.column), off(e.end_line, e.end_column)
            if last is not None and b > last:
                continue  # overlapping edits: keep the later-positioned one
            new = new[:a] + e.text + new[b:]
            last = a
            if f.fix.description not in descs:
                descs.append(f.fix.description)
        if new == old:
            continue
        desc = "; ".join(reversed(descs))
        new = annotate(old, new, desc)
        parts.append(unified(old, new, diff_path(path), f"lint fixes: {desc}"))
    return "".join(parts)


def analyze(path: str, run: bool = False, *, select: Any = None, ignore: Any = None,
            config: RunConfig | None = None, **options: Any) -> Analysis:
    """Lint and graph every Python file under ``path``; list entry-point training scripts; with
    ``run=True`` run each entry point under the budget and attach its report. The run options:
    ``config`` (default :data:`ANALYZE_RUN`, a 60 s budget each) with the keyword ``options``
    (``max_seconds``, ``max_steps``, ``argv``, ``seed``, ``stream``, ...) applied."""
    config = RunConfig.of(ANALYZE_RUN if config is None else config, **options)
    files = find_python_files(path)
    if not files:
        raise UsageError(f"{path}: no Python files")
    from faultlens.analyzer import build_graph
    try:
        from faultlens.analyzer.lint import lint_paths
        findings = list(lint_paths(files, select=select, ignore=ignore))
    except ImportError:
        findings = []
    by_path: dict[str, list[Any]] = {}
    for f in findings:
        by_path.setdefault(os.path.abspath(f.path), []).append(f)
    out = Analysis(path)
    global_run = run
    for p in files:
        fa = FileAnalysis(p, lint=by_path.get(os.path.abspath(p), []))
        graph = None
        try:
            if _blank(p):
                pass  # an empty file (a package's __init__.py) has no graph and no error
            else:
                graph = build_graph(p)
                fa.nodes = len(graph)
        except Exception as exc:  # noqa: BLE001 - named in the analysis (graph_error), the other files go on
            fa.graph_error = f"{type(exc).__name__}: {exc}"
        fa.entry_point = is_entry_point(p, graph)
        if global_run and fa.entry_point:
            try:
                fa.report = globals()["run"](p, config=config)
            except Exception as exc:  # noqa: BLE001 - one failing program must not stop the others (named in graph_error)
                fa.graph_error = fa.graph_error or f"run failed: {type(exc).__name__}: {exc}"
        out.files.append(fa)
    return out
