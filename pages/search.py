"""Search: tick what to vary and a budget; Optuna tries settings, each trial a normal run; a live leaderboard."""

import datetime as dt

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from pydantic import ValidationError

from core.errors import AppError
from core.experiments.compare import metric_name
from core.experiments.history import main_metric
from core.experiments.search import (
    DROPOUT_BOUNDS,
    LAYER_BOUNDS,
    PARAM_NAMES,
    PERIODIC_SCALES,
    SearchBudget,
    SearchSpace,
    SearchSpec,
)
from core.formatting import format_metric
from core.i18n import t
from core.plain_text import shorten
from core.run_store import FINAL_STATES
from core.spec import format_validation_error
from ui.components import require_table, show_error
from ui.language import fragment
from ui.services import job_manager, run_store, search_store, settings, start_search
from ui.spec_fields import help_text, number_kwargs
from ui.state import current_pixels_path, current_table_path, current_table_reading, get_state

state = get_state()
store = run_store()
searches = search_store()
st.title(t("experiments.search.title"))
st.caption(t("experiments.search.intro"))
frame = require_table(state)

if frame is not None:
    try:
        base = state.run_spec()
    except ValidationError as error:
        show_error(AppError(format_validation_error(error)))
        base = None
    if base is not None:
        table_kind = base.data.kind == "table"
        with st.expander(t("experiments.search.new"), expanded=not searches.list_ids()):
            left, right = st.columns(2)
            vary = {}
            if table_kind:
                vary["vary_layers"] = left.checkbox(t("experiments.search.vary_layers"), True, key="search.vary_layers",
                                                    help=help_text(SearchSpace, "vary_layers"))  # fmt: skip
                layers = left.slider(
                    t("experiments.search.layers"), *LAYER_BOUNDS, SearchSpace().layers, key="search.layers"
                )
                vary["vary_units"] = left.checkbox(t("experiments.search.vary_units"), True, key="search.vary_units")
                units = left.select_slider(t("experiments.search.units"), [8, 16, 32, 64, 128, 256, 512, 1024],
                                           (16, 256), key="search.units")  # fmt: skip
                vary["vary_dropout"] = left.checkbox(
                    t("experiments.search.vary_dropout"), True, key="search.vary_dropout"
                )
                dropout = left.slider(
                    t("experiments.search.dropout"), *DROPOUT_BOUNDS, SearchSpace().dropout, 0.05, key="search.dropout"
                )
                vary["vary_numeric_embedding"] = left.checkbox(
                    t("experiments.search.vary_numeric_embedding"), True, key="search.vary_numeric",
                    help=help_text(SearchSpace, "vary_numeric_embedding"),
                )  # fmt: skip
                spreads = left.select_slider(t("experiments.search.periodic_scale"), PERIODIC_SCALES,
                                             SearchSpace().periodic_scale, format_func="{:g}".format,
                                             key="search.periodic_scale",
                                             help=help_text(SearchSpace, "periodic_scale"))  # fmt: skip
            else:
                st.caption(t("experiments.search.kind_note"))
                layers, units, dropout, spreads = (1, 3), (16, 256), (0.0, 0.5), SearchSpace().periodic_scale
                vary.update(vary_layers=False, vary_units=False, vary_dropout=False, vary_numeric_embedding=False)
            vary["vary_learning_rate"] = right.checkbox(t("experiments.search.vary_learning_rate"), True,
                                                        key="search.vary_lr")  # fmt: skip
            rates = right.select_slider(t("experiments.search.learning_rate"), [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1],
                                        (1e-4, 3e-2), format_func="{:g}".format, key="search.lr")  # fmt: skip
            vary["vary_batch_size"] = right.checkbox(
                t("experiments.search.vary_batch_size"), False, key="search.vary_batch"
            )
            vary["vary_optimizer"] = right.checkbox(
                t("experiments.search.vary_optimizer"), False, key="search.vary_opt"
            )
            if base.data.task != "regression":
                vary["vary_class_weight"] = right.checkbox(t("experiments.search.vary_class_weight"), False,
                                                           key="search.vary_cw")  # fmt: skip
            by = st.radio(t("experiments.search.budget"), ("trials", "minutes"), horizontal=True, key="search.by",
                          format_func={"trials": t("experiments.search.by_trials"),
                                       "minutes": t("experiments.search.by_minutes")}.get)  # fmt: skip
            amount = st.number_input(
                t("experiments.search.amount"), **number_kwargs(SearchBudget, "trials", value=10), key="search.amount"
            )
            # Trials at once: the backend's training slots (local workers, or what the Ray cluster holds).
            parallel = min(job_manager().max_jobs, settings().max_running_per_session if store.owner else 16)
            if st.button(t("experiments.search.start"), type="primary", icon=":material/travel_explore:",
                         key="search.start"):  # fmt: skip
                try:
                    spec = SearchSpec(
                        base=base,
                        space=SearchSpace(layers=layers, units=units, dropout=dropout, learning_rate=rates,
                                          periodic_scale=spreads, **vary),
                        budget=SearchBudget(trials=int(amount) if by == "trials" else None,
                                            minutes=float(amount) if by == "minutes" else None,
                                            parallel=max(1, parallel)),
                    )  # fmt: skip
                    pixels = current_pixels_path(state)
                    search_id = searches.create(
                        spec, current_table_path(state), source_name=state.table_name or "table",
                        reading=current_table_reading(state), pixels=pixels,
                    )  # fmt: skip
                    start_search(search_id)
                    state.memory.search_id = search_id
                    st.rerun()
                except ValidationError as error:
                    show_error(AppError(format_validation_error(error)))
                except AppError as error:
                    show_error(error)

