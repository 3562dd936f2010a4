"""Every mutation operator applies to a fixture program and changes it at the intended site."""
import difflib
import os

import pytest

pytest.importorskip("faultlens.analyzer.build")
from faultlens.analyzer import build_graph  # noqa: E402
from faultlens.corpus.operators import (  # noqa: E402
    FAULT_TYPES, REGISTRY, Mutant, apply_mutant, enumerate_mutants, get_operator, mutant_from_spec)
from faultlens.corpus.edits import MutationError  # noqa: E402

FIX = os.path.join(os.path.dirname(__file__), "fixtures")
PROGRAMS = [os.path.join(FIX, "tiny_mlp.py"), os.path.join(FIX, "tiny_manual.py"), os.path.join(FIX, "tiny_conv.py")]


@pytest.fixture(scope="module")
def graphs():
    return {p: build_graph(p) for p in PROGRAMS}


@pytest.fixture(scope="module")
def mutants(graphs):
    return {p: enumerate_mutants(g) for p, g in graphs.items()}


def test_every_operator_applies_somewhere(mutants):
    seen = {m.operator for ms in mutants.values() for m in ms}
    assert seen == set(REGISTRY)
    assert {m.fault_type for ms in mutants.values() for m in ms} == set(FAULT_TYPES)


def _changed_lines(old: str, new: str, prelude_end: int) -> list[int]:
    """1-based original line numbers touched by the edit, ignoring the inserted prelude."""
    a, b = old.splitlines(), new.splitlines()
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if tag == "insert" and i1 <= prelude_end:
            continue  # the helper/import block after the imports
        out.extend(range(i1 + 1, max(i2, i1 + 1) + 1))
    return out


@pytest.mark.parametrize("op_name", sorted(REGISTRY))
def test_operator_changes_its_site(op_name, graphs, mutants):
    applied = 0
    for path in PROGRAMS:
        g = graphs[path]
        src = open(path).read()
        last_import = max(i for i, l in enumerate(src.splitlines(), 1)
                          if l.startswith("import ") or l.startswith("from "))
        for m in [m for m in mutants[path] if m.operator == op_name]:
            files = apply_mutant(g, m)
            new = files[os.path.basename(path)]
            assert new != src
            compile(new, path, "exec")  # valid Python
            site = g.node(m.site)
            lines = _changed_lines(src, new, last_import)
            lo, hi = site.span.line - 1, site.span.end_line + 1
            assert any(lo <= ln <= hi for ln in lines), (m.describe(), lines, (lo, hi))
            assert m.fault_type == get_operator(op_name).fault_type
            applied += 1
    assert applied >= 1


def test_mutant_ids_are_stable_and_unique(mutants):
    for ms in mutants.values():
        ids = [m.id for m in ms]
        assert len(ids) == len(set(ids))
    m = Mutant("lr_scale", "optimizer:x.py:1:o", (("factor", 10.0),), "learning_rate")
    assert m.id == Mutant("lr_scale", "optimizer:x.py:1:o", (("factor", 10.0),), "learning_rate").id


def test_specific_rewrites(graphs):
    g = graphs[PROGRAMS[0]]
    new = apply_mutant(g, mutant_from_spec(g, "lr_scale", {"factor": 100.0}))["tiny_mlp.py"]
    assert "lr=(LR) * 100.0" in new
    new = apply_mutant(g, mutant_from_spec(g, "drop_zero_grad", {}))["tiny_mlp.py"]
    assert "optimizer.zero_grad()" not in new
    new = apply_mutant(g, mutant_from_spec(g, "softmax_before_ce", {}))["tiny_mlp.py"]
    assert "criterion(_fl_torch.softmax(model(xb), dim=-1), yb)" in new
    new = apply_mutant(g, mutant_from_spec(g, "optimizer_change", {"to": "Adam"}))["tiny_mlp.py"]
    assert "_fl_torch.optim.Adam(model.parameters(), lr=LR)" in new
    with pytest.raises(MutationError):
        mutant_from_spec(graphs[PROGRAMS[1]], "drop_eval", {})  # no eval() call in that program


def test_cli_mutate(tmp_path, capsys):
    from faultlens.cli import main

    out = tmp_path / "m.py"
    assert main(["mutate", PROGRAMS[0], "--op", "lr_scale", "--param", "factor=0.001", "-o", str(out)]) == 0
    assert "(LR) * 0.001" in out.read_text()
    assert main(["mutate", "--list"]) == 0
    assert "drop_zero_grad" in capsys.readouterr().out
    assert main(["mutate", PROGRAMS[0], "--list"]) == 0
    assert "weight_init" in capsys.readouterr().out
    assert main(["mutate", PROGRAMS[0], "--op", "nope"]) == 2
    assert main(["mutate", str(tmp_path / "missing.py"), "--op", "lr_scale"]) == 2
    assert "faultlens: error:" in capsys.readouterr().err


def test_data_fault_never_corrupts_a_name_the_loop_binds(tmp_path):
    """``for xb, yb in loader`` binds xb and yb: inserting ``xb = _fl_corrupt(xb, ...)`` before the
    epoch loop would raise UnboundLocalError (an invalid mutant, not a data fault)."""
    from faultlens.corpus.operators import enumerate_mutants

    src = tmp_path / "trainer.py"
    src.write_text(
        "import torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader, TensorDataset\n\n\n"
        "class Trainer:\n"
        "    def __init__(self):\n"
        "        self.model = nn.Linear(4, 2)\n"
        "        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)\n"
        "        self.loss_fn = nn.CrossEntropyLoss()\n\n"
        "    def fit(self, loader):\n"
        "        for epoch in range(3):\n"
        "            for xb, yb in loader:\n"
        "                self.opt.zero_grad()\n"
        "                loss = self.loss_fn(self.model(xb), yb)\n"
        "                loss.backward()\n"
        "                self.opt.step()\n\n\n"
        "x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))\n"
        "Trainer().fit(DataLoader(TensorDataset(x, y), batch_size=8))\n")
    for m in enumerate_mutants(str(src), operators=["data_fault", "unnormalized_inputs"]):
        names = {v for k, v in m.info if k in ("x", "y")}
        assert not names & {"xb", "yb"}, m.info
