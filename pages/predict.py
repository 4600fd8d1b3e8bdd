import pandas as pd
import streamlit as st

from core.data.preprocessing import PreprocessingState
from core.data.reading import SUPPORTED_EXTENSIONS, TableLimits, load_table
from core.deployment.prediction import columns_report, input_columns, predict_run_rows
from core.deployment.threshold import load_threshold
from core.deployment.upload_check import model_threshold
from core.errors import AppError
from core.i18n import t
from core.plain_text import MAX_CHARS, markdown_literal
from ui.components import next_step_line, require_finished_run, show_error
from ui.prediction_views import (
    TEXT_MODES,
    image_run_predictions,
    show_predictions,
    show_single_prediction,
    typed_text_input,
    uploaded_model_section,
)
from ui.services import run_store, settings
from ui.single_row import single_row_form
from ui.state import get_state

SOURCES = ("run", "upload")
MODES = ("file", "row")

state = get_state()
store = run_store()
st.title(t("deploy.predict.title"))
what_next = next_step_line("predict", "no_run")
source = st.radio(
    t("deploy.predict.source"),
    SOURCES,
    format_func={key: t(f"deploy.predict.source.{key}") for key in SOURCES}.get,
    horizontal=True,
    key="predict.source",
)
if source == "upload":
    next_step_line("predict", "uploaded", what_next)
    uploaded_model_section()
    st.stop()

record = require_finished_run(store, state, key="predict.run")
next_step_line("predict", "ready", what_next)
model_path = store.model_path(record.run_id)
preprocessing_text = store.preprocessing_json(record.run_id)
if model_path is None or preprocessing_text is None:
    st.warning(t("deploy.predict.no_model"))
    st.stop()
kind = store.spec(record.run_id).data.kind
target = store.target(record.run_id) or {}
in_use = model_threshold(model_path) if target.get("task") == "binary" else None
if in_use is not None:
    st.caption(
        t(
            "deploy.predict.threshold_in_use",
            label=markdown_literal(target["classes"][1], MAX_CHARS),
            threshold=f"{in_use:.2f}",
        )
    )
    if abs(in_use - load_threshold(record.path)) > 1e-9:
        st.warning(
            t(
                "deploy.predict.threshold_mismatch",
                saved=f"{load_threshold(record.path):.2f}",
                in_use=f"{in_use:.2f}",
            )
        )

if kind == "images":
    image_run_predictions(record.run_id, model_path)
    st.stop()

if kind == "text":
    text_record = store.files(record.run_id).preprocessing()
    text_column, needed = text_record["column"], input_columns(text_record)
    others = [name for name in needed if name != text_column]
    mode = st.radio(
        t("deploy.predict.rows"),
        TEXT_MODES,
        format_func={key: t(f"deploy.kinds.predict.mode.{key}") for key in TEXT_MODES}.get,
        horizontal=True,
        key="predict.text_mode",
    )
    if mode == "text":
        if others:  # a model that reads other columns beside the text: they go in empty, and it fills them
            separator = t("deploy.list_separator")
            st.caption(
                t("deploy.kinds.predict.others_empty", columns=separator.join(markdown_literal(n, 60) for n in others))
            )
        text = typed_text_input(f"predict.text.{record.run_id}")
        if text is not None:
            with st.spinner(t("deploy.predict.predicting_one")):
                try:
                    frame = pd.DataFrame({**{name: [None] for name in others}, text_column: [text]})
                    state.memory.row_prediction = (record.run_id, predict_run_rows(model_path, frame))
                except AppError as error:
                    show_error(error)
                    st.stop()
        single = state.memory.row_prediction
        if single is not None and single[0] == record.run_id:
            show_single_prediction(single[1])
        st.stop()
else:
    preprocessing = PreprocessingState.from_json(preprocessing_text)
    needed = [column.name for column in preprocessing.columns]
    mode = st.radio(
        t("deploy.predict.rows"),
        MODES,
        format_func={key: t(f"deploy.predict.mode.{key}") for key in MODES}.get,
        horizontal=True,
        key="predict.mode",
    )
    if mode == "row":
        row = single_row_form(preprocessing, key=f"predict.row.{record.run_id}")
        if row is not None:
            with st.spinner(t("deploy.predict.predicting_one")):
                try:
                    state.memory.row_prediction = (record.run_id, predict_run_rows(model_path, row))
                except AppError as error:
                    show_error(error)
                    st.stop()
        single = state.memory.row_prediction
        if single is not None and single[0] == record.run_id:
            show_single_prediction(single[1])
        st.stop()

st.write(t("deploy.kinds.predict.text_upload_intro") if kind == "text" else t("deploy.predict.upload_intro"))
st.caption(
    t(
        "deploy.predict.needed_columns",
        columns=t("deploy.list_separator").join(markdown_literal(name, 60) for name in needed),
    )
)
upload = st.file_uploader(t("deploy.predict.rows_upload"), type=list(SUPPORTED_EXTENSIONS), key="predict.upload")
if upload is None:
    st.stop()
try:
    frame = load_table(upload.getvalue(), upload.name, limits=TableLimits.from_settings(settings())).frame
except AppError as error:
    show_error(error)
    st.stop()
missing, extra = columns_report(needed, frame)
if missing:
    st.error(
        t(
            "deploy.predict.missing_columns",
            count=len(missing),
            columns=t("deploy.list_separator").join(markdown_literal(repr(name), 60) for name in missing),
        ),
        icon=":material/error:",
    )
    st.stop()
if extra:
    passed = t("deploy.list_separator").join(markdown_literal(name, 60) for name in extra)
    st.info(t("deploy.predict.extra_columns", columns=passed))

# The model file changes when a threshold is saved, so its time stamp is part of what the result depends on.
marker = (record.run_id, upload.file_id, model_path.stat().st_mtime_ns)
if state.memory.run_prediction is None or state.memory.run_prediction[0] != marker:
    with st.spinner(t("deploy.predict.predicting", count=len(frame))):
        try:
            state.memory.run_prediction = (marker, predict_run_rows(model_path, frame))
        except AppError as error:
            show_error(error)
            st.stop()
show_predictions(
    state.memory.run_prediction[1], list(frame.columns), file_name=f"predictions_{record.run_id[:6]}.csv",
    key="predict.download",
)  # fmt: skip
