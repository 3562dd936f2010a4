"""Crashes that are not training faults: verdict ``crashed`` with a kind (environment, api,
exit) and no fault type; colour codes are stripped from exception messages."""
from __future__ import annotations

import subprocess
import sys

import pytest

from faultlens.api import run
from faultlens.models.diagnosis import crash_category

TRAIN = """
import torch
import torch.nn as nn
torch.manual_seed(0)
model = nn.Linear(4, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
crit = nn.CrossEntropyLoss()
x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
for step in range(20):
    opt.zero_grad()
    loss = crit(model(x), y)
    loss.backward()
    opt.step()
"""

PROGRAMS = {
    "missing_module": ("import torch\nimport a_module_nobody_installed\n" + TRAIN, "environment", "ModuleNotFoundError"),
    "missing_file": (TRAIN + "data = open('no/such/file.csv').read()\n", "environment", "FileNotFoundError"),
    "exit_status": ("import sys\n" + TRAIN + "sys.exit(3)\n", "exit", "SystemExit"),
    "weights_only_load": (TRAIN + "class Box:\n    pass\n"
                          "torch.save({'box': Box()}, 'ckpt.pt')\nstate = torch.load('ckpt.pt')\n",
                          "api", "UnpicklingError"),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_non_training_crash_has_a_kind_and_no_fault_type(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)  # the programs write and read files in their working directory
    src, kind, exc = PROGRAMS[name]
    path = tmp_path / f"{name}.py"
    path.write_text(src)
    rep = run(str(path), in_process=True, out_dir=str(tmp_path / "run"), max_seconds=60, seed=0)
    assert rep.verdict == "crashed"
    assert rep.crash["type"] == exc and rep.crash["category"] == kind
    assert rep.faults == []
    d = rep.to_dict()
    assert d["crash"]["category"] == kind and d["faults"] == []
    assert f"crash kind: {kind} (not a training fault)" in rep.to_text()


def test_training_crash_keeps_its_fault_types(tmp_path):
    path = tmp_path / "shape.py"
    path.write_text(TRAIN.replace("loss = crit(model(x), y)", "loss = crit(model(x[:, :3]), y)"))
    rep = run(str(path), in_process=True, out_dir=str(tmp_path / "run"), max_seconds=60, seed=0)
    assert rep.verdict == "crashed" and "category" not in rep.crash and rep.faults


def test_crash_category_rules():
    assert crash_category(None) is None
    assert crash_category({"type": "RuntimeError", "message": "mat1 and mat2 shapes cannot be multiplied"}) is None
    assert crash_category({"type": "RuntimeError", "message": "Weights only load failed ... weights_only"}) == "api"


def test_colour_codes_are_stripped_from_the_message(tmp_path):
    path = tmp_path / "colour.py"
    path.write_text(TRAIN + "raise RuntimeError('\\x1b[31mred alert\\x1b[0m in the loop')\n")
    rep = run(str(path), in_process=True, out_dir=str(tmp_path / "run"), max_seconds=60, seed=0)
    assert rep.crash["message"] == "red alert in the loop"
    assert "\x1b" not in rep.to_text()


def test_cli_passes_the_programs_exit_status_on(tmp_path):
    path = tmp_path / "exit3.py"
    path.write_text("import sys\n" + TRAIN + "sys.exit(3)\n")
    r = subprocess.run([sys.executable, "-m", "faultlens", "run", str(path), "-q", "--out", str(tmp_path / "run")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, r.stderr[-2000:]
