"""Predict-page pieces: results and their download, one typed-in row or text, images (files, zips, a camera
photo) with their thumbnails, and a model file uploaded back (table, image and text models)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.data.reading import SUPPORTED_EXTENSIONS, TableLimits, load_table
from core.deployment.prediction import (
    SHOWN_ROWS,
    UPLOAD_SUFFIXES,
    ImagePredictions,
    check_uploaded,
    predict_image_files,
    predict_uploaded,
    predict_uploaded_images,
    takes_images,
)
from core.deployment.upload_check import CheckedModel
from core.errors import AppError
from core.explanations import METRIC_HELP
from core.i18n import t
from core.plain_text import escape_formulas, markdown_literal, shorten
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


SHOWN_PROBLEMS = 10  # files that could not be read, each as its own message; the rest in an expander
CAMERA_FILE_NAME = "camera.jpg"  # the name a camera photo gets in the results


def image_files_input(key: str) -> tuple[list[tuple[str, bytes]], tuple]:
    """Images to predict: uploaded files (images or zips of them) and, behind a toggle so the browser does not
    ask for the camera on page load, a photo. Returns ((file name, bytes) in upload order, a marker of them)."""
    st.write(t("deploy.kinds.predict.images_intro"))
    uploads = st.file_uploader(
        t("deploy.kinds.predict.images_upload"),
        type=[suffix.lstrip(".") for suffix in UPLOAD_SUFFIXES],
        accept_multiple_files=True,
        key=f"{key}.files",
    )
    photo = None
    if st.toggle(t("deploy.kinds.predict.camera_toggle"), key=f"{key}.camera_on"):
        photo = st.camera_input(t("deploy.kinds.predict.camera"), key=f"{key}.camera")
    uploads = list(uploads or [])
    files = [(upload.name, upload.getvalue()) for upload in uploads]
    marker = tuple(upload.file_id for upload in uploads)
    if photo is not None:
        files.append((CAMERA_FILE_NAME, photo.getvalue()))
        marker += (photo.file_id,)
    return files, marker


def show_image_predictions(result: ImagePredictions, *, file_name: str, key: str) -> None:
    """A message per file that could not be used, then the predictions with thumbnails and the CSV download."""
    for name, sentence in result.problems[:SHOWN_PROBLEMS]:
        st.warning(
            t("deploy.kinds.predict.file_problem", name=markdown_literal(name, 80), reason=markdown_literal(sentence)),
            icon=":material/broken_image:",
        )
    if len(result.problems) > SHOWN_PROBLEMS:
        more = result.problems[SHOWN_PROBLEMS:]
        with st.expander(t("deploy.kinds.predict.more_problems", count=len(more))):
            for name, sentence in more:
                st.markdown(f"- {markdown_literal(name, 80)}: {markdown_literal(sentence)}")
    table = result.table
    if table.empty:
        st.error(t("deploy.kinds.predict.nothing_readable"), icon=":material/error:")
        return
    st.success(t("deploy.kinds.predict.done", count=len(table)))
    probabilities = [name for name in table.columns if name.startswith("prob_")]
    config = {
        "thumbnail": st.column_config.ImageColumn(t("deploy.kinds.predict.column_image"), width="small"),
        "file": st.column_config.TextColumn(t("deploy.kinds.predict.column_file")),
        "prediction": st.column_config.TextColumn(t("deploy.kinds.predict.column_class")),
    }
    for name in probabilities:
        config[name] = st.column_config.ProgressColumn(
            shorten(name.removeprefix("prob_"), 40), min_value=0.0, max_value=1.0, format="%.3f"
        )
    shown = [name for name in ("thumbnail", "file", "prediction", *probabilities) if name in table.columns]
    st.dataframe(table[shown].head(SHOWN_ROWS), column_config=config, hide_index=True, key=f"{key}.table")
    st.download_button(
        t("deploy.predictions.download"),
        result.download().to_csv(index=False).encode("utf-8-sig"),
        file_name,
        "text/csv",
        icon=":material/download:",
        type="primary",
        key=f"{key}.download",
    )
    st.caption(t("deploy.predictions.escaped"))


def image_run_predictions(run_id: str, model_path: Path) -> None:
    """An image run's Predict page: images in, predictions from its model.keras (in the limited child)."""
    files, uploads = image_files_input(f"predict.images.{run_id}")
    if not files:
        return
    # The model file changes when a threshold is saved, so its time stamp is part of what the result depends on.
    marker = ("images", run_id, uploads, model_path.stat().st_mtime_ns)
    memory = get_state().memory
    if memory.run_prediction is None or memory.run_prediction[0] != marker:
        with st.spinner(t("deploy.kinds.predict.predicting_images", count=len(files))):
            try:
                memory.run_prediction = (marker, predict_image_files(model_path, files))
            except AppError as error:
                show_error(error)
                return
    show_image_predictions(memory.run_prediction[1], file_name=f"predictions_{run_id[:6]}.csv", key="predict.images")


def typed_text_input(key: str) -> str | None:
    """One text typed in a form: returned when the form is sent (None before, or when it is empty)."""
    with st.form(key):
        text = st.text_area(
            t("deploy.kinds.predict.text_label"), placeholder=t("deploy.kinds.predict.text_placeholder")
        )
        sent = st.form_submit_button(t("deploy.kinds.predict.text_button"), type="primary")
    if sent and not text.strip():
        st.warning(t("deploy.kinds.predict.text_empty"))
        return None
    return text if sent else None


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
    if takes_images(checked):
        _uploaded_image_model(upload, data)
        return
    if (
        _takes_text(checked)
        and st.radio(
            t("deploy.predict.rows"),
            TEXT_MODES,
            format_func={key: t(f"deploy.kinds.predict.mode.{key}") for key in TEXT_MODES}.get,
            horizontal=True,
            key="predict.model_text_mode",
        )
        == "text"
    ):
        _uploaded_text_model(upload, data, checked.inputs[0].name)
        return
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


TEXT_MODES = ("file", "text")


def _takes_text(checked: CheckedModel) -> bool:
    """A text model: one input of raw strings (a table model with one text column reads it just as well)."""
    return [item.dtype for item in checked.inputs] == ["string"]


def _uploaded_image_model(upload, data: bytes) -> None:
    files, marker = image_files_input("predict.model_images")
    if not files:
        st.stop()
    marker = ("images", upload.file_id, marker)
    memory = get_state().memory
    if memory.model_prediction is None or memory.model_prediction[0] != marker:
        with st.spinner(t("deploy.kinds.predict.predicting_images", count=len(files))):
            try:
                memory.model_prediction = (marker, predict_uploaded_images(data, upload.name, files))
            except AppError as error:
                show_error(error)
                st.stop()
    show_image_predictions(memory.model_prediction[1], file_name="predictions.csv", key="predict.model_images")


def _uploaded_text_model(upload, data: bytes, column: str) -> None:
    text = typed_text_input("predict.model_text")
    memory = get_state().memory
    if text is not None:
        with st.spinner(t("deploy.predict.predicting_one")):
            try:
                _, result = predict_uploaded(data, upload.name, pd.DataFrame({column: [text]}))
            except AppError as error:
                show_error(error)
                st.stop()
        memory.model_prediction = (("text", upload.file_id), result)
    if memory.model_prediction is not None and memory.model_prediction[0] == ("text", upload.file_id):
        show_single_prediction(memory.model_prediction[1])
