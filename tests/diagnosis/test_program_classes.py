"""Classes of real programs that the diagnosis must read correctly, each shown on a small
program of our own: updates written by hand on raw tensors (any names), and sum-reduced
regression losses."""
from __future__ import annotations

import pytest

from faultlens.api import run

RAW_TENSORS = """
import math
import torch
torch.manual_seed(0)
x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
w0 = torch.randn((), requires_grad=True)
w1 = torch.randn((), requires_grad=True)
w3 = torch.randn((), requires_grad=True)
step_size = 2e-6
for t in range(1500):
    y_pred = w0 + w1 * x + w3 * x ** 3
    loss = (y_pred - y).pow(2).sum()
    loss.backward()
    with torch.no_grad():
        w0 -= step_size * w0.grad
        w1 -= step_size * w1.grad
        w3 -= step_size * w3.grad
        w0.grad = None
        w1.grad = None
        w3.grad = None
"""

SUM_MSE = """
import math
import torch
torch.manual_seed(0)
x = torch.linspace(-math.pi, math.pi, 1000).unsqueeze(1)
y = torch.sin(x)
model = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
criterion = torch.nn.MSELoss(reduction='sum')
optimizer = torch.optim.SGD(model.parameters(), lr=LR)
for t in range(400):
    loss = criterion(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
"""


def _run(tmp_path, name, src):
    p = tmp_path / f"{name}.py"
    p.write_text(src)
    return run(str(p), in_process=True, out_dir=str(tmp_path / f"run_{name}"), max_seconds=60, seed=0)


def test_hand_written_update_on_raw_tensors_is_an_update(tmp_path):
    rep = _run(tmp_path, "raw", RAW_TENSORS)
    assert "missing_update" not in {s["symptom"] for s in rep.symptoms}
    assert rep.verdict == "healthy"


def test_sum_reduced_mse_is_judged_per_element(tmp_path):
    rep = _run(tmp_path, "sum_ok", SUM_MSE.replace("LR", "3e-5"))
    assert "no_better_than_baseline" not in {s["symptom"] for s in rep.symptoms}
    assert rep.verdict == "healthy"


def test_sum_reduced_mse_that_does_not_learn_is_still_caught(tmp_path):
    rep = _run(tmp_path, "sum_stuck", SUM_MSE.replace("LR", "1e-9"))
    assert "no_better_than_baseline" in {s["symptom"] for s in rep.symptoms}
    assert rep.verdict == "faulty"


FEW_STEPS = """
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
torch.manual_seed(0)
d = load_digits()
x = torch.tensor(d.data, dtype=torch.float32) / 16.0
y = torch.tensor(d.target)
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
crit = nn.CrossEntropyLoss()
n_iters = ITERS
for it in range(n_iters):
    opt.zero_grad()
    loss = crit(model(x[:256]), y[:256])
    loss.backward()
    opt.step()
"""


def test_complete_run_with_very_few_steps_is_an_epochs_fault(tmp_path):
    rep = _run(tmp_path, "few", FEW_STEPS.replace("ITERS", "6"))
    assert rep.verdict == "faulty" and rep.faults[0].type == "epochs"
    assert "too_few_steps" in {s["symptom"] for s in rep.symptoms}
    lines = {loc.line for loc in rep.faults[0].locations}
    assert lines & {12, 13}                     # the bound's definition or the loop that uses it


def test_few_steps_cut_by_the_budget_are_not_an_epochs_fault(tmp_path):
    p = tmp_path / "many.py"
    p.write_text(FEW_STEPS.replace("ITERS", "400"))
    rep = run(str(p), in_process=True, out_dir=str(tmp_path / "run_many"), max_steps=6, seed=0)
    assert rep.stop_reason == "max_steps"
    assert "too_few_steps" not in {s["symptom"] for s in rep.symptoms}
    assert all(f.type != "epochs" for f in rep.faults)


SHORT_REGRESSION = """
import torch
import torch.nn as nn
torch.manual_seed(0)
x = torch.linspace(-3, 3, 512).unsqueeze(1)
y = torch.sin(2 * x)
model = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.MSELoss()
n_steps = ITERS
for step in range(n_steps):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
"""


def test_a_short_complete_run_that_ends_mid_descent_is_an_epochs_fault(tmp_path):
    """Class 2 beyond 20 steps: 30 full-batch steps end while the loss still falls steeply
    (the last third of the run gives a quarter or more of the drop) and short of the task
    (R^2 below 0.8) -> epochs, at the bound; 600 steps of the same loop have flattened out."""
    rep = _run(tmp_path, "short30", SHORT_REGRESSION.replace("ITERS", "30"))
    assert "too_few_steps" in {s["symptom"] for s in rep.symptoms}, rep.symptoms
    assert rep.verdict == "faulty" and rep.faults[0].type == "epochs"
    assert {loc.line for loc in rep.faults[0].locations} & {9, 10}
    done = _run(tmp_path, "long600", SHORT_REGRESSION.replace("ITERS", "600"))
    assert "too_few_steps" not in {s["symptom"] for s in done.symptoms}
    assert done.verdict == "healthy"


GOOD_BUT_FALLING = """
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
torch.manual_seed(0)
d = load_digits()
x = torch.tensor(d.data, dtype=torch.float32) / 16.0
y = torch.tensor(d.target)
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
crit = nn.CrossEntropyLoss()
for epoch in range(EPOCHS):
    perm = torch.randperm(len(x))
    for i in range(0, len(x), 32):
        idx = perm[i:i + 32]
        opt.zero_grad()
        loss = crit(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
"""


def test_still_falling_with_a_good_result_is_advice_not_a_fault(tmp_path):
    from faultlens.models.symptoms.loss import GOOD_RESULT
    rep = _run(tmp_path, "good", GOOD_BUT_FALLING.replace("EPOCHS", "4"))
    fired = {s["symptom"] for s in rep.symptoms}
    assert rep.verdict == "healthy" and "still_improving" not in fired, rep.symptoms
    assert "could_train_longer" in fired
    assert "advice: could train longer" in rep.to_text()
    assert 0 < GOOD_RESULT < 1


