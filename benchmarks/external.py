"""The external benchmark: faultlens on real public programs that nobody on the project wrote.

The programs are named by repository, commit and path in ``benchmarks/external/manifest.json``
(see ``docs/external-benchmark.md``); no third-party code is in this repository. They are
materialised from local clones (``--sources DIR``: one folder per repository, as ``git clone``
makes it) and run with the project's own offline stand-ins (``benchmarks/external/standins``:
torchvision datasets/transforms/utils look-alikes and a generated text corpus) first on
PYTHONPATH. Every program is split by its id into a ``dev`` half, which may be studied case by
case, and a ``test`` half, which is only scored (``cases.split_of``).

    python benchmarks/external.py run   --sources DIR [--split test|dev|all] [--jobs 2] [--only ID ...]
    python benchmarks/external.py plain --sources DIR [--record]   # plain python runs: the program's own score
    python benchmarks/external.py list                             # the cases and their halves
    python benchmarks/external.py rediagnose --workdir DIR --records F [--model DIR|none]
                                   # the stored runs of a `run --workdir DIR --json F`, diagnosed again

``run`` prints, per half and per fault type, detection (verdict faulty or crashed), top-1 (the
first reported type is an expected one), type anywhere, localization (a reported line of any
fault is a true line: DeepFD's rule) and false alarms (a clean program whose verdict is not
``healthy``: faulty, crashed or inconclusive), the median seconds per case, and writes
``benchmarks/external/results.json``. ``plain`` runs each program and variant without faultlens
and reads the score the program itself prints; ``--record`` stores what it measured in the
manifest (a clean program is kept when it trains well, a variant when it really hurts).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "external"))
import cases as C  # noqa: E402

RESULTS = HERE / "external" / "results.json"
TARGETS = {"detect": 0.90, "top1": 0.80, "localize": 0.85, "false_alarm_rate": 0.05, "median_seconds": 60.0}
FAULTLENS = [sys.executable, "-m", "faultlens"]


def _tail(text: str, n: int = 600) -> str:
    return text[-n:] if len(text) > n else text


# --- plain runs ---------------------------------------------------------------------------------

def plain_run(case: C.Case, data: dict, sources: Path, workdir: Path) -> dict:
    m = C.materialise(case, data, sources, workdir)
    p = case.program
    env = C.run_env(p.get("env"))
    t0 = time.perf_counter()
    status, out = "ok", ""
    try:
        for step in p.get("setup") or []:
            subprocess.run([sys.executable, *step], cwd=m["cwd"], env=env, capture_output=True, text=True,
                           timeout=300, check=True)
        r = subprocess.run([sys.executable, m["entry"], *(p.get("argv") or [])], cwd=m["cwd"], env=env,
                           capture_output=True, text=True, timeout=float(p.get("timeout", 300)))
        out = r.stdout + r.stderr
        if r.returncode != 0:
            status = f"exit {r.returncode}"
    except subprocess.TimeoutExpired:
        status = "timeout"
    except subprocess.CalledProcessError as exc:
        status, out = "setup failed", (exc.stdout or "") + (exc.stderr or "")
    secs = time.perf_counter() - t0
    return {"id": case.id, "status": status, "score": C.read_score(out, p["score"]), "seconds": round(secs, 1),
            "tail": _tail(out)}


def cmd_plain(a: argparse.Namespace) -> int:
    data = C.load()
    todo = C.cases(data, split=a.split, only=set(a.only) if a.only else None, kept_only=False)
    workdir = Path(a.workdir or tempfile.mkdtemp(prefix="faultlens-ext-plain-"))
    sources = Path(a.sources)
    with ThreadPoolExecutor(max(1, a.jobs)) as pool:
        recs = {r["id"]: r for r in pool.map(lambda c: plain_run(c, data, sources, workdir), todo)}
    today = datetime.date.today().isoformat()
    for c in todo:
        r = recs[c.id]
        sc = c.program["score"]
        if c.expected == "healthy":
            kept = C.good_clean(r["score"], r["status"], sc)
        else:
            base = recs.get(c.program["id"]) or {"score": (c.program.get("plain") or {}).get("score")}
            kept = C.hurts(base["score"], r["score"], r["status"], sc)
        r["kept"] = kept
        print(f"  {c.id:<52} {r['status']:<10} score {r['score']!s:<10} {r['seconds']:6.1f}s "
              f"{'kept' if kept else 'REJECTED'}", flush=True)
        if r["status"] != "ok" and a.verbose:
            print("    " + r["tail"].replace("\n", "\n    "))
        if a.record:
            target = c.program if c.expected == "healthy" else c.spec
            target["plain"] = {"status": r["status"], "score": r["score"], "seconds": r["seconds"], "kept": kept,
                               "measured": today}
    if a.record:
        _write_back(todo)
    return 0


def _write_back(measured: list[C.Case]) -> None:
    """Store the measured plain results, and nothing else, in the file each program came from:
    the file is read again at write time, so entries edited meanwhile (by hand, or by another
    ``plain --record`` run) keep their content."""
    by_file: dict[Path, dict[str, dict]] = defaultdict(dict)
    for c in measured:
        by_file[Path(c.program.get("_from", C.MANIFEST))][c.id] = c.spec["plain"]
    for f, results in by_file.items():
        doc = json.loads(f.read_text())
        for p in doc["programs"]:
            for entry in [p] + p.get("cases", []):
                if entry["id"] in results:
                    entry["plain"] = results[entry["id"]]
        f.write_text(json.dumps(doc, indent=2) + "\n")


# --- faultlens runs -----------------------------------------------------------------------------

def faultlens_run(case: C.Case, data: dict, sources: Path, workdir: Path, max_seconds: float) -> dict:
    m = C.materialise(case, data, sources, workdir)
    p = case.program
    env = C.run_env(p.get("env"))
    rec: dict = {"id": case.id, "expected": case.expected, "types": case.types, "split": case.split,
                 "true_lines": m["true_lines"], "error": None}
    out_json = Path(m["root"]) / "faultlens-report.json"
    t0 = time.perf_counter()
    try:
        for step in p.get("setup") or []:
            subprocess.run([sys.executable, *step], cwd=m["cwd"], env=env, capture_output=True, text=True,
                           timeout=300, check=True)
        t0 = time.perf_counter()
        cmd = [*FAULTLENS, "run", m["entry"], "--max-seconds", f"{max_seconds:g}", "--seed", "0",
               "--json", str(out_json), "--", *(p.get("argv") or [])]
        r = subprocess.run(cmd, cwd=m["cwd"], env=env, capture_output=True, text=True,
                           timeout=max_seconds * 3 + 120)
        rec["exit"] = r.returncode
        rep = json.loads(out_json.read_text()) if out_json.exists() else None
        if rep is None:
            raise RuntimeError(f"no report (exit {r.returncode}): {_tail(r.stdout + r.stderr, 300)}")
        _read_report(rec, rep, m["cwd"])
    except Exception as exc:  # noqa: BLE001 - one broken case must not stop the benchmark
        rec.update(verdict="error", faults=[], lines=[], error=f"{type(exc).__name__}: {exc}")
    rec["seconds"] = round(time.perf_counter() - t0, 1)
    return rec


def _read_report(rec: dict, rep: dict, cwd: str) -> None:
    """The scored fields of a record from a faultlens report (its JSON form)."""
    rec["verdict"] = rep["verdict"]
    rec["status"] = rep.get("status")
    rec["faults"] = [f["type"] for f in rep["faults"]]
    rec["lines"] = [[(os.path.normpath(os.path.join(cwd, loc["path"])), loc["line"]) for loc in f["locations"]
                     if loc.get("path") and loc.get("line")] for f in rep["faults"]]
    rec["steps"] = rep.get("steps")
    rec["symptoms"] = sorted({s.get("symptom") for s in rep.get("symptoms", [])} - {None})


def _stored_run(folder: Path) -> Path | None:
    """The main run directory faultlens left in a case's folder (not a patch check's or verification's)."""
    found = [r.parent for r in folder.glob("**/.faultlens/runs/*/result.json")
             if "check" not in r.parts and "verify" not in r.parts]
    return sorted(found)[-1] if found else None


