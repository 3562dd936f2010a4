"""The progress line ``faultlens run`` keeps on a terminal while the program trains.

``faultlens: step 1200  loss 0.4312  12.5 s of 600 s  symptoms: oscillating_loss`` — redrawn
about once a second on standard error, only when standard error is a terminal. The parent
reads the child's trace store (SQLite in WAL mode: a reader never blocks the writer) and, every
few seconds, runs the failure/defect symptom detectors on what has been recorded so far, so
"symptoms" are the ones the final diagnosis would see on this prefix. Lines the program prints
clear the status line first and redraw it after, so the program's own output stays intact.
"""
from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from typing import Any, Callable, TextIO

#: seconds between redraws, and between two runs of the symptom detectors
REDRAW_SECONDS = 1.0
SYMPTOM_SECONDS = 5.0
_CLEAR = "\r\033[K"


def read_progress(trace_path: str) -> tuple[int | None, float | None]:
    """(steps so far, last training loss) from a trace store that may still be written."""
    if not os.path.exists(trace_path):
        return None, None
    try:
        con = sqlite3.connect(f"file:{trace_path}?mode=ro", uri=True, timeout=0.2)
    except sqlite3.Error:
        return None, None
    try:
        steps = loss = None
        # rows are appended step by step: the newest rows (a rowid range, no table scan) hold
        # the latest loss
        row = con.execute("SELECT step, value FROM scalars WHERE rowid > (SELECT MAX(rowid) FROM scalars) - 5000 "
                          "AND key IN (SELECT id FROM series_keys WHERE metric = 'loss') "
                          "ORDER BY rowid DESC LIMIT 1").fetchone()
        if row is not None:
            steps = int(row[0]) + 1
            loss = None if row[1] is None else float(row[1])
        return steps, loss
    except sqlite3.Error:  # the tables do not exist yet
        return None, None
    finally:
        con.close()


def symptoms_so_far(trace_path: str, graph: Any = None) -> list[str]:
    """Failure/defect symptoms on the prefix recorded so far (empty on any error)."""
    try:
        from faultlens.models.symptoms import detect_all
        return sorted({d.symptom for d in detect_all(trace_path, graph)
                       if d.category in ("failure", "defect")})
    except Exception:  # noqa: BLE001 - a progress line never stops a run
        return []


class Progress:
    """A status line on ``stream`` (standard error), redrawn by a background thread."""

    def __init__(self, trace_path: str, *, limit: float | None = None, graph: Any = None,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.perf_counter):
        self.trace_path, self.limit, self.graph = trace_path, limit, graph
        self.stream = stream or sys.stderr
        self.clock = clock
        self.t0 = clock()
        self.line = ""
        self.symptoms: list[str] = []
        self._last_symptoms = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def wanted(stream: TextIO | None = None) -> bool:
        s = stream or sys.stderr
        try:
            return bool(s.isatty()) and os.environ.get("TERM") != "dumb"
        except (AttributeError, ValueError):
            return False

    def render(self) -> str:
        steps, loss = read_progress(self.trace_path)
        now = self.clock()
        if now - self._last_symptoms >= SYMPTOM_SECONDS and steps:
            self._last_symptoms = now
            self.symptoms = symptoms_so_far(self.trace_path, self.graph)
        parts = [f"faultlens: step {steps}" if steps else "faultlens: starting"]
        if loss is not None:
            parts.append(f"loss {loss:.4g}")
        t = f"{now - self.t0:.0f} s" + (f" of {self.limit:.0f} s" if self.limit else "")
        parts.append(t)
        if self.symptoms:
            parts.append("symptoms: " + ", ".join(self.symptoms))
        return "  ".join(parts)

    def _draw(self, text: str) -> None:
        with self._lock:
            self.line = text
            try:
                self.stream.write(_CLEAR + text)
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def write_through(self, write: Callable[[str], Any], text: str) -> None:
        """Print the program's ``text`` with ``write`` without mixing it into the status line."""
        with self._lock:
            try:
                if self.line:
                    self.stream.write(_CLEAR)
                    self.stream.flush()
                write(text)
                if self.line and text.endswith("\n"):
                    self.stream.write(self.line)
                    self.stream.flush()
            except (OSError, ValueError):
                pass

    def _loop(self) -> None:
        while not self._stop.wait(REDRAW_SECONDS):
            self._draw(self.render())

    def start(self) -> "Progress":
        self._thread = threading.Thread(target=self._loop, name="faultlens-progress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            if self.line:
                try:
                    self.stream.write(_CLEAR)
                    self.stream.flush()
                except (OSError, ValueError):
                    pass
            self.line = ""
