"""``faultlens export RUN --tensorboard DIR`` writes the trace's series as TensorBoard scalars."""
from __future__ import annotations

import pytest

pytest.importorskip("tensorboard", reason="the tensorboard extra (faultlens[tensorboard]) is not installed")

from faultlens.cli import main  # noqa: E402
from faultlens.instrumenter.trace import load_trace  # noqa: E402


def _scalars(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def test_export_writes_every_series(programs_run, tmp_path, capsys):
    run_dir = programs_run
    out = tmp_path / "tb"
    assert main(["export", str(run_dir), "--tensorboard", str(out)]) == 0
    assert "open with: tensorboard --logdir" in capsys.readouterr().out
    scal = _scalars(out)
    trace = load_trace(str(run_dir))
    node = trace.nodes("loss")[0]
    steps, values = trace.series("loss", node)
    got = scal[f"loss/{node}"]
    assert [s for s, _ in got] == steps.tolist()
    assert [round(v, 4) for _, v in got] == [round(float(v), 4) for v in values]
    assert len(scal) >= 5  # gradients, weights, activations... not just the loss


def test_export_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), "--tensorboard", str(tmp_path / "tb")]) == 2
    not_a_trace = tmp_path / "x.sqlite"
    not_a_trace.write_text("hello")
    assert main(["export", str(not_a_trace), "--tensorboard", str(tmp_path / "tb")]) == 2
    err = capsys.readouterr().err
    assert err.count("faultlens: error:") == 2 and "Traceback" not in err


@pytest.fixture
def programs_run(tmp_path):
    """A finished run of a small program of our own (in this process)."""
    import textwrap

    from faultlens.instrumenter.runner import execute

    p = tmp_path / "train.py"
    p.write_text(textwrap.dedent('''
        import torch
        import torch.nn as nn
        torch.manual_seed(0)
        x = torch.randn(64, 4)
        y = x.sum(1, keepdim=True)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        criterion = nn.MSELoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        for epoch in range(30):
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
    '''))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    res = execute(str(p), [], str(run_dir / "trace.sqlite"), cwd=str(tmp_path), tee=False, sample_every=1)
    assert res.status == "finished"
    return run_dir
