"""`faultlens graph` and bad input handling."""
from __future__ import annotations

import json
import os

import pytest

from faultlens.analyzer import ProgramGraph, build_graph
from faultlens.cli import main
from faultlens.errors import FaultlensError, ParseError


def test_cli_json_round_trips(fixtures, capsys):
    rc = main(["graph", str(fixtures / "script" / "train.py")])
    assert rc == 0
    out = capsys.readouterr().out
    g = ProgramGraph.from_json(out)
    assert json.loads(out)["schema"] == "faultlens.graph/1"
    assert len(g.nodes("optimizer")) == 1 and g.entry == "train.py"
    assert g.file_hashes["train.py"] and len(g.file_hashes["train.py"]) == 64


def test_cli_dot_and_output_file(fixtures, tmp_path, capsys):
    out = tmp_path / "g.dot"
    rc = main(["graph", str(fixtures / "gan" / "dcgan.py"), "--format", "dot", "-o", str(out)])
    assert rc == 0 and capsys.readouterr().out == ""
    text = out.read_text()
    assert text.startswith("digraph faultlens {") and '"optimizer:dcgan.py:56:optimizerD"' in text
    assert "params_of" in text


def test_cli_root_option(fixtures, capsys):
    rc = main(["graph", str(fixtures / "argparse_main" / "main.py"), "--root", str(fixtures)])
    assert rc == 0
    g = ProgramGraph.from_json(capsys.readouterr().out)
    assert sorted(g.files) == ["argparse_main/main.py", "argparse_main/model.py"]
    assert g.entry == "argparse_main/main.py"
    assert all(n.span.path.startswith("argparse_main/") for n in g.nodes())


