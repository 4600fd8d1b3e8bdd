"""Evaluate-page pieces: the confusion matrix with its cells' rows, the saved threshold, permutation importance."""

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
from core.plain_text import markdown_format, markdown_literal, plotly_literal, shorten
from core.run_store import RunFiles, RunStore
from ui.components import show_error
from ui.state import get_state

QUICK_SPLIT_ROWS = 200_000


def confusion_figure(matrix: np.ndarray, classes: tuple[str, ...], *, shares: bool) -> go.Figure:
    """Counts, or each actual class's rows as shares (the diagonal is then each class's recall)."""
    values = normalised(matrix) if shares else matrix
    text = [[f"{v:.1%}" for v in row] for row in values] if shares else values
    unit = "of the actual class" if shares else "rows"
    # The class names stay the categories (a click reports them); Plotly draws their literal text instead.
    shown = [plotly_literal(name, max_chars=40) for name in classes]
    hover = [[f"actual {shown[i]}<br>predicted {shown[j]}<br>{text[i][j]} {unit}" for j in range(len(classes))]
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
            hovertemplate="%{customdata}<br>click to list them<extra></extra>",
            showlegend=False,
        )
    )
    figure.update_layout(
        xaxis_title="predicted", yaxis_title="actual", yaxis_autorange="reversed", height=420,
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
) -> None:
    """The matrix (counts or shares), then a cell picker that lists that cell's test rows."""
    shares = st.toggle("Show shares of each actual class", key=f"evaluate.shares.{run_id}")
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
    st.caption(
        f"{CHART_HELP['confusion']} Click a cell (or pick it below) to see its test rows: the raw columns as "
        "uploaded, with the model's probability."
    )
    left, right = st.columns(2)
    actual = left.selectbox("Actual class", classes, format_func=shorten, key=actual_key)
    default = classes.index(actual) if actual in classes else 0
    predicted = right.selectbox("Predicted class", classes, index=default, format_func=shorten, key=predicted_key)
    cached = store.files(run_id).exists(RunFiles.TEST_ROWS)
    if not cached and store.meta(run_id).get("num_rows", 0) > QUICK_SPLIT_ROWS:
        # Finding the test rows re-splits the whole table: seconds per few hundred thousand rows, once.
        if not st.button("Load the test rows", key=f"evaluate.load_rows.{run_id}", icon=":material/table_rows:"):
            return
    try:
        with st.spinner("Finding the test rows…"):
            rows = held_out_rows(store, run_id)
    except AppError as error:
        show_error(error)
        return
    cell = cell_rows(predictions, rows, classes, actual, predicted, threshold=threshold)
    verdict = "correct" if actual == predicted else "wrong"
    rows = "test row is" if len(cell) == 1 else "test rows are"
    st.write(
        markdown_format(
            f"**{len(cell):,}** {rows} actually **{{}}** and predicted **{{}}** ({verdict}).", actual, predicted
        )
    )
    st.dataframe(cell.head(1000), hide_index=True, width="stretch", key=f"evaluate.cell_rows.{run_id}")
    if len(cell) > 1000:
        st.caption("Showing the first 1,000.")


def save_threshold_button(store: RunStore, run_id: str, chosen: float, positive: str) -> None:
    """ "Save this threshold": stored with the run and built into its model.keras (in a child process).

    The caption reads the threshold from the model file itself, so it says what predictions really use.
    """
    run_dir = store.path(run_id)
    saved = load_threshold(run_dir)
    in_use = model_threshold(RunFiles(run_dir).path(RunFiles.MODEL))
    if st.button(
        f"Save {chosen:.2f} as this run's threshold",
        key=f"evaluate.save_threshold.{run_id}",
        disabled=in_use is not None and abs(in_use - chosen) < 1e-9 and abs(saved - chosen) < 1e-9,
        icon=":material/save:",
        help="Predictions on the Predict page and the downloaded model then label rows with it.",
    ):
        with st.spinner("Rebuilding the model with the new threshold…"):
            try:
                saved = apply_threshold(run_dir, chosen)
            except AppError as error:
                show_error(error)
                return
        in_use = model_threshold(RunFiles(run_dir).path(RunFiles.MODEL))
        st.success(
            markdown_format(
                f"Saved: predictions and downloads now predict '{{}}' from a probability of {saved:.2f}.", positive
            )
        )
    if in_use is None:
        return
    st.caption(
        f"Threshold in use by predictions and the downloaded model: **{in_use:.2f}** "
        "(the probabilities themselves do not change)."
    )
    if abs(in_use - saved) > 1e-9:
        st.warning(
            f"The saved threshold is {saved:.2f}, but the model file labels rows at {in_use:.2f} (it was rebuilt, "
            f"for example by continuing training). Save {saved:.2f} again to use it."
        )


def importance_figure(importance: Importance) -> go.Figure:
    columns = list(reversed(importance.columns))  # most important at the top
    label = "accuracy" if importance.metric == "accuracy" else "R²"
    names = [c.column for c in columns]
    figure = go.Figure(
        go.Bar(
            x=[c.mean for c in columns],
            y=names,
            orientation="h",
            error_x={"type": "data", "array": [c.std for c in columns]},
            customdata=[plotly_literal(name, max_chars=80) for name in names],
            hovertemplate=f"%{{customdata}}: {label} drops by %{{x:.4f}}<extra></extra>",
        )
    )
    figure.update_yaxes(tickmode="array", tickvals=names, ticktext=[plotly_literal(name, 30) for name in names])
    figure.update_layout(
        xaxis_title=f"drop in {label} when the column is shuffled", height=max(260, 28 * len(columns) + 80),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )  # fmt: skip
    return figure


def importance_section(store: RunStore, run_id: str) -> None:
    st.subheader("Which columns matter")
    st.caption(
        f"Permutation importance: each raw column of the test rows is shuffled {N_REPEATS} times and the whole "
        "model (its preprocessing included) predicts again; the bar is how much the score drops, the whisker its "
        f"spread. At most {MAX_ROWS:,} test rows are used."
    )
    run_dir = store.path(run_id)
    if store.model_path(run_id) is None:
        st.info("This run has no model file, so importances cannot be computed.")
        return
    importance = cached_importance(run_dir)
    if importance is None and st.button("Compute importances", key=f"evaluate.importance.{run_id}"):
        bar = st.progress(0.0, text="Shuffling columns and predicting again…")
        try:
            importance = compute_in_child(
                run_dir,
                on_progress=lambda fraction, column: bar.progress(
                    fraction, text=f"Shuffled {markdown_literal(column, 40)} ({fraction:.0%} of the columns)"
                ),
            )
        except AppError as error:
            bar.empty()
            show_error(error)
            return
        bar.empty()
    if importance is None:
        return
    label = "accuracy" if importance.metric == "accuracy" else "R²"
    st.plotly_chart(importance_figure(importance), width="stretch", key=f"evaluate.importance_chart.{run_id}")
    sample = (
        f"a sample of {importance.num_rows:,} of the {importance.num_rows_total:,} test rows"
        if importance.num_rows < importance.num_rows_total
        else f"{importance.num_rows:,} test rows"
    )
    st.caption(
        f"{label} on {sample}: {importance.baseline:.4f} before shuffling. A bar near zero (or below) means the "
        "model does not rely on that column."
    )
