"""Runs: the history of this user's runs (sort, filter, rename, note, star, delete, open) and 2-5 side by side."""

import datetime as dt

import pandas as pd
import streamlit as st
from babel.dates import format_datetime

from core.errors import AppError
from core.experiments.compare import MAX_RUNS, MIN_RUNS, compare, metric_name
from core.experiments.history import SORT_KEYS, annotate, filter_rows, history, sort_rows
from core.formatting import format_metric
from core.i18n import babel_locale, t
from core.plain_text import markdown_literal, shorten
from ui.charts import comparison_curves
from ui.components import show_error
from ui.services import run_store
from ui.state import get_state

STATES = ("finished", "stopped", "failed", "running", "queued", "created")
OPEN = (
    ("experiments.page.open_evaluate", "pages/evaluate.py", ":material/analytics:"),
    ("experiments.page.open_predict", "pages/predict.py", ":material/online_prediction:"),
    ("experiments.page.open_download", "pages/download.py", ":material/download:"),
)


def _when(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp)
    return format_datetime(moment, t("data.ui.run_time_format"), locale=babel_locale())


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _task(task: str | None) -> str:
    return t(f"data.page.task_name.{task}") if task else ""


state = get_state()
store = run_store()
st.title(t("experiments.page.title"))
all_rows = history(store)
if not all_rows:
    st.info(t("experiments.page.empty"), icon=":material/history:")
    st.page_link(page="pages/train.py", label=t("data.ui.go_to_train"), icon=":material/model_training:")
    st.stop()
st.caption(t("experiments.page.intro"))

find, states_box, sort_box, star_box = st.columns([3, 3, 2, 2], vertical_alignment="bottom")
text = find.text_input(t("experiments.page.search"), key="runs.find", help=t("experiments.page.search_help"))
states = states_box.multiselect(
    t("experiments.page.states"),
    STATES,
    format_func={s: _sentence_case(t(f"train.state.{s}")) for s in STATES}.get,
    key="runs.states",
)
sort_by = sort_box.selectbox(
    t("experiments.page.sort"),
    SORT_KEYS,
    format_func={k: t(f"experiments.page.sort.{k}") for k in SORT_KEYS}.get,
    key="runs.sort",
)
starred_only = star_box.toggle(t("experiments.page.starred_only"), key="runs.starred")
rows = sort_rows(filter_rows(all_rows, text=text, states=set(states), starred_only=starred_only), sort_by)
st.caption(t("experiments.page.shown", shown=len(rows), total=len(all_rows)))


# Names, notes, tables and layers are the user's: a table cell shows them as plain text, shortened.
C = {name: t(f"experiments.page.column.{name}") for name in (
    "star", "name", "started", "data", "task", "model", "score", "metric", "duration", "state", "note", "id"
)}  # fmt: skip
table = pd.DataFrame(
    {
        C["star"]: ["★" if row.starred else "" for row in rows],
        C["name"]: [shorten(row.name, 80) for row in rows],
        C["started"]: [_when(row.created_at) for row in rows],
        C["data"]: [shorten(row.source_name, 40) for row in rows],
        C["task"]: [_task(row.task) for row in rows],
        C["model"]: [shorten(row.model, 80) for row in rows],
        C["score"]: [row.metric for row in rows],
        C["metric"]: [
            t("experiments.history.held_back")
            if row.held_back
            else metric_name(row.metric_name)
            if row.metric_name
            else ""
            for row in rows
        ],  # fmt: skip
        C["duration"]: [None if row.duration_s is None else round(row.duration_s, 1) for row in rows],
        C["state"]: [_sentence_case(t(f"train.state.{row.state}")) for row in rows],
        C["note"]: [shorten(row.note, 120) for row in rows],
        C["id"]: [row.run_id[:6] for row in rows],
    }
)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        C["score"]: st.column_config.NumberColumn(format="%.4f"),
        C["star"]: st.column_config.TextColumn(width="small"),
    },
    key="runs.table",
)
labels = {row.run_id: f"{'★ ' if row.starred else ''}{row.title} · {_when(row.created_at)}" for row in rows}


def _label(run_id: str) -> str:
    return shorten(labels[run_id], 100)


