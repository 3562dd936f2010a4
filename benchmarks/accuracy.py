"""Diagnosis accuracy of faultlens on the accuracy set (benchmarks/accuracy_set/manifest.json).

Every program runs through :func:`faultlens.api.run` under a budget; the script prints, per
fault type and overall:

* detection   -- faulty/crashed programs whose verdict is ``faulty`` or ``crashed``;
* top-1 / any -- the expected fault type is the first / among the reported faults;
* localization -- some reported statement line (any reported fault) is one of the
  manifest's true lines (DeepFD's rule); ``loc top-1`` uses only the first fault's lines;
* false alarms -- healthy programs reported ``faulty`` or ``crashed``;
* median seconds per program (wall clock: run + diagnosis, worker start-up excluded).

Targets (issue "Diagnosis, localization and patches"): detection >= 90%, top-1 >= 75%,
localization >= 75%, false alarms <= 5%, median <= 60 s.

Worker reuse: with ``--reuse`` (default) programs run in-process inside long-lived worker
processes (``faultlens.instrumenter.runner.execute``), so torch is imported once per worker;
``--no-reuse`` starts one child interpreter per program. ``--jobs`` workers run in parallel.

    python benchmarks/accuracy.py [--max-seconds 60] [--jobs 1] [--only ID ...] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MANIFEST = HERE / "accuracy_set" / "manifest.json"
TARGETS = {"detection": 0.90, "top1": 0.75, "localization": 0.75, "false_alarms": 0.05, "median_seconds": 60.0}


def load_manifest(path: Path) -> list[dict]:
    data = json.loads(path.read_text())
    entries = data["programs"] if isinstance(data, dict) else data
    out = []
    for e in entries:
        e = dict(e)
        e["abspath"] = str((path.parent / e["path"]).resolve())
        out.append(e)
    return out


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # the programs' own output is not the benchmark's: silence the worker's stdout/stderr
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = open(os.devnull, "w")
    sys.stderr = open(os.devnull, "w")
    try:
        import torch
        torch.set_num_threads(1)
    except Exception:
        pass


def run_one(args: tuple[dict, dict]) -> dict:
    entry, opts = args
    from faultlens.api import run

    t0 = time.perf_counter()
    rec = {"id": entry.get("id", entry["path"]), "error": None}
    cwd = os.getcwd()
    try:
        os.chdir(opts["workdir"])
        rep = run(entry["abspath"], entry.get("argv") or [],
                  config=opts["config"].replace(out_dir=os.path.join(opts["workdir"], "runs", rec["id"])))
        rec["verdict"] = rep.verdict
        rec["faults"] = [f.type for f in rep.faults]
        rec["confidence"] = [round(f.confidence, 3) for f in rep.faults]
        rec["lines"] = [[(os.path.abspath(l.abspath or l.path), l.line) for l in f.locations] for f in rep.faults]
        rec["symptoms"] = sorted({s["symptom"] for s in rep.symptoms})
        rec["steps"] = rep.steps
    except BaseException as exc:  # noqa: BLE001 - one broken program must not stop the benchmark
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["verdict"] = "error"
        rec["faults"], rec["lines"], rec["confidence"], rec["symptoms"] = [], [], [], []
    finally:
        os.chdir(cwd)
    rec["seconds"] = time.perf_counter() - t0
    return rec


def score(entries: list[dict], recs: dict[str, dict]) -> dict:
    per: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    overall: dict[str, list[bool]] = defaultdict(list)
    for e in entries:
        r = recs[e.get("id", e["path"])]
        exp = e.get("expected_verdict")
        ft = e.get("fault_type") or "healthy"
        if exp == "healthy":
            fa = r["verdict"] in ("faulty", "crashed")
            per[ft]["false_alarms"].append(fa)
            overall["false_alarms"].append(fa)
            continue
        det = r["verdict"] in ("faulty", "crashed")
        top1 = bool(r["faults"]) and r["faults"][0] == e.get("fault_type")
        anyt = e.get("fault_type") in r["faults"]
        true = {(e["abspath"], int(x)) for x in e.get("lines") or []}
        true_lines = {int(x) for x in e.get("lines") or []}

        texts = {" ".join(t.split()) for t in e.get("line_text") or []}

        def hit(pairs):
            # a reported (file, line) is right when it is a true line of the entry file, or -- for
            # programs of several files, whose true lines the manifest gives by number and text --
            # a true line number in another file of the program whose text is the true line's text
            for p, ln in pairs:
                if (p, ln) in true:
                    return True
                if ln in true_lines and texts and os.path.dirname(p).startswith(os.path.dirname(e["abspath"])):
                    try:
                        src = Path(p).read_text().splitlines()[ln - 1]
                    except (OSError, IndexError):
                        continue
                    if " ".join(src.split()) in texts:
                        return True
            return False

        loc_any = any(hit(ls) for ls in r["lines"])
        loc_top = bool(r["lines"]) and hit(r["lines"][0])
        for k, v in (("detection", det), ("top1", top1), ("any", anyt), ("localization", loc_any), ("loc_top1", loc_top)):
            per[ft][k].append(v)
            overall[k].append(v)
    secs = [recs[e.get("id", e["path"])]["seconds"] for e in entries]
    return {"per_type": per, "overall": overall, "median_seconds": statistics.median(secs) if secs else None}


def _pct(xs: list[bool]) -> str:
    return f"{100 * sum(xs) / len(xs):5.1f}% ({sum(xs)}/{len(xs)})" if xs else "    -"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", default=str(DEFAULT_MANIFEST))
    ap.add_argument("--max-seconds", type=float, default=60.0, help="budget per program (default 60)")
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--no-reuse", dest="reuse", action="store_false", default=True)
    ap.add_argument("--only", nargs="*", help="run only these ids")
    ap.add_argument("--json", help="write per-program records and the summary here")
    ap.add_argument("--workdir", default=None, help="where run directories go (default: a temp dir)")
    a = ap.parse_args(argv)

    entries = load_manifest(Path(a.manifest))
    if a.only:
        entries = [e for e in entries if e.get("id") in set(a.only)]
    if not entries:
        print("accuracy: no programs", file=sys.stderr)
        return 2
    import tempfile
    workdir = os.path.abspath(a.workdir) if a.workdir else tempfile.mkdtemp(prefix="faultlens-acc-")
    os.makedirs(workdir, exist_ok=True)  # a --workdir that does not exist yet is made
    from faultlens.runconfig import RunConfig
    config = RunConfig(max_seconds=a.max_seconds, max_steps=a.max_steps, in_process=a.reuse, seed=0)
    opts = {"config": config, "workdir": workdir}
    t0 = time.perf_counter()
    recs: dict[str, dict] = {}
    ctx = mp.get_context("spawn")
    with ctx.Pool(max(1, a.jobs), initializer=_init_worker, maxtasksperchild=8) as pool:
        for r in pool.imap_unordered(run_one, [(e, opts) for e in entries]):
            recs[r["id"]] = r
            e = next(x for x in entries if x.get("id", x["path"]) == r["id"])
            print(f"  {r['id']:<34} expected {e.get('expected_verdict'):<8} {str(e.get('fault_type')):<22} -> "
                  f"{r['verdict']:<12} {','.join(r['faults'][:3]):<40} {r['seconds']:6.1f}s"
                  + (f"  ERROR {r['error']}" if r["error"] else ""), flush=True)
    total = time.perf_counter() - t0
    s = score(entries, recs)
    print()
    print(f"{'fault type':<24}{'detection':>18}{'top-1':>18}{'any':>18}{'localization':>18}{'loc top-1':>18}{'false alarms':>18}")
    for ft in sorted(s["per_type"]):
        d = s["per_type"][ft]
        print(f"{ft:<24}" + "".join(f"{_pct(d.get(k, [])):>18}" for k in
                                    ("detection", "top1", "any", "localization", "loc_top1", "false_alarms")))
    o = s["overall"]
    print(f"{'overall':<24}" + "".join(f"{_pct(o.get(k, [])):>18}" for k in
                                       ("detection", "top1", "any", "localization", "loc_top1", "false_alarms")))
    print(f"\nprograms: {len(entries)}; median seconds per program: {s['median_seconds']:.1f}; total {total:.0f} s "
          f"({'worker reuse' if a.reuse else 'one interpreter per program'}, {a.jobs} job(s), budget {a.max_seconds:g} s)")
    # calibration check: the top fault's confidence when it is right vs wrong (faulty programs)
    right, wrong = [], []
    for e in entries:
        r = recs[e.get("id", e["path"])]
        if e.get("expected_verdict") != "healthy" and r["faults"]:
            (right if r["faults"][0] == e.get("fault_type") else wrong).append(r["confidence"][0])
    if right or wrong:
        mean = (lambda xs: f"{sum(xs) / len(xs):.2f} (n={len(xs)})" if xs else "-")
        print(f"top-1 confidence: mean {mean(right)} when right, {mean(wrong)} when wrong")
    rate = {k: (sum(v) / len(v) if v else None) for k, v in o.items()}
    checks = [("detection", rate.get("detection"), ">=", TARGETS["detection"]),
              ("top-1 diagnosis", rate.get("top1"), ">=", TARGETS["top1"]),
              ("localization", rate.get("localization"), ">=", TARGETS["localization"]),
              ("false alarms", rate.get("false_alarms"), "<=", TARGETS["false_alarms"]),
              ("median seconds", s["median_seconds"], "<=", TARGETS["median_seconds"])]
    for name, val, op, tgt in checks:
        ok = val is not None and (val >= tgt if op == ">=" else val <= tgt)
        shown = "n/a" if val is None else (f"{val:.1f}" if name == "median seconds" else f"{100 * val:.1f}%")
        tshown = f"{tgt:g}" if name == "median seconds" else f"{100 * tgt:.0f}%"
        print(f"  {name:<16} {shown:>8}  target {op} {tshown:<6} {'met' if ok else 'NOT met'}")
    if a.json:
        Path(a.json).write_text(json.dumps({"records": recs, "summary": {
            "rates": rate, "median_seconds": s["median_seconds"], "programs": len(entries), "total_seconds": total,
            "per_type": {ft: {k: (sum(v) / len(v) if v else None, len(v)) for k, v in d.items()}
                         for ft, d in s["per_type"].items()}}}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