BAD = {
    "syntax.py": b"def f(:\n    pass\n",
    "latin1.py": "x = 'caf\xe9'\n".encode("latin-1"),
    "empty.py": b"",
    "blank.py": b"\n\n   \n",
    "binary.py": b"\x7fELF\x02\x01\x01\x00\x00\x00\x00",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_raises_parse_error(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(BAD[name])
    with pytest.raises(ParseError) as ei:
        build_graph(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}: cannot parse: ") and "\n" not in msg
    assert isinstance(ei.value, FaultlensError)


@pytest.mark.parametrize("name", sorted(BAD))
def test_cli_bad_input_one_line_exit_2(tmp_path, capsys, name):
    p = tmp_path / name
    p.write_bytes(BAD[name])
    rc = main(["graph", str(p)])
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"faultlens: error: {p}: cannot parse: ")


def test_syntax_error_names_the_line(tmp_path):
    p = tmp_path / "s.py"
    p.write_text("import torch\nx = (1,\ny = 2\n")
    with pytest.raises(ParseError) as ei:
        build_graph(p)
    assert "syntax error at line" in str(ei.value)


def test_bad_imported_file_is_named(tmp_path):
    (tmp_path / "main.py").write_text("from helper import thing\nprint(thing)\n")
    (tmp_path / "helper.py").write_text("def thing(:\n")
    with pytest.raises(ParseError) as ei:
        build_graph(tmp_path / "main.py")
    assert str(ei.value).startswith(str(tmp_path / "helper.py") + ": cannot parse:")


def test_missing_file(tmp_path, capsys):
    rc = main(["graph", str(tmp_path / "nope.py")])
    assert rc == 2 and "no such file" in capsys.readouterr().err
    with pytest.raises(ParseError):
        build_graph(str(tmp_path / "nope.py"))


def test_source_text_input():
    src = "import torch\nmodel = torch.nn.Linear(3, 1)\nopt = torch.optim.SGD(model.parameters(), lr=0.3)\n"
    g = build_graph(src)
    assert g.entry == "<source>"
    opt = g.nodes("optimizer")[0]
    assert opt.span.path == "<source>" and opt["args"]["lr"] == 0.3 and opt.span.line == 3
    assert opt.span.column == 1 and opt.span.end_column == len("opt = torch.optim.SGD(model.parameters(), lr=0.3)") + 1


def test_imports_stay_inside_root(tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text("LR = 0.5\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "train.py").write_text("import sys\nfrom outside import LR\nimport torch\n"
                                   "m = torch.nn.Linear(1, 1)\no = torch.optim.SGD(m.parameters(), lr=LR)\n")
    g = build_graph(proj / "train.py")
    assert g.files == ["train.py"]
    o = g.nodes("optimizer")[0]
    assert o["args_resolved"]["lr"] is False and o["args"]["lr"] == "LR"


def test_relative_and_module_imports(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text("import torch.nn as nn\n\nclass Net(nn.Module):\n"
                                 "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 2)\n\n"
                                 "    def forward(self, x):\n        return self.fc(x)\n")
    (pkg / "train.py").write_text("from .nets import Net\nfrom . import hparams\nimport torch\n"
                                  "model = Net()\nopt = torch.optim.Adam(model.parameters(), lr=hparams.LR)\n")
    (pkg / "hparams.py").write_text("LR = 2e-3\n")
    g = build_graph(pkg / "train.py", root=tmp_path)
    assert sorted(g.files) == ["pkg/hparams.py", "pkg/nets.py", "pkg/train.py"]
    m = g.nodes("model")[0]
    assert g.node(m["class"])["qualname"] == "Net" and m["class"].startswith("module_class:pkg/nets.py:")
    o = g.nodes("optimizer")[0]
    assert o["args"]["lr"] == 2e-3
    hp = g.node(o["arg_hps"]["lr"])
    assert hp.span.path == "pkg/hparams.py" and hp["source"] == "constant"


def test_import_module_style(tmp_path):
    (tmp_path / "utils.py").write_text(
        "def train_epoch(model, loader, opt, crit):\n    for x, y in loader:\n        opt.zero_grad()\n"
        "        loss = crit(model(x), y)\n        loss.backward()\n        opt.step()\n")
    (tmp_path / "main.py").write_text(
        "import torch\nimport utils\nfrom torch.utils.data import DataLoader\n"
        "model = torch.nn.Linear(4, 2)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "crit = torch.nn.CrossEntropyLoss()\nloader = DataLoader(list(range(8)), batch_size=4)\n"
        "for epoch in range(3):\n    utils.train_epoch(model, loader, opt, crit)\n")
    g = build_graph(tmp_path / "main.py")
    roles = {lp.span.path: lp["role"] for lp in g.nodes("loop")}
    assert roles == {"main.py": "epoch", "utils.py": "step"}
    step = [c for c in g.nodes("call", method="step")][0]
    assert step["target"] == g.nodes("optimizer")[0].id
    assert g.nodes("loop", role="step")[0]["iterates"] == g.nodes("dataloader")[0].id


def test_empty_package_init_is_fine(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "consts.py").write_text("EPOCHS = 4\n")
    (tmp_path / "main.py").write_text("import pkg\nfrom pkg.consts import EPOCHS\nfor e in range(EPOCHS):\n    pass\n")
    g = build_graph(tmp_path / "main.py")
    assert sorted(g.files) == ["main.py", "pkg/__init__.py", "pkg/consts.py"]
    loop = g.nodes("loop")[0]
    assert loop["range"]["stop"] == 4


def test_unusual_syntax_does_not_break_the_builder(tmp_path):
    src = '''
import torch, torch.nn as nn
from torch import optim as O
global_lr: float = 1e-2

@torch.no_grad()
def evaluate(m, xs):
    return [m(x) for x in xs]

async def fetch():
    async with ctx() as c:
        await c

def run(*args, **kw):
    net = nn.Sequential(*[nn.Linear(4, 4) for _ in range(2)], nn.Linear(4, 1))
    opt = O.LBFGS(net.parameters(), lr=global_lr)
    match kw.get("mode"):
        case "fast":
            steps = 2
        case _:
            steps = 5
    x = torch.randn(3, 4)
    for i in range(steps):
        def closure():
            opt.zero_grad()
            (loss := net(x).pow(2).mean()).backward()
            return loss
        opt.step(lambda: closure())
    try:
        evaluate(net, [x])
    except (RuntimeError, ValueError) as e:
        raise SystemExit(1) from e
    finally:
        del x
    return lambda y: y

run(mode="fast")
'''
    p = tmp_path / "odd.py"
    p.write_text(src)
    g = build_graph(p)
    opt = g.nodes("optimizer")[0]
    assert opt["optimizer_type"] == "LBFGS" and opt["args"]["lr"] == 1e-2
    net = g.nodes("model")[0]
    kids = g.flow(net.id)
    assert [k["module_path"] for k in kids] == ["*", "*"] and kids[0]["dynamic"]
    ctx = g.nodes("context")[0]
    assert ctx["decorator"] is True and ctx["ctx"] == "no_grad"
    ev = [c for c in g.nodes("call", method="forward") if c["function"] == "evaluate"]
    assert ev and ev[0]["contexts"] == [ctx.id]
    step = g.nodes("call", method="step")[0]
    assert step["closure"] == "lambda: closure()"
    loop = g.nodes("loop")[0]
    assert loop["range"]["stop"] is None  # steps depends on the match arm


def test_command_module_is_cheap_to_import():
    import subprocess
    import sys
    code = ("import sys, faultlens.analyzer.commands; "
            "heavy = [m for m in ('libcst', 'networkx', 'torch', 'sklearn') if m in sys.modules]; "
            "print(heavy); assert not heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
