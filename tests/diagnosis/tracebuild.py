"""A tiny writer of ``trace.sqlite`` files per faultlens/instrumenter/schema.py, for tests that
need synthetic traces (healthy curves and one fault at a time)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

MODEL = "model:train.py:30:model"
OPT = "optimizer:train.py:32:optimizer"
LOSS = "loss:train.py:31:criterion"
L1 = "layer:train.py:10:Net.fc1"
R1 = "layer:train.py:11:Net.act"
L2 = "layer:train.py:12:Net.fc2"


class TraceBuilder:
    def __init__(self) -> None:
        self.meta: dict = {"schema": "faultlens.trace/1", "program": "train.py", "status": "finished"}
        self.scalars: dict[tuple[str, str], list[tuple[int, float]]] = {}
        self.events: list[tuple[int, int, str, str | None, int | None, int | None]] = []

    def series(self, metric: str, node: str, values, steps=None) -> "TraceBuilder":
        values = np.asarray(values, dtype=float)
        steps = np.arange(len(values)) if steps is None else np.asarray(steps)
        self.scalars.setdefault((metric, node), []).extend(zip(steps.tolist(), values.tolist()))
        return self

    def event(self, step: int, event: str, node: str | None = None, training: bool | None = True,
              grad_enabled: bool | None = True) -> "TraceBuilder":
        seq = sum(1 for e in self.events if e[0] == step)
        self.events.append((step, seq, event, node, None if training is None else int(training),
                            None if grad_enabled is None else int(grad_enabled)))
        return self

    def loop_events(self, n: int, order=("zero_grad", "forward", "loss", "backward", "step"),
                    training: bool = True) -> "TraceBuilder":
        nodes = {"zero_grad": OPT, "step": OPT, "forward": MODEL, "loss": LOSS, "backward": LOSS}
        for s in range(n):
            for ev in order:
                self.event(s, ev, nodes.get(ev), training=training if ev == "forward" else True)
        return self

    def write(self, path) -> Path:
        path = Path(path)
        if path.exists():
            path.unlink()
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
        con.execute("CREATE TABLE series_keys(id INTEGER PRIMARY KEY, metric TEXT, node TEXT, UNIQUE(metric, node))")
        con.execute("CREATE TABLE scalars(step INTEGER, key INTEGER, value REAL)")
        con.execute("CREATE TABLE events(step INTEGER, seq INTEGER, event TEXT, node TEXT, training INTEGER, "
                    "grad_enabled INTEGER)")
        meta = dict(self.meta)
        if "steps" not in meta:
            top = max([s for rows in self.scalars.values() for s, _ in rows] + [e[0] for e in self.events] + [-1])
            meta["steps"] = top + 1
        con.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
        for i, ((m, n), rows) in enumerate(self.scalars.items(), start=1):
            con.execute("INSERT INTO series_keys VALUES (?, ?, ?)", (i, m, n))
            con.executemany("INSERT INTO scalars VALUES (?, ?, ?)",
                            [(s, i, v) for s, v in rows])
        con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", self.events)
        con.commit()
        con.close()
        return path


def graph(loss_type: str = "CrossEntropyLoss", lr: float = 0.05, otype: str = "SGD", dropout: bool = False,
          last_op: str | None = None):
    """A ProgramGraph matching the node ids above (what build_graph gives for a small MLP)."""
    from faultlens.analyzer.graph import ProgramGraph, Span

    g = ProgramGraph(root=".", entry="train.py")
    g.files = ["train.py"]

    def sp(line, c0=1, c1=40):
        return Span("train.py", line, c0, line, c1)

    g.add_node("module_class", "Net", sp(8), "class Net(nn.Module):", node_id="module_class:train.py:8:Net", qualname="Net")
    g.add_node("layer", "Net.fc1", sp(10), "self.fc1 = nn.Linear(64, 32)", node_id=L1, layer_type="Linear",
               owner="module_class:train.py:8:Net", args={"0": 64, "1": 32})
    g.add_node("layer", "Net.act", sp(11), "self.act = nn.ReLU()", node_id=R1, layer_type="ReLU", owner="module_class:train.py:8:Net")
    g.add_node("layer", "Net.fc2", sp(12), "self.fc2 = nn.Linear(32, 10)", node_id=L2, layer_type="Linear",
               owner="module_class:train.py:8:Net")
    items = [L1, R1, L2]
    if dropout:
        g.add_node("layer", "Net.drop", sp(13), "self.drop = nn.Dropout(0.5)", node_id="layer:train.py:13:Net.drop",
                   layer_type="Dropout", owner="module_class:train.py:8:Net", args={"p": 0.5})
    if last_op:
        g.add_node("op", "softmax", sp(20), "return F.softmax(x, dim=1)", node_id="op:train.py:20:softmax", op=last_op,
                   owner="module_class:train.py:8:Net")
        items.append("op:train.py:20:softmax")
    for i, n in enumerate(items):
        g.add_edge("module_class:train.py:8:Net", n, "contains", order=i)
    g.add_node("model", "model", sp(30), "model = Net()", node_id=MODEL, var="model", **{"class": "module_class:train.py:8:Net"})
    g.add_node("loss", "criterion", sp(31), f"criterion = nn.{loss_type}()", node_id=LOSS, var="criterion", loss_type=loss_type,
               functional=False, args={})
    g.add_node("optimizer", "optimizer", sp(32), f"optimizer = optim.{otype}(model.parameters(), lr={lr})", node_id=OPT,
               var="optimizer", optimizer_type=otype, params_kind="all", args={"lr": lr},
               arg_spans={"lr": {"path": "train.py", "line": 32, "column": 48, "end_line": 32, "end_column": 52}})
    g.add_edge(OPT, MODEL, "params_of")
    return g


def healthy(n: int = 120, seed: int = 0) -> TraceBuilder:
    """A run that trains well: loss falls from ~2.3 to ~0.15, accuracy rises to ~0.95,
    ordinary gradient / activation / update statistics, unit-scale inputs, logits output."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    tb = TraceBuilder()
    loss = 2.2 * np.exp(-t / (n / 6)) + 0.12 + rng.normal(0, 0.03, n)
    acc = 0.95 - 0.85 * np.exp(-t / (n / 6)) + rng.normal(0, 0.01, n)
    tb.series("loss", LOSS, loss).series("accuracy", LOSS, np.clip(acc, 0, 1))
    tb.series("val_loss", LOSS, loss[::10] + 0.05, t[::10]).series("val_accuracy", LOSS, np.clip(acc[::10] - 0.02, 0, 1), t[::10])
    tb.series("grad_norm", L1 + "#weight", 0.5 + 0.1 * rng.random(n)).series("grad_norm", L2 + "#weight", 0.8 + 0.1 * rng.random(n))
    tb.series("grad_norm", L1 + "#bias", 0.1 + 0.01 * rng.random(n))
    tb.series("update_ratio", L1 + "#weight", 1e-3 * (1 + rng.random(n))).series("update_ratio", L2 + "#weight", 1e-3 * (1 + rng.random(n)))
    tb.series("grad_norm_total", MODEL, 1.0 + 0.2 * rng.random(n)).series("update_ratio_total", MODEL, 1e-3 * (1 + rng.random(n)))
    tb.series("weight_norm_total", MODEL, 10 + 0.01 * t)
    ts = t[::10]
    tb.series("act_zero_frac", R1, 0.45 + 0.05 * rng.random(len(ts)), ts)
    tb.series("act_std", L1, 0.6 + 0.05 * rng.random(len(ts)), ts)
    tb.series("act_min", MODEL + "#output", -5 - rng.random(len(ts)), ts).series("act_max", MODEL + "#output", 6 + rng.random(len(ts)), ts)
    tb.series("input_min", MODEL, -2.5 - rng.random(n)).series("input_max", MODEL, 2.5 + rng.random(n))
    tb.series("input_mean", MODEL, 0.01 * rng.normal(size=n)).series("input_std", MODEL, 1 + 0.02 * rng.normal(size=n))
    tb.series("input_is_float", MODEL, np.ones(n))
    tb.series("lambda_max_lr", MODEL, [0.6, 0.9, 1.1, 1.2], [0, 40, 80, 119]).series("stability_limit", MODEL, [3.8] * 4, [0, 40, 80, 119])
    tb.series("lr", OPT + "#g0", np.full(n, 0.05))
    tb.loop_events(n)
    for s in range(0, n, 10):
        tb.event(s, "eval", MODEL).event(s, "eval_forward", MODEL, training=False, grad_enabled=False).event(s, "train", MODEL)
    return tb
