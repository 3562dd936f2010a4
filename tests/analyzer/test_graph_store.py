"""The program graph's own store (``faultlens.analyzer.graph.Adjacency``) behaves as networkx's
``MultiDiGraph`` for every operation the analyzer uses, and ``ProgramGraph.g`` is a networkx graph
that iterates exactly as the store did. The lint path never imports networkx."""
from __future__ import annotations

import random
import subprocess
import sys

import networkx as nx

from faultlens.analyzer import build_graph
from faultlens.analyzer.graph import Adjacency, ProgramGraph, Span


def _state(g):
    """Everything whose order or content could differ: nodes, out- and in-edges of each node."""
    return (
        list(g.nodes(data=True)),
        list(g.edges(data=True)),
        [(n, list(g.out_edges(n, data=True)), list(g.in_edges(n, data=True))) for n in list(g.nodes)],
        len(g),
    )


def test_store_matches_networkx_on_random_operations():
    rng = random.Random(12)
    for trial in range(40):
        ours, ref = Adjacency(), nx.MultiDiGraph()
        names = [f"n{i}" for i in range(8)]
        for step in range(120):
            op = rng.random()
            u, v = rng.choice(names), rng.choice(names)
            if op < 0.25:
                ours.add_node(u, kind="k", x=step)
                ref.add_node(u, kind="k", x=step)
            elif op < 0.65:
                key = rng.choice([None, None, "contains", "uses", 3])
                assert ours.add_edge(u, v, key=key, kind="e", n=step) == ref.add_edge(u, v, key=key, kind="e", n=step)
            elif op < 0.75:
                if u in ref:
                    ours.remove_node(u)
                    ref.remove_node(u)
            elif op < 0.85:
                batch = [u, v, "absent"]
                ours.remove_nodes_from(batch)
                ref.remove_nodes_from(batch)
            else:
                key = rng.choice([None, "contains", 0, 1, "nope"])
                bunch = [(u, v, key), (v, u)]
                ours.remove_edges_from(bunch)
                ref.remove_edges_from(bunch)
            assert _state(ours) == _state(ref), (trial, step)
            assert (u in ours) == (u in ref) and ([] in ours) is False
        converted = ours.to_networkx()
        assert isinstance(converted, nx.MultiDiGraph)
        assert _state(converted) == _state(ref)
        assert converted.number_of_edges() == ref.number_of_edges()


def test_program_graph_g_is_networkx_and_stays_live(tmp_path):
    src = tmp_path / "train.py"
    src.write_text(
        "import torch\nimport torch.nn as nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n\n"
        "    def forward(self, x):\n        return self.fc(x)\n\n"
        "model = Net()\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for x, y in [(torch.zeros(1, 4), torch.zeros(1, dtype=torch.long))]:\n"
        "    opt.zero_grad()\n    loss = nn.functional.cross_entropy(model(x), y)\n"
        "    loss.backward()\n    opt.step()\n"
    )
    graph = build_graph(src)
    before = graph.to_json()
    nodes_before = [n.id for n in graph.nodes()]
    g = graph.g
    assert isinstance(g, nx.MultiDiGraph)
    assert graph.g is g and graph.store is g  # one graph from now on
    assert graph.to_json() == before and [n.id for n in graph.nodes()] == nodes_before
    assert g.number_of_nodes() == len(graph) and g.number_of_edges() == len(list(graph.edges()))
    # a change made through networkx is the program graph's change
    g.add_node("hyperparameter:train.py:99:extra", kind="hyperparameter", name="extra",
               span=Span("train.py", 99, 1, 99, 2), snippet="", attrs={})
    assert "hyperparameter:train.py:99:extra" in graph
    # a round trip through JSON gives the same networkx graph
    back = ProgramGraph.from_json(before)
    assert isinstance(back.g, nx.MultiDiGraph) and back.to_json() == before


def test_lint_does_not_import_networkx(tmp_path):
    src = tmp_path / "train.py"
    src.write_text(
        "import torch\nimport torch.nn as nn\n\nmodel = nn.Linear(4, 2)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\ncrit = nn.CrossEntropyLoss()\n"
        "for x, y in []:\n    loss = crit(torch.softmax(model(x), dim=1), y)\n    loss.backward()\n    opt.step()\n"
    )
    code = ("import sys; from faultlens.cli import main; rc = main(['lint', '--no-cache', '--fail-on', 'never', "
            f"{str(src)!r}]); heavy = [m for m in ('networkx', 'torch', 'sklearn') if m in sys.modules]; "
            "print('HEAVY', heavy); assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FL001" in r.stdout and "HEAVY []" in r.stdout


def test_graph_pickles_before_and_after_networkx(tmp_path):
    # `faultlens run --max-seconds` builds the graph in a forked copy and pickles it back
    import pickle

    src = tmp_path / "m.py"
    src.write_text("import torch\nmodel = torch.nn.Linear(2, 2)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n")
    graph = build_graph(src)
    back = pickle.loads(pickle.dumps(graph, protocol=pickle.HIGHEST_PROTOCOL))
    assert isinstance(back.store, Adjacency) and back.to_json() == graph.to_json()
    graph.g  # noqa: B018 - now a networkx graph
    again = pickle.loads(pickle.dumps(graph))
    assert isinstance(again.g, nx.MultiDiGraph) and again.to_json() == back.to_json()
