"""A run that a limit or the settled early stop cut short is a prefix: the loss still falling at
its end says nothing about the program's epochs (synthetic traces: the same curves, finished or
cut short)."""
from __future__ import annotations

import numpy as np
import pytest

from diagnosis.tracebuild import LOSS, graph, healthy
from faultlens.models.diagnosis import diagnose


def _still_falling(tmp_path, status, reason):
    """120 steps whose loss falls steadily and is far from fitted at the end (accuracy 0.5)."""
    n = 120
    t = np.arange(n)
    tb = healthy(n)
    tb.scalars[("loss", LOSS)] = list(zip(t.tolist(), (2.3 - 1.3 * t / n).tolist()))
    tb.scalars[("accuracy", LOSS)] = list(zip(t.tolist(), (0.2 + 0.3 * t / n).tolist()))
    tb.scalars.pop(("val_loss", LOSS))
    tb.scalars.pop(("val_accuracy", LOSS))
    tb.meta.update(status=status, stop_reason=reason)
    return diagnose(str(tb.write(tmp_path / f"{reason}.sqlite")), graph(), use_classifier=False)


def test_a_finished_run_still_improving_is_an_epochs_fault(tmp_path):
    d = _still_falling(tmp_path, "finished", None)
    assert d.verdict == "faulty" and d.faults[0].type == "epochs"


@pytest.mark.parametrize("reason", ["max_seconds", "max_seconds_hard", "max_steps", "settled", "nonfinite_loss"])
def test_a_cut_short_run_is_never_an_epochs_fault(tmp_path, reason):
    d = _still_falling(tmp_path, "cut_short", reason)
    assert all(f.type != "epochs" for f in d.faults), [(f.type, f.confidence) for f in d.faults]
