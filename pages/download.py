import json

import streamlit as st

from core.datasets import TargetInfo
from core.preprocessing import PreprocessingState
from core.snippets import prediction_snippet
from ui.components import require_finished_run
from ui.services import run_store
from ui.state import get_state

state = get_state()
store = run_store()
st.title("Download")
st.write(
    "One `.keras` file with the preprocessing inside: it takes the raw columns as uploaded (numbers and text, "
    "missing values allowed, unseen categories tolerated) and returns predictions as class names with "
    "probabilities, or values in the target's units. No LayerLab needed to use it."
)

record = require_finished_run(store, state, key="download.run")

model_path = store.model_path(record.run_id)
spec_text = (record.path / "spec.json").read_text(encoding="utf-8")
stem = f"layerlab_{record.run_id[:6]}"
left, right = st.columns(2)
if model_path is None:
    left.warning("This run has no model file (it was trained on a backend without string support).")
else:
    left.download_button(
        f"Model ({model_path.stat().st_size / 1024:,.0f} KB, .keras)",
        model_path.read_bytes(),
        f"{stem}.keras",
        "application/octet-stream",
        icon=":material/download:",
        type="primary",
        key="download.model",
        width="stretch",
    )
right.download_button(
    "Run spec (JSON)",
    spec_text,
    f"{stem}_spec.json",
    "application/json",
    icon=":material/download:",
    key="download.spec",
    width="stretch",
)

target_path = record.path / "target.json"
preprocessing_path = record.path / "preprocessing.json"
if target_path.exists() and preprocessing_path.exists():
    target = TargetInfo.from_dict(json.loads(target_path.read_text(encoding="utf-8")))
    preprocessing = PreprocessingState.from_json(preprocessing_path.read_text(encoding="utf-8"))
    st.subheader("Use it in Python (only keras and pandas)")
    st.code(prediction_snippet(preprocessing, target, f"{stem}.keras"), language="python")
    st.caption("Or from the command line: `layerlab predict model.keras new_rows.csv --out predictions.csv`.")
with st.expander("Run spec"):
    st.code(spec_text, language="json")
