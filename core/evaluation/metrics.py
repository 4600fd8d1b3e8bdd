"""Test-split metrics, computed with scikit-learn from the network's outputs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from core.data.preprocessing import numeric_values
from core.data.splitting import TargetInfo, class_names, prepare_data
from core.errors import AppError, DataError
from core.i18n import CatalogView, Message, t
from core.run_store import RunFiles, to_parquet

# What each metric is called, and one plain line per metric shown on hover (what it measures and what a good
# value is): catalog views (ids "evaluate.metric.label.<name>", "evaluate.metric.help.<name>"), read in the
# current language at lookup time, so `METRIC_LABELS.get(name, name)` and `.rename(columns=METRIC_LABELS)` keep
# working.
METRIC_LABELS = CatalogView("evaluate.metric.label.")
METRIC_HELP = CatalogView("evaluate.metric.help.")

# One plain line under each chart of the Evaluate page: how to read it and what good looks like.
CHART_HELP = CatalogView("evaluate.chart_help.")


def threshold_metric_label(name: str, positive: str) -> str:
    """A metric of the chosen class at the decision threshold ("Precision of 'yes'"); `positive` is inserted as
    given (escape it for where it is shown)."""
    return t(f"evaluate.threshold.metric.{name}", positive=positive)


def threshold_metric_help(name: str) -> str:
    return t(f"evaluate.threshold.help.{name}")


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


def per_class_report(
    predictions: pd.DataFrame, classes: tuple[str, ...], training_rows: dict[str, int] | None = None
) -> pd.DataFrame:
    """Precision, recall, F1 and support (test rows) of each class; with `training_rows` (metrics.json's
    `class_rows["train"]`) also each class's training rows.

    A score that is not defined is NaN, not 0: recall and F1 of a class with no test rows, precision of a
    class that is never predicted and has no test rows."""
    labels = list(classes)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        predictions["actual"], predictions["predicted"], labels=labels, zero_division=0
    )
    predicted = predictions["predicted"].value_counts().reindex(labels, fill_value=0).to_numpy()
    absent = support == 0
    report = pd.DataFrame(
        {
            "class": labels,
            "precision": np.where(absent & (predicted == 0), np.nan, precision),
            "recall": np.where(absent, np.nan, recall),
            "F1": np.where(absent, np.nan, f1),
            "support": support,
        }
    )
    if training_rows is not None:
        report["training rows"] = [int(training_rows.get(name, 0)) for name in labels]
    return report


def class_rows(target: TargetInfo, y_train: np.ndarray, y_test: np.ndarray) -> dict[str, dict[str, int]]:
    """Rows of each class in the training and test splits (classification only), for metrics.json."""
    size = len(target.classes)
    return {
        split: dict(
            zip(target.classes, np.bincount(np.asarray(y, dtype="int64"), minlength=size).tolist(), strict=True)
        )
        for split, y in (("train", y_train), ("test", y_test))
    }


def class_row_notes(rows: dict[str, dict[str, int]]) -> list[Message]:
    """Notes for classes missing from the training or the test rows (a rare class lands on one side only), as
    Messages: a run file keeps their id and parameters and shows them in the reader's language."""
    notes = []
    untrained = [name for name, count in rows["train"].items() if count == 0]
    untested = [name for name, count in rows["test"].items() if count == 0]
    if untrained:
        notes.append(_class_note("evaluate.notes.untrained", untrained))
    if untested:
        notes.append(_class_note("evaluate.notes.untested", untested))
    return notes


def _class_note(message_id: str, names: list[str], limit: int = 5) -> Message:
    shown = ", ".join(f"'{name}'" for name in names[:limit])
    if len(names) > limit:
        return Message(message_id + "_more", {"names": shown, "more": len(names) - limit, "count": len(names)})
    return Message(message_id, {"names": shown, "count": len(names)})


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
    chosen = predictions[f"prob_{positive}"].to_numpy() >= np.float32(threshold)  # as the model compares
    return {
        "accuracy": float(np.mean(truth == chosen)),
        "precision": float(skm.precision_score(truth, chosen, zero_division=0)),
        "recall": float(skm.recall_score(truth, chosen, zero_division=0)),
        "f1": float(skm.f1_score(truth, chosen, zero_division=0)),
        "confusion": skm.confusion_matrix(truth, chosen, labels=[False, True]),
    }


