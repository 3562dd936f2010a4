"""The options of one faultlens run, in one frozen value (standard library only).

A :class:`RunConfig` is built once -- from the command line (:meth:`RunConfig.from_args`) or
from a library call's keywords (``faultlens.run(path, max_seconds=60)`` builds
``RunConfig(max_seconds=60)``) -- and passed unchanged through every stage: the run
(``faultlens.instrumenter.runner.run_program`` / ``execute``), the diagnosis, the patch check and
the verification (``faultlens.report.pipeline``), the corpus worker and the benchmarks.
A stage that needs other values makes a new one with :meth:`RunConfig.replace`.

The defaults are those of the library call ``faultlens.run(path)``: the program's output is not
shown, the patch is not test-run. ``faultlens run`` sets both from its options.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class RunConfig:
    #: the program's own command line (what follows ``--``)
    argv: tuple[str, ...] = ()
    #: stop training after this many steps
    max_steps: int | None = None
    #: the time limit; with ``started`` it bounds the whole command (see :attr:`deadline`)
    max_seconds: float | None = None
    #: also measure loss curvature; a float in (0, 1] is the curvature probe's time budget
    curvature: bool | float = False
    #: seed python/numpy/torch before the program runs (and sample steps deterministically)
    seed: int | None = None
    #: stop once the diagnosis is settled (``--no-early-stop`` clears it)
    early_stop: bool = True
    #: the detailed probes run every ``sample_every``-th step
    sample_every: int = 10
    #: the program's working directory (default: the caller's)
    cwd: str | None = None
    #: the run directory (default ``.faultlens/runs/<id>/`` under the working directory)
    out_dir: str | None = None
    #: show the program's output while it runs
    stream: bool = False
    #: with ``stream``, a status line on a terminal's standard error
    progress: bool = False
    #: run the program inside this process (worker reuse) instead of a child process
    in_process: bool = False
    #: when the command began (a ``time.time()`` value): ``max_seconds`` counts from here
    started: float | None = None
    #: lint the program and let the findings into the diagnosis
    lint: bool = True
    #: test-run the top patch with a short run of a patched copy (withdrawn when it fails)
    check: bool = False
    #: re-run the patched program under the same budget
    verify: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "argv", tuple(self.argv))

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with ``changes`` (field names; an unknown name raises ``TypeError``)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def of(cls, config: "RunConfig | None" = None, argv: Sequence[str] | None = None,
           **options: Any) -> "RunConfig":
        """``config`` (default: the defaults) with ``argv`` and the keyword ``options`` applied:
        what the public functions build from their keyword arguments."""
        base = config if config is not None else cls()
        if argv is not None:
            options["argv"] = tuple(argv)
        return base.replace(**options) if options else base

    @classmethod
    def from_args(cls, args: Any) -> "RunConfig":
        """The options of ``faultlens run`` (an ``argparse.Namespace``; absent options keep the
        command's defaults)."""
        g = lambda name, default=None: getattr(args, name, default)  # noqa: E731
        return cls(argv=tuple(g("args") or ()), max_steps=g("max_steps"), max_seconds=g("max_seconds"),
                   curvature=bool(g("curvature", False)), seed=g("seed"), early_stop=g("early_stop", True),
                   sample_every=int(g("sample_every", 10) or 10), out_dir=g("out"),
                   stream=not g("quiet", False), progress=True, started=g("started"),
                   check=g("check", True), verify=bool(g("verify", False)))

    @property
    def deadline(self) -> float | None:
        """When the whole command must be over (a ``time.time()`` value, a second before
        ``started + max_seconds``): the static analysis after the run and the patch check stop
        by then. None without both."""
        if not self.max_seconds or not self.started:
            return None
        return float(self.started) + float(self.max_seconds) - 1.0
