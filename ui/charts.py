"""Plotly figures for training curves and evaluation (pure plotly; no Streamlit calls)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TRAIN_COLOR = "#1f77b4"
VALIDATION_COLOR = "#ff7f0e"


def training_curves(history: list[dict], metric_label: str) -> go.Figure:
    """Loss and the main metric per epoch, training vs validation, side by side."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Loss", metric_label.capitalize()))
    epochs = [row["epoch"] for row in history]
    for column, (key, label) in enumerate((("loss", "loss"), ("metric", metric_label)), start=1):
        for prefix, name, color in (("", "training", TRAIN_COLOR), ("val_", "validation", VALIDATION_COLOR)):
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[row.get(prefix + key) for row in history],
                    mode="lines+markers",
                    name=f"{name}",
                    legendgroup=name,
                    showlegend=column == 1,
                    line={"color": color},
                    hovertemplate=f"epoch %{{x}}<br>{name} {label}: %{{y:.4f}}<extra></extra>",
                ),
                row=1,
                col=column,
            )
    figure.update_xaxes(title_text="epoch", rangemode="tozero")
    figure.update_layout(height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h"})
    return figure


def confusion_heatmap(matrix: np.ndarray, classes: tuple[str, ...]) -> go.Figure:
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=list(classes),
            y=list(classes),
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="actual %{y}<br>predicted %{x}<br>%{z} rows<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis_title="predicted",
        yaxis_title="actual",
        yaxis_autorange="reversed",
        height=420,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return figure


def predicted_vs_actual(predictions: pd.DataFrame, target: str) -> go.Figure:
    sample = predictions.sample(min(len(predictions), 5000), random_state=0)
    low = float(min(sample["actual"].min(), sample["predicted"].min()))
    high = float(max(sample["actual"].max(), sample["predicted"].max()))
    figure = go.Figure()
    figure.add_trace(
        go.Scattergl(
            x=sample["actual"], y=sample["predicted"], mode="markers", marker={"size": 4, "opacity": 0.5}, name="rows"
        )
    )
    figure.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="perfect", line={"dash": "dash"}))
    figure.update_layout(
        xaxis_title=f"actual {target}",
        yaxis_title=f"predicted {target}",
        height=420,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return figure
