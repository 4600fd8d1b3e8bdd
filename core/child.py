"""Run a LayerLab module in a child Python process.

The web server never imports Keras or TensorFlow, and a native crash (a malformed model file can segfault
the TFLite interpreter) or an out-of-memory kill in a child cannot take the server down. Every page action
that needs Keras goes through `run_module`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from core.errors import AppError

ROOT = Path(__file__).resolve().parent.parent


def run_module(
    module: str,
    arguments: Sequence[str] = (),
    *,
    timeout: float,
    timeout_message: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """`python -m module arguments...` from the repository root; output captured as text.

    Raises `AppError(timeout_message)` when it runs longer than `timeout` seconds (the child is killed).
    The caller reads `returncode`, `stdout` and `stderr` and turns failures into its own messages.
    """
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {}), "PYTHONPATH": str(ROOT)}
    try:
        return subprocess.run(
            [sys.executable, "-m", module, *arguments],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        raise AppError(timeout_message) from None
