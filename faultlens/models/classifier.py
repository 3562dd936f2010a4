"""Trained diagnosis models: loading (checked), predicting.

A model directory holds ``model.pkl`` (a gzip-compressed pickled dict: feature names, the fault-typing
estimator, the optional instability-triage estimator) and ``model_card.json`` (data, features,
metrics, versions, and the ``sha256`` of ``model.pkl``), plus a human ``MODEL_CARD.md``.

Pickle executes code when loaded, so:

* the shipped model (``faultlens/models/shipped/``) is loaded only when its file's sha256
  equals the card's and the installed scikit-learn / numpy major.minor versions equal the
  ones it was trained with; otherwise :func:`load_shipped` warns once and returns ``None``
  (diagnosis then runs on rules alone) — never an error;
* a user-supplied model file is never unpickled unless the caller passes ``trust=True``
  (CLI ``--trust-model``); :func:`load_model` raises :class:`UntrustedModelError` otherwise.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import threading
import warnings
from typing import Any

from faultlens.errors import FaultlensError

FORMAT = "faultlens.model/1"
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shipped")
MODEL_FILE = "model.pkl"
CARD_FILE = "model_card.json"


class UntrustedModelError(FaultlensError):
    """Refused to unpickle a model file that was not explicitly trusted."""


class ModelCheckError(FaultlensError):
    """A model file failed its integrity / version check."""


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _major_minor(v: str) -> str:
    return ".".join(str(v).split(".")[:2])


def runtime_versions() -> dict[str, str]:
    import numpy
    import sklearn

    return {"sklearn": sklearn.__version__, "numpy": numpy.__version__}


class FaultModel:
    """A loaded model. ``predict_proba(features) -> {fault_type: p}`` (sums to 1);
    ``triage_proba(features) -> p(faulty)`` when a triage head was trained, else None."""

    def __init__(self, bundle: dict[str, Any], card: dict[str, Any] | None = None):
        if bundle.get("format") != FORMAT:
            raise ModelCheckError(f"not a faultlens model (format {bundle.get('format')!r})")
        self.feature_names: list[str] = list(bundle["feature_names"])
        self.fault_types: list[str] = list(bundle["fault_types"])
        self.typing = bundle["typing"]
        self.triage = bundle.get("triage")
        self.card = card or {}

    def _row(self, features: dict[str, float]):
        import numpy as np

        return np.array([[_num(features.get(n)) for n in self.feature_names]], dtype=float)

    def predict_proba(self, features: dict[str, float]) -> dict[str, float]:
        p = self.typing.predict_proba(self._row(features))[0]
        classes = [str(c) for c in self.typing.classes_]
        out = {t: 0.0 for t in self.fault_types}
        for c, v in zip(classes, p):
            out[c] = float(v)
        return out

    def triage_proba(self, features: dict[str, float]) -> float | None:
        if self.triage is None:
            return None
        p = self.triage.predict_proba(self._row(features))[0]
        classes = [int(c) for c in self.triage.classes_]
        return float(p[classes.index(1)]) if 1 in classes else 0.0

    def predict(self, features: dict[str, float]) -> str:
        probs = self.predict_proba(features)
        return max(probs, key=probs.get)


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def read_card(directory: str) -> dict[str, Any] | None:
    path = os.path.join(directory, CARD_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def check_model_dir(directory: str) -> dict[str, Any]:
    """Verify the model file against its card; return the card. Raises ModelCheckError."""
    model_path = os.path.join(directory, MODEL_FILE)
    if not os.path.exists(model_path):
        raise ModelCheckError(f"{model_path}: no model file")
    try:
        card = read_card(directory)
    except (OSError, ValueError) as exc:
        raise ModelCheckError(f"{directory}: unreadable model card ({exc})") from None
    if not card:
        raise ModelCheckError(f"{directory}: no {CARD_FILE}")
    want = card.get("sha256")
    got = sha256_file(model_path)
    if not want or want != got:
        raise ModelCheckError(f"{model_path}: sha256 {got[:12]}... does not match the card ({str(want)[:12]}...)")
    have = runtime_versions()
    for lib in ("sklearn", "numpy"):
        trained = (card.get("versions") or {}).get(lib)
        if not trained or _major_minor(trained) != _major_minor(have[lib]):
            raise ModelCheckError(f"{model_path}: trained with {lib} {trained}, installed {have[lib]}")
    return card


def _unpickle(path: str) -> dict[str, Any]:
    import gzip

    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
        return pickle.load(fh)


def load_model(path: str, *, trust: bool = False) -> FaultModel:
    """Load a model directory (or its ``model.pkl``) given by a user.

    Refuses to unpickle anything unless ``trust=True`` (the file could run arbitrary code).
    With ``trust=True`` the card check still runs when a card is present."""
    directory = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    model_path = os.path.join(directory, MODEL_FILE) if os.path.isdir(path) else path
    if not os.path.exists(model_path):
        raise FaultlensError(f"{path}: no such model")
    if not trust:
        raise UntrustedModelError(
            f"{model_path}: refusing to load a model file (pickle can run code); pass --trust-model if you trust it")
    card = None
    if os.path.exists(os.path.join(directory, CARD_FILE)) and os.path.basename(model_path) == MODEL_FILE:
        card = check_model_dir(directory)
    try:
        return FaultModel(_unpickle(model_path), card)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, KeyError) as exc:
        raise ModelCheckError(f"{model_path}: cannot load model ({type(exc).__name__}: {exc})") from None


_SHIPPED: dict[str, Any] = {}
_SHIPPED_LOCK = threading.Lock()


def load_shipped(directory: str | None = None) -> FaultModel | None:
    """The shipped model, or ``None`` (one warning) when absent or when its check fails.
    Thread-safe: ``faultlens run`` loads it in the background while the program trains."""
    directory = directory or SHIPPED_DIR
    with _SHIPPED_LOCK:
        return _load_shipped(directory)


def _load_shipped(directory: str) -> FaultModel | None:
    if directory in _SHIPPED:
        return _SHIPPED[directory]
    model: FaultModel | None = None
    if os.path.exists(os.path.join(directory, MODEL_FILE)):
        try:
            card = check_model_dir(directory)
            model = FaultModel(_unpickle(os.path.join(directory, MODEL_FILE)), card)
        except Exception as exc:  # noqa: BLE001 - any failure means: no model, rules only
            warnings.warn(f"faultlens: shipped diagnosis model not used: {exc}", RuntimeWarning, stacklevel=2)
            model = None
    _SHIPPED[directory] = model
    return model


def save_model(directory: str, bundle: dict[str, Any], card: dict[str, Any]) -> str:
    """Write ``model.pkl`` and ``model_card.json`` (with the file's sha256 and versions)."""
    os.makedirs(directory, exist_ok=True)
    model_path = os.path.join(directory, MODEL_FILE)
    bundle = {**bundle, "format": FORMAT}
    import gzip

    with gzip.GzipFile(model_path, "wb", compresslevel=9, mtime=0) as fh:  # forests compress ~5x
        pickle.dump(bundle, fh, protocol=4)
    card = {**card, "format": FORMAT, "sha256": sha256_file(model_path), "versions": runtime_versions()}
    with open(os.path.join(directory, CARD_FILE), "w", encoding="utf-8") as fh:
        json.dump(card, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
    _SHIPPED.pop(directory, None)
    return model_path
