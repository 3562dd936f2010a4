"""Checks on the subject programs (corpora/programs) and bundled examples (corpora/examples).

Fast tests read sources only (ast); the single slow test runs the two cheapest programs and
checks their FINAL_SCORE against the range recorded in the manifest by measure.py.
"""
from __future__ import annotations

import ast
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = REPO / "corpora" / "programs"
EXAMPLES = REPO / "corpora" / "examples"
MANIFEST = PROGRAMS / "manifest.json"

METRICS = {"accuracy", "token_accuracy", "f1", "f1_micro", "r2", "neg_mse"}
REQUIRED = ("name", "entry", "style", "architecture", "task", "optimizer", "loss", "metric")
FORBIDDEN_MODULES = {"torchvision", "torchaudio", "requests", "urllib", "urllib3", "http",
                     "socket", "faultlens", "wget"}
EXAMPLE_FILES = ("demo_lr_too_high.py", "healthy_mlp.py", "missing_zero_grad.py", "softmax_ce.py")
SCORE_RE = re.compile(r"^FINAL_SCORE (\S+) (\S+)$", re.M)


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def _programs() -> list[dict]:
    return _manifest()["programs"]


def _sources(entry: Path) -> list[Path]:
    """The entry file plus, for a directory program, its sibling modules."""
    if entry.parent != PROGRAMS and entry.parent != EXAMPLES:
        return sorted(entry.parent.glob("*.py"))
    return [entry]


def _all_example_and_program_files() -> list[Path]:
    files = [PROGRAMS / p["entry"] for p in _programs()] + [EXAMPLES / f for f in EXAMPLE_FILES]
    out: list[Path] = []
    for f in files:
        for s in _sources(f):
            if s not in out:
                out.append(s)
    return out


def _module_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def _identifiers(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name.split(".")[-1])
    return names


