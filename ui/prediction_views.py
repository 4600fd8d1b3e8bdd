"""Predict-page pieces: results and their download, one typed-in row, and a model file uploaded back."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data.reading import SUPPORTED_EXTENSIONS, TableLimits, load_table
from core.deployment.prediction import check_uploaded, predict_uploaded
from core.errors import AppError
from core.explanations import METRIC_HELP
from core.i18n import t
from core.plain_text import escape_formulas, markdown_literal
from ui.components import show_error
from ui.services import settings
from ui.state import get_state


def show_predictions(result: pd.DataFrame, input_columns: list[str], *, file_name: str, key: str) -> None:
    st.success(t("deploy.predictions.done", count=len(result)))
    added = [name for name in result.columns if name not in input_columns]
    st.dataframe(result[added + input_columns].head(500), hide_index=True, width="stretch")
    st.download_button(
        t("deploy.predictions.download"),
        escape_formulas(result).to_csv(index=False).encode("utf-8-sig"),
        file_name,
        "text/csv",
        icon=":material/download:",
        type="primary",
        key=key,
    )
    st.caption(t("deploy.predictions.escaped"))


def show_single_prediction(result: pd.DataFrame) -> None:
    """The label (or value) of one row, and its class probabilities most likely first."""
    row = result.iloc[0]
    st.metric(
        t("deploy.predictions.metric"),
        markdown_literal(row["prediction"])
        if not pd.api.types.is_float(row["prediction"])  # numpy's float32 too, not only Python's float
        else f"{row['prediction']:,.4f}",
        help=METRIC_HELP["prediction"],
    )
    probabilities = {
        name.removeprefix("prob_"): float(row[name]) for name in result.columns if name.startswith("prob_")
    }
    if probabilities:
        table = pd.DataFrame({"class": list(probabilities), "probability": list(probabilities.values())})
        st.dataframe(
            table.sort_values("probability", ascending=False),
            hide_index=True,
            column_config={
                "class": st.column_config.TextColumn(t("deploy.predictions.class")),
                "probability": st.column_config.ProgressColumn(
                    t("deploy.predictions.probability"), min_value=0.0, max_value=1.0, format="%.4f"
                ),
            },
            key="predict.single_probabilities",
        )


def uploaded_model_section() -> None:
    """Predict with a `.keras` file LayerLab made earlier: checked without building it, then used in a
    separate process with a memory limit."""
    st.write(t("deploy.upload.intro"))
    upload = st.file_uploader(t("deploy.upload.model_file"), key="predict.model_upload")
    if upload is None:
        st.stop()
    data = upload.getvalue()
    try:
        checked = check_uploaded(data, upload.name)
    except AppError as error:
        show_error(error)
        st.stop()
    separator = t("deploy.list_separator")
    details = t("deploy.upload.details", task=t(f"deploy.task.{checked.task}"), count=checked.num_params)
    if checked.classes:
        details += t(
            "deploy.upload.details_classes",
            classes=separator.join(markdown_literal(name, 40) for name in checked.classes),
        )
    if checked.threshold is not None:
        details += t(
            "deploy.upload.details_threshold",
            label=markdown_literal(checked.classes[1], 40),
            threshold=f"{checked.threshold:.2f}",
        )
    st.success(
        t("deploy.upload.checked", name=markdown_literal(upload.name, 60), details=details), icon=":material/verified:"
    )
    needed = [markdown_literal(column.name, 60) for column in checked.inputs]
    st.caption(t("deploy.predict.needed_columns", columns=separator.join(needed)))
    rows = st.file_uploader(t("deploy.predict.rows_upload"), type=list(SUPPORTED_EXTENSIONS), key="predict.model_rows")
    if rows is None:
        st.stop()
    try:
        frame = load_table(rows.getvalue(), rows.name, limits=TableLimits.from_settings(settings())).frame
    except AppError as error:
        show_error(error)
        st.stop()
    marker = (upload.file_id, rows.file_id)
    memory = get_state().memory
    if memory.model_prediction is None or memory.model_prediction[0] != marker:
        with st.spinner(t("deploy.predict.predicting", count=len(frame))):
            try:
                _, result = predict_uploaded(data, upload.name, frame)
            except AppError as error:
                show_error(error)
                st.stop()
        memory.model_prediction = (marker, result)
    show_predictions(
        memory.model_prediction[1], list(frame.columns), file_name="predictions.csv",
        key="predict.model_download",
    )  # fmt: skip
