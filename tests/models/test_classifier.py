"""Model files: hash/version check before loading, no unpickling without trust."""
import json
import os
import pickle
import warnings

import numpy as np
import pytest

from faultlens.models import classifier


def _tiny_bundle():
    from sklearn.tree import DecisionTreeClassifier

    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.9], [1.0, 0.1]])
    y = np.array(["learning_rate", "optimizer", "learning_rate", "optimizer"])
    est = DecisionTreeClassifier(random_state=0).fit(X, y)
    tri = DecisionTreeClassifier(random_state=0).fit(X, np.array([1, 0, 1, 0]))
    return {"feature_names": ["loss.a", "grad.b"], "fault_types": ["learning_rate", "optimizer", "epochs"],
            "typing": est, "triage": tri}


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "m"
    classifier.save_model(str(d), _tiny_bundle(), {"name": "t"})
    return str(d)


def test_saved_model_loads_and_predicts(model_dir):
    m = classifier.load_shipped(model_dir)
    assert m is not None
    p = m.predict_proba({"loss.a": 0.0, "grad.b": 1.0})
    assert set(p) == {"learning_rate", "optimizer", "epochs"}
    assert p["learning_rate"] == pytest.approx(1.0) and p["epochs"] == 0.0
    assert m.predict({"loss.a": 1.0}) in ("learning_rate", "optimizer")  # a missing feature is NaN, not an error
    assert m.triage_proba({"loss.a": 0.0, "grad.b": 1.0}) == pytest.approx(1.0)


def test_features_beyond_float32_are_clipped_not_raised(model_dir):
    # a diverging loss gives slopes near 1e76, beyond float32: such a run is still diagnosed
    from faultlens.models.training import matrix
    from faultlens.corpus.export import Row

    m = classifier.load_shipped(model_dir)
    p = m.predict_proba({"loss.a": 1e76, "grad.b": -1e300})
    assert p["optimizer"] == pytest.approx(1.0)
    assert classifier.clip_feature(float("nan")) != classifier.clip_feature(float("nan"))
    X = matrix([Row(1, "p", "m", 0, "ok", 0.0, None, None, "faulty", {"loss.a": 1e76})], ["loss.a", "grad.b"])
    assert X[0, 0] == classifier.FEATURE_LIMIT and np.isnan(X[0, 1])


def test_tampered_file_is_rejected(model_dir):
    path = os.path.join(model_dir, classifier.MODEL_FILE)
    with open(path, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(classifier.ModelCheckError, match="sha256"):
        classifier.check_model_dir(model_dir)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert classifier.load_shipped(model_dir) is None
    assert any("not used" in str(x.message) for x in w)


def test_version_mismatch_is_rejected(model_dir):
    card_path = os.path.join(model_dir, classifier.CARD_FILE)
    card = json.load(open(card_path))
    card["versions"]["sklearn"] = "0.1.0"
    json.dump(card, open(card_path, "w"))
    with pytest.raises(classifier.ModelCheckError, match="sklearn"):
        classifier.check_model_dir(model_dir)
    with pytest.warns(RuntimeWarning):
        assert classifier.load_shipped(model_dir) is None


def test_missing_model_is_none_without_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert classifier.load_shipped(str(tmp_path / "nothing")) is None


def test_user_model_is_not_unpickled_without_trust(tmp_path, monkeypatch):
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"format": "x"}))
    calls = []
    monkeypatch.setattr(classifier, "_unpickle", lambda p: calls.append(p) or {})
    with pytest.raises(classifier.UntrustedModelError, match="--trust-model"):
        classifier.load_model(str(evil))
    assert calls == []  # refused before reading


def test_trusted_model_loads(model_dir):
    m = classifier.load_model(model_dir, trust=True)
    assert m.predict({"loss.a": 0.0, "grad.b": 1.0}) == "learning_rate"


def test_cli_check_and_refusal(model_dir, tmp_path, capsys):
    from faultlens.cli import main

    assert main(["model", "check", model_dir]) == 0
    with open(os.path.join(model_dir, classifier.MODEL_FILE), "ab") as fh:
        fh.write(b"x")
    assert main(["model", "check", model_dir]) == 2
    assert "faultlens: error:" in capsys.readouterr().err
