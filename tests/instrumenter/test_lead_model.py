"""The model whose training forward opens an iteration is one that an optimizer trains, even
when another module was called with gradients on first (a tutorial's demo of ``nn.Linear``)."""
from __future__ import annotations


def test_a_demo_module_called_first_does_not_freeze_the_step_counter(programs, run_inproc):
    res, t = run_inproc(programs / "demo_module_first.py")
    assert res.status == "finished"
    assert res.steps == 30                      # 5 epochs x 6 samples, one step each
    s, v = t.series("loss")
    assert s.tolist() == list(range(30))        # one loss record per step, not all at step 0
    assert v[-1] < v[0]
