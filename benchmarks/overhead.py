"""Probe overhead: train three small programs plain and instrumented, print the time ratios.

    python benchmarks/overhead.py [--repeats 5] [--programs mlp cnn lstm] [--json OUT]

Programs (benchmarks/overhead_programs/): an MLP (SGD+momentum, DataLoader), a small CNN
(Adam) and an LSTM (RMSprop, gradient clipping), each a few seconds on one CPU thread, seeded.
Configurations: ``plain`` (the original file via runpy), ``default`` (instrumented, default
probes), ``curvature`` (instrumented with --curvature). All configurations run in this one
process (torch imported once, same warm caches), alternating in a rotating order, ``repeats``
times each after one warm-up round; the figure is the median wall time of the whole program
run (model building, training, evaluation, trace writing); the CPU time of this process
(``time.process_time``) is printed too, since wall time on a shared machine carries the
other processes' load. Graph building and the rewrite
happen once before timing (they are per-program, not per-step costs; their time is printed).

Targets (CPU): default <= 1.05x plain, curvature <= 1.15x plain.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import runpy
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = {name: os.path.join(HERE, "overhead_programs", f"{name}.py") for name in ("mlp", "cnn", "lstm")}
CONFIGS = ("plain", "default", "curvature")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--programs", nargs="+", default=list(PROGRAMS), choices=list(PROGRAMS))
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")

    import torch

    torch.set_num_threads(1)
    from faultlens.instrumenter.rewrite import load_graph, rewrite_file
    from faultlens.instrumenter.runner import execute
    from faultlens.instrumenter.trace import load_trace

    tmp = tempfile.mkdtemp(prefix="faultlens-overhead-")
    results = {}
    print(f"torch {torch.__version__}, 1 thread, {args.repeats} repeats (+1 warm-up), median wall time")
    print(f"{'program':8s} {'plain s':>8s} {'default s':>10s} {'curv s':>8s} {'default x':>10s} {'curv x':>8s}"
          f" {'cpu def':>8s} {'cpu curv':>8s} {'steps':>6s} {'evals':>6s} {'prep s':>7s}")
    for name in args.programs:
        prog = PROGRAMS[name]
        t0 = time.perf_counter()
        graph = load_graph(prog)
        rw = rewrite_file(prog, graph)
        prep = time.perf_counter() - t0
        info: dict = {}

        def run(cfg: str) -> tuple[float, float]:
            gc.collect()
            old_argv = list(sys.argv)
            if cfg == "plain":
                sys.argv = [prog]
                t, c = time.perf_counter(), time.process_time()
                try:
                    runpy.run_path(prog, run_name="__main__")
                finally:
                    sys.argv = old_argv
                return time.perf_counter() - t, time.process_time() - c
            trace = os.path.join(tmp, f"{name}-{cfg}.sqlite")
            t, c = time.perf_counter(), time.process_time()
            res = execute(prog, [], trace, graph=graph, rewrite=rw, curvature=(cfg == "curvature"), tee=False)
            dt = time.perf_counter() - t, time.process_time() - c
            if res.status != "finished" or res.probe_errors:
                raise SystemExit(f"{name} [{cfg}]: {res.status} {res.crash} {res.probe_errors}")
            info["steps"] = res.steps
            meta = load_trace(trace).meta
            ps = dict(meta.get("probe_seconds") or {})
            train = float(meta.get("training_seconds") or 0) or float("nan")
            curv = ps.pop("curvature", 0.0)
            info.setdefault(f"share_{cfg}", []).append(sum(ps.values()) / train)
            if cfg == "curvature":
                info.setdefault("share_curv_only", []).append(curv / train)
                info["curv_evals"] = len(load_trace(trace).series("grad_curvature")[0])
            return dt

        times: dict[str, list[float]] = {c: [] for c in CONFIGS}
        cpu: dict[str, list[float]] = {c: [] for c in CONFIGS}
        for c in CONFIGS:  # warm-up
            run(c)
        for r in range(args.repeats):
            order = CONFIGS[r % 3:] + CONFIGS[:r % 3]
            for c in order:
                w, p = run(c)
                times[c].append(w)
                cpu[c].append(p)
        med = {c: statistics.median(v) for c, v in times.items()}
        medc = {c: statistics.median(v) for c, v in cpu.items()}
        ratio_d, ratio_c = med["default"] / med["plain"], med["curvature"] / med["plain"]
        cratio_d, cratio_c = medc["default"] / medc["plain"], medc["curvature"] / medc["plain"]
        results[name] = {"median_wall_s": med, "median_cpu_s": medc, "wall_s": times, "cpu_s": cpu,
                         "ratio_default": ratio_d, "ratio_curvature": ratio_c,
                         "cpu_ratio_default": cratio_d, "cpu_ratio_curvature": cratio_c,
                         "steps": info.get("steps"), "curvature_evals": info.get("curv_evals"), "prep_s": prep,
                         "probe_share_default": statistics.median(info["share_default"]),
                         "probe_share_curvature_run": statistics.median(info["share_curvature"]),
                         "curvature_share": statistics.median(info["share_curv_only"])}
        print(f"{name:8s} {med['plain']:8.3f} {med['default']:10.3f} {med['curvature']:8.3f} {ratio_d:10.3f}"
              f" {ratio_c:8.3f} {cratio_d:8.3f} {cratio_c:8.3f} {info.get('steps', 0):6d}"
              f" {info.get('curv_evals', 0):6d} {prep:7.2f}", flush=True)
    print("probes' own measured time / training time (meta.probe_seconds; independent of other load):")
    for name, r in results.items():
        print(f"  {name:6s} default probes {100 * r['probe_share_default']:.1f}%, "
              f"curvature run: probes {100 * r['probe_share_curvature_run']:.1f}% + curvature "
              f"{100 * r['curvature_share']:.1f}%")
    for r in results.values():
        for kind, series in (("wall", r["wall_s"]), ("cpu", r["cpu_s"])):
            r[f"min_{kind}_ratio_default"] = min(series["default"]) / min(series["plain"])
            r[f"min_{kind}_ratio_curvature"] = min(series["curvature"]) / min(series["plain"])
    summary = {}
    for key in ("ratio_default", "ratio_curvature", "cpu_ratio_default", "cpu_ratio_curvature",
                "min_wall_ratio_default", "min_wall_ratio_curvature", "min_cpu_ratio_default",
                "min_cpu_ratio_curvature"):
        summary[key] = statistics.median(r[key] for r in results.values())
    print(f"median over programs, wall time: default {summary['ratio_default']:.3f}x (target <= 1.05), "
          f"curvature {summary['ratio_curvature']:.3f}x (target <= 1.15)")
    print(f"median over programs, CPU time:  default {summary['cpu_ratio_default']:.3f}x, "
          f"curvature {summary['cpu_ratio_curvature']:.3f}x  (less sensitive to other load on the machine)")
    print(f"ratio of the fastest runs (min over repeats; noise only adds time): wall default "
          f"{summary['min_wall_ratio_default']:.3f}x, curvature {summary['min_wall_ratio_curvature']:.3f}x; "
          f"CPU default {summary['min_cpu_ratio_default']:.3f}x, curvature {summary['min_cpu_ratio_curvature']:.3f}x")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"programs": results, **summary}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
