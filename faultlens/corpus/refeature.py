"""Re-extracting a corpus's features from its kept traces (``faultlens corpus features``).

After a change to :mod:`faultlens.models.features`, every run's feature row is recomputed from
the gzip copy of its trace (``<db>.traces/``) and the graph of the program it ran (the original,
or the mutant re-applied to it), so all rows of a corpus come from one extractor version.
Work is split by mutant (one graph build serves all its seeds) over ``jobs`` worker processes;
the database is written only by the parent, one transaction per mutant.
"""
from __future__ import annotations

import json
import os
from typing import Any, Iterator

from faultlens.corpus import db as cdb

INVALID = "__invalid__"  # marker row: the run's crash was an injection error


def _resolve(path: str | None, programs_dir: str | None) -> str | None:
    """A program path as the build recorded it (often relative to where it ran): as given, or
    the longest tail of it that exists under the corpus's recorded programs directory."""
    if not path:
        return None
    if os.path.exists(path):
        return os.path.abspath(path)
    if programs_dir:
        parts = os.path.normpath(path).split(os.sep)
        for k in range(len(parts)):
            cand = os.path.join(programs_dir, *parts[k:])
            if os.path.exists(cand):
                return cand
    return None


def _mutant_runs(con, tdir: str) -> list[dict[str, Any]]:
    """One work item per (program, mutant): the runs whose trace was kept."""
    from faultlens.corpus.worker import trace_file_for
    from faultlens.errors import FaultlensError

    muts = {(p, m): (op, ft, site, params, desc) for p, m, op, ft, site, params, desc in con.execute(
        "SELECT program, mutant_id, operator, fault_type, site, params, description FROM mutants")}
    programs_dir = cdb.get_meta(con).get("programs_dir")
    recorded = dict(con.execute("SELECT program, path FROM programs"))
    paths = {p: _resolve(v, programs_dir) for p, v in recorded.items()}
    lost = sorted(p for p, v in paths.items() if v is None)
    if lost:
        raise FaultlensError(f"cannot find the source of {len(lost)} corpus program(s) ({', '.join(lost[:3])}"
                             f"{', ...' if len(lost) > 3 else ''}; recorded as {recorded[lost[0]]!r}); run from the "
                             "directory the corpus was built in: without the source, the static features "
                             "would silently go missing")
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for run_id, prog, mid, seed in con.execute("SELECT run_id, program, mutant_id, seed FROM runs ORDER BY run_id"):
        job = {"program": prog, "mutant_id": mid, "seed": seed, "trace_dir": tdir, "path": paths.get(prog)}
        tf = trace_file_for(job)
        item = items.setdefault((prog, mid), {"program": prog, "mutant_id": mid, "path": paths.get(prog),
                                              "mutant": None, "runs": [], "missing": 0})
        if not job["path"] or not os.path.exists(tf):
            item["missing"] += 1
            continue
        item["runs"].append((run_id, tf))
        if mid != "original" and item["mutant"] is None and (prog, mid) in muts:
            op, ft, site, params, desc = muts[(prog, mid)]
            info = cdb.mutant_description(desc).get("info", [])
            item["mutant"] = {"operator": op, "site": site, "params": json.loads(params or "{}"),
                              "fault_type": ft, "info": info}
    return list(items.values())


