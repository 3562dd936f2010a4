"""CLI: ``faultlens mutate`` and ``faultlens corpus build|label|export``. Cheap to import."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from faultlens.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mutate", help="inject a fault into a training program (mutation operators)",
                       description="Apply one mutation operator to FILE, located through the program graph.")
    p.add_argument("file", nargs="?", help="training program")
    p.add_argument("--op", help="operator name (see --list)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="operator parameter")
    p.add_argument("--site", help="graph node id of the site (default: the first applicable)")
    p.add_argument("-o", "--output", help="write the mutant here (default: stdout)")
    p.add_argument("--list", action="store_true",
                   help="list the operators, or with FILE every applicable (operator, site, params)")
    p.add_argument("--json", action="store_true", help="with --list: JSON output")
    p.set_defaults(func=run_mutate)

    c = sub.add_parser("corpus", help="build the fault-injected corpus",
                       description="Build, label and export the fault-injected training corpus.")
    csub = c.add_subparsers(dest="corpus_command", metavar="ACTION")
    b = csub.add_parser("build", help="run originals and mutants instrumented over seeds (resumable)")
    b.add_argument("--programs", default=None,
                   help="directory of own subject programs (default corpora/programs unless --sources)")
    b.add_argument("--sources", default=None,
                   help="local clones of the external benchmark's repositories: build from its dev-half "
                        "real programs instead (faultlens.corpus.real)")
    b.add_argument("--manifest", default=None,
                   help="with --sources: the external manifest (default benchmarks/external/manifest.json)")
    b.add_argument("--standin-scale", type=float, default=0.5,
                   help="with --sources: multiply the stand-in data sets' sizes (default 0.5)")
    b.add_argument("--db", default="corpora/corpus.sqlite", help="corpus SQLite database")
    b.add_argument("--seeds", type=int, default=3, help="seeds per mutant (>= 2)")
    b.add_argument("--orig-seeds", type=int, default=None, help="seeds per original (default: 2 x seeds)")
    b.add_argument("--jobs", type=int, default=1, help="worker processes")
    b.add_argument("--max-steps", type=int, default=None, help="cut each run after N training steps")
    b.add_argument("--max-seconds", type=float, default=60.0, help="cut each run after S seconds")
    b.add_argument("--engine", choices=("local", "ray"), default="local")
    b.add_argument("--address", default=None, help="Ray cluster address (engine ray)")
    b.add_argument("--limit", type=int, default=None, help="run at most N new jobs")
    b.add_argument("--max-mutants", type=int, default=None, help="mutants per program")
    b.add_argument("--program", action="append", default=None, help="only these programs (repeatable)")
    b.add_argument("--no-curvature", action="store_true", help="do not record curvature probes")
    b.add_argument("--no-keep-traces", action="store_true",
                   help="do not keep gzip copies of the traces (DB.traces/) for re-extracting features")
    b.add_argument("--no-progress", action="store_true")
    b.set_defaults(func=run_build)
    lab = csub.add_parser("label", help="recompute mutant labels from the stored runs")
    lab.add_argument("--db", default="corpora/corpus.sqlite")
    lab.set_defaults(func=run_label)
    fe = csub.add_parser("features", help="re-extract features from the kept traces (after a features change)")
    fe.add_argument("--db", default="corpora/corpus.sqlite")
    fe.add_argument("--jobs", type=int, default=2, help="worker processes (one mutant's runs per task)")
    fe.add_argument("--no-progress", action="store_true")
    fe.set_defaults(func=run_refeature)
    e = csub.add_parser("export", help="export labels and features as compressed CSV")
    e.add_argument("--db", default="corpora/corpus.sqlite")
    e.add_argument("--out", default="corpora", help="directory for corpus_*.csv.gz")
    e.set_defaults(func=run_export)
    c.set_defaults(func=lambda a: (c.print_help(), 2)[1])


def _params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for it in items:
        if "=" not in it:
            raise UsageError(f"--param {it!r}: expected K=V")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except ValueError:
            out[k.strip()] = v
    return out


def run_mutate(args: argparse.Namespace) -> int:
    from faultlens.corpus.operators import REGISTRY, apply_mutant, enumerate_mutants, mutant_from_spec

    if args.list and not args.file:
        rows = [{"name": op.name, "fault_type": op.fault_type, "family": op.family,
                 "variants": op.variants, "description": op.description} for op in REGISTRY.values()]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for r in rows:
                print(f"{r['name']:<26} {r['fault_type']:<22} {r['description']}")
        return 0
    if not args.file:
        raise UsageError("mutate: FILE is required (or --list)")
    if not os.path.isfile(args.file):
        raise UsageError(f"{args.file}: no such file")
    from faultlens.analyzer import build_graph

    graph = build_graph(args.file)
    if args.list:
        ms = enumerate_mutants(graph)
        if args.json:
            print(json.dumps([m.to_dict() for m in ms], indent=2))
        else:
            for m in ms:
                print(f"{m.id:<30} {m.fault_type:<22} {m.describe()}")
        return 0
    if not args.op:
        raise UsageError("mutate: --op NAME is required (see --list)")
    if args.op not in REGISTRY:
        raise UsageError(f"unknown operator {args.op!r} (see `faultlens mutate --list`)")
    m = mutant_from_spec(graph, args.op, _params(args.param), args.site)
    files = apply_mutant(graph, m)
    entry_rel = os.path.relpath(os.path.abspath(args.file), os.path.abspath(graph.root or "."))
    if len(files) == 1 or entry_rel in files:
        text = files.get(entry_rel) or next(iter(files.values()))
    else:
        text = next(iter(files.values()))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"{m.describe()} [{m.fault_type}] -> {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def run_build(args: argparse.Namespace) -> int:
    from faultlens.corpus.builder import build_corpus

    if args.programs and args.sources:
        raise UsageError("--programs and --sources are exclusive (own programs or real ones, one per database)")
    programs_dir = args.programs or (None if args.sources else "corpora/programs")
    summary = build_corpus(programs_dir, args.db, seeds=args.seeds, orig_seeds=args.orig_seeds, jobs=args.jobs,
                           max_steps=args.max_steps, max_seconds=args.max_seconds, engine=args.engine,
                           address=args.address, limit=args.limit, max_mutants=args.max_mutants,
                           programs=args.program, curvature=not args.no_curvature, progress=not args.no_progress,
                           keep_traces=not args.no_keep_traces, sources=args.sources, manifest=args.manifest,
                           standin_scale=args.standin_scale)
    print(json.dumps(summary, indent=2))
    return 0


def run_label(args: argparse.Namespace) -> int:
    from faultlens.corpus import db as cdb
    from faultlens.corpus.builder import relabel

    if not os.path.exists(args.db):
        raise UsageError(f"{args.db}: no such corpus database")
    con = cdb.connect(args.db)
    print(json.dumps(relabel(con), indent=2))
    con.close()
    return 0


def run_refeature(args: argparse.Namespace) -> int:
    from faultlens.corpus.refeature import refeature

    if not os.path.exists(args.db):
        raise UsageError(f"{args.db}: no such corpus database")
    if args.jobs < 1:
        raise UsageError("--jobs must be >= 1")
    counts = refeature(args.db, jobs=args.jobs, progress=not args.no_progress)
    print("re-extracted features: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from faultlens.corpus.export import export_csv

    if not os.path.exists(args.db):
        raise UsageError(f"{args.db}: no such corpus database")
    for p in export_csv(args.db, args.out):
        print(p)
    return 0
