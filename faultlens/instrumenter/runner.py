"""Running an instrumented program.

Two entries:

* :func:`run_program` (what ``faultlens run`` uses): builds the graph, writes a run directory
  (``graph.json``, the rewritten source, ``trace.sqlite``, ``result.json``) and runs the
  program in a child process with the same interpreter, environment and working directory
  that ``python FILE ARGS`` would have, streaming its output.
* :func:`execute`: the same run inside the current process (the child uses it; the corpus
  builder's workers call it to run many programs after importing torch once). It sets
  ``sys.argv``/``sys.path[0]``/cwd/``__main__`` like the interpreter does for a script,
  restores all of them afterwards, forgets the modules the program imported from its own
  directory, and resets every runtime hook.

This module imports torch only inside :func:`execute`.
"""
from __future__ import annotations

import ast
import collections
import datetime as _dt
import importlib.abc
import importlib.machinery
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
import types
from dataclasses import dataclass, field
from typing import Any, Sequence

from faultlens.errors import UsageError
from faultlens.runconfig import RunConfig
from faultlens._timebox import TimeUp, call_bounded, time_box
from faultlens.instrumenter.progress import Progress
from faultlens.instrumenter.rewrite import RUNTIME, Rewrite, relpath_in_graph, rewrite_file, rewrite_source, safe_graph

TAIL_CHARS = 8000


@dataclass
class RunResult:
    """What a run produced. ``status``: finished | crashed | cut_short | interrupted."""

    run_dir: str | None
    trace_path: str
    graph_path: str | None
    graph: Any
    status: str
    returncode: int | None
    steps: int
    seconds: float
    crash: dict[str, Any] | None
    stdout_tail: str = ""
    stop_reason: str | None = None
    probe_errors: list[dict[str, Any]] = field(default_factory=list)
    program: str | None = None
    argv: list[str] = field(default_factory=list)
    source_path: str | None = None
    #: --max-seconds ran out during the static analysis before the run (graph: None)
    analysis_stopped: bool = False

    def load_trace(self):
        from faultlens.instrumenter.trace import load_trace
        return load_trace(self.trace_path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir, "trace_path": self.trace_path, "graph_path": self.graph_path,
            "status": self.status, "returncode": self.returncode, "steps": self.steps,
            "seconds": self.seconds, "crash": self.crash, "stop_reason": self.stop_reason,
            "probe_errors": self.probe_errors, "program": self.program, "argv": self.argv,
            "source_path": self.source_path, "analysis_stopped": self.analysis_stopped,
        }


# ====================================================================== crashes
_OOM = ("out of memory", "cannot allocate memory", "defaultcpuallocator: can't allocate")
_DEVICE = ("expected all tensors to be on the same device", "expected device", "device-side",
           "but got device", "tensors to be on the same device", "is on device", "cuda error")
_NAN = ("returned nan", "returned inf", "nan values", "non-finite", "nonfinite", "not finite",
        "anomaly", "contains nan", "is nan", "nan or inf", "inf or nan", "nan detected")
_DTYPE = ("expected scalar type", "scalar type", "dtype", "not implemented for '", "found float",
          "found long", "expected floating point", "expected object of scalar type",
          "can't convert", "expected long", "expected float", "result type float can't be cast",
          "only tensors of floating point", "must be floating point", "is not implemented for")
_SHAPE = ("shape", "size mismatch", "sizes of tensors", "dimension", "mat1 and mat2",
          "must match the size", "expected input batch_size", "expected target size",
          "invalid for input of size", "expected 2d", "expected 3d", "expected 4d", "number of dims",
          "size of tensor", "same size", "sizes do not match", "expected input with shape",
          "input.size(-1)", "doesn't match the broadcast shape", "inconsistent tensor size",
          "target size", "size (", "batch1 and batch2")
_INDEX = ("out of bounds", "index out of range", "out of range", "target -", "cuda error: device-side assert")


