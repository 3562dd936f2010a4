"""Patches edit only the value the flagged code uses, and belong to the code path that ran
(issue "Do no harm": an lr fix lowered an argparse default that a hand-written update used)."""
from __future__ import annotations

import re
import textwrap

from faultlens.analyzer import build_graph
from faultlens.analyzer.reads import read_elsewhere
from faultlens.localizer.handlers._common import optimizers_that_ran
from faultlens.localizer.patches import make_patch
from faultlens.models.diagnosis import FaultCandidate, _lint_scores, not_built
from faultlens.models.symptoms import Detection

SHARED = '''
import argparse
import torch
import torch.nn as nn

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=20.0)
parser.add_argument("--optimizer", default="manual")
args = parser.parse_args()
model = nn.Linear(10, 1)
lr = args.lr
if args.optimizer == "adam":
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
else:
    optimizer = None
for step in range(10):
    model.zero_grad()
    loss = model(torch.randn(4, 10)).pow(2).mean()
    loss.backward()
    if optimizer is not None:
        optimizer.step()
    else:
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
'''

OWN = '''
import torch
import torch.nn as nn

lr = 5.0
model = nn.Linear(10, 1)
optimizer = torch.optim.Adam(model.parameters(), lr=lr)
for step in range(10):
    optimizer.zero_grad()
    loss = model(torch.randn(4, 10)).pow(2).mean()
    loss.backward()
    optimizer.step()
'''


