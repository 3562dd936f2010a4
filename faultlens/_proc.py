"""Process helpers shared by the stages that start child processes."""
from __future__ import annotations

import sys


def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies (even by SIGKILL), so a killed
    ``faultlens run`` or corpus build leaves no orphan training process behind (the trace store
    is safe against SIGKILL). Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
