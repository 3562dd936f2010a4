"""Fast consistency checks for the labelled accuracy set (benchmarks/accuracy_set).

No program is run here (verify.py does that); these checks read files and parse them only.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import math
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SET_DIR = REPO / "benchmarks" / "accuracy_set"
MANIFEST = SET_DIR / "manifest.json"

FAULT_TYPES = {
    "learning_rate", "optimizer", "loss_function", "activation", "weight_initialization",
    "data_preprocessing", "epochs", "batch_size", "regularization", "training_loop",
    "architecture", "data",
}
VERDICTS = {"faulty", "healthy", "crashed"}
FORBIDDEN_MODULES = {"torchvision", "torchaudio", "requests", "urllib", "urllib3", "http",
                     "socket", "wget", "datasets", "torchtext"}
ALLOWED_SK_LOADERS = {"load_digits", "load_iris", "load_wine", "load_breast_cancer",
                      "load_diabetes", "make_classification", "make_moons", "make_circles",
                      "make_regression", "make_blobs"}


def _entries():
    return json.loads(MANIFEST.read_text())


ENTRIES = _entries()
IDS = [e["id"] for e in ENTRIES]


def _load_verify():
    spec = importlib.util.spec_from_file_location("accuracy_set_verify", SET_DIR / "verify.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _program_files(entry):
    main = SET_DIR / entry["path"]
    if main.parent.name == "programs":
        return [main]
    return sorted(main.parent.glob("*.py"))


def test_manifest_shape():
    assert isinstance(ENTRIES, list)
    assert len(IDS) == len(set(IDS)), "duplicate ids"
    required = {"id", "path", "argv", "expected_verdict", "fault_type", "lines", "description",
                "arch", "style", "measured"}
    for e in ENTRIES:
        missing = required - e.keys()
        assert not missing, f"{e.get('id')}: missing {missing}"
        assert e["expected_verdict"] in VERDICTS, e["id"]
        assert isinstance(e["argv"], list)


def test_counts_and_type_coverage():
    verdicts = Counter(e["expected_verdict"] for e in ENTRIES)
    assert verdicts["faulty"] + verdicts["crashed"] >= 40
    assert verdicts["faulty"] >= 35
    assert verdicts["healthy"] >= 10
    per_type = Counter(e["fault_type"] for e in ENTRIES if e["expected_verdict"] != "healthy")
    for t in FAULT_TYPES:
        assert per_type[t] >= 3, f"only {per_type[t]} programs of type {t}"
    assert len({e["arch"] for e in ENTRIES}) >= 6
    assert len({e["style"] for e in ENTRIES}) >= 5


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_entry_files_parse_and_lines_are_real(entry):
    path = SET_DIR / entry["path"]
    assert path.is_file(), path
    for f in _program_files(entry):
        ast.parse(f.read_text(), filename=str(f))
    if entry["expected_verdict"] == "healthy":
        assert entry["fault_type"] is None
        assert entry["lines"] == []
        assert "min_score" in entry
        return
    assert entry["fault_type"] in FAULT_TYPES, entry["fault_type"]
    assert entry["lines"], "a faulty program needs at least one fault line"
    fault_file = SET_DIR / entry.get("fault_path", entry["path"])
    assert fault_file.is_file()
    text = fault_file.read_text().splitlines()
    for n, expected in zip(entry["lines"], entry["line_text"], strict=True):
        assert isinstance(n, int) and 1 <= n <= len(text), n
        assert text[n - 1].strip(), f"line {n} is blank"
        assert text[n - 1].strip() == expected, f"line {n} changed: manifest is stale"
    assert entry.get("fix"), "faulty programs carry their fix"


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_no_forbidden_imports_and_protocol(entry):
    for f in _program_files(entry):
        src = f.read_text()
        tree = ast.parse(src)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    assert a.name.split(".")[0] not in FORBIDDEN_MODULES, f"{f.name}: import {a.name}"
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in FORBIDDEN_MODULES, f"{f.name}: from {node.module}"
                if node.module == "sklearn.datasets":
                    for a in node.names:
                        assert a.name in ALLOWED_SK_LOADERS, f"{f.name}: {a.name} may download"
        assert "download=True" not in src
        assert "corpora" not in src
    main = (SET_DIR / entry["path"]).read_text()
    assert "torch.set_num_threads(1)" in main
    assert "FINAL_SCORE" in main


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.get("fix")],
                         ids=[e["id"] for e in ENTRIES if e.get("fix")])
def test_fix_applies_and_parses(entry, tmp_path):
    verify = _load_verify()
    fixed = verify.apply_fix(entry, tmp_path / "fixed")
    for f in fixed.parent.glob("*.py"):
        ast.parse(f.read_text(), filename=str(f))
    original = (SET_DIR / entry.get("fault_path", entry["path"])).read_text()
    fault_name = Path(entry.get("fault_path", entry["path"])).name
    assert (fixed.parent / fault_name).read_text() != original


def test_measured_numbers_support_the_labels():
    """The recorded evidence (written by verify.py --write) must agree with each label."""
    verify = _load_verify()
    for e in ENTRIES:
        m = e["measured"]
        if m.get("faulty_score", None) is None and m.get("fixed_score") is None:
            continue  # not measured yet
        score, fixed = m.get("faulty_score"), m.get("fixed_score")
        if e["expected_verdict"] == "healthy":
            assert score >= e["min_score"], e["id"]
        elif e["expected_verdict"] == "crashed":
            assert score is None and m.get("returncode") != 0, e["id"]
            assert isinstance(fixed, (int, float)) and math.isfinite(fixed), e["id"]
        else:
            assert isinstance(fixed, (int, float)), e["id"]
            if isinstance(score, str):  # "nan" / "inf"
                assert score in ("nan", "inf", "-inf"), e["id"]
            else:
                assert fixed - score >= verify.MIN_EFFECT, e["id"]
        if "seconds" in m and m["seconds"] is not None:
            assert m["seconds"] <= verify.MAX_SECONDS, e["id"]


def test_parse_score():
    verify = _load_verify()
    assert verify.parse_score("x\nFINAL_SCORE val_accuracy 0.5\n") == ("val_accuracy", 0.5)
    metric, value = verify.parse_score("FINAL_SCORE val_r2 nan")
    assert metric == "val_r2" and math.isnan(value)
    assert verify.parse_score("no score here") == (None, None)


def test_manifest_matches_specs_and_docs():
    """manifest.json is generated from build_manifest.SPECS; the doc table lists every entry."""
    spec = importlib.util.spec_from_file_location("accuracy_set_build", SET_DIR / "build_manifest.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert [s["id"] for s in build.SPECS] == IDS, "run build_manifest.py"
    assert set(build.FAULT_TYPES) == FAULT_TYPES
    doc = (REPO / "docs" / "accuracy-set.md").read_text()
    table = doc.split("<!-- table:start -->", 1)[1].split("<!-- table:end -->", 1)[0]
    for i in IDS:
        assert f"| {i} |" in table, f"{i} missing from docs/accuracy-set.md (build_manifest.py --docs)"
