"""The lint engine: find files, skip the ones that import no deep-learning framework, build
each remaining file's program graph, run the rules, apply inline suppressions, cache results
by content hash, and fan out over worker processes when there are many files.

Speed design (libcst with position metadata runs at roughly 1,000 lines/s on the reference
machine, and importing libcst costs ~0.2 s; networkx is not imported on this path):

* a byte-level regex rejects files without ``import torch``/``from torch``/... before any
  parsing; the warm path (every file cached) never imports libcst or networkx;
* results are cached per file under ``.faultlens/cache/lint`` (or ``$FAULTLENS_CACHE_DIR``),
  keyed by the file's content hash, its path and graph root, the faultlens version and a
  fingerprint of the analyzer + lint sources (so a rule change invalidates the cache); an
  entry also records the hashes of the local files the graph followed (``from model import
  Net``) and is discarded when one of them changed;
* libcst parses only the top-level statements some rule can see: the rest of the file is
  blanked by ``faultlens.analyzer.lint.prescan`` (an ``ast`` pass shared with the rules' facts;
  same lines, so positions stay exact), which on a large file of ordinary code with a model and
  a training script in it is most of the libcst, position and graph-building work;
* files needing analysis are spread over a ``ProcessPoolExecutor`` (fork start method where
  available, analyzer imported before forking) only when there are several of them; a single
  file runs in-process.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterable

from faultlens import __version__
from faultlens.analyzer.lint.finding import Finding
from faultlens.analyzer.pysyntax import split_lines

#: directories never descended into
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules", "site-packages",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".faultlens", ".eggs",
    ".ipynb_checkpoints",
})
#: files larger than this are not parsed (override: $FAULTLENS_LINT_MAX_BYTES)
DEFAULT_MAX_BYTES = 5 * 1024 * 1024

_DL_IMPORT = re.compile(
    rb"^[ \t]*(?:from[ \t]+(?:torch|pytorch_lightning|lightning)\b"
    rb"|import[ \t]+[^\n#]*\b(?:torch|pytorch_lightning|lightning)\b)",
    re.M,
)
_SUPPRESS = re.compile(r"#\s*faultlens:\s*ignore(?:\[([A-Za-z0-9_,\s]*)\])?")

_ROOT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg")


def imports_dl_framework(data: bytes) -> bool:
    """Cheap pre-filter: does the file import torch (or Lightning)?"""
    return _DL_IMPORT.search(data) is not None


def max_bytes() -> int:
    try:
        return int(os.environ.get("FAULTLENS_LINT_MAX_BYTES", DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES


# ------------------------------------------------------------------------- results
@dataclass
class FileResult:
    path: str                      # absolute path
    status: str                    # "ok" | "skipped" | "error"
    message: str = ""
    lines: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)  # paths absolute
    deps: dict[str, str] = field(default_factory=dict)            # abs path -> sha256
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "message": self.message, "lines": self.lines,
                "findings": self.findings, "deps": self.deps}


@dataclass
class LintReport:
    findings: list[Finding]
    results: list[FileResult]
    notes: list[str]               # one line each, for stderr ("path: cannot parse: ...")
    explicit_missing: int = 0

    @property
    def files_read(self) -> int:
        return sum(1 for r in self.results if r.status != "error")

    @property
    def files_linted(self) -> int:
        return sum(1 for r in self.results if r.status == "ok")

    @property
    def files_skipped(self) -> int:
        return sum(1 for r in self.results if r.status == "skipped")

    @property
    def files_failed(self) -> int:
        return sum(1 for r in self.results if r.status == "error")

    @property
    def lines(self) -> int:
        return sum(r.lines for r in self.results)

    @property
    def cached(self) -> int:
        return sum(1 for r in self.results if r.cached and r.status == "ok")


# ------------------------------------------------------------------------- discovery
def iter_files(paths: Iterable[str], notes: list[str]) -> list[tuple[str, bool]]:
    """``(absolute path, explicitly named)`` for every file to lint, in a stable order."""
    out: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for p in paths:
        ap = os.path.abspath(p)
        if os.path.isdir(ap):
            for dirpath, dirnames, filenames in os.walk(ap):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")
                                     and not os.path.islink(os.path.join(dirpath, d)))
                for fn in sorted(filenames):
                    if fn.endswith(".py") or (fn.endswith(".ipynb") and _notebooks_readable()):
                        fp = os.path.join(dirpath, fn)
                        if fp not in seen:
                            seen.add(fp)
                            out.append((fp, False))
        elif os.path.exists(ap):
            if ap not in seen:
                seen.add(ap)
                out.append((ap, True))
            else:  # also reached through a directory: it is still named explicitly
                out = [(f, e or f == ap) for f, e in out]
        else:
            notes.append(f"{p}: cannot read: no such file or directory")
            out.append((ap, True))
    return out


def _notebooks_readable() -> bool:
    """Is nbformat installed (without importing it)? A directory's notebooks are linted then."""
    import importlib.util

    return importlib.util.find_spec("nbformat") is not None


