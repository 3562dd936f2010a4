"""``faultlens corpus build``: run originals and mutants over seeds into one SQLite corpus.

Jobs are keyed by ``(program, mutant_id, seed)``; a job with a row in ``runs`` is done, so a
build killed at any moment (even SIGKILL) continues where it stopped. Order: every original
first (their scores are the reference of every label), then mutants round-robin across
programs, all seeds of one mutant together — a build stopped early still has complete,
labelled mutants from every program.

Engines: ``local`` — a ``ProcessPoolExecutor`` of spawned worker processes that import torch
once and run many jobs each (a worker that dies is replaced, its job recorded as failed);
``ray`` — the same job function as a Ray task (``ray.init(address=...)`` or a local Ray).
The parent alone writes the database, one transaction per finished run.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import sys
import time
from typing import Any, Callable, Iterable, Iterator

from faultlens.corpus import db as cdb
from faultlens.corpus.labels import label_mutant
from faultlens.errors import FaultlensError

CRASH_STATUSES = ("crashed", "diverged", "no_score")
EXCLUDED_STATUSES = ("failed", "cut_short", "invalid")


# ----------------------------------------------------------------------------- programs
def discover_programs(directory: str) -> list[tuple[str, str]]:
    """``[(program name, path)]`` from ``manifest.json`` when present, else every ``*.py``."""
    if not os.path.isdir(directory):
        raise FaultlensError(f"{directory}: no such directory")
    manifest = os.path.join(directory, "manifest.json")
    out: list[tuple[str, str]] = []
    if os.path.exists(manifest):
        try:
            with open(manifest, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise FaultlensError(f"{manifest}: unreadable manifest ({exc})") from None
        items = data.get("programs", data) if isinstance(data, dict) else data
        for it in items:
            if isinstance(it, str):
                rel = it
            elif isinstance(it, dict):
                rel = it.get("entry") or it.get("path") or it.get("file") or it.get("name")
            else:
                continue
            if not rel:
                continue
            path = rel if os.path.isabs(rel) else os.path.join(directory, rel)
            if not path.endswith(".py"):
                path += ".py"
            if not os.path.exists(path):
                alt = os.path.join(directory, os.path.basename(path))
                if os.path.exists(alt):
                    path = alt
                else:
                    continue
            name = it.get("name") if isinstance(it, dict) and it.get("name") else None
            out.append((name or os.path.splitext(os.path.basename(path))[0], path))
    if not out:
        for f in sorted(os.listdir(directory)):
            if f.endswith(".py") and not f.startswith("_"):
                out.append((os.path.splitext(f)[0], os.path.join(directory, f)))
    seen: set[str] = set()
    uniq = []
    for name, path in out:
        if name not in seen:
            seen.add(name)
            uniq.append((name, path))
    return uniq


def _sha(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def plan_program(con: sqlite3.Connection, name: str, path: str, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """The mutants of one program, cached in the DB while the file and the operator registry
    are unchanged: the cache key (``programs.sha256``) is ``<file sha256>:<registry signature>``,
    so a new or changed operator re-enumerates. Re-enumerating upserts; mutant rows (and their
    runs) of an earlier plan stay in the DB (mutant ids are stable across plans, so a mutant
    enumerated again keeps its runs), but only the rows of the current plan (``"plan"`` in their
    description) are planned for running."""
    from faultlens.corpus.operators import enumerate_mutants, registry_signature

    sha = f"{_sha(path)}:{registry_signature()}"
    row = con.execute("SELECT sha256 FROM programs WHERE program=?", (name,)).fetchone()
    if row and row[0] == sha:
        rows = con.execute("SELECT mutant_id, operator, fault_type, site, params, description FROM mutants"
                           " WHERE program=? AND mutant_id != 'original'", (name,)).fetchall()
        out = []
        for mid, op, ft, site, params, desc in rows:
            meta = cdb.mutant_description(desc)
            if meta.get("plan") != sha:
                continue  # a mutant of an earlier plan (other registry or file): kept, not re-run
            info = meta.get("info", [])
            out.append({"mutant_id": mid, "operator": op, "fault_type": ft, "site": site,
                        "params": json.loads(params or "{}"), "info": info})
        return out
    try:
        mutants = enumerate_mutants(path)
    except Exception as exc:  # noqa: BLE001 - a program the analyzer cannot read: originals only
        log(f"faultlens corpus: {name}: cannot enumerate mutants: {type(exc).__name__}: {exc}")
        mutants = []
    rows = [{"mutant_id": "original", "operator": None, "fault_type": None, "site": None, "params": {}}]
    out = []
    for m in mutants:
        d = {"mutant_id": m.id, "operator": m.operator, "fault_type": m.fault_type, "site": m.site,
             "params": m.param_dict, "info": [list(x) for x in m.info]}
        out.append(d)
        rows.append({**d, "description": json.dumps({"text": m.describe(), "info": d["info"], "plan": sha},
                                                    default=str)})
    cdb.upsert_mutants(con, name, path, sha, rows)
    return out


def plan_jobs(programs: list[tuple[str, str]], mutants: dict[str, list[dict[str, Any]]], seeds: int,
              orig_seeds: int, max_mutants: int | None, common: dict[str, Any],
              subjects: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every job of the build, originals first. ``subjects`` maps a real program's name to its run
    settings (faultlens.corpus.real); each of its jobs carries them."""
    subjects = subjects or {}
    jobs: list[dict[str, Any]] = []
    for name, path in programs:
        for s in range(orig_seeds):
            jobs.append({**common, "program": name, "path": path, "mutant_id": "original", "mutant": None, "seed": s,
                         "subject": subjects.get(name)})
    queues = []
    for name, path in programs:
        ms = sorted(mutants.get(name, []), key=lambda m: m["mutant_id"])
        random.Random(name).shuffle(ms)  # deterministic, diverse operator order per program
        # spread operators: one mutant of each operator before a second of any
        by_op: dict[str, list] = {}
        for m in ms:
            by_op.setdefault(m["operator"], []).append(m)
        spread = []
        while any(by_op.values()):
            for op in sorted(by_op, key=lambda o: random.Random(name + o).random()):
                if by_op[op]:
                    spread.append(by_op[op].pop(0))
        if max_mutants is not None:
            spread = spread[:max_mutants]
        queues.append((name, path, spread))
    depth = max((len(q[2]) for q in queues), default=0)
    for i in range(depth):
        for name, path, ms in queues:
            if i < len(ms):
                m = ms[i]
                for s in range(seeds):
                    jobs.append({**common, "program": name, "path": path, "mutant_id": m["mutant_id"],
                                 "mutant": m, "seed": s, "subject": subjects.get(name)})
    return jobs


