"""Localization roles and patches on small fixture programs (no training)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from faultlens.analyzer import build_graph
from faultlens.localizer import localize
from faultlens.edits.diff import annotate, unified
from faultlens.edits.structural import InsertStmt, RemoveArg, ReplaceExpr, apply_edits
from faultlens.localizer.patches import make_patch, round_down
from faultlens.models.diagnosis import FaultCandidate
from faultlens.models.symptoms import Detection

FIX = Path(__file__).parent / "fixtures"


def fault(ftype, *dets, nodes=()):
    return FaultCandidate(ftype, 0.9, 0.9, "", [], list(nodes), list(dets))


def det(name, category="failure", **details):
    return Detection(name, 5, None, 1.0, "", category, 1.0, details)


@pytest.fixture
def work(tmp_path, monkeypatch):
    """Copies of the fixtures in a fresh git repository, cwd there."""
    for f in FIX.glob("*.py"):
        shutil.copy(f, tmp_path / f.name)
    subprocess.run(["git", "init", "-q", "."], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def code(src):
    """Source without comment lines (the patches add ``# faultlens:`` explanations)."""
    return "\n".join(l for l in src.splitlines() if not l.strip().startswith("#"))


def roles(locs):
    return [(l.role, l.line) for l in locs]


def check_applies(work, patch):
    p = work / "fix.diff"
    p.write_text(patch.diff)
    assert "# faultlens:" in patch.diff
    r = subprocess.run(["git", "apply", "--check", str(p)], cwd=work, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + patch.diff
    if shutil.which("patch"):
        r = subprocess.run(["patch", "-p0", "--dry-run", "-i", str(p)], cwd=work, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    compile(patch.new_source, "patched", "exec")
    # the annotated new source is exactly what applying the diff gives
    r = subprocess.run(["git", "apply", str(p)], cwd=work, capture_output=True, text=True)
    assert r.returncode == 0
    assert Path(patch.path).read_text() == patch.new_source


def test_lr_definition_and_use(work):
    g = build_graph(str(work / "mlp_loop.py"))
    locs = localize(fault("learning_rate"), g)
    assert roles(locs)[:2] == [("definition", 11), ("use", 36)]
    assert locs[0].path == "mlp_loop.py" and locs[0].column == 49


def test_lr_patch_from_curvature(work):
    """The value follows the fixed ladder (SGD lr 3, an effective step above 1 -> 0.1), not the
    sampled lambda_max, which differs from run to run: the same evidence gives the same patch text."""
    g = build_graph(str(work / "mlp_loop.py"))
    texts = set()
    for lam in (50.0, 500.0, 7.0):
        f = fault("learning_rate", det("beyond_stability", lambda_max=lam, limit=2.0))
        p = make_patch(f, g, locations=localize(f, g))
        assert "default=0.1" in p.new_source
        texts.add((p.diff, p.description))
    assert len(texts) == 1
    check_applies(work, p)


@pytest.mark.parametrize("direction,ratios,value", [("high", (0.3, 4.0, 60.0), "default=0.1"),
                                                    ("low", (1e-5, 3e-7, 1e-9), "default=30")])
def test_lr_patch_does_not_follow_the_sampled_update_ratio(work, direction, ratios, value):
    """Update ratios are measured on sampled steps; two runs of one program measure different
    ones. The proposed lr is the same for all of them (it was scaled by the ratio: 1 -> 0.0001
    in one run, 1 -> 0.001 in the next)."""
    g = build_graph(str(work / "mlp_loop.py"))
    texts = set()
    for r in ratios:
        d = Detection("abnormal_update_ratio", 5, r, 1.0, "", "failure", 1.0, {"direction": direction})
        p = make_patch(fault("learning_rate", d), g)
        assert value in p.new_source, p.description
        texts.add((p.diff, p.description))
    assert len(texts) == 1


def test_lr_patch_factor_ten(work):
    g = build_graph(str(work / "mlp_loop.py"))
    p = make_patch(fault("learning_rate", det("diverging_loss")), g)
    # SGD at lr 3: an effective step above 1 goes to 0.1 in one patch
    assert "default=0.1" in p.new_source and "an SGD rate of 0.1" in p.description
    src = (work / "mlp_loop.py").read_text().replace("default=3.0", "default=0.5")
    (work / "mlp_loop.py").write_text(src)
    g = build_graph(str(work / "mlp_loop.py"))
    p = make_patch(fault("learning_rate", det("diverging_loss")), g)
    assert "default=0.05" in p.new_source and "a factor 10 smaller" in p.description


def test_missing_step_and_zero_grad(work):
    g = build_graph(str(work / "mlp_loop.py"))
    f = fault("training_loop", det("missing_update", "defect", reason="no_step"))
    locs = localize(f, g)
    # nothing follows backward in its block: the insertion point is the backward itself (the
    # missing step belongs after it), never the line past the block
    assert ("insertion_point", 42) in roles(locs)
    p = make_patch(f, g, locations=locs)
    lines = p.new_source.splitlines()
    i = lines.index("        loss.backward()")
    assert lines[i + 1].strip().startswith("# faultlens:") and lines[i + 2] == "        optimizer.step()"
    check_applies(work, p)


def test_accumulating_gradients_insertion(work):
    g = build_graph(str(work / "mlp_loop.py"))
    f = fault("training_loop", det("accumulating_gradients", "defect"))
    locs = localize(f, g)
    assert ("insertion_point", 40) in roles(locs)
    p = make_patch(f, g, locations=locs)
    assert "        optimizer.zero_grad()\n        out = model(xb)" in p.new_source
    check_applies(work, p)


def test_eval_mode_insertion(work):
    g = build_graph(str(work / "mlp_loop.py"))
    f = fault("training_loop", det("eval_mode_missing", "defect"))
    locs = localize(f, g)
    assert roles(locs)[0] == ("insertion_point", 43)
    p = make_patch(f, g, locations=locs)
    assert "    model.eval()\n    with torch.no_grad():" in p.new_source
    assert "        model.train()\n        for xb, yb in loader:" in p.new_source.replace("    # faultlens", "# faultlens") or \
        "model.train()" in p.new_source
    check_applies(work, p)


def test_activation_softmax_removed(work):
    g = build_graph(str(work / "mlp_loop.py"))
    f = fault("activation", det("output_range_mismatch", "defect", problem="probabilities_into_logit_loss"),
              nodes=["op:mlp_loop.py:30:Net.softmax"])
    locs = localize(f, g)
    assert ("construction", 30) in roles(locs) and ("construction", 35) in roles(locs)
    p = make_patch(f, g, locations=locs)
    assert "return self.fc2(x)" in p.new_source and "softmax" not in code(p.new_source).split("def forward")[1]
    check_applies(work, p)


def test_nll_swapped_and_sequential_softmax(work):
    g = build_graph(str(work / "nll_seq.py"))
    f = fault("loss_function", det("output_range_mismatch", "defect", problem="scores_into_nll"))
    p = make_patch(f, g)
    assert "nn.CrossEntropyLoss()" in p.new_source
    check_applies(work, p)
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=work)
    shutil.copy(FIX / "nll_seq.py", work / "nll_seq.py")
    g = build_graph(str(work / "nll_seq.py"))
    f = fault("activation", det("output_range_mismatch", "defect", problem="probabilities_into_logit_loss"))
    p = make_patch(f, g)
    assert p is not None and "Softmax" not in code(p.new_source)
    check_applies(work, p)


def test_misplaced_zero_grad_moved(work):
    g = build_graph(str(work / "nll_seq.py"))
    f = fault("training_loop", det("missing_update", "defect", reason="cleared"))
    locs = localize(f, g)
    assert ("misplaced", 19) in roles(locs)
    p = make_patch(f, g, locations=locs)
    body = code(p.new_source).split("for step in range(20):")[1].splitlines()
    assert [l.strip() for l in body if l.strip()] == [
        "optimizer.zero_grad()", "loss = criterion(model(x), y)", "loss.backward()",
        "optimizer.step()"]
    check_applies(work, p)


def test_init_and_normalisation(work):
    g = build_graph(str(work / "mlp_loop.py"))
    p = make_patch(fault("weight_initialization", det("vanishing_gradient")), g)
    assert 'nn.init.kaiming_uniform_(model.fc1.weight, nonlinearity="relu")' in p.new_source
    check_applies(work, p)
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=work)
    shutil.copy(FIX / "mlp_loop.py", work / "mlp_loop.py")
    g = build_graph(str(work / "mlp_loop.py"))
    f = fault("data_preprocessing", det("input_out_of_range", "context"))
    locs = localize(f, g)
    assert any(l.role == "data" and l.line == 16 for l in locs), roles(locs)
    p = make_patch(f, g, locations=locs)
    assert "X = (X - X.mean(0)) / (X.std(0) + 1e-8)" in p.new_source
    check_applies(work, p)


def test_crash_location_first(work):
    g = build_graph(str(work / "mlp_loop.py"))
    crash = {"kind": "shape_mismatch", "path": "mlp_loop.py", "line": 41, "column": 9, "end_line": 41, "end_column": 30}
    locs = localize(fault("architecture"), g, crash=crash)
    assert locs[0].role == "crash" and locs[0].line == 41


def test_edit_engine_and_diff_headers(tmp_path):
    src = "a = 1\nif a:\n    b = f(a, lr=0.5)\n"
    new = apply_edits(src, [ReplaceExpr(3, 17, "0.05", 3, 20), InsertStmt(3, "c = 2\n")])
    assert new == "a = 1\nif a:\n    c = 2\n    b = f(a, lr=0.05)\n"
    d = unified(src, annotate(src, new, "why"), "./x.py", "desc")
    assert d.startswith("faultlens: desc\n--- ./x.py\n+++ ./x.py\n@@")
    assert "+    # faultlens: why\n" in d
    assert round_down(0.0837) == 0.08 and round_down(3.0 / 10) == 0.3
    seq = "m = nn.Sequential(\n    nn.Linear(4, 3),\n    nn.Softmax(dim=1),\n)\n"
    assert apply_edits(seq, [RemoveArg(3, 5)]) == "m = nn.Sequential(\n    nn.Linear(4, 3),\n)\n"


def test_missing_zero_grad_belongs_before_the_forward_or_before_backward(work):
    """The loop starts by moving the batch to the device: the missing zero_grad is placed just
    before the iteration's training forward (line 13), and the other usual place, just before
    backward (line 16), is reported second."""
    g = build_graph(str(work / "device_loop.py"))
    f = fault("training_loop", det("accumulating_gradients", "defect"))
    locs = localize(f, g)
    ins = [line for role, line in roles(locs) if role == "insertion_point"]
    assert ins[:2] == [13, 16], roles(locs)
    p = make_patch(f, g, locations=locs)
    assert "        optimizer.zero_grad()\n        out = model(xb)" in p.new_source
    check_applies(work, p)


def test_a_narrow_layer_is_located_where_its_width_is_set(work):
    """Capacity: the narrow layer's construction reads its width from a constructor parameter
    (set by the model's construction call, line 17) or from a hyperparameter (line 4); those are
    the statements a person edits, reported after the construction."""
    g = build_graph(str(work / "width_param.py"))
    fc1 = next(n.id for n in g.nodes("layer") if n.id.endswith("Net.fc1"))
    locs = localize(fault("architecture", det("capacity_limit", problem="narrow", ), nodes=[fc1]), g)
    assert roles(locs)[:2] == [("construction", 10), ("definition", 17)], roles(locs)
    seq = next(n.id for n in g.nodes("layer") if n.span.line == 18 and n.get("layer_type") == "Linear")
    locs = localize(fault("architecture", det("capacity_limit", problem="narrow"), nodes=[seq]), g)
    assert ("definition", 4) in roles(locs), roles(locs)


def test_hand_written_updates_that_never_clear_gradients_get_them_cleared_after_the_update(work):
    """No optimizer object: the fix is not optimizer.zero_grad() (a NameError) but clearing the
    updated tensors' gradients right after the last hand-written update (line 14)."""
    g = build_graph(str(work / "manual_update_loop.py"))
    f = fault("training_loop", det("accumulating_gradients", "defect"))
    locs = localize(f, g)
    assert [ln for role, ln in roles(locs) if role == "insertion_point"][0] == 14, roles(locs)
    p = make_patch(f, g, locations=locs)
    lines = p.new_source.splitlines()
    i = lines.index("        w2 -= learning_rate * w2.grad")
    assert lines[i + 2] == "        w1.grad = None; w2.grad = None", lines[i:i + 3]
    assert "zero_grad" not in p.new_source
    check_applies(work, p)


def test_preprocessing_is_located_where_the_datasets_are_built(tmp_path):
    """The loader and the loop live in a worker module, the datasets and their transforms in
    the entry file (the Hogwild layout): a preprocessing fault is located at the entry file's
    transforms, the training set's ``transform=`` among them."""
    (tmp_path / "worker.py").write_text(
        "import torch\n"
        "def train(model, dataset):\n"
        "    loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True)\n"
        "    opt = torch.optim.SGD(model.parameters(), lr=0.01)\n"
        "    for x, y in loader:\n"
        "        opt.zero_grad()\n"
        "        loss = torch.nn.functional.cross_entropy(model(x), y)\n"
        "        loss.backward()\n"
        "        opt.step()\n")
    (tmp_path / "main.py").write_text(
        "import torch\n"
        "from torchvision import datasets, transforms\n"
        "from worker import train\n"
        "norm = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1,), (0.3,))])\n"
        "train_set = datasets.MNIST('data', train=True,\n"
        "                           transform=transforms.ToTensor())\n"
        "test_set = datasets.MNIST('data', train=False, transform=norm)\n"
        "model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))\n"
        "train(model, train_set)\n")
    g = build_graph(str(tmp_path / "main.py"))
    locs = localize(FaultCandidate("data_preprocessing", 0.9, 0.9, "", [], [], []), g, cwd=str(tmp_path))
    assert ("main.py", 6) in [(l.path, l.line) for l in locs]
