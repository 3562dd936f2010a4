"""The custom-Function gradient check (``custom_gradient`` probe): a random projection of the
hand-written backward against central differences of the forward, in the manner of
``torch.autograd.gradcheck``'s fast mode, checked here against functions whose derivative we
know; and the whole path from a program's own ``torch.autograd.Function`` to the trace."""
from __future__ import annotations

import torch

from faultlens.instrumenter.probes.custom_gradient import directional_error


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 3 * x ** 2


class WrongCube(Cube):
    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 2 * x ** 2          # the derivative of x^3 is 3x^2


class RowSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return (x * w).sum(dim=1)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g.unsqueeze(1) * w, g.unsqueeze(1) * x


def test_a_correct_backward_agrees_with_central_differences():
    x = torch.randn(16, 5)
    err, elementwise = directional_error(Cube.apply, (x,), {})
    assert err < 1e-6 and elementwise
    err, elementwise = directional_error(RowSum.apply, (x, torch.randn(16, 5)), {})
    assert err < 1e-6 and not elementwise


def test_a_wrong_derivative_is_far_off_and_the_global_rng_is_untouched():
    x = torch.randn(16, 5)
    state = torch.get_rng_state()
    err, _ = directional_error(WrongCube.apply, (x,), {})
    assert err > 0.2
    assert torch.equal(state, torch.get_rng_state())


def test_nothing_to_check_without_a_float_input():
    assert directional_error(Cube.apply, (torch.arange(5),), {}) is None


RELU_PROGRAM = """
import torch


class MyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        grad_x = grad_output.clone()
        grad_x[x MASK 0] = 0
        return grad_x


torch.manual_seed(0)
torch.set_num_threads(1)
x, y = torch.randn(32, 10), torch.randn(32, 2)
w1 = torch.randn(10, 16, requires_grad=True)
w2 = torch.randn(16, 2, requires_grad=True)
for t in range(300):
    loss = (MyReLU.apply(x.mm(w1)).mm(w2) - y).pow(2).sum()
    loss.backward()
    with torch.no_grad():
        for w in (w1, w2):
            w -= 1e-4 * w.grad
            w.grad.zero_()
"""


def test_the_programs_function_is_checked_once_under_its_graph_node(tmp_path):
    from faultlens.api import run

    got = {}
    for mask in ("<", ">"):
        p = tmp_path / f"relu{'ok' if mask == '<' else 'bad'}.py"
        p.write_text(RELU_PROGRAM.replace("MASK", mask))
        rep = run(str(p), in_process=True, out_dir=str(tmp_path / p.stem), max_seconds=60, seed=0)
        from faultlens.models.symptoms import TraceView
        tv = TraceView.of(rep.trace)
        (node,) = tv.nodes("function_grad_error")
        s, v = tv.series("function_grad_error", node)
        assert node.endswith(":MyReLU") and len(v) == 1
        got[mask] = (float(v[0]), rep)
    assert got["<"][0] < 1e-6 and got[">"][0] > 0.5
    assert got["<"][1].verdict == "healthy"
    bad = got[">"][1]
    assert bad.verdict == "faulty" and bad.faults[0].type == "activation"
    assert bad.faults[0].locations[0].line == 15    # grad_x[x > 0] = 0


STE_PROGRAM = """
import torch


class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x * 4) / 4

    @staticmethod
    def backward(ctx, g):
        return g


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -0.1 * g


torch.manual_seed(0)
x, y = torch.randn(64, 8), torch.randn(64, 1)
w = torch.randn(8, 1, requires_grad=True)
opt = torch.optim.SGD([w], lr=0.01)
for t in range(200):
    pred = GradReverse.apply(RoundSTE.apply(x @ w)) * 0 + x @ w
    loss = (pred - y).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
"""


def test_surrogate_gradients_are_measured_but_not_judged(tmp_path):
    """A straight-through estimator (rounding forward, identity backward) and a gradient
    reversal layer (identity forward, negated backward) differ from their forwards on purpose:
    the analyzer marks them ``surrogate`` and no symptom fires, though the probe measures them."""
    from faultlens.analyzer import build_graph
    from faultlens.api import run
    from faultlens.models.symptoms import TraceView

    p = tmp_path / "ste.py"
    p.write_text(STE_PROGRAM)
    fns = {n.name: n.get("surrogate") for n in build_graph(str(p)).nodes("function")
           if n.get("role") == "autograd_function"}
    assert fns == {"RoundSTE": True, "GradReverse": True}
    rep = run(str(p), in_process=True, out_dir=str(tmp_path / "ste"), max_seconds=60, seed=0)
    tv = TraceView.of(rep.trace)
    errs = [float(tv.series("function_grad_error", n)[1][0]) for n in tv.nodes("function_grad_error")]
    assert len(errs) == 2 and min(errs) > 0.5
    assert "custom_gradient_mismatch" not in {s["symptom"] for s in rep.symptoms}
    assert rep.verdict == "healthy"
