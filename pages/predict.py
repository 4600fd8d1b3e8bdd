import streamlit as st

from core.errors import AppError
from core.prediction import column_report, escape_formulas, predict_rows
from core.preprocessing import PreprocessingState
from core.tables import SUPPORTED_EXTENSIONS, TableLimits, load_table
from ui.components import require_finished_run, show_error
from ui.services import run_store, settings
from ui.state import get_state

state = get_state()
store = run_store()
st.title("Predict")
st.write("Upload new rows with the same columns as the training table (the target is not needed) to get predictions.")

record = require_finished_run(store, state, key="predict.run")
model_path = store.model_path(record.run_id)
preprocessing_path = record.path / "preprocessing.json"
if model_path is None or not preprocessing_path.exists():
    st.warning("This run has no model file to predict with.")
    st.stop()
preprocessing = PreprocessingState.from_json(preprocessing_path.read_text(encoding="utf-8"))
st.caption("Needed columns: " + ", ".join(column.name for column in preprocessing.columns))

upload = st.file_uploader("Rows to predict", type=list(SUPPORTED_EXTENSIONS), key="predict.upload")
if upload is None:
    st.stop()
try:
    frame = load_table(upload.getvalue(), upload.name, limits=TableLimits.from_settings(settings())).frame
except AppError as error:
    show_error(error)
    st.stop()
missing, extra = column_report(preprocessing, frame)
if missing:
    st.error(
        f"The file lacks the column(s) {', '.join(map(repr, missing))} that the model needs. Add them (empty "
        "values are allowed: the model fills them in as it learned to) and upload again.",
        icon=":material/error:",
    )
    st.stop()
if extra:
    st.info(f"These columns are not used by the model and are passed through: {', '.join(extra)}.")

marker = (record.run_id, upload.file_id)
if st.session_state.get("predict.marker") != marker:
    with st.spinner(f"Predicting {len(frame):,} rows…"):
        try:
            st.session_state["predict.result"] = predict_rows(model_path, frame)
            st.session_state["predict.marker"] = marker
        except AppError as error:
            show_error(error)
            st.stop()
result = st.session_state["predict.result"]
st.success(f"Predicted {len(result):,} rows.")
added = [name for name in result.columns if name not in frame.columns]
st.dataframe(result[added + list(frame.columns)].head(500), hide_index=True, width="stretch")
st.download_button(
    "Predictions (CSV)",
    escape_formulas(result).to_csv(index=False).encode("utf-8-sig"),
    f"predictions_{record.run_id[:6]}.csv",
    "text/csv",
    icon=":material/download:",
    type="primary",
    key="predict.download",
)
st.caption("Text cells that start with = + - or @ are escaped with an apostrophe so a spreadsheet cannot run them.")
