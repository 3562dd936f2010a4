"""The report's curves are the series the diagnosis judged (issue "Do no harm": a report said
"loss: first 7.2e+06" where the program printed 2.31)."""
from __future__ import annotations

import numpy as np

from faultlens.report.build import plot_series


class _TV:
    def __init__(self, data):
        self.data = data

    def nodes(self, metric):
        return sorted(n for m, n in self.data if m == metric)

    def series(self, metric, node=None):
        return self.data.get((metric, node), (np.zeros(0, dtype=np.int64), np.zeros(0)))


def test_the_loss_curve_is_the_training_loss_not_the_first_name():
    train = (np.arange(50), np.linspace(2.31, 0.2, 50))
    summed_eval = (np.array([10, 20, 30]), np.array([7.2e6, 5e6, 4e6]))
    tv = _TV({("loss", "loss:train.py:40:criterion"): train, ("loss", "loss:train.py:12:a_sum_loss"): summed_eval})
    steps, values = plot_series(tv)["curves"]["loss"]
    assert steps[0] == 0 and abs(values[0] - 2.31) < 1e-9 and len(values) == 50
