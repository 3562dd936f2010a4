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


def test_a_gan_whose_discriminator_runs_first_counts_one_iteration_per_batch(programs, run_inproc):
    """The batch loop closes iterations: the discriminator, called again for the generator's
    loss after its own step, does not split an iteration in two."""
    res, t = run_inproc(programs / "gan_d_first.py")
    assert res.status == "finished"
    assert res.steps == 24                      # 2 epochs x 12 batches
    opt_steps = {n: len(t.series("opt_step", n)[0]) for n in t.nodes("opt_step")}
    assert len(opt_steps) == 2 and set(opt_steps.values()) == {24}
