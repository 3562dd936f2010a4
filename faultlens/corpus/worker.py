"""One corpus job in a worker process: build the mutant, run it instrumented, summarise.

A worker imports torch once (:func:`init_worker`) and then runs many jobs in-process through
the instrumenter's ``faultlens.instrumenter.runner.execute``. A job is a plain dict (it
crosses process and Ray boundaries):

``{"program", "path", "mutant_id", "mutant" (None for the original), "seed", "max_steps",
"max_seconds", "curvature", "workdir"}``

and the result is a plain dict that :func:`faultlens.corpus.db.record_run` stores. Nothing
here raises: any failure becomes ``status="failed"`` with the error text.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from typing import Any

import numpy as np

from faultlens._proc import die_with_parent
from faultlens.corpus.labels import injection_error, injection_error_text
from faultlens.runconfig import RunConfig

SCORE_RE = re.compile(r"^FINAL_SCORE\s+(\S+)\s+(\S+)\s*$", re.M)
SERIES_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "grad_norm_total", "weight_norm_total",
                  "update_ratio_total", "lr", "lambda_max_lr")
SERIES_POINTS = 64
_READY = False


def init_pool_worker() -> None:
    """Initializer of the local engine's worker processes."""
    die_with_parent()
    init_worker()


def init_worker() -> None:
    """Import the heavy modules once per worker process."""
    global _READY
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    import faultlens.instrumenter.runner  # noqa: F401
    import faultlens.analyzer  # noqa: F401
    _READY = True


def parse_score(stdout: str) -> tuple[str | None, float | None]:
    """The last ``FINAL_SCORE <metric> <value>`` line (NaN/inf values parse as such)."""
    found = SCORE_RE.findall(stdout or "")
    if not found:
        return None, None
    metric, value = found[-1]
    try:
        return metric, float(value)
    except ValueError:
        return metric, float("nan")


def downsample(steps: np.ndarray, vals: np.ndarray, n: int = SERIES_POINTS) -> tuple[list[int], list[float | None]]:
    if len(steps) > n:
        idx = np.unique(np.linspace(0, len(steps) - 1, n).round().astype(int))
        steps, vals = steps[idx], vals[idx]
    return [int(s) for s in steps], [float(v) if math.isfinite(v) else None for v in vals]


def _mutant_obj(spec: dict[str, Any]):
    from faultlens.corpus.operators import Mutant

    info = tuple(tuple(x) for x in spec.get("info") or ())
    params = tuple(sorted((k, v) for k, v in (spec.get("params") or {}).items()))
    return Mutant(spec["operator"], spec["site"], params, spec.get("fault_type", ""), info)


def materialize(job: dict[str, Any], dest: str) -> str:
    """Write the job's program (mutated when it is a mutant) into ``dest``; return the entry path.
    An own program's original runs in place; a real program (``job["subject"]``,
    faultlens.corpus.real) always runs in a copy of its whole folder, data included, so that
    concurrent runs never share the files it writes."""
    src_path = os.path.abspath(job["path"])
    subject = job.get("subject")
    if subject:
        shutil.copytree(subject["root"], dest, dirs_exist_ok=True, symlinks=True)
        src_root = os.path.abspath(subject["root"])
    if not job.get("mutant"):
        return os.path.join(dest, subject["entry"]) if subject else src_path  # an own original runs in place
    from faultlens.analyzer import build_graph
    from faultlens.corpus.operators import apply_mutant

    root = os.path.dirname(src_path)
    graph = build_graph(src_path)
    files = set(getattr(graph, "files", None) or []) | {os.path.basename(src_path)}
    changed = apply_mutant(graph, _mutant_obj(job["mutant"]))
    g_root = getattr(graph, "root", None) or root
    if subject:  # the folder is copied already: write the changed files where they lie in it
        dest = os.path.join(dest, os.path.relpath(os.path.abspath(g_root), src_root))
        files = set(changed)
    for rel in files:
        src = os.path.join(g_root, rel)
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if rel in changed:
            with open(out, "w", encoding="utf-8") as fh:
                fh.write(changed[rel])
        elif os.path.exists(src):
            shutil.copyfile(src, out)
    entry_rel = os.path.relpath(src_path, g_root)
    return os.path.join(dest, entry_rel)


def trace_file_for(job: dict[str, Any]) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{job['program']}/{job['mutant_id']}")
    return os.path.join(job["trace_dir"], *safe.split("/"), f"seed{int(job['seed'])}.sqlite.gz")