TUTORIAL_CLASSIFIER = """
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from sklearn.datasets import load_digits

digits = load_digits()
X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
y = torch.tensor(digits.target)
train_ds = TensorDataset(X[:1400], y[:1400])
test_ds = TensorDataset(X[1400:], y[1400:])
train_dataloader = DataLoader(train_ds, batch_size=64, shuffle=True)
test_dataloader = DataLoader(test_ds, batch_size=64)

class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))

model = NeuralNetwork()
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=LR)

def train(dataloader, model, loss_fn, optimizer):
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        pred = model(X)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if batch % 10 == 0:
            print(f"loss: {loss.item():>7f}")

def test(dataloader, model, loss_fn):
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    print(f"Accuracy: {100 * correct / len(dataloader.dataset):>0.1f}%, Avg loss: {test_loss / len(dataloader):>8f}")

for t in range(5):
    print(f"Epoch {t+1}")
    train(train_dataloader, model, loss_fn, optimizer)
    test(test_dataloader, model, loss_fn)
"""


def test_a_tutorial_that_stops_once_the_task_is_learnt_gets_advice(tmp_path):
    """Class 5 (calibration): five epochs of plain SGD end at ~74% held-out accuracy over ten
    classes with the loss still falling, as tutorials do by design: advice, not an epochs fault;
    the same loop at a tenth of the rate ends near chance, clearly short: a fault."""
    rep = _run(tmp_path, "tut", TUTORIAL_CLASSIFIER.replace("LR", "1e-1"))
    fired = {s["symptom"] for s in rep.symptoms}
    assert rep.verdict == "healthy" and "could_train_longer" in fired, rep.symptoms
    short = _run(tmp_path, "short", TUTORIAL_CLASSIFIER.replace("LR", "1e-2"))
    assert short.verdict == "faulty", short.symptoms


MANUAL_NO_RESET = """
import torch
torch.manual_seed(0)
x = torch.randn(64, 100)
y = torch.randn(64, 5)
model = torch.nn.Sequential(torch.nn.Linear(100, 50), torch.nn.ReLU(), torch.nn.Linear(50, 5))
loss_fn = torch.nn.MSELoss(reduction='sum')
learning_rate = 1e-4
for t in range(300):
    loss = loss_fn(model(x), y)
    RESET
    loss.backward()
    with torch.no_grad():
        for param in model.parameters():
            param -= learning_rate * param.grad
"""


@pytest.mark.parametrize("reset, faulty", [("model.zero_grad()", False), ("pass", True)])
def test_hand_written_updates_that_never_clear_gradients(tmp_path, reset, faulty):
    rep = _run(tmp_path, "manual_reset", MANUAL_NO_RESET.replace("RESET", reset))
    fired = {s["symptom"] for s in rep.symptoms}
    assert ("accumulating_gradients" in fired) == faulty
    if faulty:
        assert rep.verdict == "faulty" and rep.faults[0].type == "training_loop"


CAPACITY = """
import torch
import torch.nn as nn
from sklearn.datasets import make_circles
torch.manual_seed(0)
X, Y = make_circles(n_samples=600, noise=0.05, factor=0.5, random_state=0)
x = torch.tensor(X, dtype=torch.float32)
y = torch.tensor(Y)
model = nn.Sequential(
    nn.Linear(2, WIDTH),
    ACT
    nn.Linear(WIDTH, 16),
    nn.ReLU(),
    nn.Linear(16, 2),
)
opt = torch.optim.Adam(model.parameters(), lr=0.01)
crit = nn.CrossEntropyLoss()
for epoch in range(40):
    perm = torch.randperm(len(x))
    for i in range(0, len(x), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = crit(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
"""


def test_capacity_classes(tmp_path):
    ok = _run(tmp_path, "wide", CAPACITY.replace("WIDTH", "32").replace("ACT", "nn.ReLU(),"))
    assert ok.verdict == "healthy" and "capacity_limit" not in {s["symptom"] for s in ok.symptoms}
    src = CAPACITY.replace("WIDTH", "32").replace("ACT\n", "").replace("    nn.ReLU(),\n    nn.Linear(16, 2)",
                                                                        "    nn.Linear(16, 2)")
    lin = _run(tmp_path, "linear", src)
    assert lin.verdict == "faulty" and lin.faults[0].type == "activation", lin.symptoms
    assert {loc.line for f in lin.faults for loc in f.locations} & {9, 10, 11}


NARROW = """
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
torch.manual_seed(0)
d = load_digits()
x = torch.tensor(d.data, dtype=torch.float32) / 16.0
y = torch.tensor(d.target)
hidden = HIDDEN
model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
opt = torch.optim.Adam(model.parameters(), lr=0.01)
crit = nn.CrossEntropyLoss()
for epoch in range(8):
    perm = torch.randperm(len(x))
    for i in range(0, len(x), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = crit(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
"""


def test_narrow_hidden_layer_is_an_architecture_fault(tmp_path):
    ok = _run(tmp_path, "wide_digits", NARROW.replace("HIDDEN", "64"))
    assert ok.verdict == "healthy" and "capacity_limit" not in {s["symptom"] for s in ok.symptoms}
    bad = _run(tmp_path, "narrow_digits", NARROW.replace("HIDDEN", "1"))
    assert bad.verdict == "faulty" and bad.faults[0].type == "architecture", bad.symptoms
    assert {loc.line for f in bad.faults for loc in f.locations} & {9, 10}


def test_hand_written_gradient_ascent_is_a_training_loop_fault(tmp_path):
    src = RAW_TENSORS.replace("w0 -= step_size", "w0 += step_size").replace("w1 -= step_size", "w1 += step_size") \
                     .replace("w3 -= step_size", "w3 += step_size")
    rep = _run(tmp_path, "ascent", src)
    assert rep.verdict == "faulty" and rep.faults[0].type == "training_loop", rep.symptoms
    assert {loc.line for loc in rep.faults[0].locations} & {16, 17, 18}


GAN = """
import torch
import torch.nn as nn
torch.manual_seed(0)
G = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2), nn.Tanh())
D = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1), nn.Sigmoid())
opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
bce = nn.BCELoss()
for it in range(200):
    real = torch.randn(64, 2) * 0.1 + 0.5
    fake = G(torch.randn(64, 4)) * 2.0
    opt_d.zero_grad()
    d_loss = bce(D(real), torch.ones(64, 1)) + bce(D(fake.detach()), torch.zeros(64, 1))
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    g_loss = bce(D(fake), torch.ones(64, 1))
    g_loss.backward()
    opt_g.step()
"""


