"""The decision threshold of a binary run: the probability of the second class at which it is predicted.

`save_threshold` stores it in the run directory (`decision.json`); `load_threshold` reads it (0.5 when none
was saved). `apply_threshold` saves it and rebuilds the run's `model.keras` (network + preprocessing +
threshold) in a child process, because the web server never imports Keras: the Predict page, the Download
page and every export made from `model.keras` then label rows with it.

    python -m core.kinds.rebuild RUN_DIR    # rebuild RUN_DIR/model.keras with the saved threshold (any kind)
"""

from __future__ import annotations

import math
from pathlib import Path

from core.errors import AppError
from core.i18n import LANGUAGE_ENV, get_language, t
from core.run_store import RunFiles
from core.runtime.child import child_error, run_module

DEFAULT_THRESHOLD = 0.5
REBUILD_TIMEOUT_S = 300


def _check(value) -> float:
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        threshold = math.nan
    if not 0.0 < threshold < 1.0:
        raise AppError(t("deploy.threshold.invalid", value=repr(value)))
    return threshold


def save_threshold(run_dir: Path, value: float) -> float:
    """Store the threshold (atomically) and return it as saved."""
    threshold = _check(value)
    RunFiles(run_dir).write_json(RunFiles.DECISION, {"threshold": threshold})
    return threshold


def load_threshold(run_dir: Path) -> float:
    """The saved threshold, or 0.5 when none was saved (or the file is unreadable)."""
    try:
        saved = RunFiles(run_dir).read_json(RunFiles.DECISION, {})
        return _check(saved.get("threshold", DEFAULT_THRESHOLD))
    except (AppError, ValueError, AttributeError):
        return DEFAULT_THRESHOLD


def apply_threshold(run_dir: Path, value: float, *, timeout: float = REBUILD_TIMEOUT_S) -> float:
    """Save the threshold and rebuild `model.keras` with it, in a child process. Returns the threshold.

    Raises:
        AppError: the value is not a probability, the run is not binary, or the rebuild failed.
    """
    run_dir = Path(run_dir)
    files = RunFiles(run_dir)
    target = files.target() or {}
    if target.get("task") != "binary":
        raise AppError(t("deploy.threshold.not_binary"))
    if not files.exists(RunFiles.NETWORK):
        raise AppError(t("deploy.threshold.no_network"))
    threshold = save_threshold(run_dir, value)
    result = run_module(
        "core.kinds.rebuild",
        [str(run_dir)],
        timeout=timeout,
        env={LANGUAGE_ENV: get_language()},
        timeout_message=t("deploy.threshold.timeout", seconds=f"{timeout:.0f}"),
    )
    if result.returncode != 0:
        error = child_error(result, action=t("deploy.threshold.rebuilding"))
        raise AppError(t("deploy.threshold.not_rebuilt", error=error.message))
    return threshold
