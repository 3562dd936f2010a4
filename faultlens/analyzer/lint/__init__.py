"""Static lint rules for PyTorch training programs, reasoning over the program graph.

Public API::

    lint_paths(paths, select=None, ignore=None, *, use_cache=True, cache_dir=None, jobs=None) -> list[Finding]
    lint = lint_paths  (the stage's entry function, exported as ``faultlens.lint``)
    lint_source(source, path="<source>", select=None, ignore=None) -> list[Finding]
    all_rules() -> tuple[type[LintRule], ...]

Importing this package is cheap (standard library only); libcst and networkx are loaded only
when a file has to be analysed.
"""
from __future__ import annotations

from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.engine import LintReport, lint_paths, lint_source, run_lint
from faultlens.analyzer.lint.finding import Edit, Finding, Fix
from faultlens.analyzer.lint.registry import all_rules

lint = lint_paths  # `faultlens.lint(...)`: the lint stage's entry function

__all__ = ["Edit", "Finding", "Fix", "Invalid", "LintReport", "LintRule", "Valid", "all_rules",
           "lint", "lint_paths", "lint_source", "run_lint"]