def _string_constants(tree: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


# ----------------------------------------------------------------------------- manifest
def test_manifest_lists_enough_unique_programs():
    progs = _programs()
    assert len(progs) >= 40
    names = [p["name"] for p in progs]
    assert len(names) == len(set(names)), "duplicate program names"
    entries = [p["entry"] for p in progs]
    assert len(entries) == len(set(entries)), "duplicate entries"
    for p in progs:
        missing = [k for k in REQUIRED if not p.get(k)]
        assert not missing, f"{p.get('name')}: missing {missing}"
        assert p["metric"] in METRICS, f"{p['name']}: unknown metric {p['metric']}"
        assert isinstance(p["style"], list) and p["style"]


def test_manifest_covers_every_program_file():
    listed = {(PROGRAMS / p["entry"]).resolve() for p in _programs()}
    for path in PROGRAMS.glob("*.py"):
        if path.name == "measure.py":
            continue
        assert path.resolve() in listed, f"{path.name} is not in manifest.json"
    for sub in PROGRAMS.iterdir():
        if sub.is_dir() and any(sub.glob("*.py")):
            assert (sub / "train.py").resolve() in listed, f"{sub.name}/train.py not in manifest"


def test_manifest_records_measured_ranges():
    for p in _programs():
        score, rng = p.get("score"), p.get("expected_range")
        assert score and rng and p.get("seconds") and p.get("cpu_seconds"), \
            f"{p['name']}: not measured (run corpora/programs/measure.py)"
        assert len(score["values"]) >= 3, f"{p['name']}: fewer than 3 seeds measured"
        assert score["min"] <= score["mean"] <= score["max"]
        assert rng[0] <= score["min"] and score["max"] <= rng[1], p["name"]
        assert all(math.isfinite(v) for v in score["values"])
        assert p["cpu_seconds"]["max"] <= 20, f"{p['name']}: too slow for the corpus"


def test_manifest_covers_the_required_diversity():
    progs = _programs()
    text = json.dumps(progs).lower()
    for needle in ("sgd", "adam", "adamw", "rmsprop", "adagrad", "lbfgs", "crossentropyloss",
                   "nllloss", "bcewithlogitsloss", "bceloss", "mseloss", "l1loss", "smoothl1loss"):
        assert needle in text, f"no program uses {needle}"
    activations = {a for p in progs for a in p["activation"].split("+")}
    for act in ("ReLU", "LeakyReLU", "GELU", "Tanh", "Sigmoid", "ELU"):
        assert act in activations, f"no program uses {act}"
    archs = {p["architecture"] for p in progs}
    for arch in ("mlp", "cnn2d", "cnn1d", "resnet", "rnn", "lstm", "gru", "transformer",
                 "autoencoder", "vae"):
        assert arch in archs, f"no {arch} program"
    tasks = " ".join(p["task"] for p in progs)
    for task in ("regression", "binary classification", "multi-class classification",
                 "multi-label classification", "sequence"):
        assert task in tasks, f"no {task} task"
    assert sum(1 for p in progs if "/" in p["entry"]) >= 2, "need directory (two-file) programs"


# ----------------------------------------------------------------------------- sources
@pytest.mark.parametrize("path", _all_example_and_program_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_source_parses_and_imports_nothing_forbidden(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = _module_roots(tree) & FORBIDDEN_MODULES
    assert not bad, f"forbidden import(s): {sorted(bad)}"
    idents = _identifiers(tree)
    downloads = {n for n in idents if "download" in n.lower() or n.startswith("fetch_")}
    assert not downloads, f"downloading API(s): {sorted(downloads)}"
    assert "open" not in idents and "save" not in idents, "programs must not touch files"
    # local imports must resolve to sibling files
    local = _module_roots(tree) - set(sys.stdlib_module_names) - {
        "torch", "numpy", "sklearn", "scipy"}
    for mod in local:
        assert (path.parent / f"{mod}.py").exists(), f"unresolved import {mod}"


@pytest.mark.parametrize("path", [PROGRAMS / p["entry"] for p in json.loads(MANIFEST.read_text())["programs"]]
                         + [EXAMPLES / f for f in EXAMPLE_FILES],
                         ids=lambda p: p.relative_to(REPO).as_posix())
def test_entry_follows_seed_and_score_conventions(path: Path):
    text = "\n".join(s.read_text() for s in _sources(path))
    tree = ast.parse(path.read_text())
    strings = _string_constants(tree)
    assert any("--seed" in s for s in strings), "no --seed command-line option"
    assert any(s == "FAULTLENS_SEED" for s in strings), "no FAULTLENS_SEED fallback"
    assert "manual_seed" in text and "set_num_threads(1)" in text
    finals = [s for s in strings if s.startswith("FINAL_SCORE")]
    assert len(finals) == 1, "exactly one FINAL_SCORE print expected"
    docstring = ast.get_docstring(tree) or ""
    assert "higher is better" in docstring.lower(), "docstring must name the metric direction"


def test_examples_have_header_comments():
    for name in EXAMPLE_FILES:
        doc = ast.get_docstring(ast.parse((EXAMPLES / name).read_text())) or ""
        assert "what it shows" in doc.lower(), f"{name}: header must say what it shows"
    demo = (EXAMPLES / "demo_lr_too_high.py").read_text()
    assert re.search(r'"--lr", type=float, default=(\d+(\.\d*)?)', demo)
    assert "zero_grad" not in re.sub(r'""".*?"""|#.*', "", (EXAMPLES / "missing_zero_grad.py").read_text(), flags=re.S)
    assert "nn.Softmax" in (EXAMPLES / "softmax_ce.py").read_text()


def _measure_module():
    sys.path.insert(0, str(PROGRAMS))
    try:
        import measure  # noqa: PLC0415
    finally:
        sys.path.remove(str(PROGRAMS))
    return measure


def test_final_score_regex_matches_measure_parser():
    measure = _measure_module()
    assert measure.parse_final_score("epoch 1\nFINAL_SCORE accuracy 0.9500\n") == ("accuracy", 0.95)
    for bad in ("no score here", "FINAL_SCORE accuracy nan", "FINAL_SCORE a 1\nFINAL_SCORE a 2"):
        with pytest.raises(measure.MeasureError):
            measure.parse_final_score(bad)
    lo, hi = measure.expected_range("accuracy", [0.9, 0.95, 1.0])
    assert lo < 0.9 and hi == 1.0
    lo, hi = measure.expected_range("neg_mse", [-0.03, -0.02])
    assert lo < -0.03 and -0.02 < hi <= 0.0


def test_measure_isolated_run_reports_score_and_failures(tmp_path):
    measure = _measure_module()
    good = tmp_path / "good.py"
    good.write_text("import sys\nprint('epoch 1')\nprint('FINAL_SCORE accuracy', 0.5 + int(sys.argv[2]) / 10)\n")
    stdout, wall, cpu = measure.run_isolated(good, 3, sys.executable, timeout=30)
    assert measure.parse_final_score(stdout) == ("accuracy", 0.8)
    assert wall >= 0 and cpu >= 0
    bad = tmp_path / "bad.py"
    bad.write_text("raise SystemExit(3)\n")
    with pytest.raises(measure.MeasureError, match="exit status 3"):
        measure.run_isolated(bad, 0, sys.executable, timeout=30)


def test_measure_docs_table_lists_every_program():
    measure = _measure_module()
    manifest = _manifest()
    table = measure.programs_table(manifest)
    for p in manifest["programs"]:
        assert f"`{p['entry']}`" in table
    doc = (REPO / "docs" / "corpora-programs.md").read_text()
    assert table in doc, "docs table is stale: run corpora/programs/measure.py --docs-only"


# ----------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_fastest_programs_score_inside_documented_range():
    progs = sorted(_programs(), key=lambda p: p["cpu_seconds"]["mean"])[:2]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("FAULTLENS_SEED", None)
    for p in progs:
        entry = PROGRAMS / p["entry"]
        proc = subprocess.run([sys.executable, entry.name, "--seed", "0"], cwd=entry.parent,
                              env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-2000:]
        found = SCORE_RE.findall(proc.stdout)
        assert len(found) == 1, proc.stdout[-2000:]
        metric, value = found[0][0], float(found[0][1])
        assert metric == p["metric"]
        lo, hi = p["expected_range"]
        assert lo <= value <= hi, f"{p['name']}: {metric}={value} outside [{lo}, {hi}]"