ids = searches.list_ids()
if not ids:
    st.info(t("experiments.search.none_yet"), icon=":material/travel_explore:")
    st.stop()
metas = {search_id: searches.meta(search_id) for search_id in ids}


def _label(search_id: str) -> str:
    meta = metas[search_id]
    when = dt.datetime.fromtimestamp(meta.get("created_at", 0)).strftime("%Y-%m-%d %H:%M")
    return f"{shorten(meta.get('source_name', ''), 40)} · {when} · {search_id[:6]}"


chosen = st.selectbox(
    t("experiments.search.pick"), ids, index=ids.index(state.memory.search_id) if state.memory.search_id in ids else 0,
    format_func=_label, key="search.pick",
)  # fmt: skip
state.memory.search_id = chosen


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _settings(params: dict) -> str:
    return ", ".join(
        f"{PARAM_NAMES.get(name, name)} {value:.3g}" if isinstance(value, float) else f"{PARAM_NAMES.get(name, name)} {value}"
        for name, value in params.items()
    )  # fmt: skip


def _chosen(view) -> bool:
    """The best trial, chosen on validation loss; its test score once it has been computed for it alone. False
    while its run is being scored (it cannot be opened until then)."""
    loss = f"{view.best.val_loss:.4f}"
    metrics = store.metrics(view.best.run_id) or {}
    name, score = main_metric(metrics.get("task"), metrics.get("test") or {})
    if score is not None:
        st.success(t("experiments.search.chosen_scored", trial=view.best.number, loss=loss, metric=metric_name(name),
                     score=format_metric(name, score)))  # fmt: skip
        return True
    if store.status(view.best.run_id).state not in FINAL_STATES:
        st.info(t("experiments.search.chosen_scoring", trial=view.best.number, loss=loss))
        return False
    st.success(t("experiments.search.best", trial=view.best.number, loss=loss))  # not scored: Evaluate offers it
    return True


@fragment(run_every=2.0)
def leaderboard(search_id: str) -> None:
    try:
        view = searches.view(search_id, store)
    except AppError as error:
        show_error(error)
        return
    done = sum(1 for row in view.trials if row.state in {"complete", "pruned"})
    budget = view.spec.budget
    st.markdown(t("experiments.search.progress", state=t(f"experiments.search.state.{view.state}"), done=done,
                  trials=budget.trials if budget.trials is not None else "∞", minutes=round(view.elapsed_s / 60, 1)))  # fmt: skip
    if view.state == "running" and st.button(t("experiments.search.stop"), icon=":material/stop:", key="search.stop"):
        searches.request_stop(search_id)
    rows = view.leaderboard()
    if rows:
        best = view.best.number if view.best else None
        # Text cells: a trial still training has no score yet and shows a dash, not "None".
        table = pd.DataFrame({
            t("experiments.search.column.trial"): [("★ " if r.number == best else "") + str(r.number) for r in rows],
            t("experiments.search.column.state"): [t(f"experiments.search.trial.{r.state}") for r in rows],
            t("experiments.search.column.val_loss"): [_number(r.val_loss) for r in rows],
            t("experiments.search.column.val_metric"): [_number(r.val_metric) for r in rows],
            t("experiments.search.column.epoch"): ["–" if r.epoch is None else str(r.epoch) for r in rows],
            t("experiments.search.column.settings"): [_settings(r.params) for r in rows],
            t("experiments.search.column.run"): [r.run_id[:6] if r.run_id else "" for r in rows],
        })  # fmt: skip
        st.dataframe(table, hide_index=True, width="stretch", key=f"search.board.{search_id}")
    points = view.best_over_time()
    if points:
        figure = go.Figure(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers"))
        figure.update_xaxes(dtick=1)  # trials are whole numbers
        low, high = min(p[1] for p in points), max(p[1] for p in points)
        margin = max((high - low) * 0.15, abs(high) * 0.02, 1e-6)
        figure.update_yaxes(range=[low - margin, high + margin])  # a flat line near its value, not around 0
        figure.update_layout(title=t("experiments.search.best_over_time"), height=300, xaxis_title=t("experiments.search.column.trial"),
                             yaxis_title=t("experiments.search.column.val_loss"), margin={"l": 10, "r": 10, "t": 50, "b": 40})  # fmt: skip
        st.plotly_chart(figure, key=f"search.best.{search_id}", width="stretch")
    if view.state != "running":
        importances = searches.importances(search_id)
        if importances:
            names = [PARAM_NAMES.get(name, name) for name in importances]  # the leaderboard's names, translated
            figure = go.Figure(go.Bar(x=list(importances.values()), y=names, orientation="h"))
            figure.update_layout(title=t("experiments.search.importances"), height=260,
                                 margin={"l": 10, "r": 10, "t": 50, "b": 10})  # fmt: skip
            st.plotly_chart(figure, key=f"search.importance.{search_id}", width="stretch")
            st.caption(t("experiments.search.importances_help"))
        if view.best is not None and view.best.run_id and _chosen(view):
            if st.button(t("experiments.search.open_best"), icon=":material/analytics:", key="search.open_best"):
                state.run_id = view.best.run_id
                st.switch_page("pages/evaluate.py")
    elif view.state == "running":
        # A search started by an earlier server process: this one drives it from now on.
        start_search(search_id)


leaderboard(chosen)
