"""The hidden-layer stack editor: add, remove, reorder, edit each layer's arguments.

Tables get the tabular toolbox (`TABULAR_LAYER_KINDS`). A spec imported with image or text layers (Conv, LSTM...)
shows those layers read-only, so they can be removed; the summary then explains why they cannot follow.
"""

from __future__ import annotations

import secrets

import streamlit as st

from core.i18n import t
from core.model.building import LAYER_TYPES, layer_label
from core.spec import (
    LAYER_KINDS,
    TABULAR_LAYER_KINDS,
    ActivationLayer,
    DenseLayer,
    DropoutLayer,
    GaussianNoiseLayer,
)
from ui.spec_fields import number_kwargs, select_kwargs, slider_kwargs
from ui.state import AppState, Layer

KIND_LABELS = LAYER_TYPES
DEFAULTS = {kind: LAYER_KINDS[kind]() for kind in TABULAR_LAYER_KINDS}
# Layers without settings: a sentence (message id) in place of widgets.
HELP = {
    "batch_normalization": "model.editor.batch_normalization",
    "layer_normalization": "model.editor.layer_normalization",
}


def _edit_layer(layer: Layer) -> object:
    """Widgets for one layer; returns the edited spec."""
    key = f"model.layer.{layer.uid}"
    spec = layer.spec
    if isinstance(spec, DenseLayer):
        units_col, activation_col, init_col, l1_col, l2_col = st.columns([1, 1.1, 1.6, 0.9, 0.9])
        units = units_col.number_input(
            t("model.editor.units"), **number_kwargs(DenseLayer, "units", value=spec.units, step=8), key=f"{key}.units"
        )
        activation = activation_col.selectbox(
            t("model.editor.activation"),
            **select_kwargs(DenseLayer, "activation", value=spec.activation),
            key=f"{key}.activation",
        )
        initializer = init_col.selectbox(
            t("model.editor.initializer"),
            **select_kwargs(DenseLayer, "kernel_initializer", value=spec.kernel_initializer),
            key=f"{key}.kernel_initializer",
        )
        l1 = l1_col.number_input(
            t("model.editor.l1"),
            **number_kwargs(DenseLayer, "l1", value=spec.l1, step=1e-4, format="%.4f"),
            key=f"{key}.l1",
        )
        l2 = l2_col.number_input(
            t("model.editor.l2"),
            **number_kwargs(DenseLayer, "l2", value=spec.l2, step=1e-4, format="%.4f"),
            key=f"{key}.l2",
        )
        return DenseLayer(
            units=int(units), activation=activation, kernel_initializer=initializer, l1=float(l1), l2=float(l2)
        )
    if isinstance(spec, DropoutLayer):
        rate = st.slider(
            t("model.editor.rate"), **slider_kwargs(DropoutLayer, "rate", value=spec.rate, step=0.05), key=f"{key}.rate"
        )
        return DropoutLayer(rate=float(rate))
    if isinstance(spec, GaussianNoiseLayer):
        stddev = st.number_input(
            t("model.editor.stddev"),
            **number_kwargs(GaussianNoiseLayer, "stddev", value=spec.stddev, step=0.05, format="%.3f"),
            key=f"{key}.stddev",
        )
        return GaussianNoiseLayer(stddev=float(stddev))
    if isinstance(spec, ActivationLayer):
        activation = st.selectbox(
            t("model.editor.activation"),
            **select_kwargs(ActivationLayer, "activation", value=spec.activation),
            key=f"{key}.activation",
        )
        return ActivationLayer(activation=activation)
    if spec.kind in HELP:
        st.caption(t(HELP[spec.kind]))
        return spec
    st.caption(t("model.editor.read_only", layer=layer_label(spec)))
    return spec


def layer_editor(state: AppState) -> None:
    if not state.layers:
        st.info(t("model.editor.no_layers"))
    for position, layer in enumerate(list(state.layers)):
        with st.container(border=True):
            title, up, down, remove = st.columns([6, 1, 1, 1])
            title.markdown(f"**{position + 1}. {KIND_LABELS[layer.spec.kind]}**")
            if up.button(
                "↑", key=f"model.layer.{layer.uid}.up", disabled=position == 0, help=t("model.editor.move_up")
            ):
                state.layers[position - 1], state.layers[position] = state.layers[position], state.layers[position - 1]
                st.rerun()
            last = position == len(state.layers) - 1
            if down.button("↓", key=f"model.layer.{layer.uid}.down", disabled=last, help=t("model.editor.move_down")):
                state.layers[position + 1], state.layers[position] = state.layers[position], state.layers[position + 1]
                st.rerun()
            if remove.button("✕", key=f"model.layer.{layer.uid}.remove", help=t("model.editor.remove")):
                state.layers.pop(position)
                st.rerun()
            layer.spec = _edit_layer(layer)
    st.write(t("model.editor.add_title"))
    columns = st.columns(2)
    for index, kind in enumerate(DEFAULTS):
        if columns[index % 2].button(
            t("model.editor.add", layer=KIND_LABELS[kind]),
            key=f"model.add.{kind}",
            icon=":material/add:",
            width="stretch",
        ):
            state.layers.append(Layer(uid=secrets.token_hex(4), spec=DEFAULTS[kind]))
            st.rerun()
