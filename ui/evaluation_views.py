"""Evaluate-page pieces: the confusion matrix with its cells' rows (images and texts: ui/evaluation_kinds.py), the
saved threshold, permutation importance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.deployment.threshold import apply_threshold, load_threshold
from core.deployment.upload_check import model_threshold
from core.errors import AppError
from core.evaluation.importance import MAX_ROWS, N_REPEATS, Importance, cached_importance, compute_in_child
from core.evaluation.metrics import CHART_HELP, cell_rows, held_out_rows, normalised
from core.i18n import format_share, t
from core.plain_text import MAX_CHARS, markdown_literal, plotly_literal, shorten
from core.run_store import FINAL_STATES, RunFiles, RunStore
from ui.components import show_error
from ui.evaluation_kinds import image_cell, text_cell
from ui.language import fragment
from ui.services import score_on_test
from ui.state import get_state

QUICK_SPLIT_ROWS = 200_000


def confusion_figure(matrix: np.ndarray, classes: tuple[str, ...], *, shares: bool) -> go.Figure:
    """Counts, or each actual class's rows as shares (the diagonal is then each class's recall)."""
    values = normalised(matrix) if shares else matrix
    text = [[f"{v:.1%}" for v in row] for row in values] if shares else values
    hover_id = "evaluate.confusion.hover_share" if shares else "evaluate.confusion.hover_count"
    # The class names stay the categories (a click reports them); Plotly draws their literal text instead.
    shown = [plotly_literal(name, max_chars=40) for name in classes]
    hover = [[t(hover_id, actual=shown[i], predicted=shown[j], value=text[i][j]) for j in range(len(classes))]
             for i in range(len(classes))]  # fmt: skip
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=list(classes),
            y=list(classes),
            colorscale="Blues",
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    # Plotly heatmaps send no click selections (plotly.js#7685): an invisible marker on each cell does.
    cells = [(i, j) for i in range(len(classes)) for j in range(len(classes))]
    figure.add_trace(
        go.Scatter(
            x=[classes[j] for _, j in cells],
            y=[classes[i] for i, _ in cells],
            customdata=[hover[i][j] for i, j in cells],
            mode="markers",
            marker={"size": 40, "opacity": 0},
            hovertemplate=t("evaluate.confusion.click", cell="%{customdata}") + "<extra></extra>",
            showlegend=False,
        )
    )
    figure.update_layout(
        xaxis_title=t("evaluate.confusion.axis_predicted"), yaxis_title=t("evaluate.confusion.axis_actual"),
        yaxis_autorange="reversed", height=420,
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_type="category", yaxis_type="category",
        clickmode="event+select", dragmode=False,
    )  # fmt: skip
    ticks = {"tickmode": "array", "tickvals": list(classes), "ticktext": [plotly_literal(c, 20) for c in classes]}
    figure.update_xaxes(**ticks)
    figure.update_yaxes(**ticks)
    return figure


def clicked_cell(event, classes: tuple[str, ...]) -> tuple[str, str] | None:
    """(actual, predicted) of the cell clicked on the chart, from `st.plotly_chart(on_select=...)`'s event."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points or []:
        actual, predicted = str(point.get("y")), str(point.get("x"))
        if actual in classes and predicted in classes:
            return actual, predicted
    return None


