"""Helpers for the long-lived child processes the server starts (training workers, the warm helper)."""

from __future__ import annotations

import ctypes
import os
import signal


def die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the server process dies, even by SIGKILL: no orphans keep training."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    expected = os.environ.get("LAYERLAB_SERVER_PID")
    if expected and os.getppid() != int(expected):  # the server died before prctl took effect
        os._exit(0)


def process_memory_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (Linux), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as stream:
            resident_pages = int(stream.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