def _graph(tmp_path, text, name="prog.py"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return build_graph(str(p)), p


def _lr_fault():
    d = Detection("diverging_loss", 5, None, 1.0, "", "failure", 1.0, {})
    return FaultCandidate("learning_rate", 0.9, 0.9, "", [], [], [d])


class _TV:
    def __init__(self, meta):
        self.meta = meta

    def nodes(self, metric):
        return []


def test_a_definition_read_by_other_code_is_shared(tmp_path):
    g, _ = _graph(tmp_path, SHARED)
    adam = next(o for o in g.nodes("optimizer") if o.get("optimizer_type") == "Adam")
    default = next(h for h in g.nodes("hyperparameter") if h.get("source") == "argparse" and h.get("hp") == "lr")
    assert read_elsewhere(g, default, adam)
    g2, _ = _graph(tmp_path, OWN, "own.py")
    opt = g2.nodes("optimizer")[0]
    lit = next(h for h in g2.nodes("hyperparameter") if h.get("hp") == "lr" and h.get("value_span"))
    assert not read_elsewhere(g2, lit, opt)


def test_lr_patch_edits_the_optimizer_argument_not_a_shared_default(tmp_path, monkeypatch):
    g, p = _graph(tmp_path, SHARED)
    monkeypatch.chdir(tmp_path)
    adam = next(o for o in g.nodes("optimizer") if o.get("optimizer_type") == "Adam")
    built = _TV({"status": "finished", "steps": 10, "watched": {"optimizers": [adam.id]}})
    monkeypatch.setattr("faultlens.models.symptoms.TraceView.of", staticmethod(lambda t: t))
    patch = make_patch(_lr_fault(), g, trace=built)
    assert patch is not None
    new = patch.new_source
    assert 'default=20.0' in new                       # the shared default is left alone
    assert re.search(r"torch\.optim\.Adam\(model\.parameters\(\), lr=[0-9.e-]+\)", new)


def test_lr_patch_edits_an_unshared_definition_where_it_is(tmp_path, monkeypatch):
    g, _ = _graph(tmp_path, OWN, "own.py")
    monkeypatch.chdir(tmp_path)
    patch = make_patch(_lr_fault(), g)
    assert patch is not None and re.search(r"^lr = [0-9.e-]+$", patch.new_source, re.M)
    assert "lr = 5.0" not in patch.new_source
    assert "lr=lr" in patch.new_source


def test_the_optimizer_the_run_built_comes_first(tmp_path):
    g, _ = _graph(tmp_path, SHARED)
    manual_run = _TV({"status": "finished", "steps": 10, "watched": {"optimizers": []}})
    assert optimizers_that_ran(g, manual_run)[0].get("manual")
    adam = next(o for o in g.nodes("optimizer") if o.get("optimizer_type") == "Adam")
    adam_run = _TV({"status": "finished", "steps": 10, "watched": {"optimizers": [adam.id]}})
    assert optimizers_that_ran(g, adam_run)[0].id == adam.id


def test_a_finding_on_an_optimizer_the_run_never_built_scores_nothing(tmp_path):
    g, _ = _graph(tmp_path, SHARED)
    adam = next(o for o in g.nodes("optimizer") if o.get("optimizer_type") == "Adam")
    meta = {"status": "finished", "steps": 10, "instrumented": [adam.id, "model:prog.py:10:model"],
            "watched": {"optimizers": [], "models": ["model:prog.py:10:model"]}}
    unbuilt = not_built(_TV(meta))
    assert unbuilt == {adam.id}
    finding = {"code": "FL012", "severity": "warning", "node": adam.id, "fault_type": "learning_rate",
               "path": "prog.py", "line": 7}
    sc, nodes, items = _lint_scores([finding], unbuilt)
    assert sc == {} and items[0]["ran"] is False
    sc, _, items = _lint_scores([dict(finding)], set())
    assert sc.get("learning_rate", 0) > 0 and "ran" not in items[0]
    # a run cut short (or crashed) may not have reached the optimizer yet: nothing is marked
    assert not_built(_TV({**meta, "status": "stopped"})) == set()


DATASET_OBJECT = '''
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset


class Raw(Dataset):
    def __init__(self):
        self.x = torch.randn(64, 10) * 50 + 300
        self.y = (self.x[:, 0] > 300).long()

    def __len__(self):
        return 64

    def __getitem__(self, i):
        return self.x[i], self.y[i]


training_data = Raw()
loader = DataLoader(training_data, batch_size=16)
model = nn.Linear(10, 2)
criterion = nn.CrossEntropyLoss()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for epoch in range(2):
    for X, Y in loader:
        opt.zero_grad()
        loss = criterion(model(X), Y)
        loss.backward()
        opt.step()
with torch.no_grad():
    for X, Y in loader:
        print((model(X).argmax(1) == Y).float().mean().item())
'''

LABELS_FROM_RAW = '''
import torch
import torch.nn as nn

x = torch.randn(64, 10) * 50 + 300
y = (x[:, 0] > 300).long()
model = nn.Linear(10, 2)
criterion = nn.CrossEntropyLoss()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for epoch in range(5):
    opt.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    opt.step()
'''

SPLIT_AFTER_LOAD = '''
import numpy as np
import torch
import torch.nn as nn

data = np.random.rand(64, 10) * 300
labels = np.random.randint(0, 2, 64)
inputs = torch.tensor(data, dtype=torch.float32)
model = nn.Linear(10, 2)
criterion = nn.CrossEntropyLoss()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for epoch in range(5):
    opt.zero_grad()
    loss = criterion(model(inputs), torch.tensor(labels))
    loss.backward()
    opt.step()
'''


class _InputTV(_TV):
    def __init__(self, node, mean=298.0, std=49.0):
        super().__init__({"status": "finished", "steps": 8})
        self._n, self._m, self._s = node, mean, std

    def nodes(self, metric):
        return [self._n] if metric in ("input_mean", "input_std") else []

    def series(self, metric, node=None):
        import numpy as np
        v = {"input_mean": self._m, "input_std": self._s}.get(metric)
        return (np.arange(3), np.full(3, v)) if v is not None else (np.zeros(0), np.zeros(0))


def _prep_fault():
    d = Detection("input_scale", 0, None, 1.0, "", "defect", 1.0, {})
    return FaultCandidate("data_preprocessing", 0.9, 0.9, "", [], [], [d])


def _data_locations(g, path):
    from faultlens.localizer import localize
    return [l for l in localize(_prep_fault(), g) if l.role == "data"]


def _patched_runs(tmp_path, patch):
    import subprocess
    import sys
    out = tmp_path / "patched.py"
    out.write_text(patch.new_source)
    r = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def _feed_patch(tmp_path, monkeypatch, program):
    """The data_preprocessing patch of ``program`` with a trace that measured inputs 298 +- 49."""
    g, p = _graph(tmp_path, program)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("faultlens.models.symptoms.TraceView.of", staticmethod(lambda t: t))
    model = g.nodes("model")[0].id
    patch = make_patch(_prep_fault(), g, trace=_InputTV(model), locations=_data_locations(g, p))
    assert patch is not None
    return patch


def test_a_dataset_object_is_standardised_where_the_loop_feeds_it(tmp_path, monkeypatch):
    patch = _feed_patch(tmp_path, monkeypatch, DATASET_OBJECT)
    assert "training_data.mean" not in patch.new_source      # no array method on a Dataset
    assert patch.new_source.count("X = (X - 298) / 49") == 2  # the training and evaluation loops
    _patched_runs(tmp_path, patch)


def test_raw_values_read_first_are_left_as_the_program_wrote_them(tmp_path, monkeypatch):
    patch = _feed_patch(tmp_path, monkeypatch, LABELS_FROM_RAW)
    src = patch.new_source
    # the labels are still computed from the raw values: the transform is at the feed
    assert src.index("y = (x[:, 0] > 300).long()") < src.index("x = (x - 298) / 49")
    assert "x.mean(0)" not in src
    # x is made once and fed whole every epoch: transformed once, before the loop, not per epoch
    assert src.count("x = (x - 298) / 49") == 1
    assert src.index("x = (x - 298) / 49") < src.index("for epoch in range(5):")
    _patched_runs(tmp_path, patch)


def test_an_array_passed_on_as_data_is_standardised_per_feature_before_it(tmp_path, monkeypatch):
    g, p = _graph(tmp_path, SPLIT_AFTER_LOAD)
    monkeypatch.chdir(tmp_path)
    patch = make_patch(_prep_fault(), g, locations=_data_locations(g, p))
    assert patch is not None
    src = patch.new_source
    assert "data = (data - data.mean(0)) / (data.std(0) + 1e-8)" in src
    assert src.index("data = (data - data.mean(0))") < src.index("inputs = torch.tensor(data")
    _patched_runs(tmp_path, patch)