def test_gan_generator_output_is_not_judged_against_the_loss(tmp_path):
    """Only the outputs that were loss inputs face the loss's contract: the generator's images
    (here in [-2, 2]) never enter BCELoss; the discriminator's probabilities do."""
    rep = _run(tmp_path, "gan", GAN)
    assert "output_range_mismatch" not in {s["symptom"] for s in rep.symptoms}, rep.symptoms
    t = __import__("faultlens.instrumenter.trace", fromlist=["load_trace"]).load_trace(rep.trace)
    fed = {n for (m, n) in t.data if m == "feeds_loss"}
    assert len(fed) == 1 and all(n.endswith(":6:D") for n in fed), fed


MSE_ON_CLASS_INDICES = """
import torch
import torch.nn as nn
torch.manual_seed(0)
x = torch.randn(256, 20)
y = torch.randint(0, 5, (256,))
model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
criterion = nn.MSELoss()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(5):
    for i in range(0, 256, 32):
        opt.zero_grad()
        out = model(x[i:i + 32])
        loss = criterion(out, y[i:i + 32])
        loss.backward()
        opt.step()
"""

HIDDEN_NOT_DETACHED = """
import torch
import torch.nn as nn
torch.manual_seed(0)
data = torch.randn(400, 8, 4)
rnn = nn.GRU(4, 16)
head = nn.Linear(16, 4)
opt = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=1e-3)
crit = nn.MSELoss()
hidden = torch.zeros(1, 8, 16)
for i in range(0, 390, 10):
    opt.zero_grad()
    out, hidden = rnn(data[i:i + 10], hidden)
    loss = crit(head(out), data[i + 1:i + 11])
    loss.backward()
    opt.step()
"""


def test_shape_error_inside_a_regression_loss_given_class_indices_is_the_loss(tmp_path):
    rep = _run(tmp_path, "mse_idx", MSE_ON_CLASS_INDICES)
    assert rep.verdict == "crashed" and rep.faults[0].type == "loss_function"
    lines = {loc.line for loc in rep.faults[0].locations}
    assert {8, 14} <= lines                     # the loss's construction and its call


GAN_FAKE_NOT_DETACHED = """
import torch
import torch.nn as nn
torch.manual_seed(0)
netG = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
netD = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
optD = torch.optim.Adam(netD.parameters(), lr=1e-3)
optG = torch.optim.Adam(netG.parameters(), lr=1e-3)
bce = nn.BCEWithLogitsLoss()
for step in range(100):
    real = torch.randn(32, 2) + 3
    optD.zero_grad()
    fake = netG(torch.randn(32, 8))
    out_fake = netD(fake)
    lossD = bce(netD(real), torch.ones(32, 1)) + bce(out_fake, torch.zeros(32, 1))
    lossD.backward()
    optD.step()
    optG.zero_grad()
    lossG = bce(netD(fake), torch.ones(32, 1))
    lossG.backward()
    optG.step()
"""


def test_backward_through_a_freed_graph_is_the_loop_carrying_state(tmp_path):
    """Located at the statement that carries the state (line 13), after the one that raised,
    and patched there: the patched copy must train (the default patch check)."""
    rep = _run(tmp_path, "hidden", HIDDEN_NOT_DETACHED)
    assert rep.verdict == "crashed" and rep.faults[0].type == "training_loop"
    assert "backward through the graph a second time" in rep.crash["message"]
    assert [(l.role, l.line) for l in rep.faults[0].locations][:2] == [("crash", 15), ("carries", 13)]
    assert rep.faults[0].patch is not None and "hidden.detach()" in rep.faults[0].patch.diff


def test_one_output_fed_undetached_to_two_losses_is_located_at_the_first_use(tmp_path):
    """A GAN's generator output used by the discriminator's loss without detach: the
    generator's backward raises (line 20); the statement to change is the discriminator's use
    (line 14), not the generator's loss or the line that raised."""
    rep = _run(tmp_path, "gan", GAN_FAKE_NOT_DETACHED)
    assert rep.verdict == "crashed" and rep.faults[0].type == "training_loop"
    assert [(l.role, l.line) for l in rep.faults[0].locations][:2] == [("crash", 20), ("carries", 14)]
    assert "netD(fake.detach())" in rep.faults[0].patch.new_source


#: digits split into a training and a test set, with the training set's statistics
DIGITS_SPLIT = """
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
torch.manual_seed(0)
d = load_digits()
x = torch.tensor(d.data, dtype=torch.float32)
y = torch.tensor(d.target)
x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]
mean, std = x_train.mean(), x_train.std()
"""

PREP = DIGITS_SPLIT + """x_train = (x_train - mean) / std
x_test = TEST
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
crit = nn.CrossEntropyLoss()
for epoch in range(15):
    perm = torch.randperm(len(x_train))
    for i in range(0, len(x_train), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = crit(model(x_train[idx]), y_train[idx])
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x_test).argmax(1) == y_test).float().mean().item()
    model.train()
    print(epoch, acc)
"""


def test_train_and_evaluation_preprocessed_differently(tmp_path):
    ok = _run(tmp_path, "prep_ok", PREP.replace("TEST", "(x_test - mean) / std"))
    assert "preprocessing_mismatch" not in {s["symptom"] for s in ok.symptoms} and ok.verdict == "healthy"
    bad = _run(tmp_path, "prep_bad", PREP.replace("TEST", "x_test"))
    assert "preprocessing_mismatch" in {s["symptom"] for s in bad.symptoms}
    assert bad.verdict == "faulty" and bad.faults[0].type == "data_preprocessing", bad.symptoms


def test_gan_with_a_generator_step_missing_is_a_training_loop_fault(tmp_path):
    rep = _run(tmp_path, "gan_no_g_step", GAN.replace("    opt_g.step()\n", ""))
    fired = {s["symptom"]: s for s in rep.symptoms}
    assert "missing_update" in fired and fired["missing_update"]["node"].endswith(":7:opt_g")
    assert rep.verdict == "faulty" and rep.faults[0].type == "training_loop", rep.symptoms
    ok = _run(tmp_path, "gan_ok", GAN)
    assert "missing_update" not in {s["symptom"] for s in ok.symptoms}


