"""Patches: a concrete libcst edit per fault where one is sensible.

``make_patch(fault, graph, *, trace=None, locations=None) -> Patch | None``

The edit comes from the fault type's handler (:mod:`faultlens.localizer.handlers`):
``handler.patch(fault, graph, trace_view, locations)`` returns an edit plan (the file, its
:mod:`faultlens.edits.structural` edits, a description) or a :class:`CommandLine` fix;
``make_patch`` applies the edits, annotates and diffs the result.

What each fault type gets is written on its handler (one module per type under
``faultlens/localizer/handlers/``; docs/report.md lists them); ``architecture`` and ``data``
get no automatic patch (the summary says what to look at).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from faultlens.edits.diff import annotate, diff_path, unified
from faultlens.edits.structural import EditError, apply_edits
from faultlens.localizer.handlers import handler_for


@dataclass
class Patch:
    description: str
    diff: str
    verified: bool | None = None
    path: str = ""          # the patched file (absolute)
    new_source: str = ""
    verification: dict[str, Any] = field(default_factory=dict)
    #: a command-line patch (the value came from the run's argv): the argv to run with; ``diff``
    #: is then empty and ``new_source`` the unchanged source
    argv: list[str] | None = None
    #: the quick check ``faultlens run`` makes by default: True when a short run of the patched
    #: copy started training; None when it was not checked (``verified`` is the full re-run)
    checked: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"description": self.description, "diff": self.diff, "verified": self.verified,
             "checked": self.checked}
        if self.argv is not None:
            d["command_line"] = list(self.argv)
        if self.verification:
            d["verification"] = self.verification
        return d


def round_down(x: float) -> float:
    """Round down to one significant digit (0.0837 -> 0.08)."""
    if x <= 0 or not math.isfinite(x):
        return x
    e = math.floor(math.log10(x))
    m = math.floor(x / 10 ** e + 1e-9)
    return float(f"{m}e{e}")


def fmt_num(x: float) -> str:
    if x == int(x) and abs(x) >= 1:
        return str(int(x))
    s = f"{x:.6g}"
    return s


@dataclass
class CommandLine:
    """A fix of a value the run's command line set: run with other arguments."""

    path: str
    argv: list[str]
    description: str


def make_patch(fault: Any, graph: Any, *, trace: Any = None, locations: list[Any] | None = None,
               cwd: str | None = None) -> Patch | None:
    """Build the patch for one fault (a FaultCandidate) or None when no edit is sensible."""
    if graph is None:
        return None
    g = graph
    t = fault.type
    tv = None
    if trace is not None:
        from faultlens.models.symptoms import TraceView
        tv = TraceView.of(trace)
    try:
        # KeyError too: a type without a handler has no patch
        r = handler_for(t).patch(fault, g, tv, locations)
    except (EditError, OSError, SyntaxError, KeyError, IndexError, TypeError, ValueError):
        r = None
    if r is None:
        return None
    if isinstance(r, CommandLine):
        try:
            with open(r.path, encoding="utf-8") as fh:
                unchanged = fh.read()
        except OSError:
            return None
        return Patch(r.description, "", None, r.path, unchanged, argv=r.argv)
    path, edits, desc = r
    try:
        with open(path, encoding="utf-8") as fh:
            old = fh.read()
        new = apply_edits(old, edits)
    except (OSError, EditError, Exception):
        return None
    if new == old:
        return None
    new = annotate(old, new, desc)
    diff = unified(old, new, diff_path(path, cwd), f"{t}: {desc}")
    return Patch(desc, diff, None, path, new)
