"""Training in worker processes: ``multiprocessing.Process`` / ``torch.multiprocessing`` targets
(Hogwild training on a shared model, ``torch.multiprocessing.spawn``).

A process the program starts runs the program's code in another interpreter, where nothing of
the runtime exists: a spawned child imports the program's files afresh, and a pickled model
arrives without the forward hooks its original had. So the runtime, at ``Process.start`` in the
instrumented run (``runtime._install_process_hooks``), replaces the process's target by a :class:`ChildEntry`
that, in the child, records into a trace shard of its own (``<trace>.proc<n>``): it configures
the runtime there, watches the models among the target's arguments under the nodes the parent
watched them as, runs the target and closes the shard. A spawned (or forkserver) child also
gets, in its preparation data, a :class:`_Bootstrap` whose unpickling installs the rewritten
local modules before the child imports the program's main module (multiprocessing unpickles
the preparation data before it prepares the main module; Python docs, "Contexts and start
methods"). A forked child inherits the parent's runtime, which it abandons untouched.

When the parent joins a child (or at the end of the run), the first child started at a given
step is merged into the parent's trace (:func:`merge_child`): its rows at that step onwards,
after which the parent's own records (the evaluation that follows training) continue. Children
started together beside it (Hogwild's other workers) train the same shared model; they are
summarised in the meta (``processes``), not merged, so every step keeps one loss.
Only targets defined in the program's own files are wrapped: DataLoader workers, managers and
executor pools run library code and are left alone.
"""
from __future__ import annotations

import os
import sqlite3
import sys
import time
from typing import Any

#: the target that ``torch.multiprocessing.spawn`` starts: ``_wrap(fn, i, args, error_file)``
_SPAWN_WRAP = ("torch.multiprocessing.spawn", "_wrap")

#: models looked for this deep in the target's arguments (spawn's ``args`` tuple is one level)
_SEARCH_DEPTH = 2

#: a forked child's inherited runtime state: kept referenced, never closed (closing a SQLite
#: connection inherited across fork can checkpoint the parent's database; SQLite docs, "How To
#: Corrupt An SQLite Database File", 2.6)
_ABANDONED: list[Any] = []


class ChildRecord:
    """One process the program started with a wrapped target: ``done`` once its shard was
    taken in (``meta``: the shard's meta, None when unreadable), ``merged`` when its rows were
    copied into the parent's trace."""

    __slots__ = ("proc", "path", "start_step", "rank", "done", "merged", "meta")

    def __init__(self, proc: Any, path: str, start_step: int, rank: int):
        self.proc = proc
        self.path = path
        self.start_step = start_step
        self.rank = rank
        self.done = False
        self.merged = False
        self.meta: dict[str, Any] | None = None


def _user_function(target: Any, args: tuple) -> Any:
    """The program's own function behind a process target (spawn's ``_wrap`` passes it first)."""
    if (getattr(target, "__module__", None), getattr(target, "__name__", None)) == _SPAWN_WRAP and args:
        return args[0]
    return target


