"""``faultlens export RUN --tensorboard DIR``: a run's trace as TensorBoard event files.

Every recorded series becomes a scalar: tag ``<metric>/<node>`` (``loss/loss:train.py:31:criterion``,
``grad_norm/layer:model.py:12:Net.fc1``), one point per recorded step, so the curves faultlens
judged open in the tool people already use (``tensorboard --logdir DIR``). Trace events (epoch
boundaries, evaluation passes) become a text summary, and so does the run's meta (status, stop
reason, argv). Written with ``torch.utils.tensorboard.SummaryWriter``, which needs the
``tensorboard`` package (the ``faultlens[tensorboard]`` extra).
"""
from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any

from faultlens.errors import FaultlensError, UsageError


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export", help="write a run's trace in another format (TensorBoard)",
        description="Write the trace of a faultlens run (a run directory or its trace.sqlite) "
                    "as TensorBoard event files.")
    p.add_argument("run", metavar="RUN", help="a run directory (.faultlens/runs/<id>) or its trace.sqlite")
    p.add_argument("--tensorboard", metavar="DIR", required=True,
                   help="write TensorBoard event files into DIR (open with: tensorboard --logdir DIR)")
    p.set_defaults(func=run)


def export_tensorboard(trace_path: str, out_dir: str) -> dict[str, int]:
    """Write the trace at ``trace_path`` into ``out_dir``; returns {"series": n, "points": n}."""
    from faultlens.instrumenter.trace import load_trace

    trace = load_trace(trace_path)  # FaultlensError with one line when it is not a trace
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise FaultlensError("export --tensorboard needs the tensorboard package: "
                             "pip install 'faultlens[tensorboard]'") from exc
    os.makedirs(out_dir, exist_ok=True)
    series = points = 0
    writer = SummaryWriter(log_dir=out_dir)
    try:
        for metric, node in trace.metrics():
            steps, values = trace.series(metric, node)
            tag = f"{metric}/{node}" if node else metric
            wrote = False
            for s, v in zip(steps.tolist(), values.tolist()):
                if not math.isfinite(v):
                    continue  # TensorBoard draws no NaN/inf; the trace keeps them
                writer.add_scalar(tag, v, global_step=int(s))
                points += 1
                wrote = True
            series += int(wrote)
        meta = {k: v for k, v in (trace.meta or {}).items()
                if k in ("status", "stop_reason", "steps", "seconds", "argv", "seed", "crash", "program")}
        writer.add_text("faultlens/meta", "```\n" + json.dumps(meta, indent=2, default=str) + "\n```", 0)
        counts: dict[str, int] = {}
        for e in trace.events:
            counts[e.event] = counts.get(e.event, 0) + 1
        writer.add_text("faultlens/events", ", ".join(f"{k}: {n}" for k, n in sorted(counts.items())) or "none", 0)
    finally:
        writer.close()
    return {"series": series, "points": points}


def run(args: argparse.Namespace) -> int:
    path = args.run
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such run directory or trace")
    res = export_tensorboard(path, args.tensorboard)
    print(f"faultlens: wrote {res['series']} series ({res['points']} points) to {args.tensorboard}; "
          f"open with: tensorboard --logdir {args.tensorboard}")
    return 0
