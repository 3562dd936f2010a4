"""Diagnosis: verdicts, ranking, confidence and explaining-away on synthetic traces."""
from __future__ import annotations

import numpy as np

from diagnosis.tracebuild import LOSS, MODEL, OPT, graph, healthy
from faultlens.models import FAULT_TYPES, diagnose


def _diag(tmp_path, tb, g=None, name="t.sqlite", lint=None):
    return diagnose(str(tb.write(tmp_path / name)), g if g is not None else graph(), lint, use_classifier=False)


def test_healthy_and_inconclusive(tmp_path):
    d = _diag(tmp_path, healthy())
    assert d.verdict == "healthy" and d.faults == [] and d.p_faulty < 0.5
    short = healthy(5)
    short.meta["steps"] = 5
    assert _diag(tmp_path, short, name="s.sqlite").verdict == "inconclusive"


def test_lint_alone_does_not_make_a_program_faulty(tmp_path):
    lint = [{"code": "FL999", "name": "x", "severity": "error", "message": "m", "path": "train.py", "line": 3,
             "column": 1, "end_line": 3, "end_column": 2, "node": None, "fault_type": "learning_rate"}]
    assert _diag(tmp_path, healthy(), lint=lint).verdict == "healthy"


def test_diverging_high_lr_ranks_learning_rate(tmp_path):
    tb = healthy()
    tb.scalars.pop(("loss", LOSS))
    tb.series("loss", LOSS, 0.7 * np.exp(np.arange(120) / 25))
    d = _diag(tmp_path, tb, graph(lr=5.0))
    assert d.verdict == "faulty" and d.faults[0].type == "learning_rate"
    assert 0.5 < d.faults[0].confidence <= d.p_faulty <= 1
    assert all(f.type in FAULT_TYPES for f in d.faults)
    confs = [f.confidence for f in d.faults]
    assert confs == sorted(confs, reverse=True)
    assert abs(sum(d.scores.values())) > 0


def test_loop_defect_is_faulty_even_when_loss_falls(tmp_path):
    tb = healthy(60)
    tb.events = []
    tb.loop_events(60, order=("forward", "loss", "backward", "step"))
    d = _diag(tmp_path, tb)
    assert d.verdict == "faulty" and d.faults[0].type == "training_loop"
    assert d.faults[0].evidence[0].symptom == "accumulating_gradients"


def test_contract_explains_away_the_blow_up(tmp_path):
    tb = healthy()
    tb.scalars.pop(("loss", LOSS))
    tb.series("loss", LOSS, -np.exp(np.arange(120) / 10))
    d = _diag(tmp_path, tb, graph(loss_type="NLLLoss"))
    assert d.faults[0].type == "loss_function"


def test_crash_verdict(tmp_path):
    tb = healthy(3)
    tb.meta.update(status="crashed", crash={"kind": "out_of_memory", "type": "RuntimeError", "message": "OOM",
                                            "path": "train.py", "line": 40, "step": 2})
    d = _diag(tmp_path, tb, name="c.sqlite")
    assert d.verdict == "crashed" and d.faults[0].type == "batch_size"
    assert d.faults[0].evidence[0].symptom == "crash"


def test_crash_messages_refine_the_type():
    from faultlens.models.diagnosis import crash_scores
    neg = crash_scores({"kind": "index_range", "message": "Target -1 is out of bounds."})
    big = crash_scores({"kind": "index_range", "message": "Target 2 is out of bounds."})
    assert max(neg, key=neg.get) == "data" and max(big, key=big.get) == "architecture"
    bce = crash_scores({"kind": "other", "message": "all elements of input should be between 0 and 1"})
    assert max(bce, key=bce.get) == "loss_function"


def test_scaled_inputs_explain_a_blow_up(tmp_path):
    tb = healthy()
    tb.scalars.pop(("loss", LOSS))
    tb.series("loss", LOSS, 0.7 * np.exp(np.arange(120) / 25))
    tb.scalars.pop(("input_std", MODEL))
    tb.series("input_std", MODEL, np.full(120, 80.0))
    d = _diag(tmp_path, tb, name="x.sqlite")
    assert d.faults[0].type == "data_preprocessing"


def test_residual_data_fault(tmp_path):
    """Accuracy stuck at chance, normal update ratio, nothing structural: the data."""
    tb = healthy()
    rng = np.random.default_rng(0)
    tb.scalars.pop(("loss", LOSS))
    tb.scalars.pop(("accuracy", LOSS))
    tb.series("loss", LOSS, 2.30 + rng.normal(0, 0.01, 120))
    tb.series("accuracy", LOSS, 0.1 + rng.normal(0, 0.01, 120))
    tb.series("target_max", MODEL, np.full(120, 9.0)).series("target_is_int", MODEL, np.ones(120))
    d = _diag(tmp_path, tb, name="r.sqlite")
    assert d.verdict == "faulty" and d.faults[0].type == "data"


