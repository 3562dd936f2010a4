"""Jupyter notebooks (``.ipynb``) as one program (see docs/notebooks.md).

A notebook's code cells, concatenated in order, are the program faultlens lints, graphs and
runs. What is not Python is skipped and the line is kept (so every program line is one cell
line): an IPython line magic (``%time``), a shell escape (``!pip install``, ``x = !ls``), a help
query (``obj?``) and an automagic command (``pip install x``) become ``pass`` at the line's
indentation; a cell magic (``%%time``, ``%%bash`` on the cell's first line) skips the whole cell.
Each skip is listed in :attr:`Notebook.skipped`.

Cells are numbered from 1 counting every cell, markdown and raw cells included: "cell 7" is the
seventh cell from the top, as VS Code counts them (Jupyter, GitHub and nbviewer show no cell
numbers). Lines within a cell are numbered from 1.

The reader is nbformat (the optional extra ``faultlens[notebook]``), imported only when a
notebook is read: linting ``.py`` files never imports it. Edits write back into the notebook's
JSON text in place: only the edited cells' ``source`` values change, every other byte
(outputs, metadata, execution counts, formatting) stays as it was.
"""
from __future__ import annotations

import difflib
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from faultlens.errors import FaultlensError, ParseError
from faultlens.analyzer.pysyntax import split_lines

SUFFIX = ".ipynb"

#: IPython automagics that a notebook may use without ``%`` (IPython docs, "Magic command
#: system": ``%automagic`` is on by default); a line ``pip install x`` is never Python
AUTOMAGICS = frozenset({"pip", "conda", "mamba", "cd", "ls", "pwd", "env", "load_ext", "reload_ext",
                        "matplotlib", "timeit", "time", "run", "autoreload", "pylab", "who", "whos",
                        "reset", "pdb", "debug", "store", "cat", "mkdir", "rm", "cp", "mv"})
_MAGIC = re.compile(r"^[ \t]*[%!]")
_ASSIGN_MAGIC = re.compile(r"^[ \t]*[A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*[ \t]*=[ \t]*[%!]")
_HELP = re.compile(r"^[ \t]*(?:\?{1,2}[\w.]+|[\w.]+(?:\(\))?\?{1,2})[ \t]*$")
_AUTO = re.compile(r"^[ \t]*([A-Za-z_]\w*)[ \t]+(?![=(\[.,:+\-*/%<>&|^!]|in\b|is\b|and\b|or\b|not\b|if\b|else\b|for\b)\S")


def is_notebook(path: Any) -> bool:
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(SUFFIX)


def _nbformat():
    try:
        import nbformat
    except ImportError:
        raise FaultlensError("reading a notebook needs nbformat: pip install 'faultlens[notebook]'") from None
    return nbformat


@dataclass
class Skipped:
    cell: int          # 1-based, every cell counted
    line: int          # 1-based within the cell
    kind: str          # "cell magic" | "line magic" | "shell command" | "help query" | "automagic"
    text: str

    def describe(self) -> str:
        t = self.text.strip()
        return f"cell {self.cell}:line {self.line}: {self.kind} {t[:60] + ' ...' if len(t) > 60 else t}"


