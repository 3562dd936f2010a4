"""Reading and parsing source files for the analyzer.

One :class:`ParsedFile` per (relative path, content hash): the libcst module plus the
positions of every node, ``PositionProvider``'s map computed by one code-generation pass
(``faultlens.analyzer.positions``; the scope/qualified-name providers are several times slower;
the analyzer resolves imports itself, see ``faultlens.analyzer.names``). Parsed files are
kept in a small LRU cache keyed by content hash, so re-analysing an unchanged file (the
lint path, a watch loop) costs no parse.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from faultlens.analyzer.graph import Span
from faultlens.analyzer.positions import node_positions, trusted_parse
from faultlens.analyzer.pysyntax import python_syntax_error, split_lines
from faultlens.errors import ParseError

#: how many parsed files the process keeps (a CST with its position map costs about 10 kB
#: per source line, so 32 files of a few hundred lines stay well under 200 MB)
CACHE_SIZE = 32

_CACHE: "OrderedDict[tuple[str, str], ParsedFile]" = OrderedDict()


@dataclass
class ParsedFile:
    """A parsed source file. ``rel`` is the path as it appears in node ids and spans."""

    rel: str
    source: str
    sha256: str
    module: cst.Module
    positions: Any  # Mapping[cst.CSTNode, CodeRange]
    lines: list[str] = field(default_factory=list)

    def span(self, node: cst.CSTNode) -> Span:
        """The exact 1-based span of ``node`` (end column one past the last character)."""
        r = self.positions[node]
        return Span(self.rel, r.start.line, r.start.column + 1, r.end.line, r.end.column + 1)

    def text(self, node: cst.CSTNode) -> str:
        """The source text of ``node`` exactly as written (sliced by its span)."""
        return span_text(self.lines, self.span(node))

    def snippet(self, node: cst.CSTNode, limit: int = 160) -> str:
        """The statement's text; its first line (with `` ...``) when it spans several."""
        t = self.text(node)
        if "\n" in t:
            t = t.split("\n", 1)[0].rstrip() + " ..."
        return t if len(t) <= limit else t[: limit - 4] + " ..."


def span_text(lines: list[str], span: Span) -> str:
    """Slice the text of ``span`` out of the file's lines (``keepends`` lines)."""
    if span.line == span.end_line:
        return lines[span.line - 1][span.column - 1 : span.end_column - 1]
    parts = [lines[span.line - 1][span.column - 1 :]]
    parts.extend(lines[span.line : span.end_line - 1])
    parts.append(lines[span.end_line - 1][: span.end_column - 1])
    return "".join(parts)


def read_source(path: str, display: str | None = None, allow_empty: bool = False) -> str:
    """Read a file as UTF-8 text; raise :class:`ParseError` for unreadable/binary/empty files."""
    shown = display or path
    if str(path).lower().endswith(".ipynb"):  # a notebook: its code cells as one program
        from faultlens.notebook import program_text
        return program_text(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ParseError(shown, exc.strerror or str(exc)) from None
    return decode_source(data, shown, allow_empty)


def decode_source(data: bytes, shown: str, allow_empty: bool = False) -> str:
    if not data.strip() and not allow_empty:
        raise ParseError(shown, "file is empty")
    if b"\x00" in data:
        raise ParseError(shown, "binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(shown, f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def parse_source(source: str, rel: str, allow_empty: bool = False) -> ParsedFile:
    """Parse ``source`` (shown as ``rel``) and compute node positions; cached by content.
    An empty entry file is an error; an empty imported module (``__init__.py``) is not."""
    if not source.strip() and not allow_empty:
        raise ParseError(rel, "file is empty")
    if "\x00" in source:
        raise ParseError(rel, "binary content (contains NUL characters)")
    sha = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    key = (rel, sha)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    try:
        with trusted_parse():  # the parser's tree is valid by construction
            module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        py = python_syntax_error(source, rel)
        if py:  # Python's own position and message, as `python FILE` and `faultlens lint` report it
            raise ParseError(rel, py) from None
        msg = str(getattr(exc, "message", "") or "").strip().splitlines()
        detail = msg[0].replace("parser error: ", "") if msg else "invalid syntax"
        m = re.match(r"error at (\d+):(\d+): (.*)", detail)
        if m:
            detail = f"line {m.group(1)}, column {int(m.group(2)) + 1}: {m.group(3)}"
        else:
            detail = f"line {exc.editor_line}: {detail}"
        raise ParseError(rel, f"syntax error at {detail}") from None
    except Exception as exc:  # libcst raises a few other types for odd input
        raise ParseError(rel, f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    py = python_syntax_error(source, rel)  # what libcst accepts Python may still reject
    if py:                                  # ('return' outside function, bad assignment targets)
        raise ParseError(rel, py)
    positions = node_positions(module)   # PositionProvider's map, without its second tree walk
    pf = ParsedFile(rel, source, sha, module, positions, split_lines(source, keepends=True))
    _CACHE[key] = pf
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return pf


def parse_path(path: str, rel: str, allow_empty: bool = False) -> ParsedFile:
    """Read and parse the file at ``path`` (errors name ``path`` as given)."""
    if os.path.isdir(path):
        raise ParseError(path, "is a directory")
    text = read_source(path, path, allow_empty)
    try:
        return parse_source(text, rel, allow_empty)
    except ParseError as exc:
        raise ParseError(path, exc.reason) from None


def clear_cache() -> None:
    _CACHE.clear()