def calibration(predictions: pd.DataFrame, classes: tuple[str, ...], bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Binary only: (mean predicted probability, observed share of the second class) per probability bin."""

    positive = classes[1]
    observed, predicted = calibration_curve(
        predictions["actual"] == positive, predictions[f"prob_{positive}"], n_bins=bins, strategy="quantile"
    )
    return predicted, observed


def held_out_rows(store, run_id: str) -> pd.DataFrame:
    """The run's raw test rows (input columns and target), in the order of `predictions.parquet`.

    Re-split from the run's table and spec (the split is seeded, so it is the very same rows) and cached in
    the run directory. Raises AppError when the rows cannot be matched to the predictions.
    """

    files = store.files(run_id)
    cached = files.read_parquet(RunFiles.TEST_ROWS)
    if cached is not None:
        return cached
    spec = store.spec(run_id)
    rows = prepare_data(store.table(run_id), spec.data, spec.preprocessing).test
    predictions = store.predictions(run_id)
    if predictions is None or len(predictions) != len(rows):
        raise AppError(t("evaluate.test_rows.unmatched"))
    data, stored = to_parquet(rows.reset_index(drop=True))
    files.write_bytes(RunFiles.TEST_ROWS, data)
    return stored


def cell_rows(
    predictions: pd.DataFrame,
    rows: pd.DataFrame,
    classes: tuple[str, ...],
    actual: str,
    predicted: str,
    *,
    threshold: float | None = None,
) -> pd.DataFrame:
    """The test rows of one confusion-matrix cell: their raw columns and the probability of the predicted
    class. For binary tasks `threshold` re-labels the rows as the slider does."""
    labels = predictions["predicted"]
    if threshold is not None and len(classes) == 2:
        labels = pd.Series(
            np.where(predictions[f"prob_{classes[1]}"].to_numpy() >= np.float32(threshold), classes[1], classes[0]),
            index=predictions.index,
        )
    chosen = ((predictions["actual"] == actual) & (labels == predicted)).to_numpy()
    result = rows.reset_index(drop=True)[chosen].copy()
    result.insert(0, f"P({predicted})", predictions[f"prob_{predicted}"].to_numpy()[chosen])
    return result


def normalised(matrix: np.ndarray) -> np.ndarray:
    """Each row (actual class) as shares of its rows: the diagonal is each class's recall."""
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype="float64"), where=totals > 0)


def score_table(target: TargetInfo, actual: pd.Series, scored: pd.DataFrame, *, threshold: float = 0.5) -> dict:
    """Metrics of predictions (`core.deployment.serving_model.predict_table`'s columns) against a labelled table's target.

    Rows without a target value, or with a class the run never saw, are left out and counted in `notes`.
    """

    notes = []
    if target.task == "regression":
        values = numeric_values(actual)
        keep = np.isfinite(values)
        y = (values[keep] - target.mean) / target.std
        output = (scored["prediction"].to_numpy(dtype="float64")[keep] - target.mean) / target.std
    else:
        names = class_names(actual)
        codes = names.map({name: i for i, name in enumerate(target.classes)})
        keep = codes.notna().to_numpy()
        unknown = int((names.notna() & codes.isna()).sum())
        if unknown:
            notes.append(t("evaluate.score.unknown_class", count=unknown))
        y = codes[keep].to_numpy(dtype="int64")
        probabilities = scored[[f"prob_{name}" for name in target.classes]].to_numpy(dtype="float64")[keep]
        output = probabilities[:, 1] if target.task == "binary" else probabilities
    no_value = int(actual.isna().sum()) if target.task != "regression" else int((~keep).sum())
    if no_value:
        notes.append(t("evaluate.score.no_target", count=no_value))
    if len(y) == 0:
        raise DataError(t("evaluate.score.nothing", target=repr(target.name)))
    return {"rows": int(len(y)), "metrics": compute_metrics(target, y, output, threshold=threshold), "notes": notes}