@dataclass
class Notebook:
    path: str                          # absolute
    raw: str                           # the file's text
    cell_types: list[str]              # per cell (every cell), in order
    sources: list[str]                 # per cell, as stored (joined)
    program: str = ""
    #: program line (1-based) -> (cell, line within cell), both 1-based
    line_map: list[tuple[int, int]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: per code cell: the program's text of that cell (magics replaced)
    cell_program: dict[int, list[str]] = field(default_factory=dict)

    # ---------------------------------------------------------------- positions
    def where(self, line: int | None) -> tuple[int, int] | None:
        """``(cell, line within cell)`` of a program line, or None outside the program."""
        if not isinstance(line, int) or not 1 <= line <= len(self.line_map):
            return None
        return self.line_map[line - 1]

    def program_line(self, cell: int, cell_line: int) -> int | None:
        for i, (c, l) in enumerate(self.line_map, start=1):
            if (c, l) == (cell, cell_line):
                return i
        return None

    def relabel(self, message: str) -> str:
        """A message's own ``line N`` (a line of this notebook's program) as ``cell C:line L``."""
        def sub(m: re.Match) -> str:
            c = self.where(int(m.group(1)))
            return m.group(0) if c is None else f"cell {c[0]}:line {c[1]}"
        return re.sub(r"(?<![\w./:])line (\d+)\b", sub, message)

    def notes(self) -> list[str]:
        """One line for what was skipped (None when nothing was)."""
        if not self.skipped:
            return []
        return [f"{len(self.skipped)} non-Python line(s) of the notebook skipped (not run, not analysed): "
                + "; ".join(s.describe() for s in self.skipped[:8])
                + (f"; and {len(self.skipped) - 8} more" if len(self.skipped) > 8 else "")]

    def syntax_error(self) -> str | None:
        """``"syntax error at cell C:line L, column K: MSG"`` for the first code cell that
        Python does not compile (each cell on its own, as Jupyter runs it), else None."""
        from faultlens.analyzer.pysyntax import _python_syntax_error
        for cell, lines in self.cell_program.items():
            msg = _python_syntax_error("".join(lines), f"cell {cell}", cell=cell)
            if msg is not None:
                return msg
        return None

    # ---------------------------------------------------------------- edits
    def cell_sources_after(self, new_program: str) -> dict[int, str]:
        """The new source of every code cell that ``new_program`` (an edited copy of
        :attr:`program`) changes. Replaced lines go to the cell of the lines they replace;
        inserted lines to the cell of the line they precede (the last cell at the end). A
        skipped (magic) line left unchanged keeps its original text. Raises ValueError when an
        edit touches a skipped line."""
        old = split_lines(self.program, keepends=True)
        new = split_lines(new_program, keepends=True)
        owner_new: list[tuple[int, int | None]] = []  # per new line: (cell, old cell line or None)
        sm = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for tag, i1, i2, j1, j2 in sm.get_opcodes():
            if tag == "equal":
                owner_new.extend(self.line_map[i] for i in range(i1, i2))
                continue
            for i in range(i1, i2):
                if any(s.cell == self.line_map[i][0] and s.line == self.line_map[i][1] for s in self.skipped):
                    raise ValueError(f"the edit changes a skipped line (cell {self.line_map[i][0]}, "
                                     f"line {self.line_map[i][1]})")
            if i1 < len(self.line_map):
                cell = self.line_map[i1][0]
            elif self.line_map:
                cell = self.line_map[-1][0]
            else:
                raise ValueError("the notebook has no code cell")
            owner_new.extend((cell, None) for _ in range(j1, j2))
        changed = {self.line_map[i][0] for tag, i1, i2, _, _ in sm.get_opcodes() if tag != "equal"
                   for i in range(i1, min(i2, len(self.line_map)))}
        changed |= {c for (c, l) in owner_new if l is None}
        out: dict[int, str] = {}
        for cell in sorted(changed):
            orig_lines = _split(self.sources[cell - 1])
            parts: list[str] = []
            for (c, l), text in zip(owner_new, new):
                if c != cell:
                    continue
                if l is not None and any(s.cell == c and s.line == l for s in self.skipped):
                    text = orig_lines[l - 1]  # the magic as written
                parts.append(text)
            src = "".join(parts)
            if not self.sources[cell - 1].endswith("\n") and src.endswith("\n"):
                src = src[:-1]  # Jupyter stores a cell's last line without its newline
            out[cell] = src
        return out

    def with_program(self, new_program: str) -> str:
        """The notebook's JSON text with the code cells changed as ``new_program`` changes the
        program; every byte outside the edited ``source`` values is kept."""
        return replace_sources(self.raw, self.cell_sources_after(new_program))

    def cells_diff(self, new_program: str, shown: str) -> str:
        """A unified diff of the changed cells' sources, one per cell, labelled
        ``a/NB.ipynb (cell 7)``; hunk lines count from the cell's first line."""
        out = []
        for cell, src in self.cell_sources_after(new_program).items():
            a = _split_keep(self.sources[cell - 1])
            b = _split_keep(src)
            out.append(f"--- a/{shown} (cell {cell})\n+++ b/{shown} (cell {cell})\n")
            for ln in list(difflib.unified_diff(a, b, n=3))[2:]:
                out.append(ln if ln.endswith("\n") else ln + "\n\\ No newline at end of cell\n")
        return "".join(out)


def _split(src: str) -> list[str]:
    """A cell's lines as the program holds them (each ending in a newline)."""
    if not src:
        return []
    parts = src.split("\n")
    if parts[-1] == "":
        parts.pop()
    return [p + "\n" for p in parts]


def _split_keep(src: str) -> list[str]:
    """A cell's lines for a diff (the last one without a newline when the cell has none)."""
    parts = src.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _classify(line: str) -> str | None:
    """What kind of non-Python line this is, or None for a Python line."""
    if _MAGIC.match(line):
        return "shell command" if line.lstrip().startswith("!") else "line magic"
    if _ASSIGN_MAGIC.match(line):
        return "shell command" if "!" in line.split("=", 1)[1][:3] else "line magic"
    if _HELP.match(line.rstrip("\n")):
        return "help query"
    m = _AUTO.match(line)
    if m and m.group(1) in AUTOMAGICS:
        return "automagic"
    return None


def _convert(nb: Notebook) -> None:
    prog: list[str] = []
    for idx, (ctype, src) in enumerate(zip(nb.cell_types, nb.sources), start=1):
        if ctype != "code":
            continue
        lines = _split(src)
        first = next((l for l in lines if l.strip()), "")
        out: list[str] = []
        if first.lstrip().startswith("%%"):
            nb.skipped.append(Skipped(idx, lines.index(first) + 1, "cell magic (whole cell)", first.strip()))
            out = ["\n"] * len(lines)
        else:
            in_string = _string_lines(lines)
            for k, line in enumerate(lines, start=1):
                kind = None if k in in_string else _classify(line)
                if kind is None:
                    out.append(line)
                else:
                    nb.skipped.append(Skipped(idx, k, kind, line))
                    out.append(f"{_indent(line)}pass\n")
        nb.cell_program[idx] = out
        prog.extend(out)
        nb.line_map.extend((idx, k) for k in range(1, len(out) + 1))
    nb.program = "".join(prog)


def _string_lines(lines: list[str]) -> set[int]:
    """Lines (1-based) that start inside a multi-line string: a ``%`` there is text, not a magic."""
    import io
    import tokenize

    inside: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0] + 1, tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return inside


_LOADED: dict[str, tuple[tuple[int, int], Notebook]] = {}


def read_notebook(path: str) -> Notebook:
    """Read and convert the notebook at ``path`` (cached by modification time and size).
    Raises :class:`ParseError` naming the path for a file that is not a notebook."""
    ap = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(ap)
    except OSError as exc:
        raise ParseError(os.fspath(path), (exc.strerror or str(exc)).lower()) from None
    key = (st.st_mtime_ns, st.st_size)
    hit = _LOADED.get(ap)
    if hit is not None and hit[0] == key:
        return hit[1]
    nbf = _nbformat()
    try:
        with open(ap, "rb") as fh:
            data = fh.read()
        raw = data.decode("utf-8")
    except OSError as exc:
        raise ParseError(os.fspath(path), (exc.strerror or str(exc)).lower()) from None
    except UnicodeDecodeError as exc:
        raise ParseError(os.fspath(path), f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    if raw.startswith("\ufeff"):
        raw = raw[1:]
    try:
        json.loads(raw)
    except ValueError as exc:
        raise ParseError(os.fspath(path), f"not a notebook: not valid JSON ({exc})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat warns about missing cell ids in old files
            doc = nbf.reads(raw, as_version=nbf.NO_CONVERT)
    except Exception as exc:  # nbformat raises several types for JSON that is no notebook
        raise ParseError(os.fspath(path), f"not a notebook: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if int(doc.get("nbformat", 0) or 0) < 4:
        raise ParseError(os.fspath(path), f"notebook format {doc.get('nbformat')} is too old (nbformat 4 is read; "
                                          "`jupyter nbconvert --to notebook --inplace` upgrades it)")
    cells = list(doc.get("cells") or [])
    nb = Notebook(ap, raw, [str(c.get("cell_type", "")) for c in cells],
                  [c.get("source", "") if isinstance(c.get("source", ""), str) else "".join(c.get("source"))
                   for c in cells])
    lang = ((doc.get("metadata") or {}).get("kernelspec") or {}).get("language") \
        or ((doc.get("metadata") or {}).get("language_info") or {}).get("name")
    if lang and str(lang).lower() != "python":
        raise ParseError(os.fspath(path), f"a {lang} notebook (only Python notebooks are read)")
    _convert(nb)
    _LOADED[ap] = (key, nb)
    return nb


def program_text(path: str) -> str:
    """The program of the notebook at ``path`` (what the analyzer parses in its place)."""
    return read_notebook(path).program


def read_text(path: str) -> str:
    """A source file's text: a notebook's program, any other file as UTF-8 text."""
    if is_notebook(path):
        return program_text(path)
    with open(path, encoding="utf-8") as fh:
        return fh.read()


# -------------------------------------------------------------------- locations
def cell_of(path: str | None, line: Any) -> tuple[int, int] | None:
    """``(cell, line within cell)`` of ``line`` in the notebook at ``path``; None when ``path``
    is no readable notebook or the line is outside its program."""
    if not path or not is_notebook(path) or not isinstance(line, int):
        return None
    try:
        return read_notebook(path).where(line)
    except FaultlensError:
        return None


def label(path: str, line: Any, column: Any = None) -> str:
    """``nb.ipynb:cell 7:line 3`` (``:5`` for a column) for a notebook; ``path:line[:col]``
    for anything else."""
    c = cell_of(path, line)
    tail = f":{column}" if column else ""
    if c is None:
        return f"{path}:{line}{tail}"
    return f"{path}:cell {c[0]}:line {c[1]}{tail}"


def cell_context(path: str, line: int, context: int) -> list[tuple[int, str, bool, int]]:
    """The lines around program ``line`` inside its cell: (line within cell, text, is it
    ``line``, number width); empty when ``path`` is no readable notebook."""
    try:
        nb = read_notebook(path)
    except FaultlensError:
        return []
    c = nb.where(line)
    if c is None:
        return []
    lines = nb.sources[c[0] - 1].split("\n")
    lo, hi = max(1, c[1] - context), min(len(lines), c[1] + context)
    return [(i, lines[i - 1], i == c[1], len(str(hi))) for i in range(lo, hi + 1)]


def add_cell_keys(d: dict[str, Any], path_key: str = "path", line_key: str = "line") -> dict[str, Any]:
    """Add ``cell`` and ``cell_line`` after ``path``/``line`` to a location dict of a notebook."""
    c = cell_of(d.get(path_key), d.get(line_key))
    if c is None:
        return d
    out: dict[str, Any] = {}
    for k, v in d.items():
        out[k] = v
        if k == line_key:
            out["cell"], out["cell_line"] = c
    out.setdefault("cell", c[0])
    out.setdefault("cell_line", c[1])
    return out


# -------------------------------------------------------------------- JSON text editing
def _source_spans(raw: str) -> list[tuple[int, int, Any]]:
    """Per cell: (start, end, value) of its ``source`` value in the JSON text ((-1, -1, None)
    when it has none). Values are skipped with the json module's own decoder."""
    dec = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")

    def skip_ws(i: int) -> int:
        return ws.match(raw, i).end()

    def members(i: int):
        """Yield (key, value start, value end) of the object starting at ``i``; returns end."""
        assert raw[i] == "{"
        i = skip_ws(i + 1)
        if raw[i] == "}":
            return
        while True:
            key, i = dec.raw_decode(raw, i)
            i = skip_ws(i)
            assert raw[i] == ":"
            vs = skip_ws(i + 1)
            _, ve = dec.raw_decode(raw, vs)
            yield key, vs, ve
            i = skip_ws(ve)
            if raw[i] == "}":
                return
            assert raw[i] == ","
            i = skip_ws(i + 1)

    top = skip_ws(0)
    out: list[tuple[int, int, Any]] = []
    for key, vs, ve in members(top):
        if key != "cells":
            continue
        i = skip_ws(vs + 1)
        while raw[i] != "]":
            span = (-1, -1, None)
            _, cell_end = dec.raw_decode(raw, i)
            for k, s, e in members(i):
                if k == "source":
                    span = (s, e, json.loads(raw[s:e]))
            out.append(span)
            i = skip_ws(cell_end)
            if raw[i] == ",":
                i = skip_ws(i + 1)
        break
    return out


def replace_sources(raw: str, new_sources: dict[int, str]) -> str:
    """``raw`` with the ``source`` of the given cells (1-based) replaced, written in the style
    the file uses (a list of lines with its indentation, or one string)."""
    if not new_sources:
        return raw
    spans = _source_spans(raw)
    ascii_only = raw.isascii()
    pieces, pos = [], 0
    for cell in sorted(new_sources):
        s, e, old = spans[cell - 1]
        if s < 0:
            raise ValueError(f"cell {cell} has no source in the notebook's JSON")
        text = new_sources[cell]
        if isinstance(old, list):
            old_text = raw[s:e]
            lead = re.match(r"\[([ \t\r\n]*)", old_text).group(1) if old else ""
            trail = re.search(r"([ \t\r\n]*)\]$", old_text).group(1) if old else ""
            sep = "," + lead if lead else ", "  # one line per element as written, or inline
            items = [json.dumps(x, ensure_ascii=ascii_only) for x in _split_keep(text)]
            value = "[" + lead + sep.join(items) + trail + "]" if items else "[]"
        else:
            value = json.dumps(text, ensure_ascii=ascii_only)
        pieces.append(raw[pos:s])
        pieces.append(value)
        pos = e
    pieces.append(raw[pos:])
    out = "".join(pieces)
    json.loads(out)  # never write a file that is no longer JSON
    return out