def extract_item(item: dict[str, Any]) -> tuple[list[tuple[int, dict[str, float] | None]], str]:
    """Features of every kept run of one mutant (None for a trace that cannot be read), and the
    item's outcome: ``ok``; ``no_graph`` (the program ran but cannot be analysed: features
    without static facts, as at build time); ``stale`` (the mutant can no longer be re-applied:
    its spec is gone, or it names a graph node that an older analyzer produced — its static
    facts cannot be recomputed, so no row is extracted)."""
    import gzip
    import shutil
    import tempfile

    from faultlens.corpus.worker import materialize
    from faultlens.instrumenter.trace import load_trace
    from faultlens.models.features import extract

    from faultlens.corpus.labels import injection_error, injection_error_text
    from faultlens.corpus.operators import MutationError

    if item["mutant_id"] != "original" and item["mutant"] is None:
        return [(run_id, None) for run_id, _ in item["runs"]], "stale"
    graph = None
    if item["runs"]:
        from faultlens.analyzer import build_graph

        with tempfile.TemporaryDirectory() as tmp:
            job = {"program": item["program"], "mutant_id": item["mutant_id"], "path": item["path"],
                   "mutant": item["mutant"]}
            try:
                entry = materialize(job, tmp)
            except MutationError:
                return [(run_id, None) for run_id, _ in item["runs"]], "stale"
            try:
                graph = build_graph(entry)
            except Exception:  # noqa: BLE001 - features without static facts, as at build time
                graph = None
    out: list[tuple[int, dict[str, float] | None]] = []
    for run_id, tf in item["runs"]:
        with tempfile.TemporaryDirectory() as tmp:
            tp = os.path.join(tmp, "trace.sqlite")
            try:
                with gzip.open(tf, "rb") as src, open(tp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                trace = load_trace(tp)
            except Exception:  # noqa: BLE001 - a damaged kept trace: the old row stays
                out.append((run_id, None))
                continue
            if item["mutant"] is not None and trace.status == "crashed" and injection_error(trace.crash):
                # the mutation's own code raised (labels.injection_error): an invalid run
                out.append((run_id, {INVALID: injection_error_text(trace.crash or {})}))
                continue
            out.append((run_id, extract(trace, graph)))
    return out, ("ok" if graph is not None else "no_graph")


def _results(items: list[dict[str, Any]], jobs: int) -> Iterator[tuple[dict[str, Any], tuple[list, str]]]:
    if jobs <= 1 or len(items) <= 1:
        for it in items:
            yield it, extract_item(it)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        futs = {pool.submit(extract_item, it): it for it in items}
        for fut in as_completed(futs):
            yield futs[fut], fut.result()


def refeature(db_path: str, jobs: int = 1, progress: bool = True) -> dict[str, int]:
    """Re-extract every run's features from its kept trace. Returns counts by outcome
    (``ok``; ``no_graph``: written without static features, the mutant's program could not be
    analysed; ``stale``: the mutant can no longer be re-applied, its feature row is removed — the
    run, its label input and its kept trace stay; ``invalid``: a mutant's crash raised by the
    injected code itself (:func:`faultlens.corpus.labels.injection_error`): the run's status
    becomes ``invalid``, its feature row is removed and the labels are recomputed; ``unreadable``: trace present but not
    readable, the old row stays; ``no_trace``: none kept)."""
    from faultlens.corpus.builder import Progress, trace_dir_for

    con = cdb.connect(db_path)
    try:
        items = _mutant_runs(con, trace_dir_for(db_path))
        bar = Progress(sum(len(i["runs"]) + i["missing"] for i in items), enabled=progress)
        for it in items:
            for _ in range(it["missing"]):
                bar.update("no_trace")
        for it, (rows, outcome) in _results([i for i in items if i["runs"]], jobs):
            with cdb.transaction(con):
                for run_id, feats in rows:
                    if outcome == "stale":
                        con.execute("DELETE FROM features WHERE run_id=?", (run_id,))
                        bar.update("stale")
                        continue
                    if feats is None:
                        bar.update("unreadable")
                        continue
                    if INVALID in feats:
                        con.execute("UPDATE runs SET status='invalid', error=? WHERE run_id=?", (feats[INVALID], run_id))
                        con.execute("DELETE FROM features WHERE run_id=?", (run_id,))
                        bar.update("invalid")
                        continue
                    con.execute("INSERT OR REPLACE INTO features(run_id, data) VALUES (?, ?)",
                                (run_id, json.dumps(feats)))
                    bar.update(outcome)
        bar.close()
        if bar.counts.get("invalid"):
            from faultlens.corpus.builder import relabel

            relabel(con)  # invalid runs are no label inputs
        return dict(bar.counts)
    finally:
        con.close()
