"""Plain data produced by lint rules: :class:`Finding`, :class:`Fix` and :class:`Edit` (the edit
engine's :class:`~faultlens.edits.text.TextEdit`).

Only the standard library is imported here: the cached (warm) lint path reads findings back
from JSON without importing libcst or networkx.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faultlens.edits.text import TextEdit

SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


#: a fix's edit: a text-range replacement of the edit engine (positions as the graph's Span)
Edit = TextEdit


@dataclass(frozen=True)
class Fix:
    """A suggested change: the replacement texts are rendered from libcst nodes by the rule
    (see :mod:`faultlens.analyzer.lint.fixes`) and stored as plain edits so that they survive
    the cache and process boundaries."""

    description: str
    edits: tuple[Edit, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "edits": [e.to_dict() for e in self.edits]}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Fix | None":
        if not d:
            return None
        return cls(d["description"], tuple(Edit.from_dict(e) for e in d.get("edits", ())))


@dataclass
class Finding:
    """One lint result. ``path`` is the file as the user should see it (relative to the
    current directory when possible); ``node`` is the graph id of the node the rule reasoned
    about, when there is one."""

    code: str
    name: str
    severity: str
    message: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    node: str | None = None
    fix: Fix | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "node": self.node,
            "fix": self.fix.to_dict() if self.fix else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        return cls(
            d["code"], d["name"], d["severity"], d["message"], d["path"], int(d["line"]),
            int(d["column"]), int(d["end_line"]), int(d["end_column"]), d.get("node"),
            Fix.from_dict(d.get("fix")),
        )

    def sort_key(self) -> tuple:
        return (self.path, self.line, self.column, self.code, self.message)

    def dedup_key(self) -> tuple:
        return (self.path, self.line, self.column, self.code)
