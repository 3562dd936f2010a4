"""What a name refers to (faultlens/analyzer/refs.py): ``Builder.qualify`` and
``Builder.classify_callee`` on a program with a local module."""
import libcst as cst

from faultlens.analyzer.builder import Builder
from faultlens.analyzer.refs import Callee, External, LocalClass, LocalFunction, LocalModule, ModuleVar

HELPERS = '''\
import torch.nn as nn

SIZE = 4


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(SIZE, 2)


class Config:
    lr = 0.1


def make():
    return Net()
'''

MAIN = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F
import lightning.pytorch as pl
import helpers
from helpers import Net, make, SIZE

model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
'''


def _builder(tmp_path):
    (tmp_path / "helpers.py").write_text(HELPERS)
    (tmp_path / "main.py").write_text(MAIN)
    b = Builder(str(tmp_path))
    entry = b.load(str(tmp_path / "main.py"))
    return b, entry, b.by_rel["helpers.py"]


def test_qualify_gives_one_dataclass_per_kind(tmp_path):
    b, fi, helpers = _builder(tmp_path)
    assert b.qualify(fi, "nn.Linear") == External("torch.nn.Linear")
    assert b.qualify(fi, "torch.optim.SGD") == External("torch.optim.SGD")
    q = b.qualify(fi, "Net")
    assert isinstance(q, LocalClass) and q.cls is helpers.classes["Net"]
    assert b.qualify(fi, "helpers.Config") == LocalClass(helpers.classes["Config"])
    q = b.qualify(fi, "make")
    assert isinstance(q, LocalFunction) and q.fn is helpers.functions["make"]
    assert b.qualify(fi, "SIZE") == ModuleVar(helpers, "SIZE")
    assert b.qualify(fi, "helpers") == LocalModule(helpers)
    assert b.qualify(fi, "model") == ModuleVar(fi, "model")
    assert b.qualify(fi, "undefined") is None
    assert b.qualify(fi, "x['k']") is None
    assert b.ext(fi, "F.relu") == "torch.nn.functional.relu"
    assert b.ext(fi, "Net") is None


def test_classify_callee(tmp_path):
    b, fi, helpers = _builder(tmp_path)

    def callee(text):
        return b.classify_callee(fi, cst.parse_expression(text))

    assert callee("Net") == Callee("module", "Net", cls=helpers.classes["Net"])
    assert callee("helpers.Config") == Callee("class", "Config", cls=helpers.classes["Config"])
    assert callee("make") == Callee("func", "make", fn=helpers.functions["make"])
    assert callee("nn.Linear") == Callee("layer", "Linear")
    assert callee("nn.CrossEntropyLoss") == Callee("loss", "CrossEntropyLoss")
    assert callee("torch.optim.SGD") == Callee("optimizer", "SGD")
    assert callee("F.relu") == Callee("functional", "relu")
    assert callee("torch.zeros") == Callee("torchfn", "zeros")
    assert callee("pl.Trainer") == Callee("trainer", "lightning:Trainer")
    assert callee("torch.distributions.Normal") == Callee("ext", "torch.distributions.Normal")
    assert callee("nn.Module") is None
    assert callee("helpers") is None
    assert callee("undefined") is None
