"""The Model page's right-hand side: the network diagram, the model doctor and the pre-flight card."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from pydantic import ValidationError

from core.errors import AppError
from core.explanations import METRIC_HELP
from core.i18n import t
from core.model.building import LayerRow
from core.model.doctor import Advice, apply_advice, diagnose
from core.model.preflight import (
    Measurement,
    estimate,
    human_bytes,
    human_seconds,
    load_measurement,
    measure_speed,
    measurement_key,
    save_measurement,
)
from core.plain_text import markdown_literal, plotly_literal
from core.spec import RunSpec, Task
from ui.components import show_error
from ui.services import settings
from ui.state import AppState

BOX_HEIGHT_PX = 52
# Fill colours by role: where the data enters and leaves, what learns, what only regularises or reshapes.
COLOURS = {
    "InputLayer": "#e8eaed",
    "output": "#c8e6c9",
    "Dense": "#bbdefb",
    "Embedding": "#d1c4e9",
    "Dropout": "#ffe0b2",
    "GaussianNoise": "#ffe0b2",
    "BatchNormalization": "#e1bee7",
    "LayerNormalization": "#e1bee7",
    "Activation": "#b2dfdb",
}
CONV_OR_SEQUENCE = "#d7ccc8"


def model_diagram(rows: list[LayerRow]) -> go.Figure:
    """A vertical stack of boxes, input at the top and the output layer at the bottom: each box shows the
    layer's type and settings, its output shape and its parameter count."""
    figure = go.Figure()
    rows = _joined_periodic_rows(rows)
    count = len(rows)
    for index, row in enumerate(rows):
        top = count - index
        is_output = index == count - 1
        colour = COLOURS["output"] if is_output else COLOURS.get(row.layer_type, CONV_OR_SEQUENCE)
        figure.add_shape(
            type="rect", x0=0.0, x1=1.0, y0=top - 0.78, y1=top, fillcolor=colour,
            line={"color": "#5f6368", "width": 1}, layer="below",
        )  # fmt: skip
        if is_output or index == 0:
            title = t("model.diagram.output") if is_output else t("model.diagram.input")
        elif row.name.startswith("hidden_"):
            title = f"{row.name.split('_')[1]}. {row.layer_type}"  # the layer's number in the editor
        else:
            title = row.layer_type  # a learned embedding of a category column, before the hidden layers
        params = t("model.diagram.params", count=row.num_params) if row.num_params else t("model.diagram.no_params")
        figure.add_annotation(
            x=0.5, y=top - 0.39, showarrow=False, align="center", font={"size": 12},
            text=(f"<b>{title}</b> · {plotly_literal(row.details)}" if row.details else f"<b>{title}</b>")
            + f"<br>{row.output_shape} · {params}",
        )  # fmt: skip
        if index < count - 1:
            figure.add_annotation(
                x=0.5, y=top - 1.0, ax=0.5, ay=top - 0.78, xref="x", yref="y", axref="x", ayref="y",
                showarrow=True, arrowhead=2, arrowsize=1, arrowwidth=1, arrowcolor="#5f6368", text="",
            )  # fmt: skip
    figure.update_xaxes(visible=False, range=[-0.02, 1.02], fixedrange=True)
    figure.update_yaxes(visible=False, range=[0.1, count + 0.05], fixedrange=True)
    figure.update_layout(
        height=BOX_HEIGHT_PX * count + 20,
        margin={"l": 4, "r": 4, "t": 4, "b": 4},
        plot_bgcolor="rgba(0,0,0,0)",
        paper_bgcolor="rgba(0,0,0,0)",
        showlegend=False,
    )
    return figure


def _joined_periodic_rows(rows: list[LayerRow]) -> list[LayerRow]:
    """The periodic features of the number columns as one box: they are side branches, one per column, that a
    stack of boxes would draw as if each fed the next (the summary table still lists every layer)."""
    periodic = [row for row in rows if row.name.startswith("periodic_")]
    if not periodic:
        return rows
    branches = [row for row in periodic if not row.name.endswith("_frequencies")]
    frequencies = int(periodic[0].output_shape.strip("()").split(",")[-1])
    dim = int(branches[0].output_shape.strip("()").split(",")[-1])
    joined = LayerRow(
        "periodic",
        t("model.diagram.periodic_title"),
        f"(None, {dim * len(branches)})",
        sum(row.num_params for row in periodic),
        t("model.diagram.periodic_all", count=len(branches), frequencies=frequencies, dim=dim),
    )
    first = rows.index(periodic[0])
    kept = [row for row in rows if not row.name.startswith("periodic_")]
    return kept[:first] + [joined] + kept[first:]


def _current_spec(state: AppState) -> RunSpec | None:
    try:
        return state.run_spec()
    except ValidationError:
        return None  # an invalid setting elsewhere: the Train page names it


