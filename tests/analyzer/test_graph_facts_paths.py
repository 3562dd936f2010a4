"""GraphFacts.canonical maps trace node names (``<model id>#<runtime module path>``) to layers,
also for runtime names the analyzer only knows as patterns (``blocks.*``)."""
from __future__ import annotations

from faultlens.analyzer import build_graph
from faultlens.models.symptoms.graph_facts import GraphFacts

from .analyzer_helpers import one


def test_canonical_exact_loop_built_and_parameter_names(fixtures):
    g = build_graph(fixtures / "seq" / "train.py")
    gf = GraphFacts.of(g)
    clf = one(g, "model", var="clf")
    cls = one(g, "module_class", qualname="Classifier")
    head1 = g.layer_for_path(cls.id, "head.1")
    block = [n for n in g.nodes("layer", owner=cls.id) if n["module_path"] == "blocks.*"][0]
    # exact module paths keep working, with or without a parameter suffix
    assert gf.canonical(f"{clf.id}#head.1") == head1.id
    assert gf.canonical(f"{clf.id}#head.1.weight") == head1.id
    # runtime names of layers built in a comprehension resolve to the pattern node
    assert gf.canonical(f"{clf.id}#blocks.0") == block.id
    assert gf.canonical(f"{clf.id}#blocks.2.bias") == block.id
    assert gf.kind_of(f"{clf.id}#blocks.1") == "Linear"
    assert gf.canonical(f"{clf.id}#blocks.1") == block.id  # cached answer is the same
    # unknown paths and non-model heads fall back to the head id
    assert gf.canonical(f"{clf.id}#nope.0") == clf.id
    assert gf.canonical(f"{head1.id}#weight") == head1.id
    assert gf.canonical(None) is None
    # no graph: answers unknown
    assert GraphFacts.of(None).canonical(f"{clf.id}#blocks.0") == clf.id


def test_canonical_into_local_submodule_classes(tmp_path):
    (tmp_path / "m.py").write_text(
        "import torch.nn as nn\n\n"
        "class Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(8, 8)\n\n    def forward(self, x):\n        return self.fc(x)\n\n"
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.layers = nn.ModuleList([Block() for _ in range(4)])\n\n"
        "    def forward(self, x):\n        for b in self.layers:\n            x = b(x)\n        return x\n\n"
        "net = Net()\n")
    g = build_graph(tmp_path / "m.py")
    gf = GraphFacts.of(g)
    net = one(g, "model", var="net")
    fc = one(g, "layer", attr="fc")
    assert gf.canonical(f"{net.id}#layers.3.fc") == fc.id
    assert gf.canonical(f"{net.id}#layers.3.fc.weight") == fc.id
