"""libcst position-addressed edits."""
import pytest

from faultlens.corpus.edits import MutationError, apply_edits, edit as Edit

SRC = '''import torch
x = foo(1, lr=0.1)
for i in range(10):
    opt.zero_grad()
    y = bar(x, 2)
'''


def test_replace_expr_at_1_based_span():
    out = apply_edits(SRC, [Edit("replace_expr", 2, 15, 2, 18, template="({x}) * 10")])
    assert "lr=(0.1) * 10" in out


def test_set_kwarg_adds_and_replaces():
    out = apply_edits(SRC, [Edit("set_kwarg", 2, 5, 2, 19, name="weight_decay", code="0.5")])
    assert "foo(1, lr=0.1, weight_decay=0.5)" in out
    out = apply_edits(SRC, [Edit("set_kwarg", 2, 5, 2, 19, name="lr", code="3.0")])
    assert "foo(1, lr=3.0)" in out


def test_remove_and_insert_statements_keep_indentation():
    out = apply_edits(SRC, [Edit("remove_stmt", 4), Edit("insert_before", 5, code="z = 1\n")])
    assert "    pass\n    z = 1\n    y = bar(x, 2)" in out
    compile(out, "<t>", "exec")


def test_wrap_range_and_prelude():
    out = apply_edits(SRC, [Edit("wrap_range", 3, template="max(1, {x} // 5)"),
                            Edit("prelude", 0, code="import torch as _fl_torch")])
    assert "range(max(1, 10 // 5))" in out
    assert out.splitlines()[1] == "import torch as _fl_torch"


def test_wrap_and_keep_args():
    out = apply_edits(SRC, [Edit("wrap_arg", 5, 9, 5, 18, index=0, template="g({x})")])
    assert "bar(g(x), 2)" in out
    out = apply_edits(SRC, [Edit("keep_args", 2, 5, 2, 19, keep=(0,))])
    assert "foo(1)" in out


def test_missing_site_raises():
    with pytest.raises(MutationError):
        apply_edits(SRC, [Edit("replace_expr", 40, 1, 40, 3, template="0")])