def keep_trace(trace_path: str, job: dict[str, Any]) -> str:
    """Keep a gzip copy of the run's trace (for re-extracting features later)."""
    import gzip
    import sqlite3

    con = sqlite3.connect(trace_path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    dest = trace_file_for(job)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(trace_path, "rb") as src, gzip.open(dest + ".tmp", "wb", compresslevel=6) as out:
        shutil.copyfileobj(src, out)
    os.replace(dest + ".tmp", dest)
    return dest


def _call_execute(entry: str, trace_path: str, job: dict[str, Any], cwd: str | None = None) -> Any:
    from faultlens.instrumenter.runner import execute

    subject = job.get("subject")
    argv = tuple(subject["argv"]) if subject else ("--seed", str(int(job["seed"])))
    max_seconds = job.get("max_seconds")
    if subject:  # a real program runs to its own end: its score is printed there
        max_seconds = max(float(max_seconds or 0), float(subject.get("timeout", 60)))
    config = RunConfig(argv=argv, max_steps=job.get("max_steps"), max_seconds=max_seconds,
                       curvature=bool(job.get("curvature")), seed=job.get("seed"), cwd=cwd,
                       stream=True)  # the output goes to the job's captured stdout
    return execute(entry, trace_path=trace_path, config=config)


@contextlib.contextmanager
def _subject_context(subject: dict[str, Any] | None, seed: int, buf: io.StringIO):
    """A real program's run settings for the length of one job: its environment, the stand-ins
    on ``sys.path``, its standard error captured with its output (the score may be printed to
    either), and its own seeding shifted by the job's seed. Real programs seed themselves
    (``torch.manual_seed(1)``); without the shift every seed of the corpus would be one run.
    Seed 0 leaves the program's own seeds as they are."""
    if not subject:
        yield
        return
    import random

    import torch

    saved_env = {k: os.environ.get(k) for k in subject.get("env") or {}}
    os.environ.update({k: str(v) for k, v in (subject.get("env") or {}).items()})
    for extra in reversed(subject.get("sys_path") or []):
        sys.path.insert(1 if sys.path else 0, extra)
    originals = (torch.manual_seed, random.seed, np.random.seed)
    shift = 7919 * int(seed)

    def _shifted(fn):
        def seed_fn(s=None, *a, **k):
            return fn(s if s is None or not shift else (int(s) + shift) % (2 ** 32), *a, **k)
        return seed_fn

    if shift:
        torch.manual_seed, random.seed, np.random.seed = (_shifted(f) for f in originals)
    try:
        with contextlib.redirect_stderr(buf):
            yield
    finally:
        torch.manual_seed, random.seed, np.random.seed = originals
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job; always returns a result dict (failures are recorded, never raised)."""
    if not _READY:
        init_worker()
    started = time.time()
    res: dict[str, Any] = {"program": job["program"], "mutant_id": job["mutant_id"], "seed": int(job["seed"]),
                           "started": started, "status": "failed", "score": None, "metric": None}
    tmp = tempfile.mkdtemp(prefix="flcorpus-", dir=job.get("workdir") or None)
    buf = io.StringIO()
    try:
        entry = materialize(job, tmp)
        trace_path = os.path.join(tmp, "trace.sqlite")
        result = None
        err = None
        old_argv, old_path, old_cwd = list(sys.argv), list(sys.path), os.getcwd()
        subject = job.get("subject")
        cwd = os.path.join(tmp, subject["cwd"]) if subject else None
        try:
            with contextlib.redirect_stdout(buf), _subject_context(subject, int(job["seed"]), buf):
                result = _call_execute(entry, trace_path, job, cwd)
        except BaseException as exc:  # noqa: BLE001 - the subject program may raise anything
            if isinstance(exc, KeyboardInterrupt):
                raise
            err = f"{type(exc).__name__}: {exc}"
        finally:
            sys.argv[:] = old_argv
            sys.path[:] = old_path
            with contextlib.suppress(OSError):
                os.chdir(old_cwd)
            for name in [m for m, mod in list(sys.modules.items())
                         if getattr(mod, "__file__", None) and str(getattr(mod, "__file__")).startswith(tmp)]:
                sys.modules.pop(name, None)
        stdout = buf.getvalue()
        if result is not None and not stdout:
            stdout = str(getattr(result, "stdout_tail", "") or (result.get("stdout_tail", "") if isinstance(result, dict) else ""))
        if subject:
            from faultlens.corpus.real import read_score

            metric, score = read_score(stdout, subject["score"])
        else:
            metric, score = parse_score(stdout)
        res["metric"], res["score"] = metric, score
        trace = None
        if os.path.exists(trace_path):
            from faultlens.instrumenter.trace import load_trace

            try:
                trace = load_trace(trace_path)
            except Exception as exc:  # noqa: BLE001
                err = err or f"trace unreadable: {exc}"
        if trace is not None and job.get("trace_dir"):
            try:
                res["trace_file"] = keep_trace(trace_path, job)
            except OSError as exc:
                res["error"] = f"trace not kept: {exc}"
        if trace is not None:
            status = trace.status
            res["trace_status"] = status
            res["steps"] = trace.steps
            crash = trace.crash or {}
            res["crash_kind"] = crash.get("kind") if isinstance(crash, dict) else None
            stop = trace.stop_reason
            if status == "crashed":
                res["status"] = "crashed"
                res["error"] = (crash.get("type", "") + ": " + str(crash.get("message", ""))) if isinstance(crash, dict) else err
                if job.get("mutant") and injection_error(crash):
                    res["status"] = "invalid"  # the mutation's own code raised: no label input, no features
                    res["error"] = injection_error_text(crash)
            elif stop in ("settled", "nonfinite_loss", "nonfinite_params"):  # the early stop's verdict
                res["status"] = "diverged"
            elif score is None and status == "cut_short":
                res["status"] = "cut_short"
            elif score is None:
                res["status"] = "no_score"
                res["error"] = err or ("the program printed no score" if subject
                                       else "the program printed no FINAL_SCORE line")
            else:
                res["status"] = "ok"
            res["series"] = {}
            for m in SERIES_METRICS:
                best = None
                for (mm, nd), sv in trace.data.items():
                    if mm == m and (best is None or len(sv[0]) > len(best[0])):
                        best = sv
                if best is not None and len(best[0]):
                    res["series"][m] = downsample(*best)
            graph = getattr(result, "graph", None) if result is not None else None
            if graph is None:
                with contextlib.suppress(Exception):
                    from faultlens.analyzer import build_graph

                    graph = build_graph(entry)
            from faultlens.models.features import extract

            try:
                res["features"] = None if res["status"] == "invalid" else extract(trace, graph)
            except Exception as exc:  # noqa: BLE001
                res["error"] = (res.get("error") or "") + f" features failed: {type(exc).__name__}: {exc}"
        else:
            res["status"] = "failed"
            res["error"] = err or "no trace was written"
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        res["status"] = "failed"
        res["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["finished"] = time.time()
    res["seconds"] = res["finished"] - started
    return res
