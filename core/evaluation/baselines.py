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

from core.data.quality import IMBALANCE_RATIO, IMBALANCE_SHARE
from core.data.splitting import PreparedData
from core.evaluation.metrics import compute_metrics
from core.i18n import Message, t

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


def _as_output(model, x: np.ndarray, task: str, num_classes: int) -> np.ndarray:
    """Predictions shaped like the network's output, so `compute_metrics` scores both the same way.

    The probability table has a column for every class of the target, not only those the model saw: a rare
    class can land in the test rows alone, and its column then stays at probability 0."""
    if task == "regression":
        return model.predict(x)
    probabilities = np.zeros((len(x), num_classes))
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
                _as_output(
                    model,
                    test.expand(slice(start, start + TEST_BLOCK_ROWS)),
                    data.target.task,
                    max(len(data.target.classes), 2),
                )
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


def is_imbalanced(class_counts) -> bool:
    """Whether accuracy misleads on these classes: the quality gate's rule for recommending balanced class
    weights (the largest class over IMBALANCE_RATIO times the smallest, or a small class with a ratio over 3).
    Classes without rows are left out: they have their own note."""

    counts = np.asarray([count for count in class_counts if count > 0], dtype="float64")
    if len(counts) < 2:
        return False
    ratio = counts.max() / counts.min()
    return bool(ratio > IMBALANCE_RATIO or (counts.min() / counts.sum() < IMBALANCE_SHARE and ratio > 3))


def judged_metric(task: str, network: dict, *, imbalanced: bool = False) -> str:
    """The metric the verdict compares: accuracy or R², except on unbalanced classes, where always guessing
    the largest class already scores a high accuracy: ROC AUC for two classes, macro F1 for more (or when
    ROC AUC is undefined on this split)."""
    if not imbalanced or task == "regression":
        return MAIN_METRIC[task]
    if task == "binary" and network.get("roc_auc") is not None:
        return "roc_auc"
    return "f1"


# The baselines' names are kept in English in metrics.json (they key the results); shown to people through these
# ids ("evaluate.baseline.name.<key>", and lower-case inside a sentence "evaluate.baseline.in_sentence.<key>").
_NAME_KEYS = {
    "Mean (dummy)": "mean",
    "Linear regression (ridge)": "ridge",
    "Gradient boosting": "boosting",
    "Majority class (dummy)": "majority",
    "Logistic regression": "logistic",
    "TF-IDF + logistic regression": "tfidf",
}


def baseline_label(name: str) -> str:
    """A baseline's name as shown, in the current language (an unknown name as it is)."""
    key = _NAME_KEYS.get(name)
    return t(f"evaluate.baseline.name.{key}") if key else name


def _in_sentence(name: str) -> Message | str:
    key = _NAME_KEYS.get(name)
    return Message(f"evaluate.baseline.in_sentence.{key}") if key else name.lower()


def gap_message(task: str, network: dict, baselines: list[dict], *, imbalanced: bool = False) -> Message | None:
    """The comparison in plain words, against the strongest baseline; on unbalanced classes by the metric
    that fits (`judged_metric`), with one sentence saying why. A Message, so metrics.json can keep it as
    `.to_dict()` and show it in the reader's language; None when there is nothing to compare."""
    metric = judged_metric(task, network, imbalanced=imbalanced)
    scored = [b for b in baselines if b["test"].get(metric) is not None]
    if network.get(metric) is None or not scored:
        return None
    best = max(scored, key=lambda b: b["test"][metric])
    gap = (network[metric] - best["test"][metric]) * 100
    params = {"model": _in_sentence(best["name"]), "unit": Message(f"evaluate.gap.unit.{metric}")}
    if abs(gap) < 0.5:
        sentence = Message("evaluate.gap.same", params)
    else:
        sentence = Message("evaluate.gap.above" if gap > 0 else "evaluate.gap.below", {**params, "gap": abs(gap)})
    if metric in ("roc_auc", "f1"):
        return Message(
            "evaluate.gap.with_reason", {"sentence": sentence, "reason": Message(f"evaluate.gap.reason.{metric}")}
        )
    return sentence


def gap_sentence(task: str, network: dict, baselines: list[dict], *, imbalanced: bool = False) -> str:
    """`gap_message` rendered in the current language ("" when there is nothing to compare)."""
    message = gap_message(task, network, baselines, imbalanced=imbalanced)
    return "" if message is None else str(message)


def stored_summary(value) -> str:
    """metrics.json's `baseline_summary` as text: a stored Message dict rendered now, older runs' text as it is."""
    if isinstance(value, dict) and set(value) == {"id", "params"}:
        return str(Message.from_dict(value))
    return "" if value is None else str(value)
