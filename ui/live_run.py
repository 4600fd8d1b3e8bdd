"""The live view of one run: status, queue position, progress, curves, Stop. Polls the disk while active."""

from __future__ import annotations

import streamlit as st

from core.errors import AppError
from core.modeling import derive_head
from core.run_store import RunStore
from ui.charts import training_curves
from ui.components import STATE_BADGES, format_seconds
from ui.services import job_manager

POLL_S = 1.0


def metric_label(store: RunStore, run_id: str) -> str:
    target = store.path(run_id) / "target.json"
    if target.exists():
        import json

        info = json.loads(target.read_text(encoding="utf-8"))
        label = derive_head(info["task"], len(info["classes"])).metric_label
        return f"{label} ({info['name']} units)" if info["task"] == "regression" else label
    return "metric"


def _render(store: RunStore, run_id: str) -> bool:
    """Draw the run; returns whether it is still active."""
    status = store.status(run_id)
    state = status.get("state", "failed")
    header, stop_col = st.columns([4, 1])
    header.markdown(f"{STATE_BADGES.get(state, state)} — {status.get('message', '')}")
    if state in {"queued", "running", "created"}:
        if stop_col.button(
            "Stop", icon=":material/stop:", key=f"train.stop.{run_id}", type="secondary", width="stretch"
        ):
            job_manager().stop(run_id)
            st.toast(
                "Stopping… the best weights so far are kept (during cross-validation: the main model and the folds done)."
            )
    if state == "queued":
        position = job_manager().queue_position(run_id)
        if position:
            st.info(f"Waiting for a free training slot: position {position} in the queue.")
    progress = store.progress(run_id)
    if status.get("device"):
        st.caption(f"Device: {status['device']}")
    if progress and state in {"running", "queued"}:
        fold = f"Fold {progress['fold']}/{progress['folds']} · " if progress.get("phase") == "cross_validation" else ""
        st.progress(
            float(progress.get("fraction", 0.0)),
            text=(
                fold + f"Epoch {progress['epoch']}/{progress['epochs']} · batch {progress['batch']}/"
                f"{progress['steps_per_epoch']} · elapsed {format_seconds(progress.get('elapsed_s'))} · "
                f"ETA {format_seconds(progress.get('eta_s'))}"
            ),
        )
    history = store.history(run_id)
    if history:
        st.plotly_chart(
            training_curves(history, metric_label(store, run_id)), key=f"train.curves.{run_id}", width="stretch"
        )
    elif state in {"running", "queued"}:
        st.caption("The chart appears after the first epoch.")
    if state == "failed":
        st.error(status.get("message", "The run failed."), icon=":material/error:")
    if state in {"finished", "stopped"}:
        st.success("Done. See the test results on the Evaluate page, or download the model.")
        left, right = st.columns(2)
        left.page_link("pages/evaluate.py", label="Evaluate", icon=":material/analytics:")
        right.page_link("pages/download.py", label="Download", icon=":material/download:")
    return state in {"queued", "running", "created"}


def live_run(store: RunStore, run_id: str) -> None:
    """Render the run; while it is active, re-render from disk every second (and only then)."""
    try:
        active = store.status(run_id).get("state") in {"queued", "running", "created"}
    except AppError as error:
        st.error(error.message)
        return

    @st.fragment(run_every=POLL_S if active else None)
    def _panel():
        still_active = _render(store, run_id)
        if active and not still_active:
            st.rerun()  # switch polling off and refresh the rest of the page

    _panel()
