"""Feature extraction on synthetic traces and on one small real trace."""
import math
import os

import numpy as np
import pytest

from faultlens.instrumenter.trace import Event, Trace
from faultlens.models.features import GROUPS, extract, group_of

FIX = os.path.join(os.path.dirname(__file__), "..", "corpus", "fixtures", "tiny_mlp.py")


def _trace(loss, *, grad=None, events=True, lr=0.1):
    n = len(loss)
    st = np.arange(n)
    data = {("loss", "loss:a:1:l"): (st, np.asarray(loss, float)),
            ("lr", "opt:a:2:o#g0"): (st, np.full(n, lr)),
            ("opt_step", "opt:a:2:o"): (st, np.arange(1, n + 1, dtype=float))}
    if grad is not None:
        data[("grad_norm_total", "model:a:3:m")] = (st, np.asarray(grad, float))
    evs = []
    if events:
        for s in range(n):
            for q, e in enumerate(("forward", "loss", "zero_grad", "backward", "step")):
                evs.append(Event(s, q, e, None, True, True))
    return Trace(meta={"status": "finished", "steps": n}, data=data, events=evs)


def test_groups_and_names():
    f = extract(_trace(np.linspace(2, 0.1, 50), grad=np.linspace(1, 0.5, 50)), None)
    assert all(group_of(k) in GROUPS for k in f)
    assert all(isinstance(v, float) for v in f.values())
    assert f["loss.log_ratio"] < -1 and f["loss.nonfinite"] == 0.0
    assert f["event.zero_grad_frac"] == 1.0 and f["opt.steps_per_iter"] == 1.0
    assert f["opt.lr_log10"] == pytest.approx(-1.0)


def test_features_are_scale_free():
    base = np.abs(np.sin(np.arange(60))) * 0.1 + np.linspace(3, 1, 60)
    f1 = extract(_trace(base), None)
    f2 = extract(_trace(base * 1000.0), None)
    for k in ("loss.last_over_first", "loss.slope_early", "loss.frac_increasing", "loss.tail_cv"):
        assert f1[k] == pytest.approx(f2[k], rel=1e-6), k


def test_divergence_and_missing_step():
    loss = [2.0, 3.0, 10.0, 1e4, float("nan"), float("nan")]
    f = extract(_trace(loss), None)
    assert f["loss.nonfinite"] == 1.0
    assert f["loss.first_nonfinite_frac"] == pytest.approx(4 / 6)
    t = _trace(np.linspace(2, 1.9, 20))
    t.events = [e for e in t.events if e.event != "step"]
    assert extract(t, None)["event.step_frac"] == 0.0


@pytest.mark.slow
def test_extract_on_a_real_trace(tmp_path):
    from faultlens.analyzer import build_graph  # noqa: F401 - skip cleanly if the analyzer is missing
    from faultlens.instrumenter.runner import execute
    from faultlens.instrumenter.trace import load_trace

    tp = str(tmp_path / "trace.sqlite")
    res = execute(FIX, ["--seed", "0"], tp, tee=False)
    trace = load_trace(tp)
    f = extract(trace, res.graph)
    groups = {group_of(k) for k, v in f.items() if not math.isnan(v)}
    assert {"loss", "grad", "weight", "opt", "event", "data", "static"} <= groups
    assert f["static.loss_ce"] == 1.0 and f["static.opt_sgd"] == 1.0
    assert f["event.step_frac"] > 0.9


NET = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, {h1})
        self.fc2 = nn.Linear({h1}, 32)
        self.out = nn.Linear(32, 4)
        self.act = nn.{act}()

    def forward(self, x):
        x = self.act(self.fc1(x))
        x = {mid}
        return {tail}


