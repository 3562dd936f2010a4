"""Real programs as corpus subjects (``faultlens corpus build --sources``), on a manifest of our own.

The "repository" here is a folder of two small programs written for this test: one that trains a
regression and prints a lower-is-better loss, one that only runs forward passes (no optimizer
step). Nothing of the external benchmark's programs is used.
"""
import json
import os
import sqlite3
import statistics

import pytest

from faultlens.corpus.external import split_of
from faultlens.errors import FaultlensError

TRAIN = '''\
import torch
import torch.nn as nn

torch.manual_seed(0)
X = torch.randn(256, 4)
y = X @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(256, 1)
model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
loss_fn = nn.MSELoss()
for step in range(60):
    opt.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    opt.step()
print(f"final loss: {loss.item():.6f}")
'''

FORWARD_ONLY = '''\
import torch
import torch.nn as nn

torch.manual_seed(0)
X = torch.randn(64, 4)
model = nn.Linear(4, 1)
with torch.no_grad():
    out = model(X)
print(f"final loss: {float(out.pow(2).mean()):.6f}")
'''


def _dev_id(stem: str) -> str:
    return next(f"toy/{stem}{i}" for i in range(200) if split_of(f"toy/{stem}{i}") == "dev")


def _test_id(stem: str) -> str:
    return next(f"toy/{stem}{i}" for i in range(200) if split_of(f"toy/{stem}{i}") == "test")


def _setup(tmp_path):
    src = tmp_path / "sources" / "toyrepo"
    src.mkdir(parents=True)
    for name, text in (("train", TRAIN), ("forward", FORWARD_ONLY), ("held", TRAIN)):
        (src / name).mkdir()
        (src / name / "main.py").write_text(text)
    bench = tmp_path / "bench"
    (bench / "standins").mkdir(parents=True)
    score = {"regex": r"final loss: (\S+)", "better": "lower"}
    ids = {"train": _dev_id("train"), "forward": _dev_id("forward"), "held": _test_id("held")}
    manifest = {"sources": {"me/toyrepo": {"commit": None, "clone_as": "toyrepo", "licence": "test"}},
                "programs": [{"id": ids[k], "repo": "me/toyrepo", "path": f"{k}/main.py", "timeout": 60,
                              "score": score, "plain": {"status": "ok", "seconds": 3.0, "kept": True}}
                             for k in ("train", "forward", "held")]}
    (bench / "manifest.json").write_text(json.dumps(manifest))
    return str(tmp_path / "sources"), str(bench / "manifest.json"), ids


def test_prepare_subjects_takes_the_dev_half_only(tmp_path):
    from faultlens.corpus.real import prepare_subjects

    sources, manifest, ids = _setup(tmp_path)
    prepared = prepare_subjects(sources, str(tmp_path / "c.sqlite"), manifest=manifest, standin_scale=0.25,
                                log=lambda m: None)
    names = {name for name, _, _ in prepared}
    assert names == {ids["train"], ids["forward"]}  # the test-half program never enters the corpus
    for name, entry, subj in prepared:
        assert os.path.exists(entry) and subj["entry"].endswith("main.py")
        assert subj["standin_scale"] == 0.25
        assert subj["env"]["FAULTLENS_STANDIN_TRAIN"] == str(1500)
    # a second call reuses the folders (same spec) and a changed scale makes them again
    stamp = os.path.join(str(tmp_path / "c.sqlite") + ".subjects")
    before = {d: os.path.getmtime(os.path.join(stamp, d, "subject.json")) for d in os.listdir(stamp)}
    prepare_subjects(sources, str(tmp_path / "c.sqlite"), manifest=manifest, standin_scale=0.25, log=lambda m: None)
    assert before == {d: os.path.getmtime(os.path.join(stamp, d, "subject.json")) for d in os.listdir(stamp)}
    again = prepare_subjects(sources, str(tmp_path / "c.sqlite"), manifest=manifest, standin_scale=0.5,
                             log=lambda m: None)
    assert all(s["standin_scale"] == 0.5 for _, _, s in again)