def test_few_steps_from_whole_data_set_batches_point_to_the_batch_size(tmp_path):
    src = FEW_STEPS.replace("for it in range(n_iters):\n    opt.zero_grad()\n    loss = crit(model(x[:256]), y[:256])\n"
                            "    loss.backward()\n    opt.step()",
                            "loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=len(x))\n"
                            "for epoch in range(n_iters):\n    for xb, yb in loader:\n        opt.zero_grad()\n"
                            "        loss = crit(model(xb), yb)\n        loss.backward()\n        opt.step()")
    assert "DataLoader" in src
    rep = _run(tmp_path, "full_batch", src.replace("ITERS", "8"))
    fired = {s["symptom"]: s for s in rep.symptoms}
    assert "too_few_steps" in fired and rep.verdict == "faulty"
    assert rep.faults[0].type == "batch_size", rep.symptoms


HEAVY_TAILED_REGRESSION = """
import torch
import torch.nn.functional as F
torch.manual_seed(1)
W = torch.randn(4, 1) * 5
b = torch.randn(1) * 5


def features(x):
    return torch.cat([x.unsqueeze(1) ** i for i in range(1, 5)], 1)


fc = torch.nn.Linear(4, 1)
for step in range(1, 5001):
    x = features(torch.randn(32))
    y = x.mm(W) + b.item()
    fc.zero_grad()
    out = F.smooth_l1_loss(fc(x), y)
    loss = out.item()
    out.backward()
    for p in fc.parameters():
        p.data.add_(-0.1 * p.grad)
    if loss < 1e-3:
        break
print(f"loss {loss:.6f} after {step} batches")
"""


def test_a_regression_that_succeeds_on_raw_polynomial_features_is_healthy(tmp_path):
    """Features x**4 reach ~100 and one fresh batch per step makes the loss swing, but the
    coefficients are recovered: input range is context, the swings are noise around a good
    result (an absolute-error loss judged against the targets' spread), so no fault."""
    rep = _run(tmp_path, "poly", HEAVY_TAILED_REGRESSION)
    names = {s["symptom"] for s in rep.symptoms}
    assert "input_out_of_range" in names  # still reported, as context
    assert rep.verdict == "healthy", (rep.verdict, names)
    text = rep.to_text()
    # the text's loss figures are recorded values: the last one is the program's own last loss
    last = [l for l in text.splitlines() if l.strip().startswith("loss: first")][0]
    assert "-> last 0.000" in last, last


LOG_SOFTMAX_IN_THE_LOOP = """
import torch
import torch.nn as nn
torch.manual_seed(1)
data = [(torch.randn(5), 0), (torch.randn(5), 1), (torch.randn(5), 0)]
model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
loss_function = nn.NLLLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(100):
    for x, label in data:
        model.zero_grad()
        scores = torch.log_softmax(model(x.view(1, -1)), dim=1)
        loss = loss_function(scores, torch.tensor([label]))
        loss.backward()
        optimizer.step()
"""


def test_log_probabilities_made_in_the_loop_are_what_nll_receives(tmp_path):
    """A model returning scores, with log_softmax applied in the loop before NLLLoss (one sample
    per step from a Python list): what the loss receives is judged, not the model's output."""
    rep = _run(tmp_path, "nll_loop", LOG_SOFTMAX_IN_THE_LOOP)
    names = {s["symptom"] for s in rep.symptoms}
    assert "output_range_mismatch" not in names
    assert rep.verdict == "healthy", (rep.verdict, names)
    assert rep.steps == 300


GAN_D_FIRST = """
import torch
import torch.nn as nn
torch.manual_seed(0)
G = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))
D = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1), nn.Sigmoid())
criterion = nn.BCELoss()
d_optimizer = torch.optim.Adam(D.parameters(), lr=2e-3)
g_optimizer = torch.optim.Adam(G.parameters(), lr=2e-3)
data = torch.randn(4096, 2) * 0.3 + torch.tensor([2.0, -1.0])
for epoch in range(3):
    for i in range(0, 4096, 64):
        real = data[i:i + 64]
        d_loss_real = criterion(D(real), torch.ones(64, 1))
        fake = G(torch.randn(64, 8))
        d_loss_fake = criterion(D(fake.detach()), torch.zeros(64, 1))
        d_loss = d_loss_real + d_loss_fake
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()
        fake = G(torch.randn(64, 8))
        g_loss = criterion(D(fake), torch.ones(64, 1))
        g_optimizer.zero_grad()
        g_loss.backward()
        g_optimizer.step()
"""


def test_gan_in_tutorial_order_clean_and_with_the_generator_step_missing(tmp_path):
    """The discriminator runs first and again after its step (the usual tutorial order): one
    iteration per batch; the clean GAN is not a fault although its losses move against each
    other; without g_optimizer.step() the discriminator wins and the losses blow up, which the
    missing step explains: training_loop first, not learning_rate."""
    ok = _run(tmp_path, "gan_d_first", GAN_D_FIRST)
    assert ok.steps == 192 and ok.verdict == "healthy", (ok.steps, ok.symptoms)
    bad = _run(tmp_path, "gan_d_first_no_g_step", GAN_D_FIRST.replace("        g_optimizer.step()\n", ""))
    assert "missing_update" in {s["symptom"] for s in bad.symptoms}
    assert bad.verdict == "faulty" and bad.faults[0].type == "training_loop", [f.type for f in bad.faults]
    # located where the generator's update is missing, after its backward (not at the
    # discriminator's backward, the loop's first one), and patched with the idle optimizer
    lines = [(loc.role, loc.line) for loc in bad.faults[0].locations]
    assert ("related", 24) in lines and not any(ln == 19 for _, ln in lines), lines
    assert bad.faults[0].patch is not None and "+        g_optimizer.step()" in bad.faults[0].patch.diff


LSTM_CLASSIFIER = """
import torch
import torch.nn as nn
torch.manual_seed(0)
n, T, C = 512, 12, 6
y = torch.randint(0, C, (n,))
x = torch.randn(n, T, 4) * 0.3
x[torch.arange(n), :, 0] += (y.float() / C).unsqueeze(1)
x[torch.arange(n), :, 1] += torch.sin(y.float()).unsqueeze(1)


class Rnn(nn.Module):
    def __init__(self, in_dim, hidden_dim, n_class):
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden_dim, batch_first=True)
        self.classifier = nn.Linear(hidden_dim, n_class)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.classifier(out[:, -1, :])


model = Rnn(4, HIDDEN, C)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for epoch in range(15):
    for i in range(0, n, 64):
        optimizer.zero_grad()
        loss = criterion(model(x[i:i + 64]), y[i:i + 64])
        loss.backward()
        optimizer.step()
"""


