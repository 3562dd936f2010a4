"""Accuracy is recorded only where the task has classes (issue "Do no harm": a VAE's report
showed a train accuracy)."""
from __future__ import annotations

import torch

from faultlens.instrumenter.probes.loss import AccuracyProbe


def _acc(o, t, loss):
    return AccuracyProbe.accuracy(object.__new__(AccuracyProbe), o, t, loss)


def test_binary_targets_give_an_accuracy():
    o = torch.tensor([0.9, 0.2, 0.7, 0.4])
    t = torch.tensor([1.0, 0.0, 0.0, 0.0])
    assert _acc(o, t, "BCELoss") == (3.0, 4)


def test_soft_targets_of_a_reconstruction_give_none():
    recon = torch.rand(8, 784)
    pixels = torch.rand(8, 784)  # a VAE reconstructs grey levels: no classes
    assert _acc(recon, pixels, "BCELoss") is None
    assert _acc(recon, pixels, "BCEWithLogitsLoss") is None


def test_class_indices_give_an_accuracy_and_regression_none():
    o = torch.tensor([[2.0, 0.1], [0.1, 3.0], [1.0, 0.0]])
    assert _acc(o, torch.tensor([0, 1, 1]), "CrossEntropyLoss") == (2.0, 3)
    assert _acc(o, torch.randn(3, 2), "MSELoss") is None