def test_read_score_turns_lower_is_better_into_higher():
    from faultlens.corpus.real import read_score

    out = "final loss: 0.50\nfinal loss: 0.25\n"
    assert read_score(out, {"regex": r"final loss: (\S+)", "better": "lower"}) == ("neg_score", -0.25)
    assert read_score(out, {"regex": r"final loss: (\S+)", "better": "higher", "k": 2}) == ("score", 0.375)
    assert read_score("nothing", {"regex": r"final loss: (\S+)"}) == ("score", None)


def test_projected_seconds_prefers_measured_runs():
    from faultlens.corpus.real import projected_seconds

    assert projected_seconds(None) == 5.0
    assert projected_seconds({"seconds": 12.0, "standin_scale": 0.5}) == 5.0
    assert projected_seconds({"seconds": 12.0, "standin_scale": 0.5}, measured=1.7) == 1.7


def test_bad_sources_and_manifest_are_clear_errors(tmp_path):
    from faultlens.cli import main
    from faultlens.corpus.real import prepare_subjects

    sources, manifest, _ = _setup(tmp_path)
    with pytest.raises(FaultlensError, match="no such manifest"):
        prepare_subjects(sources, str(tmp_path / "c.sqlite"), manifest=str(tmp_path / "none.json"))
    with pytest.raises(FaultlensError, match="no such directory"):
        prepare_subjects(str(tmp_path / "nowhere"), str(tmp_path / "c.sqlite"), manifest=manifest)
    with pytest.raises(FaultlensError, match="standin-scale"):
        prepare_subjects(sources, str(tmp_path / "c.sqlite"), manifest=manifest, standin_scale=0)
    db = str(tmp_path / "c.sqlite")
    assert main(["corpus", "build", "--sources", sources, "--programs", sources, "--db", db]) == 2
    assert main(["corpus", "build", "--sources", str(tmp_path / "nowhere"), "--manifest", manifest,
                 "--db", db]) == 2


@pytest.mark.slow
def test_build_from_sources(tmp_path):
    from faultlens.corpus.builder import build_corpus

    sources, manifest, ids = _setup(tmp_path)
    db = str(tmp_path / "c.sqlite")
    lines: list[str] = []
    summary = build_corpus(None, db, seeds=2, orig_seeds=3, jobs=1, engine="serial", max_mutants=2,
                           max_seconds=60, curvature=False, progress=False, keep_traces=False,
                           sources=sources, manifest=manifest, standin_scale=0.5, log=lines.append)
    text = "\n".join(lines)
    assert "projected wall time" in text
    assert f"{ids['forward']}: the original recorded no training step" in text
    con = sqlite3.connect(db)
    rows = con.execute("SELECT program, mutant_id, seed, status, score, metric FROM runs").fetchall()
    con.close()
    progs = {r[0] for r in rows}
    assert ids["held"] not in progs
    # the forward-only program's originals ran, its mutants did not
    assert {r[1] for r in rows if r[0] == ids["forward"]} == {"original"}
    orig = [r for r in rows if r[0] == ids["train"] and r[1] == "original"]
    assert len(orig) == 3 and all(r[3] == "ok" and r[5] == "neg_score" for r in orig)
    # the printed loss, negated (higher is better in the corpus), and different per seed: the
    # program's own torch.manual_seed(0) is shifted by the job's seed
    assert all(r[4] < 0 for r in orig)
    assert len({round(r[4], 6) for r in orig}) == 3
    assert statistics.mean(-r[4] for r in orig) < 1.0  # it trains: the loss falls well below the data's variance
    mutants = {r[1] for r in rows if r[0] == ids["train"] and r[1] != "original"}
    assert len(mutants) == 2
    assert summary["programs"] == 2
