"""PyTorch Lightning (``lightning.pytorch`` / ``pytorch_lightning``): a callback in every Trainer.

``install(S, trainer_module)`` replaces ``Trainer.__init__`` (through the runtime's ``_patch``,
so ``reset()`` restores it) with one that adds a :class:`Callback` to the ``callbacks`` the
program passes. The callback (see faultlens/integrations/__init__.py for what it feeds):

* ``setup``: watches the LightningModule with the graph's model node for its class;
* ``on_train_start``: watches ``trainer.optimizers`` with the optimizer nodes built in
  ``configure_optimizers`` (matched by type, in order) and the schedulers it returned;
* ``on_train_epoch_start``: an ``epoch`` event on the graph's ``trainer`` node (the
  ``Trainer(...)`` statement that built this trainer);
* the run's meta gets ``framework``: name, max_epochs, max_steps, the trainer node.

Lightning's automatic optimization calls ``optimizer.step(closure)`` with the forward, loss and
backward inside the closure (as LBFGS does): the runtime's step pre-hook opens the iteration
then, so steps count one per optimizer step, exactly as in a plain loop.
"""
from __future__ import annotations

import importlib
from typing import Any

from faultlens.integrations import graph_nodes, match_optimizers, node_at_caller, watch


def install(S: Any, module: Any) -> None:
    from faultlens.instrumenter import runtime as rt
    Trainer = module.Trainer
    root = module.__name__.rsplit(".trainer.trainer", 1)[0]    # lightning.pytorch | pytorch_lightning
    base = importlib.import_module(root + ".callbacks").Callback
    cb_class = _callback_class(base)

    def make(orig):
        def __init__(self, *args, **kwargs):
            s = rt.state()
            if s is not None and s is S:
                node = node_at_caller(s, "trainer", graph_nodes(s, "trainer", framework="lightning"), depth=2)
                given = kwargs.get("callbacks")
                cbs = [] if given is None else (list(given) if isinstance(given, (list, tuple)) else [given])
                kwargs["callbacks"] = cbs + [cb_class(s, node.id if node is not None else None)]
            orig(self, *args, **kwargs)
        return __init__

    rt._patch(S, Trainer, "__init__", make)


def _callback_class(base: type) -> type:
    class FaultlensCallback(base):  # type: ignore[misc, valid-type]
        """faultlens: watches this trainer's module, optimizers and epochs (no effect on training)."""

        def __init__(self, S: Any, node: str | None):
            super().__init__()
            self._S = S
            self._node = node

        def _live(self) -> Any:
            from faultlens.instrumenter import runtime as rt
            s = rt.state()
            return s if s is not None and s is self._S else None

        def setup(self, trainer, pl_module, stage=None):
            s = self._live()
            if s is not None:
                watch(s, model=pl_module)

        def on_train_start(self, trainer, pl_module):
            s = self._live()
            if s is None:
                return
            cls_names = {c.__qualname__ for c in type(pl_module).__mro__}
            nodes = [n for n in graph_nodes(s, "optimizer")
                     if str(n.get("function") or "").endswith(".configure_optimizers")
                     and str(n.get("function")).rsplit(".", 1)[0] in cls_names]
            opts = list(getattr(trainer, "optimizers", []) or [])
            scheds = []
            for cfg in getattr(trainer, "lr_scheduler_configs", []) or []:
                sch = getattr(cfg, "scheduler", None)
                sn = [n for n in graph_nodes(s, "scheduler") if n.get("scheduler_type") == type(sch).__name__]
                scheds.append((sch, sn[0].id if sn else None))
            watch(s, model=pl_module, optimizers=match_optimizers(opts, nodes), scheduler=scheds)
            meta = {"name": "lightning", "trainer": self._node,
                    "max_epochs": getattr(trainer, "max_epochs", None),
                    "max_steps": getattr(trainer, "max_steps", None)}
            s.writer.set_meta(framework=meta)

        def on_train_epoch_start(self, trainer, pl_module):
            s = self._live()
            if s is not None and not s.suspended:
                s.event("epoch", self._node, True)

    return FaultlensCallback
