"""One pipeline module (faultlens/report/pipeline.py) under one RunConfig (faultlens/runconfig.py),
issue 11: the run options are built once and reach every stage; a stage of faultlens's own that
fails (graph, lint, localization, patch, the report's figures) is named in the report's notes
instead of silently leaving its part out."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from diagnosis.tracebuild import LOSS, healthy
from report.test_patch_check import PROG  # the diverging loop (lr 40) whose patch trains
from faultlens.report import pipeline
from faultlens.runconfig import RunConfig

FIX = Path(__file__).parents[1] / "localizer" / "fixtures"


def _diverging_result(tmp_path, status="finished"):
    """A RunResult-like record of mlp_loop.py whose (synthetic) loss diverges: learning_rate."""
    prog = tmp_path / "mlp_loop.py"
    shutil.copy(FIX / "mlp_loop.py", prog)
    tb = healthy(120)
    tb.scalars.pop(("loss", LOSS))
    tb.scalars.pop(("accuracy", LOSS))
    tb.series("loss", LOSS, 0.7 * np.exp(np.arange(120) / 25))
    trace = tb.write(tmp_path / "trace.sqlite")
    return SimpleNamespace(program=str(prog), trace_path=str(trace), graph=None, status=status, crash=None,
                           steps=120, seconds=1.5, run_dir=str(tmp_path), argv=[], source_path=None)


def _boom(*a, **k):
    raise RuntimeError("boom")


# ---------------------------------------------------------------- RunConfig
def test_run_config_from_the_command_line():
    from faultlens.cli import build_parser

    args = build_parser(only="run").parse_args(
        ["run", "train.py", "--max-steps", "5", "--max-seconds", "30", "--seed", "3", "--no-early-stop",
         "--sample-every", "4", "--curvature", "--quiet", "--no-check", "--verify", "--out", "d", "--", "--lr", "1"])
    args.started = 100.0
    c = RunConfig.from_args(args)
    assert c == RunConfig(argv=("--lr", "1"), max_steps=5, max_seconds=30.0, curvature=True, seed=3,
                          early_stop=False, sample_every=4, out_dir="d", stream=False, progress=True,
                          started=100.0, check=False, verify=True)
    assert c.deadline == 129.0  # a second before the whole command's end
    plain = RunConfig.from_args(build_parser(only="run").parse_args(["run", "train.py"]))
    assert plain.check and plain.stream and plain.early_stop and plain.deadline is None


def test_run_config_is_one_frozen_value():
    c = RunConfig.of(None, ["--lr", "1"], seed=1)
    assert c.argv == ("--lr", "1") and c.seed == 1 and hash(c)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.seed = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        c.replace(no_such_option=1)
    assert RunConfig.of(c, max_steps=3) == c.replace(max_steps=3) and RunConfig.of(c) is c
    assert RunConfig.of(c, None).argv == ("--lr", "1")      # no argv given: the config's
    assert RunConfig(max_seconds=60.0).deadline is None      # a library call: no whole-command bound


def test_library_keywords_build_the_config(tmp_path, monkeypatch):
    import faultlens

    prog = tmp_path / "train.py"
    prog.write_text("pass\n")
    seen = []
    monkeypatch.setattr(pipeline, "run_pipeline", lambda path, config: seen.append((path, config)) or "report")
    assert faultlens.run(str(prog), ["--lr", "1"], max_seconds=5, in_process=True, seed=0, verify=True) == "report"
    assert seen == [(str(prog), RunConfig(argv=("--lr", "1"), max_seconds=5, in_process=True, seed=0, verify=True))]
    base = RunConfig(max_steps=7, curvature=True)
    faultlens.run(str(prog), config=base, seed=2)
    assert seen[-1][1] == base.replace(seed=2)
    with pytest.raises(TypeError):
        faultlens.run(str(prog), no_such_option=1)


def test_the_command_line_builds_the_config_once(tmp_path, monkeypatch):
    from faultlens.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("pass\n")
    seen = {}

    def run_stage(path, config):
        seen["run"] = (path, config)
        return SimpleNamespace(status="finished")

    def finish_run(result, args, config=None):
        seen["finish"] = config
        return 0

    monkeypatch.setattr(pipeline, "run_stage", run_stage)
    monkeypatch.setattr(pipeline, "finish_run", finish_run)
    assert main(["run", "train.py", "--max-steps", "7", "--seed", "1", "--quiet", "--", "--epochs", "2"]) == 0
    path, config = seen["run"]
    assert path == "train.py" and seen["finish"] is config
    assert (config.argv, config.max_steps, config.seed, config.stream, config.check) == (("--epochs", "2"), 7, 1, False, True)
    assert config.max_seconds == 600.0 and config.started is not None  # the default limit bounds the whole command


def test_the_public_run_functions_keep_their_keywords(tmp_path):
    from faultlens.errors import UsageError
    from faultlens.instrumenter.runner import run_program

    prog = tmp_path / "train.py"
    prog.write_text("pass\n")
    with pytest.raises(UsageError, match="--max-steps must be at least 1"):
        run_program(str(prog), [], max_steps=0, max_seconds=5, stream=False, out_dir=str(tmp_path / "run"))
    with pytest.raises(UsageError, match="--max-seconds must be positive"):
        run_program(str(prog), config=RunConfig(max_seconds=-1.0))
    with pytest.raises(TypeError):
        run_program(str(prog), no_such_option=1)


def test_a_corpus_job_runs_under_its_config(monkeypatch):
    from faultlens.corpus import worker
    from faultlens.instrumenter import runner

    seen = {}
    monkeypatch.setattr(runner, "execute", lambda path, **kw: seen.update(kw, path=path))
    worker._call_execute("p.py", "t.sqlite", {"seed": 4, "max_steps": 9, "max_seconds": 20.0, "curvature": 1})
    assert seen["path"] == "p.py" and seen["trace_path"] == "t.sqlite"
    assert seen["config"] == RunConfig(argv=("--seed", "4"), max_steps=9, max_seconds=20.0, curvature=True, seed=4,
                                       stream=True)


# ---------------------------------------------------------------- a failing stage is named in the notes
def test_a_healthy_pipeline_names_no_failure(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rep, _ = pipeline.diagnose_result(_diverging_result(tmp_path), "mlp_loop.py")
    assert rep.top.type == "learning_rate" and rep.top.locations and rep.top.patch is not None
    assert not [n for n in rep.notes if "failed" in n], rep.notes


@pytest.mark.parametrize("target, note", [
    ("faultlens.localizer.localize", "localization failed (learning_rate): RuntimeError: boom"),
    ("faultlens.localizer.handlers.learning_rate.LearningRate.locate",
     "localization (learning_rate) stopped part-way: RuntimeError: boom"),
    ("faultlens.models.classifier.load_shipped", "the trained model was not used (rules only): RuntimeError: boom"),
    ("faultlens.localizer.patches.make_patch", "the patch failed (learning_rate): RuntimeError: boom"),
    ("faultlens.analyzer.lint.lint_paths", "lint failed: RuntimeError: boom"),
    ("faultlens.analyzer.build_graph", "the program graph failed: RuntimeError: boom"),
    ("faultlens.report.build.plot_series", "the report's plots failed: RuntimeError: boom"),
    ("faultlens.report.build.sampled_figures", "the sampled-figures summary failed: RuntimeError: boom"),
])
def test_a_failing_stage_is_named_in_the_notes(tmp_path, monkeypatch, target, note):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(target, _boom, raising=False)
    rep, _ = pipeline.diagnose_result(_diverging_result(tmp_path), "mlp_loop.py")
    assert note in rep.notes, rep.notes
    assert rep.verdict == "faulty" and rep.top.type == "learning_rate"  # the rest of the report is there
    assert note in json.loads(rep.to_json())["notes"] and f"note: {note}" in rep.to_text()
    if "localization" in note:
        assert rep.top.locations == []
    if "patch" in note:
        assert rep.top.patch is None and rep.top.locations


def test_an_interrupted_library_run_starts_no_further_run(tmp_path, monkeypatch):
    """``verify=True`` after a Ctrl-C: the library call, like ``faultlens run``, runs nothing again."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipeline, "verify_patch", _boom)
    monkeypatch.setattr(pipeline, "check_patch", _boom)
    res = _diverging_result(tmp_path, status="interrupted")
    rep, _ = pipeline.after_run(res, RunConfig(verify=True, check=True), "mlp_loop.py")
    assert rep.top.patch is not None and "patch not checked: the run was interrupted" in rep.notes


def test_a_localizer_failure_in_a_real_run_is_reported(tmp_path, monkeypatch):
    """The issue's case: the localizer raised and the report said nothing (no locations)."""
    import faultlens

    monkeypatch.chdir(tmp_path)
    p = tmp_path / "train.py"
    p.write_text(PROG)
    monkeypatch.setattr("faultlens.localizer.localize", _boom)
    rep = faultlens.run(str(p), in_process=True, out_dir=str(tmp_path / "run"), max_seconds=60, seed=0)
    assert rep.verdict == "faulty" and rep.top.locations == []
    assert any(n.startswith("localization failed (") and n.endswith("RuntimeError: boom") for n in rep.notes), rep.notes
