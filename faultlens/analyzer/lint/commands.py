"""``faultlens lint PATH...``: static checks for PyTorch training programs.

Cheap to import (standard library only): the analyzer (libcst, networkx) is loaded only when
a file actually needs analysing, never torch or scikit-learn.
"""
from __future__ import annotations

import argparse
import sys

from faultlens.errors import UsageError

FAIL_ON = ("error", "warning", "never")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "lint",
        help="static checks for PyTorch training programs (no execution)",
        description="Statically check PyTorch training programs for common faults "
                    "(softmax before CrossEntropyLoss, missing zero_grad, eval() never undone, ...). "
                    "Rules: see docs/lint.md or `faultlens lint --list-rules`.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (walked for *.py)")
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text", help="output format (default text)")
    p.add_argument("--fail-on", choices=FAIL_ON, default="error",
                   help="exit 1 when a finding of this severity or worse is reported (default error)")
    p.add_argument("--select", metavar="CODES", action="append", help="only these rule codes/prefixes (comma-separated)")
    p.add_argument("--ignore", metavar="CODES", action="append", help="skip these rule codes/prefixes (comma-separated)")
    p.add_argument("--diff", action="store_true", help="print the available fixes as a unified diff (git apply-able)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the result cache")
    p.add_argument("--cache-dir", metavar="DIR", help="cache directory (default .faultlens/cache/lint under the "
                                                       "repository root, or $FAULTLENS_CACHE_DIR)")
    p.add_argument("--jobs", "-j", type=int, metavar="N", help="worker processes (default: available cores)")
    p.add_argument("--list-rules", action="store_true", help="print the rule table and exit")
    p.set_defaults(func=run)
    return p


def _list_rules() -> int:
    from faultlens.analyzer.lint.registry import all_rules

    for r in all_rules():
        print(f"{r.code}  {r.severity:<7}  {r.name:<34} {r.summary}")
    return 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "list_rules", False):
        return _list_rules()
    if not args.paths:
        raise UsageError("lint: give at least one PATH (file or directory)")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be >= 1")
    from faultlens.analyzer.lint.engine import run_lint

    report = run_lint(args.paths, args.select, args.ignore, use_cache=not args.no_cache,
                      cache_dir=args.cache_dir, jobs=args.jobs)
    for note in report.notes:
        print(note, file=sys.stderr)
    out = sys.stdout
    if args.diff:
        from faultlens.analyzer.lint.output import to_diff

        diff, n = to_diff(report.findings)
        out.write(diff)
    elif args.format == "json":
        from faultlens.analyzer.lint.output import to_json

        out.write(to_json(report))
    elif args.format == "sarif":
        from faultlens.analyzer.lint.output import to_sarif
        from faultlens.analyzer.lint.registry import all_rules

        out.write(to_sarif(report, all_rules()))
    else:
        from faultlens.analyzer.lint.output import format_text

        out.write(format_text(report.findings))
    out.flush()
    from faultlens.analyzer.lint.output import summary_line

    if report.results:
        print(summary_line(report), file=sys.stderr)
    else:
        print("faultlens: no Python files found", file=sys.stderr)
    if report.results and report.files_read == 0:
        return 2
    if args.fail_on == "never":
        return 0
    worst = {"error": ("error",), "warning": ("error", "warning")}[args.fail_on]
    return 1 if any(f.severity in worst for f in report.findings) else 0
