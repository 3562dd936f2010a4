"""Shared by the framework tests: run faultlens through its CLI on a program of programs/."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).resolve().parent / "programs"
#: nothing may reach the network (Hugging Face hub, Lightning's tips)
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}


def run_faultlens(program: str, tmp_path: Path, *extra: str, timeout: int = 300) -> tuple[dict, subprocess.CompletedProcess]:
    """``faultlens run programs/<program> --json`` in ``tmp_path`` (the program copied there,
    so a patch check or a run directory never touches the repository)."""
    src = PROGRAMS / program
    dst = tmp_path / program
    dst.write_text(src.read_text())
    out = tmp_path / "report.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), FAULTLENS_CACHE_DIR=str(tmp_path / ".cache"),
               HF_HOME=str(tmp_path / "hf"), **OFFLINE)
    p = subprocess.run([sys.executable, "-m", "faultlens", "run", program, "--json", str(out),
                        "--max-seconds", "240", *extra], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    assert out.exists(), p.stdout[-3000:] + p.stderr[-3000:]
    return json.loads(out.read_text()), p


def events(report: dict) -> dict[tuple[str, str], int]:
    """(event, node) -> count, from the run's trace."""
    con = sqlite3.connect(report["trace"])
    try:
        return {(e, n): c for e, n, c in con.execute("select event, node, count(*) from events group by event, node")}
    finally:
        con.close()


def lines_of(report: dict, fault_type: str) -> list[tuple[int, str]]:
    f = next(f for f in report["faults"] if f["type"] == fault_type)
    return [(loc["line"], loc["role"]) for loc in f["locations"]]