def measured_seconds(con: sqlite3.Connection) -> dict[str, float]:
    """Per program, the median seconds of its finished runs (the build's projection)."""
    per: dict[str, list[float]] = {}
    for prog, secs in con.execute("SELECT program, seconds FROM runs WHERE status != 'failed' AND seconds > 0"):
        per.setdefault(prog, []).append(float(secs))
    return {p: sorted(v)[len(v) // 2] for p, v in per.items()}


def unwatched_programs(con: sqlite3.Connection) -> set[str]:
    """Programs every finished original run of which recorded no training step."""
    rows = con.execute("SELECT program, MAX(COALESCE(steps, 0)) FROM runs WHERE mutant_id='original'"
                       " AND status NOT IN ('failed') GROUP BY program").fetchall()
    return {p for p, mx in rows if not mx}


# ----------------------------------------------------------------------------- labels
def relabel(con: sqlite3.Connection) -> dict[str, int]:
    """Recompute every mutant's label from the runs (see faultlens.corpus.labels)."""
    scores: dict[tuple[str, str], list] = {}
    for prog, mid, status, score in con.execute("SELECT program, mutant_id, status, score FROM runs"):
        if status in EXCLUDED_STATUSES:
            continue
        val = score if status == "ok" else None
        scores.setdefault((prog, mid), []).append(val)
    meta = {(p, m): (op, ft) for p, m, op, ft in con.execute("SELECT program, mutant_id, operator, fault_type FROM mutants")}
    counts: dict[str, int] = {}
    with cdb.transaction(con):
        con.execute("DELETE FROM labels")
        for (prog, mid), vals in scores.items():
            if mid == "original":
                continue
            orig = scores.get((prog, "original"), [])
            r = label_mutant(orig, vals)
            op, ft = meta.get((prog, mid), (None, None))
            con.execute(
                "INSERT OR REPLACE INTO labels(program, mutant_id, operator, fault_type, label, killed, n_orig,"
                " n_mut, n_mut_crashed, mean_orig, mean_mut, std_orig, std_mut, p_value, cohens_d, test)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (prog, mid, op, ft, r.label, int(r.killed), r.n_orig, r.n_mut, r.n_mut_crashed, r.mean_orig,
                 r.mean_mut, r.std_orig, r.std_mut, r.p_value, r.cohens_d, r.test))
            counts[r.label] = counts.get(r.label, 0) + 1
    return counts


# ----------------------------------------------------------------------------- progress
class Progress:
    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total, self.done, self.t0 = total, 0, time.time()
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.counts: dict[str, int] = {}

    def update(self, status: str) -> None:
        self.done += 1
        self.counts[status] = self.counts.get(status, 0) + 1
        if not self.enabled:
            return
        el = time.time() - self.t0
        rate = el / max(self.done, 1)
        eta = rate * (self.total - self.done)
        width = 24
        fill = int(width * self.done / max(self.total, 1))
        cs = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        self.stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} "
                          f"{rate:.1f}s/run ETA {_hms(eta)} {cs}   ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _hms(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


