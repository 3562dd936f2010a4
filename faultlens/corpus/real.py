"""Real public programs as corpus subjects (``faultlens corpus build --sources DIR``).

The external benchmark's manifest (``benchmarks/external/manifest.json``, docs/external-benchmark.md)
names real programs by repository, commit and path, with the arguments and stand-in data that run
them offline and the score each prints. This module turns the clean programs of its ``dev`` half
into corpus subjects: each is materialised once from the local clones into
``<db>.subjects/<slug>/`` by faultlens.corpus.external (the benchmark's materialiser too, so the
benchmark and the corpus read one definition), its setup steps are run there, and its run
settings are kept as a plain dict that travels with every job:

``{"root", "entry", "cwd", "argv", "env", "sys_path", "score", "timeout", "seconds"}``

(``entry`` and ``cwd`` relative to ``root``). A job copies ``root`` into its own scratch folder, so
concurrent runs of one program never share an output or checkpoint file, applies the mutant there,
and reads the program's own score with the manifest's regular expression.

The benchmark's ``test`` half never enters the corpus: it stays out of every model, so the test
figures stay unseen (issue: the real-program corpus). The manifest names each program's half.

Budget: ``standin_scale`` multiplies the stand-in data sets' sizes (``FAULTLENS_STANDIN_TRAIN`` /
``_TEST``, or the stand-ins' defaults), the lever that makes thousands of runs affordable on two
cores; originals and mutants of a program run at the same scale, so labels compare like with like.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from faultlens.errors import FaultlensError

DEFAULT_MANIFEST = os.path.join("benchmarks", "external", "manifest.json")
#: the stand-ins' own default sizes (benchmarks/external/standins/torchvision/datasets/vision.py)
STANDIN_DEFAULTS = {"FAULTLENS_STANDIN_TRAIN": 6000, "FAULTLENS_STANDIN_TEST": 1000}
SPLIT = "dev"


def _slug(program_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", program_id)


def scaled_env(env: dict[str, str] | None, scale: float) -> dict[str, str]:
    """The program's environment with the stand-in data sizes multiplied by ``scale`` (at least 64)."""
    out = dict(env or {})
    if scale != 1.0:
        for var, default in STANDIN_DEFAULTS.items():
            n = int(out.get(var, default))
            out[var] = str(max(64, int(round(n * scale))))
    return out


def _spec_hash(program: dict[str, Any], scale: float) -> str:
    keep = {k: v for k, v in program.items() if not k.startswith("_") and k not in ("cases", "plain")}
    return hashlib.sha256(json.dumps([keep, scale], sort_keys=True, default=str).encode()).hexdigest()[:16]


def prepare_subjects(sources: str, db_path: str, *, manifest: str | None = None, standin_scale: float = 0.5,
                     programs: set[str] | None = None,
                     log: Callable[[str], None] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """Materialise the dev half's clean programs; return ``[(program id, entry path, subject)]``.
    A subject folder is made again only when its program's manifest entry or the scale changed."""
    log = log or (lambda m: print(m, file=sys.stderr))
    manifest = manifest or DEFAULT_MANIFEST
    if not os.path.exists(manifest):
        raise FaultlensError(f"{manifest}: no such manifest (pass --manifest, run from the repository root)")
    if not os.path.isdir(sources):
        raise FaultlensError(f"{sources}: no such directory (one folder per repository, as git clone makes it)")
    if not standin_scale > 0:
        raise FaultlensError("--standin-scale must be positive")
    from faultlens.corpus import external as C

    try:
        data = C.load(Path(manifest), fragments=False)
    except (ValueError, OSError) as exc:
        raise FaultlensError(f"{manifest}: {exc}") from None
    base = Path(os.path.abspath(db_path) + ".subjects")
    out: list[tuple[str, str, dict[str, Any]]] = []
    for case in C.cases(data, split=SPLIT):
        if case.expected != "healthy":
            continue
        p = case.program
        if programs and p["id"] not in programs:
            continue
        folder = base / _slug(p["id"])
        stamp = folder / "subject.json"
        want = _spec_hash(p, standin_scale)
        subject: dict[str, Any] | None = None
        if stamp.exists():
            with open(stamp, encoding="utf-8") as fh:
                subject = json.load(fh)
            if subject.get("spec") != want or not os.path.isdir(subject["root"]):
                subject = None
        if subject is None:
            try:
                subject = _materialise(C, case, data, Path(sources), folder, standin_scale, want)
            except Exception as exc:  # noqa: BLE001 - one program that cannot be made is skipped, said
                log(f"faultlens corpus: {p['id']}: cannot prepare ({type(exc).__name__}: {exc})")
                continue
            with open(stamp, "w", encoding="utf-8") as fh:
                json.dump(subject, fh, indent=1)
        out.append((p["id"], os.path.join(subject["root"], subject["entry"]), subject))
    if not out:
        raise FaultlensError(f"{manifest}: no clean dev-half program could be prepared from {sources}")
    return out


def _materialise(C, case, data, sources: Path, folder: Path, scale: float, spec: str) -> dict[str, Any]:
    p = case.program
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    standins = C.standins_of(Path(p["_from"]))
    m = C.materialise(case, data, sources, folder, standins)
    root = Path(m["root"])
    env = scaled_env(p.get("env"), scale)
    run_env = C.run_env(env, standins)
    for step in p.get("setup") or []:
        r = subprocess.run([sys.executable, *step], cwd=m["cwd"], env=run_env, capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            raise FaultlensError(f"setup {' '.join(step)} failed: {(r.stdout + r.stderr)[-300:]}")
    return {"program": p["id"], "repo": p["repo"], "path": p["path"], "spec": spec, "root": str(root),
            "entry": os.path.relpath(m["entry"], root), "cwd": os.path.relpath(m["cwd"], root),
            "argv": [str(a) for a in p.get("argv") or []], "env": env, "sys_path": [str(standins)],
            "score": p["score"], "timeout": float(p.get("timeout", 60)),
            "seconds": float((p.get("plain") or {}).get("seconds") or p.get("timeout", 60)),
            "standin_scale": scale}


def read_score(output: str, score: dict[str, Any]) -> tuple[str, float | None]:
    """``(metric, value)`` from a run's output with the manifest's score spec, turned higher-is-better
    (the corpus labels compare higher-is-better scores): a lower-is-better score is negated."""
    vals = []
    for mt in re.finditer(score["regex"], output or ""):
        try:
            vals.append(float(mt.group(score.get("group", 1))))
        except ValueError:
            vals.append(math.nan)
    if not vals:
        return "score", None
    tail = vals[-int(score.get("k", 1)):]
    v = sum(tail) / len(tail)
    if score.get("better", "lower") == "higher":
        return "score", v
    return "neg_score", -v


def projected_seconds(subject: dict[str, Any] | None, measured: float | None = None) -> float:
    """A job's expected seconds: the median of the program's finished runs when the database has
    some (``measured``), else a guess: 5 s for an own program, and for a real one its plain run
    in the manifest (which includes a fresh interpreter's torch import, about 2 s, that a
    worker pays once) scaled by the data budget."""
    if measured is not None:
        return measured
    if not subject:
        return 5.0
    plain = float(subject.get("seconds", 10.0))
    return max(1.0, (plain - 2.0) * float(subject.get("standin_scale", 1.0)))
