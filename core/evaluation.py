"""Test-split metrics, computed with scikit-learn from the network's outputs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from core.datasets import TargetInfo

METRIC_LABELS = {
    "accuracy": "Accuracy",
    "precision": "Precision (macro)",
    "recall": "Recall (macro)",
    "f1": "F1 (macro)",
    "roc_auc": "ROC AUC",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R²",
    "mape": "MAPE",
}


def probabilities_from_output(output: np.ndarray, target: TargetInfo) -> np.ndarray:
    """Network output → one probability column per class (binary: the sigmoid is P(second class))."""
    output = np.asarray(output, dtype="float64")
    if target.task == "binary":
        positive = output.reshape(-1)
        return np.stack([1.0 - positive, positive], axis=1)
    return output


def predicted_classes(probabilities: np.ndarray, task: str, threshold: float = 0.5) -> np.ndarray:
    """Class index per row: binary → the second class when its probability is at least `threshold`
    (exactly what the exported model's label does); multiclass → the most probable class."""
    if task == "binary":
        return (probabilities[:, 1] >= np.float32(threshold)).astype("int64")
    return probabilities.argmax(axis=1)


def compute_metrics(
    target: TargetInfo, y_encoded: np.ndarray, output: np.ndarray, *, threshold: float = 0.5
) -> dict[str, float | None]:
    """Every test metric for the task. A metric that is undefined on this split (e.g. ROC AUC when the
    test rows hold one class) is `None`, never a made-up number. `threshold`: binary tasks only."""
    if target.task == "regression":
        y_true = np.asarray(y_encoded, dtype="float64") * target.std + target.mean
        y_pred = np.asarray(output, dtype="float64").reshape(-1) * target.std + target.mean
        nonzero = np.abs(y_true) > 1e-12
        return {
            "mae": float(skm.mean_absolute_error(y_true, y_pred)),
            "rmse": float(math.sqrt(skm.mean_squared_error(y_true, y_pred))),
            "r2": float(skm.r2_score(y_true, y_pred)),
            # Undefined when every actual value is zero; rows with an actual of zero are left out of it.
            "mape": float(np.mean(np.abs((y_true[nonzero] - y_pred[nonzero]) / y_true[nonzero])))
            if nonzero.any()
            else None,
        }
    probabilities = probabilities_from_output(output, target)
    y_true = np.asarray(y_encoded, dtype="int64")
    y_pred = predicted_classes(probabilities, target.task, threshold)
    labels = list(range(len(target.classes)))
    result: dict[str, float | None] = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision": float(skm.precision_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)),
        "recall": float(skm.recall_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)),
        "f1": float(skm.f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)),
        "roc_auc": None,
    }
    present = np.unique(y_true)
    if len(present) >= 2:
        if target.task == "binary":
            result["roc_auc"] = float(skm.roc_auc_score(y_true, probabilities[:, 1]))
        elif len(present) == len(labels):
            result["roc_auc"] = float(skm.roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro"))
    return result


def predictions_frame(target: TargetInfo, y_encoded: np.ndarray, output: np.ndarray) -> pd.DataFrame:
    """Test rows' true and predicted values in the user's label space, for the Evaluate page."""
    if target.task == "regression":
        return pd.DataFrame(
            {
                "actual": np.asarray(y_encoded, dtype="float64") * target.std + target.mean,
                "predicted": np.asarray(output, dtype="float64").reshape(-1) * target.std + target.mean,
            }
        )
    probabilities = probabilities_from_output(output, target)
    classes = np.array(target.classes, dtype=object)
    frame = pd.DataFrame(
        {
            "actual": classes[np.asarray(y_encoded, dtype="int64")],
            "predicted": classes[predicted_classes(probabilities, target.task)],
        }
    )
    for index, name in enumerate(target.classes):
        frame[f"prob_{name}"] = probabilities[:, index]
    return frame


def confusion_matrix(predictions: pd.DataFrame, classes: tuple[str, ...]) -> np.ndarray:
    return skm.confusion_matrix(predictions["actual"], predictions["predicted"], labels=list(classes))


def per_class_report(predictions: pd.DataFrame, classes: tuple[str, ...]) -> pd.DataFrame:
    """Precision, recall, F1 and support of each class on the test rows."""
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        predictions["actual"], predictions["predicted"], labels=list(classes), zero_division=0
    )
    return pd.DataFrame(
        {"class": list(classes), "precision": precision, "recall": recall, "F1": f1, "support": support}
    )


@dataclass(frozen=True, slots=True)
class Curve:
    name: str
    x: np.ndarray
    y: np.ndarray
    area: float


def roc_and_pr_curves(predictions: pd.DataFrame, classes: tuple[str, ...]) -> tuple[list[Curve], list[Curve]]:
    """ROC and precision-recall curves, one-vs-rest: for binary tasks only the second (positive) class."""
    chosen = classes[1:] if len(classes) == 2 else classes
    roc, pr = [], []
    for name in chosen:
        truth = (predictions["actual"] == name).to_numpy()
        if truth.all() or not truth.any():
            continue  # a class absent from (or alone in) the test rows has no curve
        scores = predictions[f"prob_{name}"].to_numpy()
        fpr, tpr, _ = skm.roc_curve(truth, scores)
        roc.append(Curve(name, fpr, tpr, float(skm.auc(fpr, tpr))))
        precision, recall, _ = skm.precision_recall_curve(truth, scores)
        pr.append(Curve(name, recall, precision, float(skm.average_precision_score(truth, scores))))
    return roc, pr


def threshold_metrics(predictions: pd.DataFrame, classes: tuple[str, ...], threshold: float) -> dict:
    """Binary only: the labels and scores when the second class is predicted at P >= threshold."""
    positive = classes[1]
    truth = (predictions["actual"] == positive).to_numpy()
    chosen = predictions[f"prob_{positive}"].to_numpy() >= threshold
    return {
        "accuracy": float(np.mean(truth == chosen)),
        "precision": float(skm.precision_score(truth, chosen, zero_division=0)),
        "recall": float(skm.recall_score(truth, chosen, zero_division=0)),
        "f1": float(skm.f1_score(truth, chosen, zero_division=0)),
        "confusion": skm.confusion_matrix(truth, chosen, labels=[False, True]),
    }


def calibration(predictions: pd.DataFrame, classes: tuple[str, ...], bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Binary only: (mean predicted probability, observed share of the second class) per probability bin."""
    from sklearn.calibration import calibration_curve

    positive = classes[1]
    observed, predicted = calibration_curve(
        predictions["actual"] == positive, predictions[f"prob_{positive}"], n_bins=bins, strategy="quantile"
    )
    return predicted, observed
