"""``faultlens analyze``: module-level training scripts are entry points, an empty package
``__init__.py`` is no parse error, and paths are shown consistently (issue 12, item 8)."""
from __future__ import annotations

import os

import pytest

from faultlens.analyzer.lint.engine import _ROOT_CACHE, find_root
from faultlens.api import analyze
from faultlens.cli import main

STEP = ("        opt.zero_grad()\n"
        "        loss = model(torch.randn(8, 4)).pow(2).mean()\n"
        "        loss.backward()\n"
        "        opt.step()\n")
HEAD = ("import torch\n"
        "model = torch.nn.Linear(4, 1)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n\n\n")

SCRIPTS = {
    # the training function is called by a module-level loop
    "loop_calls_train.py": HEAD + "def train():\n    for i in range(10):\n" + STEP
    + "\n\nfor epoch in range(3):\n    train()\n",
    # main() called bare at module level (no __main__ guard)
    "bare_main.py": HEAD + "def main():\n    for i in range(10):\n" + STEP + "\n\nmain()\n",
    # training inside try: at module level
    "try_block.py": HEAD + "def fit():\n    for i in range(10):\n" + STEP
    + "\n\ntry:\n    fit()\nexcept KeyboardInterrupt:\n    pass\n",
}
NOT_ENTRY = {
    # a library module: defines training, runs nothing
    "library.py": HEAD + "def train():\n    for i in range(10):\n" + STEP,
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_module_level_training_script_is_an_entry_point(tmp_path, name):
    p = tmp_path / name
    p.write_text(SCRIPTS[name])
    assert analyze(str(p)).entry_points == [str(p)]


def test_library_module_is_not_an_entry_point(tmp_path):
    p = tmp_path / "library.py"
    p.write_text(NOT_ENTRY["library.py"])
    assert analyze(str(p)).entry_points == []


def test_empty_package_init_is_not_a_parse_error(tmp_path, capsys):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "blank.py").write_text("\n\n")
    res = analyze(str(tmp_path))
    assert [f.graph_error for f in res.files] == [None, None]
    main(["analyze", str(tmp_path)])
    assert "ParseError" not in capsys.readouterr().out


def test_roots_of_sibling_directories_without_markers(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    _ROOT_CACHE.clear()
    assert find_root(str(tmp_path / "a" / "m.py")) == str(tmp_path / "a")
    # the first lookup must not make a's directory the root of b's files
    assert find_root(str(tmp_path / "b" / "m.py")) == str(tmp_path / "b")
    (tmp_path / "pyproject.toml").write_text("")
    _ROOT_CACHE.clear()
    assert find_root(str(tmp_path / "a" / "m.py")) == str(tmp_path)
    assert find_root(str(tmp_path / "b" / "m.py")) == str(tmp_path)


def test_analyze_prints_finding_paths_like_the_file_list(tmp_path, capsys, monkeypatch):
    for d in ("a", "b"):
        (tmp_path / "repo" / d).mkdir(parents=True)
        (tmp_path / "repo" / d / "main.py").write_text(
            "import torch\nmodel = torch.nn.Linear(4, 1)\n"
            "opt = torch.optim.Adam(model.parameters(), lr=50.0)\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    _ROOT_CACHE.clear()
    main(["analyze", os.path.join("..", "repo")])
    out = capsys.readouterr().out
    lines = [ln.strip() for ln in out.splitlines() if "FL012" in ln]
    assert len(lines) == 2
    for d, ln in zip(("a", "b"), lines):
        assert ln.startswith(os.path.join("..", "repo", d, "main.py") + ":3:")
        assert "../" not in ln.split("FL012", 1)[1]  # the message names no path outside its root
