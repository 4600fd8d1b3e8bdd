"""Plotly figures for training curves and evaluation (pure plotly; no Streamlit calls)."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.i18n import t
from core.plain_text import plotly_literal

TRAIN_COLOR = "#1f77b4"
VALIDATION_COLOR = "#ff7f0e"


# A horizontal legend above the plot, on the right of its title: below it, it covered the x axis's ticks.
_LEGEND_ABOVE = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1}


def _epoch_axis(figure: go.Figure, last_epoch: int) -> None:
    """Whole epochs on the x axis: Plotly's own ticks fell on 0.5, 1.5… for runs of a few epochs."""
    figure.update_xaxes(
        title_text=t("evaluate.chart.epoch"), rangemode="tozero", tick0=0, dtick=max(1, math.ceil(last_epoch / 8))
    )


def training_curves(history: list[dict], metric_label: str) -> go.Figure:
    """Loss and the main metric per epoch, training vs validation, side by side."""
    metric_label = plotly_literal(metric_label, max_chars=80)  # a regression names the target's units
    figure = make_subplots(rows=1, cols=2, subplot_titles=(t("evaluate.chart.loss_title"), metric_label.capitalize()))
    epochs = [row["epoch"] for row in history]
    loss = t("evaluate.chart.loss")
    series = (
        ("", t("evaluate.chart.training"), TRAIN_COLOR),
        ("val_", t("evaluate.chart.validation"), VALIDATION_COLOR),
    )
    for column, (key, label) in enumerate((("loss", loss), ("metric", metric_label)), start=1):
        for prefix, name, color in series:
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[row.get(prefix + key) for row in history],
                    mode="lines+markers",
                    name=f"{name}",
                    legendgroup=name,
                    showlegend=column == 1,
                    line={"color": color},
                    hovertemplate=t(
                        "evaluate.chart.curve_hover", epoch="%{x}", series=name, metric=label, value="%{y:.4f}"
                    )
                    + "<extra></extra>",
                ),
                row=1,
                col=column,
            )
    _epoch_axis(figure, max(epochs, default=1))
    # The legend above the subplot titles, on the left (Plotly's toolbar appears on the right).
    figure.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.12, "xanchor": "left", "x": 0},
    )
    return figure


def learning_rate_figure(
    *, planned: list[float] | None = None, history: list[dict] | None = None, title: str | None = None
) -> go.Figure:
    """The learning rate per epoch: the planned curve (dashed) and, once training runs, the rate it used.
    `title`: "Learning rate" in the current language unless given."""
    figure = go.Figure()
    if planned is not None:
        figure.add_trace(
            go.Scatter(
                x=list(range(1, len(planned) + 1)),
                y=[float(value) for value in planned],
                mode="lines",
                name=t("evaluate.chart.planned"),
                line={"dash": "dash", "color": "#7f7f7f"},
                hovertemplate=t("evaluate.chart.planned_hover", epoch="%{x}", value="%{y:.3g}") + "<extra></extra>",
            )
        )
    rows = [row for row in history or [] if row.get("learning_rate") is not None]
    if rows:
        figure.add_trace(
            go.Scatter(
                x=[row["epoch"] for row in rows],
                y=[row["learning_rate"] for row in rows],
                mode="lines+markers",
                name=t("evaluate.chart.used"),
                line={"color": TRAIN_COLOR},
                hovertemplate=t("evaluate.chart.used_hover", epoch="%{x}", value="%{y:.3g}") + "<extra></extra>",
            )
        )
    _epoch_axis(figure, max([len(planned or [])] + [row["epoch"] for row in rows] + [1]))
    figure.update_yaxes(title_text=t("evaluate.chart.learning_rate"), rangemode="tozero", exponentformat="e")
    title = t("evaluate.chart.learning_rate_title") if title is None else title
    figure.update_layout(title=title, height=260, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend=_LEGEND_ABOVE)
    return figure


