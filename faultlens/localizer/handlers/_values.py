"""Patches that change a number (a learning rate, epochs, a batch size, a decay factor, weight
decay), shared by the handlers of those types: the value is replaced where it is defined, or
on the run's command line when that is where it came from."""
from __future__ import annotations

import ast
from typing import Any

from faultlens.analyzer.reads import read_elsewhere
from faultlens.localizer import _hp_definitions, resolve_path
from faultlens.localizer import source as src
from faultlens.edits.structural import ReplaceExpr
from faultlens.localizer.handlers._base import EditPlan
from faultlens.localizer.patches import CommandLine, fmt_num


#: optimizer arguments whose definition, when other code reads it too (a hand-written update, a
#: second optimizer), is left alone: the patch edits the flagged optimizer's own argument. A loop
#: bound (epochs, batch size) read by log lines or a scheduler's horizon is edited where defined,
#: so that its readers follow.
_EXCLUSIVE = {"lr", "weight_decay", "momentum"}


def value_target(g: Any, consumer: Any, arg: str, hp: str) -> tuple[str, Any, float | None] | None:
    """(abspath, span, current value) of the literal that defines ``consumer``'s ``arg``."""
    defs = _hp_definitions(g, consumer.id, arg) if consumer is not None else []
    if not defs:
        # no uses edge (e.g. a value read through args inside a function): the definitions of
        # that hyperparameter name, when there is exactly one with a literal value
        named = [h for h in g.nodes("hyperparameter", hp=hp) if h.get("value_span")]
        if len(named) == 1:
            defs = named
    shared = False
    for h in defs:
        vs = h.get("value_span")
        v = h.get("value")
        if vs and isinstance(v, (int, float)) and not isinstance(v, bool):
            if consumer is not None and hp in _EXCLUSIVE and read_elsewhere(g, h, consumer):
                # other code reads that definition too: edit only the consumer's own argument
                shared = True
                break
            return resolve_path(g, vs["path"]), vs, float(v)
    if consumer is not None and shared:
        sp = (consumer.get("arg_spans") or {}).get(arg)
        v = (consumer.get("args") or {}).get(arg)
        if sp and isinstance(v, (int, float)) and not isinstance(v, bool):
            return resolve_path(g, sp["path"]), sp, float(v)
        return None
    if consumer is not None:
        spans = consumer.get("arg_spans") or {}
        v = (consumer.get("args") or {}).get(arg)
        if arg in spans and isinstance(v, (int, float)) and not isinstance(v, bool):
            sp = spans[arg]
            text = src.lines(resolve_path(g, sp["path"]))[sp["line"] - 1][sp["column"] - 1: sp["end_column"] - 1] \
                if sp["line"] == sp["end_line"] else ""
            try:
                lit = ast.literal_eval(text)
            except Exception:
                lit = None
            if isinstance(lit, (int, float)):
                return resolve_path(g, sp["path"]), sp, float(v)
    return None


def command_line_value(g, consumer, arg, hp, new_value_fn, what) -> CommandLine | None:
    """When the value ``consumer``'s ``arg`` uses came from the run's command line (a
    hyperparameter with ``source: "argv"``), the fix is to the command line, never to the
    argparse default the run did not use."""
    from faultlens.analyzer.argv import ArgSpec, option_text, replace_option
    defs = _hp_definitions(g, consumer.id, arg) if consumer is not None else []
    if not defs:
        defs = [h for h in g.nodes("hyperparameter", hp=hp) if h.get("source") == "argv"]
    h = next((h for h in defs if h.get("source") == "argv"), None)
    if h is None:
        return None
    old = h.get("value")
    if not isinstance(old, (int, float)) or isinstance(old, bool):
        return None
    new = new_value_fn(float(old))
    if new is None or new == old:
        return None
    if isinstance(old, int) and float(new) == int(new):
        new = int(new)
    spec = ArgSpec(h.name, list(h.get("flags") or []), type=h.get("type"))
    run_argv = list(getattr(g, "argv", None) or [])
    argv = replace_option(run_argv, spec, new)
    if argv is None:
        return None
    was = " ".join(h.get("argv") or []) or option_text(spec, old)
    entry = resolve_path(g, g.entry) if getattr(g, "entry", None) else ""
    return CommandLine(entry, argv, f"{what}: run with {option_text(spec, new)} instead of {was} "
                                    f"(the value came from the command line; the default in the program is not used)")


def replace_value(g, consumer, arg, hp, new_value_fn, what) -> EditPlan | CommandLine | None:
    """Replace the value ``consumer``'s ``arg`` uses by ``new_value_fn(old)`` (None: keep it):
    on the command line when it came from there, else at its definition. ``what`` names the
    value in the description (``"learning rate: 3 -> 0.1"``)."""
    cl = command_line_value(g, consumer, arg, hp, new_value_fn, what)
    if cl is not None:
        return cl
    t = value_target(g, consumer, arg, hp)
    if t is None:
        return None
    path, sp, old = t
    new = new_value_fn(old)
    if new is None or new == old:
        return None
    code = fmt_num(new) if not (isinstance(new, float) and new == int(new) and hp in ("epochs", "batch_size")) else str(int(new))
    return path, [ReplaceExpr(sp["line"], sp["column"], code, sp["end_line"], sp["end_column"])], \
        f"{what}: {fmt_num(old)} -> {code}"
