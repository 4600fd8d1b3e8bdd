import pandas as pd
import streamlit as st

from core.deployment.threshold import load_threshold
from core.evaluation.baselines import baseline_label, stored_summary
from core.evaluation.metrics import (
    CHART_HELP,
    METRIC_HELP,
    METRIC_LABELS,
    calibration,
    confusion_matrix,
    per_class_report,
    roc_and_pr_curves,
    threshold_metric_help,
    threshold_metric_label,
    threshold_metrics,
)
from core.formatting import format_metric, format_metric_spread
from core.i18n import format_number, t
from core.plain_text import MAX_CHARS, markdown_literal
from core.run_store import TEST_HELD_BACK
from ui.charts import (
    calibration_figure,
    curve_figure,
    predicted_vs_actual,
    residual_figures,
    training_curves,
)
from ui.components import require_finished_run
from ui.evaluation_views import (
    confusion_matrix_with_rows,
    held_back_panel,
    importance_section,
    save_threshold_button,
)
from ui.live_run import metric_label
from ui.services import run_store
from ui.state import get_state

# The thresholds offered: a probability strictly between 0 and 1 (core.deployment.threshold checks it), in
# hundredths. Not a RunSpec setting: it is saved with a finished run (decision.json).
THRESHOLD_LOWEST, THRESHOLD_HIGHEST, THRESHOLD_STEP = 0.01, 0.99, 0.01
TASKS = ("binary", "multiclass", "regression")
# The per-class table's columns (core.evaluation.metrics.per_class_report) → their catalog ids.
PER_CLASS_COLUMNS = {
    "class": "evaluate.per_class.column.class",
    "precision": "evaluate.per_class.column.precision",
    "recall": "evaluate.per_class.column.recall",
    "F1": "evaluate.per_class.column.f1",
    "support": "evaluate.per_class.column.support",
    "training rows": "evaluate.per_class.column.training_rows",
}


HISTORY_COLUMNS = ("epoch", "loss", "val_loss", "metric", "val_metric", "learning_rate", "seconds")


def predictions_table(predictions: pd.DataFrame, classes: tuple[str, ...]) -> pd.DataFrame:
    """The test predictions with headers in the current language (the class names as they are)."""
    names = {
        "actual": t("evaluate.predictions.column.actual"),
        "predicted": t("evaluate.predictions.column.predicted"),
    }
    names |= {f"prob_{name}": t("evaluate.predictions.column.probability", name=name) for name in classes}
    return predictions.rename(columns=names)


def stored_note(note) -> str:
    """A note stored with the run's metrics: a stored Message dict rendered now, older runs' text as it is."""
    return stored_summary(note)


state = get_state()
store = run_store()
st.title(t("evaluate.page.title"))
st.write(t("evaluate.page.intro"))

record = require_finished_run(store, state, key="evaluate.run")

metrics = store.metrics(record.run_id)
if metrics is None:
    st.warning(t("evaluate.page.no_results"))
    st.stop()

st.caption(markdown_literal(record.sentence()))
if metrics.get(TEST_HELD_BACK):
    held_back_panel(store, record.run_id)
    st.stop()
# Images and texts have one input each: column importances and a threshold built into model.keras are for tables.
kind = store.spec(record.run_id).data.kind
test = metrics["test"]
counts = metrics["num_rows"]
task = metrics["task"]
st.write(
    t(
        "evaluate.page.summary",
        task=t(f"evaluate.task.{task}") if task in TASKS else markdown_literal(task),
        target=markdown_literal(metrics["target"], MAX_CHARS),
        train=format_number(counts["train"]),
        validation=format_number(counts["validation"]),
        test=format_number(counts["test"]),
        epochs=format_number(metrics["epochs_run"]),
        params=format_number(metrics["num_params"]),
    )
)
cards = st.columns(len(test))
for card, (name, value) in zip(cards, test.items(), strict=True):
    card.metric(METRIC_LABELS.get(name, name), format_metric(name, value), help=METRIC_HELP.get(name))
baselines = metrics.get("baselines")
if baselines:
    st.subheader(t("evaluate.baselines.title"))
    if metrics.get("baseline_summary"):
        st.info(markdown_literal(stored_summary(metrics["baseline_summary"])), icon=":material/balance:")
    model = t("evaluate.baselines.model")
    table = [{model: t("evaluate.baselines.your_network"), **test}]
    table += [{model: baseline_label(b["name"]), **b["test"]} for b in baselines]
    shown = [{key: value if key == model else format_metric(key, value) for key, value in row.items()} for row in table]
    st.dataframe(pd.DataFrame(shown).rename(columns=METRIC_LABELS), hide_index=True, width="stretch")
    st.caption(t("evaluate.baselines.caption"))