def test_a_one_unit_recurrent_state_is_an_architecture_fault(tmp_path):
    """Capacity (issue 13 class 4) for recurrent layers: an LSTM with hidden_size 1 before six
    classes is architecture, located at the LSTM's construction and at the call argument that
    sets its width; the same program with 32 units fires no capacity limit."""
    bad = _run(tmp_path, "lstm1", LSTM_CLASSIFIER.replace("HIDDEN", "1"))
    cap = [s for s in bad.symptoms if s["symptom"] == "capacity_limit"]
    assert cap and cap[0]["node"].endswith("Rnn.lstm"), bad.symptoms
    assert bad.verdict == "faulty" and bad.faults[0].type == "architecture", [f.type for f in bad.faults]
    lines = [loc.line for loc in bad.faults[0].locations]
    assert 15 in lines and 23 in lines, lines   # nn.LSTM(...) and Rnn(4, 1, C)
    ok = _run(tmp_path, "lstm32", LSTM_CLASSIFIER.replace("HIDDEN", "32"))
    assert "capacity_limit" not in {s["symptom"] for s in ok.symptoms}


WEIGHT_DECAY = """
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
torch.manual_seed(0)
d = load_digits()
x = torch.tensor(d.data, dtype=torch.float32) / 16.0
y = torch.tensor(d.target)
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
optimizer = OPT
criterion = nn.CrossEntropyLoss()
for epoch in range(6):
    perm = torch.randperm(len(x))
    for i in range(0, len(x), 64):
        idx = perm[i:i + 64]
        optimizer.zero_grad()
        loss = criterion(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
"""


@pytest.mark.parametrize("opt", [
    "torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1.0)",        # coupled L2: weights shrink
    "torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=100.0)",   # decoupled: a loss floor
])
def test_weight_decay_far_too_strong_is_a_regularization_fault(tmp_path, opt):
    """The regularization class: every curve looks ordinary (the loss falls a little and
    settles), the optimizer's recorded weight decay is far outside the settings in use, and
    the run shows its effect (shrinking weights or a loss floor); located at the keyword."""
    rep = _run(tmp_path, "wd", WEIGHT_DECAY.replace("OPT", opt))
    assert "strong_weight_decay" in {s["symptom"] for s in rep.symptoms}, rep.symptoms
    assert rep.verdict == "faulty" and rep.faults[0].type == "regularization"
    assert 10 in {loc.line for loc in rep.faults[0].locations}


@pytest.mark.parametrize("opt", [
    "torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)",
    "torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)",
])
def test_weight_decay_in_the_usual_range_is_not_a_fault(tmp_path, opt):
    rep = _run(tmp_path, "wd_ok", WEIGHT_DECAY.replace("OPT", opt))
    assert "strong_weight_decay" not in {s["symptom"] for s in rep.symptoms}
    assert rep.verdict == "healthy", rep.symptoms


SAMPLED_BATCHES_LM = """
import torch
import torch.nn as nn
import torch.nn.functional as F
torch.manual_seed(0)
text = "the cat sat on the mat and the dog ran to the park " * 200
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text])
X = torch.stack([data[i:i + 3] for i in range(len(data) - 3)])
Y = data[3:]
emb = nn.Embedding(len(chars), 8)
model = nn.Sequential(emb, nn.Flatten(), nn.Linear(24, 64), nn.Tanh(), nn.Linear(64, len(chars)))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
for step in range(STEPS):
    ix = torch.randint(len(X), (64,))
    loss = F.cross_entropy(model(X[ix]), Y[ix])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
"""


def test_one_loop_of_sampled_mini_batches_is_not_full_batch_training(tmp_path):
    """A language model's single ``for step in range(N)`` over sampled mini-batches takes one
    optimizer step per iteration of its only loop: that is no whole-data-set batch, so a run cut
    at 40 steps is not a batch_size fault (the full-batch reading needs a batch loop inside the
    epoch loop) but a short run that ended mid-descent (epochs); the same loop run to 200 steps
    has learnt its text and is healthy."""
    short = _run(tmp_path, "lm40", SAMPLED_BATCHES_LM.replace("STEPS", "40"))
    assert short.verdict == "faulty" and short.faults[0].type == "epochs", short.faults
    assert "batch_size" not in [f.type for f in short.faults[:1]]
    long = _run(tmp_path, "lm200", SAMPLED_BATCHES_LM.replace("STEPS", "200"))
    assert long.verdict == "healthy", long.symptoms


CLAMP_NET = """
import torch
torch.manual_seed(0)
N, D_in, H, D_out = 64, 100, 50, 10
x = torch.randn(N, D_in)
y = torch.randn(N, D_out)

class TwoLayerNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear1 = torch.nn.Linear(D_in, H)
        self.linear2 = torch.nn.Linear(H, D_out)

    def forward(self, x):
        return self.linear2(self.linear1(x).clamp(min=0))

model = TwoLayerNet()
INIT
criterion = torch.nn.MSELoss(reduction='sum')
optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
for t in range(500):
    loss = criterion(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
"""


def test_weights_initialised_to_one_constant_in_a_loop_are_the_init(tmp_path):
    """Class 8's loop form: ``nn.init.constant_`` over ``model.parameters()`` makes every hidden
    unit the same unit, so the loss stays at a floor: weight_initialization at the init call,
    not activation -- ``.clamp(min=0)`` is the network's ReLU, so no linear chain is read."""
    init = "for p in model.parameters():\n    torch.nn.init.constant_(p, 0.01)"
    rep = _run(tmp_path, "const", CLAMP_NET.replace("INIT", init))
    assert rep.verdict == "faulty" and rep.faults[0].type == "weight_initialization", (rep.faults, rep.symptoms)
    assert 19 in {loc.line for loc in rep.faults[0].locations}
    assert "activation" not in [f.type for f in rep.faults]        # the clamp is a nonlinearity
    hit = [s for s in rep.symptoms if s["symptom"] == "capacity_limit"]
    assert hit and "one constant" in hit[0]["message"]
    clean = _run(tmp_path, "clamp", CLAMP_NET.replace("INIT", ""))
    assert clean.verdict == "healthy", clean.symptoms


