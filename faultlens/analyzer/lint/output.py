"""Renderers for lint results: ruff-style text, JSON, SARIF 2.1.0 and unified diffs."""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any
from urllib.parse import quote

from faultlens import __version__
from faultlens.analyzer.lint.finding import Finding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
INFO_URI = "https://github.com/faultlens/faultlens/blob/main/docs/lint.md"


def format_text(findings: list[Finding]) -> str:
    return "".join(f"{_where(f)}: {f.code} {f.message}\n" for f in findings)


def _where(f: Finding) -> str:
    """``path:line:col``; a notebook's finding as ``nb.ipynb:cell 7:line 3:col``."""
    if f.path.lower().endswith(".ipynb"):
        from faultlens.notebook import label
        return label(f.path, f.line, f.column)
    return f"{f.path}:{f.line}:{f.column}"


def _cell(f: Finding) -> tuple[int, int] | None:
    if not f.path.lower().endswith(".ipynb"):
        return None
    from faultlens.notebook import cell_of
    return cell_of(f.path, f.line)


def _finding_dict(f: Finding) -> dict[str, Any]:
    d = f.to_dict()
    if f.path.lower().endswith(".ipynb"):  # cell and cell_line next to path/line
        from faultlens.notebook import add_cell_keys
        d = add_cell_keys(d)
    return d


def summary_line(report) -> str:
    fs = report.findings
    n_err = sum(1 for f in fs if f.severity == "error")
    n_warn = sum(1 for f in fs if f.severity == "warning")
    n_info = len(fs) - n_err - n_warn
    fixable = sum(1 for f in fs if f.fix)
    parts = [f"{n_err} error{'s' * (n_err != 1)}", f"{n_warn} warning{'s' * (n_warn != 1)}"]
    if n_info:
        parts.append(f"{n_info} info")
    if fs:
        head = f"Found {len(fs)} problem{'s' * (len(fs) != 1)} ({', '.join(parts)})"
    elif report.files_failed and not report.files_linted:
        head = "Nothing checked"  # every file failed to read or parse: no verdict to give
    elif report.files_failed:
        head = "No problems found in the files that could be read"
    else:
        head = "No problems found"
    files = (f"{report.files_linted} file{'s' * (report.files_linted != 1)} analysed"
             f" ({report.cached} from cache), {report.files_skipped} skipped (no torch import or empty)")
    if report.files_failed:
        files += f", {report.files_failed} could not be read"
    tail = f"; {fixable} fixable with --diff" if fixable else ""
    return f"{head} in {report.lines} lines: {files}{tail}."


def to_json(report) -> str:
    data = {
        "schema": "faultlens.lint/1",
        "version": __version__,
        "findings": [_finding_dict(f) for f in report.findings],
        "summary": {
            "errors": sum(1 for f in report.findings if f.severity == "error"),
            "warnings": sum(1 for f in report.findings if f.severity == "warning"),
            "info": sum(1 for f in report.findings if f.severity == "info"),
            "files_analysed": report.files_linted,
            "files_skipped": report.files_skipped,
            "files_failed": report.files_failed,
            "files_cached": report.cached,
            "lines": report.lines,
        },
        "notes": list(report.notes),
    }
    return json.dumps(data, indent=2) + "\n"


def _uri(path: str) -> str:
    p = path.replace(os.sep, "/")
    if os.path.isabs(path):
        return "file://" + quote(p)
    return quote(p)


def _region(line: int, col: int, eline: int, ecol: int) -> dict[str, int]:
    return {"startLine": max(1, line), "startColumn": max(1, col), "endLine": max(1, eline),
            "endColumn": max(1, ecol)}


