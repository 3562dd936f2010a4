"""Child-process entry of ``faultlens run``: ``python -m faultlens.instrumenter._child RUN.json``.

Reads the run configuration written by :func:`faultlens.instrumenter.runner.run_program`,
runs the program in this process with :func:`~faultlens.instrumenter.runner.execute` and
exits with the program's exit status.
"""
from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    from faultlens._proc import die_with_parent

    with open(argv[0], encoding="utf-8") as fh:
        cfg = json.load(fh)
    die_with_parent()  # a killed `faultlens run` must not leave the training running
    if cfg.get("parent_pid") and os.getppid() != cfg["parent_pid"]:
        return 1  # the parent died before the death signal was armed
    from faultlens.instrumenter.rewrite import ProbeSite, Rewrite
    from faultlens.instrumenter.runner import execute

    graph = None
    if cfg.get("graph_path") and os.path.exists(cfg["graph_path"]):
        from faultlens.analyzer.graph import ProgramGraph
        with open(cfg["graph_path"], encoding="utf-8") as fh:
            graph = ProgramGraph.from_json(fh.read())
    with open(cfg["exec_source"], encoding="utf-8") as fh:
        exec_code = fh.read()
    rw = Rewrite(path=cfg["program"], code=exec_code, exec_code=exec_code,
                 edits=[ProbeSite(0, "watch", n, "") for n in cfg.get("watch_nodes") or []])
    res = execute(cfg["path"], cfg["argv"], cfg["trace_path"], graph=graph, max_steps=cfg["max_steps"],
                  max_seconds=cfg["max_seconds"], curvature=cfg["curvature"], seed=cfg["seed"],
                  cwd=cfg["cwd"], early_stop=cfg["early_stop"], rewrite=rw, tee=False,
                  run_dir=cfg["run_dir"], graph_path=cfg["graph_path"],
                  sample_every=cfg.get("sample_every", 10), deadline=cfg.get("deadline"))
    sys.stdout.flush()
    sys.stderr.flush()
    if res.status == "crashed":
        return res.returncode if isinstance(res.returncode, int) and res.returncode else 1
    if res.status == "interrupted":
        return 130
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.exit(code)
