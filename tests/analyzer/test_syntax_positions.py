"""A syntax error is reported where Python itself reports it (``compile()``), by the graph, lint
and run alike; lint gives no all-clear when it could not read a file (issue 12, item 8)."""
from __future__ import annotations

import pytest

from faultlens.analyzer import build_graph
from faultlens.cli import main
from faultlens.errors import ParseError

BAD = {
    "unclosed": "import torch\nx = (1,\ny = [1, 2 3]\n    z = 1\n",
    "missing-comma": "import torch\nmodel = torch.nn.Linear(4, 1)\nopt = torch.optim.SGD(model.parameters() lr=0.1)\n",
    "indent": "import torch\nfor i in range(3):\nprint(i)\n",
    "return-outside": "import torch\n\ndef f():\n    pass\nreturn 3\n",
    "bad-target": "import torch\nf() = 3\n",
}


def _python(src: str) -> str:
    try:
        compile(src, "p.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"syntax error at line {exc.lineno}, column {exc.offset}: {exc.msg}"
    raise AssertionError("expected a syntax error")


@pytest.mark.parametrize("name", sorted(BAD))
def test_graph_lint_and_run_name_pythons_position(tmp_path, capsys, name):
    src = BAD[name]
    p = tmp_path / "p.py"
    p.write_text(src)
    want = _python(src)
    with pytest.raises(ParseError) as ei:
        build_graph(p)
    assert str(ei.value) == f"{p}: cannot parse: {want}"
    assert main(["graph", str(p)]) == 2
    assert capsys.readouterr().err.strip() == f"faultlens: error: {p}: cannot parse: {want}"
    rc = main(["lint", "--no-cache", str(p)])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"p.py: cannot parse: {want}" in err
    assert "No problems found" not in err and "Nothing checked" in err
    assert main(["run", str(p), "-q"]) == 2
    assert capsys.readouterr().err.strip().endswith(f"cannot parse: {want}")


def test_lint_with_one_unreadable_file_does_not_claim_all_clear(tmp_path, capsys):
    (tmp_path / "bad.py").write_text(BAD["unclosed"])
    (tmp_path / "ok.py").write_text("import torch\nmodel = torch.nn.Linear(4, 1)\n")
    rc = main(["lint", "--no-cache", str(tmp_path)])
    err = capsys.readouterr().err
    assert "No problems found in the files that could be read" in err and "1 could not be read" in err
    assert rc == 0  # the readable file was checked (exit 2 only when nothing could be)
