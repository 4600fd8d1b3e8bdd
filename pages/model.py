import pandas as pd
import streamlit as st

from core.data.preprocessing import estimate_preprocessing
from core.data.profiling import infer_task
from core.errors import AppError
from core.explanations import CHART_HELP, METRIC_HELP
from core.model.building import count_params, derive_head, describe_model
from core.shared_mode.limits import describe_caps
from core.spec import PRESETS, TRAINING_PRESETS
from ui.components import next_step_line, require_table, show_error
from ui.layer_editor import layer_editor
from ui.model_view import doctor_panel, model_diagram, preflight_card
from ui.services import settings
from ui.state import get_state

state = get_state()
st.title("Model")
what_next = next_step_line("model", "ready")
frame = require_table(state)
if frame is None:
    next_step_line("model", "no_table", what_next)
    st.stop()

task = state.task or infer_task(frame[state.target])
features = state.features or [c for c in frame.columns if c != state.target]
classes = frame[state.target].dropna().astype(str).nunique() if task != "regression" else 0
estimated = estimate_preprocessing(frame, features, state.preprocessing)
num_inputs = estimated.num_features
embeddings = estimated.embeddings()
labelled_rows = int(frame[state.target].notna().sum())
train_rows = max(1, int(labelled_rows * (1 - state.test_fraction - state.validation_fraction)))
validation_rows = int(labelled_rows * state.validation_fraction)

preset_col, apply_col = st.columns([3, 1])
preset = preset_col.selectbox("Start from a preset", list(PRESETS), key="model.preset")
apply_col.write("")
if apply_col.button("Apply preset", key="model.apply_preset", width="stretch"):
    state.set_model(PRESETS[preset])
    if preset in TRAINING_PRESETS:
        state.training = TRAINING_PRESETS[preset]
    st.rerun()
if preset == "Textbook MLP":
    st.caption(
        "The classic Keras example: Dense 64 relu → Dense 64 relu, Adam at 0.001, batch 32, 10 epochs.",
        help="Its listing pairs a softmax output with `from_logits=True`; here the output layer and loss are "
        "derived from the task, so that mistake cannot happen.",
    )

editor, summary = st.columns([3, 2], gap="large")
with editor:
    st.subheader("Hidden layers")
    layer_editor(state)
with summary:
    head = derive_head(task, classes)
    st.subheader("Summary")
    try:
        rows = describe_model(state.model_spec(), num_inputs, task, classes, embeddings)
    except AppError as error:
        rows = None
        show_error(error)
    if rows is not None:
        st.metric("Parameters", f"{count_params(rows):,}", help=METRIC_HELP["parameters"])
        st.plotly_chart(model_diagram(rows), key="model.diagram", config={"displayModeBar": False})
        st.caption(CHART_HELP["model_diagram"])
        with st.expander("As a table"):
            st.dataframe(
                pd.DataFrame(
                    [
                        {"layer": r.name, "type": r.layer_type, "output shape": r.output_shape, "params": r.num_params}
                        for r in rows
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
    st.caption(
        f"Output layer and loss come from the task ({task}): {head.units} unit(s), {head.activation}, "
        f"loss {head.loss}. Input width: {num_inputs} encoded features (estimated on a sample of rows; training fits on the training rows)."
    )

if rows is not None:
    facts = {"num_inputs": num_inputs, "task": task, "num_classes": classes, "embeddings": embeddings}
    doctor_panel(state, train_rows=train_rows, **facts)
    preflight_card(state, train_rows=train_rows, validation_rows=validation_rows, **facts)
    caps = [cap for cap in describe_caps(settings()) if cap]
    if caps:
        st.info(
            "This is a shared server. Each run may use " + "; ".join(caps) + ". A run over a limit is refused "
            "when you press Train, before anything is built.",
            icon=":material/gavel:",
        )
st.page_link("pages/train.py", label="Next: train it", icon=":material/model_training:")
