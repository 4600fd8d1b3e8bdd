"""The decision threshold of a binary run: the probability of the second class at which it is predicted.

`save_threshold` stores it in the run directory (`decision.json`); `load_threshold` reads it (0.5 when none
was saved). `apply_threshold` saves it and rebuilds the run's `model.keras` (network + preprocessing +
threshold) in a child process, because the web server never imports Keras: the Predict page, the Download
page and every export made from `model.keras` then label rows with it.

    python -m core.deployment.threshold RUN_DIR    # rebuild RUN_DIR/model.keras with the saved threshold
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from core.data.preprocessing import PreprocessingState
from core.data.splitting import TargetInfo
from core.deployment.serving_model import build_serving_model, save_model_atomic
from core.errors import AppError
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
        raise AppError(
            f"The decision threshold must be a probability strictly between 0 and 1. Received: {value!r}. "
            "Pick a value such as 0.5 on the Evaluate page."
        )
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
        raise AppError("A decision threshold applies to two-class (binary) runs only; this run is not one.")
    if not files.exists(RunFiles.NETWORK):
        raise AppError("This run has no saved network (network.keras), so its model cannot be rebuilt. Train again.")
    threshold = save_threshold(run_dir, value)
    result = run_module(
        "core.deployment.threshold",
        [str(run_dir)],
        timeout=timeout,
        timeout_message=f"Rebuilding the model took longer than {timeout:.0f} seconds and was stopped.",
    )
    if result.returncode != 0:
        error = child_error(result, action="Rebuilding the model with the new threshold")
        raise AppError(
            f"The threshold was saved, but the model was not rebuilt: {error.message} "
            "Until it is, predictions use the previous model file."
        )
    return threshold


def rebuild_model(run_dir: Path) -> None:
    """network.keras + preprocessing.json + target.json + the saved threshold → model.keras (needs Keras)."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    run_dir = Path(run_dir)
    files = RunFiles(run_dir)
    network = keras.saving.load_model(files.path(RunFiles.NETWORK), safe_mode=True, compile=False)
    state = PreprocessingState.from_json(files.preprocessing_text())
    target = TargetInfo.from_dict(files.target())
    model = build_serving_model(network, state, target, threshold=load_threshold(run_dir))
    save_model_atomic(model, files.path(RunFiles.MODEL))


if __name__ == "__main__":
    rebuild_model(Path(sys.argv[1]))