cross_validation = metrics.get("cross_validation")
if cross_validation:
    st.subheader(t("evaluate.cv.title", folds=cross_validation["folds"]))
    if cross_validation.get("completed", cross_validation["folds"]) < cross_validation["folds"]:
        st.warning(t("evaluate.cv.stopped", completed=cross_validation["completed"], folds=cross_validation["folds"]))
    st.caption(t("evaluate.cv.caption"))
    folds = st.columns(len(cross_validation["mean"]))
    for card, (name, mean) in zip(folds, cross_validation["mean"].items(), strict=True):
        shown = format_metric_spread(name, mean, cross_validation["std"].get(name))
        card.metric(METRIC_LABELS.get(name, name), shown, help=METRIC_HELP.get(name))
if any(value is None for value in test.values()):
    st.caption(t("evaluate.page.not_defined"))

predictions = store.predictions(record.run_id)
if predictions is not None:
    if metrics["task"] == "regression":
        st.subheader(t("evaluate.page.predicted_vs_actual"))
        st.plotly_chart(predicted_vs_actual(predictions, metrics["target"]), width="stretch")
        st.caption(CHART_HELP["predicted_vs_actual"])
        scatter, histogram = residual_figures(predictions, metrics["target"])
        left, right = st.columns(2)
        left.plotly_chart(scatter, width="stretch")
        right.plotly_chart(histogram, width="stretch")
        st.caption(CHART_HELP["residuals"])
    else:
        target_info = store.target(record.run_id)
        classes = tuple(target_info["classes"])
        if metrics["task"] != "binary":
            st.subheader(t("evaluate.page.confusion"))
            confusion_matrix_with_rows(
                store, record.run_id, predictions, classes, confusion_matrix(predictions, classes), kind=kind
            )
        else:
            st.subheader(t("evaluate.page.confusion_threshold"))
            saved = round(load_threshold(record.path), 2)
            threshold = st.slider(
                t("evaluate.threshold.slider", positive=markdown_literal(classes[1], 40)),
                min_value=THRESHOLD_LOWEST, max_value=THRESHOLD_HIGHEST,
                value=min(max(saved, THRESHOLD_LOWEST), THRESHOLD_HIGHEST), step=THRESHOLD_STEP,
                key=f"evaluate.threshold.{record.run_id}",
                help=t("evaluate.threshold.slider_help"),
            )  # fmt: skip
            at = threshold_metrics(predictions, classes, threshold)
            cards = st.columns(4)
            for card, name in zip(cards, ("accuracy", "precision", "recall", "f1"), strict=True):
                card.metric(
                    threshold_metric_label(name, markdown_literal(classes[1], 30)),
                    format_metric(name, at[name]),
                    help=threshold_metric_help(name),
                )
            save_threshold_button(store, record.run_id, threshold, classes[1])
            confusion_matrix_with_rows(
                store, record.run_id, predictions, classes, at["confusion"], threshold=threshold, kind=kind
            )
            predicted, observed = calibration(predictions, classes)
            st.plotly_chart(calibration_figure(predicted, observed, classes[1]), width="stretch")
            st.caption(CHART_HELP["calibration"])
        st.subheader(t("evaluate.page.per_class"))
        training_rows = metrics.get("class_rows", {}).get("train")
        per_class = per_class_report(predictions, classes, training_rows).round(4)
        per_class = per_class.rename(columns={name: t(i) for name, i in PER_CLASS_COLUMNS.items()})
        st.dataframe(per_class, hide_index=True, width="stretch")
        roc, pr = roc_and_pr_curves(predictions, classes)
        if roc:
            left, right = st.columns(2)
            left.plotly_chart(
                curve_figure(roc, title=t("evaluate.chart.roc_title"), x_title=t("evaluate.chart.false_positive_rate"),
                             y_title=t("evaluate.chart.true_positive_rate"), diagonal=True),
                width="stretch",
            )  # fmt: skip
            right.plotly_chart(
                curve_figure(pr, title=t("evaluate.chart.pr_title"), x_title=t("evaluate.chart.recall"),
                             y_title=t("evaluate.chart.precision"), diagonal=False),
                width="stretch",
            )  # fmt: skip
            st.caption(t("evaluate.page.curves_caption", help=CHART_HELP["curves"]))
    with st.expander(t("evaluate.page.test_predictions")):
        classes = tuple(store.target(record.run_id)["classes"]) if metrics["task"] != "regression" else ()
        st.dataframe(predictions_table(predictions.head(1000), classes), hide_index=True, width="stretch")
    if kind == "table":
        importance_section(store, record.run_id)
    else:
        st.caption(t("evaluate.kinds.importance_tables_only"))

history = store.history(record.run_id)
if history:
    st.subheader(t("evaluate.page.training_curves"))
    st.plotly_chart(training_curves(history, metric_label(store, record.run_id)), width="stretch")
    st.caption(CHART_HELP["training"])
    names = {key: t(f"evaluate.history.column.{key}") for key in HISTORY_COLUMNS}
    st.dataframe(pd.DataFrame(history).rename(columns=names), hide_index=True, width="stretch")
for note in metrics.get("notes", []):
    st.info(markdown_literal(stored_note(note)), icon=":material/info:")
st.page_link(page="pages/download.py", label=t("evaluate.page.next"), icon=":material/download:")