def test_full_batch_training_points_at_batch_size(tmp_path):
    """One optimizer step per epoch and a loss still falling slowly: the batch is the dataset."""
    tb = healthy(40)
    tb.scalars.pop(("loss", LOSS))
    tb.series("loss", LOSS, 2.3 - 0.01 * np.arange(40))
    tb.events = []
    for s in range(40):
        tb.event(s, "epoch", None)
    tb.loop_events(40)
    d = _diag(tmp_path, tb, name="fb.sqlite")
    assert d.verdict == "faulty" and d.faults[0].type == "batch_size"


def test_an_unresolved_learning_rate_is_read_from_the_run(tmp_path):
    """The graph's optimizer has no literal rate (a config file set it): the structural
    learning-rate rules read the rate the run recorded. AdamW at 0.5 -- 500x its default --
    with a loss that stays where it started is a learning-rate fault; at 1e-3 it is not."""
    from faultlens.models.diagnosis import _graph_scores
    from faultlens.models.symptoms import TraceView, detect_all
    from faultlens.models.symptoms.graph_facts import GraphFacts

    got = {}
    for lr in (1e-3, 0.5):
        tb = healthy()
        tb.scalars.pop(("loss", LOSS), None)
        tb.series("loss", LOSS, 2.3 + np.random.default_rng(0).normal(0, 0.01, 120))
        tb.scalars.pop(("lr", OPT + "#g0"), None)
        tb.series("lr", OPT + "#g0", np.full(120, lr))
        tv = TraceView.of(str(tb.write(tmp_path / f"lr{lr}.sqlite")))
        gf = GraphFacts.of(graph(otype="AdamW", lr=None))
        dets = detect_all(tv, gf)
        sc, _ = _graph_scores(gf, {d.symptom for d in dets}, dets, tv)
        got[lr] = sc.get("learning_rate", 0.0)
    assert got[1e-3] == 0.0 and got[0.5] >= 2.0


def test_a_summed_loss_scales_the_plain_step_when_the_rate_is_judged_low(tmp_path):
    """SGD at lr 1e-6 on a loss summed over 2000 elements steps like lr 2e-3 on their mean
    (the tutorials' polynomial fits): not a low rate. The same rate on a mean loss is low."""
    from faultlens.models.diagnosis import _graph_scores
    from faultlens.models.symptoms import TraceView, detect_all
    from faultlens.models.symptoms.graph_facts import GraphFacts

    got = {}
    for reduction in ("sum", "mean"):
        tb = healthy()
        tb.scalars.pop(("loss", LOSS), None)
        tb.series("loss", LOSS, 2.3 + np.random.default_rng(0).normal(0, 0.01, 120))
        tb.series("target_numel", MODEL, np.full(120, 2000.0))
        tv = TraceView.of(str(tb.write(tmp_path / f"{reduction}.sqlite")))
        g = graph(lr=1e-6)
        g.store.nodes[LOSS]["attrs"]["args"] = {"reduction": reduction}
        gf = GraphFacts.of(g)
        dets = detect_all(tv, gf)
        sc, _ = _graph_scores(gf, {d.symptom for d in dets}, dets, tv)
        got[reduction] = sc.get("learning_rate", 0.0)
    assert got["sum"] == 0.0 and got["mean"] >= 2.0


def test_a_rate_of_the_other_optimizer_family_also_reads_as_an_optimizer_swap(tmp_path):
    """Adam at 0.1 (SGD's customary size) or plain SGD at 1e-3 (Adam's default) with a loss
    that does not fall: a swapped optimizer that kept the old rate is as likely as a wrong
    rate, so the optimizer gets weight beside the learning rate; SGD at 0.02 does not."""
    from faultlens.models.diagnosis import _graph_scores
    from faultlens.models.symptoms import TraceView, detect_all
    from faultlens.models.symptoms.graph_facts import GraphFacts

    def scores(otype, lr, name):
        tb = healthy()
        tb.scalars.pop(("loss", LOSS), None)
        tb.series("loss", LOSS, 2.3 - 0.002 * np.arange(120) + np.random.default_rng(0).normal(0, 0.005, 120))
        tb.scalars.pop(("lr", OPT + "#g0"), None)
        tb.series("lr", OPT + "#g0", np.full(120, lr))
        tv = TraceView.of(str(tb.write(tmp_path / f"{name}.sqlite")))
        gf = GraphFacts.of(graph(otype=otype, lr=lr))
        dets = detect_all(tv, gf)
        fired = {d.symptom for d in dets}
        assert fired & {"slow_convergence", "loss_not_decreasing", "no_better_than_baseline"}, fired
        sc, _ = _graph_scores(gf, fired, dets, tv)
        return sc.get("optimizer", 0.0), sc.get("learning_rate", 0.0)

    opt, lr = scores("Adam", 0.1, "adam")
    assert opt >= 2.0 and lr >= 2.0
    assert scores("SGD", 1e-3, "sgd_small")[0] >= 1.0
    assert scores("SGD", 0.02, "sgd_usual")[0] < 1.0