_ROOT_CACHE: dict[str, str | None] = {}  # directory -> its marker directory (None: none above)


def find_root(path: str) -> str:
    """The repository root of a file: the nearest ancestor holding ``.git`` /
    ``pyproject.toml`` / ``setup.py`` / ``setup.cfg``; the file's directory when none."""
    start = os.path.dirname(os.path.abspath(path))
    d, walked = start, []
    while True:
        if d in _ROOT_CACHE:
            found = _ROOT_CACHE[d]  # the marker directory at or above d, or None: there is none
            break
        walked.append(d)
        if any(os.path.exists(os.path.join(d, m)) for m in _ROOT_MARKERS):
            found = d
            break
        parent = os.path.dirname(d)
        if parent == d:
            found = None
            break
        d = parent
    for w in walked:
        # (caching the file's own directory as its parents' root made a sibling directory's
        # file resolve to this one: messages then named paths like ``../b/main.py``)
        _ROOT_CACHE[w] = found
    return found or start


def display_path(abs_path: str, cwd: str | None = None) -> str:
    cwd = cwd or os.getcwd()
    try:
        rel = os.path.relpath(abs_path, cwd)
    except ValueError:
        return abs_path
    return abs_path if rel.startswith("..") else rel


# ------------------------------------------------------------------------- cache
_FINGERPRINT: str | None = None