def cmd_rediagnose(a: argparse.Namespace) -> int:
    """Diagnose again the runs a ``run --workdir DIR --json F`` left, with the current code and the
    model ``--model`` (a model directory, or ``none`` for the rules alone), without running any
    program: the diagnosis stage's own effect, free of run-to-run noise (a model comparison)."""
    from faultlens.instrumenter.runner import RunResult
    from faultlens.models import classifier
    from faultlens.report.pipeline import diagnose_result

    if a.model:
        if a.model != "none" and not (Path(a.model) / classifier.MODEL_FILE).exists():
            print(f"external: {a.model}: no model there", file=sys.stderr)
            return 2
        # read at call time by the diagnosis; a directory with no model file means rules only
        classifier.SHIPPED_DIR = str(Path(a.workdir) / ".no-model") if a.model == "none" else a.model
    src = Path(a.records)
    if not src.exists() or not Path(a.workdir).is_dir():
        print("external: need the records of a run (--records) and its --workdir", file=sys.stderr)
        return 2
    old = json.loads(src.read_text())["records"]
    data = C.load()
    by_id = {c.id: c for c in C.cases(data)}
    recs = []
    here = os.getcwd()
    for r in old:
        if a.split != "all" and r["split"] != a.split:
            continue
        c = by_id.get(r["id"])
        rec = {k: r.get(k) for k in ("id", "expected", "types", "split", "true_lines", "seconds")}
        rec["error"] = None
        run_dir = _stored_run(Path(a.workdir) / c.slug) if c else None
        if run_dir is None:
            rec.update(verdict="error", faults=[], lines=[], error="no stored run")
            recs.append(rec)
            continue
        cwd = str(Path(a.workdir) / c.slug / c.program.get("cwd", os.path.dirname(c.program["path"])))
        d = json.loads((run_dir / "result.json").read_text())
        graph = None
        if d.get("graph_path") and os.path.exists(d["graph_path"]):
            from faultlens.analyzer.graph import ProgramGraph
            graph = ProgramGraph.from_json(Path(d["graph_path"]).read_text())
        try:
            os.chdir(cwd)
            report, _ = diagnose_result(RunResult(graph=graph, **d), d.get("program"), cwd=cwd)
            _read_report(rec, report.to_dict(), cwd)
        except Exception as exc:  # noqa: BLE001 - one broken case must not stop the comparison
            rec.update(verdict="error", faults=[], lines=[], error=f"{type(exc).__name__}: {exc}")
        finally:
            os.chdir(here)
        recs.append(rec)
    halves = {h: score([r for r in recs if r["split"] == h]) for h in ("dev", "test")
              if any(r["split"] == h for r in recs)}
    print(f"external: {len(recs)} stored runs diagnosed again with model {a.model or classifier.SHIPPED_DIR}")
    for h, s in halves.items():
        print_half(h, s)
    if a.json:
        Path(a.json).write_text(json.dumps({"records": recs, "halves": halves, "model": a.model}, indent=2,
                                           default=str))
    return 0


