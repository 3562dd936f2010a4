"""The external benchmark's manifest (``manifest.json`` here) and its materialisation: the
definitions live in :mod:`faultlens.corpus.external` (the real-program corpus reads programs
through them too); this module binds them to this folder's manifest and stand-ins.
No third-party code is committed: programs are named by repository, commit and path.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1]) not in sys.path:  # run from a checkout without faultlens installed
    sys.path.insert(0, str(HERE.parents[1]))

from faultlens.corpus import external as _x  # noqa: E402
from faultlens.corpus.external import (FAULT_TYPES, Case, ManifestError, _edit_lines, cases, check,  # noqa: E402,F401
                                       good_clean, hurts, read_score, split_of)

MANIFEST = HERE / "manifest.json"
STANDINS = HERE / "standins"


def load(path: Path = MANIFEST, *, fragments: bool = True) -> dict[str, Any]:
    """This folder's manifest (with ``fragments/*.json`` appended)."""
    return _x.load(path, fragments=fragments)


def materialise(case: Case, data: dict[str, Any], sources: Path, workdir: Path) -> dict[str, Any]:
    return _x.materialise(case, data, sources, workdir, STANDINS)


def run_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return _x.run_env(extra, STANDINS)


def from_standins_text(path: Path, spec: dict[str, Any]) -> None:
    _x.from_standins_text(path, spec, STANDINS)
