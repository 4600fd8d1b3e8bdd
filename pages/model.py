import pandas as pd
import streamlit as st
from pydantic import ValidationError

from core.data.profiling import infer_task
from core.errors import AppError, SpecError
from core.explanations import CHART_HELP, METRIC_HELP
from core.i18n import t
from core.kinds import dataset_kind
from core.model.building import count_params, derive_head, describe_model
from core.shared_mode.limits import describe_caps
from core.spec import KIND_PRESETS, TRAINING_PRESETS, format_validation_error
from ui.components import next_step_line, require_table, show_error
from ui.layer_editor import layer_editor
from ui.model_view import doctor_panel, model_diagram, preflight_card
from ui.services import settings
from ui.state import current_image_info, get_state

# The presets' names in core.spec are keys (kept in English); what the selectbox shows comes from the catalog.
PRESET_IDS = {
    "Balanced (default)": "model.preset.balanced",
    "Textbook MLP": "model.preset.textbook",
    "Wide with dropout": "model.preset.wide",
    "Deep with batch norm": "model.preset.deep",
    "Linear (no hidden layer)": "model.preset.linear",
    "Small CNN (default)": "model.preset.small_cnn",
    "Deeper CNN": "model.preset.deeper_cnn",
    "CNN with global pooling": "model.preset.pooled_cnn",
    "MLP on pixels": "model.preset.pixel_mlp",
    "Bag of n-grams (default)": "model.preset.bag",
    "Bag of n-grams + hidden layer": "model.preset.bag_hidden",
    "Embedding + average": "model.preset.embedding_average",
    "Embedding + Conv1D": "model.preset.embedding_conv",
    "Embedding + bidirectional LSTM": "model.preset.embedding_lstm",
}

state = get_state()
st.title(t("model.page.title"))
what_next = next_step_line("model", "ready")
frame = require_table(state)
if frame is None:
    next_step_line("model", "no_table", what_next)
    st.stop()

task = state.task or infer_task(frame[state.target])
classes = frame[state.target].dropna().astype(str).nunique() if task != "regression" else 0
try:
    model_input = dataset_kind(state.kind).preview_input(frame, state.run_spec(), current_image_info(state))
except ValidationError as error:
    show_error(SpecError(format_validation_error(error)))
    st.stop()
except AppError as error:
    show_error(error)
    st.stop()
num_inputs = model_input.num_inputs
embeddings = model_input.embeddings
presets = KIND_PRESETS[state.kind]
labelled_rows = int(frame[state.target].notna().sum())
train_rows = max(1, int(labelled_rows * (1 - state.test_fraction - state.validation_fraction)))
validation_rows = int(labelled_rows * state.validation_fraction)

preset_col, apply_col = st.columns([3, 1])
preset = preset_col.selectbox(
    t("model.page.preset"),
    list(presets),
    format_func={name: t(PRESET_IDS[name]) for name in presets}.get,
    key="model.preset" if state.kind == "table" else f"model.preset.{state.kind}",
)
apply_col.write("")
if apply_col.button(t("model.page.apply_preset"), key="model.apply_preset", width="stretch"):
    state.set_model(presets[preset])
    if preset in TRAINING_PRESETS:
        state.training = TRAINING_PRESETS[preset]
    st.rerun()
if preset == "Textbook MLP":
    st.caption(t("model.page.textbook"), help=t("model.page.textbook_help"))

editor, summary = st.columns([3, 2], gap="large")
with editor:
    st.subheader(t("model.page.hidden_layers"))
    layer_editor(state)
with summary:
    head = derive_head(task, classes)
    st.subheader(t("model.page.summary"))
    try:
        rows = describe_model(state.model_spec(), num_inputs, task, classes, **model_input.build_arguments())
    except AppError as error:
        rows = None
        show_error(error)
    if rows is not None:
        st.metric(t("model.page.parameters"), f"{count_params(rows):,}", help=METRIC_HELP["parameters"])
        st.plotly_chart(model_diagram(rows), key="model.diagram", config={"displayModeBar": False})
        st.caption(CHART_HELP["model_diagram"])
        with st.expander(t("model.page.as_table")):
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            t("model.page.column.layer"): r.name,
                            t("model.page.column.type"): r.layer_type,
                            t("model.page.column.output_shape"): r.output_shape,
                            t("model.page.column.params"): r.num_params,
                        }
                        for r in rows
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
    if state.kind == "table":
        st.caption(
            t(
                "model.page.head",
                task=task,
                count=head.units,
                activation=head.activation,
                loss=head.loss,
                num_inputs=num_inputs,
            )  # fmt: skip
        )
    else:
        shape = "×".join(str(size) for size in (model_input.input_shape or (num_inputs,)))
        what = t(f"model.page.input.{model_input.input_kind}")
        st.caption(
            t("model.page.head_kind", task=task, count=head.units, activation=head.activation, loss=head.loss,
              shape=shape, what=what)
        )  # fmt: skip

if rows is not None and state.kind != "table":
    st.caption(t("model.page.checks_for_tables"))
elif rows is not None:
    facts = {"num_inputs": num_inputs, "task": task, "num_classes": classes, "embeddings": embeddings}
    doctor_panel(state, train_rows=train_rows, **facts)
    preflight_card(state, train_rows=train_rows, validation_rows=validation_rows, **facts)
    caps = [cap for cap in describe_caps(settings()) if cap]
    if caps:
        st.info(t("model.page.shared_caps", caps=t("model.page.caps_separator").join(caps)), icon=":material/gavel:")
st.page_link(page="pages/train.py", label=t("model.page.next"), icon=":material/model_training:")