def code_fingerprint() -> str:
    """Hash of faultlens' version and the analyzer + lint sources (rule set included) and the
    edit engine's (fixes are rendered and stored with it)."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        h = hashlib.sha256(__version__.encode())
        base = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # faultlens/analyzer
        edits = os.path.join(os.path.dirname(base), "edits")  # faultlens/edits
        for dirpath, dirnames, filenames in (*os.walk(base), *os.walk(edits)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for fn in sorted(filenames):
                if fn.endswith(".py"):
                    fp = os.path.join(dirpath, fn)
                    h.update(os.path.relpath(fp, base).encode())
                    try:
                        with open(fp, "rb") as fh:
                            h.update(hashlib.sha256(fh.read()).digest())
                    except OSError:
                        pass
        _FINGERPRINT = h.hexdigest()[:20]
    return _FINGERPRINT


def default_cache_dir(paths: list[str]) -> str:
    env = os.environ.get("FAULTLENS_CACHE_DIR")
    if env:
        return env
    first = os.path.abspath(paths[0]) if paths else os.getcwd()
    base = first if os.path.isdir(first) else os.path.dirname(first)
    root = find_root(os.path.join(base, "_")) if os.path.isdir(base) else os.getcwd()
    return os.path.join(root, ".faultlens", "cache", "lint")


class Cache:
    def __init__(self, directory: str | None):
        self.dir = directory
        self._sha: dict[str, str | None] = {}

    def key(self, path: str, root: str, sha: str) -> str:
        return hashlib.sha256(f"{code_fingerprint()}\0{path}\0{root}\0{sha}".encode()).hexdigest()

    def _file(self, key: str) -> str:
        return os.path.join(self.dir or "", key[:2], key[2:] + ".json")

    def file_sha(self, path: str) -> str | None:
        if path not in self._sha:
            try:
                with open(path, "rb") as fh:
                    self._sha[path] = hashlib.sha256(fh.read()).hexdigest()
            except OSError:
                self._sha[path] = None
        return self._sha[path]

    def get(self, key: str) -> FileResult | None:
        if not self.dir:
            return None
        try:
            with open(self._file(key), encoding="utf-8") as fh:
                d = json.load(fh)
            for dep, sha in (d.get("deps") or {}).items():
                if dep != d.get("path") and self.file_sha(dep) != sha:
                    return None
            for f in d.get("findings", []):
                Finding.from_dict(f)  # a damaged entry is a miss, not a crash
            return FileResult(d["path"], d["status"], d.get("message", ""), int(d.get("lines", 0)),
                              list(d.get("findings", [])), dict(d.get("deps", {})), cached=True)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, key: str, result: FileResult) -> None:
        if not self.dir:
            return
        target = self._file(key)
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(result.to_dict(), fh)
            os.replace(tmp, target)
        except OSError:
            pass  # a read-only or full disk only costs speed


# ------------------------------------------------------------------------- one file
def read_checked(path: str) -> tuple[bytes | None, str | None]:
    """Read a file; ``(data, None)`` or ``(None, reason)`` for unreadable/huge files."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        return None, (exc.strerror or str(exc)).lower()
    limit = max_bytes()
    if size > limit:
        return None, (f"file is {size / 1e6:.1f} MB, over the {limit / 1e6:.1f} MB limit "
                      f"(set FAULTLENS_LINT_MAX_BYTES to raise it)")
    try:
        with open(path, "rb") as fh:
            return fh.read(), None
    except OSError as exc:
        return None, (exc.strerror or str(exc)).lower()


def decode(data: bytes) -> tuple[str | None, str | None]:
    if b"\x00" in data:
        return None, "binary file (contains NUL bytes)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start})"
    return (text[1:] if text.startswith("\ufeff") else text), None


def syntax_error_reason(text: str, path: str) -> str | None:
    """Python's own verdict on the text (``compile()``), worded as the graph builder words it."""
    from faultlens.analyzer.pysyntax import python_syntax_error

    return python_syntax_error(text, path)


def analyze_text(text: str, path: str, root: str) -> tuple[list[Finding], dict[str, str]]:
    """Build the graph of the file at ``path`` (whose text is ``text``) and run every rule.
    Findings carry absolute paths. Returns findings and the files the graph covered."""
    import ast

    from faultlens.analyzer import build_graph
    from faultlens.analyzer.lint import prescan
    from faultlens.analyzer.lint.context import LintContext
    from faultlens.analyzer.lint.facts import FileFacts
    from faultlens.analyzer.lint.registry import all_rules

    tree = None
    reduced = None
    if path.endswith(".py"):
        try:
            tree = ast.parse(text)  # the rules' facts and the pre-scan share this one parse
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None
        if tree is not None and prescan.enabled():
            # libcst gets only the statements some rule can see (same lines: positions exact)
            reduced, _ = prescan.reduce_source(text, tree)
    graph = build_graph(path, root=root, entry_text=reduced if reduced is not None and reduced != text else None)
    groot = os.path.abspath(getattr(graph, "root", None) or root)
    rel_self = os.path.relpath(path, groot)
    ctx = LintContext(graph, {rel_self: text})
    if tree is not None:
        ctx._facts[rel_self] = FileFacts(text, rel_self, tree=tree)
    findings = run_rules(ctx, all_rules())
    deps: dict[str, str] = {}
    for rel in getattr(graph, "files", []) or []:
        ap = os.path.normpath(os.path.join(groot, rel))
        src = text if ap == path else ctx.source(rel)
        if src is not None:
            deps[ap] = hashlib.sha256(src.encode("utf-8", "surrogatepass")).hexdigest()
    for f in findings:
        f.path = os.path.normpath(os.path.join(groot, f.path)) if not os.path.isabs(f.path) else f.path
        if f.fix:
            for e in f.fix.edits:
                object.__setattr__(e, "path", os.path.normpath(os.path.join(groot, e.path))
                                   if not os.path.isabs(e.path) else e.path)
    return findings, deps


