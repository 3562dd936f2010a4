"""Lint messages say only what is true for the value found (issue 12, item 8)."""
from __future__ import annotations

import textwrap

import pytest

from faultlens.analyzer.lint.engine import lint_paths


def _lint(tmp_path, src, name="model.py"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(src))
    return list(lint_paths([str(p)], use_cache=False))


@pytest.mark.parametrize("p, phrase, wrong", [
    ("0.5", "drops half of its units", "most"),
    ("0.8", "drops most of its units (on average 80%)", "half"),
])
def test_fl013_message_matches_the_probability(tmp_path, p, phrase, wrong):
    found = [f for f in _lint(tmp_path, f"""
        import torch.nn as nn

        model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Dropout({p}), nn.Linear(16, 2))
        """) if f.code == "FL013"]
    assert len(found) == 1
    assert phrase in found[0].message and wrong not in found[0].message


def test_fl012_names_the_line_in_the_same_file_and_a_root_relative_path_otherwise(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "opts.py").write_text("LR = 50.0\n")
    (tmp_path / "pkg" / "main.py").write_text(
        "import argparse\nimport torch\nfrom opts import LR\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('--lr', type=float, default=50.0)\n"
        "args = parser.parse_args()\n"
        "model = torch.nn.Linear(4, 1)\n"
        "opt = torch.optim.Adam(model.parameters(), lr=args.lr)\n"
        "opt2 = torch.optim.Adam(model.parameters(), lr=LR)\n")
    found = {f.path.rsplit("/", 1)[-1]: f.message
             for f in lint_paths([str(tmp_path / "pkg" / "main.py")], use_cache=False) if f.code == "FL012"}
    assert found["main.py"].endswith("(set at line 5)")
    assert found["opts.py"].endswith("(set at pkg/opts.py:1)")  # relative to the repository root


@pytest.mark.parametrize("sep", ["\u2028", "\x85", "\x0b", "\x0c"])
def test_a_fix_after_an_odd_line_separator_in_a_string_lands_on_its_line(tmp_path, capsys, sep):
    """Line breaks that str.splitlines knows but Python does not (inside a string literal) do
    not shift the lines a fix edits: lines are counted as the tokenizer counts them."""
    from faultlens.cli import main
    p = tmp_path / "train.py"
    p.write_text("import torch\nimport torch.nn as nn\n"
                 f"TITLE = 'demo{sep}run'\n"
                 "model = nn.Linear(10, 2)\ncriterion = nn.CrossEntropyLoss()\n"
                 "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
                 "x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))\n"
                 "for epoch in range(20):\n    out = model(x)\n    loss = criterion(out, y)\n"
                 "    loss.backward()\n    optimizer.step()\n", encoding="utf-8")
    main(["lint", str(p), "--diff", "--no-cache"])
    out = capsys.readouterr().out
    assert "+    optimizer.zero_grad()\n     loss.backward()" in out, out


def test_split_lines_counts_lines_like_python():
    from faultlens.analyzer.pysyntax import split_lines
    text = "a = 'x\u2028y'\r\nb = 1\rc = 2\n\x0cd = 3"
    assert split_lines(text) == ["a = 'x\u2028y'", "b = 1", "c = 2", "\x0cd = 3"]
    assert "".join(split_lines(text, keepends=True)) == text
    assert split_lines("one\n") == ["one"] and split_lines("") == []