def classify_crash(exc: BaseException) -> str:
    """Map an exception to one of ``schema.CRASH_KINDS`` by its type and message."""
    name = type(exc).__name__
    low = str(exc).lower()
    if isinstance(exc, MemoryError) or name == "OutOfMemoryError" or any(k in low for k in _OOM):
        return "out_of_memory"
    if any(k in low for k in _DEVICE):
        return "device"
    if any(k in low for k in _NAN):
        return "nan_check"
    if isinstance(exc, (IndexError,)) or any(k in low for k in _INDEX):
        return "index_range"
    if any(k in low for k in _DTYPE):
        return "dtype"
    if any(k in low for k in _SHAPE):
        return "shape_mismatch"
    return "other"


_STMT_CACHE: dict[str, list[tuple[int, int, int, int]]] = {}


def statement_span(path: str, line: int) -> tuple[int, int, int, int] | None:
    """(line, column, end_line, end_column), 1-based, of the innermost statement of ``path``
    that contains ``line``."""
    spans = _STMT_CACHE.get(path)
    if spans is None:
        spans = []
        try:
            with open(path, encoding="utf-8") as fh:
                tree = ast.parse(fh.read())
            for n in ast.walk(tree):
                if isinstance(n, ast.stmt):
                    spans.append((n.lineno, n.col_offset + 1, n.end_lineno or n.lineno, (n.end_col_offset or 0) + 1))
        except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
            pass
        _STMT_CACHE[path] = spans
    best = None
    for s in spans:
        if s[0] <= line <= s[2]:
            # innermost: the latest start, then the earliest end
            if best is None or (s[0], -s[2]) > (best[0], -best[2]):
                best = s
    return best


_NODE_PRIORITY = {"call": 0, "loss": 1, "op": 2, "model": 3, "optimizer": 4, "dataloader": 5,
                  "layer": 6, "init": 7, "transform": 8, "scheduler": 9, "context": 10,
                  "hyperparameter": 11, "loop": 12, "function": 13, "module_class": 14}


def _node_at(graph: Any, rel: str, span: tuple[int, int, int, int] | None, line: int) -> str | None:
    if graph is None:
        return None
    try:
        cands = graph.at_line(rel, line)
    except Exception:
        return None
    if not cands:
        return None
    def key(n):
        exact = 0 if span is not None and n.span.line == span[0] else 1
        size = n.span.end_line - n.span.line
        return (exact, size, _NODE_PRIORITY.get(n.kind, 20), n.span.column)
    return sorted(cands, key=key)[0].id