def confusion_matrix_with_rows(
    store: RunStore,
    run_id: str,
    predictions: pd.DataFrame,
    classes: tuple[str, ...],
    matrix: np.ndarray,
    *,
    threshold: float | None = None,
    kind: str = "table",
) -> None:
    """The matrix (counts or shares), then a cell picker that lists that cell's test rows: for an image run its
    images, for a text run its texts (`kind`, the run's `DataSpec.kind`)."""
    shares = st.toggle(t("evaluate.confusion.shares"), key=f"evaluate.shares.{run_id}")
    event = st.plotly_chart(
        confusion_figure(matrix, classes, shares=shares), width="stretch", key=f"evaluate.matrix.{run_id}",
        on_select="rerun", selection_mode="points",
    )  # fmt: skip
    actual_key, predicted_key = f"evaluate.cell_actual.{run_id}", f"evaluate.cell_predicted.{run_id}"
    clicked = clicked_cell(event, classes)
    clicked_cells = get_state().memory.clicked_cells
    if clicked is not None and clicked != clicked_cells.get(run_id):
        # A new click on the chart sets the pickers below (they are created after this, so this is allowed).
        clicked_cells[run_id] = clicked
        st.session_state[actual_key], st.session_state[predicted_key] = clicked
    st.caption(t("evaluate.confusion.caption", help=CHART_HELP["confusion"]))
    left, right = st.columns(2)
    actual = left.selectbox(t("evaluate.confusion.actual_class"), classes, format_func=shorten, key=actual_key)
    default = classes.index(actual) if actual in classes else 0
    predicted = right.selectbox(
        t("evaluate.confusion.predicted_class"), classes, index=default, format_func=shorten, key=predicted_key
    )
    cached = store.files(run_id).exists(RunFiles.TEST_ROWS)
    if not cached and store.meta(run_id).get("num_rows", 0) > QUICK_SPLIT_ROWS:
        # Finding the test rows re-splits the whole table: seconds per few hundred thousand rows, once.
        if not st.button(
            t("evaluate.confusion.load_rows"), key=f"evaluate.load_rows.{run_id}", icon=":material/table_rows:"
        ):
            return
    try:
        with st.spinner(t("evaluate.confusion.finding_rows")):
            rows = held_out_rows(store, run_id)
    except AppError as error:
        show_error(error)
        return
    cell = cell_rows(predictions, rows, classes, actual, predicted, threshold=threshold)
    verdict = t("evaluate.confusion.correct" if actual == predicted else "evaluate.confusion.wrong")
    sentence = {"images": "evaluate.kinds.images.cell", "text": "evaluate.kinds.text.cell"}.get(
        kind, "evaluate.confusion.cell"
    )
    st.write(
        t(
            sentence,
            count=len(cell),
            actual=markdown_literal(actual, MAX_CHARS),
            predicted=markdown_literal(predicted, MAX_CHARS),
            verdict=verdict,
        )
    )
    if kind == "images":
        image_cell(store, run_id, cell, predicted)
        return
    if kind == "text":
        target = (store.target(run_id) or {}).get("name")
        # The text column the run read (its other input columns, if any, sit beside it in the test rows).
        text_column = (store.files(run_id).preprocessing() or {}).get("column")
        if text_column not in cell.columns:
            text_column = next((name for name in cell.columns[1:] if name != target), None)
        if text_column is not None:
            text_cell(store, run_id, cell, predicted, text_column)
            return
    st.dataframe(cell.head(1000), hide_index=True, width="stretch", key=f"evaluate.cell_rows.{run_id}")
    if len(cell) > 1000:
        st.caption(t("evaluate.confusion.first_rows"))


def save_threshold_button(store: RunStore, run_id: str, chosen: float, positive: str) -> None:
    """ "Save this threshold": stored with the run and built into its model.keras (in a child process).

    The caption reads the threshold from the model file itself, so it says what predictions really use.
    """
    run_dir = store.path(run_id)
    saved = load_threshold(run_dir)
    in_use = model_threshold(RunFiles(run_dir).path(RunFiles.MODEL))
    if st.button(
        t("evaluate.threshold.save", threshold=f"{chosen:.2f}"),
        key=f"evaluate.save_threshold.{run_id}",
        disabled=in_use is not None and abs(in_use - chosen) < 1e-9 and abs(saved - chosen) < 1e-9,
        icon=":material/save:",
        help=t("evaluate.threshold.save_help"),
    ):
        with st.spinner(t("evaluate.threshold.rebuilding")):
            try:
                saved = apply_threshold(run_dir, chosen)
            except AppError as error:
                show_error(error)
                return
        in_use = model_threshold(RunFiles(run_dir).path(RunFiles.MODEL))
        st.success(
            t("evaluate.threshold.saved", positive=markdown_literal(positive, MAX_CHARS), threshold=f"{saved:.2f}")
        )
    if in_use is None:
        return
    st.caption(t("evaluate.threshold.in_use", threshold=f"{in_use:.2f}"))
    if abs(in_use - saved) > 1e-9:
        st.warning(t("evaluate.threshold.mismatch", saved=f"{saved:.2f}", in_use=f"{in_use:.2f}"))


