"""Training/evaluation on a synthetic corpus with a known structure."""
import json
import math
import os
import random

import pytest

from faultlens.corpus.export import Row
from faultlens.models import evaluation, training

TYPES = ["learning_rate", "optimizer", "activation"]


def _rows(n_programs=6, per=8, seed=0):
    rng = random.Random(seed)
    rows, rid = [], 0
    for p in range(n_programs):
        offset = rng.uniform(-3, 3)  # a per-program nuisance feature (what LOPO must ignore)
        for t_i, t in enumerate(TYPES):
            for k in range(per):
                rid += 1
                feats = {"loss.signal": t_i + rng.gauss(0, 0.2), "static.prog": offset + rng.gauss(0, 0.01),
                         "grad.noise": rng.gauss(0, 1)}
                rows.append(Row(rid, f"p{p}", f"m{t_i}_{k // 2}", k % 2, "ok", 0.5, "op", t, "faulty", feats))
        for k in range(per):
            rid += 1
            rows.append(Row(rid, f"p{p}", "original", k, "ok", 0.9, None, None, "original",
                            {"loss.signal": 5 + rng.gauss(0, 0.2), "static.prog": offset, "grad.noise": rng.gauss(0, 1)}))
    return rows


def test_evaluate_reports_both_splits_and_ablation(tmp_path):
    res = evaluation.evaluate(_rows())
    t = res["typing"]
    assert t["lopo_balanced_accuracy"] > 0.9 and t["within_balanced_accuracy"] > 0.9
    assert math.isclose(t["gap"], t["within_balanced_accuracy"] - t["lopo_balanced_accuracy"])
    assert set(t["per_class"]) == set(TYPES)
    abl = t["ablation"]
    assert abl["loss"]["only_lopo"] > 0.9
    assert abl["grad"]["only_lopo"] < 0.7  # noise alone cannot type faults
    assert res["triage"]["lopo_balanced_accuracy"] > 0.9
    md, js = evaluation.write_results(res, str(tmp_path / "RESULTS.md"), "faultlens evaluate", "synthetic")
    h = json.load(open(js))
    for k in ("n_traces", "n_programs", "within_balanced_accuracy", "lopo_balanced_accuracy"):
        assert k in h
    text = open(md).read()
    assert "leave-program-out" in text
    # per-operator recall and the curvature reading come from the same numbers
    assert t["per_operator"]["op"]["n"] == len([r for r in _rows() if r.label == "faulty"])
    assert "| op |" in text and "Curvature: no curvature features" in text
    assert 0.0 <= t["ablation_reference_lopo"] <= 1.0
    assert 0.0 <= t["within_mutant_balanced_accuracy"] <= 1.0 and "held out" in text


def test_curvature_sentence_reads_the_ablation():
    abl = {"loss": {"only_lopo": 0.6, "only_gap": 0.2, "without_lopo": 0.70},
           "curv": {"only_lopo": 0.3, "only_gap": 0.05, "without_lopo": 0.80}}
    s = evaluation._curvature_sentence(abl, 0.80)
    assert "LOPO 0.300 (rank 2 of 2" in s and "gap of 0.050 (rank 1 of 2" in s and "adds nothing" in s
    s2 = evaluation._curvature_sentence({**abl, "curv": {**abl["curv"], "without_lopo": 0.75}}, 0.80)
    assert "-0.050" in s2 and "adds nothing" not in s2


def test_program_specific_feature_shows_a_gap():
    # labels tied to programs through a program-specific feature only: within-program CV looks good,
    # leave-program-out cannot generalise
    rng = random.Random(1)
    rows, rid = [], 0
    for p in range(8):
        t = TYPES[p % 3]
        for k in range(12):
            rid += 1
            rows.append(Row(rid, f"p{p}", f"m{k}", 0, "ok", 0.1, "op", t, "faulty",
                            {"static.prog": p + rng.gauss(0, 0.01), "loss.noise": rng.gauss(0, 1)}))
    t = evaluation.evaluate(rows, ablation=False)["typing"]
    assert t["within_balanced_accuracy"] > 0.8
    assert t["lopo_balanced_accuracy"] < 0.5 and t["gap"] > 0.35


def test_train_and_shipped_roundtrip(tmp_path):
    from faultlens.models import classifier

    rows = _rows()
    bundle, card = training.train(rows, {}, source="synthetic")
    classifier.save_model(str(tmp_path), bundle, card)
    training.write_card_md(str(tmp_path), classifier.read_card(str(tmp_path)))
    m = classifier.load_shipped(str(tmp_path))
    assert m.predict({"loss.signal": 1.0, "static.prog": 0.0}) == "optimizer"
    assert m.triage_proba({"loss.signal": 5.0}) < 0.5
    assert "sha256" in open(tmp_path / "MODEL_CARD.md").read()


