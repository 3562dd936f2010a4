"""Run every subject program of the corpus with k seeds and rewrite manifest.json's measured fields.

Usage (from the repository root)::

    .venv/bin/python corpora/programs/measure.py               # all programs, seeds 0 1 2
    .venv/bin/python corpora/programs/measure.py -k 5          # seeds 0..4
    .venv/bin/python corpora/programs/measure.py --only mlp_iris_adam lstm_parity
    .venv/bin/python corpora/programs/measure.py --missing     # resume: only unmeasured programs
    .venv/bin/python corpora/programs/measure.py --isolated    # fresh interpreter per run

Programs run one at a time, one CPU thread each, as if started with
``python <entry> --seed <s>`` from the entry's directory (FAULTLENS_SEED removed from the
environment).  By default each run is a fork of this process after torch, numpy and the
scikit-learn modules have been imported once, so the ~3-4 s of interpreter start and imports
is paid once instead of per run; ``--isolated`` starts a fresh interpreter per run instead.
Each program must print exactly one line ``FINAL_SCORE <metric> <value>`` whose metric name
matches the manifest.  For every program the script records:

* ``score``: the per-seed values with their mean, standard deviation, min and max;
* ``expected_range``: [min - m, max + m] clipped to the metric's bounds, where
  m = max(0.5 * (max - min), 0.02 * max(|mean|, 0.05)).  The margin absorbs small numeric
  differences between machines and BLAS builds; it is not a statistical interval;
* ``seconds``: mean and max wall time of a run, and ``cpu_seconds``: mean and max user+system
  CPU time of the run.  On a shared machine wall time grows with the load while CPU time stays
  close to the single-core cost, so compare programs by ``cpu_seconds``.  In the default (fork)
  mode both exclude interpreter start and imports; the manifest's top-level
  ``import_overhead`` gives that cost, measured once per invocation in a fresh interpreter;
* ``measured_with``: mode, python / torch / scikit-learn versions, platform and date.

Nothing is written for a program that fails (non-zero exit, timeout, no or several FINAL_SCORE
lines, metric mismatch, non-finite score); the failure is printed and the exit status is 1.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MANIFEST = HERE / "manifest.json"
PRELOAD = (
    "import torch, torch.nn, torch.nn.functional, torch.utils.data, numpy, "
    "sklearn.datasets, sklearn.model_selection, sklearn.preprocessing, sklearn.metrics"
)

# Bounds of the higher-is-better metrics used by the corpus.
METRIC_MAX = {"accuracy": 1.0, "token_accuracy": 1.0, "f1": 1.0, "f1_micro": 1.0, "r2": 1.0,
              "neg_mse": 0.0}
METRIC_MIN = {"accuracy": 0.0, "token_accuracy": 0.0, "f1": 0.0, "f1_micro": 0.0}


class MeasureError(Exception):
    """A program did not produce a usable FINAL_SCORE line."""


def parse_final_score(stdout: str) -> tuple[str, float]:
    """Return (metric, value) from the single ``FINAL_SCORE <metric> <value>`` line of ``stdout``."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip().startswith("FINAL_SCORE")]
    if len(lines) != 1:
        raise MeasureError(f"expected exactly one FINAL_SCORE line, found {len(lines)}")
    parts = lines[0].split()
    if len(parts) != 3:
        raise MeasureError(f"malformed FINAL_SCORE line: {lines[0]!r}")
    try:
        value = float(parts[2])
    except ValueError as exc:
        raise MeasureError(f"non-numeric FINAL_SCORE value: {lines[0]!r}") from exc
    if not math.isfinite(value):
        raise MeasureError(f"non-finite FINAL_SCORE value: {lines[0]!r}")
    return parts[1], value


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tail(text: str) -> str:
    return " | ".join(text.strip().splitlines()[-3:])


