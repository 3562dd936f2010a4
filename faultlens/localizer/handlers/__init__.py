"""Fault handlers: one module per fault type, found by discovery.

Every module of this package whose name does not start with ``_`` is imported on first use and
each :class:`FaultHandler` subclass it defines is registered in :data:`HANDLERS` under its
``fault_type`` (one of the twelve in :data:`faultlens.taxonomy.FAULT_TYPES`; a type registered
twice is an error). :func:`faultlens.localizer.localize` and
:func:`faultlens.localizer.patches.make_patch` dispatch to :func:`handler_for`. The statement
that raised in a crashed run is located for every fault type, before its handler runs, by
:data:`CRASH` (``crash.py``).

Adding a handler = adding a module (its docstring says what it locates and patches) with a
``FaultHandler`` subclass: ``fault_type``, ``locate``, ``patch`` when an edit is sensible, and
``EXAMPLES`` that ``tests/localizer/test_handler_examples.py`` runs; nothing else to edit. Helpers shared by
several handlers live in the ``_`` modules (``_common``, ``_output``, ``_values``).
"""
from __future__ import annotations

from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers.crash import CrashStatement
from faultlens.registry import Registry
from faultlens.taxonomy import FAULT_TYPES

__all__ = ["CRASH", "HANDLERS", "CrashStatement", "EditPlan", "Example", "FaultHandler", "all_handlers",
           "handler_for"]


def _check_handler(h: FaultHandler) -> None:
    if h.fault_type not in FAULT_TYPES:
        raise ValueError(f"handler {type(h).__name__} has an unknown fault type {h.fault_type!r}")


#: fault type -> its handler (an instance: handlers are stateless)
HANDLERS: Registry[FaultHandler] = Registry("fault handler", key=lambda h: h.fault_type, check=_check_handler,
                                            instantiate=True)

#: locates the statement that raised (every fault type of a crashed run)
CRASH = CrashStatement()


def all_handlers() -> list[FaultHandler]:
    """Every registered handler, in fault-type order (discovery runs once)."""
    return HANDLERS.discover(__name__, collect=FaultHandler).sorted()


def handler_for(fault_type: str) -> FaultHandler:
    """The handler of ``fault_type``; ``KeyError`` when no handler has that type."""
    return HANDLERS.discover(__name__, collect=FaultHandler)[fault_type]
