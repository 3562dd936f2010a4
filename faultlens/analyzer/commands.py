"""``faultlens graph FILE [--format json|dot] [-o OUT] [--root DIR]``: print the program graph.

Cheap to import: the analyzer (libcst) is imported inside :func:`run`.
"""
from __future__ import annotations

import argparse
import os
import sys

from faultlens.errors import UsageError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "graph",
        help="print the program graph of a training script (JSON or Graphviz dot)",
        description="Parse a PyTorch training program (and the local files it imports) and print "
                    "its program graph: models, layers, forward flow, losses, optimizers, loops, "
                    "training calls and hyperparameters with their definition sites.",
    )
    p.add_argument("file", metavar="FILE", help="the training script (entry file)")
    p.add_argument("--format", choices=("json", "dot"), default="json", help="output format (default: json)")
    p.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of standard output")
    p.add_argument("--root", metavar="DIR", help="repository root for local imports (default: FILE's directory)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from faultlens.analyzer import build_graph

    if not os.path.exists(args.file):
        raise UsageError(f"{args.file}: no such file")
    if os.path.isdir(args.file):
        raise UsageError(f"{args.file}: is a directory (give the entry script)")
    if args.root is not None and not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: not a directory")
    graph = build_graph(args.file, root=args.root)
    text = graph.to_json() + "\n" if args.format == "json" else graph.to_dot()
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise UsageError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
    return 0
