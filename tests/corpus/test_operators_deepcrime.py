"""DeepCrime's 'remove bias', 'add bias' and 'change patience' operators."""
import textwrap

import pytest

pytest.importorskip("faultlens.analyzer.build")
from faultlens.analyzer import build_graph  # noqa: E402
from faultlens.corpus.operators import apply_mutant, enumerate_mutants  # noqa: E402

HEADER = "import argparse\nimport torch\nimport torch.nn as nn\n\n"

LAYERS = HEADER + textwrap.dedent('''\
    USE_BIAS = False


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(8, 16)
            self.b = nn.Linear(16, 16, bias=True)
            self.c = nn.Conv1d(1, 4, 3, 1, 1, 1, 1, False)
            self.d = nn.Linear(16, 16, False)
            self.e = nn.Linear(16, 2, bias=USE_BIAS)
            self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(),
                                      nn.Conv2d(4, 4, 3))
            self.act = nn.ReLU()

        def forward(self, x):
            return self.e(self.d(self.b(self.act(self.a(x)))))


    model = Net()
    ''')

CLEAN = HEADER + textwrap.dedent('''\
    model = nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Dropout(0.1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3)
    for epoch in range(3):
        opt.step()
        sched.step()
    ''')

PATIENCE = HEADER + textwrap.dedent('''\
    p = argparse.ArgumentParser()
    p.add_argument("--patience", type=int, default=5)
    args = p.parse_args()
    WAIT = 4
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    s1 = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2)
    s2 = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, "min", 0.5, WAIT)
    s3 = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
    s4 = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    bad = 0
    for epoch in range(10):
        opt.step()
        bad += 1
        if bad >= args.patience:
            break
    ''')


def _mutate(tmp_path, source, op):
    path = tmp_path / "prog.py"
    path.write_text(source)
    g = build_graph(str(path))
    out = {}
    for m in enumerate_mutants(g, operators=[op]):
        new = apply_mutant(g, m)["prog.py"]
        assert new != source
        compile(new, "prog.py", "exec")
        out[m.site] = new
    return out


def _changed(old, new):
    return [(a, b) for a, b in zip(old.splitlines(), new.splitlines()) if a != b]


def test_bias_remove(tmp_path):
    muts = _mutate(tmp_path, LAYERS, "bias_remove")
    assert all(len(_changed(LAYERS, new)) == 1 for new in muts.values())  # one edit per mutant
    got = sorted(_changed(LAYERS, new)[0][1].strip() for new in muts.values())
    assert got == [
        "nn.Conv2d(4, 4, 3, bias=False))",
        "self.a = nn.Linear(8, 16, bias=False)",
        "self.b = nn.Linear(16, 16, bias=False)",
    ]
    # one site per layer; layers already without a bias (keyword, positional, via a constant) are skipped
    assert len(muts) == 3


def test_bias_add(tmp_path):
    muts = _mutate(tmp_path, LAYERS, "bias_add")
    got = sorted(_changed(LAYERS, new)[0][1].strip() for new in muts.values())
    assert got == [
        "self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=True), nn.ReLU(),",
        "self.c = nn.Conv1d(1, 4, 3, 1, 1, 1, 1, True)",
        "self.d = nn.Linear(16, 16, True)",
        "self.e = nn.Linear(16, 2, bias=True)",
    ]


def test_bias_mutants_build_the_intended_layers(tmp_path):
    import torch

    muts = _mutate(tmp_path, LAYERS, "bias_remove")
    site = next(s for s in muts if s.endswith("Net.a"))
    ns = {}
    exec(compile(muts[site], "prog.py", "exec"), ns)
    assert ns["model"].a.bias is None and isinstance(ns["model"].b.bias, torch.Tensor)


def test_patience_change(tmp_path):
    muts = _mutate(tmp_path, PATIENCE, "patience_change")
    got = sorted(_changed(PATIENCE, new)[0][1].strip() for new in muts.values())
    assert got == sorted([
        'p.add_argument("--patience", type=int, default=0)',  # early stopping through args.patience
        "WAIT = 0",  # the constant s2 reads (positional patience)
        's1 = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=0)',
        "s3 = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)",  # default 10 made explicit 0
    ])  # s4 already has patience 0: no mutant


def test_clean_program_has_no_sites(tmp_path):
    for op in ("bias_remove", "bias_add", "patience_change"):
        assert _mutate(tmp_path, CLEAN, op) == {}
