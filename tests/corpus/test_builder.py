"""Corpus builder: resume after SIGKILL, failed runs recorded, labels, Ray engine, export."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

FIX = os.path.join(os.path.dirname(__file__), "fixtures")


def _programs(tmp_path):
    d = tmp_path / "programs"
    d.mkdir()
    shutil.copy(os.path.join(FIX, "tiny_mlp.py"), d / "tiny_mlp.py")
    return str(d)


def _runs(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT program, mutant_id, seed, status FROM runs").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def test_relabel_from_stored_runs(tmp_path):
    from faultlens.corpus import db as cdb
    from faultlens.corpus.builder import relabel

    con = cdb.connect(str(tmp_path / "c.sqlite"))
    cdb.upsert_mutants(con, "p", "p.py", "x", [
        {"mutant_id": "original"}, {"mutant_id": "m1", "operator": "lr_scale", "fault_type": "learning_rate"},
        {"mutant_id": "m2", "operator": "drop_step", "fault_type": "training_loop"},
        {"mutant_id": "m3", "operator": "drop_eval", "fault_type": "training_loop"}])
    for s, v in enumerate([0.9, 0.91, 0.92, 0.9]):
        cdb.record_run(con, {"program": "p", "mutant_id": "original", "seed": s, "status": "ok", "score": v})
    for s, v in enumerate([0.3, 0.35, 0.32]):
        cdb.record_run(con, {"program": "p", "mutant_id": "m1", "seed": s, "status": "ok", "score": v})
    for s in range(3):
        cdb.record_run(con, {"program": "p", "mutant_id": "m2", "seed": s, "status": "crashed", "error": "boom"})
    for s, v in enumerate([0.9, 0.92, 0.91]):
        cdb.record_run(con, {"program": "p", "mutant_id": "m3", "seed": s, "status": "ok", "score": v})
    cdb.record_run(con, {"program": "p", "mutant_id": "m3", "seed": 3, "status": "failed", "error": "worker died"})
    counts = relabel(con)
    labels = dict(con.execute("SELECT mutant_id, label FROM labels"))
    assert labels == {"m1": "faulty", "m2": "crash", "m3": "equivalent"}
    assert counts == {"faulty": 1, "crash": 1, "equivalent": 1}
    # an infrastructure failure is recorded with its error, never dropped, but not a label input
    err = con.execute("SELECT error FROM runs WHERE status='failed'").fetchone()[0]
    assert err == "worker died"
    # a mutant whose crashes were raised by the injected code is no fault: no label at all
    cdb.upsert_mutants(con, "p", "p.py", "x", [{"mutant_id": "m4", "operator": "data_fault", "fault_type": "data"}])
    for s in range(3):
        cdb.record_run(con, {"program": "p", "mutant_id": "m4", "seed": s, "status": "invalid",
                             "error": "injection error: UnboundLocalError: xb"})
    relabel(con)
    assert "m4" not in dict(con.execute("SELECT mutant_id, label FROM labels"))


def test_failed_job_is_recorded_not_raised(tmp_path):
    from faultlens.corpus.worker import run_job

    res = run_job({"program": "t", "path": os.path.join(FIX, "tiny_mlp.py"), "mutant_id": "bad", "seed": 0,
                   "mutant": {"operator": "lr_scale", "site": "optimizer:nowhere.py:1:x", "params": {"factor": 2.0}},
                   "workdir": str(tmp_path)})
    assert res["status"] == "failed" and "not in the program graph" in res["error"]


@pytest.mark.slow
def test_build_resumes_after_sigkill(tmp_path):
    progs = _programs(tmp_path)
    db = str(tmp_path / "c.sqlite")
    cmd = [sys.executable, "-m", "faultlens", "corpus", "build", "--programs", progs, "--db", db, "--seeds", "2",
           "--orig-seeds", "2", "--jobs", "1", "--max-mutants", "3", "--max-seconds", "60", "--no-progress",
           "--no-curvature"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 240
    while time.time() < deadline and len(_runs(db)) < 2:
        time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)  # mid-way: the next job is already running in the worker
    proc.wait()
    before = _runs(db)
    assert 2 <= len(before) < 8, before
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    after = _runs(db)
    keys = [(p, m, s) for p, m, s, _ in after]
    assert len(keys) == len(set(keys)) == 8  # 2 original seeds + 3 mutants x 2 seeds, none twice
    assert summary["ran"] == 8 - len(before)
    assert set(before) <= set(after)  # finished runs were kept as they were
    con = sqlite3.connect(db)
    n_labels = con.execute("SELECT count(*) FROM labels").fetchone()[0]
    n_feats = con.execute("SELECT count(*) FROM features").fetchone()[0]
    assert n_labels == 3 and n_feats >= 6
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    # the export is readable by the trainer
    from faultlens.corpus.export import export_csv, load_rows

    paths = export_csv(db, str(tmp_path / "out"))
    rows = load_rows(paths[0])
    assert len(rows) == n_feats and {r.label for r in rows} - {"original"} <= {"faulty", "crash", "equivalent"}


@pytest.mark.slow
def test_ray_engine_on_local_ray(tmp_path):
    ray = pytest.importorskip("ray")
    from faultlens.corpus.builder import build_corpus

    progs = _programs(tmp_path)
    db = str(tmp_path / "r.sqlite")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        # no time budget: a fresh Ray worker's first run can be very slow on a loaded machine
        summary = build_corpus(progs, db, seeds=2, orig_seeds=2, jobs=1, engine="ray", limit=3, max_mutants=1,
                               curvature=False, progress=False, max_seconds=None)
    finally:
        ray.shutdown()
    assert summary["ran"] == 3
    rows = _runs(db)
    assert len(rows) == 3 and all(st == "ok" for *_, st in rows), rows


def test_plan_cache_follows_the_operator_registry(tmp_path, monkeypatch):
    from faultlens.corpus import builder
    from faultlens.corpus import db as cdb
    from faultlens.corpus import operators

    path = os.path.join(FIX, "tiny_manual.py")
    con = cdb.connect(str(tmp_path / "c.sqlite"))
    first = builder.plan_program(con, "tiny_manual", path, lambda msg: None)
    assert first and "drop_zero_grad" in {m["operator"] for m in first}
    key = con.execute("SELECT sha256 FROM programs").fetchone()[0]
    assert key == f"{builder._sha(path)}:{operators.registry_signature()}"
    victim = first[0]["mutant_id"]
    cdb.record_run(con, {"program": "tiny_manual", "mutant_id": victim, "seed": 0, "status": "ok", "score": 0.5})

    calls = []
    real_enumerate = operators.enumerate_mutants

    def counting(*a, **k):
        calls.append(1)
        return real_enumerate(*a, **k)

    monkeypatch.setattr(operators, "enumerate_mutants", counting)
    # unchanged file and registry: the cached plan, not a new enumeration
    again = builder.plan_program(con, "tiny_manual", path, lambda msg: None)
    assert calls == [] and sorted(m["mutant_id"] for m in again) == sorted(m["mutant_id"] for m in first)

    class ZeroGradAgain(operators.DropZeroGrad):
        name = "zero_grad_again"

    monkeypatch.setitem(operators.REGISTRY, "zero_grad_again", ZeroGradAgain())
    third = builder.plan_program(con, "tiny_manual", path, lambda msg: None)
    assert calls == [1]  # a changed registry re-enumerates
    assert "zero_grad_again" in {m["operator"] for m in third}
    assert {m["mutant_id"] for m in first} < {m["mutant_id"] for m in third}
    # upsert: the earlier mutants keep their rows and runs
    assert con.execute("SELECT COUNT(*) FROM runs WHERE mutant_id=?", (victim,)).fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM mutants WHERE program='tiny_manual' AND mutant_id != 'original'"
                       ).fetchone()[0] == len(third)

    monkeypatch.delitem(operators.REGISTRY, "zero_grad_again")
    fourth = builder.plan_program(con, "tiny_manual", path, lambda msg: None)
    assert calls == [1, 1]
    # the removed operator's mutants stay stored, but are no longer planned
    assert {m["mutant_id"] for m in fourth} == {m["mutant_id"] for m in first}
    assert con.execute("SELECT COUNT(*) FROM mutants WHERE operator='zero_grad_again'").fetchone()[0] >= 1
    fifth = builder.plan_program(con, "tiny_manual", path, lambda msg: None)
    assert calls == [1, 1] and {m["mutant_id"] for m in fifth} == {m["mutant_id"] for m in first}
