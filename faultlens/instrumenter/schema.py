"""Trace schema (``faultlens.trace/1``): the names every stage after the instrumenter uses.

A run's trace is one SQLite database (``trace.sqlite`` in the run directory). Why SQLite:
each flush is one transaction, so a killed run leaves every finished step readable (crash
safety without our own file format); it is one file; any SQLite client or
``pandas.read_sql`` opens it; and the corpus builder can copy rows straight into its own
database. ``faultlens.load_trace(path)`` pivots it into columnar numpy arrays.

Tables
------
``meta(key TEXT PRIMARY KEY, value TEXT)``
    JSON values: ``schema``, ``program``, ``argv``, ``graph`` (graph JSON path), ``started``,
    ``finished``, ``status`` (``running``/``finished``/``crashed``/``cut_short``/``interrupted``),
    ``steps``, ``seconds``, ``seed``, ``device``, ``probe_errors`` (list), ``crash`` (dict, see
    :data:`CRASH_KEYS`), ``stop_reason`` (:data:`STOP_REASONS`), ``torch_version``.
    Added by the instrumenter (see docs/trace.md): ``returncode``, ``training_seconds``,
    ``probe_seconds`` ({probe: seconds}), ``probes`` (names), ``sample_every``, ``curvature``,
    ``watched`` ({models, optimizers, losses, loaders, schedulers}: node ids), ``loaders``
    ({node: {batch_size, num_workers, drop_last, batches, dataset_size, type}}), ``run_dir``,
    ``cwd``, ``max_steps``, ``max_seconds``, ``rewrite_skipped``.
``series_keys(id INTEGER PRIMARY KEY, metric TEXT, node TEXT, UNIQUE(metric, node))``
``scalars(step INTEGER, key INTEGER, value REAL)``
    One row per recorded (step, metric, node). Long format on disk, columnar in memory.
``events(step INTEGER, seq INTEGER, event TEXT, node TEXT, training INTEGER, grad_enabled INTEGER)``
    The order of training-step events within each iteration (see :data:`EVENTS`), with the
    module's train/eval mode (``training``) and autograd state at that moment.

Steps
-----
``step`` is the 0-based training-iteration index. The iteration counter advances at the first
training forward (grad enabled) of a watched model after a ``backward`` or optimizer ``step``
has been seen in the current iteration. Forwards with grad disabled are evaluation forwards:
they record ``eval_forward`` events and ``val_*`` metrics at the current step and never
advance it.

Nodes
-----
``node`` is a graph node id (``docs/graph.md``), optionally with a ``#suffix``:
``<layer id>#weight`` for a parameter tensor, ``<optimizer id>#g0`` for a param group,
``<model id>#output`` for the model's final output. A parameter or layer that the graph does not
know (e.g. from an external module) uses ``<model id>#<dotted name>``. When one graph layer stands
for several module instances (a local block class used twice), each instance is
``<layer id>#<module path>`` and its parameters ``<layer id>#<module path>.<param>``. A parameter
of a watched optimizer that no watched model owns is ``<optimizer id>#g<i>.p<j>``. Values with no
known node are not recorded. Without a graph (analyzer missing or failed) the instrumenter makes
ids of the same form (``kind:path:line:var``) that exist in no graph.
"""
from __future__ import annotations

from faultlens.taxonomy import CRASH_KINDS as _CRASH_KINDS

SCHEMA = "faultlens.trace/1"

