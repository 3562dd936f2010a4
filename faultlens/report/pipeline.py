"""The pipeline, in one module: run → diagnose → localize → patch → check / verify → report.

Entry: ``run_pipeline(path, config) -> Report`` (``faultlens.run`` calls it): one program under one
:class:`~faultlens.runconfig.RunConfig`. Its stages, each callable on its own:

* ``run_stage(path, config) -> RunResult``: the instrumented run, in a child process
  (``faultlens.instrumenter.runner.run_program``) or, with ``config.in_process``, in this one
  (``runner.execute``, for worker reuse);
* ``diagnose_result(result, program) -> (Report, graph)``: the program graph and lint findings,
  ``faultlens.models.diagnosis.diagnose``, then ``localize_faults`` and the report's assembly
  (``faultlens.report.build.build_report``);
* ``localize_faults(diagnosis, graph, trace)``: ``faultlens.localizer.localize`` and
  ``faultlens.localizer.patches.make_patch`` for every fault;
* ``check_or_verify(report, result, graph, config)``: ``check_patch`` (a short run of a patched copy
  must start training) or, with ``config.verify``, ``verify_patch`` (a full re-run).

``finish_run(result, args) -> int`` is ``faultlens run``'s end, after ``run_stage``: the stages
above, then the terminal report (unless ``args.quiet``), the combined diff with ``args.diff``,
``args.json`` / ``args.sarif`` / ``args.html``, the patch written into the file with ``args.fix``.

A stage of faultlens's own that fails (the program graph, lint, the localization or the patch
of a fault, the report's figures) does not cost the user the report: it goes on without that
part and names the failure in its notes (``localization failed (learning_rate): ValueError: ...``).

Exit codes: 0 healthy, 1 faulty or crashed, 3 inconclusive (2 stays the CLI's usage error); a
program that ended itself with ``sys.exit(N)`` (crash kind ``exit``) passes its N on.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import threading
import time
import warnings
from typing import Any

from faultlens.errors import FaultlensError
from faultlens.report import failure_note
from faultlens.runconfig import RunConfig
from faultlens.taxonomy import VERDICT_EXIT_CODES

EXIT = VERDICT_EXIT_CODES


def lint_program(path: str) -> tuple[list[Any], str | None]:
    """(the program's lint findings, a note when lint itself failed)."""
    try:
        from faultlens.analyzer.lint import lint_paths
    except ImportError:
        return [], None
    try:
        return list(lint_paths([path])), None
    except FaultlensError:
        return [], None  # the program's own input problem: the run and its crash say it
    except Exception as exc:  # noqa: BLE001 - a lint failure costs the findings, not the report
        return [], failure_note("lint", exc)


def load_graph_for(path: str, argv: Any = None) -> tuple[Any, str | None]:
    """(the program graph or None, a note when the analyzer failed)."""
    try:
        from faultlens.analyzer import build_graph
    except ImportError:
        return None, None
    try:
        return build_graph(path, argv=None if argv is None else list(argv)), None
    except FaultlensError:
        return None, None  # the program cannot be parsed: its crash says so
    except Exception as exc:  # noqa: BLE001 - the diagnosis goes on without a graph, and says so
        return None, failure_note("the program graph", exc)


def _import_analysis() -> None:
    """Import the analyzer and every lint rule in this process (see ``call_bounded``)."""
    try:
        import faultlens.analyzer.build  # noqa: F401
        from faultlens.analyzer.lint.registry import all_rules
        all_rules()
    except ImportError:
        pass


def unused_default_dropped(findings: list[Any], graph: Any) -> list[Any]:
    """Lint judges the program's defaults; a finding at an argparse default that the run's
    command line replaced (a hyperparameter with ``source: "argv"``) is about a value the run
    never used, so it does not go into this run's diagnosis."""
    if graph is None or not getattr(graph, "argv", None):
        return findings
    unused = set()
    root = getattr(graph, "root", None) or ""
    for h in graph.nodes("hyperparameter", source="argv"):
        sp = h.get("default_span")
        if sp:
            unused.add((os.path.normpath(os.path.join(root, sp["path"])), sp["line"], sp["column"]))
    if not unused:
        return findings
    return [f for f in findings if (os.path.normpath(os.path.abspath(getattr(f, "path", "") or "")),
                                    getattr(f, "line", None), getattr(f, "column", None)) not in unused]


def preload_diagnosis() -> threading.Thread:
    """Import the diagnosis stage and load the shipped classifier in a background thread, so that
    the seconds they cost (scikit-learn's import above all) pass while the program trains in its
    child process instead of after it. Errors are left to the real call, which repeats the work."""
    def work() -> None:
        try:
            _import_analysis()
            import numpy.ma  # noqa: F401 - imported by the diagnosis's statistics, ~0.1 s
            from faultlens.instrumenter import trace  # noqa: F401
            from faultlens import localizer  # noqa: F401
            from faultlens.localizer import patches  # noqa: F401
            from faultlens.models import classifier, diagnosis, features  # noqa: F401
            from faultlens.report import build  # noqa: F401
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the real load warns, once, in the main thread
                classifier.load_shipped()
        except Exception:  # noqa: BLE001 - only a head start: the diagnosis repeats it and reports what is wrong
            pass

    global _PRELOAD
    t = threading.Thread(target=work, name="faultlens-preload", daemon=True)
    t.start()
    _PRELOAD = t
    return t


_PRELOAD: threading.Thread | None = None


def _join_preload() -> None:
    """Wait for the preload thread: ``call_bounded`` forks, and a fork taken while another thread
    holds the import lock leaves the child waiting on it for ever."""
    t = _PRELOAD
    if t is not None and t.is_alive():
        t.join(timeout=60.0)  # imports and one model load: seconds, never a minute


# ====================================================================== the entry
def run_pipeline(path: str, config: RunConfig) -> Any:
    """Run ``path`` under ``config``, diagnose it, localize and patch its faults, test the top
    patch (``config.check`` / ``config.verify``); returns the :class:`~faultlens.report.Report`."""
    result = run_stage(path, config)
    report, _ = after_run(result, config, path)
    return report


def after_run(result: Any, config: RunConfig, program: str) -> tuple[Any, Any]:
    """The stages after the run: (Report, graph). Under ``config.deadline`` (``--max-seconds``
    bounding the whole command) the static analysis and the patch check end by then."""
    report, graph = diagnose_result(result, program, lint=config.lint, deadline=config.deadline)
    check_or_verify(report, result, graph, config)
    return report, graph


# ====================================================================== run
def run_stage(path: str, config: RunConfig) -> Any:
    """The instrumented run of ``path`` -> ``RunResult``: a child process, or this process with
    ``config.in_process`` (its run directory ``config.out_dir`` or a new one). Without
    ``config.started`` the run's time limit counts from now."""
    started = time.time() if config.started is None else config.started
    if config.in_process:
        from faultlens.instrumenter.runner import execute, new_run_dir
        run_dir = os.path.abspath(config.out_dir) if config.out_dir else \
            new_run_dir(os.path.abspath(path), os.path.join(os.getcwd(), ".faultlens", "runs"))
        os.makedirs(run_dir, exist_ok=True)
        result = execute(path, trace_path=os.path.join(run_dir, "trace.sqlite"), config=config, run_dir=run_dir)
        if getattr(result, "program", None) is None:
            result.program = path
        return result
    from faultlens.instrumenter.runner import run_program
    preload_diagnosis()
    return run_program(path, config=config.replace(started=started))


# ====================================================================== diagnose, localize, patch
def diagnose_result(result: Any, program: str | None = None, *, lint: bool = True, cwd: str | None = None,
                    patches: bool = True, deadline: float | None = None) -> Any:
    """RunResult -> (Report, graph) (no printing, no files). ``deadline`` (a ``time.time()``
    value, from --max-seconds) bounds the static analysis done here (graph, lint): what does not
    finish by then is left out of the diagnosis, and the report says so."""
    _join_preload()  # it imports what follows; and no fork below may start while it imports
    from faultlens._timebox import TimeUp, call_bounded
    from faultlens.models.diagnosis import diagnose
    from faultlens.models.symptoms import TraceView
    from faultlens.report.build import build_report

    program = program or getattr(result, "program", None) or ""
    src_path = os.path.abspath(getattr(result, "program", None) or program) if (getattr(result, "program", None) or program) else ""
    graph = getattr(result, "graph", None)
    stopped = bool(getattr(result, "analysis_stopped", False))  # the run's own analysis ran out
    notes: list[str] = []  # the stages here that failed
    if deadline is not None:
        _import_analysis()  # here, so the forked copies below import nothing
    left = None if deadline is None else (lambda: deadline - time.time())
    if graph is None and not stopped and src_path and os.path.isfile(src_path):
        try:  # in a forked copy under a limit: the parser cannot be interrupted in native code
            graph, note = call_bounded(lambda: load_graph_for(src_path, getattr(result, "argv", None)),
                                       left() if left else None)
            notes += [note] if note else []
        except TimeUp:
            graph, stopped = None, True
    trace_path = getattr(result, "trace_path", None)
    tv = None
    if trace_path and os.path.exists(trace_path):
        try:
            tv = TraceView.of(trace_path)
        except sqlite3.DatabaseError:
            # the child was stopped (Ctrl-C, a kill) before its trace store wrote its tables:
            # diagnose from what the runner saw, as when there is no trace file at all
            tv = None
    if tv is None:
        tv = TraceView()
        tv.meta = {"status": getattr(result, "status", "crashed"), "steps": getattr(result, "steps", 0),
                   "crash": getattr(result, "crash", None)}
    # the runner's view of the end of the run wins over a trace written by a killed child
    if getattr(result, "crash", None) and not tv.crash:
        tv.meta["crash"] = result.crash
    if getattr(result, "status", None) and tv.meta.get("status") in (None, "running"):
        tv.meta["status"] = result.status
    findings = []
    if lint and src_path and os.path.isfile(src_path):
        try:
            findings, note = call_bounded(lambda: lint_program(src_path), left() if left else None)
            notes += [note] if note else []
        except TimeUp:
            findings, stopped = [], True
    findings = unused_default_dropped(findings, graph)
    diag = diagnose(tv, graph, findings)
    faults, failed = localize_faults(diag, graph, tv, program=program, cwd=cwd, patches=patches)
    report = build_report(program, diag, faults, tv, seconds=float(getattr(result, "seconds", 0.0) or 0.0),
                          trace_path=trace_path, run_dir=getattr(result, "run_dir", None), notes=notes + failed)
    if stopped:
        report.notes.append("static analysis stopped at the time limit (--max-seconds): the diagnosis has "
                            + ("no program graph and no lint findings" if graph is None else "no lint findings"))
        if getattr(report, "stop_reason", None) is None and getattr(result, "stop_reason", None):
            report.stop_reason = result.stop_reason
    return report, graph


#: a crashed run gets a patch only where the localizer found the statement that causes the crash
#: rather than the one that raised it (a graph carried into a second backward: ``carries``); other
#: crashes are located, not patched, since an edit at the raising line rarely removes the cause
CRASH_FIX_ROLES = frozenset({"carries"})


def localize_faults(diagnosis: Any, graph: Any, trace: Any, *, program: str, cwd: str | None = None,
                    patches: bool = True) -> tuple[list[Any], list[str]]:
    """Every diagnosed fault with its ranked statements (``localize``) and, for a faulty verdict
    with ``patches``, its patch (``make_patch``): ([ReportFault], notes). A fault whose
    localization or patch fails keeps its place without them; the note names the failure. A
    crashed run's fault gets a patch when one of its statements has a role in CRASH_FIX_ROLES."""
    from faultlens.localizer import localize
    from faultlens.localizer.patches import make_patch
    from faultlens.report import ReportFault

    faults, notes = [], []
    for i, f in enumerate(diagnosis.faults):
        try:
            # the crash statement heads the first fault only; every handler reads the crash
            locs = localize(f, graph, crash=diagnosis.crash, cwd=cwd, program=program, errors=notes,
                            crash_statement=i == 0)
        except Exception as exc:  # noqa: BLE001 - the fault is still reported, without statements
            locs = []
            notes.append(failure_note("localization", exc, f.type))
        patch = None
        if patches and (diagnosis.verdict == "faulty" or (
                diagnosis.verdict == "crashed" and any(l.role in CRASH_FIX_ROLES for l in locs))):
            try:
                patch = make_patch(f, graph, trace=trace, locations=locs, cwd=cwd)
            except Exception as exc:  # noqa: BLE001 - the fault is still reported, without a patch
                notes.append(failure_note("the patch", exc, f.type))
        faults.append(ReportFault(f.type, f.confidence, f.summary, locs, [e.to_dict() for e in f.evidence], patch))
    return faults, notes


# ====================================================================== check / verify the patch
def check_or_verify(report: Any, result: Any, graph: Any, config: RunConfig) -> None:
    """Test the top fault's patch as ``config`` asks: ``verify`` re-runs the patched program
    (``verify_patch``), else ``check`` test-runs it (``check_patch``), under what is left of
    ``config.deadline``. After an interrupted run nothing runs the program again."""
    top = report.top
    if top is None or top.patch is None:
        return
    if getattr(result, "status", None) == "interrupted":
        # Ctrl-C asks faultlens to stop: no further run of the program, not even a short one
        report.notes.append("patch not checked: the run was interrupted")
    elif config.verify:
        verify_patch(report, result, graph, config)
    elif config.check:
        limit = max(CHECK_SECONDS, 2.0 * _startup_seconds(result) + 10.0)
        if config.deadline is not None:  # --max-seconds bounds the whole command: the check gets what is left
            limit = min(limit, config.deadline - time.time())
        if limit >= CHECK_MIN_SECONDS:
            check_patch(report, result, graph, max_seconds=limit)
        else:
            report.notes.append("patch not checked: the time limit left no room for a test run")


def _loss_tail(report: Any) -> float | None:
    curves = (report.plots or {}).get("curves", {})
    if "loss" not in curves:
        return None
    vals = [v for v in curves["loss"][1]]
    if not vals:
        return None
    k = max(1, len(vals) // 5)
    tail = vals[-k:]
    if any(v is None for v in tail):
        return float("inf")
    return sum(tail) / len(tail)


def _patched_copy(report: Any, result: Any, graph: Any, patch: Any, name: str) -> tuple[str, str]:
    """Copy the program's files into ``<run dir>/<name>/src`` with ``patch`` applied; returns
    (the copy's entry file, the ``<name>`` directory)."""
    root = getattr(graph, "root", None) or os.path.dirname(os.path.abspath(report.program))
    base = result.run_dir or os.path.join(os.getcwd(), ".faultlens")
    vdir = os.path.join(base, name)
    src_dir = os.path.join(vdir, "src")
    shutil.rmtree(vdir, ignore_errors=True)
    os.makedirs(src_dir, exist_ok=True)
    files = list(getattr(graph, "files", []) or [])
    entry_abs = os.path.abspath(getattr(result, "program", None) or report.program)
    entry_rel = os.path.relpath(entry_abs, root)
    if entry_rel not in files:
        files.append(entry_rel)
    for rel in files:
        s = os.path.join(root, rel)
        d = os.path.join(src_dir, rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if os.path.isfile(s):
            shutil.copy2(s, d)
    if patch.path and patch.new_source:
        prel = os.path.relpath(patch.path, root)
        with open(os.path.join(src_dir, prel), "w", encoding="utf-8") as fh:
            fh.write(patch.new_source)
    return os.path.join(src_dir, entry_rel), vdir


def _startup_seconds(result: Any) -> float:
    """Seconds the run's program took to reach its first training step (its imports: a
    Lightning or Hugging Face program spends many seconds importing before training, far more
    on a loaded machine): the patched copy's check waits twice that, plus 10 s, when that is
    longer than ``CHECK_SECONDS``. 0 when the trace does not say."""
    try:
        from faultlens.instrumenter.store import read_meta
        path = getattr(result, "trace_path", "") or ""
        if not os.path.isfile(path):
            return 0.0
        meta = read_meta(path)
        total, training = meta.get("seconds"), meta.get("training_seconds")
        if isinstance(total, (int, float)) and isinstance(training, (int, float)):
            return max(0.0, float(total) - float(training))
    except Exception:  # noqa: BLE001 - a trace a killed child left unreadable has no figure: the default limit applies
        pass
    return 0.0


def _run_argv(patch: Any, result: Any) -> list[str]:
    """The command line a patched copy runs with: a command-line patch's own, else the run's."""
    argv = patch.argv if getattr(patch, "argv", None) is not None else getattr(result, "argv", [])
    return list(argv or [])


#: the quick patch check: steps a patched copy must reach, and its time limit (seconds)
CHECK_STEPS = 3
CHECK_SECONDS = 30.0
#: below this many seconds left of ``--max-seconds``, the patch is left unchecked
CHECK_MIN_SECONDS = 8.0


def check_patch(report: Any, result: Any, graph: Any, *, max_seconds: float = CHECK_SECONDS) -> bool | None:
    """The check ``faultlens run`` makes by default on the top fault's patch: a short run
    (``CHECK_STEPS`` steps) of a patched copy must at least start training (or, for a program
    that never trained, run without crashing). A patch that fails is withdrawn, with a note
    saying why: no offered patch breaks the program. Sets ``patch.checked``; returns it."""
    top = report.top
    if top is None or top.patch is None:
        return None
    from faultlens.instrumenter.runner import run_program

    patch = top.patch
    entry, vdir = _patched_copy(report, result, graph, patch, "check")
    check = RunConfig(max_steps=CHECK_STEPS, max_seconds=max_seconds, out_dir=os.path.join(vdir, "run"),
                      sample_every=1000)
    try:
        res = run_program(entry, _run_argv(patch, result), config=check)
    except Exception as exc:  # noqa: BLE001 - any failure to run the copy withdraws the patch, with a note
        res, err = None, f"{type(exc).__name__}: {exc}"
    else:
        err = None
        if res.status == "crashed":
            c = res.crash or {}
            err = f"{c.get('type', 'error')}: {c.get('message', '')}".strip()
    trained_before = int(getattr(result, "steps", 0) or 0) > 0
    ok = err is None and res is not None and (res.steps > 0 or not trained_before)
    if not ok and err is None and res is not None and res.stop_reason in ("max_seconds", "max_seconds_hard"):
        # too slow to reach a step within the check's limit: neither shown to work nor to fail
        report.notes.append(f"patch not checked: the patched copy reached no step in {max_seconds:.0f} s")
        return None
    if not ok:
        report.notes.append(f"a proposed patch ({patch.description}) was withdrawn: the patched copy "
                            + (f"crashed ({err})" if err else "did not start training"))
        top.patch = None
        return False
    patch.checked = True
    return True


def verify_patch(report: Any, result: Any, graph: Any, config: RunConfig) -> dict[str, Any] | None:
    """Re-run the program with the top fault's patch applied (a copy in the run directory)
    under the run's budget, seed, curvature and sampling (``config``; without a budget: 60 s or
    three times the run's seconds); set ``patch.verified`` and ``patch.verification``."""
    top = report.top
    if top is None or top.patch is None:
        return None
    from faultlens.instrumenter.runner import run_program

    patch = top.patch
    entry, vdir = _patched_copy(report, result, graph, patch, "verify")
    max_seconds = config.max_seconds
    if config.max_steps is None and max_seconds is None:
        max_seconds = max(60.0, 3.0 * float(result.seconds or 0))
    rerun = RunConfig(max_steps=config.max_steps, max_seconds=max_seconds, out_dir=os.path.join(vdir, "run"),
                      curvature=config.curvature, seed=config.seed, sample_every=config.sample_every)
    try:
        res2 = run_program(entry, _run_argv(patch, result), config=rerun)
    except Exception as exc:  # noqa: BLE001 - the verification records the failure (patch.verification)
        patch.verified = False
        patch.verification = {"error": f"{type(exc).__name__}: {exc}", "summary": "the patched program could not be run"}
        return patch.verification
    rep2, _ = diagnose_result(res2, entry, lint=False, patches=False)
    before = {e["symptom"] for e in top.evidence if e["symptom"] != "crash"}
    cats = {s["symptom"]: s.get("category") for s in report.symptoms}
    key = {s for s in before if cats.get(s) in ("failure", "defect")} or before
    after = {s["symptom"] for s in rep2.symptoms}
    gone = sorted(key - after)
    remaining = sorted(key & after)
    l0, l1 = _loss_tail(report), _loss_tail(rep2)
    improved = (l1 is not None and (l0 is None or l1 < l0 or (l0 == float("inf") and l1 != float("inf"))))
    if report.verdict == "faulty" and l0 is not None and l1 is not None and l0 != float("inf"):
        improved = l1 <= l0 * 1.02 if key & {"accumulating_gradients", "eval_mode_missing", "train_mode_missing",
                                             "output_range_mismatch"} else l1 < l0
    ok = rep2.verdict not in ("crashed",) and not remaining and bool(improved)
    patch.verified = bool(ok)
    patch.verification = {
        "verdict": rep2.verdict, "symptoms_gone": gone, "symptoms_remaining": remaining,
        "loss_before": l0, "loss_after": l1, "steps": rep2.steps, "trace": rep2.trace,
        "summary": (f"re-ran the patched copy: verdict {rep2.verdict}; "
                    + (f"symptoms gone: {', '.join(gone)}; " if gone else "")
                    + (f"still present: {', '.join(remaining)}; " if remaining else "")
                    + (f"final loss {_f(l0)} -> {_f(l1)}" if l0 is not None or l1 is not None else "")),
    }
    return patch.verification


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _write(path: str, text: str) -> None:
    try:
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise FaultlensError(f"{path}: cannot write: {exc}") from exc


def write_outputs(report: Any, args: Any) -> None:
    if getattr(args, "json", None):
        _write(args.json, report.to_json() + "\n")
    if getattr(args, "sarif", None):
        _write(args.sarif, json.dumps(report.to_sarif(), indent=2) + "\n")
    if getattr(args, "html", None):
        _write(args.html, report.to_html())


def finish_run(result: Any, args: Any, config: RunConfig | None = None) -> int:
    """``faultlens run`` after the run: the report of ``result`` under ``config`` (default: the
    one ``args`` gives), printed and written as ``args`` asks; returns the exit code."""
    config = RunConfig.from_args(args) if config is None else config
    program = getattr(args, "file", None) or getattr(result, "program", None) or ""
    report, graph = after_run(result, config, program)
    if getattr(args, "notebook_map", None) is not None:
        args.notebook_map(report)  # a notebook's run: locations and patches back into its cells
    quiet = bool(getattr(args, "quiet", False))
    out = sys.stdout
    if not quiet:
        out.write(report.to_text(color=out.isatty()))
    if getattr(args, "diff", False):
        d = report.combined_diff()
        if d:
            out.write(d)
        elif not quiet:
            out.write("faultlens: no patch to show\n")
    write_outputs(report, args)
    if getattr(args, "fix", False):
        top = report.top
        if top is not None and top.patch is not None and getattr(top.patch, "argv", None) is not None:
            print(f"faultlens: nothing to write: {top.patch.description}", file=sys.stderr)
        elif top is not None and top.patch is not None:
            _write(top.patch.path, top.patch.new_source)
            print(f"faultlens: fixed {os.path.relpath(top.patch.path)}: {top.patch.description}", file=sys.stderr)
        else:
            print("faultlens: nothing to fix", file=sys.stderr)
    out.flush()
    rc = getattr(result, "returncode", None)
    if (report.crash or {}).get("category") == "exit" and isinstance(rc, int) and 0 < rc < 256:
        return rc  # the program's own sys.exit status is passed on
    return EXIT.get(report.verdict, 1)
