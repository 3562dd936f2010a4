"""A fix of a value the run's command line set is a command-line change, never an edit of the
argparse default the run did not use (``faultlens run main.py -- --epochs 1``)."""
from __future__ import annotations

from faultlens.analyzer import build_graph
from faultlens.localizer.patches import make_patch
from faultlens.models.diagnosis import FaultCandidate
from faultlens.models.symptoms import Detection

PROGRAM = '''\
import argparse
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()

model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=args.lr)
for epoch in range(args.epochs):
    for i in range(10):
        opt.zero_grad()
        loss = model(torch.randn(8, 4)).pow(2).mean()
        loss.backward()
        opt.step()
'''


def _fault(ftype, symptom):
    return FaultCandidate(ftype, 0.9, 0.9, "", [], [], [Detection(symptom, 5, None, 1.0, "", "failure", 1.0, {})])


def _program(tmp_path):
    p = tmp_path / "main.py"
    p.write_text(PROGRAM)
    return p


def test_epochs_from_argv_get_a_command_line_patch(tmp_path):
    p = _program(tmp_path)
    g = build_graph(p, argv=["--epochs", "1", "--seed", "0"])
    patch = make_patch(_fault("epochs", "could_train_longer"), g)
    assert patch is not None
    assert patch.argv == ["--epochs", "3", "--seed", "0"]
    assert patch.diff == "" and patch.new_source == PROGRAM  # the default on line 6 is not touched
    assert "run with --epochs 3 instead of --epochs 1" in patch.description
    assert patch.to_dict()["command_line"] == ["--epochs", "3", "--seed", "0"]


def test_lr_from_argv_get_a_command_line_patch(tmp_path):
    p = _program(tmp_path)
    g = build_graph(p, argv=["--lr=5"])
    # SGD at lr 5 (effective step above 1) goes to 0.1 in one patch (the lr ladder)
    patch = make_patch(_fault("learning_rate", "diverging_loss"), g)
    assert patch is not None and patch.argv == ["--lr=0.1"] and patch.diff == ""
    assert "--lr 0.1" in patch.description


def test_without_argv_the_default_is_patched(tmp_path):
    p = _program(tmp_path)
    patch = make_patch(_fault("epochs", "could_train_longer"), build_graph(p))
    assert patch is not None and patch.argv is None
    assert "default=30" in patch.new_source and "default=10" not in patch.new_source
    # an argv that does not set epochs leaves the default the value to patch
    patch = make_patch(_fault("epochs", "could_train_longer"), build_graph(p, argv=["--lr", "0.1"]))
    assert patch is not None and patch.argv is None and "default=30" in patch.new_source


def test_lint_finding_at_a_default_the_run_replaced_is_left_out_of_the_run(tmp_path):
    from faultlens.analyzer.lint.engine import lint_paths
    from faultlens.report.pipeline import unused_default_dropped

    p = tmp_path / "main.py"
    p.write_text(PROGRAM.replace("default=0.01", "default=50.0"))
    findings = [f for f in lint_paths([str(p)], use_cache=False) if f.code == "FL012"]
    assert len(findings) == 1 and findings[0].line == 5  # at the default literal
    assert unused_default_dropped(findings, build_graph(p)) == findings
    assert unused_default_dropped(findings, build_graph(p, argv=["--epochs", "2"])) == findings
    assert unused_default_dropped(findings, build_graph(p, argv=["--lr", "0.01"])) == []
