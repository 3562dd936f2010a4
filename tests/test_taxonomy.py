"""faultlens.taxonomy: one definition of each shared vocabulary (issue 11 item 2)."""
from __future__ import annotations

import importlib.util
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from faultlens import taxonomy as T

ROOT = Path(__file__).resolve().parents[1]


def test_taxonomy_imports_only_the_standard_library():
    code = ("import json, sys; import faultlens.taxonomy; "
            "print(json.dumps(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('torch', 'numpy', 'libcst', 'networkx', 'sklearn', 'scipy'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
    src = (ROOT / "faultlens" / "taxonomy.py").read_text()
    imported = set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_][\w.]*)", src, re.M))
    assert imported <= {"__future__"}, imported


def test_fault_types_and_verdicts():
    assert len(T.FAULT_TYPES) == len(set(T.FAULT_TYPES)) == 12
    assert T.VERDICTS == ("healthy", "faulty", "crashed", "inconclusive")
    assert T.MIN_STEPS == 10
    assert set(T.VERDICT_EXIT_CODES) == set(T.VERDICTS)
    assert set(T.CRASH_CATEGORIES) == {"exit", "environment", "api"}


def test_stages_share_the_taxonomy_objects():
    from faultlens.analyzer import names
    from faultlens.analyzer.lint.rules import _common
    from faultlens.corpus import operators
    from faultlens.instrumenter import schema
    from faultlens.models import diagnosis, features, training
    from faultlens.models.symptoms import base

    assert operators.FAULT_TYPES is T.FAULT_TYPES
    assert diagnosis.FAULT_TYPES is T.FAULT_TYPES
    assert training.FAULT_TYPES is T.FAULT_TYPES
    assert diagnosis.VERDICTS is T.VERDICTS
    assert diagnosis.MIN_STEPS == base.MIN_STEPS == T.MIN_STEPS
    assert names.FUNCTIONAL_LOSSES is T.FUNCTIONAL_LOSSES
    assert _common.FUNCTIONAL_LOSSES is T.LINT_FUNCTIONAL_LOSSES
    assert schema.CRASH_KINDS is features.CRASH_KINDS is T.CRASH_KINDS


def test_catalogue_subsets():
    """The named subsets are subsets of the full sets (and say so in their names)."""
    for sub in (T.LINT_FUNCTIONAL_LOSSES, T.TRACED_FUNCTIONAL_LOSSES):
        assert sub.items() <= T.FUNCTIONAL_LOSSES.items()
    assert T.LINT_FUNCTIONAL_LOSSES.keys() <= T.TRACED_FUNCTIONAL_LOSSES.keys()
    assert T.POINTWISE_ACTIVATION_OPS <= set(T.POINTWISE_ACTIVATION_LAYERS.values())
    assert set(T.POINTWISE_ACTIVATION_LAYERS) <= T.ACTIVATION_LAYERS <= T.NONLINEAR_LAYERS
    assert T.LOCALIZER_ACTIVATION_LAYERS <= T.ACTIVATION_LAYERS
    assert T.LOCALIZER_ACTIVATION_OPS <= T.ACTIVATION_OPS
    assert T.ZERO_TYPES <= T.RELU_TYPES
    assert T.WEIGHT_LAYERS <= T.AFFINE_LAYERS
    assert T.DROPOUT_LAYERS <= T.DROPOUT_BN_TYPES
    assert T.ABS_LOSSES <= T.REGRESSION_LOSSES <= T.NONNEG_LOSSES
    assert T.LOGIT_LOSSES - {"MultiLabelSoftMarginLoss"} <= set(T.LOSS_KINDS)
    assert set(T.FUNCTIONAL_LOSSES.values()) >= set(T.LOSS_KINDS)
    assert T.TORCH_OPTIMIZERS == set(T.OPTIMIZER_PARAMS) == set(T.OPTIMIZER_DEFAULT_LR)
    for sub in (T.ADAPTIVE_OPTIMIZERS, set(T.FEATURE_OPTIMIZERS), T.MUTATION_OPTIMIZERS, set(T.REFERENCE_LR)):
        assert sub <= T.TORCH_OPTIMIZERS
    assert set(T.REFERENCE_LR) == set(T.FEATURE_OPTIMIZERS)


def test_evidence_tables_cover_every_registered_symptom():
    from faultlens.models import diagnosis as D
    from faultlens.models.symptoms import REGISTRY

    assert set(REGISTRY) == set(D.EVIDENCE)
    tables = [D.EVIDENCE[s] for s in D.EVIDENCE] + list(D.CAPACITY.values()) + list(D.OUTPUT_MISMATCH.values())
    tables += [D.AMP_AFTER_NONFINITE] + list(D.CRASH_EVIDENCE.values())
    for row in tables:
        assert row and set(row) <= set(T.FAULT_TYPES), row
    # per-symptom override tables: every ``problem=`` a symptom reports has its row
    for name, table in (("capacity_limit", D.CAPACITY), ("output_range_mismatch", D.OUTPUT_MISMATCH)):
        problems = set(re.findall(r'problem="(\w+)"', inspect.getsource(REGISTRY[name])))
        assert problems and problems <= set(table), (name, problems)
    assert set(D.CRASH_EVIDENCE) <= set(T.CRASH_KINDS)
    for category in ("exit", "environment", "api"):
        assert category in T.CRASH_CATEGORIES


def test_operators_and_lint_rules_use_known_fault_types():
    from faultlens.analyzer.lint.registry import all_rules
    from faultlens.corpus.operators import REGISTRY as OPERATORS

    assert {op.fault_type for op in OPERATORS.values()} <= set(T.FAULT_TYPES)
    rules = all_rules()
    assert rules
    assert {r.fault_type for r in rules} <= set(T.FAULT_TYPES)


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem + "_for_taxonomy_test", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(spec.name, None)
    return mod


@pytest.mark.parametrize("rel", ["benchmarks/accuracy_set/build_manifest.py", "benchmarks/external/cases.py"])
def test_benchmark_label_vocabularies_match(rel):
    """The benchmarks keep their own copy (they are label files read without the package);
    it must name the same fault types."""
    mod = _load(ROOT / rel)
    assert set(mod.FAULT_TYPES) == set(T.FAULT_TYPES)
