"""The edit engine (faultlens/edits/): one pass over the original positions, one error class,
and a text half that the cached lint path uses without libcst."""
import os
import subprocess
import sys

import pytest

from faultlens.analyzer.lint.rules.fl001_softmax_cross_entropy import SoftmaxBeforeCrossEntropy
from faultlens.corpus.edits import MutationError
from faultlens.edits.structural import (AddKwarg, EditError, InsertStmt, KeepArgs, Prelude, RemoveArg, RemoveStmt,
                                        ReplaceExpr, ReplaceWithPass, SetKwarg, WrapRange, apply_edits)
from faultlens.edits.text import TextEdit, apply_text_edits
from faultlens.errors import FaultlensError

SRC = """import torch

opt = make(params, 0.1, nesterov=True)
for epoch in range(10):
    opt.zero_grad()
    loss.backward()
    opt.step()
print(opt)
"""


def test_corpus_and_localizer_edits_apply_together_at_original_positions():
    edits = [
        RemoveArg(3, 20),                                   # 0.1 (before the keyword)
        AddKwarg(3, 7, "momentum", "0.9"),                  # the same call
        WrapRange(4, "max(1, {x} // 5)"),
        RemoveStmt(5),                                      # opt.zero_grad()
        InsertStmt(7, "opt.zero_grad()\n", after=True),     # ... moved after the step
        ReplaceWithPass(8),
        ReplaceExpr(6, 5, "loss.mean()", 6, 9),             # loss -> loss.mean()
        Prelude("import torch as _fl_torch"),
    ]
    assert apply_edits(SRC, edits) == """import torch
import torch as _fl_torch

opt = make(params, nesterov=True, momentum=0.9)
for epoch in range(max(1, 10 // 5)):
    loss.mean().backward()
    opt.step()
    opt.zero_grad()
pass
"""


def test_call_edits_keep_and_set_arguments():
    out = apply_edits(SRC, [KeepArgs(3, 7, (0, "nesterov"), 3, 39), SetKwarg(3, 7, "nesterov", "False", 3, 39)])
    assert "opt = make(params, nesterov=False)\n" in out


@pytest.mark.parametrize("edit", [ReplaceExpr(3, 8, "x", 3, 12),   # no expression spans exactly that
                                  AddKwarg(3, 1, "a", "1"),         # `opt` is not a call
                                  RemoveArg(3, 9),
                                  InsertStmt(2, "x = 1\n"),         # a blank line
                                  WrapRange(5, "{x}")])
def test_a_missing_site_is_one_error_class(edit):
    with pytest.raises(EditError) as exc:
        apply_edits(SRC, [edit])
    assert isinstance(exc.value, FaultlensError) and isinstance(exc.value, MutationError)
    assert exc.value.args[0].startswith(f"{edit.kind}: no matching site at line {edit.line}")


def test_unparsable_source_and_result_are_edit_errors():
    with pytest.raises(EditError, match="cannot parse source"):
        apply_edits("def f(:\n", [RemoveStmt(1)])
    with pytest.raises(EditError, match="does not parse"):
        apply_edits(SRC, [ReplaceExpr(8, 7, "opt +", 8, 10)])


def test_text_edits_reject_overlaps_and_apply_a_duplicate_once():
    text = "abcdef\n"
    e1 = TextEdit("f.py", 1, 2, 1, 4, "X")      # bc -> X
    e2 = TextEdit("f.py", 1, 3, 1, 5, "Y")      # overlaps e1
    ins = TextEdit("f.py", 1, 6, 1, 6, "+")     # an insertion before f
    assert apply_text_edits(text, [e1, e2, e1, ins]) == ("aXde+f\n", 1)
    assert TextEdit.from_dict(e1.to_dict()) == e1


def test_cached_lint_run_imports_no_libcst(tmp_path):
    f = tmp_path / "t.py"
    f.write_text(SoftmaxBeforeCrossEntropy.INVALID[0].source)
    env = dict(os.environ, FAULTLENS_CACHE_DIR=str(tmp_path / "cache"))
    code = ("import sys; from faultlens.cli import main; rc = main(['lint', '--diff', sys.argv[1]]); "
            "print('LIBCST' if 'libcst' in sys.modules else 'NO-LIBCST')")
    runs = [subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True, timeout=120, env=env)
            for _ in range(2)]
    first, second = runs
    assert first.stdout.rstrip().endswith("LIBCST") and not first.stdout.rstrip().endswith("NO-LIBCST")
    assert second.stdout.rstrip().endswith("NO-LIBCST"), second.stderr
    diff = first.stdout.rsplit("\n", 2)[0]
    assert diff.startswith("--- a/") and diff == second.stdout.rsplit("\n", 2)[0]   # the same fix, from the cache
