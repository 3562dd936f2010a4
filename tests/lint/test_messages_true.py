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