# ----------------------------------------------------------------------------- engines
def _local_results(jobs: list[dict[str, Any]], n_workers: int) -> Iterator[dict[str, Any]]:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from faultlens.corpus.worker import init_pool_worker, run_job

    ctx = mp.get_context("spawn")
    pending = list(reversed(jobs))

    def new_pool():
        return ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=init_pool_worker,
                                   max_tasks_per_child=200)

    pool = new_pool()
    inflight: dict[Any, dict[str, Any]] = {}
    try:
        while pending or inflight:
            while pending and len(inflight) < n_workers * 2:
                job = pending.pop()
                inflight[pool.submit(run_job, job)] = job
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                job = inflight.pop(fut)
                try:
                    yield fut.result()
                except BrokenProcessPool:
                    broken = True
                    yield _failed(job, "worker process died (killed or crashed)")
                except Exception as exc:  # noqa: BLE001
                    yield _failed(job, f"{type(exc).__name__}: {exc}")
            if broken:
                # the other in-flight jobs of a broken pool are lost: run them again
                for fut, job in inflight.items():
                    pending.append(job)
                inflight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _ray_results(jobs: list[dict[str, Any]], n_workers: int, address: str | None) -> Iterator[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise FaultlensError("--engine ray needs the 'ray' package (pip install 'faultlens[ray]')") from None
    from faultlens.corpus.worker import run_job

    started_here = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kw["address"] = address
        else:
            kw["num_cpus"] = max(n_workers, 1)
        try:
            ray.init(**kw)
        except Exception as exc:  # noqa: BLE001
            raise FaultlensError(f"cannot start or reach Ray ({address or 'local'}): {exc}") from None
        started_here = True
    remote = ray.remote(num_cpus=1, max_retries=0)(run_job)
    pending = list(reversed(jobs))
    inflight: dict[Any, dict[str, Any]] = {}
    try:
        while pending or inflight:
            while pending and len(inflight) < n_workers * 2:
                job = pending.pop()
                inflight[remote.remote(job)] = job
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                job = inflight.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a task whose worker died
                    yield _failed(job, f"ray task failed: {type(exc).__name__}: {exc}")
    finally:
        if started_here:
            ray.shutdown()


def _failed(job: dict[str, Any], error: str) -> dict[str, Any]:
    now = time.time()
    return {"program": job["program"], "mutant_id": job["mutant_id"], "seed": int(job["seed"]), "status": "failed",
            "error": error, "started": now, "finished": now, "seconds": 0.0}


def _serial_results(jobs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    from faultlens.corpus.worker import run_job

    for job in jobs:
        yield run_job(job)


# ----------------------------------------------------------------------------- build
def trace_dir_for(db_path: str) -> str:
    return os.path.abspath(db_path) + ".traces"


def build_corpus(programs_dir: str | None, db_path: str, *, seeds: int = 3, orig_seeds: int | None = None,
                 jobs: int = 1, max_steps: int | None = None, max_seconds: float | None = 60.0,
                 engine: str = "local", address: str | None = None, limit: int | None = None,
                 max_mutants: int | None = None, programs: Iterable[str] | None = None,
                 curvature: bool = True, progress: bool = True, keep_traces: bool = True,
                 sources: str | None = None, manifest: str | None = None, standin_scale: float = 0.5,
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build (or resume) a corpus. Returns a summary dict (jobs run, statuses, labels).

    ``programs_dir``: own subject programs (``--seed N``, ``FINAL_SCORE``). ``sources``: instead,
    the real programs of the external benchmark's dev half, materialised from local clones
    (faultlens.corpus.real; ``manifest`` defaults to benchmarks/external/manifest.json)."""
    log = log or (lambda m: print(m, file=sys.stderr))
    if seeds < 2:
        raise FaultlensError("--seeds must be at least 2 (the label test compares seed samples)")
    if engine not in ("local", "ray", "serial"):
        raise FaultlensError(f"unknown engine {engine!r} (local, ray)")
    orig_seeds = orig_seeds or 2 * seeds
    subjects: dict[str, dict[str, Any]] = {}
    if sources:
        from faultlens.corpus.real import prepare_subjects

        prepared = prepare_subjects(sources, db_path, manifest=manifest, standin_scale=standin_scale,
                                    programs=set(programs) if programs else None, log=log)
        progs = [(name, path) for name, path, _ in prepared]
        subjects = {name: subj for name, _, subj in prepared}
        origin = f"--sources {sources}" + (f" --manifest {manifest}" if manifest else "") \
            + f" --standin-scale {standin_scale:g}"
    else:
        if not programs_dir:
            raise FaultlensError("give --programs DIR (own programs) or --sources DIR (real programs)")
        progs = discover_programs(programs_dir)
        if programs:
            wanted = set(programs)
            progs = [p for p in progs if p[0] in wanted]
        origin = f"--programs {programs_dir}"
    if not progs:
        raise FaultlensError(f"{programs_dir or sources}: no subject programs found")
    con = cdb.connect(db_path)
    cdb.set_meta(con, schema="faultlens.corpus/1", seeds=seeds, orig_seeds=orig_seeds, max_steps=max_steps,
                 max_seconds=max_seconds, programs_dir=os.path.abspath(programs_dir) if programs_dir else None,
                 sources=os.path.abspath(sources) if sources else None,
                 population="real" if sources else "own", curvature=curvature,
                 rebuild=f"faultlens corpus build {origin} --db {db_path} --seeds {seeds}"
                         + (f" --max-steps {max_steps}" if max_steps else "")
                         + (f" --max-seconds {max_seconds}" if max_seconds else "")
                         + (f" --max-mutants {max_mutants}" if max_mutants else ""))
    mutants = {name: plan_program(con, name, path, log) for name, path in progs}
    workdir = os.path.join(os.path.dirname(os.path.abspath(db_path)), ".corpus-work")
    os.makedirs(workdir, exist_ok=True)
    common = {"max_steps": max_steps, "max_seconds": max_seconds, "curvature": curvature, "workdir": workdir,
              "trace_dir": trace_dir_for(db_path) if keep_traces else None}
    all_jobs = plan_jobs(progs, mutants, seeds, orig_seeds, max_mutants, common, subjects)
    done = cdb.done_jobs(con)
    pending = [j for j in all_jobs if (j["program"], j["mutant_id"], int(j["seed"])) not in done]
    todo = pending[:limit] if limit is not None else pending
    from faultlens.corpus.real import projected_seconds

    measured = measured_seconds(con)
    # mutants of a program already known to record no training step will not run (below)
    known_blind = unwatched_programs(con)
    projected = sum(projected_seconds(j.get("subject"), measured.get(j["program"])) for j in todo
                    if j["mutant_id"] == "original" or j["program"] not in known_blind) / max(jobs, 1)
    log(f"faultlens corpus: {len(progs)} programs, {sum(len(v) for v in mutants.values())} mutants, "
        f"{len(all_jobs)} jobs ({len(all_jobs) - len(pending)} done), "
        f"running {len(todo)} with {jobs} {engine} worker(s); projected wall time {_hms(projected)}")
    if engine == "local" and jobs <= 0:
        raise FaultlensError("--jobs must be >= 1")
    bar = Progress(len(todo), enabled=progress)

    def run(batch: list[dict[str, Any]]) -> int:
        if engine == "ray":
            results = _ray_results(batch, jobs, address)
        elif engine == "serial":
            results = _serial_results(batch)
        else:
            results = _local_results(batch, jobs)
        n = 0
        for res in results:
            cdb.record_run(con, res)
            n += 1
            bar.update(res.get("status", "failed"))
            if n % 100 == 0:  # keep the labels current while a long build runs
                relabel(con)
        return n

    n = 0
    try:
        # the originals first, as their own batch: a program whose original runs record no
        # training step (its training happens where the probes do not reach, e.g. in spawned
        # worker processes) gives traces without a signal, so its mutants are not run
        n += run([j for j in todo if j["mutant_id"] == "original"])
        blind = unwatched_programs(con)
        rest = [j for j in todo if j["mutant_id"] != "original"]
        skipped = [j for j in rest if j["program"] in blind]
        if skipped:
            log(f"\nfaultlens corpus: {', '.join(sorted(blind & {j['program'] for j in skipped}))}: the original "
                f"recorded no training step; its {len(skipped)} mutant runs are not run")
            bar.total -= len(skipped)
        n += run([j for j in rest if j["program"] not in blind])
    finally:
        bar.close()
    counts = relabel(con)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return {"programs": len(progs), "jobs_total": len(all_jobs), "ran": n, "statuses": bar.counts, "labels": counts}