def run_rules(ctx, rules) -> list[Finding]:
    out: list[Finding] = []
    debug = bool(os.environ.get("FAULTLENS_DEBUG"))
    for rule_cls in rules:
        try:
            out.extend(rule_cls().check(ctx) or ())
        except Exception as exc:  # a rule bug must not stop the others
            if debug:
                raise
            print(f"faultlens: internal error in rule {rule_cls.code} ({type(exc).__name__}: {exc}); "
                  f"set FAULTLENS_DEBUG=1 for a traceback", file=sys.stderr)
    return out


def lint_file(path: str, explicit: bool = False) -> FileResult:
    """Lint one file (absolute path). Never raises for bad input."""
    if not os.path.isfile(path):
        return FileResult(path, "error", "cannot read: not a regular file")
    from faultlens.inputs import not_python_reason
    from faultlens.notebook import is_notebook
    nb = None
    if is_notebook(path):  # a notebook is linted as its code cells' program (faultlens/notebook.py)
        nb, reason = _read_notebook(path)
        if nb is None:
            return FileResult(path, "error", reason)
    elif not_python_reason(path):
        return FileResult(path, "error", f"not a Python file ({not_python_reason(path)})")
    data, reason = read_checked(path)
    if data is None:
        return FileResult(path, "error", f"cannot read: {reason}" if "limit" not in (reason or "") else f"cannot parse: {reason}")
    file_sha = hashlib.sha256(data).hexdigest()
    if nb is not None:
        data = nb.program.encode("utf-8")
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    if not data.strip():
        return FileResult(path, "skipped", "skipped: empty file", 0)
    if b"\x00" in data[:8192] or (b"\x00" in data):
        return FileResult(path, "error", "cannot parse: binary file (contains NUL bytes)", lines)
    if not imports_dl_framework(data):
        return FileResult(path, "skipped", "skipped: imports no deep-learning framework (torch)", lines)
    text, reason = decode(data)
    if text is None:
        return FileResult(path, "error", f"cannot parse: {reason}", lines)
    reason = (nb.syntax_error() if nb is not None else None) or syntax_error_reason(text, path)
    if reason:
        return FileResult(path, "error", f"cannot parse: {reason}", lines)
    root = find_root(path)
    from faultlens.analyzer.positions import gc_paused
    try:
        with gc_paused():  # the collector would walk the growing tree for nothing
            findings, deps = analyze_text(text, path, root)
    except RecursionError:
        return FileResult(path, "error", "cannot parse: nesting too deep for the parser", lines)
    except Exception as exc:  # the graph builder failed on this file: one line, carry on
        if os.environ.get("FAULTLENS_DEBUG"):
            raise
        from faultlens.errors import FaultlensError

        if isinstance(exc, FaultlensError):
            msg = str(exc)
            reason = msg.split(": cannot parse: ", 1)[-1] if ": cannot parse: " in msg else msg
            return FileResult(path, "error", f"cannot parse: {reason}", lines)
        return FileResult(path, "error", f"cannot analyze: {type(exc).__name__}: {exc}".splitlines()[0], lines)
    deps.setdefault(path, file_sha)
    if nb is not None:  # "line 17" in a message about the notebook names its cell and line
        for f in findings:
            if f.path == path:
                f.message = nb.relabel(f.message)
    return FileResult(path, "ok", "", lines, [f.to_dict() for f in findings], deps)


