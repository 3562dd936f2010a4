"""Whole-command speed of ``faultlens run``: the ratio to ``python train.py``, and where the fixed seconds go.

    python benchmarks/run_speed.py [--repeats 5] [--breakdown 3] [--program PATH] [--checkout DIR] [--json OUT]

The program (default benchmarks/overhead_programs/speed_mlp.py, a seeded healthy MLP on generated
data, about 4 s as ``python speed_mlp.py`` on an idle CPU) is copied to a scratch directory as
``train.py``. ``--repeats`` rounds then run, one after the other, ``python train.py`` and
``python -m faultlens run train.py`` (default options, as a user types them: for a healthy run
there is no patch, so no patch check; the run directory goes under the scratch directory) with
the checkout (``--checkout``, default this one: measure another to compare) first on
``PYTHONPATH``, output discarded. Printed: per configuration the median wall time and the median
CPU time (user + system of the command and its children, from ``getrusage``: on a machine shared
with other work the CPU time moves less than the wall time), and the ratios: of the medians, and
the median of each round's ratio (plain and faultlens measured back to back). The load average is
printed with every round.

Then ``--breakdown`` rounds run each command once more through a driver, alternating. The plain
driver takes timestamps around ``import torch`` and ``runpy.run_path(train.py)``. The faultlens
driver runs the same ``faultlens.cli.main`` after wrapping the command's stage functions (take the
time, call through, nothing else); the child's stages come from a ``sitecustomize`` put first on
the child's path (interpreter start, ``execute()`` entry and return, the last exit handler) and
from its trace (``started``: runtime configured; ``training_seconds``; ``finished``); import
figures from ``-X importtime`` (parent) and ``PYTHONPROFILEIMPORTTIME`` (child, through its
output), which cost a little themselves. Printed: the median seconds of each phase; the parent
and child phases follow each other (their sum is the wall time), the ``[background]`` lines ran in
the parent's preload thread while the program trained.

Target (issue 11): faultlens run <= 1.3x python train.py. A figure, never a timed test.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_PROGRAM = os.path.join(HERE, "overhead_programs", "speed_mlp.py")

#: the driver of a breakdown run: wraps the stage functions with timestamps, then runs the CLI
DRIVER = r'''
import json, os, sys, threading, time
T = {"interpreter": time.time()}
EV = []

def mark(name, fn):
    def timed(*a, **k):
        t0 = time.time()
        try:
            return fn(*a, **k)
        finally:
            EV.append((name, threading.current_thread().name, t0, time.time()))
    timed.__wrapped__ = fn
    return timed

import faultlens.cli
T["cli_import"] = time.time()
import subprocess
import faultlens._timebox as timebox
import faultlens.instrumenter.runner as runner
import faultlens.report.pipeline as pipeline
import faultlens.models.classifier as classifier
import faultlens.report as report

class TimedPopen(subprocess.Popen):
    def __init__(self, args, *a, **k):
        self.timed = "faultlens.instrumenter._child" in list(args)
        if self.timed:
            T["popen"] = time.time()
        super().__init__(args, *a, **k)

    def wait(self, *a, **k):
        rc = super().wait(*a, **k)
        if self.timed and "child_reaped" not in T:
            T["child_reaped"] = time.time()
        return rc

subprocess.Popen = TimedPopen
runner.run_program = mark("run_program", runner.run_program)
runner.call_bounded = mark("run_program.call_bounded", runner.call_bounded)
timebox.call_bounded = mark("call_bounded", timebox.call_bounded)
for mod, names in ((pipeline, ("preload_diagnosis", "_import_analysis", "check_patch", "finish_run",
                               "write_outputs")),
                   (classifier, ("load_shipped", "runtime_versions", "_unpickle", "read_arrays"))):
    for n in names:
        if hasattr(mod, n):
            setattr(mod, n, mark(n, getattr(mod, n)))
diagnose_result = pipeline.diagnose_result


def timed_diagnose_result(*a, **k):
    # the stages it imports at call time (the preload thread imported them, or this is where they
    # would be imported anyway): wrapped here, not imported before the command runs
    import faultlens.models.diagnosis as diagnosis
    import faultlens.report.build as build
    if not hasattr(diagnosis.diagnose, "__wrapped__"):
        diagnosis.diagnose = mark("diagnose", diagnosis.diagnose)
        build.build_report = mark("build_report", build.build_report)
    return diagnose_result(*a, **k)


pipeline.diagnose_result = mark("diagnose_result", timed_diagnose_result)
report.Report.to_text = mark("to_text", report.Report.to_text)
os.environ["PYTHONPROFILEIMPORTTIME"] = "1"  # the child's imports, through its output
os.environ["PYTHONPATH"] = os.environ["RUN_SPEED_SITE"] + os.pathsep + os.environ["PYTHONPATH"]
T["main"] = time.time()
try:
    rc = faultlens.cli.main(sys.argv[2:])
finally:
    T["main_return"] = time.time()
    with open(sys.argv[1], "w") as fh:
        json.dump({"T": T, "events": EV}, fh)
sys.exit(rc)
'''

#: put first on the child's path by a breakdown run: timestamps of the child's own stages
CHILD_SITE = r'''
import atexit, importlib.abc, json, os, sys, time
_T = {"interpreter": time.time()}
_OUT = os.environ.pop("RUN_SPEED_CHILD_JSON", None)


class _WrapExecute(importlib.abc.MetaPathFinder):
    """After faultlens.instrumenter.runner is loaded, time its execute()."""

    def find_spec(self, name, path, target=None):
        if name != "faultlens.instrumenter.runner":
            return None
        sys.meta_path.remove(self)
        import importlib.util
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            _T["runner_import_start"] = time.time()
            load(module)
            _T["runner_imported"] = time.time()
            execute = module.execute

            def timed(*a, **k):
                _T["execute"] = time.time()
                try:
                    return execute(*a, **k)
                finally:
                    _T["execute_return"] = time.time()
            module.execute = timed
        spec.loader.exec_module = exec_module
        return spec


def _write():
    _T["atexit"] = time.time()
    with open(_OUT, "w") as fh:
        json.dump(_T, fh)


if _OUT:
    sys.meta_path.insert(0, _WrapExecute())
    atexit.register(_write)  # registered first: runs after the program's own exit handlers
'''

IMPORT_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _timed(cmd: list[str], cwd: str, env: dict[str, str], **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    c0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, **kw)
    return time.perf_counter() - t0, _children_cpu() - c0, proc


def _imports(text: str, names: set[str]) -> dict[str, float]:
    """Cumulative seconds of the first import of each of ``names`` in ``-X importtime`` output."""
    out: dict[str, float] = {}
    for m in IMPORT_LINE.finditer(text):
        name = m.group(4)
        if name in names and name not in out:
            out[name] = int(m.group(2)) / 1e6
    return out


PLAIN_DRIVER = r'''
import atexit, json, runpy, sys, time
T = {"interpreter": time.time()}
import torch
T["torch"] = time.time()
OUT = sys.argv[1]


def _write():
    T["atexit"] = time.time()
    with open(OUT, "w") as fh:
        json.dump(T, fh)


atexit.register(_write)  # registered first: runs after the program's own exit handlers
sys.argv = [sys.argv[2]]
runpy.run_path(sys.argv[0], run_name="__main__")
T["program"] = time.time()
'''


def _trace_meta(cwd: str) -> dict:
    runs = os.path.join(cwd, ".faultlens", "runs")
    newest = max((os.path.join(runs, d) for d in os.listdir(runs)), key=os.path.getmtime)
    con = sqlite3.connect(os.path.join(newest, "trace.sqlite"))
    try:
        return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}
    finally:
        con.close()


def _span(events: list, name: str, thread: str | None = None) -> float:
    """Seconds of the first call of ``name`` (in ``thread``); 0 when it did not happen."""
    for n, th, a, b in events:
        if n == name and (thread is None or th == thread):
            return b - a
    return 0.0


def _at(events: list, name: str, thread: str | None = None) -> tuple[float, float] | None:
    for n, th, a, b in events:
        if n == name and (thread is None or th == thread):
            return a, b
    return None


def breakdown_run(cwd: str, env: dict[str, str]) -> dict[str, float]:
    """One driver run of ``faultlens run train.py``: seconds per phase."""
    out_json, child_json = os.path.join(cwd, "driver.json"), os.path.join(cwd, "child.json")
    site = os.path.join(cwd, "child-site")
    os.makedirs(site, exist_ok=True)
    with open(os.path.join(site, "sitecustomize.py"), "w", encoding="utf-8") as fh:
        fh.write(CHILD_SITE)
    env = dict(env, RUN_SPEED_SITE=site, RUN_SPEED_CHILD_JSON=child_json)
    launch = time.time()
    wall, cpu, proc = _timed([sys.executable, "-X", "importtime", "-c", DRIVER, out_json, "run", "train.py"],
                             cwd, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = launch + wall
    if proc.returncode != 0:
        raise SystemExit(f"breakdown run: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    with open(out_json, encoding="utf-8") as fh:
        d = json.load(fh)
    with open(child_json, encoding="utf-8") as fh:
        C = json.load(fh)
    T, ev = d["T"], d["events"]
    meta = _trace_meta(cwd)
    rp, static = _at(ev, "run_program"), _at(ev, "run_program.call_bounded")
    dr, fr = _at(ev, "diagnose_result"), _at(ev, "finish_run")
    train_start = meta["finished"] - meta["training_seconds"]
    child_imports = _imports(proc.stdout, {"torch", "libcst", "faultlens.instrumenter.runtime"})
    parent_imports = _imports(proc.stderr, {"sklearn", "libcst", "numpy", "faultlens.models.diagnosis",
                                            "faultlens.report.build", "faultlens.analyzer.build"})
    lint = sum(b - a for n, th, a, b in ev if n == "call_bounded" and dr[0] <= a <= dr[1])
    pre = _at(ev, "preload_diagnosis")
    pre_load = _at(ev, "load_shipped", "faultlens-preload")
    return {
        "parent: interpreter start": T["interpreter"] - launch,
        "parent: CLI, run's imports (runner: libcst), parse": rp[0] - T["interpreter"],
        "parent: analysis: graph + rewrite (forked)": static[1] - static[0],
        "parent: run dir files, Popen": T["popen"] - static[1],
        "child: interpreter start": C["interpreter"] - T["popen"],
        "child: _child + rewrite/runner imports (libcst)": C["execute"] - C["interpreter"],
        "child:   of which libcst (importtime)": child_imports.get("libcst", 0.0),
        "child: torch + runtime import, configure": meta["started"] - C["execute"],
        "child:   of which torch (importtime)": child_imports.get("torch", 0.0),
        "child: program before its first training step": train_start - meta["started"],
        "child: training (trace training_seconds)": meta["training_seconds"],
        "child: trace finish, execute() cleanup": C["execute_return"] - meta["finished"],
        "child: exit handlers": C["atexit"] - C["execute_return"],
        "child: interpreter teardown, reaped": T["child_reaped"] - C["atexit"],
        "parent: after the child (reader, result)": rp[1] - T["child_reaped"],
        "parent: diagnose_result": dr[1] - dr[0],
        "parent:   of which import analyzer + lint rules": _span(ev, "_import_analysis"),
        "parent:   of which lint (forked)": lint,
        "parent:   of which diagnose() (symptoms, model)": _span(ev, "diagnose"),
        "parent:     of which waiting for/loading the model": _span(ev, "load_shipped", "MainThread"),
        "parent:   of which build_report (localize, patches)": _span(ev, "build_report"),
        "parent: patch check (a healthy run has none)": _span(ev, "check_patch"),
        "parent: report text + outputs": fr[1] - dr[1],
        "parent: exit (main returned -> process gone)": end - T["main_return"],
        "TOTAL wall": wall,
        "TOTAL cpu (parent + children)": cpu,
        "[background] preload thread: imports + model": (pre_load[1] - pre[0]) if pre and pre_load else 0.0,
        "[background]   of which: version check (scikit-learn import before)":
            _span(ev, "runtime_versions", "faultlens-preload"),
        "[background]   of which: model read (unpickle / arrays)":
            _span(ev, "_unpickle", "faultlens-preload") + _span(ev, "read_arrays", "faultlens-preload"),
        "[background] preload finished before the child ended by": (rp[1] - pre_load[1]) if pre_load else 0.0,
        "[importtime, parent] sklearn": parent_imports.get("sklearn", 0.0),
        "[importtime, parent] faultlens.models.diagnosis": parent_imports.get("faultlens.models.diagnosis", 0.0),
        "[importtime, parent] faultlens.analyzer.build": parent_imports.get("faultlens.analyzer.build", 0.0),
        "[importtime, parent] libcst": parent_imports.get("libcst", 0.0),
    }


def plain_run(cwd: str, env: dict[str, str]) -> dict[str, float]:
    """One driver run of ``python train.py``: seconds per phase."""
    out_json = os.path.join(cwd, "plain.json")
    launch = time.time()
    wall, cpu, proc = _timed([sys.executable, "-c", PLAIN_DRIVER, out_json, "train.py"], cwd, env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"plain run: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    with open(out_json, encoding="utf-8") as fh:
        T = json.load(fh)
    return {
        "interpreter start": T["interpreter"] - launch,
        "torch import": T["torch"] - T["interpreter"],
        "program (setup, training)": T["program"] - T["torch"],
        "exit handlers": T["atexit"] - T["program"],
        "interpreter teardown (atexit -> process gone)": launch + wall - T["atexit"],
        "TOTAL wall": wall,
        "TOTAL cpu": cpu,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="alternating rounds (default 5)")
    ap.add_argument("--breakdown", type=int, default=3, help="alternating driver rounds for the phase tables (0: none)")
    ap.add_argument("--program", default=DEFAULT_PROGRAM, help="the training program (default speed_mlp.py)")
    ap.add_argument("--checkout", default=ROOT, help="the faultlens checkout to measure (default this one)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.breakdown < 0:
        ap.error("--repeats must be >= 1, --breakdown >= 0")

    tmp = tempfile.mkdtemp(prefix="faultlens-run-speed-")
    try:
        shutil.copy(args.program, os.path.join(tmp, "train.py"))
        env = dict(os.environ)
        checkout = os.path.abspath(args.checkout)
        env["PYTHONPATH"] = checkout + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        cmds = {"plain": [sys.executable, "train.py"], "faultlens": [sys.executable, "-m", "faultlens", "run", "train.py"]}
        print(f"faultlens from {checkout}; program {os.path.relpath(args.program)} as train.py; "
              f"{args.repeats} alternating rounds (+1 warm-up); {_load()}")
        for name in cmds:  # warm-up: the page cache, bytecode caches
            _timed(cmds[name], tmp, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rounds: list[dict[str, tuple[float, float]]] = []
        for i in range(args.repeats):
            row = {}
            for name, cmd in cmds.items():
                wall, cpu, proc = _timed(cmd, tmp, env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if proc.returncode != 0:
                    raise SystemExit(f"{name}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
                row[name] = (wall, cpu)
            rounds.append(row)
            print(f"  round {i + 1}: plain {row['plain'][0]:6.2f} s (cpu {row['plain'][1]:5.2f}), faultlens "
                  f"{row['faultlens'][0]:6.2f} s (cpu {row['faultlens'][1]:5.2f}), ratio "
                  f"{row['faultlens'][0] / row['plain'][0]:.2f}x; {_load()}")
        med = {n: (statistics.median(r[n][0] for r in rounds), statistics.median(r[n][1] for r in rounds)) for n in cmds}
        ratio_wall = statistics.median(r["faultlens"][0] / r["plain"][0] for r in rounds)
        ratio_cpu = statistics.median(r["faultlens"][1] / r["plain"][1] for r in rounds)
        print(f"median wall: plain {med['plain'][0]:.2f} s, faultlens run {med['faultlens'][0]:.2f} s; "
              f"ratio of medians {med['faultlens'][0] / med['plain'][0]:.2f}x, median ratio {ratio_wall:.2f}x "
              f"(target <= 1.30x)")
        print(f"median cpu:  plain {med['plain'][1]:.2f} s, faultlens run {med['faultlens'][1]:.2f} s; "
              f"ratio of medians {med['faultlens'][1] / med['plain'][1]:.2f}x, median ratio {ratio_cpu:.2f}x")
        print(f"extra seconds (median faultlens - median plain): wall {med['faultlens'][0] - med['plain'][0]:.2f}, "
              f"cpu {med['faultlens'][1] - med['plain'][1]:.2f}; {_load()}")
        figures: dict = {"checkout": checkout, "rounds": rounds, "median": med, "median_ratio_wall": ratio_wall,
                         "median_ratio_cpu": ratio_cpu}

        if args.breakdown > 0:
            runs, plains = [], []
            for _ in range(args.breakdown):
                plains.append(plain_run(tmp, env))
                runs.append(breakdown_run(tmp, env))
            phases = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            plain = {k: statistics.median(r[k] for r in plains) for k in plains[0]}
            print(f"\npython train.py, median of {args.breakdown} driver runs (seconds)")
            for k, v in plain.items():
                print(f"  {k:68s} {v:7.3f}")
            print(f"faultlens run train.py, median of {args.breakdown} driver runs, alternating with the above (seconds;"
                  f" importtime on); {_load()}")
            for k, v in phases.items():
                print(f"  {k:68s} {v:7.3f}")
            figures.update(phases=phases, plain_phases=plain)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
