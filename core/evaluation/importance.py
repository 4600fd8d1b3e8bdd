"""Permutation importance of the raw input columns, through the whole serving model (preprocessing included).

Shuffle one column of the test rows, predict again, and see how much the score drops: a column the model
relies on costs a lot when shuffled, one it ignores costs nothing. Each column is shuffled `n_repeats`
times (seeded) and the mean drop and its standard deviation are reported. The score is accuracy for
classification (binary: at the run's decision threshold) and R² for regression, as in scikit-learn's
`permutation_importance`. At most `max_rows` test rows are used (a seeded sample): 2,000 rows pin a score
to about ±1 point, and keep a click on "Compute importances" to a few seconds.

`permutation_importance` is plain numpy around any predict function; `model_importance` runs it on a
LayerLab `.keras` model and needs Keras, so the app runs it in the warm helper process (`core.runtime.helper`), which
reports its progress column by column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from core.data.preprocessing import numeric_values
from core.data.splitting import TargetInfo, class_names
from core.deployment.serving_model import model_inputs
from core.deployment.threshold import load_threshold
from core.evaluation.metrics import held_out_rows
from core.i18n import t
from core.run_store import RunFiles, RunStore
from core.runtime.helper import warm_helper

MAX_ROWS = 2000
N_REPEATS = 5


@dataclass(frozen=True, slots=True)
class ColumnImportance:
    column: str
    mean: float  # mean drop of the score when the column is shuffled (negative: shuffling helped, by chance)
    std: float


@dataclass(frozen=True, slots=True)
class Importance:
    metric: str
    baseline: float  # the score on the unshuffled rows
    num_rows: int
    num_rows_total: int
    n_repeats: int
    seed: int
    columns: tuple[ColumnImportance, ...]  # most important first

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Importance:
        columns = tuple(ColumnImportance(**column) for column in data["columns"])
        return cls(**{**data, "columns": columns})


def permutation_importance(
    predict: Callable[[dict[str, np.ndarray]], np.ndarray],
    inputs: dict[str, np.ndarray],
    y_true: np.ndarray,
    score: Callable[[np.ndarray, np.ndarray], float],
    *,
    n_repeats: int = N_REPEATS,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[float, list[ColumnImportance]]:
    """(score on the rows as they are, each column's mean and std drop when its values are shuffled).

    Args:
        predict: columns (name → array, rows first) → predictions that `score` compares with `y_true`.
        inputs: the raw columns; every one is shuffled in turn, the others stay as they are.
        score: higher is better (accuracy, R²).
        n_repeats: shuffles per column.
        seed: seeds the shuffles, so the same call gives the same numbers.
        progress: called after each column with (share of the columns done, the column's name).

    Example:
        >>> inputs = {"a": np.arange(100.0), "b": np.zeros(100)}
        >>> base, columns = permutation_importance(lambda x: x["a"] > 49, inputs, np.arange(100) > 49,
        ...                                        lambda y, p: float(np.mean(y == p)))
        >>> base, columns[0].column, columns[1].mean
        (1.0, 'a', 0.0)
    """
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be at least 1. Received: n_repeats={n_repeats}")
    rng = np.random.default_rng(seed)
    baseline = float(score(y_true, predict(inputs)))
    num_rows = len(y_true)
    result = []
    for done, name in enumerate(inputs, start=1):
        # The n_repeats shuffled copies go through `predict` as one stacked batch: one model call per column
        # instead of n_repeats keeps a model's per-call overhead out of the wait.
        orders = [rng.permutation(num_rows) for _ in range(n_repeats)]
        stacked = {
            key: np.concatenate([values[order] if key == name else values for order in orders])
            for key, values in inputs.items()
        }
        predicted = predict(stacked)
        drops = [
            baseline - float(score(y_true, predicted[repeat * num_rows : (repeat + 1) * num_rows]))
            for repeat in range(n_repeats)
        ]
        result.append(ColumnImportance(name, float(np.mean(drops)), float(np.std(drops))))
        if progress is not None:
            progress(done / len(inputs), name)
    result.sort(key=lambda column: column.mean, reverse=True)
    return baseline, result


def model_importance(
    model,
    rows: pd.DataFrame,
    target: TargetInfo,
    *,
    threshold: float = 0.5,
    max_rows: int = MAX_ROWS,
    n_repeats: int = N_REPEATS,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> Importance:
    """Permutation importance of a LayerLab serving model on labelled raw rows (needs Keras)."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    total = len(rows)
    if total > max_rows:
        rows = rows.sample(max_rows, random_state=seed)
    rows = rows.reset_index(drop=True)
    if target.task == "regression":
        y_true = numeric_values(rows[target.name])
        metric, score = "r2", lambda y, p: skm.r2_score(y, p)
    else:
        y_true = class_names(rows[target.name]).map({name: i for i, name in enumerate(target.classes)})
        y_true = y_true.to_numpy(dtype="float64", na_value=np.nan)
        metric, score = "accuracy", lambda y, p: float(np.mean(y == p))
    known = np.isfinite(y_true)
    rows, y_true = rows[known].reset_index(drop=True), y_true[known]
    inputs = model_inputs(model, rows)

    def predict(columns: dict[str, np.ndarray]) -> np.ndarray:
        outputs = model(columns)
        if "prediction" in outputs:
            return keras.ops.convert_to_numpy(outputs["prediction"]).reshape(-1)
        probabilities = keras.ops.convert_to_numpy(outputs["probabilities"])
        if target.task == "binary":
            return (probabilities[:, 1] >= np.float32(threshold)).astype("float64")
        return probabilities.argmax(axis=1).astype("float64")

    baseline, columns = permutation_importance(
        predict, inputs, y_true, score, n_repeats=n_repeats, seed=seed, progress=progress
    )
    return Importance(
        metric=metric,
        baseline=baseline,
        num_rows=len(y_true),
        num_rows_total=total,
        n_repeats=n_repeats,
        seed=seed,
        columns=tuple(columns),
    )


def current_settings(run_dir) -> dict:
    """What a cached `importance.json` must match to still describe the run's model (see `evaluation_report`)."""

    model_path = RunFiles(run_dir).path(RunFiles.MODEL)
    return {
        "model_mtime_ns": model_path.stat().st_mtime_ns if model_path.exists() else None,
        "threshold": load_threshold(run_dir),
        "max_rows": MAX_ROWS,
        "n_repeats": N_REPEATS,
    }


def cached_importance(run_dir) -> Importance | None:
    """The importances computed for the run's current model and threshold, or None."""

    try:
        cached = RunFiles(run_dir).importance()
    except ValueError:
        return None
    if not cached or cached.get("settings") != current_settings(run_dir):
        return None
    return Importance.from_dict(cached["importance"])


def compute_importance(run_dir, model, *, progress: Callable[[float, str], None] | None = None) -> Importance:
    """Importances of the run's model (already loaded) on its test rows, cached in `importance.json` with the
    settings `cached_importance` checks. Runs where Keras is loaded: the warm helper (`core.runtime.helper`)."""

    run_dir = Path(run_dir)
    settings = current_settings(run_dir)
    target = TargetInfo.from_dict(RunFiles(run_dir).target())
    rows = held_out_rows(RunStore(run_dir.parent), run_dir.name)
    importance = model_importance(model, rows, target, threshold=load_threshold(run_dir), progress=progress)
    RunFiles(run_dir).write_importance({"settings": settings, "importance": importance.to_dict()})
    return importance


def compute_in_child(
    run_dir, *, timeout: float = 600, on_progress: Callable[[float, str], None] | None = None
) -> Importance:
    """Compute the importances in the warm helper process (the server never imports Keras); it caches
    `importance.json`. `on_progress(share done, column)` is called after each column, in the caller's thread.

    Raises:
        AppError: the helper failed or took longer than `timeout` seconds.
    """

    answer = warm_helper().request(
        {"action": "importance", "run_dir": str(run_dir)},
        action=t("evaluate.importance.action"),
        timeout=timeout,
        timeout_message=t("evaluate.importance.timeout", seconds=f"{timeout:.0f}"),
        on_progress=on_progress,
    )
    return Importance.from_dict(answer["importance"])
