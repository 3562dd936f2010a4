"""The lint rule base class and the example types that every rule carries.

A rule is a small class with a code (``FLnnn``), a name, a severity, a message, an optional
fix, and its own ``VALID`` / ``INVALID`` example programs. The test suite runs every example
of every registered rule (``tests/lint/test_rule_examples.py``): a VALID program must produce
no finding of that rule, an INVALID one at least one (at ``line`` when given) and, when
``fixed`` is given, applying the rule's fixes must turn the program into exactly ``fixed``.
The design follows the pattern of Fixit 2 and TorchFix (rules that carry their own test
cases, fixes expressed as libcst edits) without sharing their code.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Iterable

from faultlens.analyzer.lint.finding import Finding, Fix

if TYPE_CHECKING:  # pragma: no cover
    from faultlens.analyzer.lint.context import LintContext


@dataclass(frozen=True)
class Valid:
    """A program the rule must accept."""

    code: str
    note: str = ""

    @property
    def source(self) -> str:
        return textwrap.dedent(self.code).lstrip("\n")


@dataclass(frozen=True)
class Invalid:
    """A program the rule must flag; ``line`` is the expected (1-based) line of a finding in
    the dedented program, ``fixed`` the whole program after applying the rule's fixes."""

    code: str
    line: int | None = None
    fixed: str | None = None
    note: str = ""

    @property
    def source(self) -> str:
        return textwrap.dedent(self.code).lstrip("\n")

    @property
    def fixed_source(self) -> str | None:
        return None if self.fixed is None else textwrap.dedent(self.fixed).lstrip("\n")


class LintRule:
    """Base class. Subclasses set the class attributes and implement :meth:`check`."""

    code: ClassVar[str] = "FL000"
    name: ClassVar[str] = "abstract-rule"
    severity: ClassVar[str] = "error"          # error | warning | info
    summary: ClassVar[str] = ""                # one line: what is flagged
    rationale: ClassVar[str] = ""              # why it is a fault (with sources)
    fix_summary: ClassVar[str] = ""            # what the fix does ("" when there is none)
    fault_type: ClassVar[str] = ""             # faultlens fault type it indicates
    VALID: ClassVar[list[Valid]] = []
    INVALID: ClassVar[list[Invalid]] = []

    def check(self, ctx: "LintContext") -> Iterable[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    # helpers -------------------------------------------------------------------
    def finding(
        self,
        ctx: "LintContext",
        where,
        message: str,
        *,
        node: str | None = None,
        fix: Fix | None = None,
        severity: str | None = None,
    ) -> Finding:
        """Build a finding at ``where``: a graph Span, a graph Node (its expr_span or span),
        or a ``(relpath, line, col, end_line, end_col)`` tuple."""
        path, line, col, eline, ecol = ctx.location(where)
        if node is None and hasattr(where, "id") and hasattr(where, "kind"):
            node = where.id
        return Finding(
            code=self.code,
            name=self.name,
            severity=severity or self.severity,
            message=message,
            path=path,
            line=line,
            column=col,
            end_line=eline,
            end_column=ecol,
            node=node,
            fix=fix,
        )

    @classmethod
    def describe(cls) -> dict[str, str]:
        return {
            "code": cls.code,
            "name": cls.name,
            "severity": cls.severity,
            "summary": cls.summary,
            "rationale": cls.rationale,
            "fix": cls.fix_summary,
            "fault_type": cls.fault_type,
        }