def test_cli_train_and_evaluate_from_csv_export(tmp_path):
    import csv
    import gzip

    from faultlens.cli import main
    from faultlens.corpus.export import ID_COLUMNS
    from faultlens.models import classifier

    rows = _rows(n_programs=4, per=6)
    names = sorted({k for r in rows for k in r.features})
    path = tmp_path / "corpus_features.csv.gz"
    with gzip.open(path, "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(ID_COLUMNS) + names)
        for r in rows:
            w.writerow([r.run_id, r.program, r.mutant_id, r.seed, r.status, r.score, r.operator or "",
                        r.fault_type or "", r.label] + [r.features[n] for n in names])
    out = tmp_path / "res" / "RESULTS.md"
    assert main(["evaluate", "--db", str(path), "--out", str(out), "--no-ablation"]) == 0
    assert json.load(open(tmp_path / "res" / "results.json"))["n_traces"] == len(rows)
    assert main(["model", "train", "--db", str(path), "-o", str(tmp_path / "m"), "--no-eval"]) == 0
    assert classifier.load_shipped(str(tmp_path / "m")) is not None
    assert main(["evaluate", "--db", str(tmp_path / "missing.csv.gz")]) == 2
    assert main(["evaluate", "--db", str(path), "--real", str(tmp_path / "missing.csv.gz")]) == 2
    # two populations train one model; the card names both sources
    assert main(["model", "train", "--db", str(path), "--db", str(path), "-o", str(tmp_path / "m2"), "--no-eval"]) == 0
    assert " + " in classifier.read_card(str(tmp_path / "m2"))["data"]["source"]


def _population(prefix, n_programs, seed, opt_sign, extra_type=None):
    """Runs of one population: ``loss.signal`` types faults the same way in every population;
    ``opt.cue`` types them too, but with the sign ``opt_sign`` (a feature that does not transfer)."""
    rng = random.Random(seed)
    types = TYPES + ([extra_type] if extra_type else [])
    rows, rid = [], seed * 10000
    for p in range(n_programs):
        for t_i, t in enumerate(types):
            for k in range(6):
                rid += 1
                feats = {"loss.signal": t_i + rng.gauss(0, 0.15), "opt.cue": opt_sign * t_i + rng.gauss(0, 0.15)}
                rows.append(Row(rid, f"{prefix}{p}", f"m{t_i}_{k // 2}", k % 2, "ok", 0.5, "op", t, "faulty", feats))
        for k in range(4):
            rid += 1
            rows.append(Row(rid, f"{prefix}{p}", "original", k, "ok", 0.9, None, None, "original",
                            {"loss.signal": 8 + rng.gauss(0, 0.2), "opt.cue": rng.gauss(0, 1)}))
    return rows


def test_populations_transfer_and_its_ablation(tmp_path):
    own = _population("own", 4, 1, opt_sign=1.0)
    real = _population("real", 4, 2, opt_sign=-1.0, extra_type="epochs")
    p = evaluation.evaluate_populations(own, real, ablation=True)
    pops, t, abl = p["populations"], p["transfer"], p["transfer_ablation"]
    assert pops["own"]["n_programs"] == 4 and pops["real"]["n_traces"] == len(real)
    assert pops["both"]["n_programs"] == 8
    for k in ("own", "real", "both"):
        v = pops[k]
        assert math.isclose(v["gap_within_mutant"], v["within_mutant_balanced_accuracy"] - v["lopo_balanced_accuracy"])
    # the class the own population lacks counts against own-to-real; the shared classes alone do not
    o2r = t["own_to_real"]
    assert o2r["shared_classes"] == sorted(TYPES)
    assert o2r["balanced_accuracy"] <= 0.75 + 1e-9
    assert o2r["shared_balanced_accuracy"] > o2r["balanced_accuracy"]
    # the feature that carries over transfers alone; the one whose sign flips does not
    assert abl["loss"]["only"] > abl["opt"]["only"]
    assert abl["loss"]["without"] < abl["reference"]
    att = p["transfer_attempts"]
    assert 0.5 <= att["population_auc"] <= 1.0 and set(att["most_identifying"]) <= {"loss.signal", "opt.cue"}
    assert "drop_10" not in att  # never more features dropped than there are
    assert 0.0 <= att["importance_weighted"]["own_to_real"] <= 1.0
    assert pops["both"]["lopo_balanced_accuracy_real_rows"] > 0.0
    h = evaluation.populations_headline(p)
    assert set(h["transfer"]) >= {"own_to_real", "real_to_own"} and set(h["populations"]) == {"own", "real", "both"}
    res = evaluation.evaluate(own, ablation=False)
    md, js = evaluation.write_results(res, str(tmp_path / "RESULTS.md"), "faultlens evaluate", "own", p, "real.csv.gz")
    text = open(md).read()
    assert "## Populations and transfer" in text and "missed by" in text and "What was tried" in text
    data = json.load(open(js))
    assert data["transfer"]["own_to_real"] == o2r["balanced_accuracy"]
    assert data["n_traces"] == len(own) and data["real_source"] == "real.csv.gz"