def score(recs: list[dict]) -> dict:
    """Rates of one half (or all): detection, top-1, type anywhere, localization, false alarms."""
    per: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    tot: dict[str, list[bool]] = defaultdict(list)
    for r in recs:
        if r["expected"] == "healthy":
            fa = r["verdict"] != "healthy"
            per["(clean)"]["false_alarm"].append(fa)
            tot["false_alarm"].append(fa)
            continue
        true = {(os.path.realpath(p), ln) for p, ln in r["true_lines"]}
        got = {
            "detect": r["verdict"] in ("faulty", "crashed"),
            "top1": bool(r["faults"]) and r["faults"][0] in r["types"],
            "any": any(t in r["faults"] for t in r["types"]),
            "localize": any((os.path.realpath(p), ln) in true for ls in r["lines"] for p, ln in ls),
        }
        for k, v in got.items():
            for t in r["types"][:1]:
                per[t][k].append(v)
            tot[k].append(v)
    rate = lambda xs: (sum(xs) / len(xs)) if xs else None  # noqa: E731
    secs = [r["seconds"] for r in recs]
    return {
        "detect": rate(tot["detect"]), "top1": rate(tot["top1"]), "type_anywhere": rate(tot["any"]),
        "localize": rate(tot["localize"]), "false_alarm_rate": rate(tot["false_alarm"]),
        "n_faulty": len(tot["detect"]), "n_clean": len(tot["false_alarm"]),
        "n_programs": len({r["id"].split("#")[0] for r in recs if r["expected"] == "healthy"}),
        "median_seconds": statistics.median(secs) if secs else None,
        "errors": sum(1 for r in recs if r["verdict"] == "error"),
        "per_type": {t: {k: [sum(v), len(v)] for k, v in d.items()} for t, d in sorted(per.items())},
    }


def _pct(v: list[int] | None) -> str:
    return f"{v[0]}/{v[1]}" if v else "-"


def print_half(name: str, s: dict) -> None:
    print(f"\n== {name} half: {s['n_faulty']} faulty, {s['n_clean']} clean ==")
    print(f"{'fault type':<24}{'detect':>9}{'top-1':>9}{'any':>9}{'localize':>10}{'false alarm':>13}")
    for t, d in s["per_type"].items():
        print(f"{t:<24}{_pct(d.get('detect')):>9}{_pct(d.get('top1')):>9}{_pct(d.get('any')):>9}"
              f"{_pct(d.get('localize')):>10}{_pct(d.get('false_alarm')):>13}")
    f = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    print(f"{'overall':<24}{f(s['detect']):>9}{f(s['top1']):>9}{f(s['type_anywhere']):>9}{f(s['localize']):>10}"
          f"{f(s['false_alarm_rate']):>13}")
    print(f"median seconds per case: {s['median_seconds']}; cases that errored: {s['errors']}")
    for k, tgt in TARGETS.items():
        v = s.get(k)
        ok = v is not None and (v <= tgt if k in ("false_alarm_rate", "median_seconds") else v >= tgt)
        shown = "-" if v is None else (f"{v:.1f}" if k == "median_seconds" else f"{100 * v:.1f}%")
        print(f"  {k:<18}{shown:>8}  target {'<=' if k in ('false_alarm_rate', 'median_seconds') else '>='} "
              f"{tgt if k == 'median_seconds' else f'{100 * tgt:.0f}%'}  {'met' if ok else 'NOT met'}")


