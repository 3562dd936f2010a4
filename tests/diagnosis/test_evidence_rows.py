"""Every registered symptom carries its own row of the rule-evidence table, and the table the
diagnosis reads is exactly those rows."""
from __future__ import annotations

import pytest

from faultlens.models import diagnosis as D
from faultlens.models.symptoms import REGISTRY
from faultlens.taxonomy import FAULT_TYPES


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_symptom_has_its_own_evidence_row(name):
    cls = REGISTRY[name]
    row = cls.__dict__.get("evidence")  # set on the class itself, not inherited from Symptom
    assert isinstance(row, dict) and row, f"{cls.__name__} ({name}) has no evidence row"
    assert set(row) <= set(FAULT_TYPES), (name, row)
    assert all(isinstance(w, float) and w > 0 for w in row.values()), (name, row)


def test_the_evidence_table_is_built_from_the_registry():
    assert set(D.EVIDENCE) == set(REGISTRY)
    for name, cls in REGISTRY.items():
        assert D.EVIDENCE[name] == cls.evidence
        assert D.EVIDENCE[name] is not cls.evidence  # a copy: the diagnosis never edits a class