def _read_notebook(path: str):
    """(the notebook, None) or (None, the one-line reason it cannot be linted)."""
    from faultlens.errors import FaultlensError
    from faultlens.notebook import read_notebook

    try:
        return read_notebook(path), None
    except FaultlensError as exc:
        msg = str(exc)
        return None, ("cannot parse: " + msg.split(": cannot parse: ", 1)[1]) if ": cannot parse: " in msg else msg


def _worker_init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _lint_many(items: list[tuple[str, bool]], jobs: int) -> list[FileResult]:
    """Lint uncached files: in-process for one file or one job, else over worker processes."""
    if jobs <= 1 or len(items) <= 1:
        return [lint_file(p, e) for p, e in items]
    import concurrent.futures as cf
    import multiprocessing as mp

    # import the analyzer now so forked workers inherit it instead of importing it each
    try:
        import faultlens.analyzer  # noqa: F401
        from faultlens.analyzer import build_graph  # noqa: F401
        from faultlens.analyzer.lint.registry import all_rules

        all_rules()
    except Exception:
        pass
    try:
        ctx = mp.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        ctx = mp.get_context()
    order = sorted(range(len(items)), key=lambda i: -_size(items[i][0]))
    results: list[FileResult | None] = [None] * len(items)
    with cf.ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=ctx,
                                initializer=_worker_init) as pool:
        futs = {pool.submit(lint_file, items[i][0], items[i][1]): i for i in order}
        for fut in cf.as_completed(futs):
            i = futs[fut]
            try:
                results[i] = fut.result()
            except Exception as exc:  # worker died (e.g. killed for memory)
                results[i] = FileResult(items[i][0], "error", f"cannot analyze: worker failed: {type(exc).__name__}")
    return [r for r in results if r is not None]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------------- suppression
class _Lines:
    def __init__(self):
        self._cache: dict[str, list[str]] = {}

    def get(self, path: str) -> list[str]:
        if path not in self._cache:
            try:
                if path.lower().endswith(".ipynb"):  # the notebook's program (its code cells)
                    from faultlens.notebook import read_text
                    self._cache[path] = split_lines(read_text(path))
                    return self._cache[path]
                with open(path, encoding="utf-8", errors="replace") as fh:
                    self._cache[path] = split_lines(fh.read())
            except Exception:
                self._cache[path] = []
        return self._cache[path]


def suppressed(f: Finding, lines: list[str]) -> bool:
    """``# faultlens: ignore`` or ``# faultlens: ignore[FL001,FL002]`` on any line of the
    flagged range (first line, or the last line of a multi-line statement)."""
    for ln in range(f.line, max(f.line, f.end_line) + 1):
        if not 1 <= ln <= len(lines):
            continue
        text = lines[ln - 1]
        if "faultlens" not in text:
            continue
        m = _SUPPRESS.search(text)
        if not m:
            continue
        if m.group(1) is None:
            return True
        codes = [c.strip().upper() for c in m.group(1).split(",") if c.strip()]
        if any(f.code.startswith(c) for c in codes):
            return True
    return False