MSE_ON_INDICES = """
import torch
import torch.nn as nn
from sklearn.datasets import load_iris
torch.manual_seed(0)
X, y = load_iris(return_X_y=True)
X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
y = torch.tensor(y)
net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
loss_fn = LOSS
opt = torch.optim.Adam(net.parameters(), lr=1e-2)
for epoch in range(40):
    perm = torch.randperm(150)
    for i in range(0, 150, 30):
        idx = perm[i:i + 30]
        out = net(X[idx])
        loss = loss_fn(out, TARGET)
        opt.zero_grad()
        loss.backward()
        opt.step()
"""


def test_a_regression_loss_given_class_indices_is_the_loss(tmp_path):
    """Class 3 without a crash: MSELoss between three class scores and the class index (one
    float per sample, broadcast) trains without error and learns the wrong thing -> the loss,
    at its construction; the same net with CrossEntropyLoss is healthy."""
    bad = MSE_ON_INDICES.replace("LOSS", "nn.MSELoss()").replace("TARGET", "y[idx].float().unsqueeze(1)")
    rep = _run(tmp_path, "mse_idx", bad)
    assert "regression_loss_on_class_indices" in {s["symptom"] for s in rep.symptoms}, rep.symptoms
    assert rep.verdict == "faulty" and rep.faults[0].type == "loss_function"
    assert 10 in {loc.line for loc in rep.faults[0].locations}
    good = MSE_ON_INDICES.replace("LOSS", "nn.CrossEntropyLoss()").replace("TARGET", "y[idx]")
    ok = _run(tmp_path, "ce_idx", good)
    assert "regression_loss_on_class_indices" not in {s["symptom"] for s in ok.symptoms}


PIPELINE_LIB = """
import torch


class Normalize:
    def __init__(self, mean, std):
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def __call__(self, x):
        return x.sub_(self.mean).div_(self.std)
"""

FETCH_PROGRAM = """
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset
from sklearn.datasets import load_digits
from pipeline import Normalize

d = load_digits()


class Digits(Dataset):
    def __init__(self, transform):
        self.x = torch.tensor(d.data / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
        self.y = torch.tensor(d.target)
        self.transform = transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.transform(self.x[i].clone()), self.y[i]


loader = DataLoader(Digits(Normalize(MEAN_STD)), batch_size=64, shuffle=True)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(3):
    for x, y in loader:
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""


UNEVEN_SAMPLES = """
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
torch.manual_seed(0)
samples = [(torch.randn(8, 8 if i % 7 else 7), i % 10) for i in range(640)]
loader = DataLoader(samples, batch_size=64, shuffle=True)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(3):
    for x, y in loader:
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""


@pytest.mark.parametrize("where", ["library", "program"])
def test_a_crash_while_the_data_loop_fetches_a_batch_is_the_preprocessing(tmp_path, where):
    """Class 3 by the crashing statement's role: an error raised while ``for x, y in loader``
    fetches the next batch is the data pipeline's, not the model's architecture -- whether it
    comes from the library (samples of uneven shape that the default collate cannot stack; the
    loop's line is the program's last frame) or from the program's own Dataset (a
    three-channel Normalize applied to one-channel images in ``__getitem__``)."""
    if where == "library":
        src = UNEVEN_SAMPLES
    else:
        src = PIPELINE_LIB + FETCH_PROGRAM.replace("from pipeline import Normalize", "")
        src = src.replace("MEAN_STD", "(0.5, 0.5, 0.5), (0.5, 0.5, 0.5)")
    rep = _run(tmp_path, f"fetch_{where}", src)
    assert rep.verdict == "crashed" and rep.faults[0].type == "data_preprocessing", rep.faults


OWN_LOSS_CLASSIFIER = """
import torch
import torch.nn as nn
import torch.nn.functional as F
torch.manual_seed(0)
x = torch.randn(1024, 20)
y = LABELS


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(20, 3)

    def forward(self, inp, targets=None):
        logits = self.fc(inp)
        return logits if targets is None else F.cross_entropy(logits, targets)


model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(5):
    for i in range(0, 1024, 32):
        loss = model(x[i:i + 32], y[i:i + 32])
        opt.zero_grad()
        loss.backward()
        opt.step()
"""


def test_a_classifier_no_better_than_the_class_frequencies_is_faulty(tmp_path):
    """Labels unrelated to the inputs: the cross-entropy cannot fall below the entropy of the
    class frequencies (about 0.90 nats for 60/30/10%). The model computes its own loss, so the
    targets are read from its forward's arguments. The same program with labels the inputs
    determine learns and is healthy."""
    blind = _run(tmp_path, "blind", OWN_LOSS_CLASSIFIER.replace(
        "LABELS", "torch.multinomial(torch.tensor([0.6, 0.3, 0.1]), 1024, replacement=True)"))
    sym = {s["symptom"]: s for s in blind.symptoms}
    assert blind.verdict == "faulty" and "no_better_than_baseline" in sym
    assert "entropy of the class frequencies" in sym["no_better_than_baseline"]["message"]
    learns = _run(tmp_path, "learns", OWN_LOSS_CLASSIFIER.replace(
        "LABELS", "(x[:, 0] > 0.3).long() + (x[:, 1] > 0.8).long()"))
    assert learns.verdict == "healthy", [s["symptom"] for s in learns.symptoms]


TWO_PLAYER_GAME = """
import torch
import torch.nn as nn
torch.manual_seed(0)
G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
optD = torch.optim.Adam(D.parameters(), lr=1e-3)
optG = torch.optim.Adam(G.parameters(), lr=GLR)
bce = nn.BCEWithLogitsLoss()
for step in range(300):
    real = torch.randn(64, 2) * 0.5 + torch.tensor([2.0, -1.0])
    fake = G(torch.randn(64, 4))
    optD.zero_grad()
    lossD = bce(D(real), torch.ones(64, 1)) + bce(D(fake.detach()), torch.zeros(64, 1))
    lossD.backward()
    optD.step()
    optG.zero_grad()
    lossG = bce(D(fake), torch.ones(64, 1))
    lossG.backward()
    optG.step()
"""


