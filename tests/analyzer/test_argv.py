"""The run's command line: ``build_graph(path, argv=[...])`` parses argv with the program's own
argparse declarations; hyperparameters it sets carry the run's value (``source: "argv"``), the
default is kept, and values derived from them (loop ranges, optimizer args) follow."""
from __future__ import annotations

import pytest

from faultlens.analyzer import build_graph
from faultlens.analyzer.argv import ArgSpec, parse_argv, replace_option
from faultlens.analyzer.graph import ProgramGraph

PROGRAM = '''\
import argparse
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("-b", "--batch-size", dest="bs", type=int, default=64)
parser.add_argument("--no-cuda", action="store_true")
parser.add_argument("--dims", nargs="+", type=int, default=[4, 1])
parser.add_argument("--gamma", type=lambda s: float(s), default=0.7)
args = parser.parse_args()

model = torch.nn.Linear(args.dims[0], args.dims[1])
opt = torch.optim.SGD(model.parameters(), lr=args.lr)
for epoch in range(args.epochs):
    for i in range(10):
        opt.zero_grad()
        loss = model(torch.randn(args.bs, 4)).pow(2).mean()
        loss.backward()
        opt.step()
'''


def _hp(g, name):
    found = [n for n in g.nodes("hyperparameter") if n.name == name and n.get("key") == f"args.{name}"]
    assert len(found) == 1, [n.id for n in found]
    return found[0]


@pytest.fixture
def program(tmp_path):
    p = tmp_path / "main.py"
    p.write_text(PROGRAM)
    return p


def test_without_argv_the_defaults_stay(program):
    for g in (build_graph(program), build_graph(program, argv=None), build_graph(program, argv=[])):
        ep = _hp(g, "epochs")
        assert ep["value"] == 10 and ep["source"] == "argparse" and ep.get("value_span")
        assert g.nodes("loop", role="epoch")[0]["range"]["stop"] == 10


def test_argv_values_replace_the_defaults(program):
    argv = ["--epochs", "1", "--lr=0.5", "-b", "8", "--no-cuda", "--dims", "4", "2"]
    g = build_graph(program, argv=argv)
    assert g.argv == argv
    ep = _hp(g, "epochs")
    assert ep["value"] == 1 and ep["source"] == "argv" and ep["default"] == 10
    assert ep["argv"] == ["--epochs", "1"]
    assert ep.get("value_span") is None and ep["default_span"]["line"] == 6  # nothing edits the unused default
    assert _hp(g, "lr")["value"] == 0.5 and _hp(g, "lr")["argv"] == ["--lr=0.5"]
    assert _hp(g, "bs")["value"] == 8 and _hp(g, "bs")["argv"] == ["-b", "8"]
    assert _hp(g, "no_cuda")["value"] is True and _hp(g, "no_cuda")["default"] is False
    assert _hp(g, "dims")["value"] == [4, 2]
    assert _hp(g, "gamma")["source"] == "argparse"  # not on the command line
    # values derived from args.* are the run's
    loop = g.nodes("loop", role="epoch")[0]
    assert loop["range"]["stop"] == 1 and loop["iterations"] == 1
    assert g.nodes("optimizer")[0]["args"]["lr"] == 0.5
    # and the graph travels with its argv (the child process reads graph.json)
    assert ProgramGraph.from_json(g.to_json()).argv == argv


def test_abbreviated_option_is_parsed_like_argparse(program):
    g = build_graph(program, argv=["--epo", "3"])
    assert _hp(g, "epochs")["value"] == 3 and _hp(g, "epochs")["argv"] == ["--epo", "3"]


def test_value_through_program_code_is_known_to_come_from_argv_but_unresolved(program):
    g = build_graph(program, argv=["--gamma", "0.1"])
    gm = _hp(g, "gamma")
    assert gm["source"] == "argv" and gm["resolved"] is False and gm["value"] is None and gm["default"] == 0.7
    assert any(u["node"] == gm.id and u["attr"] == "value" for u in g.unresolved)


def test_unparsable_command_line_keeps_defaults_and_says_why(program):
    g = build_graph(program, argv=["--epochs", "ten"])
    assert _hp(g, "epochs")["value"] == 10 and _hp(g, "epochs")["source"] == "argparse"
    assert any(u["attr"] == "argv" and "invalid int value" in u["reason"] for u in g.unresolved)


def test_unknown_options_are_ignored_like_parse_known_args(program):
    g = build_graph(program, argv=["--seed", "3", "--epochs", "2"])
    assert _hp(g, "epochs")["value"] == 2


def test_argv_across_a_local_module(tmp_path):
    (tmp_path / "opts.py").write_text(
        "import argparse\n"
        "def get_args():\n"
        "    p = argparse.ArgumentParser()\n"
        "    p.add_argument('--epochs', type=int, default=5)\n"
        "    return p.parse_args()\n")
    (tmp_path / "train.py").write_text(
        "import torch\n"
        "from opts import get_args\n"
        "args = get_args()\n"
        "model = torch.nn.Linear(2, 1)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for epoch in range(args.epochs):\n"
        "    opt.zero_grad()\n"
        "    model(torch.randn(3, 2)).sum().backward()\n"
        "    opt.step()\n")
    g = build_graph(tmp_path / "train.py", argv=["--epochs", "2"])
    assert g.nodes("loop", role="epoch")[0]["range"]["stop"] == 2


def test_positional_and_store_false_and_count():
    specs = [ArgSpec("data", ["data"]), ArgSpec("shuffle", ["--no-shuffle"], action="store_false"),
             ArgSpec("verbose", ["-v"], action="count"), ArgSpec("k", ["--k"], type="int")]
    vals, err = parse_argv(specs, ["root/", "-vv", "--no-shuffle", "--k", "3"])
    assert err is None
    got = {v.spec.dest: v.value for v in vals}
    assert got == {"data": "root/", "shuffle": False, "verbose": 2, "k": 3}


def test_replace_option_keeps_the_users_spelling():
    s = ArgSpec("epochs", ["--epochs"], type="int")
    assert replace_option(["--epochs", "1", "--lr", "2"], s, 3) == ["--epochs", "3", "--lr", "2"]
    assert replace_option(["--epochs=1"], s, 3) == ["--epochs=3"]
    assert replace_option(["--epo", "1"], s, 3) == ["--epo", "3"]
    assert replace_option(["--lr", "1"], s, 3) is None