# --- per step (or sampled) scalar metrics -----------------------------------------------
LOSS_METRICS = (
    "loss",            # training loss value (node: loss node or loss call node)
    "accuracy",        # batch accuracy when outputs are class scores and targets class indices
    "val_loss",        # loss computed with grad disabled (evaluation)
    "val_accuracy",
)
ACTIVATION_METRICS = (  # node: layer id, or <model id>#output for the final output
    "act_mean", "act_std", "act_min", "act_max",
    "act_zero_frac",      # fraction of exact zeros (ReLU-like layers)
    "act_sat_frac",       # fraction saturated (sigmoid: <0.01 or >0.99 of range; tanh: |y|>0.99)
    "act_nonfinite",      # count of NaN/Inf entries
)
PARAM_METRICS = (  # node: <layer id>#<param name>
    "grad_norm", "weight_norm",
    "update_ratio",       # ||w_after - w_before|| / ||w_before|| over one optimizer step
    "grad_zero_frac",     # fraction of exact-zero gradient entries
    "grad_nonfinite", "weight_nonfinite",
)
OPTIMIZER_METRICS = (  # node: <optimizer id>#g<i> for per-group values, <optimizer id> otherwise
    "lr", "momentum", "beta1", "beta2", "weight_decay",
    "opt_step",           # optimizer step count
)
BATCH_METRICS = (  # node: the model id whose forward received the batch
    "input_min", "input_max", "input_mean", "input_std", "input_is_float",
    "target_min", "target_max", "target_mean", "target_std", "target_is_int", "target_numel", "feeds_loss", "val_input_mean", "val_input_std",
    "target_entropy",     # entropy (nats) of the class frequencies of the class-index or 0/1 targets seen so far
)
CURVATURE_METRICS = (  # node: model id (loss curvature on the current batch)
    "lambda_max",         # largest Hessian eigenvalue (power iteration of HVPs)
    "hessian_trace",      # Hutchinson estimate
    "grad_curvature",     # g^T H g / ||g||^2
    "lambda_max_lr",      # lambda_max * lr (stability limit 2 for plain GD; 2(1+beta) heavy ball)
    "stability_limit",    # the limit that applies to this optimizer
    "lambda_max_precond", # Adam/AdamW: largest eigenvalue of P^-1/2 H P^-1/2, P = sqrt(v_hat)+eps
)
GLOBAL_METRICS = (  # node: model id
    "grad_norm_total", "weight_norm_total", "update_ratio_total",
)
AMP_METRICS = (  # node: the optimizer id; one row per scaler.step(optimizer) (mixed precision)
    "amp_scale",          # the GradScaler's loss scale in this iteration (before its update())
    "amp_skipped",        # 1 when the scaler skipped the step (inf/NaN gradients), else 0
)

FUNCTION_METRICS = (  # node: the program's torch.autograd.Function subclass (function node); once per run
    "function_grad_error",   # |analytic - numerical| / max(|.|) of a directional derivative of its backward
    "function_elementwise",  # 1 when its output has its (first) input's shape, else 0
)

ALL_METRICS = (
    LOSS_METRICS + ACTIVATION_METRICS + PARAM_METRICS + OPTIMIZER_METRICS
    + BATCH_METRICS + CURVATURE_METRICS + GLOBAL_METRICS + AMP_METRICS + FUNCTION_METRICS
)

# --- events -------------------------------------------------------------------------------
EVENTS = (
    "forward",        # training forward of a watched model (grad enabled)
    "eval_forward",   # forward with grad disabled
    "loss",           # a watched loss computed
    "zero_grad",
    "backward",
    "clip",           # clip_grad_norm_/clip_grad_value_
    "step",           # optimizer.step()
    "amp_skip",       # scaler.step(optimizer) skipped the step (inf/NaN gradients; mixed precision)
    "sched_step",     # lr scheduler step
    "train",          # model.train() called
    "eval",           # model.eval() called
    "epoch",          # an epoch loop iteration began
)

# --- run status / crash -------------------------------------------------------------------
STATUSES = ("running", "finished", "crashed", "cut_short", "interrupted")
#: Why a run ended (meta ``stop_reason``). ``cut_short`` runs: max_steps, max_seconds,
#: max_seconds_hard (the time budget hit outside a training step), settled (the early stop: the
#: diagnosis could no longer change; meta ``settled`` = {rule, step, since_step, why}, rule
#: ``nonfinite_loss``: the training loss NaN/Inf for 3 consecutive iterations, or
#: ``amp_scale_collapse``: a GradScaler skipped 16 steps in a row), nonfinite_loss (the name older
#: traces give the first rule). Meta ``amp`` (mixed precision): {steps, skipped,
#: longest_skip_run, first_scale, last_scale, min_scale}. Others: None (the program
#: ended), exit (sys.exit; crashed when the status is non-zero), crash, interrupted (Ctrl-C),
#: killed (the process died by a signal), child_failed.
STOP_REASONS = ("max_steps", "max_seconds", "max_seconds_hard", "settled", "nonfinite_loss", "exit", "crash",
                "interrupted", "killed", "child_failed",
                "max_seconds_analysis")  # the time limit ran out in the static analysis: not run
CRASH_KINDS = _CRASH_KINDS  # faultlens.taxonomy; index_range: IndexError / "out of bounds" (a label >= classes)
CRASH_KEYS = (
    "kind",        # one of CRASH_KINDS
    "type",        # exception class name
    "message",     # first line of the message
    "path", "line", "column", "end_line", "end_column",  # the user's statement (1-based)
    "node",        # graph node id of that statement, or None
    "step",        # training step when it happened
    "traceback",   # formatted traceback text (user frames)
    "layer",       # layer node (or <model id>#<path>) of the innermost watched sub-module on the
                   # stack when it was raised (e.g. the Linear whose shapes mismatched), or None
    "frame_line",  # the line of the innermost user frame (inside the statement span above)
)
