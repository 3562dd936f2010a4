"""The fault handler base class and the example type every handler carries.

A handler is a small stateless class for one fault type: ``locate`` adds the statements
responsible for a fault of that type to a :class:`~faultlens.localizer.Collector`, ``patch``
returns the edit that fixes it (or None), and ``EXAMPLES`` are small programs with the lines
``localize`` must report for them and the diff ``make_patch`` must produce. The test suite
runs every example of every registered handler (``tests/localizer/test_handler_examples.py``),
the way the lint rules carry their VALID / INVALID programs (the pattern of Fixit 2: rules
that carry their own test cases).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    from faultlens.localizer import Collector, Location
    from faultlens.localizer.patches import CommandLine

#: what ``FaultHandler.patch`` returns for a source edit: (the file's absolute path, the
#: :mod:`faultlens.edits.structural` edits, a one-line description)
EditPlan = tuple[str, list, str]


@dataclass(frozen=True)
class Example:
    """A program (saved as ``example.py``, dedented like the lint rules' examples), the fault
    given to ``localize``/``make_patch`` and what they must return.

    ``detections``: ``(symptom, details)`` pairs, the fault's detections in order; ``nodes``:
    its evidence graph node ids; ``crash``: a crash record. ``lines``: the ``(role, line)`` of
    every located statement, in rank order. ``diff``: the whole patch diff (run from the
    program's directory), None when no patch is expected."""

    code: str
    lines: tuple[tuple[str, int], ...]
    diff: str | None = None
    detections: tuple[tuple[str, dict[str, Any]], ...] = ()
    nodes: tuple[str, ...] = ()
    crash: dict[str, Any] | None = None
    note: str = ""

    @property
    def source(self) -> str:
        return textwrap.dedent(self.code).lstrip("\n")

    @property
    def expected_diff(self) -> str | None:
        return None if self.diff is None else textwrap.dedent(self.diff).lstrip("\n")


class FaultHandler:
    """Base class: subclasses set ``fault_type`` and ``EXAMPLES`` and implement :meth:`locate`
    (and :meth:`patch` when an automatic edit is sensible); the module's docstring says what
    the handler locates and patches."""

    fault_type: ClassVar[str] = ""
    #: small programs with the lines and the diff this handler must give (run as tests)
    EXAMPLES: ClassVar[list[Example]] = []

    def locate(self, c: "Collector") -> None:  # pragma: no cover - abstract
        """Add the fault's statements to ``c`` (``c.nodes``, ``c.detections``, ``c.crash`` hold
        the request); a handler that meets a partial graph may raise: what it added stays."""
        raise NotImplementedError

    def patch(self, fault: Any, graph: Any, tv: Any, locations: list["Location"] | None
              ) -> "EditPlan | CommandLine | None":
        """The edit for ``fault`` (a FaultCandidate): an :data:`EditPlan`, a command-line fix,
        or None when no edit is sensible. ``tv``: the run's TraceView or None; ``locations``:
        what ``locate`` found."""
        return None
