"""Hugging Face ``Trainer`` (docs/frameworks.md): the graph of a Trainer program, the
TrainerCallback injected into every Trainer, and runs of a tiny BERT built from a config
(nothing is downloaded; the hub is switched off) with a too-high learning rate and a healthy one.

The graph tests need no transformers (the analyzer never imports it); the others skip when
the ``faultlens[hf]`` extra is not installed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from faultlens.analyzer import build_graph
from tests.integrations.helpers import OFFLINE, PROGRAMS, REPO, events, lines_of, run_faultlens

NEEDS_HF = "Hugging Face Trainer support needs transformers and accelerate: pip install 'faultlens[hf]'"


def _needs_hf():
    pytest.importorskip("transformers", reason=NEEDS_HF)
    pytest.importorskip("accelerate", reason=NEEDS_HF)


# ------------------------------------------------------------------ graph (no transformers needed)
def test_graph_knows_training_arguments_and_trainer():
    g = build_graph(str(PROGRAMS / "hf_lr_too_high.py"))
    (model,) = g.nodes("model")
    assert model.get("var") == "model" and model.get("class") == "transformers.BertForSequenceClassification"
    args = next(t for t in g.nodes("trainer") if t.get("trainer_type") == "TrainingArguments")
    tr = next(t for t in g.nodes("trainer") if t.get("trainer_type") == "Trainer")
    assert tr.get("framework") == args.get("framework") == "hf"
    assert tr.get("model") == model.id and tr.get("training_args") == args.id and args.get("trainer") == tr.id
    hps = {k: g.node(v) for k, v in args.get("arg_hps").items()}
    assert {k: (h.get("hp"), h.get("value")) for k, h in hps.items()} == {
        "learning_rate": ("lr", 30.0), "num_train_epochs": ("epochs", 3), "per_device_train_batch_size": ("batch_size", 32)}
    assert args.get("max_epochs") == 3
    # the optimizer the Trainer builds (AdamW by default), its lr the learning_rate= literal
    (opt,) = g.nodes("optimizer")
    assert opt.get("optimizer_type") == "AdamW" and opt.get("lr") == 30.0 and opt.get("framework") == "hf"
    assert opt.get("params_model") == model.id and opt.get("arg_hps")["lr"] == args.get("arg_hps")["learning_rate"]
    sp = opt.get("arg_spans")["lr"]
    assert (sp["line"], sp["end_column"] - sp["column"]) == (31, len("30.0"))


def test_graph_hf_defaults_and_argparse():
    """No learning_rate: HF's documented default 5e-5; a value read from argparse is that
    argument's hyperparameter; optim='sgd' builds SGD."""
    src = textwrap.dedent('''
        import argparse
        from transformers import Trainer, TrainingArguments
        import torch

        class Tiny(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(4, 2)
            def forward(self, x, labels=None):
                return {"loss": torch.nn.functional.cross_entropy(self.fc(x), labels)}

        p = argparse.ArgumentParser()
        p.add_argument("--epochs", type=int, default=2)
        a = p.parse_args()
        Trainer(model=Tiny(), args=TrainingArguments("out", num_train_epochs=a.epochs, optim="sgd")).train()
        Trainer(model=Tiny(), args=TrainingArguments("out2")).train()
    ''')
    g = build_graph(src)
    opts = g.nodes("optimizer")
    assert [(o.get("optimizer_type"), o.get("lr"), o.get("lr_is_default")) for o in opts] == [
        ("SGD", 5e-5, True), ("AdamW", 5e-5, True)]
    first = [t for t in g.nodes("trainer") if t.get("trainer_type") == "TrainingArguments"][0]
    ep = g.node(first.get("arg_hps")["num_train_epochs"])
    assert ep.get("source") == "argparse" and ep.get("value") == 2
    assert len(g.nodes("model")) == 2 and all(t.get("model") for t in g.nodes("trainer", trainer_type="Trainer"))


# ------------------------------------------------------------------ runtime: the injected callback
def test_trainer_callback_injected_only_while_a_run_is_active(tmp_path):
    _needs_hf()
    code = textwrap.dedent(f'''
        import sys, torch
        from faultlens.instrumenter import runtime as rt
        rt.configure(trace_path={str(tmp_path / "t.sqlite")!r})
        assert "transformers" not in sys.modules and "lightning" not in sys.modules, "imported a framework"
        from transformers import Trainer, TrainingArguments
        class Tiny(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(4, 2)
        def names(t):
            return [type(c).__name__ for c in t.callback_handler.callbacks]
        args = TrainingArguments({str(tmp_path / "o")!r}, report_to=[], use_cpu=True)
        t = Trainer(model=Tiny(), args=args)
        assert names(t).count("FaultlensCallback") == 1, names(t)
        rt.finish("finished"); rt.reset()
        assert "FaultlensCallback" not in names(Trainer(model=Tiny(), args=args))
        print("OK")
    ''')
    env = dict(os.environ, PYTHONPATH=str(REPO), **OFFLINE)
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0 and "OK" in p.stdout, p.stdout + p.stderr[-3000:]


# ------------------------------------------------------------------ whole runs
@pytest.mark.slow
def test_hf_lr_too_high_is_found_located_and_patched(tmp_path):
    _needs_hf()
    r, p = run_faultlens("hf_lr_too_high.py", tmp_path)
    assert p.returncode == 1 and r["verdict"] == "faulty", p.stdout[-3000:]
    assert r["faults"][0]["type"] == "learning_rate"
    f = r["faults"][0]
    # the learning_rate= literal in TrainingArguments(...)
    lr_locs = [loc for loc in f["locations"] if loc["line"] == 31]
    assert lr_locs and all(loc["column"] == 75 for loc in lr_locs), f["locations"]
    assert lines_of(r, "learning_rate")[0] == (31, "definition")
    diff = f["patch"]["diff"]
    assert "learning_rate=30.0," in diff and "learning_rate=0.001," in diff
    assert f["patch"]["checked"] is True
    ev = events(r)
    # 640 samples / 32 = 20 steps per epoch, 3 epochs; one epoch event each on the Trainer node
    assert ev[("step", "optimizer:hf_lr_too_high.py:31:AdamW")] == r["steps"] == 60
    assert ev[("epoch", "trainer:hf_lr_too_high.py:34:trainer")] == 3
    assert ev[("forward", "model:hf_lr_too_high.py:30:model")] == 60


@pytest.mark.slow
def test_hf_clean_is_healthy_with_eval_losses(tmp_path):
    _needs_hf()
    r, p = run_faultlens("hf_clean.py", tmp_path, "--no-check")
    assert p.returncode == 0 and r["verdict"] == "healthy", p.stdout[-3000:]
    ev = events(r)
    assert ev[("epoch", "trainer:hf_clean.py:34:trainer")] == 10
    assert ev[("eval_forward", "model:hf_clean.py:30:model")] > 0
    import sqlite3
    con = sqlite3.connect(r["trace"])
    n = con.execute("select count(*) from scalars s join series_keys k on s.key = k.id "
                    "where k.metric = 'val_loss'").fetchone()[0]
    con.close()
    assert n == 10  # eval_loss after every epoch (on_evaluate)