def cmd_run(a: argparse.Namespace) -> int:
    data = C.load()
    todo = C.cases(data, split=a.split, only=set(a.only) if a.only else None)
    if not todo:
        print("external: no cases selected", file=sys.stderr)
        return 2
    workdir = Path(a.workdir or tempfile.mkdtemp(prefix="faultlens-ext-"))
    sources = Path(a.sources)
    t0 = time.perf_counter()
    print(f"external: {len(todo)} cases ({a.split}), budget {a.max_seconds:g} s each, {a.jobs} job(s), in {workdir}")

    def one(c: C.Case) -> dict:
        r = faultlens_run(c, data, sources, workdir, a.max_seconds)
        exp = "healthy" if c.expected == "healthy" else ",".join(c.types)
        print(f"  [{c.split}] {c.id:<50} expected {exp:<22} -> {r['verdict']:<12} {','.join(r['faults'][:3]):<36}"
              f" {r['seconds']:6.1f}s" + (f"  ERROR {r['error']}" if r["error"] else ""), flush=True)
        return r

    with ThreadPoolExecutor(max(1, a.jobs)) as pool:
        recs = list(pool.map(one, todo))
    halves = {h: score([r for r in recs if r["split"] == h]) for h in ("dev", "test")
              if any(r["split"] == h for r in recs)}
    for h, s in halves.items():
        print_half(h, s)
    total = time.perf_counter() - t0
    print(f"\ntotal {total:.0f} s")
    if not a.only:
        old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        old.update({h: {k: v for k, v in s.items()} for h, s in halves.items()})
        old["measured"] = datetime.date.today().isoformat()
        old["max_seconds"] = a.max_seconds
        old.setdefault("records", {}).update({r["id"]: {k: r.get(k) for k in ("split", "expected", "types", "verdict",
                                                                              "faults", "seconds", "error", "symptoms")}
                                              for r in recs})
        RESULTS.write_text(json.dumps(old, indent=2, default=str) + "\n")
        print(f"wrote {RESULTS}")
    if a.json:
        Path(a.json).write_text(json.dumps({"records": recs, "halves": halves}, indent=2, default=str))
    return 0


def cmd_list(a: argparse.Namespace) -> int:
    data = C.load()
    allc = C.cases(data, kept_only=False)
    for c in allc:
        kept = (c.spec.get("plain") or {}).get("kept")
        print(f"{c.split:<5} {c.id:<56} {'healthy' if c.expected == 'healthy' else ','.join(c.types):<24} "
              f"{'unmeasured' if kept is None else ('kept' if kept else 'rejected')}")
    kept = C.cases(data)
    print(f"\n{len({p['id'] for p in data['programs']})} programs; kept: "
          + ", ".join(f"{h}: {sum(1 for c in kept if c.split == h and c.expected == 'healthy')} clean / "
                      f"{sum(1 for c in kept if c.split == h and c.expected == 'faulty')} faulty" for h in ("dev", "test")))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "plain", "list"):
        s = sub.add_parser(name)
        if name == "list":
            continue
        s.add_argument("--sources", required=True, help="folder with one local clone per repository")
        s.add_argument("--split", choices=("dev", "test", "all"), default="all")
        s.add_argument("--only", nargs="*", help="case or program ids")
        s.add_argument("--jobs", type=int, default=2)
        s.add_argument("--workdir", help="where the cases are materialised (default: a temporary folder)")
        if name == "run":
            s.add_argument("--max-seconds", type=float, default=60.0, help="faultlens budget per case (default 60)")
            s.add_argument("--json", help="also write every record here")
        else:
            s.add_argument("--record", action="store_true", help="store the measured plain results in the manifest")
            s.add_argument("-v", "--verbose", action="store_true", help="show the output tail of failed runs")
    r = sub.add_parser("rediagnose", help="diagnose the stored runs of an earlier `run` again (no program runs)")
    r.add_argument("--workdir", required=True, help="the --workdir of that run")
    r.add_argument("--records", required=True, help="the --json file of that run")
    r.add_argument("--model", help="a model directory, or 'none' for the rules alone (default: the shipped model)")
    r.add_argument("--split", choices=("dev", "test", "all"), default="all")
    r.add_argument("--json", help="write the new records and figures here")
    a = ap.parse_args(argv)
    try:
        return {"run": cmd_run, "plain": cmd_plain, "list": cmd_list, "rediagnose": cmd_rediagnose}[a.cmd](a)
    except C.ManifestError as exc:
        print(f"external: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
