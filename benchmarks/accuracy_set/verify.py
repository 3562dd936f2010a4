"""Run every program of the accuracy set (and its fixed variant) and check its expected behaviour.

This script is how the ``measured`` fields of ``manifest.json`` are produced::

    python benchmarks/accuracy_set/verify.py                 # check everything, print a table
    python benchmarks/accuracy_set/verify.py --write         # ... and rewrite the measured fields
    python benchmarks/accuracy_set/verify.py --only lr_sgd_too_high_digits --no-fixed

Programs run one at a time, each in its own interpreter with one torch thread.

Expected behaviour, per ``expected_verdict``:

* ``healthy``: exit status 0 and ``FINAL_SCORE <metric> <value>`` with a finite value of at least
  the entry's ``min_score``.
* ``faulty``: the program exits 0 and prints ``FINAL_SCORE``; its fixed variant (the manifest's
  ``fix``, applied to a copy) scores at least ``MIN_EFFECT`` higher, or the faulty score is not
  finite (NaN loss propagated into the metric).
* ``crashed``: non-zero exit status without ``FINAL_SCORE``; the fixed variant runs to the end and
  prints a finite score.

Time is the child's CPU time (user + system via ``getrusage``), limited to ``MAX_SECONDS``: the
machine is shared, and wall time under load says little about the program.

Every metric in the set is "higher is better" (accuracy or R^2).  ``MIN_EFFECT`` = 0.10 absolute:
the same "accuracy change" scale AUTOTRAINER and DEFault use for their accuracy-based flags
(0.01 per check for slow convergence, 0.1 for a train/validation gap; see
docs/accuracy-set.md and the published detectors it cites) -- a fault has to cost at least the
train/validation-gap threshold to count as observable on its own run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"
MIN_EFFECT = 0.10
MAX_SECONDS = 15.0
SCORE_RE = re.compile(r"^FINAL_SCORE\s+(\S+)\s+(\S+)\s*$")


def parse_score(stdout: str):
    """Return (metric, value) from the last FINAL_SCORE line, or (None, None)."""
    metric = value = None
    for line in stdout.splitlines():
        m = SCORE_RE.match(line.strip())
        if m:
            metric = m.group(1)
            try:
                value = float(m.group(2))
            except ValueError:
                value = float("nan")
    return metric, value


def run_program(script: Path, argv, timeout: float, python: str):
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    start = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(
            [python, script.name, *argv], cwd=script.parent, env=env,
            capture_output=True, text=True, timeout=timeout,
        )
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = -9, exc.stdout or "", "timeout"
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
    seconds = time.perf_counter() - start
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    metric, value = parse_score(out)
    return {"rc": rc, "metric": metric, "score": value, "seconds": seconds, "cpu_seconds": cpu,
            "err_tail": (err or "").strip().splitlines()[-1:] }


def apply_fix(entry, workdir: Path) -> Path:
    """Copy the program (its directory for multi-file programs) into workdir and apply the fix."""
    src = HERE / entry["path"]
    if src.parent.name != "programs":  # program directory: copy all of it
        dst_dir = workdir / src.parent.name
        shutil.copytree(src.parent, dst_dir)
        base_src, base_dst = src.parent, dst_dir
    else:
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, workdir / src.name)
        base_src, base_dst = src.parent, workdir
    fixes = entry["fix"] if isinstance(entry["fix"], list) else [entry["fix"]]
    edited = {}  # target file -> its original lines; all edits use the original numbering
    for fix in fixes:
        rel = Path(fix.get("file", entry.get("fault_path", entry["path"])))
        target = base_dst / (HERE / rel).relative_to(base_src)
        lines = edited.setdefault(target, target.read_text().split("\n"))
        i = fix["line"] - 1
        if not 0 <= i < len(lines) or fix["from"] not in lines[i]:
            raise SystemExit(f"{entry['id']}: fix text {fix['from']!r} not on line {fix['line']} of {rel}")
        lines[i] = lines[i].replace(fix["from"], fix["to"], 1)
    for target, lines in edited.items():
        target.write_text("\n".join(lines))
    return base_dst / src.relative_to(base_src)


def finite(x):
    return x is not None and math.isfinite(x)


def check(entry, res, fixed):
    verdict = entry["expected_verdict"]
    problems = []
    if res["cpu_seconds"] > MAX_SECONDS:
        problems.append(f"took {res['cpu_seconds']:.1f} CPU s > {MAX_SECONDS}s")
    if verdict == "healthy":
        if res["rc"] != 0 or not finite(res["score"]):
            problems.append(f"healthy program failed (rc={res['rc']}, score={res['score']}, {res['err_tail']})")
        elif res["score"] < entry.get("min_score", 0.0):
            problems.append(f"score {res['score']} below min_score {entry.get('min_score')}")
        return problems
    if fixed is None:
        problems.append("fixed variant not run")
    elif fixed["rc"] != 0 or not finite(fixed["score"]):
        problems.append(f"fixed variant failed (rc={fixed['rc']}, score={fixed['score']}, {fixed['err_tail']})")
    if verdict == "crashed":
        if res["rc"] == 0 or res["score"] is not None:
            problems.append(f"expected a crash, got rc={res['rc']} score={res['score']}")
    elif verdict == "faulty":
        if res["rc"] != 0 or res["score"] is None:
            problems.append(f"faulty program did not finish (rc={res['rc']}, {res['err_tail']})")
        elif fixed is not None and finite(fixed["score"]) and finite(res["score"]):
            if fixed["score"] - res["score"] < MIN_EFFECT:
                problems.append(f"effect too small: faulty {res['score']:.4f} vs fixed {fixed['score']:.4f}")
    return problems


def round_or_none(x):
    if x is None:
        return None
    if not math.isfinite(x):
        return str(x)  # "nan" / "inf": JSON has no NaN
    return round(x, 4)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="entry ids to run")
    ap.add_argument("--no-fixed", action="store_true", help="do not run fixed variants")
    ap.add_argument("--write", action="store_true", help="rewrite measured fields in manifest.json")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)

    try:
        entries = json.loads(MANIFEST.read_text())
    except (OSError, ValueError) as exc:
        print(f"verify: error: cannot read {MANIFEST}: {exc}", file=sys.stderr)
        return 2
    ids = {e["id"] for e in entries}
    for want in args.only or []:
        if want not in ids:
            print(f"verify: error: unknown id {want!r}", file=sys.stderr)
            return 2
    failures = 0
    for entry in entries:
        if args.only and entry["id"] not in args.only:
            continue
        res = run_program(HERE / entry["path"], entry.get("argv", []), args.timeout, args.python)
        fixed = None
        if entry.get("fix") and not args.no_fixed:
            with tempfile.TemporaryDirectory() as tmp:
                script = apply_fix(entry, Path(tmp) / "fixed")
                fixed = run_program(script, entry.get("argv", []), args.timeout, args.python)
        problems = check(entry, res, fixed) if (fixed or args.no_fixed or not entry.get("fix")) else []
        if args.no_fixed and entry["expected_verdict"] != "healthy":
            problems = [p for p in problems if "fixed" not in p]
        status = "ok" if not problems else "FAIL"
        failures += bool(problems)
        fs = "-" if fixed is None else f"{fixed['score']}"
        print(f"{status:4} {entry['id']:40} {entry['expected_verdict']:8} rc={res['rc']:<3} "
              f"score={res['score']} fixed={fs} cpu={res['cpu_seconds']:.1f}s wall={res['seconds']:.1f}s" + ("" if not problems else "  " + "; ".join(problems)),
              flush=True)
        if args.write:
            m = entry.setdefault("measured", {})
            m["faulty_score"] = round_or_none(res["score"])
            m["returncode"] = res["rc"]
            m["seconds"] = round(res["cpu_seconds"], 2)
            m["wall_seconds"] = round(res["seconds"], 2)
            if fixed is not None:
                m["fixed_score"] = round_or_none(fixed["score"])
                m["fixed_seconds"] = round(fixed["cpu_seconds"], 2)
            elif "fixed_score" not in m:
                m["fixed_score"] = None
            m["metric"] = res["metric"] or (fixed or {}).get("metric")
            m["check"] = status.lower()
    if args.write:
        MANIFEST.write_text(json.dumps(entries, indent=1) + "\n")
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
