"""CLI: ``faultlens instrument FILE [-o OUT]`` and ``faultlens run FILE [options] [-- ARGS...]``.

Cheap to import (no torch): the run itself happens in a child process.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from faultlens.errors import UsageError


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "instrument", help="write the program rewritten with probe calls",
        description="Rewrite a training program with faultlens probe calls (same line numbers).")
    p.add_argument("file", help="the training program (.py)")
    p.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")
    p.set_defaults(func=run_instrument)

    r = subparsers.add_parser(
        "run", help="run a training program instrumented and diagnose it",
        description="Run FILE instrumented (like `python FILE ARGS`), record a trace, diagnose it.",
        usage="faultlens run FILE [options] [-- ARGS...]")
    r.add_argument("file", help="the training program (.py)")
    r.add_argument("--max-steps", type=_positive_int, metavar="N", help="stop after N training steps")
    r.add_argument("--max-seconds", type=_positive_float, metavar="S",
                   help=f"bound the whole command to S seconds (default {DEFAULT_MAX_SECONDS:.0f}); the "
                        "diagnosis then judges the prefix the program ran")
    r.add_argument("--json", metavar="PATH", help="write the report as JSON")
    r.add_argument("--out", metavar="DIR", help="run directory (default .faultlens/runs/<id>/)")
    r.add_argument("--curvature", dest="curvature", action="store_true", default=False,
                   help="also measure loss curvature (lambda_max, Hessian trace; <= ~5%% extra time)")
    r.add_argument("--no-curvature", dest="curvature", action="store_false")
    r.add_argument("--no-early-stop", dest="early_stop", action="store_false", default=True,
                   help="run to the end even when the diagnosis is already settled (by default the run "
                        "stops, with stop reason 'settled', once the training loss has been non-finite for "
                        "3 iterations in a row or a GradScaler has skipped 16 optimizer steps in a row; "
                        "the diagnosis then judges that prefix)")
    r.add_argument("--seed", type=int, metavar="N", help="seed python/numpy/torch before the program runs")
    r.add_argument("--sample-every", type=_positive_int, default=10, metavar="K",
                   help="detailed probes every K steps (default 10)")
    r.add_argument("--html", metavar="PATH", help="write the report as HTML")
    r.add_argument("--sarif", metavar="PATH", help="write the findings as SARIF")
    r.add_argument("--verify", action="store_true", help="re-run with the proposed fix to verify it")
    r.add_argument("--no-check", dest="check", action="store_false", default=True,
                   help="do not test-run the proposed fix (by default a short run of a patched copy "
                        "must start training, or the fix is withdrawn)")
    r.add_argument("--fix", action="store_true", help="apply the proposed fix")
    r.add_argument("--diff", action="store_true", help="print the proposed fix as a diff")
    r.add_argument("--quiet", "-q", action="store_true", help="do not stream the program's output")
    r.set_defaults(func=run_run, args=[])
    _split_program_args(r)


def _split_program_args(parser: argparse.ArgumentParser) -> None:
    """Everything after the first ``--`` goes to the program untouched (``args.args``);
    options may come before or after FILE."""
    orig = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        tail: list[str] = []
        if "--" in args:
            i = args.index("--")
            args, tail = args[:i], args[i + 1:]
        ns, extras = orig(args, namespace)
        ns.args = tail
        return ns, extras

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise UsageError(f"{path}: not a file")
    from faultlens.inputs import not_python_message
    msg = not_python_message(path)
    if msg:  # never executed (or rewritten) as Python
        raise UsageError(msg)


def run_instrument(args: argparse.Namespace) -> int:
    _check_file(args.file)
    from faultlens.instrumenter.rewrite import rewrite_file
    rw = rewrite_file(args.file)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(rw.code)
        except OSError as exc:
            raise UsageError(f"{args.output}: cannot write: {exc}") from exc
        n = sum(1 for e in rw.edits if e.kind != "import")
        print(f"faultlens: wrote {args.output} ({n} probe call(s))", file=sys.stderr)
    else:
        sys.stdout.write(rw.code)
    for s in rw.skipped:
        print(f"faultlens: note: not watched: {s['node']} ({s['reason']})", file=sys.stderr)
    return 0


#: ``faultlens run`` judges at most this many seconds of a program unless told otherwise: a
#: run of hours is diagnosed from its first ten minutes (the report says it judged a prefix)
DEFAULT_MAX_SECONDS = 600.0


def run_run(args: argparse.Namespace) -> int:
    if str(args.file).lower().endswith(".ipynb"):  # a notebook: its code cells run as one program
        from faultlens.notebook_run import run_notebook
        return run_notebook(args, run_run)
    started = time.time()  # --max-seconds bounds the whole command from here
    _check_file(args.file)
    args.started = started
    from faultlens.report.pipeline import finish_run, run_stage
    from faultlens.runconfig import RunConfig
    if args.max_seconds is None:
        args.max_seconds = DEFAULT_MAX_SECONDS
    config = RunConfig.from_args(args)  # the run options, from here through the patch check
    if not args.quiet:
        print(f"faultlens: running {args.file} (time limit {args.max_seconds:g} s; change it with "
              "--max-seconds)", file=sys.stderr, flush=True)
    result = run_stage(args.file, config)
    rc = int(finish_run(result, args, config) or 0)
    return 130 if result.status == "interrupted" else rc