def doctor_panel(state: AppState, *, train_rows: int, num_inputs: int, task: Task, num_classes: int, embeddings):
    """Each finding with its reason and an "Apply fix" button that edits the session's spec."""
    spec = _current_spec(state)
    if spec is None:
        return
    findings = diagnose(
        spec, train_rows=train_rows, num_inputs=num_inputs, task=task, num_classes=num_classes, embeddings=embeddings
    )
    st.subheader(t("model.doctor.title"))
    if not findings:
        st.success(t("model.doctor.none"), icon=":material/check_circle:")
        return
    st.caption(t("model.doctor.advice_only"))
    for advice in findings:
        _finding(state, spec, advice)


def _finding(state: AppState, spec: RunSpec, advice: Advice) -> None:
    text, button = st.columns([3, 2], vertical_alignment="center")
    show = text.warning if advice.severity == "warning" else text.info
    show(
        markdown_literal(advice.message),
        icon=":material/warning:" if advice.severity == "warning" else ":material/info:",
    )
    if button.button(
        t("model.doctor.apply_fix", fix=markdown_literal(advice.fix_label)),
        key=f"model.fix.{advice.key}",
        width="stretch",
    ):
        state.apply_spec(apply_advice(spec, advice))
        st.rerun()


def preflight_card(
    state: AppState,
    *,
    train_rows: int,
    validation_rows: int,
    num_inputs: int,
    task: Task,
    num_classes: int,
    embeddings,
) -> None:
    """Parameters, size, memory estimate, measured seconds per epoch and the run's ETA."""
    spec = _current_spec(state)
    if spec is None:
        return
    limits = settings()
    facts = {"num_inputs": num_inputs, "task": task, "num_classes": num_classes, "embeddings": embeddings}
    planned = estimate(spec, train_rows=train_rows, max_params=limits.max_params, **facts)
    key = measurement_key(
        spec,
        table_key=state.table_key or "",
        num_inputs=num_inputs,
        train_rows=train_rows,
        validation_rows=validation_rows,
        embeddings=embeddings,
    )
    folder = limits.home / "preflight"
    measured: dict[str, Measurement] = state.memory.preflight
    measurement = measured.get(key) or load_measurement(folder, key)
    st.subheader(t("model.preflight.title"))
    with st.container(border=True):
        size, memory, speed, eta = st.columns(4)
        size.metric(t("model.preflight.model_size"), human_bytes(planned.model_bytes), help=METRIC_HELP["model_size"])
        memory.metric(
            t("model.preflight.training_memory"),
            human_bytes(planned.memory_bytes),
            help=t(
                "model.preflight.training_memory_help",
                help=METRIC_HELP["training_memory"],
                batch_size=planned.batch_size,
            ),
        )
        epochs = spec.training.epochs
        speed_help, eta_help = METRIC_HELP["seconds_per_epoch"], METRIC_HELP["whole_run"]
        if measurement is None:
            speed.metric(t("model.preflight.seconds_per_epoch"), t("model.preflight.not_measured"), help=speed_help)
            eta.metric(t("model.preflight.whole_run", count=epochs), t("model.preflight.not_measured"), help=eta_help)
        else:
            speed.metric(
                t("model.preflight.seconds_per_epoch"), human_seconds(measurement.seconds_per_epoch), help=speed_help
            )
            eta.metric(
                t("model.preflight.whole_run", count=epochs),
                human_seconds(measurement.eta_seconds(epochs)),
                help=eta_help,
            )
        for warning in planned.warnings:
            st.warning(markdown_literal(warning), icon=":material/warning:")
        if measurement is None:
            st.caption(
                t(
                    "model.preflight.planned",
                    params=planned.num_params,
                    rows=train_rows,
                    steps=planned.steps_per_epoch,
                )  # fmt: skip
            )
        else:
            measured_text = t(
                "model.preflight.measured",
                params=planned.num_params, timed=measurement.steps_timed, batch_size=planned.batch_size,
                per_step=human_seconds(measurement.seconds_per_step), steps=measurement.steps_per_epoch,
                device=markdown_literal(measurement.device), epochs=epochs,
            )  # fmt: skip
            if spec.training.early_stopping:
                measured_text += t("model.preflight.early_stopping")
            st.caption(measured_text)
            if measurement.eta_seconds(epochs) > 3600:
                st.warning(
                    t("model.preflight.long_run", duration=human_seconds(measurement.eta_seconds(epochs))),
                    icon=":material/schedule:",
                )
        too_big = planned.num_params > limits.max_params
        if st.button(t("model.preflight.measure"), key="model.measure", icon=":material/speed:", disabled=too_big):
            with st.spinner(t("model.preflight.measuring")):
                try:
                    measurement = measure_speed(spec, train_rows=train_rows, validation_rows=validation_rows, **facts)
                except AppError as error:
                    show_error(error)
                    return
            measured[key] = measurement
            save_measurement(folder, key, measurement)
            st.rerun()
