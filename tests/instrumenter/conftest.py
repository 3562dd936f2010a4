"""Fixtures for the instrumenter tests: small training programs under ./programs, run in
this process (torch imported once) or in a child process when the test is about that."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture
def programs(tmp_path) -> Path:
    """A private copy of the test programs (runs may write files next to them)."""
    dst = tmp_path / "programs"
    shutil.copytree(PROGRAMS, dst, ignore=shutil.ignore_patterns("__pycache__", ".faultlens"))
    return dst


@pytest.fixture
def run_inproc(tmp_path):
    """execute() a program in this process with a fresh trace; returns (result, trace)."""
    import torch

    torch.set_num_threads(1)
    from faultlens.instrumenter.runner import execute
    from faultlens.instrumenter.trace import load_trace

    counter = {"n": 0}

    def run(path, argv=(), **kw):
        counter["n"] += 1
        trace = tmp_path / f"trace{counter['n']}.sqlite"
        kw.setdefault("tee", False)
        res = execute(str(path), list(argv), str(trace), cwd=kw.pop("cwd", str(Path(path).parent)), **kw)
        return res, load_trace(str(trace))

    return run


def has_graph() -> bool:
    try:
        from faultlens.analyzer import build_graph  # noqa: F401
    except ImportError:
        return False
    return True


os.environ.setdefault("OMP_NUM_THREADS", "1")
