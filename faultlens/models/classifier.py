"""Trained diagnosis models: loading (checked), predicting.

A model directory holds ``model.pkl`` (a gzip-compressed pickled dict: feature names, the fault-typing
estimator, the optional instability-triage estimator), ``model.npz`` (the same estimators' trees as
plain arrays, see :class:`TreeArrays`; written when both heads are scikit-learn decision trees or
random forests) and ``model_card.json`` (data, features, metrics, versions, and the ``sha256`` of
``model.pkl`` and, as ``arrays_sha256``, of ``model.npz``), plus a human ``MODEL_CARD.md``.

Pickle executes code when loaded, so:

* the shipped model (``faultlens/models/shipped/``) is loaded only when its files' sha256
  equal the card's and the installed scikit-learn / numpy major.minor versions equal the
  ones it was trained with; otherwise :func:`load_shipped` warns once and returns ``None``
  (diagnosis then runs on rules alone) — never an error. With ``model.npz`` it is read from
  there (``numpy.load`` without pickle) and predicts with numpy alone: ``faultlens run``
  never imports scikit-learn, whose import costs seconds;
* a user-supplied model file is never unpickled unless the caller passes ``trust=True``
  (CLI ``--trust-model``); :func:`load_model` raises :class:`UntrustedModelError` otherwise.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import sys
import threading
import warnings
from typing import Any

from faultlens.errors import FaultlensError

FORMAT = "faultlens.model/1"
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shipped")
MODEL_FILE = "model.pkl"
ARRAYS_FILE = "model.npz"
CARD_FILE = "model_card.json"
#: the heads of a bundle, in the order their arrays are written
HEADS = ("typing", "triage")


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
    """The installed scikit-learn and numpy versions. scikit-learn's is read from its installed
    metadata unless it is imported already: the check of a model that predicts from its arrays
    does not import it."""
    import numpy

    if "sklearn" in sys.modules:
        sklearn_version = sys.modules["sklearn"].__version__
    else:
        from importlib.metadata import PackageNotFoundError, version

        try:
            sklearn_version = version("scikit-learn")
        except PackageNotFoundError:
            raise ModelCheckError("scikit-learn is not installed") from None
    return {"sklearn": sklearn_version, "numpy": numpy.__version__}


class TreeArrays:
    """A fitted scikit-learn ``DecisionTreeClassifier`` or ``RandomForestClassifier`` (one output)
    held as numpy arrays; :meth:`predict_proba` returns the estimator's ``predict_proba`` bit for
    bit, computed the way scikit-learn (>= 1.4) computes it:

    * the input is converted to float32 (``validate_data(dtype=np.float32)``), NaN allowed
      (missing-value support), an infinite value raises ``ValueError``;
    * in each tree a sample goes left when its feature is NaN and the node's
      ``missing_go_to_left`` is set, or when it is not NaN and ``<= threshold`` (the float32 value
      compared as a double), right otherwise, down to a leaf, whose ``value`` row (the class
      fractions) is the tree's probability;
    * a forest adds its trees' rows into float64 zeros in tree order, then divides by the number
      of trees.

    All trees' nodes are concatenated: ``left`` / ``right`` hold absolute node indices, a leaf
    points to itself, so that all trees descend together for ``depth`` steps."""

    FIELDS = ("classes", "shape", "roots", "feature", "threshold", "left", "right", "missing_left", "leaf", "value")

    def __init__(self, arrays: dict[str, Any]):
        import numpy as np

        missing = [f for f in self.FIELDS if f not in arrays]
        if missing:
            raise ModelCheckError(f"tree arrays without {', '.join(missing)}")
        self.classes_ = arrays["classes"]
        self.n_features_in_, self.depth, forest = (int(v) for v in arrays["shape"])
        self.forest = bool(forest)
        self.roots = np.asarray(arrays["roots"], dtype=np.intp)
        self.feature = np.asarray(arrays["feature"], dtype=np.intp)
        self.threshold = np.asarray(arrays["threshold"], dtype=np.float64)
        self.left = np.asarray(arrays["left"], dtype=np.intp)
        self.right = np.asarray(arrays["right"], dtype=np.intp)
        self.missing_left = np.asarray(arrays["missing_left"], dtype=bool)
        self.leaf = np.asarray(arrays["leaf"], dtype=np.intp)
        self.value = np.asarray(arrays["value"], dtype=np.float64)

    @classmethod
    def exportable(cls, est: Any) -> bool:
        """Whether ``est`` is a fitted one-output tree or forest classifier of scikit-learn >= 1.4
        (where a classification tree's ``value`` holds class fractions, which ``predict_proba``
        returns as they are)."""
        if "sklearn" not in sys.modules:
            return False  # no scikit-learn estimator exists without scikit-learn imported
        import sklearn
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.tree import DecisionTreeClassifier

        if tuple(int(x) for x in sklearn.__version__.split(".")[:2]) < (1, 4):
            return False
        if type(est) not in (RandomForestClassifier, DecisionTreeClassifier):
            return False
        return getattr(est, "n_outputs_", None) == 1 and hasattr(est, "classes_")

    @classmethod
    def from_estimator(cls, est: Any) -> "TreeArrays":
        import numpy as np

        forest = hasattr(est, "estimators_")
        trees = list(est.estimators_) if forest else [est]
        n_classes = len(est.classes_)
        parts: dict[str, list[Any]] = {k: [] for k in ("roots", "feature", "threshold", "left", "right",
                                                        "missing_left", "leaf", "value")}
        offset = n_leaves = depth = 0
        for tree in trees:
            t = tree.tree_
            n = int(t.node_count)
            is_leaf = np.asarray(t.children_left) == -1
            own = np.arange(n)
            parts["roots"].append(offset)
            parts["left"].append(np.where(is_leaf, own, t.children_left) + offset)
            parts["right"].append(np.where(is_leaf, own, t.children_right) + offset)
            parts["feature"].append(np.where(is_leaf, 0, t.feature))
            parts["threshold"].append(np.where(is_leaf, 0.0, t.threshold))
            parts["missing_left"].append(np.asarray(t.missing_go_to_left, dtype=bool))
            leaf = np.full(n, -1, dtype=np.int64)
            leaf[is_leaf] = np.arange(int(is_leaf.sum())) + n_leaves
            parts["leaf"].append(leaf)
            parts["value"].append(np.asarray(t.value)[is_leaf, 0, :n_classes])
            offset += n
            n_leaves += int(is_leaf.sum())
            depth = max(depth, int(t.max_depth))
        classes = np.asarray(est.classes_)
        if classes.dtype == object:  # read back without pickle: a string array
            classes = classes.astype(str)
        return cls({
            "classes": classes,
            "shape": np.array([int(est.n_features_in_), depth, int(forest)], dtype=np.int64),
            "roots": np.array(parts["roots"], dtype=np.int64),
            "feature": np.concatenate(parts["feature"]).astype(np.int32),
            "threshold": np.concatenate(parts["threshold"]).astype(np.float64),
            "left": np.concatenate(parts["left"]).astype(np.int32),
            "right": np.concatenate(parts["right"]).astype(np.int32),
            "missing_left": np.concatenate(parts["missing_left"]),
            "leaf": np.concatenate(parts["leaf"]).astype(np.int32),
            "value": np.concatenate(parts["value"]).astype(np.float64),
        })

    def arrays(self) -> dict[str, Any]:
        import numpy as np

        return {"classes": self.classes_,
                "shape": np.array([self.n_features_in_, self.depth, int(self.forest)], dtype=np.int64),
                "roots": self.roots.astype(np.int64), "feature": self.feature.astype(np.int32),
                "threshold": self.threshold, "left": self.left.astype(np.int32),
                "right": self.right.astype(np.int32), "missing_left": self.missing_left,
                "leaf": self.leaf.astype(np.int32), "value": self.value}

    def predict_proba(self, X: Any) -> Any:
        import numpy as np

        X32 = np.asarray(X, dtype=np.float32)
        if X32.ndim != 2 or X32.shape[1] != self.n_features_in_:
            raise ValueError(f"X has shape {X32.shape}, the model takes {self.n_features_in_} features")
        if np.isinf(X32).any():
            raise ValueError("Input X contains infinity or a value too large for dtype('float32').")
        rows = np.arange(X32.shape[0])[:, None]
        node = np.broadcast_to(self.roots, (X32.shape[0], len(self.roots)))
        for _ in range(self.depth):
            x = X32[rows, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        per_tree = self.value[self.leaf[node]]  # (samples, trees, classes)
        if not self.forest:
            return per_tree[:, 0, :].copy()
        out = np.zeros((X32.shape[0], self.value.shape[1]), dtype=np.float64)
        for t in range(per_tree.shape[1]):
            out += per_tree[:, t, :]
        out /= per_tree.shape[1]
        return out


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


#: The forests compare features in float32 (largest value about 3.4e38), and a diverging run
#: gives a loss slope of 1e76: finite features are clipped to +/- this bound, at extraction, in
#: training matrices and here, so such a run is diagnosed instead of raising a ValueError.
FEATURE_LIMIT = 1e30


def clip_feature(f: float) -> float:
    """``f`` clipped to +/- FEATURE_LIMIT (NaN stays NaN)."""
    return max(-FEATURE_LIMIT, min(FEATURE_LIMIT, f)) if f == f else f


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return clip_feature(f)


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
    want = card.get("arrays_sha256")
    if want is not None:
        arrays_path = os.path.join(directory, ARRAYS_FILE)
        if not os.path.exists(arrays_path):
            raise ModelCheckError(f"{arrays_path}: no such file (the card lists it)")
        got = sha256_file(arrays_path)
        if want != got:
            raise ModelCheckError(f"{arrays_path}: sha256 {got[:12]}... does not match the card ({str(want)[:12]}...)")
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


def export_arrays(bundle: dict[str, Any]) -> dict[str, Any] | None:
    """The bundle as the arrays of ``model.npz`` (no pickled objects), or None when a head is not
    a tree or forest classifier :class:`TreeArrays` can hold."""
    import numpy as np

    heads = [h for h in HEADS if bundle.get(h) is not None]
    if "typing" not in heads or not all(TreeArrays.exportable(bundle[h]) for h in heads):
        return None
    out: dict[str, Any] = {"format": np.array(FORMAT), "heads": np.array(heads),
                           "feature_names": np.array(list(bundle["feature_names"]), dtype=str),
                           "fault_types": np.array(list(bundle["fault_types"]), dtype=str)}
    for h in heads:
        for k, v in TreeArrays.from_estimator(bundle[h]).arrays().items():
            out[f"{h}.{k}"] = v
    return out


def read_arrays(path: str) -> dict[str, Any]:
    """``model.npz`` -> a bundle whose heads are :class:`TreeArrays` (``numpy.load`` without pickle)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    bundle: dict[str, Any] = {"format": str(data.get("format", "")), "typing": None, "triage": None}
    try:
        bundle["feature_names"] = [str(n) for n in data["feature_names"]]
        bundle["fault_types"] = [str(t) for t in data["fault_types"]]
        for h in (str(x) for x in data["heads"]):
            bundle[h] = TreeArrays({k[len(h) + 1:]: v for k, v in data.items() if k.startswith(h + ".")})
    except KeyError as exc:
        raise ModelCheckError(f"{path}: no {exc} array") from None
    return bundle


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
            if card.get("arrays_sha256") is not None:  # checked: the same trees, no pickle, no scikit-learn
                model = FaultModel(read_arrays(os.path.join(directory, ARRAYS_FILE)), card)
            else:
                model = FaultModel(_unpickle(os.path.join(directory, MODEL_FILE)), card)
        except Exception as exc:  # noqa: BLE001 - any failure means: no model, rules only
            warnings.warn(f"faultlens: shipped diagnosis model not used: {exc}", RuntimeWarning, stacklevel=2)
            model = None
    _SHIPPED[directory] = model
    return model


