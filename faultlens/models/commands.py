"""CLI: ``faultlens model train|check`` and ``faultlens evaluate``. Cheap to import."""
from __future__ import annotations

import argparse
import json
import os
import sys

from faultlens.errors import UsageError

DEFAULT_CORPUS = "corpora/corpus.sqlite"
EXPORT = "corpora/corpus_features.csv.gz"
#: the real-program corpus's committed export (faultlens corpus build --sources; corpora/README.md)
REAL_EXPORT = "corpora/real/corpus_features.csv.gz"


def _default_source(path: str | None) -> str:
    if path:
        return path
    if os.path.exists(DEFAULT_CORPUS):
        return DEFAULT_CORPUS
    return EXPORT


def add_parser(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("model", help="train / check the diagnosis model",
                       description="Train the fault-typing and triage classifiers from a corpus.")
    msub = m.add_subparsers(dest="model_command", metavar="ACTION")
    t = msub.add_parser("train", help="train the models from a corpus database or its CSV export")
    t.add_argument("--db", action="append", default=None,
                   help=f"corpus, repeatable (default: {DEFAULT_CORPUS}, else {EXPORT}; and {REAL_EXPORT} "
                        "when it exists: the model is trained on both populations)")
    t.add_argument("-o", "--out", default=None, help="model directory (default: the shipped model directory)")
    t.add_argument("--no-eval", action="store_true", help="skip the cross-validated metrics in the card")
    t.set_defaults(func=run_train)
    c = msub.add_parser("check", help="verify a model directory (hash, versions) and print its card")
    c.add_argument("path", nargs="?", default=None, help="model directory (default: shipped)")
    c.add_argument("--trust-model", action="store_true", help="also unpickle it (only for files you trust)")
    c.set_defaults(func=run_check)
    m.set_defaults(func=lambda a: (m.print_help(), 2)[1])

    e = sub.add_parser("evaluate", help="cross-validate the diagnosis models and write corpora/RESULTS.md",
                       description="Within-program vs leave-program-out balanced accuracy, per-type "
                                   "precision/recall and a feature-group ablation.")
    e.add_argument("--db", default=None, help=f"own-program corpus ({DEFAULT_CORPUS}, else {EXPORT})")
    e.add_argument("--real", default=None,
                   help=f"real-program corpus for the populations and transfer study (default, without --db: "
                        f"{REAL_EXPORT} when it exists)")
    e.add_argument("--no-real", action="store_true", help="evaluate the own corpus only")
    e.add_argument("--out", default="corpora/RESULTS.md", help="Markdown results (results.json beside it)")
    e.add_argument("--no-ablation", action="store_true")
    e.set_defaults(func=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    from faultlens.corpus.export import load_rows
    from faultlens.models import classifier, evaluation, training

    srcs = args.db or [_default_source(None)] + ([REAL_EXPORT] if os.path.exists(REAL_EXPORT) else [])
    rows = []
    for src in srcs:
        part = load_rows(src)
        if not part:
            raise UsageError(f"{src}: the corpus has no runs with features")
        rows += part
    src = " + ".join(srcs)
    metrics = {}
    if not args.no_eval:
        res = evaluation.evaluate(rows, ablation=False)
        metrics = {k: {kk: res[k].get(kk) for kk in ("n", "within_balanced_accuracy", "lopo_balanced_accuracy", "gap")}
                   for k in ("typing", "triage") if "error" not in res[k]}
    bundle, card = training.train(rows, metrics, source=src)
    out = args.out or classifier.SHIPPED_DIR
    path = classifier.save_model(out, bundle, card)
    card = classifier.read_card(out)
    training.write_card_md(out, card)
    print(f"model written to {path} (sha256 {card['sha256'][:16]}...)")
    print(json.dumps(metrics, indent=2))
    return 0


def run_check(args: argparse.Namespace) -> int:
    from faultlens.models import classifier

    path = args.path or classifier.SHIPPED_DIR
    card = classifier.check_model_dir(path)
    if args.trust_model:
        classifier.load_model(path, trust=True)
    print(json.dumps({k: card.get(k) for k in ("name", "version", "sha256", "versions", "metrics")}, indent=2))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from faultlens.corpus.export import load_rows
    from faultlens.models import evaluation

    src = _default_source(args.db)
    rows = load_rows(src)
    if not rows:
        raise UsageError(f"{src}: the corpus has no runs with features")
    # the committed real export joins only the default own corpus: a --db of your own is evaluated alone
    default_real = REAL_EXPORT if (args.db is None and os.path.exists(REAL_EXPORT)) else None
    real_src = None if args.no_real else (args.real or default_real)
    if args.real and not os.path.exists(args.real):
        raise UsageError(f"{args.real}: no such corpus")
    res = evaluation.evaluate(rows, ablation=not args.no_ablation)
    pops = None
    if real_src:
        real_rows = load_rows(real_src)
        if not real_rows:
            raise UsageError(f"{real_src}: the corpus has no runs with features")
        pops = evaluation.evaluate_populations(rows, real_rows, ablation=not args.no_ablation)
    cmd = ("faultlens evaluate --db " + src + (f" --real {real_src}" if real_src else " --no-real")
           + (f" --out {args.out}" if args.out != "corpora/RESULTS.md" else ""))
    md, js = evaluation.write_results(res, args.out, cmd, src, pops, real_src)
    h = evaluation.headline(res)
    if pops is not None:
        h.update(evaluation.populations_headline(pops))
    print(json.dumps(h, indent=2))
    print(f"wrote {md} and {js}", file=sys.stderr)
    return 0