def is_program_target(target: Any, args: tuple, roots: list[str]) -> bool:
    """Whether a process target is the program's own code (a function of one of its files)."""
    fn = _user_function(target, args)
    code = getattr(fn, "__code__", None) or getattr(getattr(fn, "__call__", None), "__code__", None)
    filename = getattr(code, "co_filename", None)
    if not filename:
        return False
    f = os.path.abspath(filename)
    return any(f.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def watched_paths(S: Any, args: tuple, kwargs: dict) -> list[tuple[tuple, str]]:
    """(path into the arguments, node) of every watched model among them."""
    out: list[tuple[tuple, str]] = []

    def walk(obj: Any, path: tuple, depth: int) -> None:
        mw = S.models.get(id(obj))
        if mw is not None:
            out.append((path, mw.node))
            return
        if depth < _SEARCH_DEPTH and isinstance(obj, (tuple, list)):
            for i, x in enumerate(obj):
                walk(x, path + (i,), depth + 1)

    for i, a in enumerate(args):
        walk(a, ("arg", i), 0)
    for k, v in kwargs.items():
        walk(v, ("kw", k), 0)
    return out


def _at(args: tuple, kwargs: dict, path: tuple) -> Any:
    kind, key, *rest = path
    obj = args[key] if kind == "arg" else kwargs.get(key)
    for i in rest:
        obj = obj[i]
    return obj


def _install_codes(codes: dict[str, str]) -> None:
    if not codes:
        return
    from faultlens.instrumenter.runner import _RewrittenFinder
    if not any(isinstance(f, _RewrittenFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _RewrittenFinder(codes))


def _bootstrap_child(codes: dict[str, str], main_path: str | None, main_code: str | None) -> None:
    _install_codes(codes)
    if main_path and main_code:
        import multiprocessing.spawn as mp_spawn
        orig = mp_spawn._fixup_main_from_path

        def fixup(path: str) -> None:
            # what multiprocessing does with the main file (runs it as __mp_main__), with the
            # rewritten text in place of the file's
            if os.path.abspath(path) != os.path.abspath(main_path):
                return orig(path)
            import types

            import faultlens.instrumenter.runtime as rt
            from faultlens.instrumenter.rewrite import RUNTIME
            module = types.ModuleType("__mp_main__")
            module.__dict__.update({"__file__": main_path, RUNTIME: rt})
            sys.modules["__mp_main__"] = module
            exec(compile(main_code, main_path, "exec", dont_inherit=True), module.__dict__)
            sys.modules["__main__"] = module

        mp_spawn._fixup_main_from_path = fixup


class _Bootstrap:
    """Unpickled in a spawned child with its preparation data, before the child runs the
    program's main file: installs the rewritten local modules and main file there."""

    def __init__(self, codes: dict[str, str], main_path: str | None = None, main_code: str | None = None):
        self.codes = codes
        self.main_path = main_path
        self.main_code = main_code

    def __reduce__(self):
        return (_bootstrap_child, (self.codes, self.main_path, self.main_code))


def shard_config(cfg: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What a child is given: the run's ``child_config`` with the graph as JSON (serialised once,
    at the first process the run starts, not at every run's start) and ``extra``."""
    if "graph_json" not in cfg:
        g = cfg.get("graph")
        cfg["graph_json"] = g.to_json(indent=None) if g is not None and hasattr(g, "to_json") else None
    return {**{k: v for k, v in cfg.items() if k != "graph"}, **extra}


class ChildEntry:
    """The wrapped target of a process: records the child's training into its trace shard."""

    def __init__(self, target: Any, config: dict[str, Any], watched: list[tuple[tuple, str]]):
        self.target = target
        self.config = config
        self.watched = watched

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import faultlens.instrumenter.runtime as rt
        from faultlens.instrumenter.runner import describe_crash

        cfg = self.config
        if rt.state() is not None:  # forked: the parent's runtime came along
            _ABANDONED.append(rt.abandon())
        _install_codes(cfg.get("codes") or {})
        graph = None
        if cfg.get("graph_json"):
            from faultlens.analyzer.graph import ProgramGraph
            graph = ProgramGraph.from_json(cfg["graph_json"])
        deadline = cfg.get("deadline")
        rt.configure(trace_path=cfg["trace_path"], graph=graph, program=cfg.get("program"),
                     max_steps=cfg.get("max_steps"),
                     max_seconds=None if deadline is None else max(0.5, deadline - time.time()),
                     curvature=cfg.get("curvature", False), early_stop=cfg.get("early_stop", True),
                     sample_every=cfg.get("sample_every", 10), deterministic=cfg.get("deterministic", False),
                     meta={"parent_trace": cfg.get("parent_trace"), "rank": cfg.get("rank"), "pid": os.getpid()})
        for path, node in self.watched:
            try:
                rt.watch_model(_at(args, kwargs, path), node)
            except (IndexError, KeyError, TypeError):
                pass
        status, crash, stop_reason = "finished", None, None
        try:
            return self.target(*args, **kwargs)
        except rt.StopRun as exc:
            status, stop_reason = "cut_short", exc.reason
            return None
        except BaseException as exc:
            S = rt.state()
            status, stop_reason = "crashed", "crash"
            crash = describe_crash(exc, cfg.get("program") or "", graph,
                                   S.steps_done() - 1 if S and S.started else (S.step if S else None), S)
            raise
        finally:
            try:
                rt.finish(status, crash=crash, stop_reason=stop_reason)
            finally:
                rt.reset()


def settle(rec: ChildRecord, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for a started child to end (never for an unstarted one)."""
    try:
        if getattr(rec.proc, "_popen", None) is not None and rec.proc.exitcode is None:
            rec.proc.join(timeout)
    except (AssertionError, OSError, ValueError):  # joined from another process, or closed
        pass


def merge_child(S: Any, rec: ChildRecord) -> None:
    """Take in a finished child's shard: copy it into the parent's trace (see the module
    docstring), or only keep its meta for a worker beside one already merged."""
    if rec.done:
        return
    rec.done = True
    if not os.path.exists(rec.path):
        return
    from faultlens.instrumenter.trace import read_tables
    try:
        meta, _, data, events = read_tables(rec.path, strict=False)
    except sqlite3.Error:
        return
    rec.meta = meta
    if any(o.merged and o.start_step == rec.start_step for o in S.children):
        return  # a worker beside an already merged one: summarised only
    rec.merged = True
    off = rec.start_step
    S.flush_step()
    for key, (steps, values) in data.items():
        for step, value in zip(steps.tolist(), values.tolist()):
            S.writer.scalar_row(step + off, key, value)
    seq0 = S.seq
    for e in events:
        S.writer.event_row((e.step + off, e.seq + seq0, e.event, e.node, e.training, e.grad_enabled))
    S.seq = seq0 + max((e.seq for e in events), default=0) + 1
    steps = int(meta.get("steps") or 0)
    if steps:
        S.step = max(S.step, off + steps)
        S.start_training()
        S.dirty = False
    S.writer.flush(S.step)


def outcome(S: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(the merged children's worst outcome to carry into the parent's status, the summaries)."""
    worst = None
    summaries = []
    for rec in S.children:
        m = rec.meta or {}
        summaries.append({"rank": rec.rank, "trace": os.path.basename(rec.path), "start_step": rec.start_step,
                          "steps": m.get("steps"), "status": m.get("status"),
                          "stop_reason": m.get("stop_reason"), "merged": rec.merged})
        if rec.merged and m.get("status") in ("crashed", "cut_short"):
            if worst is None or m.get("status") == "crashed":
                worst = m
    return worst, summaries


def with_children_watched(S: Any, watched: dict[str, list]) -> dict[str, list]:
    """The parent's ``watched`` meta with what its merged children watched added."""
    out = {k: list(v) for k, v in watched.items()}
    for rec in S.children:
        if not rec.merged:
            continue
        for k, v in (rec.meta.get("watched") or {}).items():
            for x in v or []:
                if x not in out.setdefault(k, []):
                    out[k].append(x)
    return out