def run_isolated(entry: Path, seed: int, python: str, timeout: float) -> tuple[str, float, float]:
    """Run one program in a fresh interpreter; return (stdout, wall seconds, cpu seconds)."""
    env = dict(os.environ)
    env.pop("FAULTLENS_SEED", None)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    cpu_start = _children_cpu()
    start = time.perf_counter()
    try:
        proc = subprocess.run([python, entry.name, "--seed", str(seed)], cwd=entry.parent,
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise MeasureError(f"timed out after {timeout:.0f} s") from exc
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu_start
    if proc.returncode != 0:
        raise MeasureError(f"exit status {proc.returncode}: {_tail(proc.stderr or proc.stdout)}")
    return proc.stdout, wall, cpu


def _child_main(entry: Path, seed: int, out_fd: int) -> None:
    """Body of a forked run: behave like ``python <entry> --seed <seed>`` started in its folder."""
    import runpy
    import traceback

    code = 0
    try:
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.chdir(entry.parent)
        os.environ.pop("FAULTLENS_SEED", None)
        sys.argv = [entry.name, "--seed", str(seed)]
        sys.path[0] = str(entry.parent)
        runpy.run_path(str(entry), run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - report any crash of the subject program
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run_forked(entry: Path, seed: int, timeout: float) -> tuple[str, float, float]:
    """Run one program in a fork of this (preloaded) process; return (stdout, wall, cpu seconds)."""
    with tempfile.TemporaryFile(mode="w+b") as out:
        sys.stdout.flush()
        sys.stderr.flush()
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            _child_main(entry, seed, out.fileno())
        status, usage = 0, None
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() - start > timeout:
                os.kill(pid, signal.SIGKILL)
                os.wait4(pid, 0)
                raise MeasureError(f"timed out after {timeout:.0f} s")
            time.sleep(0.02)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise MeasureError(f"exit status {code}: {_tail(text)}")
    return text, wall, usage.ru_utime + usage.ru_stime


def expected_range(metric: str, scores: list[float]) -> list[float]:
    lo, hi = min(scores), max(scores)
    mean = statistics.fmean(scores)
    margin = max(0.5 * (hi - lo), 0.02 * max(abs(mean), 0.05))
    lo, hi = lo - margin, hi + margin
    if metric in METRIC_MIN:
        lo = max(lo, METRIC_MIN[metric])
    if metric in METRIC_MAX:
        hi = min(hi, METRIC_MAX[metric])
    return [round(lo, 4), round(hi, 4)]


def measure_program(entry_info: dict, seeds: list[int], args) -> dict:
    entry = HERE / entry_info["entry"]
    scores, times, cpus = [], [], []
    for seed in seeds:
        if args.isolated:
            stdout, wall, cpu = run_isolated(entry, seed, args.python, args.timeout)
        else:
            stdout, wall, cpu = run_forked(entry, seed, args.timeout)
        metric, value = parse_final_score(stdout)
        if metric != entry_info["metric"]:
            raise MeasureError(f"metric {metric!r} does not match manifest {entry_info['metric']!r}")
        scores.append(value)
        times.append(wall)
        cpus.append(cpu)
        print(f"  seed {seed}: {metric}={value:.4f} ({wall:.1f} s wall, {cpu:.1f} s cpu)", flush=True)
    return {
        "score": {
            "seeds": seeds,
            "values": [round(v, 5) for v in scores],
            "mean": round(statistics.fmean(scores), 5),
            "std": round(statistics.pstdev(scores), 5),
            "min": round(min(scores), 5),
            "max": round(max(scores), 5),
        },
        "expected_range": expected_range(entry_info["metric"], scores),
        "seconds": {"mean": round(statistics.fmean(times), 2), "max": round(max(times), 2)},
        "cpu_seconds": {"mean": round(statistics.fmean(cpus), 2), "max": round(max(cpus), 2)},
    }


def import_overhead(python: str) -> dict:
    """Wall and CPU seconds of a fresh interpreter that only does the preload imports."""
    cpu_start = _children_cpu()
    start = time.perf_counter()
    subprocess.run([python, "-c", PRELOAD], check=True, capture_output=True)
    return {"seconds": round(time.perf_counter() - start, 2),
            "cpu_seconds": round(_children_cpu() - cpu_start, 2)}


def versions(mode: str) -> dict:
    import sklearn
    import torch

    return {"mode": mode, "python": platform.python_version(), "torch": torch.__version__,
            "scikit_learn": sklearn.__version__, "platform": platform.platform(),
            "cpu_threads": 1,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", "--seeds", type=int, default=3, help="seeds 0..k-1 (default 3)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="measure only these programs")
    ap.add_argument("--missing", action="store_true",
                    help="measure only programs that have no recorded score yet (resume a run)")
    ap.add_argument("--isolated", action="store_true",
                    help="start a fresh interpreter per run (slower; timings include imports)")
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter for --isolated runs and the import-overhead probe")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per run (default 300)")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        print("measure.py: error: --seeds must be >= 1", file=sys.stderr)
        return 2
    try:
        manifest = json.loads(args.manifest.read_text())
        programs = manifest["programs"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"measure.py: error: cannot read manifest {args.manifest}: {exc}", file=sys.stderr)
        return 2
    if args.only:
        unknown = sorted(set(args.only) - {p["name"] for p in programs})
        if unknown:
            print(f"measure.py: error: unknown program(s): {', '.join(unknown)}", file=sys.stderr)
            return 2

    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    exec(PRELOAD)  # noqa: S102 - fixed string: preload the heavy modules before forking
    import torch

    torch.set_num_threads(1)
    manifest["import_overhead"] = import_overhead(args.python)
    info = versions("isolated" if args.isolated else "fork")
    seeds = list(range(args.seeds))
    failures = []
    for prog in programs:
        if args.only and prog["name"] not in args.only:
            continue
        if args.missing and "score" in prog:
            continue
        print(f"{prog['name']} ({prog['entry']})", flush=True)
        try:
            prog.update(measure_program(prog, seeds, args))
            prog["measured_with"] = info
        except MeasureError as exc:
            print(f"  FAILED: {exc}", flush=True)
            failures.append(prog["name"])
            continue
        # write after each program so an interrupted run keeps what it measured
        tmp = args.manifest.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.replace(args.manifest)
    if failures:
        print(f"{len(failures)} program(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
