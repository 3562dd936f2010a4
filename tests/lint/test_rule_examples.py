"""Every rule's own VALID / INVALID example programs, run through the real graph builder."""
from __future__ import annotations

import ast

import pytest

from faultlens.analyzer.lint import all_rules, lint_source
from faultlens.analyzer.lint.fixes import apply_fixes
from faultlens.analyzer.lint.finding import SEVERITIES

RULES = all_rules()

VALID_CASES = [pytest.param(r, i, id=f"{r.code}-valid-{i}") for r in RULES for i in range(len(r.VALID))]
INVALID_CASES = [pytest.param(r, i, id=f"{r.code}-invalid-{i}") for r in RULES for i in range(len(r.INVALID))]


def test_registry_has_enough_well_formed_rules():
    assert len(RULES) >= 15
    codes = [r.code for r in RULES]
    assert len(set(codes)) == len(codes)
    names = [r.name for r in RULES]
    assert len(set(names)) == len(names)
    for r in RULES:
        assert r.severity in SEVERITIES, r.code
        assert r.summary and r.rationale, r.code
        assert r.VALID and r.INVALID, f"{r.code} needs VALID and INVALID examples"
        assert r.fault_type in {"learning_rate", "optimizer", "loss_function", "activation",
                                "weight_initialization", "data_preprocessing", "epochs", "batch_size",
                                "regularization", "training_loop", "architecture", "data"}, r.code


@pytest.mark.parametrize("rule,i", VALID_CASES)
def test_valid_example_not_flagged(rule, i):
    case = rule.VALID[i]
    found = lint_source(case.source, "example.py", select=[rule.code])
    assert found == [], f"{rule.code} flagged a VALID example ({case.note}): {[f.message for f in found]}"


@pytest.mark.parametrize("rule,i", INVALID_CASES)
def test_invalid_example_flagged(rule, i):
    case = rule.INVALID[i]
    src = case.source
    found = lint_source(src, "example.py", select=[rule.code])
    assert found, f"{rule.code} missed an INVALID example ({case.note})"
    for f in found:
        assert f.code == rule.code and f.path == "example.py"
        assert 1 <= f.line <= f.end_line <= len(src.splitlines()) + 1
        assert f.message
    if case.line is not None:
        assert case.line in [f.line for f in found], (
            f"{rule.code}: expected a finding on line {case.line}, got {[(f.line, f.message) for f in found]}")
    fixed, applied = apply_fixes(src, found, "example.py")
    ast.parse(fixed)  # an applied fix never breaks the program
    if case.fixed_source is not None:
        assert applied, f"{rule.code}: expected a fix"
        assert fixed == case.fixed_source
        again = lint_source(fixed, "example.py", select=[rule.code])
        assert not [f for f in again if f.line == found[0].line and f.message == found[0].message]