model = Net()
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.parameters(), lr={lr})
'''


def _net(h1=32, act="ReLU", mid="self.act(self.fc2(x))", tail="self.out(x)", lr=1e-3):
    from faultlens.analyzer import build_graph

    return build_graph(NET.format(h1=h1, act=act, mid=mid, tail=tail, lr=lr))


def test_structure_of_a_healthy_net():
    from faultlens.models.features import structure_features

    f = structure_features(_net())
    # one activation module applied twice counts twice (forward keeps repeats)
    assert f["static.linear_chain_frac"] == 0.0 and f["static.stacked_act_frac"] == 0.0
    assert f["static.hidden_act_kinds"] == 1.0 and f["static.hidden_act_minority_frac"] == 0.0
    assert f["static.output_acts"] == 0.0 and f["static.output_act_unexpected"] == 0.0
    assert f["static.bottleneck_log2"] == 0.0 and f["static.n_outputs_log2"] == 2.0
    assert f["static.no_bias_frac"] == 0.0 and f["static.norm_per_weight_layer"] == 0.0


RECURRENT_CELLS = """
import torch
import torch.nn as nn


class Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(1, 8)
        self.cell = nn.CELL(8, 16)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        h = torch.zeros(x.size(0), 16)
        outs = []
        for x_t in x.split(1, dim=1):
            h = self.cell(self.inp(x_t), h)
            outs.append(self.head(h))
        return torch.cat(outs, dim=1)


model = Seq()
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
"""


@pytest.mark.parametrize("cell", ["RNNCell", "GRUCell"])
def test_a_recurrent_cell_between_weight_layers_is_nonlinear(cell):
    # input projection -> cell -> head: the cell's gates make it no single linear map
    from faultlens.analyzer import build_graph
    from faultlens.models.features import structure_features

    f = structure_features(build_graph(RECURRENT_CELLS.replace("CELL", cell)))
    assert f["static.linear_chain_frac"] == 0.0


def test_structure_shows_each_architecture_fault():
    from faultlens.models.features import structure_features

    removed = structure_features(_net(mid="self.fc2(x)"))           # activation removed
    assert removed["static.linear_chain_frac"] == 0.5
    mixed = structure_features(_net(mid="torch.sigmoid(self.fc2(x))"))  # one activation changed
    assert mixed["static.hidden_act_kinds"] == 2.0 and mixed["static.hidden_act_minority_frac"] == 0.5
    stacked = structure_features(_net(mid="torch.relu(self.act(self.fc2(x)))"))
    assert stacked["static.stacked_act_frac"] > 0
    after = structure_features(_net(tail="torch.relu(self.out(x))"))  # ReLU on CrossEntropy logits
    assert after["static.output_acts"] == 1.0 and after["static.output_act_unexpected"] == 1.0
    from faultlens.analyzer import build_graph

    src = NET.format(h1=32, act="ReLU", mid="self.act(self.fc2(x))", tail="self.out(x)", lr=1e-3)
    nobias = structure_features(build_graph(src.replace("nn.Linear(8, 32)", "nn.Linear(8, 32, bias=False)")))
    assert nobias["static.no_bias_frac"] == pytest.approx(1 / 3)
    narrow = structure_features(_net(h1="max(1, int(32 * 0.0625))"))  # width 2 below 4 outputs
    assert narrow["static.min_hidden_width_log2"] == 1.0
    assert narrow["static.bottleneck_log2"] < -3 and narrow["static.min_width_over_outputs_log2"] == -1.0


def test_relative_features_use_the_task_scale():
    import math as _m

    g = _net(lr=1e-2)
    t = _trace(np.linspace(_m.log(4), 0.1, 40), lr=1e-2)
    st = np.arange(40)
    t.data[("accuracy", "loss:a:1:l")] = (st, np.linspace(0.25, 1.0, 40))
    t.data[("val_loss", "loss:a:1:l")] = (st, np.r_[np.linspace(1.4, 0.5, 20), np.linspace(0.5, 1.0, 20)])
    f = extract(t, g)
    assert f["loss.first_over_uniform"] == pytest.approx(1.0, abs=0.1)
    assert f["loss.acc_last_over_chance"] > 0.9 and f["loss.acc_max_over_chance"] == pytest.approx(1.0)
    assert f["opt.lr_over_default_log10"] == pytest.approx(1.0)  # ten times Adam's default
    assert f["loss.val_slope_late"] > 0 and 0.4 < f["loss.val_argmin_frac"] < 0.6
    assert f["loss.val_last_over_min"] == pytest.approx(2.0, rel=0.01)
    # the same run without a graph: no class count, no optimizer kind -> missing, never guessed
    f0 = extract(t, None)
    assert "loss.first_over_uniform" not in f0 or math.isnan(f0["loss.first_over_uniform"])
    assert "opt.lr_over_default_log10" not in f0


def test_activation_inside_the_loss_call_is_seen():
    from faultlens.analyzer import build_graph
    from faultlens.models.features import static_features

    src = NET.format(h1=32, act="ReLU", mid="self.act(self.fc2(x))", tail="self.out(x)", lr=1e-3)
    plain = static_features(build_graph(src + "loss = loss_fn(model(x), y)\n"))
    assert plain["static.loss_input_acts"] == 0.0 and plain["static.softmax_then_ce"] == 0.0
    double = static_features(build_graph(src + "loss = loss_fn(torch.softmax(model(x), dim=-1), y)\n"))
    assert double["static.loss_input_acts"] == 1.0 and double["static.loss_input_unexpected"] == 1.0
    assert double["static.softmax_then_ce"] == 1.0


def test_epochs_steps_per_epoch_and_class_balance():
    t = _trace(np.linspace(2, 1, 40))
    # four epochs of ten steps: an epoch event opens each
    t.events += [Event(s, -1, "epoch", None, True, True) for s in (0, 10, 20, 30)]
    st = np.arange(40)
    for m, v in (("target_min", 0.0), ("target_max", 9.0), ("target_is_int", 1.0)):
        t.data[(m, "model:a:3:m")] = (st, np.full(40, v))
    t.data[("target_mean", "model:a:3:m")] = (st, np.full(40, 4.5))
    t.data[("target_std", "model:a:3:m")] = (st, np.full(40, 2.87))
    f = extract(t, None)
    assert f["event.epochs_log2"] == 2.0 and f["event.steps_per_epoch_log2"] == pytest.approx(np.log2(10))
    assert f["data.target_mean_pos"] == pytest.approx(0.5) and f["data.target_std_over_range"] == pytest.approx(0.319, abs=1e-3)
    # most samples of the lower classes gone: the mean moves up, the spread shrinks
    t.data[("target_mean", "model:a:3:m")] = (st, np.full(40, 6.8))
    t.data[("target_std", "model:a:3:m")] = (st, np.full(40, 1.6))
    g = extract(t, None)
    assert g["data.target_mean_pos"] > 0.7 and g["data.target_std_over_range"] < 0.2


def test_crash_features_describe_the_crash_not_the_program():
    t = _trace(np.linspace(2, 1.5, 5))
    f = extract(t, None)
    assert f["event.crash_kind_shape_mismatch"] == 0.0 and f["event.crash_says_target"] == 0.0
    assert "event.crash_step_log2" not in f or math.isnan(f["event.crash_step_log2"])
    t.meta["status"] = "crashed"
    t.meta["crash"] = {"kind": "shape_mismatch", "type": "ValueError", "step": 3,
                       "message": "Target size (torch.Size([8])) must be the same as input size (torch.Size([8, 1]))",
                       "node": "loss:train.py:40:loss_fn", "layer": None}
    g = extract(t, None)
    assert g["loss.crashed"] == 1.0 and g["event.crash_kind_shape_mismatch"] == 1.0
    assert g["event.crash_type_ValueError"] == 1.0 and g["event.crash_at_loss"] == 1.0
    assert g["event.crash_at_layer"] == 0.0 and g["event.crashed_in_layer"] == 0.0
    assert g["event.crash_says_target"] == 1.0 and g["event.crash_says_shape"] == 1.0
    assert g["event.crash_step_log2"] == 2.0


def test_steps_per_epoch_uneven_and_one_epoch_event_per_step():
    t = _trace(np.linspace(2, 1, 15))
    t.events += [Event(s, -1, "epoch", None, True, True) for s in (0, 3, 8)]   # epochs of 3, 5 and 7 steps
    assert extract(t, None)["event.steps_per_epoch_log2"] == pytest.approx(np.log2(5))
    # a step loop taken for the epoch loop: one "epoch" a step, counted without a quadratic scan
    n = 20000
    u = _trace(np.linspace(2, 1, n))
    u.events += [Event(s, -1, "epoch", None, True, True) for s in range(n)]
    f = extract(u, None)
    assert f["event.steps_per_epoch_log2"] == 0.0 and f["event.epochs_log2"] == pytest.approx(np.log2(n))
