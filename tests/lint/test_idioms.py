"""Realistic training programs (tests/lint/programs/): idioms that must stay clean, and one
fault injected at a time into them that the matching rule must report."""
from __future__ import annotations

from pathlib import Path

import pytest

from faultlens.analyzer.lint import lint_source

PROGRAMS = Path(__file__).parent / "programs"
ALL = sorted(p.name for p in PROGRAMS.glob("*.py"))


@pytest.mark.parametrize("name", ALL)
def test_idiomatic_program_is_clean(name):
    found = lint_source((PROGRAMS / name).read_text(), name)
    assert found == [], [(f.code, f.line, f.message) for f in found]


# (program, old text, new text, expected code) -- the edit injects one fault
MUTANTS = [
    ("classifier_train_test.py", "    net.eval()\n", "", "FL008"),
    ("classifier_train_test.py", "    net.train()\n", "", "FL009"),
    ("classifier_train_test.py", "F.log_softmax(self.l2(h), dim=1)", "F.log_softmax(self.l2(h))", "FL016"),
    ("classifier_train_test.py", "F.log_softmax(self.l2(h), dim=1)", "self.l2(h)", "FL002"),
    ("classifier_train_test.py", "        opt.step()\n", "", "FL006"),
    ("classifier_train_test.py", "nn.Dropout(0.2)", "nn.Dropout(0.9)", "FL013"),
    ("classifier_train_test.py", "        opt.zero_grad()\n        nll = F.nll_loss(net(xb), yb)\n        nll.backward()\n",
     "        nll = F.nll_loss(net(xb), yb)\n        nll.backward()\n        opt.zero_grad()\n", "FL018"),
    ("classifier_train_test.py", "h = F.relu(self.l1(h))", "h = self.l1(h)", "FL010"),
    ("gan_two_optimizers.py", "        G.zero_grad()\n", "", "FL005"),
    ("gan_two_optimizers.py", "nn.Linear(32, 1), nn.Sigmoid()", "nn.Linear(32, 1)", "FL004"),
    ("gan_two_optimizers.py", "nn.init.normal_(m.weight, 0.0, 0.02)", "nn.init.constant_(m.weight, 0.02)", "FL014"),
    ("gan_two_optimizers.py", "opt_g = torch.optim.Adam(G.parameters(), lr=2e-4",
     "opt_g = torch.optim.Adam(G.parameters(), lr=2.0", "FL012"),
    ("manual_sgd_lm.py", "        for p in lm.parameters():\n            p.data.add_(p.grad, alpha=-step_size)\n",
     "", "FL006"),
    ("manual_sgd_lm.py", "loss = loss_fn(lm(x), y)", "loss = loss_fn(lm(x).detach(), y)", "FL017"),
    ("manual_sgd_lm.py", "loss = loss_fn(lm(x), y)", "loss = loss_fn(F.softmax(lm(x), dim=1), y)", "FL001"),
    ("accumulate_and_policy.py", "        opt.zero_grad(set_to_none=True)\n", "", "FL005"),
]


@pytest.mark.parametrize("name,old,new,code", MUTANTS, ids=[f"{m[0]}-{m[3]}" for m in MUTANTS])
def test_injected_fault_is_reported(name, old, new, code):
    src = (PROGRAMS / name).read_text()
    assert old in src
    mutant = src.replace(old, new, 1)
    if "F.softmax" in new and "import torch.nn.functional as F" not in mutant:
        mutant = "import torch.nn.functional as F\n" + mutant
    found = lint_source(mutant, name)
    assert code in {f.code for f in found}, [(f.code, f.line, f.message) for f in found]
