"""PyTorch Lightning (docs/frameworks.md): the graph of a LightningModule program, the callback
injected into every Trainer, and whole runs of a faulty and a healthy program.

The graph tests need no Lightning (the analyzer never imports it); the run tests skip when the
``faultlens[lightning]`` extra is not installed.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from faultlens.analyzer import build_graph
from tests.integrations.helpers import PROGRAMS, REPO, events, lines_of, run_faultlens

NEEDS_LIGHTNING = "Lightning support needs lightning: pip install 'faultlens[lightning]'"


# ------------------------------------------------------------------ graph (no lightning needed)
def test_graph_knows_a_lightning_module():
    g = build_graph(str(PROGRAMS / "lightning_lr_too_high.py"))
    cls = g.nodes("module_class")[0]
    assert cls.get("framework") == "lightning" and cls.get("module_base") == "lightning.LightningModule"
    assert cls.get("logged") == {"training_step": ["train_loss"]}
    assert {n.get("module_path") for n in g.nodes("layer")} == {"fc1", "fc2"}
    # the model handed straight to trainer.fit(DigitsMLP(), loader)
    (model,) = g.nodes("model")
    assert model.get("class") == cls.id and model.span.line == 41
    # training_step: the loss, a forward of that model through self(x), a train function
    (loss,) = g.nodes("loss")
    assert loss.get("function") == "DigitsMLP.training_step" and loss.get("loss_type") == "CrossEntropyLoss"
    (fwd,) = g.nodes("call", method="forward")
    assert fwd.get("target") == model.id and fwd.get("receiver") == "self"
    assert [f.get("role") for f in g.nodes("function") if f.name.endswith("training_step")] == ["train"]
    # configure_optimizers: the optimizer it returns, lr from self.hparams.lr = the constructor's default
    (opt,) = g.nodes("optimizer")
    assert opt.get("optimizer_type") == "SGD" and opt.get("params_model") == model.id
    assert opt.get("params_kind") == "all" and opt.get("lr") == 50.0
    hp = g.node(opt.get("arg_hps")["lr"])
    assert hp.get("value") == 50.0 and hp.get("value_span")["line"] == 13 and hp.get("default_of") == "DigitsMLP.__init__"
    # Trainer(max_epochs=3): the epochs hyperparameter
    (tr,) = g.nodes("trainer")
    assert tr.get("framework") == "lightning" and tr.get("max_epochs") == 3
    ep = g.node(tr.get("arg_hps")["max_epochs"])
    assert ep.get("hp") == "epochs" and ep.get("value") == 3 and ep.get("value_span")["line"] == 39


SRC = '''
import pytorch_lightning as pl
import torch
from torch import nn


class Base(pl.LightningModule):
    def __init__(self, lr=0.3, wd=1e-4):
        super().__init__()
        self.save_hyperparameters()
        self.lr = lr
        self.layer = nn.Linear(4, 1)

    def forward(self, x):
        return self.layer(x)

    def shared(self, batch):
        x, y = batch
        return nn.functional.mse_loss(self.forward(x), y)

    def training_step(self, batch, batch_idx):
        return self.shared(batch)


class Child(Base):
    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams["wd"])
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5)
        return [opt], [sched]


model = Child(lr=2.0)
trainer = pl.Trainer(max_steps=50)
trainer.fit(model)
'''


def test_graph_lightning_variants():
    """pytorch_lightning, a subclass of a local LightningModule, lr through ``self.lr`` set from a
    call argument, ``self.hparams["wd"]``, an optimizer assigned then returned with a scheduler,
    a loss in a helper method, Trainer(max_steps=...); ``self.lr`` set in the base's
    ``__init__`` resolves to the subclass call's argument too."""
    g = build_graph(SRC)
    (model,) = g.nodes("model")
    assert model.get("var") == "model"
    (opt,) = g.nodes("optimizer")
    assert opt.get("lr") == 2.0 and opt.get("params_model") == model.id
    lr_hp = g.node(opt.get("arg_hps")["lr"])
    # the call's argument Child(lr=2.0), where a patch edits it
    assert lr_hp.get("value") == 2.0 and lr_hp.get("value_span")["line"] == 32
    assert opt.get("args")["weight_decay"] == 1e-4
    self_lr = [h for h in g.nodes("hyperparameter") if h.get("key") == "self.lr"]
    assert [h.get("value") for h in self_lr] == [2.0]
    (sch,) = g.nodes("scheduler")
    assert sch.get("optimizer") == opt.id
    (loss,) = g.nodes("loss")
    assert loss.get("function") == "Base.shared"
    (fwd,) = g.nodes("call", method="forward")
    assert fwd.get("target") == model.id
    (tr,) = g.nodes("trainer")
    assert tr.get("max_steps") == 50 and tr.get("max_epochs") is None and not tr.get("epochs_is_default")


def test_plain_module_self_is_still_not_a_model():
    """Only LightningModules get ``self`` as a model: an nn.Module's methods stay module code."""
    g = build_graph("import torch\nfrom torch import nn\n\nclass Net(nn.Module):\n"
                    "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 2)\n"
                    "    def forward(self, x):\n        return self.fc(x)\n"
                    "    def step(self, x):\n        return torch.nn.functional.mse_loss(self(x), x)\n\n"
                    "model = Net()\n")
    assert not g.nodes("loss") and not g.nodes("call", method="forward") and not g.nodes("trainer")


