"""The instrumenter: rewrite a training program with probe calls, run it, record a trace.

Public entry points (torch is imported only when a program runs)::

    instrument(path) -> str                      # the rewritten source
    run_program(path, argv=(), ...) -> RunResult # run in a child process, write a run dir
    runner.execute(path, argv, trace_path, ...)  # the same run inside this process
    trace.load_trace(path) -> Trace              # read a recorded trace
    trace.read_tables(path) -> (meta, keys, data, events)   # the one reader beneath it

Inside a run: ``runtime`` (what the rewritten program calls, the hooks, ``RunState``),
``watchers`` (records of watched objects), ``probes`` (registered probe classes), ``context``
(``ProbeContext``, the probes' view of a run), ``store`` (``TraceWriter``).

See ``docs/instrumenter.md`` and ``docs/trace.md``.
"""
from __future__ import annotations

from typing import Any

from faultlens._lazy import lazy_exports

__all__ = ["instrument", "run_program", "RunResult", "load_trace", "execute"]


def instrument(path: str, graph: Any = None) -> str:
    """Return the rewritten source of ``path`` (probe calls inserted, same line numbers)."""
    from faultlens.instrumenter.rewrite import rewrite_file
    return rewrite_file(path, graph).code


__getattr__, _ = lazy_exports(__name__, {
    "run_program": "faultlens.instrumenter.runner", "RunResult": "faultlens.instrumenter.runner",
    "execute": "faultlens.instrumenter.runner",
    "load_trace": "faultlens.instrumenter.trace", "Trace": "faultlens.instrumenter.trace",
})
