"""The trees as arrays (model.npz): the numpy predictor returns scikit-learn's probabilities bit for bit."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from faultlens.models import classifier

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "corpora", "corpus_features.csv.gz")


def _same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _edge_rows(arrays, n_features, rng, n=200):
    """Rows that sit on split thresholds: the threshold itself, the float32 neighbours of its float32
    rounding, a float64 a hair above it (rounds onto it in float32), NaN (an infinite threshold splits
    missing from present values); all-NaN and huge rows."""
    inner = np.flatnonzero(arrays.leaf < 0)
    picks = rng.choice(inner, size=min(n, len(inner)), replace=False)
    rows = []
    for i, node in enumerate(picks):
        thr, f = arrays.threshold[node], arrays.feature[node]
        t32 = np.float32(thr)
        values = (thr, np.nextafter(t32, np.float32(-np.inf)), t32, np.nextafter(t32, np.float32(np.inf)),
                  np.nextafter(thr, np.inf), np.nan) if np.isfinite(thr) else (3.0e38, np.nan)  # inf: NaN vs not
        for v in values:
            row = np.full(n_features, np.nan) if i % 2 else rng.normal(size=n_features)
            row[f] = float(v)
            rows.append(row)
    rows.append(np.full(n_features, np.nan))
    rows.append(np.full(n_features, 3.0e38))
    rows.append(np.full(n_features, -3.0e38))
    return np.array(rows)


@pytest.fixture(scope="module")
def shipped():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the shipped model's check must pass
        fast = classifier.load_shipped()
    ref = classifier.load_model(classifier.SHIPPED_DIR, trust=True)  # the pickled scikit-learn forests
    return fast, ref


def test_shipped_model_predicts_from_arrays(shipped):
    fast, ref = shipped
    assert isinstance(fast.typing, classifier.TreeArrays) and isinstance(fast.triage, classifier.TreeArrays)
    assert type(ref.typing).__name__ == "RandomForestClassifier"
    assert fast.feature_names == ref.feature_names and fast.fault_types == ref.fault_types


def test_shipped_arrays_equal_sklearn_on_corpus_sample(shipped):
    from faultlens.corpus.export import load_rows

    fast, ref = shipped
    rows = load_rows(CORPUS)[::10]
    X = np.array([[classifier._num(r.features.get(n)) for n in ref.feature_names] for r in rows], dtype=float)
    assert len(X) > 500 and np.isnan(X).any()
    rng = np.random.default_rng(0)
    for head in ("typing", "triage"):
        a, b = getattr(fast, head), getattr(ref, head)
        assert [str(c) for c in a.classes_] == [str(c) for c in b.classes_]
        assert _same(a.predict_proba(X), b.predict_proba(X)), head
        E = _edge_rows(a, X.shape[1], rng)
        assert _same(a.predict_proba(E), b.predict_proba(E)), head
    for r in rows[:50]:  # and through FaultModel's dicts
        assert fast.predict_proba(r.features) == ref.predict_proba(r.features)
        assert fast.triage_proba(r.features) == ref.triage_proba(r.features)


def test_infinite_input_is_refused_like_sklearn(shipped):
    fast, ref = shipped
    for v in (np.inf, -np.inf, 1e39):  # 1e39 is infinite in float32
        X = np.zeros((1, len(ref.feature_names)))
        X[0, 3] = v
        with np.errstate(over="ignore"), pytest.raises(ValueError):
            ref.typing.predict_proba(X)
        with np.errstate(over="ignore"), pytest.raises(ValueError):
            fast.typing.predict_proba(X)


@pytest.mark.parametrize("kind", ["tree", "forest"])
def test_small_models_roundtrip_through_arrays(tmp_path, kind):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[:, 0] = rng.normal(size=300)  # no NaN in training: a NaN at predict time goes where the fit chose
    y = np.array(["learning_rate", "optimizer", "epochs"])[(np.nan_to_num(X[:, 0]) > 0).astype(int)
                                                           + (np.nan_to_num(X[:, 1]) > 1).astype(int)]
    make = (lambda: DecisionTreeClassifier(min_samples_leaf=2, random_state=0)) if kind == "tree" else (
        lambda: RandomForestClassifier(n_estimators=25, min_samples_leaf=2, class_weight="balanced", random_state=0))
    bundle = {"feature_names": [f"f{i}" for i in range(6)], "fault_types": ["learning_rate", "optimizer", "epochs"],
              "typing": make().fit(X, y), "triage": make().fit(X, (y == "epochs").astype(int))}
    classifier.save_model(str(tmp_path), bundle, {"name": "t"})
    card = classifier.read_card(str(tmp_path))
    assert card["arrays_sha256"] == classifier.sha256_file(str(tmp_path / classifier.ARRAYS_FILE))
    m = classifier.load_shipped(str(tmp_path))
    assert isinstance(m.typing, classifier.TreeArrays)
    T = rng.normal(size=(400, 6)) * 2
    T[rng.random(T.shape) < 0.3] = np.nan
    for head in ("typing", "triage"):
        assert _same(getattr(m, head).predict_proba(T), bundle[head].predict_proba(T)), head


def test_not_exportable_model_keeps_the_pickle(tmp_path):
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.9], [1.0, 0.1]])
    est = LogisticRegression().fit(X, np.array(["learning_rate", "optimizer", "learning_rate", "optimizer"]))
    (tmp_path / classifier.ARRAYS_FILE).write_bytes(b"stale")
    classifier.save_model(str(tmp_path), {"feature_names": ["a", "b"], "fault_types": ["learning_rate", "optimizer"],
                                          "typing": est, "triage": None}, {"name": "t"})
    assert not (tmp_path / classifier.ARRAYS_FILE).exists()
    assert "arrays_sha256" not in classifier.read_card(str(tmp_path))
    m = classifier.load_shipped(str(tmp_path))
    assert m.typing is not None and not isinstance(m.typing, classifier.TreeArrays)
    assert m.predict({"a": 0.0, "b": 1.0}) == "learning_rate"


def test_tampered_or_missing_arrays_are_rejected(tmp_path):
    from sklearn.tree import DecisionTreeClassifier

    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.9], [1.0, 0.1]])
    est = DecisionTreeClassifier(random_state=0).fit(X, np.array(["learning_rate", "optimizer"] * 2))
    bundle = {"feature_names": ["a", "b"], "fault_types": ["learning_rate", "optimizer"], "typing": est}
    for damage in ("append", "remove"):
        d = tmp_path / damage
        classifier.save_model(str(d), bundle, {"name": "t"})
        path = d / classifier.ARRAYS_FILE
        if damage == "append":
            with open(path, "ab") as fh:
                fh.write(b"\0")
        else:
            path.unlink()
        with pytest.raises(classifier.ModelCheckError, match="model.npz"):
            classifier.check_model_dir(str(d))
        with pytest.warns(RuntimeWarning, match="not used"):
            assert classifier.load_shipped(str(d)) is None


def test_diagnosis_path_does_not_import_sklearn():
    """What ``faultlens run`` imports for the diagnosis, and the shipped model's load and prediction."""
    code = ("import sys, warnings; warnings.simplefilter('error')\n"
            "import faultlens.models.diagnosis, faultlens.models.features, faultlens.report.build\n"
            "from faultlens.models import classifier\n"
            "m = classifier.load_shipped(); m.predict_proba({}); m.triage_proba({})\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('sklearn', 'scipy')))\n")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []
