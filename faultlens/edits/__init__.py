"""The edit engine: every change faultlens makes to a program's source.

* :mod:`faultlens.edits.structural` (libcst) — typed position-addressed edits (replace an
  expression, set / add / remove a call argument, insert / remove a statement, ...) and one
  :func:`~faultlens.edits.structural.apply_edits` that applies a list of them in one pass over
  the original source, raising :class:`~faultlens.edits.structural.EditError`. The corpus's
  mutation operators (``faultlens.corpus.operators``) and the localizer's patch handlers
  (``faultlens.localizer.handlers``) build these edits.
* :mod:`faultlens.edits.text` (standard library only) — :class:`~faultlens.edits.text.TextEdit`,
  a plain text-range replacement, and :func:`~faultlens.edits.text.apply_text_edits`: lint
  fixes, stored as data so that the cached lint path needs no libcst.
* :mod:`faultlens.edits.diff` (standard library only) — annotated unified diffs of the results.

Positions follow the program graph's Span convention (docs/graph.md): 1-based lines and
columns, the end one past the last character. Importing this package imports nothing else.
"""
