"""The healthy subject programs of corpora/programs must not get error-level findings
(a false-positive guard over ~50 realistic training programs written by another helper)."""
from __future__ import annotations

import pytest

from faultlens.analyzer.lint import run_lint


def test_healthy_corpus_programs_have_no_errors(repo_root):
    programs = repo_root / "corpora" / "programs"
    if not programs.is_dir():
        pytest.skip("corpora/programs not present")
    report = run_lint([str(programs)], use_cache=False, jobs=2)
    assert report.files_linted >= 10
    errors = [(f.path, f.line, f.code, f.message) for f in report.findings if f.severity == "error"]
    assert errors == []