def test_a_gan_player_that_barely_moves_is_a_learning_rate_fault(tmp_path):
    """The loss curves of a minimax game are not judged; the players' update rates are: a
    generator whose step is 1e5x too small barely moves while the discriminator trains."""
    slow = _run(tmp_path, "gslow", TWO_PLAYER_GAME.replace("GLR", "1e-8"))
    assert slow.verdict == "faulty" and slow.faults[0].type == "learning_rate"
    assert "adversary_imbalance" in {s["symptom"] for s in slow.symptoms}
    ok = _run(tmp_path, "gok", TWO_PLAYER_GAME.replace("GLR", "1e-3"))
    assert ok.verdict == "healthy", [s["symptom"] for s in ok.symptoms]


SATURATING_STEP = """
import torch
import torch.nn as nn
torch.manual_seed(0)
x = torch.randn(512, 10)
y = (x[:, 0] + x[:, 1] > 0).float().unsqueeze(1)
model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
crit = nn.BCELoss()
opt = torch.optim.SGD(model.parameters(), lr=50.0)
for epoch in range(20):
    for i in range(0, 512, 32):
        opt.zero_grad()
        loss = crit(model(x[i:i + 32]), y[i:i + 32])
        loss.backward()
        opt.step()
"""


def test_gradients_that_die_during_training_are_a_learning_rate_fault(tmp_path):
    """A step so large that the sigmoid output saturates at 0/1: every gradient is exactly zero
    from then on and the loss stays high."""
    rep = _run(tmp_path, "dead", SATURATING_STEP)
    assert rep.verdict == "faulty" and rep.faults[0].type == "learning_rate"
    assert "dead_gradients" in {s["symptom"] for s in rep.symptoms}


OUT_OF_SCALE_INIT = """
import math
import torch
torch.manual_seed(0)
x = torch.linspace(-math.pi, math.pi, 500)
y = torch.sin(x)


class Cubic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.coef = torch.nn.Parameter(torch.randn(4) * SCALE)

    def forward(self, t):
        return self.coef[0] + self.coef[1] * t + self.coef[2] * t ** 2 + self.coef[3] * t ** 3


model = Cubic()
opt = torch.optim.SGD(model.parameters(), lr=5e-3)
crit = torch.nn.MSELoss()
for step in range(1500):
    opt.zero_grad()
    loss = crit(model(x), y)
    loss.backward()
    opt.step()
"""


def test_weights_that_training_must_shrink_tenfold_point_to_the_init(tmp_path):
    big = _run(tmp_path, "big", OUT_OF_SCALE_INIT.replace("SCALE", "100"))
    assert big.verdict == "faulty"
    assert "shrinking_weights" in {s["symptom"] for s in big.symptoms}
    assert "weight_initialization" in [f.type for f in big.faults]
    ok = _run(tmp_path, "unit", OUT_OF_SCALE_INIT.replace("SCALE", "1"))
    assert "shrinking_weights" not in {s["symptom"] for s in ok.symptoms}


DEMO_LAYER_THEN_MSE_ON_INDICES = """
import torch
import torch.nn as nn
import torch.nn.functional as F
torch.manual_seed(0)
demo = nn.Linear(5, 3)                      # a tutorial's demo of a layer, called once
print(demo(torch.randn(2, 5)))
words = torch.randint(0, 2, (40, 26)).float()
labels = (words[:, 0] > 0).long()


class BoW(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(26, 2)

    def forward(self, v):
        return F.log_softmax(self.linear(v), dim=1)


model = BoW()
loss_function = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(10):
    for i in range(40):
        model.zero_grad()
        log_probs = model(words[i:i + 1])
        loss = loss_function(log_probs, labels[i:i + 1])
        loss.backward()
        optimizer.step()
"""


def test_a_demo_layer_called_first_does_not_hide_the_model_that_trains(tmp_path):
    """A module called once before training (the tutorials' demo layers) records its batch first;
    the symptoms read the model that trains (the longest series), so MSE between two class
    scores and class indices is seen, and it explains the vanishing updates it causes."""
    rep = _run(tmp_path, "demo", DEMO_LAYER_THEN_MSE_ON_INDICES)
    assert "regression_loss_on_class_indices" in {s["symptom"] for s in rep.symptoms}
    assert rep.verdict == "faulty" and rep.faults[0].type == "loss_function"


OPT_BUILD = """
import torch
import torch.nn as nn
from sklearn.datasets import load_breast_cancer
X, y = load_breast_cancer(return_X_y=True)
X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
y = torch.tensor(y, dtype=torch.float32).unsqueeze(1)
model = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = OPTIMIZER
crit = nn.BCEWithLogitsLoss()
for epoch in range(50):
    optimizer.zero_grad()
    loss = crit(model(X), y)
    loss.backward()
    optimizer.step()
"""


@pytest.mark.parametrize("ctor,ftype", [
    # SGD swapped for Adam, its momentum argument kept: Adam takes none
    ("torch.optim.Adam(model.parameters(), lr=0.01, momentum=0.9)", "optimizer"),
    # torch.optim's check of the rate ("Invalid learning rate: -0.01")
    ("torch.optim.SGD(model.parameters(), lr=-0.01)", "learning_rate"),
])
def test_a_crash_building_the_optimizer_is_the_optimizers(tmp_path, ctor, ftype):
    src = OPT_BUILD.replace("OPTIMIZER", ctor)
    rep = _run(tmp_path, "optbuild", src)
    assert rep.verdict == "crashed"
    assert rep.faults[0].type == ftype, [(f.type, f.summary) for f in rep.faults]
    line = next(i for i, ln in enumerate(src.splitlines(), 1) if ln.startswith("optimizer ="))
    assert line in {loc.line for loc in rep.faults[0].locations}


ZERO_HEAD = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
torch.manual_seed(0)
X, y = load_digits(return_X_y=True)
X = torch.tensor(X / 16.0, dtype=torch.float32)
y = torch.tensor(y)


class Gated(nn.Module):
    # a per-feature gate that starts as the identity (weights zero, bias one), like a spatial
    # transformer's localisation head, in front of a classifier
    def __init__(self):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 64))
        self.gate[2].weight.data.zero_()
        self.gate[2].bias.data.fill_(1.0)
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = x * self.gate(x)
        return self.fc2(F.relu(self.fc1(x)))


model = Gated()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for epoch in range(EPOCHS):
    for i in range(0, 1500, 50):
        opt.zero_grad()
        loss = F.cross_entropy(model(X[i:i + 50]), y[i:i + 50])
        loss.backward()
        opt.step()