def save_model(directory: str, bundle: dict[str, Any], card: dict[str, Any]) -> str:
    """Write ``model.pkl``, ``model.npz`` (when :func:`export_arrays` can) and ``model_card.json``
    (with the files' sha256 and the versions)."""
    os.makedirs(directory, exist_ok=True)
    model_path = os.path.join(directory, MODEL_FILE)
    bundle = {**bundle, "format": FORMAT}
    import gzip

    with gzip.GzipFile(model_path, "wb", compresslevel=9, mtime=0) as fh:  # forests compress ~5x
        pickle.dump(bundle, fh, protocol=4)
    card = {k: v for k, v in card.items() if k != "arrays_sha256"}
    card.update(format=FORMAT, sha256=sha256_file(model_path), versions=runtime_versions())
    write_arrays(directory, bundle, card)
    return model_path


def write_arrays(directory: str, bundle: dict[str, Any], card: dict[str, Any]) -> dict[str, Any]:
    """Write the bundle's ``model.npz`` (or remove a stale one when it cannot be exported) and the
    card with its ``arrays_sha256``; returns the card written."""
    import numpy as np

    arrays_path = os.path.join(directory, ARRAYS_FILE)
    arrays = export_arrays(bundle)
    card = {k: v for k, v in card.items() if k != "arrays_sha256"}
    if arrays is None:
        if os.path.exists(arrays_path):
            os.remove(arrays_path)
    else:
        with open(arrays_path, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        card["arrays_sha256"] = sha256_file(arrays_path)
    with open(os.path.join(directory, CARD_FILE), "w", encoding="utf-8") as fh:
        json.dump(card, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
    _SHIPPED.pop(directory, None)
    return card
