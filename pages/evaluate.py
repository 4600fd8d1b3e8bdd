import pandas as pd
import streamlit as st

from core.deployment.threshold import load_threshold
from core.evaluation.metrics import (
    CHART_HELP,
    METRIC_HELP,
    METRIC_LABELS,
    calibration,
    confusion_matrix,
    per_class_report,
    roc_and_pr_curves,
    threshold_metrics,
)
from core.formatting import format_metric, format_metric_spread
from core.plain_text import markdown_format, markdown_literal
from ui.charts import (
    calibration_figure,
    curve_figure,
    predicted_vs_actual,
    residual_figures,
    training_curves,
)
from ui.components import require_finished_run
from ui.evaluation_views import confusion_matrix_with_rows, importance_section, save_threshold_button
from ui.live_run import metric_label
from ui.services import run_store
from ui.state import get_state

# The thresholds offered: a probability strictly between 0 and 1 (core.deployment.threshold checks it), in
# hundredths. Not a RunSpec setting: it is saved with a finished run (decision.json).
THRESHOLD_LOWEST, THRESHOLD_HIGHEST, THRESHOLD_STEP = 0.01, 0.99, 0.01

state = get_state()
store = run_store()
st.title("Evaluate")
st.write("Scores on the **test rows**: held out before training, never used for training or early stopping.")

record = require_finished_run(store, state, key="evaluate.run")

metrics = store.metrics(record.run_id)
if metrics is None:
    st.warning("This run has no test results (it ended before evaluation).")
    st.stop()

st.caption(markdown_literal(record.sentence()))
test = metrics["test"]
counts = metrics["num_rows"]
st.write(
    markdown_format(f"Task **{metrics['task']}** · target **{{}}** · ", metrics["target"])
    + f"{counts['train']:,} training, {counts['validation']:,} validation and {counts['test']:,} test rows · "
    f"{metrics['epochs_run']} epochs · {metrics['num_params']:,} parameters"
)
cards = st.columns(len(test))
for card, (name, value) in zip(cards, test.items(), strict=True):
    card.metric(METRIC_LABELS.get(name, name), format_metric(name, value), help=METRIC_HELP.get(name))
baselines = metrics.get("baselines")
if baselines:
    st.subheader("Against simple models on the same split")
    if metrics.get("baseline_summary"):
        st.info(markdown_literal(metrics["baseline_summary"]), icon=":material/balance:")
    table = [{"model": "Your network", **test}] + [{"model": b["name"], **b["test"]} for b in baselines]
    shown = [
        {key: value if key == "model" else format_metric(key, value) for key, value in row.items()} for row in table
    ]
    st.dataframe(pd.DataFrame(shown).rename(columns=METRIC_LABELS), hide_index=True, width="stretch")
    st.caption("Each simple model was fitted on the same training rows and scored on the same test rows.")

cross_validation = metrics.get("cross_validation")
if cross_validation:
    st.subheader(f"{cross_validation['folds']}-fold cross-validation")
    if cross_validation.get("completed", cross_validation["folds"]) < cross_validation["folds"]:
        st.warning(f"Stopped after {cross_validation['completed']} of {cross_validation['folds']} folds.")
    st.caption(
        "Each fold's model was trained on the other folds of the training rows and scored on its own "
        "held-out fold: the spread shows how much the score depends on which rows were used. The cards above "
        "are the downloadable model on test rows nobody touched."
    )
    folds = st.columns(len(cross_validation["mean"]))
    for card, (name, mean) in zip(folds, cross_validation["mean"].items(), strict=True):
        shown = format_metric_spread(name, mean, cross_validation["std"].get(name))
        card.metric(METRIC_LABELS.get(name, name), shown, help=METRIC_HELP.get(name))
if any(value is None for value in test.values()):
    st.caption("n/a: not defined on this test split (for example ROC AUC when the test rows hold one class).")

predictions = store.predictions(record.run_id)
if predictions is not None:
    if metrics["task"] == "regression":
        st.subheader("Predicted vs actual")
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
            st.subheader("Confusion matrix")
            confusion_matrix_with_rows(
                store, record.run_id, predictions, classes, confusion_matrix(predictions, classes)
            )
        else:
            st.subheader("Confusion matrix and decision threshold")
            saved = round(load_threshold(record.path), 2)
            threshold = st.slider(
                markdown_format("Predict '{}' when its probability is at least", classes[1], max_chars=40),
                min_value=THRESHOLD_LOWEST, max_value=THRESHOLD_HIGHEST,
                value=min(max(saved, THRESHOLD_LOWEST), THRESHOLD_HIGHEST), step=THRESHOLD_STEP,
                key=f"evaluate.threshold.{record.run_id}",
                help="Lower it to catch more of this class (recall up, precision down); raise it for the opposite.",
            )  # fmt: skip
            at = threshold_metrics(predictions, classes, threshold)
            cards = st.columns(4)
            for card, name in zip(cards, ("accuracy", "precision", "recall", "f1"), strict=True):
                of_class = markdown_format(" of '{}'", classes[1], max_chars=30)
                card.metric(
                    METRIC_LABELS.get(name, name).replace(" (macro)", of_class),
                    format_metric(name, at[name]),
                    help=METRIC_HELP[name].replace(", averaged over classes", ""),
                )
            save_threshold_button(store, record.run_id, threshold, classes[1])
            confusion_matrix_with_rows(store, record.run_id, predictions, classes, at["confusion"], threshold=threshold)
            predicted, observed = calibration(predictions, classes)
            st.plotly_chart(calibration_figure(predicted, observed, classes[1]), width="stretch")
            st.caption(CHART_HELP["calibration"])
        st.subheader("Per class")
        training_rows = metrics.get("class_rows", {}).get("train")
        st.dataframe(per_class_report(predictions, classes, training_rows).round(4), hide_index=True, width="stretch")
        roc, pr = roc_and_pr_curves(predictions, classes)
        if roc:
            left, right = st.columns(2)
            left.plotly_chart(
                curve_figure(roc, title="ROC curve", x_title="false positive rate", y_title="true positive rate",
                             diagonal=True),
                width="stretch",
            )  # fmt: skip
            right.plotly_chart(
                curve_figure(pr, title="Precision-recall curve", x_title="recall", y_title="precision",
                             diagonal=False),
                width="stretch",
            )  # fmt: skip
            st.caption(
                "One curve per class against all others (for two classes: the second class); areas in brackets. "
                + CHART_HELP["curves"]
            )
    with st.expander("Test predictions"):
        st.dataframe(predictions.head(1000), hide_index=True, width="stretch")
    importance_section(store, record.run_id)

history = store.history(record.run_id)
if history:
    st.subheader("Training curves")
    st.plotly_chart(training_curves(history, metric_label(store, record.run_id)), width="stretch")
    st.caption(CHART_HELP["training"])
    st.dataframe(pd.DataFrame(history), hide_index=True, width="stretch")
for note in metrics.get("notes", []):
    st.info(markdown_literal(note), icon=":material/info:")
st.page_link("pages/download.py", label="Next: download the model", icon=":material/download:")
