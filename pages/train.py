import pandas as pd
import streamlit as st
from pydantic import ValidationError

from core.errors import AppError, SpecError
from core.quality import assess_quality
from core.spec import TrainingSpec, format_validation_error, parse_spec
from ui.components import cached_profile, pick_run, require_table, show_error, visible_runs
from ui.live_run import live_run
from ui.services import job_manager, run_store
from ui.state import get_state

OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD with momentum", "rmsprop": "RMSprop"}

state = get_state()
store = run_store()
st.title("Train")
frame = require_table(state)

if frame is not None:
    t = state.training
    with st.expander("Training settings", expanded=state.run_id is None):
        first, second, third = st.columns(3)
        optimizer = first.selectbox(
            "Optimizer", list(OPTIMIZERS), index=list(OPTIMIZERS).index(t.optimizer), format_func=OPTIMIZERS.get,
            key="train.optimizer",
        )  # fmt: skip
        learning_rate = first.number_input(
            "Learning rate", 1e-6, 10.0, t.learning_rate, format="%.5f", step=1e-4, key="train.learning_rate"
        )
        momentum = t.momentum
        weight_decay = t.weight_decay
        if optimizer == "sgd":
            momentum = first.slider("Momentum", 0.0, 0.99, t.momentum, key="train.momentum")
        if optimizer == "adamw":
            weight_decay = first.number_input(
                "Weight decay", 0.0, 1.0, t.weight_decay, format="%.4f", key="train.weight_decay"
            )
        batch_size = second.number_input("Batch size", 1, 65536, t.batch_size, key="train.batch_size")
        epochs = second.number_input("Epochs", 1, 10000, t.epochs, key="train.epochs")
        seed = second.number_input("Random seed", 0, 2**31 - 1, state.seed, key="train.seed")
        early_stopping = third.toggle("Early stopping", t.early_stopping, key="train.early_stopping")
        patience, restore = t.patience, t.restore_best_weights
        if early_stopping:
            patience = third.number_input("Patience (epochs)", 1, 1000, t.patience, key="train.patience")
            restore = third.checkbox("Restore best weights", t.restore_best_weights, key="train.restore")
        class_weight = t.class_weight
        if (state.task or "") != "regression":
            class_weight = first.selectbox(
                "Class weights",
                ["none", "balanced"],
                index=["none", "balanced"].index(t.class_weight),
                key="train.class_weight",
                help="balanced: rare classes count more in the loss (weights from the training rows).",
            )
    spec = None
    try:
        state.training = TrainingSpec(
            optimizer=optimizer,
            learning_rate=float(learning_rate),
            momentum=float(momentum),
            weight_decay=float(weight_decay),
            batch_size=int(batch_size),
            epochs=int(epochs),
            early_stopping=bool(early_stopping),
            patience=int(patience),
            restore_best_weights=bool(restore),
            class_weight=class_weight,
        )
        state.seed = int(seed)
        spec = state.run_spec()
    except ValidationError as error:
        show_error(SpecError("These settings cannot be used: " + format_validation_error(error)))

    with st.expander("Spec (JSON): reproduce this run anywhere"):
        if spec is not None:
            st.code(spec.to_json(), language="json")
            st.download_button(
                "Download spec.json", spec.to_json(), "spec.json", "application/json", key="train.download_spec"
            )
        imported = st.file_uploader("Import a spec.json", type=["json"], key="train.import_spec")
        if imported is not None and st.session_state.get("train.imported") != imported.file_id:
            try:
                state.apply_spec(parse_spec(imported.getvalue()))
                st.session_state["train.imported"] = imported.file_id
                for key in [k for k in st.session_state if str(k).startswith("train.") and k != "train.imported"]:
                    del st.session_state[key]
                st.rerun()
            except AppError as error:
                show_error(error)

    blocking = []
    if spec is not None:
        blocking = [f for f in assess_quality(frame, spec, profile=cached_profile(state, frame, state.target))
                    if f.severity == "error"]  # fmt: skip
    for finding in blocking:
        st.error(finding.message, icon=":material/block:")
    if blocking:
        st.page_link("pages/prepare.py", label="Fix it on the Prepare page", icon=":material/tune:")
    if st.button(
        "Train",
        icon=":material/play_arrow:",
        type="primary",
        disabled=spec is None or bool(blocking),
        key="train.start",
    ):
        try:
            run_id = store.create_run(spec, frame, source_name=state.table_name or "table", owner=state.owner)
            job_manager().submit(run_id)
            state.run_id = run_id
            st.rerun()
        except AppError as error:
            show_error(error)

st.divider()
st.subheader("Run")
record = pick_run(store, state, key="train.run")
if record is None:
    st.caption("No runs yet. Press Train to start one.")
else:
    live_run(store, record.run_id)

runs = visible_runs(store, state)
if runs:
    with st.expander(f"All runs ({len(runs)})"):
        rows = []
        for r in runs:
            metrics = store.status(r.run_id).get("metrics") or {}
            main = metrics.get("accuracy", metrics.get("r2"))
            rows.append(
                {
                    "started": pd.to_datetime(r.created_at, unit="s"),
                    "data": r.source_name,
                    "state": r.state,
                    "test accuracy / R²": None if main is None else round(main, 4),
                    "message": r.message,
                    "id": r.run_id[:6],
                }
            )
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        st.caption(f"Up to {job_manager().max_jobs} runs train at once on this server; more wait in a queue.")