"""


def test_a_zero_initialised_output_layer_of_a_sub_network_is_no_symmetry_fault(tmp_path):
    from faultlens.analyzer import build_graph
    from faultlens.models.symptoms.graph_facts import GraphFacts

    p = tmp_path / "gated.py"
    p.write_text(ZERO_HEAD.replace("EPOCHS", "3"))
    gf = GraphFacts.of(build_graph(str(p)))
    (init,) = [n for n in gf.graph.nodes("init") if "weight" in str(n.get("target"))]
    assert gf.init_layer(init).get("module_path") == "gate.2"
    assert gf.output_layer_init(init) and not gf.symmetric_init(init)
    # the same zero init of the gate's hidden layer leaves its units alike
    p.write_text(ZERO_HEAD.replace("self.gate[2].weight.data.zero_()", "self.gate[0].weight.data.zero_()"))
    gf = GraphFacts.of(build_graph(str(p)))
    (init,) = [n for n in gf.graph.nodes("init") if "weight" in str(n.get("target"))]
    assert not gf.output_layer_init(init) and gf.symmetric_init(init)
    rep = _run(tmp_path, "gated", ZERO_HEAD.replace("EPOCHS", "3"))
    assert "weight_initialization" not in [f.type for f in rep.faults]


CONFIG_LM = """
import json
import torch
import torch.nn as nn
import torch.nn.functional as F
torch.manual_seed(0)
cfg = json.load(open(CFG))
text = "the quick brown fox jumps over the lazy dog and the cat sat on the mat " * 60
chars = sorted(set(text))
data = torch.tensor([chars.index(c) for c in text])
V, T = len(chars), 16


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 64)
        self.pos = nn.Embedding(T, 64)
        self.mix = nn.Linear(64, 64)
        self.ln = nn.LayerNorm(64)
        self.head = nn.Linear(64, V)

    def forward(self, idx):
        h = self.emb(idx) + self.pos(torch.arange(idx.shape[1]))
        h = h + torch.relu(self.mix(h)).cumsum(1) / torch.arange(1, idx.shape[1] + 1).view(1, -1, 1)
        return self.head(self.ln(h))


model = TinyLM()
optimizer = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.1)
sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: min(1.0, (it + 1) / 50))
for it in range(600):
    ix = torch.randint(0, len(data) - T - 1, (32,))
    xb = torch.stack([data[i:i + T] for i in ix])
    yb = torch.stack([data[i + 1:i + T + 1] for i in ix])
    loss = F.cross_entropy(model(xb).view(-1, V), yb.view(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    sched.step()
"""


@pytest.mark.parametrize("lr, verdict", [(1e-3, "healthy"), (0.5, "learning_rate")])
def test_a_learning_rate_read_from_a_config_file_is_judged_as_recorded(tmp_path, lr, verdict):
    """The rate comes from a JSON file (as nanoGPT-style configs exec'd at start do): the
    analyzer cannot resolve it, so the rules that compare it with the optimizer's usual range
    read the rate the run recorded (its peak under a warmup). AdamW at 0.5 with clipping and
    weight decay stalls without a blow-up: a learning-rate fault, not the weight decay's."""
    cfg = tmp_path / "config.json"
    cfg.write_text(f'{{"lr": {lr}}}')
    rep = _run(tmp_path, "cfg_lm", CONFIG_LM.replace("CFG", repr(str(cfg))))
    if verdict == "healthy":
        assert rep.verdict == "healthy"
    else:
        assert rep.verdict == "faulty" and rep.faults[0].type == verdict, [(f.type, f.summary) for f in rep.faults]


PREP_ONCE = DIGITS_SPLIT + """x_train = TRAIN
x_test = (x_test - mean) / std
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
crit = nn.CrossEntropyLoss()
DEMO
for epoch in range(2):
    for i in range(0, len(x_train), 32):
        opt.zero_grad()
        loss = crit(model(x_train[i:i + 32]), y_train[i:i + 32])
        loss.backward()
        opt.step()
model.eval()
with torch.no_grad():
    acc = (model(x_test).argmax(1) == y_test).float().mean().item()
print(acc)
"""


def test_one_evaluation_after_training_shows_the_preprocessing_mismatch(tmp_path):
    """The test set is evaluated once, after training (one evaluation record), and the
    training set lost its normalisation: the mismatch is a defect measured directly, and the
    short run's still-falling loss (its consequence) does not make it an epochs fault. The demo
    forward on a raw-scale random tensor before training is no evaluation of the data."""
    demo = "with torch.no_grad():\n    model(torch.rand(1, 64) * 16)   # a demo forward on raw-scale input"
    ok = _run(tmp_path, "once_ok", PREP_ONCE.replace("TRAIN", "(x_train - mean) / std").replace("DEMO", demo))
    assert "preprocessing_mismatch" not in {s["symptom"] for s in ok.symptoms}
    bad = _run(tmp_path, "once_bad", PREP_ONCE.replace("TRAIN", "x_train").replace("DEMO", ""))
    assert "preprocessing_mismatch" in {s["symptom"] for s in bad.symptoms}
    assert bad.verdict == "faulty" and bad.faults[0].type == "data_preprocessing", \
        [(f.type, f.confidence) for f in bad.faults]


MIXUP = """
import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
torch.manual_seed(0)
rng = np.random.default_rng(0)
X, y = load_digits(return_X_y=True)
X = torch.tensor(X / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
y = torch.tensor(y)
net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                    nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(128, 10))
criterion = nn.CrossEntropyLoss()
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
for epoch in range(12):
    perm = torch.randperm(1400)
    for i in range(0, 1400, 50):
        idx = perm[i:i + 50]
        inputs, targets = X[idx], y[idx]
        lam = float(rng.beta(1.0, 1.0))
        index = torch.randperm(inputs.size(0))
        outputs = net(lam * inputs + (1 - lam) * inputs[index])
        loss = lam * criterion(outputs, targets) + (1 - lam) * criterion(outputs, targets[index])
        opt.zero_grad()
        loss.backward()
        opt.step()
"""


def test_mixup_training_accuracy_is_not_judged(tmp_path):
    """Mixup trains one prediction against two mixed label sets: the accuracy the criterion's
    calls show (against one set at a time) stays near one half however well the model learns,
    so the accuracy rules of slow_convergence do not read it; the run is healthy."""
    rep = _run(tmp_path, "mixup", MIXUP)
    assert rep.verdict == "healthy", [(s["symptom"], s["message"]) for s in rep.symptoms]
