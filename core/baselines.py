"""Simple models on the same split, so the network's score has something to be compared with.

Each baseline is fitted on the network's training rows (the same encoded inputs) and scored on the same
untouched test rows with the same metrics. A network that cannot beat gradient boosting on a table is
common, and the user deserves to know.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge

from core.datasets import PreparedData
from core.evaluation import compute_metrics

# Baselines are a comparison, not the product: on very large tables they fit on a seeded sample.
MAX_BASELINE_ROWS = 200_000
MIN_BASELINE_ROWS = 5_000
BASELINE_MATRIX_BYTES = 256 * 2**20
TEST_BLOCK_ROWS = 65_536  # test rows are expanded from their compact form a block at a time
MAIN_METRIC = {"binary": "accuracy", "multiclass": "accuracy", "regression": "r2"}


def _models(task: str, seed: int) -> dict:
    if task == "regression":
        return {
            "Mean (dummy)": DummyRegressor(strategy="mean"),
            "Linear regression (ridge)": Ridge(alpha=1.0),
            "Gradient boosting": HistGradientBoostingRegressor(random_state=seed),
        }
    return {
        "Majority class (dummy)": DummyClassifier(strategy="most_frequent"),
        "Logistic regression": LogisticRegression(max_iter=300),
        "Gradient boosting": HistGradientBoostingClassifier(random_state=seed),
    }


def _as_output(model, x: np.ndarray, task: str) -> np.ndarray:
    """Predictions shaped like the network's output, so `compute_metrics` scores both the same way."""
    if task == "regression":
        return model.predict(x)
    probabilities = np.zeros((len(x), model.n_classes_ if hasattr(model, "n_classes_") else len(model.classes_)))
    probabilities[:, model.classes_] = model.predict_proba(x)
    return probabilities[:, 1] if task == "binary" else probabilities


def compare_baselines(data: PreparedData, seed: int) -> list[dict]:
    """Fit and score each baseline; returns [{"name", "test": {metric: value}, "seconds"}]."""
    y = data.y_train
    # At most MAX_BASELINE_ROWS, and no more than BASELINE_MATRIX_BYTES of expanded float32 rows (wide tables).
    limit = min(MAX_BASELINE_ROWS, max(MIN_BASELINE_ROWS, BASELINE_MATRIX_BYTES // (4 * max(data.num_features, 1))))
    if len(y) > limit:
        rows = np.random.default_rng(seed).choice(len(y), limit, replace=False)
        x, y = data.encoded_train.expand(rows), y[rows]
    else:
        x = data.x_train
    test = data.encoded_test
    results = []
    for name, model in _models(data.target.task, seed).items():
        started = time.monotonic()
        model.fit(x, y)
        output = np.concatenate(
            [
                _as_output(model, test.expand(slice(start, start + TEST_BLOCK_ROWS)), data.target.task)
                for start in range(0, len(test), TEST_BLOCK_ROWS)
            ]
        )
        results.append(
            {
                "name": name,
                "test": compute_metrics(data.target, data.y_test, output),
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    return results


def gap_sentence(task: str, network: dict, baselines: list[dict]) -> str:
    """The comparison in plain words, against the strongest baseline."""
    metric = MAIN_METRIC[task]
    scored = [b for b in baselines if b["test"].get(metric) is not None]
    if network.get(metric) is None or not scored:
        return ""
    best = max(scored, key=lambda b: b["test"][metric])
    gap = (network[metric] - best["test"][metric]) * 100
    unit = "points of accuracy" if metric == "accuracy" else "points of R² (×100)"
    if abs(gap) < 0.5:
        return f"Your network scores about the same as {best['name'].lower()} on this data (within 0.5 {unit})."
    direction = "above" if gap > 0 else "below"
    return (
        f"Your network is {abs(gap):.1f} {unit} {direction} {best['name'].lower()}, the best simple model on this data."
    )
