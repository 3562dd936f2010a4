"""Check (not a test, prints a verdict): the lint pre-scan changes no finding.

Runs ``faultlens lint --format json --no-cache`` twice on each input, with the pre-scan
(``faultlens.analyzer.lint.prescan``, the default) and without it (``FAULTLENS_LINT_PRESCAN=0``,
libcst parses every statement), and compares the two outputs byte for byte. Inputs: the
repository's ``corpora/``, ``benchmarks/accuracy_set/programs``, ``benchmarks/external`` (when
present), ``tests/lint/programs``, a generated ~50k-line repository (``gen_repo.generate``,
faults injected) and one generated big file (``gen_repo.big_file``) with a faulty training
script appended. Exit status 1 when any output differs.

    python benchmarks/lint_prescan_check.py [--big-file-mb 5] [--lines 50000]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import gen_repo  # noqa: E402


def lint_json(paths: list[str], prescan: bool, cwd: str) -> tuple[str, float]:
    env = dict(os.environ, FAULTLENS_LINT_PRESCAN="1" if prescan else "0", OMP_NUM_THREADS="1",
               FAULTLENS_LINT_MAX_BYTES=str(8 * 1024 * 1024))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "faultlens", "lint", "--no-cache", "--format", "json",
                           "--fail-on", "never", *paths], env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"lint failed on {paths}: {proc.stderr[-1500:]}")
    return proc.stdout, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big-file-mb", type=float, default=5.0)
    ap.add_argument("--lines", type=int, default=50_000)
    a = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="faultlens-prescan-check-")
    try:
        inputs = [os.path.join(ROOT, p) for p in ("corpora", "benchmarks/accuracy_set/programs",
                                                  "benchmarks/external", "tests/lint/programs")]
        inputs = [p for p in inputs if os.path.exists(p)]
        repo = os.path.join(tmp, "repo")
        gen_repo.generate(repo, a.lines, 0.25, seed=0)
        big = os.path.join(tmp, "big", "big_program.py")
        os.makedirs(os.path.dirname(big))
        gen_repo.big_file(big, a.big_file_mb, seed=0)
        with open(big, "a") as fh:  # a faulty script after the big file: findings to compare
            fh.write("\n\n" + gen_repo._train_file(random.Random(3), "bench_models", "BigNet", 90)
                     .replace("from bench_models import BigNet, init_weights\n", "")
                     .split('"""', 2)[2].replace("optimizer.zero_grad()", "pass")
                     .replace("lr=", "lr=50 * "))
        bad = 0
        for path in inputs + [repo, big]:
            on, t_on = lint_json([path], True, tmp)
            off, t_off = lint_json([path], False, tmp)
            same = on == off
            bad += not same
            n = on.count('"code"')
            print(f"{'same' if same else 'DIFFERENT'}  {os.path.relpath(path, tmp) if path.startswith(tmp) else os.path.relpath(path, ROOT)}: "
                  f"{n} findings; {t_on:.1f} s with the pre-scan, {t_off:.1f} s without")
            if not same:
                with open(os.path.join(ROOT, ".faultlens-prescan-diff.txt"), "w") as fh:
                    fh.write(on + "\n----- without -----\n" + off)
        print("pre-scan check:", "identical findings everywhere" if not bad else f"{bad} input(s) differ")
        return 1 if bad else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
