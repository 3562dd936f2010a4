"""Re-extracting a corpus's features from its kept traces (``faultlens corpus features``)."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys

FIX = os.path.join(os.path.dirname(__file__), "fixtures")


def _tiny_corpus(tmp_path) -> str:
    """A built corpus of the tiny fixture: 2 original runs and one mutant's 2 runs."""
    from faultlens.corpus.builder import build_corpus

    progs = tmp_path / "programs"
    progs.mkdir()
    shutil.copy(os.path.join(FIX, "tiny_mlp.py"), progs / "tiny_mlp.py")
    db = str(tmp_path / "c.sqlite")
    build_corpus(str(progs), db, seeds=2, orig_seeds=2, jobs=1, engine="serial", max_mutants=1,
                 curvature=False, progress=False)
    return db


def test_refeature_restores_and_updates_every_row(tmp_path):
    db = _tiny_corpus(tmp_path)
    con = sqlite3.connect(db)
    before = dict(con.execute("SELECT run_id, data FROM features"))
    assert len(before) == 4
    # one row lost, one row from an "older extractor"
    victim, stale = sorted(before)[:2]
    con.execute("DELETE FROM features WHERE run_id=?", (victim,))
    con.execute("UPDATE features SET data=? WHERE run_id=?", (json.dumps({"loss.old": 1.0}), stale))
    con.commit()
    con.close()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "faultlens", "corpus", "features", "--db", db, "--jobs", "2",
                          "--no-progress"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok 4" in out.stdout and "no_graph" not in out.stdout
    con = sqlite3.connect(db)
    after = {k: json.loads(v) for k, v in con.execute("SELECT run_id, data FROM features")}
    con.close()
    assert set(after) == set(before)
    assert "loss.old" not in after[stale]
    # extraction is deterministic: the rebuilt rows equal the ones written at build time
    for rid in (victim, stale):
        old = json.loads(before[rid])
        assert set(old) == set(after[rid])
        assert all(old[k] == after[rid][k] or (old[k] != old[k] and after[rid][k] != after[rid][k]) for k in old)


def test_refeature_of_a_missing_database_is_a_usage_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "faultlens", "corpus", "features", "--db", str(tmp_path / "no.sqlite")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "no such corpus database" in out.stderr and "Traceback" not in out.stderr


def test_refeature_finds_programs_recorded_relative_to_another_directory(tmp_path, monkeypatch):
    """The build records program paths as given (often relative); re-extraction run from
    another directory must still find the sources, or refuse — never drop the static features."""
    from faultlens.corpus.builder import build_corpus
    from faultlens.corpus.refeature import refeature
    from faultlens.errors import FaultlensError

    work = tmp_path / "proj"
    (work / "programs").mkdir(parents=True)
    shutil.copy(os.path.join(FIX, "tiny_mlp.py"), work / "programs" / "tiny_mlp.py")
    monkeypatch.chdir(work)
    build_corpus("programs", "c.sqlite", seeds=2, orig_seeds=2, jobs=1, engine="serial", max_mutants=1,
                 curvature=False, progress=False)
    db = str(work / "c.sqlite")
    monkeypatch.chdir(tmp_path)
    counts = refeature(db, jobs=1, progress=False)
    assert counts == {"ok": 4}
    con = sqlite3.connect(db)
    assert all("static.n_weight_layers" in json.loads(d) for (d,) in con.execute("SELECT data FROM features"))
    con.close()
    shutil.move(str(work / "programs"), str(tmp_path / "elsewhere"))
    try:
        refeature(db, jobs=1, progress=False)
    except FaultlensError as exc:
        assert "tiny_mlp" in str(exc) and "static features" in str(exc)
    else:
        raise AssertionError("a corpus whose sources are gone must not be re-extracted silently")


def test_a_mutant_that_cannot_be_reapplied_loses_only_its_feature_rows(tmp_path):
    from faultlens.corpus.refeature import refeature

    db = _tiny_corpus(tmp_path)
    con = sqlite3.connect(db)
    (mid,) = con.execute("SELECT DISTINCT mutant_id FROM runs WHERE mutant_id != 'original'").fetchone()
    # the site an older analyzer named no longer exists
    con.execute("UPDATE mutants SET site='layer:tiny_mlp.py:1:gone' WHERE mutant_id=?", (mid,))
    con.commit()
    n_runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    con.close()
    assert refeature(db, jobs=1, progress=False) == {"ok": 2, "stale": 2}
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == n_runs
    kept = {m for (m,) in con.execute("SELECT r.mutant_id FROM features f JOIN runs r USING(run_id)")}
    con.close()
    assert kept == {"original"}