# ------------------------------------------------------------------------- entry points
def run_lint(
    paths: Iterable[str],
    select=None,
    ignore=None,
    *,
    use_cache: bool = True,
    cache_dir: str | None = None,
    jobs: int | None = None,
) -> LintReport:
    from faultlens.analyzer.lint.registry import resolve_selection

    paths = list(paths)
    enabled = resolve_selection(select, ignore)
    notes: list[str] = []
    items = iter_files(paths, notes)
    cache = Cache((cache_dir or default_cache_dir(paths)) if use_cache else None)
    results: dict[str, FileResult] = {}
    todo: list[tuple[str, bool]] = []
    keys: dict[str, str] = {}
    for path, explicit in items:
        if not os.path.exists(path):
            results[path] = FileResult(path, "error", "")  # note already recorded
            continue
        data, _ = read_checked(path) if os.path.isfile(path) else (None, None)
        notebook = path.lower().endswith(".ipynb")  # JSON: lint_file reads its program
        if data is None or not data.strip() or b"\x00" in data or not (notebook or imports_dl_framework(data)):
            # unreadable, huge, empty, binary or non-DL: decided without the analyzer
            results[path] = lint_file(path, explicit)
            continue
        if cache.dir:
            sha = hashlib.sha256(data).hexdigest()
            cache._sha[path] = sha
            key = cache.key(path, find_root(path), sha)
            keys[path] = key
            hit = cache.get(key)
            if hit is not None:
                results[path] = hit
                continue
        todo.append((path, explicit))
    fresh = _lint_many(todo, jobs if jobs is not None else default_jobs())
    for r in fresh:
        results[r.path] = r
        if r.path in keys and r.status in ("ok", "error") and not r.message.startswith("cannot read"):
            cache.put(keys[r.path], r)
    ordered = [results[p] for p, _ in items if p in results]
    explicit_set = {p for p, e in items if e}
    cwd = os.getcwd()
    for r in ordered:
        if not r.message:
            continue
        if r.status == "error" or r.path in explicit_set:
            notes.append(f"{display_path(r.path, cwd)}: {r.message}")
    # findings: dedupe (a model file is reached from several entry files), filter, suppress
    lines = _Lines()
    seen: set[tuple] = set()
    findings: list[Finding] = []
    for r in ordered:
        for d in r.findings:
            f = Finding.from_dict(d)
            if f.code not in enabled or f.dedup_key() in seen:
                continue
            seen.add(f.dedup_key())
            if suppressed(f, lines.get(f.path)):
                continue
            findings.append(f)
    for f in findings:
        f.path = display_path(f.path, cwd)
        if f.fix:
            f.fix = type(f.fix)(f.fix.description, tuple(
                type(e)(display_path(e.path, cwd), e.line, e.column, e.end_line, e.end_column, e.text)
                for e in f.fix.edits))
    findings.sort(key=lambda f: f.sort_key())
    return LintReport(findings, ordered, notes)


def lint_paths(paths, select=None, ignore=None, *, use_cache: bool = True, cache_dir: str | None = None,
               jobs: int | None = None) -> list[Finding]:
    """Lint files and directories; returns the findings (sorted by path, line, column).
    Unreadable files are skipped (see :func:`run_lint` for the full report)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [os.fspath(paths)]
    return run_lint([os.fspath(p) for p in paths], select, ignore, use_cache=use_cache,
                    cache_dir=cache_dir, jobs=jobs).findings


def lint_source(source: str, path: str = "<source>", select=None, ignore=None) -> list[Finding]:
    """Lint program text (no cache, in-process). Findings name ``path``. The source is
    written to a private temporary directory so the graph builder sees a normal file."""
    from faultlens.analyzer.lint.registry import resolve_selection

    enabled = resolve_selection(select, ignore)
    name = os.path.basename(path) if path and not path.startswith("<") else "source.py"
    if not name.endswith(".py"):
        name += ".py"
    with tempfile.TemporaryDirectory(prefix="faultlens-lint-") as tmp:
        fp = os.path.join(tmp, name)
        with open(fp, "w", encoding="utf-8") as fh:
            fh.write(source)
        findings, _ = analyze_text(source, fp, tmp)
        lines = split_lines(source)
        out = []
        for f in sorted(findings, key=lambda f: f.sort_key()):
            if f.code not in enabled or (f.path == fp and suppressed(f, lines)):
                continue
            if f.path == fp:
                f.path = path
            if f.fix:
                f.fix = type(f.fix)(f.fix.description, tuple(
                    type(e)(path if e.path == fp else e.path, e.line, e.column, e.end_line, e.end_column, e.text)
                    for e in f.fix.edits))
            out.append(f)
        seen, uniq = set(), []
        for f in out:
            if f.dedup_key() not in seen:
                seen.add(f.dedup_key())
                uniq.append(f)
        return uniq
