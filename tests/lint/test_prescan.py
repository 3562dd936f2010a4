"""The lint pre-scan (``faultlens.analyzer.lint.prescan``): statements no rule can see are blanked
before libcst parses the file, and every finding keeps its exact position."""
from __future__ import annotations

import ast

import pytest

from faultlens.analyzer.lint import lint_source
from faultlens.analyzer.lint.prescan import reduce_source

_PLAIN = '''
def helper_{i}(values, threshold={i}):
    """Items above ``threshold`` — sorted (non-ASCII: é, ü in a string)."""
    out = [v for v in values if v is not None and v > threshold]
    text = """a multi-line
    string with ( brackets and 'quotes'
    """
    return sorted(out) + [len(text)]


class Registry{i}:
    def __init__(self, name):
        self.name = name; self.items = {{}}

    def add(self, key, value):
        self.items[key] = value
'''

_MODEL = '''
import torch
import torch.nn as nn
import torch.nn.functional as F

STEP_SIZE = 5.0
'''

_TRAIN = '''
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return F.softmax(self.fc(x), dim=1)


def batches():
    return [(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))]


model = Net()
opt = torch.optim.SGD(model.parameters(), lr=STEP_SIZE)
criterion = nn.CrossEntropyLoss()
for epoch in range(3):
    for x, y in batches():
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
'''


def _program() -> str:
    parts = [_MODEL]
    parts += [_PLAIN.format(i=i) for i in range(3)]
    parts.append(_TRAIN.split("model = Net()")[0])
    parts += [_PLAIN.format(i=i) for i in range(3, 6)]
    parts.append("model = Net()" + _TRAIN.split("model = Net()")[1])
    return "".join(parts)


def _key(f):
    return (f.code, f.line, f.column, f.end_line, f.end_column, f.message,
            None if f.fix is None else tuple((e.line, e.column, e.end_line, e.end_column, e.text) for e in f.fix.edits))


def test_reduced_text_keeps_lines_and_kept_statements_verbatim():
    src = _program()
    reduced, skipped = reduce_source(src, ast.parse(src))
    assert skipped > 60  # every plain helper and registry class went
    assert reduced.split("\n").__len__() == src.split("\n").__len__()
    compile(reduced, "reduced.py", "exec")
    old, new = src.split("\n"), reduced.split("\n")
    for kept in ("class Net(nn.Module):", "def batches():", "STEP_SIZE = 5.0", "opt = torch.optim.SGD("):
        i = next(k for k, line in enumerate(old) if line.startswith(kept))
        assert new[i] == old[i]
    assert "helper_" not in reduced and "Registry" not in reduced


def test_findings_identical_with_and_without_prescan(monkeypatch):
    src = _program()
    with_prescan = [_key(f) for f in lint_source(src, "train.py")]
    monkeypatch.setenv("FAULTLENS_LINT_PRESCAN", "0")
    without = [_key(f) for f in lint_source(src, "train.py")]
    assert with_prescan == without
    codes = {k[0] for k in with_prescan}
    # softmax into CrossEntropyLoss (FL001), no zero_grad (FL005), lr 5.0 through a constant (FL012)
    assert {"FL001", "FL005", "FL012"} <= codes
    lines = src.split("\n")
    for code, line, col, eline, ecol, *_ in with_prescan:
        assert 1 <= line <= eline <= len(lines)
    fl001 = next(k for k in with_prescan if k[0] == "FL001")
    assert "F.softmax" in lines[fl001[1] - 1]  # the exact line, far below skipped code


def test_connected_helpers_are_kept():
    src = ("import torch\n\n"
           "def scale_of(n):\n    return n * 2\n\n"
           "def unrelated(v):\n    return v + 1\n\n"
           "SIZE = scale_of(3)\n"
           "model = torch.nn.Linear(SIZE, 2)\n")
    reduced, skipped = reduce_source(src)
    assert "def scale_of" in reduced and "SIZE = scale_of(3)" in reduced  # read by kept code
    assert "def unrelated" not in reduced and skipped == 2


@pytest.mark.parametrize("extra", ["from helpers import *\n", "x = 1\r\ny = 2\r\n"])
def test_nothing_skipped_when_names_or_lines_are_uncertain(extra):
    src = "import torch\n" + extra + "def unrelated(v):\n    return v + 1\n\nmodel = torch.nn.Linear(2, 2)\n"
    reduced, skipped = reduce_source(src)
    assert reduced == src and skipped == 0


def test_vocabulary_words_keep_a_statement_without_deep_learning_names():
    src = ("import torch\n\n"
           "def fit(loss, opt):\n    loss.backward()\n    opt.step()\n\n"
           "def hyper():\n    num_classes = 7\n    return num_classes\n\n"
           "def plain(v):\n    return v\n\n"
           "model = torch.nn.Linear(2, 2)\n")
    reduced, _ = reduce_source(src)
    assert "def fit" in reduced and "def hyper" in reduced and "def plain" not in reduced


def test_line_separators_inside_strings_do_not_shift_lines():
    # str.splitlines() would split at \u2028, \x85 and \v inside these strings; ast and libcst do not
    src = ("import torch\n\n"
           "def plain(v):\n    return 'a\u2028b\x85c\vd' + v\n\n"
           "model = torch.nn.Linear(2, 2)\n")
    reduced, skipped = reduce_source(src)
    assert skipped == 2 and reduced.count("\n") == src.count("\n")
    assert reduced.split("\n")[5] == "model = torch.nn.Linear(2, 2)"