def importance_figure(importance: Importance) -> go.Figure:
    columns = list(reversed(importance.columns))  # most important at the top
    label = _importance_metric(importance)
    names = [c.column for c in columns]
    figure = go.Figure(
        go.Bar(
            x=[c.mean for c in columns],
            y=names,
            orientation="h",
            error_x={"type": "data", "array": [c.std for c in columns]},
            customdata=[plotly_literal(name, max_chars=80) for name in names],
            hovertemplate=t("evaluate.importance.hover", column="%{customdata}", metric=label, drop="%{x:.4f}")
            + "<extra></extra>",
        )
    )
    figure.update_yaxes(tickmode="array", tickvals=names, ticktext=[plotly_literal(name, 30) for name in names])
    figure.update_layout(
        xaxis_title=t("evaluate.importance.axis", metric=label), height=max(260, 28 * len(columns) + 80),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )  # fmt: skip
    return figure


def _importance_metric(importance: Importance) -> str:
    return t(
        "evaluate.importance.metric.accuracy" if importance.metric == "accuracy" else "evaluate.importance.metric.r2"
    )


def importance_section(store: RunStore, run_id: str) -> None:
    st.subheader(t("evaluate.importance.title"))
    st.caption(t("evaluate.importance.caption", repeats=N_REPEATS, rows=MAX_ROWS))
    run_dir = store.path(run_id)
    if store.model_path(run_id) is None:
        st.info(t("evaluate.importance.no_model"))
        return
    importance = cached_importance(run_dir)
    if importance is None and st.button(t("evaluate.importance.compute"), key=f"evaluate.importance.{run_id}"):
        bar = st.progress(0.0, text=t("evaluate.importance.shuffling"))
        try:
            importance = compute_in_child(
                run_dir,
                on_progress=lambda fraction, column: bar.progress(
                    fraction,
                    text=t(
                        "evaluate.importance.shuffled",
                        column=markdown_literal(column, 40),
                        share=format_share(fraction),
                    ),
                ),
            )
        except AppError as error:
            bar.empty()
            show_error(error)
            return
        bar.empty()
    if importance is None:
        return
    label = _importance_metric(importance)
    st.plotly_chart(importance_figure(importance), width="stretch", key=f"evaluate.importance_chart.{run_id}")
    sample = (
        t("evaluate.importance.sample", rows=importance.num_rows, total=importance.num_rows_total)
        if importance.num_rows < importance.num_rows_total
        else t("evaluate.importance.all_rows", rows=importance.num_rows)
    )
    st.caption(t("evaluate.importance.result", metric=label, sample=sample, baseline=f"{importance.baseline:.4f}"))


def held_back_panel(store: RunStore, run_id: str) -> None:
    """A search trial's run: its test score is held back until the user chooses it (then scored, on click)."""
    from core.experiments.search import best_validation  # noqa: PLC0415 - keeps this module light

    st.subheader(t("evaluate.held_back.title"))
    st.write(t("evaluate.held_back.body"))
    loss, _, epoch = best_validation(store.history(run_id))
    if loss is not None:
        st.caption(t("evaluate.held_back.validation", loss=f"{loss:.4g}", epoch=epoch))
    if st.button(t("evaluate.held_back.score"), type="primary", icon=":material/fact_check:",
                 key=f"evaluate.score.{run_id}"):  # fmt: skip
        try:
            score_on_test(run_id, store=store)
        except AppError as error:
            show_error(error)
            return
        _wait_for_score(store, run_id)


@fragment(run_every=1.0)
def _wait_for_score(store: RunStore, run_id: str) -> None:
    """While the chosen trial is scored (a worker's job of seconds), its status; the page redraws when done."""
    status = store.status(run_id)
    if status.state in FINAL_STATES:
        st.rerun(scope="app")
    st.info(t("train.status.waiting_to_score" if status.state != "running" else "train.status.scoring"),
            icon=":material/hourglass_top:")  # fmt: skip
