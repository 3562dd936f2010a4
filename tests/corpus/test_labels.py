"""The mutant label test (Welch t-test + Cohen's d + direction) on synthetic score lists."""
import math

import pytest

from faultlens.corpus.labels import cohens_d, label_mutant, welch_p


def test_clearly_worse_mutant_is_faulty():
    r = label_mutant([0.95, 0.96, 0.94, 0.95, 0.96], [0.60, 0.55, 0.62])
    assert r.label == "faulty" and r.killed
    assert r.p_value < 0.05 and r.cohens_d >= 0.5
    assert r.mean_mut < r.mean_orig


def test_equal_scores_are_equivalent():
    r = label_mutant([0.95, 0.96, 0.94, 0.95, 0.96], [0.95, 0.94, 0.96])
    assert r.label == "equivalent" and not r.killed


def test_better_mutant_is_never_faulty():
    r = label_mutant([0.80, 0.81, 0.79, 0.80], [0.95, 0.96, 0.97])
    assert r.p_value > 0.5 and r.cohens_d < 0  # the one-sided test looks for "worse" only
    assert r.label == "equivalent"


def test_significant_but_tiny_effect_is_equivalent():
    # huge samples make a tiny difference significant; d < 0.5 keeps it equivalent
    orig = [0.9 + 0.01 * ((i * 37) % 11 - 5) / 5 for i in range(400)]
    mut = [x - 0.0012 for x in orig]
    r = label_mutant(orig, mut)
    assert r.p_value < 0.05 or r.cohens_d < 0.5
    assert r.cohens_d < 0.5 and r.label == "equivalent"


def test_crashes_make_a_crash_label():
    r = label_mutant([0.9, 0.91, 0.92], [None, float("nan"), 0.9])
    assert r.label == "crash" and r.killed and r.n_mut_crashed == 2


def test_minority_crash_counts_as_worst_score():
    r = label_mutant([0.9, 0.91, 0.92, 0.9], [0.5, 0.52, None])
    assert r.label == "faulty" and r.n_mut_crashed == 1


def test_too_few_scores_is_pending():
    assert label_mutant([0.9], [0.1, 0.2]).label == "pending"


def test_constant_samples():
    assert label_mutant([1.0, 1.0, 1.0], [0.5, 0.5]).label == "faulty"
    assert label_mutant([1.0, 1.0, 1.0], [1.0, 1.0]).label == "equivalent"


def test_welch_matches_scipy_and_d_sign():
    from scipy import stats

    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 9.0]
    two = stats.ttest_ind(a, b, equal_var=False).pvalue
    assert math.isclose(welch_p(b, a), two / 2)  # b's mean is higher: a "mutant" a is worse
    assert math.isclose(welch_p(a, b), 1 - two / 2)
    assert cohens_d(b, a) > 0 > cohens_d(a, b)


def _tb(*frames):
    return "".join(f'  File "/w/prog.py", line {i + 10}, in {func}\n    {code}\n' for i, (func, code) in enumerate(frames))


def test_injection_errors_are_told_from_faults_the_program_reacts_to():
    from faultlens.corpus.labels import injection_error

    # a statement inserted before the variable it corrupts exists
    assert injection_error({"type": "UnboundLocalError", "traceback": _tb(
        ("main", "trainer.fit(loader)"), ("fit", "xb = _fl_corrupt(xb, 'input_noise', 2.0, role='inputs')"))})
    # raised inside the helper the mutation added (any exception type)
    assert injection_error({"type": "IndexError", "traceback": _tb(
        ("<module>", "ds = _fl_corrupt(ds, 'label_noise', 0.3)"), ("_fl_corrupt", "ys = _t.stack(ys)"))})
    # an injected call on the wrong object
    assert injection_error({"type": "AttributeError", "traceback": _tb(
        ("<module>", "_fl_torch.nn.utils.clip_grad_norm_([q for g in p.param_groups for q in g['params']], 1)"))})
    # the program reacting to the fault: deleted data meets a precomputed index
    assert not injection_error({"type": "IndexError", "traceback": _tb(
        ("<module>", "loss = criterion(model(X[batch]), y[batch])"))})
    # a shape error on a mutated line is the fault itself, not an invalid mutant
    assert not injection_error({"type": "RuntimeError", "traceback": _tb(
        ("forward", "return _fl_torch.softmax(self.out(x), dim=-1)"))})
    # the program's own AttributeError (bias removed, its init code touches the bias)
    assert not injection_error({"type": "AttributeError", "traceback": _tb(("init", "m.bias.zero_()"))})
    assert not injection_error(None) and not injection_error({"type": "ValueError"})
