"""Bound a stage of a command by wall time (``--max-seconds`` covers the whole command).

:func:`time_box` raises :class:`TimeUp` in the main thread once its seconds have passed, from
a ``SIGALRM`` timer: Python runs the handler between bytecodes, so pure-Python work (the graph
builder, the lint rules, the rewriter) stops within a few milliseconds, and native work
(libcst's parser, ``compile()``) when it next returns to Python. ``TimeUp`` derives from
``BaseException`` so the stages' own ``except Exception`` fallbacks do not swallow it. Outside
the main thread, or where ``setitimer`` does not exist, the box does not bound anything (the
caller still checks the clock after the stage). A timer already set by the caller is put back
with the time it had left.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from faultlens.errors import FaultlensError

T = TypeVar("T")


class TimeUp(BaseException):
    """The stage ran out of its time."""


@contextmanager
def time_box(seconds: float | None) -> Iterator[None]:
    """Run the block for at most ``seconds`` (None: unbounded); raise :class:`TimeUp` after."""
    if seconds is None:
        yield
        return
    if seconds <= 0:
        raise TimeUp()
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _alarm(signum, frame):
        raise TimeUp()

    t0 = time.monotonic()
    old_handler = signal.signal(signal.SIGALRM, _alarm)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay > 0:  # the caller's timer, less the time this block took
            signal.setitimer(signal.ITIMER_REAL, max(0.001, old_delay - (time.monotonic() - t0)), old_interval)


def call_bounded(fn: Callable[[], T], seconds: float | None) -> T:
    """``fn()``, stopped after ``seconds`` (None: unbounded) with :class:`TimeUp`.

    A ``SIGALRM`` cannot stop native code: libcst's parser spends seconds in Rust on a large
    file before it returns to Python. So under a limit ``fn`` runs in a forked copy of this
    process, which is killed when the time is up; its result comes back pickled. A
    :class:`~faultlens.errors.FaultlensError` raised there is raised here with the same message
    and exit code; any other exception is raised as ``RuntimeError`` naming it. Where ``fork``
    does not exist the call runs here under :func:`time_box`. The forked copy only computes:
    it prints nothing and imports nothing the caller has not imported (import locks held by
    another thread at the fork are no concern then)."""
    if seconds is None:
        return fn()
    if seconds <= 0:
        raise TimeUp()
    if not hasattr(os, "fork"):
        with time_box(seconds):
            return fn()
    deadline = time.monotonic() + seconds
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the forked copy: compute, send, leave without running any cleanup
        status = 1
        try:
            os.close(r)
            try:
                payload = ("ok", fn())
            except FaultlensError as exc:
                payload = ("faultlens", (str(exc), exc.exit_code))
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                payload = ("error", f"{type(exc).__name__}: {exc}")
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(w, "wb") as fh:
                fh.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(w)
    chunks: list[bytes] = []
    try:
        with os.fdopen(r, "rb") as fh:
            fd = fh.fileno()
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeUp()
                ready, _, _ = select.select([fd], [], [], min(left, 0.5))
                if ready:
                    chunk = os.read(fd, 1 << 20)
                    if not chunk:
                        break
                    chunks.append(chunk)
    except BaseException:
        _kill(pid)
        raise
    os.waitpid(pid, 0)
    if not chunks:
        raise RuntimeError("the analysis process ended without a result")
    kind, value = pickle.loads(b"".join(chunks))
    if kind == "ok":
        return value
    if kind == "faultlens":
        raise FaultlensError(value[0], value[1])
    raise RuntimeError(value)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except OSError:
        pass