st.subheader(t("experiments.page.one_run"))
if rows:
    ids = list(labels)
    default = ids.index(state.run_id) if state.run_id in ids else 0
    chosen = st.selectbox(t("experiments.page.pick_run"), ids, index=default, format_func=_label, key="runs.one")
    row = next(r for r in rows if r.run_id == chosen)
    with st.form(f"runs.annotate.{chosen}", border=False):
        name_box, star_box = st.columns([4, 1], vertical_alignment="bottom")
        name = name_box.text_input(t("experiments.page.column.name"), row.name, key=f"runs.name.{chosen}")
        starred = star_box.checkbox(t("experiments.page.column.star"), row.starred, key=f"runs.star.{chosen}")
        note = st.text_area(t("experiments.page.column.note"), row.note, key=f"runs.note.{chosen}", height=80)
        if st.form_submit_button(t("experiments.page.save"), icon=":material/save:"):
            try:
                annotate(store, chosen, name=name, note=note, starred=starred)
                st.toast(t("experiments.page.saved_one"), icon=":material/save:")
                st.rerun()
            except AppError as error:
                show_error(error)
    columns = st.columns(len(OPEN) + 1)
    for column, (label, target, icon) in zip(columns, OPEN, strict=False):
        if column.button(
            t(label), icon=icon, key=f"runs.open.{target}", disabled=row.state not in {"finished", "stopped"}
        ):
            state.run_id = chosen
            st.switch_page(target)
    active = row.record.is_active
    if columns[-1].button(
        t("experiments.page.delete"), icon=":material/delete:", key="runs.delete", disabled=active,
        help=t("experiments.page.delete_active") if active else None,
    ):  # fmt: skip
        try:
            store.delete_run(chosen)
            if state.run_id == chosen:
                state.run_id = None
            st.toast(t("experiments.page.deleted", run=chosen[:6]), icon=":material/delete:")
            st.rerun()
        except AppError as error:
            show_error(error)

st.subheader(t("experiments.page.compare_title"))
finished = [r.run_id for r in rows if r.state in {"finished", "stopped"}]
picked = st.multiselect(
    t("experiments.page.compare_pick"), finished, format_func=_label, max_selections=MAX_RUNS, key="runs.compare",
    placeholder=t("experiments.page.compare_hint"),
)  # fmt: skip
if len(picked) < MIN_RUNS:
    st.caption(t("experiments.page.compare_hint"))
    st.stop()

try:
    result = compare(store, picked)
except AppError as error:
    show_error(error)
    st.stop()

titles = {row.run_id: shorten(row.title, 40) for row in result.rows}
st.markdown(f"**{t('experiments.page.metrics')}**")
shown = pd.DataFrame(
    {
        titles[run_id]: [
            format_metric(name, None if pd.isna(value) else float(value))
            + (" ★" if result.best.get(name) == run_id else "")
            for name, value in result.metrics[run_id].items()
        ]
        for run_id in result.metrics.columns
    },
    index=[metric_name(name) for name in result.metrics.index],
)
st.dataframe(shown, width="stretch")

st.plotly_chart(
    comparison_curves({titles[r]: result.curves[r] for r in result.curves}, title=t("experiments.page.curves")),
    key="runs.curves",
    width="stretch",
)

reference = result.rows[0]
main = reference.metric_name
for row in result.rows[1:]:
    st.markdown(f"**{t('experiments.page.differences', reference=markdown_literal(titles[reference.run_id]))}** "
                f"→ {markdown_literal(titles[row.run_id])}")  # fmt: skip
    changes = result.differences[row.run_id]
    if not changes:
        st.caption(t("experiments.page.same_spec", reference=markdown_literal(titles[reference.run_id])))
        continue
    st.markdown("\n".join(f"- {markdown_literal(change)}" for change in changes))
    scores = (reference.metric, row.metric)
    if main and None not in scores and scores[0] != scores[1]:
        better, worse = (row, reference) if scores[1] > scores[0] else (reference, row)
        st.info(
            t(
                "experiments.page.why_better",
                better=markdown_literal(titles[better.run_id]),
                metric=metric_name(main),
                high=format_metric(main, max(scores)),
                low=format_metric(main, min(scores)),
                changes=markdown_literal("; ".join(changes)),
            ),
            icon=":material/lightbulb:",
        )

if result.per_class is not None:
    st.markdown(f"**{t('experiments.page.per_class')}**")
    st.caption(t("experiments.page.per_class_help"))
    per_class = result.per_class.rename(columns=titles)
    per_class.index = [shorten(name, 40) for name in per_class.index]
    st.dataframe(per_class.style.format("{:.0%}").highlight_max(axis=1, color="#d4edda"), width="stretch")