def predicted_vs_actual(predictions: pd.DataFrame, target: str) -> go.Figure:
    sample = predictions.sample(min(len(predictions), 5000), random_state=0)
    low = float(min(sample["actual"].min(), sample["predicted"].min()))
    high = float(max(sample["actual"].max(), sample["predicted"].max()))
    figure = go.Figure()
    figure.add_trace(
        go.Scattergl(
            x=sample["actual"],
            y=sample["predicted"],
            mode="markers",
            marker={"size": 4, "opacity": 0.5},
            name=t("evaluate.chart.rows"),
        )
    )
    figure.add_trace(
        go.Scatter(x=[low, high], y=[low, high], mode="lines", name=t("evaluate.chart.perfect"), line={"dash": "dash"})
    )
    figure.update_layout(
        xaxis_title=t("evaluate.chart.actual_of", target=plotly_literal(target, max_chars=60)),
        yaxis_title=t("evaluate.chart.predicted_of", target=plotly_literal(target, max_chars=60)),
        height=420,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return figure


def curve_figure(curves, *, title: str, x_title: str, y_title: str, diagonal: bool) -> go.Figure:
    """ROC (with the chance diagonal) or precision-recall curves, the area in each legend entry."""
    figure = go.Figure()
    for curve in curves:
        name = f"{plotly_literal(curve.name, max_chars=40)} ({curve.area:.3f})"
        figure.add_trace(go.Scatter(x=curve.x, y=curve.y, mode="lines", name=name))
    if diagonal:
        figure.add_trace(
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name=t("evaluate.chart.chance"), line={"dash": "dash"})
        )
    figure.update_layout(
        title=title,
        xaxis_title=x_title,
        yaxis_title=y_title,
        height=380,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis_range=[0, 1],
        yaxis_range=[0, 1.02],
    )
    return figure


def residual_figures(predictions: pd.DataFrame, target: str) -> tuple[go.Figure, go.Figure]:
    """Residuals against predictions (patterns mean systematic errors) and the distribution of errors."""
    sample = predictions.sample(min(len(predictions), 5000), random_state=0)
    residuals = sample["actual"] - sample["predicted"]
    scatter = go.Figure(
        go.Scattergl(x=sample["predicted"], y=residuals, mode="markers", marker={"size": 4, "opacity": 0.5})
    )
    scatter.add_hline(y=0, line_dash="dash")
    scatter.update_layout(
        title=t("evaluate.chart.residuals_title"),
        xaxis_title=t("evaluate.chart.predicted_of", target=plotly_literal(target, max_chars=60)),
        yaxis_title=t("evaluate.chart.residual"), height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )  # fmt: skip
    histogram = go.Figure(go.Histogram(x=predictions["actual"] - predictions["predicted"], nbinsx=60))
    histogram.update_layout(
        title=t("evaluate.chart.errors_title"), xaxis_title=t("evaluate.chart.residual"),
        yaxis_title=t("evaluate.chart.test_rows"),
        height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )  # fmt: skip
    return scatter, histogram


def calibration_figure(predicted, observed, positive: str) -> go.Figure:
    """Are the probabilities honest? Points on the diagonal mean "70%" happens 70% of the time."""
    positive = plotly_literal(positive, max_chars=40)
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=predicted, y=observed, mode="lines+markers", name=t("evaluate.chart.model")))
    figure.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name=t("evaluate.chart.perfectly_calibrated"), line={"dash": "dash"}
        )
    )
    figure.update_layout(
        title=t("evaluate.chart.calibration_title"),
        xaxis_title=t("evaluate.chart.predicted_probability", positive=positive),
        yaxis_title=t("evaluate.chart.observed_share", positive=positive),
        height=380,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def comparison_curves(curves: dict[str, list[dict]], *, title: str) -> go.Figure:
    """Validation loss (solid) and training loss (dotted) per epoch of several runs, one colour per run, on one
    chart. `curves`: run label → its per-epoch history (labels are the user's run names: made inert here)."""
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
    figure = go.Figure()
    last = 1
    for index, (label, history) in enumerate(curves.items()):
        name = plotly_literal(label, max_chars=40)
        color = palette[index % len(palette)]
        epochs = [row["epoch"] for row in history]
        last = max([last, *epochs])
        for key, dash, series in (("val_loss", "solid", "validation"), ("loss", "dot", "training")):
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[row.get(key) for row in history],
                    mode="lines",
                    name=f"{name} · {t('evaluate.chart.' + series)}",
                    line={"color": color, "dash": dash},
                    legendgroup=name,
                    hovertemplate=t(
                        "evaluate.chart.curve_hover",
                        epoch="%{x}",
                        series=name,
                        metric=t("evaluate.chart.loss"),
                        value="%{y:.4f}",
                    )
                    + "<extra></extra>",
                )  # fmt: skip
            )
    _epoch_axis(figure, last)
    figure.update_layout(
        title=title, height=380, margin={"l": 10, "r": 10, "t": 70, "b": 10}, yaxis_title=t("evaluate.chart.loss"),
        legend=_LEGEND_ABOVE,
    )  # fmt: skip
    return figure
