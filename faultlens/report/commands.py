"""``faultlens analyze PATH [--run] [--diff] [--format text|json] [--max-seconds S]``.

A file or a whole repository: lint and graph every Python file, list the entry-point
training scripts; ``--run`` runs each under the budget and reports its diagnosis; ``--diff``
prints every patch (run patches and lint fixes) as one annotated diff.
Exit codes: 0 clean/healthy, 1 a faulty or crashed run or a lint error, 3 inconclusive only.
Cheap to import: nothing heavy at module load.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}")
    if v <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return v


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("analyze", help="lint + graph a file or repository; optionally run its training scripts",
                              description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("path", help="a .py file or a directory")
    p.add_argument("--run", action="store_true", help="run each entry-point training script and diagnose it")
    p.add_argument("--diff", action="store_true", help="print all patches as one annotated diff")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    p.add_argument("--max-seconds", type=_positive_float, default=60.0, metavar="S",
                   help="time budget per program with --run (default 60)")
    p.add_argument("--max-steps", type=int, default=None, metavar="N", help="step budget per program with --run")
    p.add_argument("--seed", type=int, default=None, metavar="N")
    p.set_defaults(func=run_analyze)


def run_analyze(args: argparse.Namespace) -> int:
    from faultlens.analyzer.lint.engine import display_path
    from faultlens.api import analyze

    from faultlens.runconfig import RunConfig

    config = RunConfig(max_seconds=args.max_seconds, max_steps=args.max_steps, seed=args.seed)
    res = analyze(args.path, run=args.run, config=config)
    out = sys.stdout
    if args.format == "json":
        d = res.to_dict()
        if args.diff:
            d["diff"] = res.combined_diff()
        out.write(json.dumps(d, indent=2, default=str) + "\n")
        return res.exit_code()
    if args.diff:
        out.write(res.combined_diff())
        return res.exit_code()
    n_lint = sum(len(f.lint) for f in res.files)
    out.write(f"faultlens: {args.path}: {len(res.files)} file(s), {n_lint} lint finding(s), "
              f"{len(res.entry_points)} training entry point(s)\n")
    for f in res.files:
        tag = " [entry point]" if f.entry_point else ""
        err = f"  (graph: {f.graph_error})" if f.graph_error else ""
        out.write(f"  {f.path}: {f.nodes} graph nodes, {len(f.lint)} finding(s){tag}{err}\n")
        for x in f.lint:  # the file's path as listed above; another file's relative to the cwd
            shown = f.path if os.path.abspath(x.path) == os.path.abspath(f.path) else display_path(x.path)
            if x.path.lower().endswith(".ipynb"):  # nb.ipynb:cell 7:line 3
                from faultlens.notebook import label
                shown = label(shown, x.line, x.column) if os.path.isfile(shown) else f"{shown}:{x.line}"
                out.write(f"    {shown}: {x.code} [{x.severity}] {x.message}\n")
                continue
            out.write(f"    {shown}:{x.line}:{x.column}: {x.code} [{x.severity}] {x.message}\n")
    for f in res.files:
        if f.report is not None:
            out.write("\n" + f.report.to_text(color=out.isatty()))
    return res.exit_code()
