"""`layerlab evaluate`: a finished run's report, with its permutation importances and an optional new table.

It stands above evaluation and importance (both of which it uses), so neither has to import the other back.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.config import load_settings
from core.data.reading import TableLimits, load_table_file
from core.data.splitting import TargetInfo
from core.deployment.prediction import predict_image_file
from core.deployment.serving_model import load_model_file, predict_table
from core.deployment.threshold import load_threshold
from core.errors import AppError
from core.evaluation.baselines import stored_summary
from core.evaluation.importance import MAX_ROWS, N_REPEATS, current_settings, model_importance
from core.evaluation.metrics import confusion_matrix, held_out_rows, per_class_report, score_table, threshold_metrics
from core.i18n import t
from core.run_store import RunFiles, RunStore


def evaluation_report(
    run_dir, data_path=None, *, importance: bool = True, max_rows: int | None = None, n_repeats: int | None = None
) -> dict:
    """What `layerlab evaluate RUN_DIR [DATA]` prints: every test metric, the baselines', per-class scores,
    the decision threshold's metrics, permutation importances (cached in `importance.json`) and, with a
    labelled DATA table, the run's model scored on it. Needs Keras for the importances and DATA.

    Raises:
        AppError: RUN_DIR is not a finished run, or DATA cannot be scored.
    """

    for name, value in (("--max-rows", max_rows), ("--repeats", n_repeats)):
        if value is not None and value < 1:
            raise AppError(t("evaluate.report.at_least_one", option=name, value=value))
    run_dir = Path(run_dir)
    files = RunFiles(run_dir)
    metrics = files.metrics() if run_dir.is_dir() else None
    if metrics is None or not files.exists(RunFiles.TARGET):
        raise AppError(t("evaluate.report.not_a_run", folder=repr(run_dir.name)))
    target = TargetInfo.from_dict(files.target())
    threshold = load_threshold(run_dir)
    report = {
        "run_dir": str(run_dir.resolve()),
        "task": target.task,
        "target": target.name,
        "num_rows": metrics.get("num_rows"),
        "test": metrics["test"],
        "baselines": [{"name": b["name"], "test": b["test"]} for b in metrics.get("baselines", [])],
        "baseline_summary": stored_summary(metrics.get("baseline_summary")) or None,  # in the current language
    }
    if "cross_validation" in metrics:
        report["cross_validation"] = metrics["cross_validation"]
    store = RunStore(run_dir.parent)
    predictions = store.predictions(run_dir.name)
    if predictions is not None and target.task != "regression":
        classes = target.classes
        per_class = per_class_report(predictions, classes, metrics.get("class_rows", {}).get("train"))
        report["per_class"] = per_class.astype(object).where(per_class.notna(), None).to_dict(orient="records")
        if target.task == "binary":
            at = threshold_metrics(predictions, classes, threshold)
            report["decision_threshold"] = threshold
            report["test_at_threshold"] = {k: v for k, v in at.items() if k != "confusion"}
            report["confusion_matrix"] = {"labels": list(classes), "counts": at["confusion"].tolist()}
        else:
            report["confusion_matrix"] = {
                "labels": list(classes), "counts": confusion_matrix(predictions, classes).tolist()
            }  # fmt: skip
    images = files.exists(RunFiles.PIXELS)
    if images and importance:
        # Permuting a whole image column would say nothing; the Evaluate page's occlusion maps show what
        # parts of an image matter.
        importance = False
        report["permutation_importance"] = None
    if not importance and data_path is None:
        return report

    model_path = files.model_file()
    if model_path is None:
        raise AppError(t("evaluate.report.no_model"))
    model = load_model_file(model_path)
    if importance:
        settings = {**current_settings(run_dir), "max_rows": max_rows or MAX_ROWS, "n_repeats": n_repeats or N_REPEATS}
        cached = files.importance()
        if cached and cached.get("settings") == settings:
            report["permutation_importance"] = cached["importance"]
        else:
            rows = held_out_rows(store, run_dir.name)
            result = model_importance(
                model, rows, target, threshold=threshold, max_rows=settings["max_rows"], n_repeats=settings["n_repeats"]
            ).to_dict()
            files.write_importance({"settings": settings, "importance": result})
            report["permutation_importance"] = result
    if data_path is not None and images:
        # A zip of class folders: each image's folder is its true class.
        scored = predict_image_file(model, Path(data_path), labelled=True)
        truth = scored.pop("actual")
        report["data"] = {
            "file": str(Path(data_path).resolve()),
            **score_table(target, truth, scored, threshold=threshold),
        }
    elif data_path is not None:
        table = load_table_file(data_path, limits=TableLimits.from_settings(load_settings())).frame
        if target.name not in table.columns:
            raise AppError(
                t("evaluate.report.no_target_column", table=repr(Path(data_path).name), target=repr(target.name))
            )
        scored = predict_table(model, table.drop(columns=[target.name]))
        report["data"] = {
            "file": str(Path(data_path).resolve()),
            **score_table(target, table[target.name], scored, threshold=threshold),
        }
    return json.loads(json.dumps(report, default=lambda value: value.item() if hasattr(value, "item") else str(value)))
