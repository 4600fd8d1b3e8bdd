"""Small Streamlit pieces shared by pages."""

from __future__ import annotations

import datetime as dt

import streamlit as st
from babel.dates import format_datetime

from core.errors import AppError
from core.explanations import next_step
from core.i18n import CatalogView, babel_locale, get_language, t
from core.plain_text import markdown_literal, shorten
from core.run_store import RunRecord, RunStore
from ui.services import settings
from ui.state import AppState, current_table

NEXT_STEP_ICON = ":material/east:"


def next_step_line(page: str, situation: str, slot=None):
    """The line right under a page's title: what to do here and what comes next. Returns its slot, so a page
    that learns its situation further down (a run that finished) can write the line again in the same place."""
    slot = slot if slot is not None else st.empty()
    slot.markdown(f"{NEXT_STEP_ICON} {next_step(page, situation)}")
    return slot


def show_error(error: AppError) -> None:
    # Messages quote column and file names: show every character as typed.
    st.error(markdown_literal(error.message), icon=":material/error:")


def require_table(state: AppState):
    """The session's table, or a message with a link back to the Data page (and None)."""
    try:
        frame = current_table(settings(), state)
    except AppError as error:
        show_error(error)
        frame = None
    if frame is None:
        st.info(t("data.ui.no_table"))
        st.page_link(page="pages/data.py", label=t("data.ui.go_to_data"), icon=":material/table:")
        return None
    if not state.target:
        st.info(t("data.ui.no_target"))
        st.page_link(page="pages/data.py", label=t("data.ui.go_to_data"), icon=":material/table:")
        return None
    return frame


def visible_runs(store: RunStore, state: AppState) -> list[RunRecord]:
    return store.list_runs()


# A run's state as a badge (Streamlit Markdown), by state: the messages "data.ui.badge.<state>", in the current
# language ("created", "queued", "running", "finished", "stopped", "failed").
STATE_BADGES = CatalogView("data.ui.badge.")


def run_label(record: RunRecord) -> str:
    when = format_datetime(
        dt.datetime.fromtimestamp(record.created_at), t("data.ui.run_time_format"), locale=babel_locale()
    )
    return t("data.ui.run_label", when=when, name=shorten(record.source_name, 40), run=record.run_id[:6])


def pick_run(store: RunStore, state: AppState, *, key: str, only_done: bool = False) -> RunRecord | None:
    """A run picker defaulting to the session's current run."""
    records = visible_runs(store, state)
    if state.run_id and all(r.run_id != state.run_id for r in records):
        try:
            records.insert(0, store.record(state.run_id))
        except AppError:
            state.run_id = None
    if only_done:
        records = [r for r in records if r.state in {"finished", "stopped"}]
    if not records:
        return None
    ids = [r.run_id for r in records]
    index = ids.index(state.run_id) if state.run_id in ids else 0
    labels = {r.run_id: run_label(r) for r in records}
    # Keyed by the current run, so a new run (or a refresh) re-selects it instead of a stale choice.
    chosen = st.selectbox(t("data.ui.run"), ids, index=index, format_func=labels.get, key=f"{key}.{state.run_id}")
    if chosen != state.run_id:
        state.run_id = chosen
    return records[ids.index(chosen)]


def require_finished_run(store: RunStore, state: AppState, *, key: str) -> RunRecord:
    """The chosen finished (or stopped) run; otherwise a message with a link to Train, and the page stops."""
    record = pick_run(store, state, key=key, only_done=True)
    if record is None:
        st.info(t("data.ui.no_finished_run"))
        st.page_link(page="pages/train.py", label=t("data.ui.go_to_train"), icon=":material/model_training:")
        st.stop()
    return record


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}:{seconds:02d}" if minutes else t("data.ui.seconds", seconds=seconds)


def cached_profile(state: AppState, frame, target: str | None):
    """The table's profile, computed once per table, target and language in this session (its target problem,
    if any, is a sentence in the language it was computed in)."""
    from core.data.profiling import profile_frame

    key = (state.table_key, target, get_language())
    cache = state.memory.profiles
    if key not in cache:
        cache.clear()
        cache[key] = profile_frame(frame, target)
    return cache[key]
