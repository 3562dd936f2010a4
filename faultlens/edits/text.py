"""Plain text-range edits (standard library only).

A :class:`TextEdit` replaces the text between two positions of a file. Lint rules store their
fixes this way (``faultlens.analyzer.lint.finding.Edit`` is this class): the replacement text
is rendered from libcst nodes when the rule runs, and the edit is plain data afterwards, so it
survives the lint cache and process boundaries, and the cached (warm) lint path applies and
prints fixes without importing libcst.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

from faultlens.analyzer.pysyntax import split_lines


@dataclass(frozen=True)
class TextEdit:
    """Replace the text between two positions of ``path`` with ``text``.

    Positions follow the graph's :class:`~faultlens.analyzer.graph.Span` convention: lines and
    columns are 1-based and ``(end_line, end_column)`` points one past the last replaced
    character. An insertion has ``(line, column) == (end_line, end_column)``.
    """

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TextEdit":
        return cls(d["path"], int(d["line"]), int(d["column"]), int(d["end_line"]),
                   int(d["end_column"]), d["text"])


def _offsets(text: str) -> list[int]:
    offs = [0]
    for ln in split_lines(text, keepends=True):
        offs.append(offs[-1] + len(ln))
    return offs


def _index(offs: list[int], text: str, line: int, col: int) -> int:
    if line - 1 >= len(offs) - 1:
        return len(text)
    return min(offs[line - 1] + col - 1, len(text))


def apply_text_edits(text: str, edits: Iterable[TextEdit]) -> tuple[str, int]:
    """Apply edits (first come, first served); an edit overlapping one already accepted is
    rejected, an identical duplicate is accepted once. Returns the new text and the number of
    rejected edits. (``path`` is not looked at: the caller passes the edits of one file.)"""
    offs = _offsets(text)
    chosen: list[tuple[int, int, TextEdit]] = []
    rejected = 0
    for e in edits:
        a, b = _index(offs, text, e.line, e.column), _index(offs, text, e.end_line, e.end_column)
        if b < a:
            rejected += 1
            continue
        dup = clash = False
        for ca, cb, ce in chosen:
            if (a, b) == (ca, cb):
                if ce.text == e.text:
                    dup = True
                else:
                    clash = True
            elif (a < cb and ca < b) or (a == b and ca < a < cb) or (ca == cb and a < ca < b):
                clash = True
        if clash:
            rejected += 1
        elif not dup:
            chosen.append((a, b, e))
    out = text
    for a, b, e in sorted(chosen, key=lambda t: (t[0], t[1]), reverse=True):
        out = out[:a] + e.text + out[b:]
    return out, rejected
