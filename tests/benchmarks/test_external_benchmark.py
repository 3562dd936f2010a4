"""The external benchmark's manifest and materialiser (benchmarks/external/cases.py), on a tiny
git repository made here: no third-party program is needed."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "external"))
import cases as C  # noqa: E402


def test_committed_manifest_is_complete():
    data = C.load(fragments=False)
    kept = C.cases(data)
    clean = [c for c in kept if c.expected == "healthy"]
    faulty = [c for c in kept if c.expected == "faulty"]
    assert len(clean) >= 40 and len(faulty) >= 100
    assert {t for c in faulty for t in c.types} == set(C.FAULT_TYPES)
    assert {c.split for c in clean} == {"dev", "test"}
    for p in data["programs"]:
        src = data["sources"][p["repo"]]
        assert len(p.get("source_commit") or src["commit"]) == 40 and src.get("licence")
        assert (p.get("plain") or {}).get("measured"), p["id"]
        for c in p.get("cases", []):
            assert (c.get("plain") or {}).get("measured"), c["id"]


def test_split_is_fixed_by_the_id():
    assert C.split_of("examples/mnist") == C.split_of("examples/mnist")
    halves = {C.split_of(f"prog{i}") for i in range(20)}
    assert halves == {"dev", "test"}
    bad = {"sources": {"o/r": {"commit": "0" * 40}},
           "programs": [{"id": "x", "repo": "o/r", "path": "a.py", "score": {"regex": "(1)"},
                         "split": "test" if C.split_of("x") == "dev" else "dev"}]}
    with pytest.raises(C.ManifestError, match="differs from the fixed rule"):
        C.check(bad)


def test_edit_lines():
    text = "a\nb\n\nc\nd\n"
    assert C._edit_lines(text, "b\n", "B1\nB2\n", "x") == ("a\nB1\nB2\n\nc\nd\n", [2, 3])
    assert C._edit_lines(text, "c\n", "", "x") == ("a\nb\n\nd\n", [2, 4])     # deletion: the lines around it
    # comment lines are no statements: the statements around the gap are its true lines
    commented = "a = 1\n# clear the gradients\nz()\n# step\nb = 2\n"
    assert C._edit_lines(commented, "z()\n", "", "x")[1] == [1, 4]
    assert C._edit_lines(text, "d", "d.x()", "x")[1] == [5]
    with pytest.raises(C.ManifestError, match="occurs 0 times"):
        C._edit_lines(text, "zz", "y", "x")


def test_plain_score_rules():
    sc = {"regex": r"acc (\S+)", "better": "higher", "good": 0.8}
    assert C.read_score("acc 0.5\nacc 0.9\n", sc) == 0.9
    assert math.isnan(C.read_score("acc nan", sc))
    assert C.read_score("nothing", sc) is None
    assert C.good_clean(0.9, "ok", sc) and not C.good_clean(0.7, "ok", sc) and not C.good_clean(0.9, "exit 1", sc)
    assert C.hurts(0.9, 0.7, "ok", sc) and not C.hurts(0.9, 0.85, "ok", sc)
    assert C.hurts(0.9, None, "ok", sc) and C.hurts(0.9, 0.9, "timeout", sc)
    low = {"regex": "x", "better": "lower", "rel": 0.5, "min_delta": 1.0}
    assert C.hurts(1.0, 2.1, "ok", low) and not C.hurts(1.0, 1.9, "ok", low)


def _git(cwd, *args):
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


def test_materialise_from_a_clone_at_the_manifest_commit(tmp_path):
    repo = tmp_path / "sources" / "demo"
    (repo / "pkg").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "pkg" / "train.py").write_text("epochs = 100\nlr = 0.1\nopt = SGD(lr=lr)\nprint('loss', 0.5)\n")
    (repo / "pkg" / "util.py").write_text("X = 1\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one")
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (repo / "pkg" / "train.py").write_text("changed after the commit\n")   # the commit's text is used
    data = {"sources": {"o/demo": {"commit": commit, "clone_as": "demo", "licence": "MIT"}},
            "programs": [{"id": "demo/train", "repo": "o/demo", "path": "pkg/train.py",
                          "score": {"regex": r"loss (\S+)"},
                          "shorten": [{"old": "epochs = 100", "new": "epochs = 2"}],
                          "cases": [{"id": "demo/train#lr", "types": ["learning_rate"],
                                     "edit": {"old": "lr = 0.1", "new": "lr = 50.0"},
                                     "lines_text": [{"text": "opt = SGD(lr=lr)"}]}]}]}
    C.check(data)
    clean, faulty = C.cases(data)
    m = C.materialise(faulty, data, tmp_path / "sources", tmp_path / "work")
    text = Path(m["entry"]).read_text()
    assert text.startswith("epochs = 2\nlr = 50.0\n") and (Path(m["root"]) / "pkg" / "util.py").exists()
    assert sorted(ln for _, ln in m["true_lines"]) == [2, 3]
    assert m["cwd"].endswith("pkg")
    m0 = C.materialise(clean, data, tmp_path / "sources", tmp_path / "work")
    assert m0["true_lines"] == [] and "lr = 0.1" in Path(m0["entry"]).read_text()


def test_standin_text_corpus_is_deterministic(tmp_path, monkeypatch):
    # the stand-ins folder also holds the torchvision stand-in: it must leave sys.path after this
    # test, or a later test in the same worker imports it in place of the real package
    monkeypatch.syspath_prepend(str(C.STANDINS))
    from faultlens_standin_text import corpus_lines, write_corpus
    a, b = corpus_lines(50, seed=1), corpus_lines(50, seed=1)
    assert a == b and a != corpus_lines(50, seed=2) and len(a) == 50
    p = write_corpus(tmp_path / "d" / "input.txt", lines=20, style="dialogue")
    assert len(p.read_text().splitlines()) == 20
    assert len(set(" ".join(a).split())) > 100


def _external_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("external_runner", ROOT / "benchmarks" / "external.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_rediagnose_finds_the_main_run_and_refuses_bad_input(tmp_path, capsys):
    ext = _external_module()
    case = tmp_path / "case" / "prog"
    main_run = case / ".faultlens" / "runs" / "20261203-0800-main-aaaa"
    for d in (main_run, main_run / "check" / "run"):
        d.mkdir(parents=True)
        (d / "result.json").write_text("{}")
    assert ext._stored_run(tmp_path / "case") == main_run  # a patch check's run is not the case's run
    assert ext._stored_run(tmp_path / "nothing") is None
    assert ext.main(["rediagnose", "--workdir", str(tmp_path), "--records", str(tmp_path / "none.json")]) == 2
    assert ext.main(["rediagnose", "--workdir", str(tmp_path), "--records", str(tmp_path / "none.json"),
                     "--model", str(tmp_path)]) == 2
    assert "no model there" in capsys.readouterr().err