# ------------------------------------------------------------------ runtime: the injected callback
def test_callback_injected_only_while_a_run_is_active(tmp_path):
    """configure() imports no framework; a Trainer built during the run gets the callback next to
    the program's own; reset() restores Trainer.__init__ and removes the import hook."""
    pytest.importorskip("lightning", reason=NEEDS_LIGHTNING)
    code = textwrap.dedent(f'''
        import sys
        from faultlens.instrumenter import runtime as rt
        S = rt.configure(trace_path={str(tmp_path / "t.sqlite")!r})
        assert "lightning" not in sys.modules and "transformers" not in sys.modules, "imported a framework"
        import lightning as L
        from lightning.pytorch.trainer import trainer as tmod
        class Mine(L.Callback):
            pass
        t = L.Trainer(callbacks=[Mine()], logger=False, enable_progress_bar=False, enable_checkpointing=False)
        names = [type(c).__name__ for c in t.callbacks]
        assert "Mine" in names and names.count("FaultlensCallback") == 1, names
        t = L.Trainer(callbacks=Mine(), logger=False, enable_progress_bar=False, enable_checkpointing=False)
        assert [type(c).__name__ for c in t.callbacks].count("FaultlensCallback") == 1
        rt.finish("finished"); rt.reset()
        assert not any(type(f).__name__ == "_PostImport" for f in sys.meta_path)
        t = L.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False)
        assert "FaultlensCallback" not in [type(c).__name__ for c in t.callbacks]
        # a later run patches the already imported Trainer at once
        rt.configure(trace_path={str(tmp_path / "t2.sqlite")!r})
        t = L.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False)
        assert "FaultlensCallback" in [type(c).__name__ for c in t.callbacks]
        rt.finish("finished"); rt.reset()
        print("OK")
    ''')
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "OK" in p.stdout, p.stdout + p.stderr


# ------------------------------------------------------------------ whole runs
@pytest.mark.slow
def test_lightning_lr_too_high_is_found_located_and_patched(tmp_path):
    pytest.importorskip("lightning", reason=NEEDS_LIGHTNING)
    r, p = run_faultlens("lightning_lr_too_high.py", tmp_path)
    assert p.returncode == 1 and r["verdict"] == "faulty", p.stdout[-3000:]
    assert r["faults"][0]["type"] == "learning_rate"
    # the constructor's default that self.hparams.lr reads, and the lr= in configure_optimizers
    assert lines_of(r, "learning_rate")[:2] == [(13, "definition"), (29, "use")]
    patch = r["faults"][0]["patch"]
    assert "-    def __init__(self, hidden=32, lr=50.0):" in patch["diff"]
    assert "+    def __init__(self, hidden=32, lr=0.01):" in patch["diff"]
    assert patch["checked"] is True  # a patched copy started training
    ev = events(r)
    # one step per optimizer step, 3 epochs of 29 batches; the callback's epoch events on the Trainer
    assert ev[("step", "optimizer:lightning_lr_too_high.py:29:SGD")] == r["steps"] == 87
    assert ev[("epoch", "trainer:lightning_lr_too_high.py:39:trainer")] == 3
    assert ev[("forward", "model:lightning_lr_too_high.py:41:DigitsMLP")] == 87


@pytest.mark.slow
def test_lightning_clean_is_healthy(tmp_path):
    pytest.importorskip("lightning", reason=NEEDS_LIGHTNING)
    r, p = run_faultlens("lightning_clean.py", tmp_path, "--no-check")
    assert p.returncode == 0 and r["verdict"] == "healthy", p.stdout[-3000:]
    ev = events(r)
    assert ev[("epoch", "trainer:lightning_clean.py:44:trainer")] == 4
    assert ev[("step", "optimizer:lightning_clean.py:31:Adam")] == r["steps"] == 88
    # validation_step's loss is recorded as an evaluation loss (grad disabled)
    assert ev[("loss", "loss:lightning_clean.py:28:cross_entropy")] > 0
    assert ev[("eval_forward", "model:lightning_clean.py:43:model")] > 0


def test_epochs_fault_is_located_and_patched_at_trainer_max_epochs(tmp_path):
    """Too few epochs in a Lightning program: the localizer and the patch go to the Trainer's
    max_epochs= literal (there is no epoch loop in the program)."""
    from types import SimpleNamespace

    from faultlens.localizer import localize
    from faultlens.localizer.patches import make_patch
    prog = tmp_path / "prog.py"
    prog.write_text((PROGRAMS / "lightning_clean.py").read_text())
    g = build_graph(str(prog))
    locs = localize("epochs", g, cwd=str(tmp_path))
    assert [(l.line, l.role, l.column) for l in locs] == [(44, "definition", 36)]
    patch = make_patch(SimpleNamespace(type="epochs", detections=[], nodes=[]), g, cwd=str(tmp_path))
    assert patch is not None and "epochs: 4 -> 12" in patch.description
    assert "L.Trainer(max_epochs=12," in patch.diff