def to_sarif(report, rules) -> str:
    """SARIF 2.1.0 accepted by GitHub code scanning: ``tool.driver.rules`` with ids, short
    descriptions and help; one result per finding with ruleId, level and a physical location
    (relative URI + 1-based region); fixes as artifactChanges/replacements."""
    rule_list = list(rules)
    index = {r.code: i for i, r in enumerate(rule_list)}
    driver_rules = []
    for r in rule_list:
        help_text = f"{r.summary}\n\nWhy: {r.rationale}" + (f"\n\nFix: {r.fix_summary}" if r.fix_summary else "")
        driver_rules.append({
            "id": r.code,
            "name": "".join(w.capitalize() for w in r.name.split("-")),
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.rationale or r.summary},
            "help": {"text": help_text, "markdown": help_text.replace("\n\nWhy:", "\n\n**Why:**")
                     .replace("\n\nFix:", "\n\n**Fix:**")},
            "helpUri": f"{INFO_URI}#{r.code.lower()}",
            "defaultConfiguration": {"level": SARIF_LEVEL.get(r.severity, "warning")},
            "properties": {"tags": ["pytorch", "correctness", r.fault_type or "training"],
                           "precision": "high" if r.severity == "error" else "medium",
                           "problem.severity": "error" if r.severity == "error" else "warning"},
        })
    results: list[dict[str, Any]] = []
    for f in report.findings:
        res: dict[str, Any] = {
            "ruleId": f.code,
            "level": SARIF_LEVEL.get(f.severity, "warning"),
            "message": {"text": f.message},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(f.path)},
                    "region": _region(f.line, f.column, f.end_line, f.end_column),
                }
            }],
            "partialFingerprints": {
                "faultlensFinding/v1": hashlib.sha256(
                    f"{f.code}\0{f.path}\0{f.message}".encode()).hexdigest()[:32],
            },
        }
        if f.code in index:
            res["ruleIndex"] = index[f.code]
        cell = _cell(f)
        if cell is not None:
            # a notebook: the region counts lines of its code cells' concatenated program (no
            # SARIF convention for notebook cells is documented); the cell and the line within
            # it are in the location's properties. A fix in program lines cannot be applied to
            # the notebook's JSON, so none is attached (``faultlens lint --diff`` shows it).
            res["locations"][0]["properties"] = {"cell": cell[0], "cell_line": cell[1]}
            res["message"]["text"] += f" (cell {cell[0]}, line {cell[1]})"
        elif f.fix and f.fix.edits:
            changes: dict[str, list] = {}
            for e in f.fix.edits:
                changes.setdefault(e.path, []).append({
                    "deletedRegion": _region(e.line, e.column, e.end_line, e.end_column),
                    "insertedContent": {"text": e.text},
                })
            res["fixes"] = [{
                "description": {"text": f.fix.description},
                "artifactChanges": [{"artifactLocation": {"uri": _uri(p)}, "replacements": reps}
                                    for p, reps in changes.items()],
            }]
        results.append(res)
    notifications = [{"level": "warning", "message": {"text": n}} for n in report.notes]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "faultlens", "version": __version__, "semanticVersion": __version__,
                            "informationUri": INFO_URI, "rules": driver_rules}},
        "results": results,
        "columnKind": "unicodeCodePoints",
        "invocations": [{"executionSuccessful": report.files_read > 0 or not report.results,
                         "toolExecutionNotifications": notifications}],
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"


def to_diff(findings: list[Finding]) -> tuple[str, int]:
    """Unified diff of every applicable fix (``git apply``-able from the current directory);
    returns the diff and the number of findings it fixes."""
    from faultlens.analyzer.lint.fixes import apply_fixes
    from faultlens.edits.diff import unified_diff

    by_path: dict[str, list[Finding]] = {}
    for f in findings:
        if f.fix and f.fix.edits:
            for p in {e.path for e in f.fix.edits}:
                by_path.setdefault(p, []).append(f)
    out, n = [], 0
    for path in sorted(by_path):
        notebook = path.lower().endswith(".ipynb")
        try:
            if notebook:  # fixes are placed in the program of its code cells
                from faultlens.notebook import read_notebook
                nb = read_notebook(path)
                before = nb.program
            else:
                with open(path, encoding="utf-8") as fh:
                    before = fh.read()
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        after, fixed = apply_fixes(before, by_path[path], path)
        n += len(fixed)
        shown = path.replace(os.sep, "/").lstrip("/")  # absolute paths: a/tmp/x.py (apply from /)
        if notebook:
            try:
                out.append(nb.cells_diff(after, shown))  # the cells' sources, labelled with the cell
            except ValueError:
                n -= len(fixed)
            continue
        out.append(unified_diff(shown, before, after))
    return "".join(out), n
