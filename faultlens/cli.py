"""The ``faultlens`` command line.

Each sub-command lives in its stage's ``commands`` module, which exposes
``add_parser(subparsers)`` and ``run(args) -> int``. Those modules must be cheap to import
(no torch, no scikit-learn at import time): heavy imports go inside ``run``. That keeps
``faultlens lint`` fast enough for a pre-commit hook.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from faultlens import __version__
from faultlens.errors import FaultlensError

# sub-command name -> module that implements it (kept in pipeline order)
COMMANDS: dict[str, str] = {
    "graph": "faultlens.analyzer.commands",
    "lint": "faultlens.analyzer.lint.commands",
    "instrument": "faultlens.instrumenter.commands",
    "run": "faultlens.instrumenter.commands",
    "analyze": "faultlens.report.commands",
    "export": "faultlens.report.export",
    "mutate": "faultlens.corpus.commands",
    "corpus": "faultlens.corpus.commands",
    "model": "faultlens.models.commands",
    "evaluate": "faultlens.models.commands",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the parser. With ``only``, just that sub-command's module is imported."""
    parser = argparse.ArgumentParser(
        prog="faultlens",
        description="Find why a PyTorch training program fails and where the fault is.",
    )
    parser.add_argument("--version", action="version", version=f"faultlens {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    seen: set[str] = set()
    for name, modname in COMMANDS.items():
        if only is not None and name != only:
            continue
        if modname in seen:
            continue
        seen.add(modname)
        importlib.import_module(modname).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=first if first in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FaultlensError as exc:
        print(f"faultlens: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("faultlens: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
