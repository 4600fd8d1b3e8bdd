"""Per-class report, ROC / precision-recall curves and MAPE, computed from the test predictions."""

import numpy as np
import pandas as pd
import pytest

from core.data.splitting import TargetInfo
from core.evaluation.metrics import calibration, compute_metrics, per_class_report, roc_and_pr_curves, threshold_metrics


def predictions() -> pd.DataFrame:
    actual = ["cat", "cat", "dog", "dog", "bird", "bird"]
    predicted = ["cat", "dog", "dog", "dog", "bird", "cat"]
    probabilities = np.array(
        [[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.5, 0.1, 0.4]]
    )
    frame = pd.DataFrame({"actual": actual, "predicted": predicted})
    for i, name in enumerate(["cat", "dog", "bird"]):
        frame[f"prob_{name}"] = probabilities[:, i]
    return frame


def test_per_class_report_counts_each_class():
    report = per_class_report(predictions(), ("bird", "cat", "dog")).set_index("class")
    assert report.loc["dog", "recall"] == 1.0
    assert report.loc["dog", "precision"] == pytest.approx(2 / 3)
    assert report.loc["cat", "support"] == 2
    assert report.loc["bird", "recall"] == 0.5


def test_curves_one_vs_rest_with_areas():
    roc, pr = roc_and_pr_curves(predictions(), ("bird", "cat", "dog"))
    assert [c.name for c in roc] == ["bird", "cat", "dog"]
    dog = next(c for c in roc if c.name == "dog")
    assert dog.area == pytest.approx(1.0)  # every dog scores above every non-dog
    assert all(0.0 <= c.area <= 1.0 for c in pr)


def test_binary_curves_are_for_the_positive_class_only():
    frame = pd.DataFrame({"actual": ["no", "yes", "yes", "no"], "predicted": ["no", "yes", "no", "no"]})
    frame["prob_no"], frame["prob_yes"] = [0.9, 0.2, 0.6, 0.7], [0.1, 0.8, 0.4, 0.3]
    roc, _ = roc_and_pr_curves(frame, ("no", "yes"))
    assert [c.name for c in roc] == ["yes"]


def test_mape_leaves_out_zero_actuals():
    target = TargetInfo(name="y", task="regression", mean=0.0, std=1.0)
    metrics = compute_metrics(target, np.array([100.0, 200.0, 0.0]), np.array([110.0, 180.0, 5.0]))
    assert metrics["mape"] == pytest.approx((0.1 + 0.1) / 2)


def test_threshold_trades_precision_for_recall():
    frame = pd.DataFrame({"actual": ["no", "yes", "yes", "no", "yes"], "predicted": ["no"] * 5})
    frame["prob_yes"] = [0.1, 0.35, 0.8, 0.4, 0.6]
    frame["prob_no"] = 1 - frame["prob_yes"]
    strict = threshold_metrics(frame, ("no", "yes"), 0.7)
    lenient = threshold_metrics(frame, ("no", "yes"), 0.3)
    assert strict["recall"] == pytest.approx(1 / 3) and strict["precision"] == 1.0
    assert lenient["recall"] == 1.0 and lenient["precision"] == pytest.approx(3 / 4)
    assert lenient["confusion"].tolist() == [[1, 1], [0, 3]]


def test_calibration_bins_compare_predicted_and_observed():
    rng = np.random.default_rng(0)
    probability = rng.uniform(size=4000)
    frame = pd.DataFrame({"actual": np.where(rng.uniform(size=4000) < probability, "yes", "no")})
    frame["prob_yes"] = probability
    predicted, observed = calibration(frame, ("no", "yes"))
    assert np.max(np.abs(predicted - observed)) < 0.08  # honest probabilities lie on the diagonal