def _is_user_file(filename: str, roots: Sequence[str]) -> bool:
    if not filename or filename.startswith("<"):
        return False
    f = os.path.abspath(filename)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if f.startswith(pkg + os.sep):
        return False
    if "site-packages" in f or "dist-packages" in f or f.startswith(sys.base_prefix + os.sep + "lib"):
        return False
    return any(f == r or f.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def describe_crash(exc: BaseException, program: str, graph: Any = None, step: int | None = None,
                   S: Any = None) -> dict[str, Any]:
    """The crash record (``schema.CRASH_KEYS``): the innermost frame in the user's files,
    widened to its statement, with the graph node there and the watched layer that raised."""
    program = os.path.abspath(program)
    roots = [os.path.dirname(program)]
    groot = getattr(graph, "root", None)
    if groot:
        roots.append(os.path.abspath(groot))
    tb = traceback.extract_tb(exc.__traceback__)
    user = [fs for fs in tb if _is_user_file(fs.filename, roots)]
    msg = _ANSI.sub("", str(exc)).strip().splitlines()  # colour codes some libraries put in messages
    crash: dict[str, Any] = {
        "kind": classify_crash(exc), "type": type(exc).__name__,
        "message": msg[0] if msg else type(exc).__name__,
        "path": None, "line": None, "column": None, "end_line": None, "end_column": None,
        "node": None, "step": step, "layer": None, "frame_line": None,
        "traceback": "".join(traceback.format_list(user or tb[-3:])) + f"{type(exc).__name__}: " + _ANSI.sub("", str(exc)),
    }
    if isinstance(exc, SystemExit):
        crash["kind"] = "other"
        crash["message"] = f"exit status {exc.code}"
    if user:
        fs = user[-1]
        f = os.path.abspath(fs.filename)
        rel = relpath_in_graph(graph, f) if graph is not None else os.path.relpath(f, roots[0]).replace(os.sep, "/")
        span = statement_span(f, fs.lineno)
        crash["path"] = rel
        crash["frame_line"] = fs.lineno
        if span is not None:
            crash.update(line=span[0], column=span[1], end_line=span[2], end_column=span[3])
        else:
            crash.update(line=fs.lineno, column=(fs.colno or 0) + 1, end_line=fs.end_lineno or fs.lineno,
                         end_column=(fs.end_colno or 0) + 1)
        crash["node"] = _node_at(graph, rel, span, fs.lineno)
    if S is not None:
        crash["layer"] = _raising_layer(exc, S)
    return crash


def _raising_layer(exc: BaseException, S: Any) -> str | None:
    """The innermost watched sub-module whose forward was on the stack when ``exc`` was raised."""
    tb = exc.__traceback__
    found = None
    while tb is not None:
        slf = tb.tb_frame.f_locals.get("self") if tb.tb_frame.f_code.co_name in ("forward", "_call_impl", "_conv_forward") else None
        if slf is not None:
            for mw in S.models.values():
                name = mw.module_names.get(id(slf))
                if name:
                    found = mw.layer_node(name)
        tb = tb.tb_next
    return found


# ====================================================================== in-process run
class _Tee:
    def __init__(self, stream: Any, buf: collections.deque):
        self._stream = stream
        self._buf = buf

    def write(self, s: str) -> int:
        self._buf.append(s)
        return self._stream.write(s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _RewrittenLoader(importlib.abc.Loader):
    def __init__(self, origin: str, code: str):
        self.origin = origin
        self.code = code

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        import faultlens.instrumenter.runtime as rt
        module.__dict__[RUNTIME] = rt
        exec(compile(self.code, self.origin, "exec", dont_inherit=True), module.__dict__)


class _RewrittenFinder(importlib.abc.MetaPathFinder):
    """Serves the rewritten text of the program's local modules (same file names and line
    numbers; the user's files are never written)."""

    def __init__(self, codes: dict[str, str]):
        self.codes = codes

    def find_spec(self, fullname, path, target=None):
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.origin and os.path.abspath(spec.origin) in self.codes:
            spec.loader = _RewrittenLoader(spec.origin, self.codes[os.path.abspath(spec.origin)])
            return spec
        return None


def local_rewrites(graph: Any, entry: str) -> dict[str, Rewrite]:
    """Rewrites of the program's other local files that have something to watch."""
    out: dict[str, Rewrite] = {}
    if graph is None:
        return out
    root = os.path.abspath(getattr(graph, "root", None) or os.path.dirname(entry))
    for rel in getattr(graph, "files", []) or []:
        f = os.path.abspath(os.path.join(root, rel))
        if f == os.path.abspath(entry) or not os.path.isfile(f):
            continue
        try:
            with open(f, encoding="utf-8") as fh:
                rw = rewrite_source(fh.read(), graph, rel, path=f)
        except Exception:
            continue
        if any(e.kind != "import" for e in rw.edits):
            out[f] = rw
    return out


#: the run options of :func:`run_program` and :func:`execute` called without a config: the
#: program's output is shown, as ``python FILE`` shows it
SHOWN = RunConfig(stream=True)


def execute(path: str, argv: Sequence[str] | None = None, trace_path: str | None = None, *,
            config: RunConfig | None = None, graph: Any = None, rewrite: Rewrite | None = None,
            tee: bool | None = None, run_dir: str | None = None, graph_path: str | None = None,
            deadline: float | None = None, **options: Any) -> RunResult:
    """Run ``path`` instrumented inside this process and return its :class:`RunResult`.

    The run options are ``config`` (default :data:`SHOWN`) with the keyword ``options`` (any
    :class:`~faultlens.runconfig.RunConfig` field: ``max_steps``, ``max_seconds``, ``curvature``,
    ``seed``, ``cwd``, ``early_stop``, ``sample_every``) and ``argv`` applied. ``tee`` (default: the
    config's ``stream``) copies the program's output to this process's streams.

    ``deadline`` (a ``time.time()`` value) is when training must stop, whatever the start-up cost:
    it replaces ``max_seconds`` by the time left once torch is imported."""
    config = RunConfig.of(config if config is not None else SHOWN, argv, **options)
    argv, max_steps, max_seconds, curvature = list(config.argv), config.max_steps, config.max_seconds, config.curvature
    seed, cwd, early_stop, sample_every = config.seed, config.cwd, config.early_stop, config.sample_every
    tee = config.stream if tee is None else tee
    import torch  # noqa: F401  (the runtime needs it; imported here, not at module load)
    import faultlens.instrumenter.runtime as rt

    if deadline is not None:
        max_seconds = max(0.5, deadline - time.time())

    program = os.path.abspath(path)
    if not os.path.isfile(program):
        raise UsageError(f"{path}: no such file")
    if graph is None:
        graph, _ = safe_graph(program, argv)
    if rewrite is None:
        rewrite = rewrite_file(program, graph, build=False)
    if trace_path is None:
        raise UsageError("execute() needs a trace_path")
    trace_path = os.path.abspath(trace_path)
    os.makedirs(os.path.dirname(trace_path), exist_ok=True)
    if os.path.exists(trace_path):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(trace_path + suffix):
                os.remove(trace_path + suffix)
    locals_ = local_rewrites(graph, program)

    saved_argv, saved_path, saved_cwd = list(sys.argv), list(sys.path), os.getcwd()
    saved_main = sys.modules.get("__main__")
    saved_modules = set(sys.modules)
    saved_stdout, saved_stderr = sys.stdout, sys.stderr
    prog_dir = os.path.dirname(program)
    tail: collections.deque = collections.deque(maxlen=400)
    status, crash, stop_reason, returncode = "finished", None, None, 0
    finder = None
    old_alarm = None
    S = None
    t0 = time.perf_counter()
    try:
        if cwd:
            os.chdir(cwd)
        sys.argv = [path, *[str(a) for a in argv]]
        if sys.path:
            sys.path[0] = prog_dir
        else:
            sys.path.insert(0, prog_dir)
        if locals_:
            finder = _RewrittenFinder({f: rw.exec_code for f, rw in locals_.items()})
            sys.meta_path.insert(0, finder)
        if seed is not None:
            _seed_everything(seed)
        S = rt.configure(trace_path=trace_path, graph=graph, program=path, max_steps=max_steps,
                         max_seconds=max_seconds, curvature=curvature, early_stop=early_stop,
                         sample_every=sample_every, deterministic=seed is not None,
                         meta={"argv": list(argv), "graph": graph_path, "seed": seed, "run_dir": run_dir,
                               "cwd": os.getcwd(), "max_steps": max_steps, "max_seconds": max_seconds,
                               "rewrite_skipped": rewrite.skipped,
                               "instrumented": sorted({e.node for rw in (rewrite, *locals_.values())
                                                       for e in rw.edits if e.kind == "watch" and e.node})})
        S.child_config = {
            "codes": {f: rw.exec_code for f, rw in locals_.items()}, "main_code": rewrite.exec_code,
            "graph": graph,  # serialised at the first Process.start only (workers.shard_config)
            "program": program, "roots": sorted({prog_dir, os.path.abspath(getattr(graph, "root", None) or prog_dir)}),
            "max_steps": max_steps, "deadline": None if max_seconds is None else time.time() + float(max_seconds),
            "curvature": curvature, "early_stop": early_stop, "sample_every": sample_every,
            "deterministic": seed is not None}
        if tee:
            sys.stdout = _Tee(sys.stdout, tail)
            sys.stderr = _Tee(sys.stderr, tail)
        if max_seconds is not None and threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            # a program stuck between steps is stopped a little later; under the whole-command
            # deadline the parent kills the child half a reserve after it, so the grace is short
            grace = 1.0 if deadline is not None else max(5.0, 0.25 * float(max_seconds))

            def _alarm(signum, frame):
                raise rt.StopRun("max_seconds_hard")

            old_alarm = signal.signal(signal.SIGALRM, _alarm)
            signal.setitimer(signal.ITIMER_REAL, float(max_seconds) + grace)
        main = types.ModuleType("__main__")
        main.__dict__.update({"__file__": program, "__builtins__": __builtins__, "__spec__": None,
                              "__loader__": None, "__package__": None, RUNTIME: rt})
        sys.modules["__main__"] = main
        code = compile(rewrite.exec_code, program, "exec", dont_inherit=True)
        try:
            exec(code, main.__dict__)
        finally:
            if old_alarm is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except rt.StopRun as exc:
        status, stop_reason = "cut_short", exc.reason
    except SystemExit as exc:
        code_ = exc.code
        if code_ is None or code_ == 0:
            status, stop_reason, returncode = "finished", "exit", 0
        else:
            returncode = code_ if isinstance(code_, int) else 1
            status, stop_reason = "crashed", "exit"
            if not isinstance(code_, int):  # sys.exit("message"): Python prints it, exit status 1
                print(code_, file=saved_stderr)
            crash = describe_crash(exc, program, graph, S.step if S else None, S)
    except KeyboardInterrupt:
        status, stop_reason, returncode = "interrupted", "interrupted", 130
    except BaseException as exc:  # the program crashed
        status, stop_reason, returncode = "crashed", "crash", 1
        crash = describe_crash(exc, program, graph, S.steps_done() - 1 if S and S.started else (S.step if S else None), S)
        tb = exc.__traceback__  # from the program's own frames, as `python FILE` prints it
        while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        traceback.print_exception(type(exc), exc, tb, file=saved_stderr)
    finally:
        sys.stdout, sys.stderr = saved_stdout, saved_stderr
        if old_alarm is not None:
            signal.signal(signal.SIGALRM, old_alarm)
        meta: dict[str, Any] = {}
        try:
            meta = rt.finish(status, crash=crash, stop_reason=stop_reason, returncode=returncode)
            # a worker process's crash or stop becomes the run's (workers.py)
            status = meta.get("status", status)
            stop_reason, crash = meta.get("stop_reason", stop_reason), meta.get("crash", crash)
        finally:
            rt.reset()
            if finder is not None and finder in sys.meta_path:
                sys.meta_path.remove(finder)
            os.chdir(saved_cwd)
            sys.argv = saved_argv
            sys.path[:] = saved_path
            if saved_main is not None:
                sys.modules["__main__"] = saved_main
            _forget_modules(saved_modules, prog_dir, getattr(graph, "root", None))
    return RunResult(
        run_dir=run_dir, trace_path=trace_path, graph_path=graph_path, graph=graph, status=status,
        returncode=returncode, steps=int(meta.get("steps", 0) or 0),
        seconds=float(meta.get("seconds", time.perf_counter() - t0) or 0.0), crash=crash,
        stdout_tail="".join(tail)[-TAIL_CHARS:], stop_reason=stop_reason,
        probe_errors=list(meta.get("probe_errors") or []), program=path, argv=list(argv),
    )


def _seed_everything(seed: int) -> None:
    import random

    import torch
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % (2 ** 32))
    except ImportError:  # pragma: no cover
        pass


def _forget_modules(before: set[str], prog_dir: str, root: str | None) -> None:
    dirs = [os.path.abspath(prog_dir)] + ([os.path.abspath(root)] if root else [])
    for name in list(sys.modules):
        if name in before:
            continue
        mod = sys.modules.get(name)
        f = getattr(mod, "__file__", None)
        if not f:
            continue
        f = os.path.abspath(f)
        if "site-packages" in f:
            continue
        if any(f.startswith(d + os.sep) for d in dirs):
            del sys.modules[name]


# ====================================================================== child-process run
def new_run_dir(path: str, base: str | None = None) -> str:
    base = base or os.path.join(os.getcwd(), ".faultlens", "runs")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    stem = os.path.splitext(os.path.basename(path))[0]
    d = os.path.join(base, f"{stamp}-{stem}-{secrets.token_hex(2)}")
    os.makedirs(d, exist_ok=True)
    return d


def run_program(path: str, argv: Sequence[str] | None = None, *, config: RunConfig | None = None,
                graph: Any = None, **options: Any) -> RunResult:
    """Run ``path`` instrumented in a child process; see the module docstring.

    The run options are ``config`` (default :data:`SHOWN`) with the keyword ``options`` (any
    :class:`~faultlens.runconfig.RunConfig` field: ``max_steps``, ``max_seconds``, ``out_dir``,
    ``curvature``, ``seed``, ``stream``, ``early_stop``, ``cwd``, ``sample_every``, ``started``,
    ``progress``) and ``argv`` applied; ``graph``: the program graph when the caller has it.

    ``progress``: with ``stream``, keep a status line (steps, loss, symptoms so far) on standard
    error while the program trains, when standard error is a terminal
    (:mod:`faultlens.instrumenter.progress`).

    ``max_seconds`` bounds the whole command that started at ``started`` (a ``time.time()``
    value; default: now): analysis, the child's start-up and training, and the diagnosis after
    it, for which :func:`budget_reserve` seconds are kept."""
    config = RunConfig.of(config if config is not None else SHOWN, argv, **options)
    argv, max_steps, max_seconds, out_dir = list(config.argv), config.max_steps, config.max_seconds, config.out_dir
    curvature, seed, stream, early_stop = config.curvature, config.seed, config.stream, config.early_stop
    cwd, sample_every, started, progress = config.cwd, config.sample_every, config.started, config.progress
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file")
    from faultlens.inputs import not_python_message
    if not_python_message(path):  # a notebook is never executed as Python
        raise UsageError(not_python_message(path))
    if max_steps is not None and max_steps < 1:
        raise UsageError("--max-steps must be at least 1")
    if max_seconds is not None and max_seconds <= 0:
        raise UsageError("--max-seconds must be positive")
    started = time.time() if started is None else started
    program = os.path.abspath(path)
    cwd = os.path.abspath(cwd or os.getcwd())
    # under --max-seconds the static analysis gets half of the time before training must stop,
    # the rewrite what is left of it: a huge file must not eat the whole budget before the run.
    # The two run in a forked copy of this process that is killed when that time is up
    # (call_bounded: libcst's parser cannot be interrupted while it is in native code).
    train_until = None if max_seconds is None else started + float(max_seconds) - budget_reserve(max_seconds)
    analysis_until = None if train_until is None else started + 0.5 * (train_until - started)
    given = graph

    def static() -> tuple[Any, str | None, bool, Rewrite]:
        g, err, stopped = given, None, False
        if g is None:
            try:
                with time_box(_left(analysis_until)):
                    g, err = safe_graph(program, argv)  # an analyzer bug falls back to the syntactic planner
            except TimeUp:
                g, stopped = None, True
                err = f"static analysis stopped at the time limit (--max-seconds) after {time.time() - started:.1f} s"
        return g, err, stopped, rewrite_file(program, g, build=False)

    run_dir = os.path.abspath(out_dir) if out_dir else new_run_dir(program, os.path.join(cwd, ".faultlens", "runs"))
    if train_until is not None:
        try:  # imported here, so the forked copy imports nothing (another thread may hold a lock)
            import faultlens.analyzer.build  # noqa: F401
        except ImportError:
            pass
    try:
        graph, graph_error, analysis_stopped, rw = call_bounded(static, _left(train_until))
    except TimeUp:
        os.makedirs(run_dir, exist_ok=True)
        return _not_run(path, program, argv, run_dir, started)
    os.makedirs(run_dir, exist_ok=True)
    graph_path = None
    if graph is not None:
        graph_path = os.path.join(run_dir, "graph.json")
        with open(graph_path, "w", encoding="utf-8") as fh:
            fh.write(graph.to_json())
    stem = os.path.splitext(os.path.basename(program))[0]
    source_path = os.path.join(run_dir, f"{stem}.instrumented.py")
    with open(source_path, "w", encoding="utf-8") as fh:
        fh.write(rw.code)
    with open(os.path.join(run_dir, "rewrite.json"), "w", encoding="utf-8") as fh:
        json.dump({"edits": [e.to_dict() for e in rw.edits], "skipped": rw.skipped,
                   "graph_error": graph_error}, fh, indent=2)
    trace_path = os.path.join(run_dir, "trace.sqlite")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(trace_path + suffix):
            os.remove(trace_path + suffix)
    cfg = {
        "path": path if not os.path.isabs(path) else program, "program": program, "argv": [str(a) for a in argv],
        "trace_path": trace_path, "graph_path": graph_path, "max_steps": max_steps,
        "max_seconds": max_seconds, "curvature": curvature, "seed": seed, "early_stop": early_stop,
        "cwd": cwd, "run_dir": run_dir, "sample_every": sample_every,
        "exec_source": source_path + ".exec", "result_path": os.path.join(run_dir, "result.json"),
        "parent_pid": os.getpid(),
        "watch_nodes": sorted({e.node for e in rw.edits if e.kind == "watch" and e.node}),
        "deadline": None if max_seconds is None else started + float(max_seconds) - budget_reserve(max_seconds),
    }
    with open(cfg["exec_source"], "w", encoding="utf-8") as fh:
        fh.write(rw.exec_code)
    cfg_path = os.path.join(run_dir, "run.json")
    with open(cfg_path, "w", encoding="utf-8") as fh:
        json.dump(cfg, fh, indent=2)
    # a relative path stays relative to cwd, like `python FILE` (sys.argv[0] as typed)
    if not os.path.isabs(path) and os.path.abspath(os.path.join(cwd, path)) != program:
        cfg["path"] = program
        with open(cfg_path, "w", encoding="utf-8") as fh:
            json.dump(cfg, fh, indent=2)

    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "faultlens.instrumenter._child", cfg_path],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=None)
    tail: collections.deque = collections.deque(maxlen=400)

    status_line = None
    if stream and progress and Progress.wanted():
        status_line = Progress(trace_path, limit=max_seconds, graph=graph).start()

    def show(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def pump():
        assert proc.stdout is not None
        for raw in iter(lambda: proc.stdout.readline(), b""):
            text = raw.decode("utf-8", "replace")
            tail.append(text)
            if stream:
                try:
                    if status_line is not None:
                        status_line.write_through(show, text)
                    else:
                        show(text)
                except (OSError, ValueError):
                    pass

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    interrupted = False
    timed_out = False
    # the child stops training at the deadline by itself (or, stuck between steps, by its own
    # alarm a second later); a child stuck in native code is killed when the whole budget is up
    hard = None if cfg["deadline"] is None else started + float(max_seconds)
    try:
        while True:
            try:
                proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if hard is not None and time.time() > hard:
                    timed_out = True  # the child ignored its own time budget (stuck in C code)
                    proc.kill()
    except KeyboardInterrupt:
        interrupted = True
        _stop_child(proc)
    reader.join(timeout=5)
    if status_line is not None:
        status_line.stop()
    seconds = time.perf_counter() - t0
    res = _collect(cfg, proc.returncode, seconds, "".join(tail)[-TAIL_CHARS:], graph, interrupted, source_path,
                   timed_out)
    res.analysis_stopped = analysis_stopped
    return res


def _left(until: float | None) -> float | None:
    """Seconds from now to ``until`` (a ``time.time()`` value); None when unbounded."""
    return None if until is None else until - time.time()


def _not_run(path: str, program: str, argv: Sequence[str], run_dir: str, started: float) -> RunResult:
    """--max-seconds ran out before the program could be instrumented: it was not run."""
    res = RunResult(run_dir=run_dir, trace_path=os.path.join(run_dir, "trace.sqlite"), graph_path=None,
                    graph=None, status="cut_short", returncode=None, steps=0,
                    seconds=0.0, crash=None, stop_reason="max_seconds_analysis", program=path,
                    argv=[str(a) for a in argv], analysis_stopped=True)
    try:
        with open(os.path.join(run_dir, "result.json"), "w", encoding="utf-8") as fh:
            json.dump(dict(res.to_dict(), analysis_seconds=round(time.time() - started, 3)), fh, indent=2)
    except OSError:  # pragma: no cover
        pass
    return res


def budget_reserve(max_seconds: float | None) -> float:
    """Seconds of a ``--max-seconds`` budget kept for what follows training (trace flush,
    diagnosis with the classifier's imports, localization, the report): 3 s plus a tenth of the
    budget, at most half of it."""
    if max_seconds is None:
        return 0.0
    return min(0.5 * float(max_seconds), 3.0 + 0.1 * float(max_seconds))


def _stop_child(proc: subprocess.Popen) -> None:
    """Ctrl-C: the child usually got the SIGINT too; give it time to write its trace."""
    for sig, wait in ((None, 3.0), (signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        if sig is not None:
            try:
                proc.send_signal(sig)
            except OSError:
                return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            continue


def _collect(cfg: dict[str, Any], rc: int | None, seconds: float, tail: str, graph: Any,
             interrupted: bool, source_path: str, timed_out: bool = False) -> RunResult:
    trace_path = cfg["trace_path"]
    meta: dict[str, Any] = {}
    if os.path.exists(trace_path):
        try:
            con = sqlite3.connect(trace_path)
            meta = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}
            con.close()
        except sqlite3.Error:
            meta = {}
    status = meta.get("status", "running")
    crash = meta.get("crash")
    stop_reason = meta.get("stop_reason")
    if status == "running" or not meta:
        # the child died without finishing its trace (signal, OOM killer, hard timeout)
        if interrupted:
            status, stop_reason = "interrupted", "interrupted"
        elif timed_out:
            status, stop_reason = "cut_short", "max_seconds_hard"
        elif rc is not None and rc < 0:
            try:
                signame = signal.Signals(-rc).name
            except ValueError:
                signame = str(-rc)
            status, stop_reason = "crashed", "killed"
            crash = {"kind": "other",
                     "type": "Signal", "message": f"killed by {signame}", "path": None, "line": None,
                     "column": None, "end_line": None, "end_column": None, "node": None,
                     "step": meta.get("steps"), "traceback": ""}
        else:
            status, stop_reason = "crashed", "child_failed"
            crash = {"kind": "other", "type": "ChildError", "message": f"exit status {rc}", "path": None,
                     "line": None, "column": None, "end_line": None, "end_column": None, "node": None,
                     "step": meta.get("steps"), "traceback": tail[-2000:]}
        _update_meta(trace_path, status=status, stop_reason=stop_reason, crash=crash, returncode=rc,
                     seconds=round(seconds, 4))
    elif interrupted and status != "interrupted":
        status = "interrupted"
        _update_meta(trace_path, status=status, stop_reason="interrupted")
    res = RunResult(
        run_dir=cfg["run_dir"], trace_path=trace_path, graph_path=cfg["graph_path"], graph=graph,
        status=status, returncode=rc, steps=int(meta.get("steps") or 0),
        seconds=float(meta.get("seconds") or seconds), crash=crash, stdout_tail=tail,
        stop_reason=stop_reason, probe_errors=list(meta.get("probe_errors") or []),
        program=cfg["path"], argv=list(cfg["argv"]), source_path=source_path,
    )
    try:
        with open(cfg["result_path"], "w", encoding="utf-8") as fh:
            json.dump(res.to_dict(), fh, indent=2, default=repr)
    except OSError:  # pragma: no cover
        pass
    return res


def _update_meta(trace_path: str, **items: Any) -> None:
    try:
        con = sqlite3.connect(trace_path)
        with con:
            con.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)")
            con.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                            [(k, json.dumps(v, default=repr)) for k, v in items.items()])
        con.close()
    except sqlite3.Error:  # pragma: no cover
        pass
