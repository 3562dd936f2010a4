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
