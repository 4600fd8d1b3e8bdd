"""The hidden-layer stack editor: add, remove, reorder, edit each layer's arguments."""

from __future__ import annotations

import secrets

import streamlit as st

from core.spec import ACTIVATIONS, BatchNormalizationLayer, DenseLayer, DropoutLayer
from ui.state import AppState, Layer

KIND_LABELS = {"dense": "Dense", "dropout": "Dropout", "batch_normalization": "BatchNormalization"}
DEFAULTS = {"dense": DenseLayer(), "dropout": DropoutLayer(), "batch_normalization": BatchNormalizationLayer()}


def _edit_layer(layer: Layer, position: int) -> object:
    """Widgets for one layer; returns the edited spec."""
    key = f"model.layer.{layer.uid}"
    spec = layer.spec
    if isinstance(spec, DenseLayer):
        units_col, activation_col, l1_col, l2_col = st.columns([1, 1, 1, 1])
        units = units_col.number_input("units", 1, 8192, spec.units, step=8, key=f"{key}.units")
        activation = activation_col.selectbox(
            "activation", ACTIVATIONS, index=ACTIVATIONS.index(spec.activation), key=f"{key}.activation"
        )
        l1 = l1_col.number_input("L1", 0.0, 1.0, spec.l1, step=1e-4, format="%.4f", key=f"{key}.l1")
        l2 = l2_col.number_input("L2", 0.0, 1.0, spec.l2, step=1e-4, format="%.4f", key=f"{key}.l2")
        return DenseLayer(units=int(units), activation=activation, l1=float(l1), l2=float(l2))
    if isinstance(spec, DropoutLayer):
        rate = st.slider("rate", 0.0, 0.95, float(spec.rate), step=0.05, key=f"{key}.rate")
        return DropoutLayer(rate=float(rate))
    st.caption("Normalises the previous layer's outputs (no settings).")
    return spec


def layer_editor(state: AppState) -> None:
    if not state.layers:
        st.info("No hidden layers: the model is a linear/logistic model on the encoded inputs.")
    for position, layer in enumerate(list(state.layers)):
        with st.container(border=True):
            title, up, down, remove = st.columns([6, 1, 1, 1])
            title.markdown(f"**{position + 1}. {KIND_LABELS[layer.spec.kind]}**")
            if up.button("↑", key=f"model.layer.{layer.uid}.up", disabled=position == 0, help="Move up"):
                state.layers[position - 1], state.layers[position] = state.layers[position], state.layers[position - 1]
                st.rerun()
            last = position == len(state.layers) - 1
            if down.button("↓", key=f"model.layer.{layer.uid}.down", disabled=last, help="Move down"):
                state.layers[position + 1], state.layers[position] = state.layers[position], state.layers[position + 1]
                st.rerun()
            if remove.button("✕", key=f"model.layer.{layer.uid}.remove", help="Remove this layer"):
                state.layers.pop(position)
                st.rerun()
            layer.spec = _edit_layer(layer, position)
    st.write("Add a layer:")
    columns = st.columns(3)
    for column, kind in zip(columns, DEFAULTS, strict=True):
        if column.button(f"Add {KIND_LABELS[kind]}", key=f"model.add.{kind}", icon=":material/add:", width="stretch"):
            state.layers.append(Layer(uid=secrets.token_hex(4), spec=DEFAULTS[kind]))
            st.rerun()
