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

import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator


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
