"""Labelling a mutant: is it really faulty, or equivalent to the original?

The rule follows DeepCrime (Humbatova et al., ISSTA 2021) and DeepFD (Cao et al., ICSE 2022):
train the original and the mutant over k seeds each and call the mutant *killed* (faulty)
only when its score is statistically and practically worse:

* Welch's t-test (unequal variances), one-sided — H1: the mutant's mean score is lower —
  p < 0.05, **and**
* Cohen's d >= 0.5 (pooled standard deviation), **and**
* the mutant's mean score is lower (all subject programs report higher-is-better scores).

A run that crashed, or reported a non-finite score, has no score; a mutant whose runs
crashed in at least half of its seeds is labelled ``crash`` (faulty), and its crashed runs
count as the worst score in the test otherwise. Everything else is ``equivalent`` (the
injected change did not make training measurably worse: a healthy program). With fewer
than 2 scores on either side the label is ``pending``.

A crash of the *injected code itself* is not a fault of the program: the mutation was invalid
(``injection_error``: the exception was raised inside a ``_fl_*`` helper the mutation added, or
on a line that uses the mutation's ``_fl_`` names with a NameError / UnboundLocalError /
AttributeError — e.g. a statement inserted before the variable it corrupts exists). Such runs get
the status ``invalid`` and are not label inputs.

One-sided rather than DeepCrime's two-sided GLM test: the direction (worse) is fixed before the
data is seen, and our budget allows only a few seeds per mutant (3 by default, against 6 for
each original), where a two-sided test with Welch's small degrees of freedom would miss even
large effects.

Both sides with zero variance: the t statistic is undefined; we then call the mutant worse
when its (constant) mean is lower by more than 1e-9 (p = 0, d = inf) and equivalent
otherwise.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

ALPHA = 0.05
MIN_EFFECT = 0.5
INJECTED_PREFIX = "_fl_"
_FRAME = re.compile(r'^\s*File "[^"]*", line \d+, in (\S+)\s*$')


def injection_error(crash: dict | None) -> bool:
    """Whether a mutant's crash was raised by the code the mutation injected (an invalid
    mutant) rather than by the program reacting to the fault (see the module docstring)."""
    if not isinstance(crash, dict):
        return False
    tb = str(crash.get("traceback") or "")
    lines = tb.splitlines()
    frames = [(m.group(1), lines[i + 1].strip() if i + 1 < len(lines) else "")
              for i, ln in enumerate(lines) if (m := _FRAME.match(ln))]
    if any(func.startswith(INJECTED_PREFIX) for func, _ in frames):
        return True
    etype = str(crash.get("type") or "")
    if frames and etype in ("NameError", "UnboundLocalError", "AttributeError"):
        return INJECTED_PREFIX in frames[-1][1]
    return False


def injection_error_text(crash: dict) -> str:
    """The ``error`` recorded for an invalid run."""
    return f"injection error: {crash.get('type', '')}: {crash.get('message', '')}"


@dataclass
class LabelResult:
    label: str                 # "faulty" | "crash" | "equivalent" | "pending"
    killed: bool
    n_orig: int
    n_mut: int
    n_mut_crashed: int
    mean_orig: float | None
    mean_mut: float | None
    std_orig: float | None
    std_mut: float | None
    p_value: float | None
    cohens_d: float | None
    test: str = "welch_t_one_sided"

    def to_dict(self) -> dict:
        return asdict(self)


def _mean_std(xs: Sequence[float]) -> tuple[float, float]:
    n = len(xs)
    m = sum(xs) / n
    var = sum((x - m) ** 2 for x in xs) / (n - 1) if n > 1 else 0.0
    return m, math.sqrt(var)


def cohens_d(orig: Sequence[float], mut: Sequence[float]) -> float:
    """Effect size (orig - mutant) / pooled sd; positive when the mutant is worse."""
    m1, s1 = _mean_std(orig)
    m2, s2 = _mean_std(mut)
    n1, n2 = len(orig), len(mut)
    pooled = math.sqrt(((n1 - 1) * s1 ** 2 + (n2 - 1) * s2 ** 2) / max(n1 + n2 - 2, 1))
    diff = m1 - m2
    if pooled == 0:
        return 0.0 if abs(diff) <= 1e-9 else math.copysign(math.inf, diff)
    return diff / pooled


def welch_p(orig: Sequence[float], mut: Sequence[float]) -> float:
    """One-sided Welch t-test p-value for "mutant mean < original mean"
    (``scipy.stats.ttest_ind(mut, orig, equal_var=False, alternative="less")``)."""
    m1, s1 = _mean_std(orig)
    m2, s2 = _mean_std(mut)
    n1, n2 = len(orig), len(mut)
    v1, v2 = s1 ** 2 / n1, s2 ** 2 / n2
    if v1 + v2 == 0:
        return 0.0 if m2 < m1 - 1e-9 else 1.0
    import warnings

    from scipy import stats

    with warnings.catch_warnings():  # nearly identical samples: scipy warns, the p-value is still usable
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(list(mut), list(orig), equal_var=False, alternative="less").pvalue)
    return 1.0 if math.isnan(p) else p


def is_finite_score(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def label_mutant(orig_scores: Iterable[float | None], mut_scores: Iterable[float | None],
                 alpha: float = ALPHA, min_effect: float = MIN_EFFECT) -> LabelResult:
    """Label a mutant from the scores of the original's and the mutant's runs.

    ``None`` / NaN / inf in ``mut_scores`` is a crashed (or diverged) run."""
    orig = [float(x) for x in orig_scores if is_finite_score(x)]
    mut_all = list(mut_scores)
    mut = [float(x) for x in mut_all if is_finite_score(x)]
    n_crash = len(mut_all) - len(mut)
    mo = _mean_std(orig) if orig else (None, None)
    if len(mut_all) and n_crash * 2 >= len(mut_all) and n_crash > 0:
        mm = _mean_std(mut) if mut else (None, None)
        return LabelResult("crash", True, len(orig), len(mut_all), n_crash, mo[0], mm[0], mo[1], mm[1],
                           None, None)
    if len(orig) < 2 or len(mut_all) < 2:
        mm = _mean_std(mut) if mut else (None, None)
        return LabelResult("pending", False, len(orig), len(mut_all), n_crash, mo[0], mm[0], mo[1], mm[1],
                           None, None)
    if n_crash:  # a minority of crashed seeds: count them as the worst observed score
        worst = min(orig + mut)
        mut = mut + [worst] * n_crash
    mm = _mean_std(mut)
    p = welch_p(orig, mut)
    d = cohens_d(orig, mut)
    killed = p < alpha and d >= min_effect and mm[0] < mo[0]
    return LabelResult("faulty" if killed else "equivalent", killed, len(orig), len(mut_all), n_crash,
                       mo[0], mm[0], mo[1], mm[1], p, None if math.isinf(d) else d)
