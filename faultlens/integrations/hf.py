"""Hugging Face ``transformers.Trainer``: a ``TrainerCallback`` in every Trainer.

``install(S, transformers.trainer)`` replaces ``Trainer.__init__`` (through the runtime's
``_patch``; ``reset()`` restores it) with one that adds a callback after the Trainer is built
(``Trainer.add_callback``). The callback:

* ``on_train_begin``: watches the model and the optimizer the Trainer built (the graph's model
  node passed as ``Trainer(model=...)`` and the optimizer node at ``TrainingArguments(...)``,
  whose ``lr`` is its ``learning_rate=``) and the learning-rate scheduler;
* ``on_epoch_begin``: an ``epoch`` event on the graph's ``trainer`` node of that Trainer;
* ``on_evaluate``: ``eval_loss`` as the evaluation loss (``val_loss``) at the current step;
* ``on_log``: the Trainer's own figures (``loss``, ``learning_rate``, ``grad_norm``) go to the
  run's meta (``framework.logs``, the last few), for the report reader; the trace's per-step
  loss, lr and gradient figures come from the runtime's hooks as in any program.

The training loss is the tensor the Trainer calls ``backward()`` on (the model's ``loss``
output): the runtime records it from its ``autograd.backward`` wrapper.
"""
from __future__ import annotations

from typing import Any

from faultlens.integrations import graph_nodes, match_optimizers, node_at_caller, watch

#: on_log records kept in the meta
_KEEP_LOGS = 20


def install(S: Any, module: Any) -> None:
    from faultlens.instrumenter import runtime as rt
    import importlib
    Trainer = module.Trainer
    base = importlib.import_module("transformers.trainer_callback").TrainerCallback
    cb_class = _callback_class(base)

    def make(orig):
        def __init__(self, *args, **kwargs):
            s = rt.state()
            node = None
            if s is not None and s is S:
                node = node_at_caller(s, "trainer", [n for n in graph_nodes(s, "trainer", framework="hf")
                                                     if not str(n.get("trainer_type")).endswith("Arguments")], depth=2)
            orig(self, *args, **kwargs)
            if s is not None and s is S and rt.state() is S:
                self.add_callback(cb_class(S, node.id if node is not None else None,
                                           node.get("training_args") if node is not None else None))
        return __init__

    rt._patch(S, Trainer, "__init__", make)


def _callback_class(base: type) -> type:
    class FaultlensCallback(base):  # type: ignore[misc, valid-type]
        """faultlens: watches this Trainer's model, optimizer, epochs and evaluations."""

        def __init__(self, S: Any, node: str | None, args_node: str | None):
            self._S = S
            self._node = node
            self._args_node = args_node
            self._logs: list[dict[str, Any]] = []
            self._meta: dict[str, Any] = {"name": "hf", "trainer": node, "training_args": args_node}

        def _live(self) -> Any:
            from faultlens.instrumenter import runtime as rt
            s = rt.state()
            return s if s is not None and s is self._S else None

        def _opt_nodes(self, s: Any) -> list[Any]:
            nodes = graph_nodes(s, "optimizer", framework="hf")
            if self._args_node:
                mine = [n for n in nodes if n.get("built_by") == self._args_node]
                nodes = mine or nodes
            return nodes

        def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kw):
            s = self._live()
            if s is None:
                return
            opts = [optimizer] if optimizer is not None else []
            inner = getattr(optimizer, "optimizer", None)  # accelerate's AcceleratedOptimizer wraps it
            if inner is not None and hasattr(inner, "param_groups"):
                opts = [inner]
            watch(s, model=model, optimizers=match_optimizers(opts, self._opt_nodes(s)),
                  scheduler=[(lr_scheduler, None)] if lr_scheduler is not None else [])
            self._meta.update(max_epochs=getattr(args, "num_train_epochs", None),
                              max_steps=getattr(state, "max_steps", None),
                              learning_rate=getattr(args, "learning_rate", None))
            s.writer.set_meta(framework=dict(self._meta))

        def on_epoch_begin(self, args, state, control, **kw):
            s = self._live()
            if s is not None and not s.suspended:
                s.event("epoch", self._node, True)

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            s = self._live()
            if s is None or not metrics:
                return
            v = metrics.get("eval_loss")
            if isinstance(v, (int, float)):
                s.put("val_loss", s.backward_loss.node, float(v))

        def on_log(self, args, state, control, logs=None, **kw):
            s = self._live()
            if s is None or not logs:
                return
            keep = {k: v for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            keep["step"] = getattr(state, "global_step", None)
            self._logs = (self._logs + [keep])[-_KEEP_LOGS:]
            self._meta["logs"] = list(self._logs)
            s.writer.set_meta(framework=dict(self._meta))

    return FaultlensCallback
