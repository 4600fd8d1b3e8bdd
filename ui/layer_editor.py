"""The hidden-layer stack editor: add, remove, reorder, edit each layer's arguments.

Each kind of data gets its toolbox (`core.spec.KIND_LAYER_KINDS`): dense layers for tables, convolutions and
pooling for images, embeddings, 1-D convolutions and recurrent layers for text. The settings of the image and
text layers are drawn from their spec's fields (bounds, choices and help from `core.spec`); the summary says
when a layer cannot follow the one before it.
"""

from __future__ import annotations

import secrets

import streamlit as st

from core.i18n import t
from core.model.building import LAYER_TYPES, layer_label
from core.spec import (
    KIND_LAYER_KINDS,
    LAYER_KINDS,
    ActivationLayer,
    BidirectionalLayer,
    DenseLayer,
    DropoutLayer,
    GaussianNoiseLayer,
    GRULayer,
    LSTMLayer,
)
from ui.spec_fields import help_text, number_kwargs, select_kwargs, slider_kwargs
from ui.state import AppState, Layer

KIND_LABELS = LAYER_TYPES
# A new convolution keeps its input's size (padding "same", as in the presets): a stack of them never
# shrinks an 8×8 image to nothing.
DEFAULTS = {
    kind: LAYER_KINDS[kind](padding="same") if kind.startswith("conv") else LAYER_KINDS[kind]() for kind in LAYER_KINDS
}
# Layers that work on the image (or sequence) itself: a new one goes before the first layer that flattens it.
SPATIAL = {"conv1d", "conv2d", "max_pooling1d", "max_pooling2d"}
FLATTENING = {
    "flatten",
    "global_average_pooling1d",
    "global_average_pooling2d",
    "dense",
    "lstm",
    "gru",
    "bidirectional",
}
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
    if isinstance(spec, BidirectionalLayer):
        inner_col, units_col = st.columns(2)
        names = {"lstm": "LSTM", "gru": "GRU"}
        inner = inner_col.selectbox(
            t("model.editor.field.recurrent"), list(names), index=list(names).index(spec.layer.kind),
            format_func=names.get, key=f"{key}.inner",
        )  # fmt: skip
        kind = LSTMLayer if inner == "lstm" else GRULayer
        units = units_col.number_input(
            t("model.editor.units"), **number_kwargs(kind, "units", value=spec.layer.units, step=8), key=f"{key}.units"
        )
        return BidirectionalLayer(layer=kind(units=int(units)))
    return _edit_fields(spec, key)


def _edit_fields(spec, key: str):
    """A form drawn from the layer spec's own fields (numbers, choices, switches)."""
    kind = type(spec)
    names = [name for name in kind.model_fields if name != "kind"]
    if not names:
        st.caption(t("model.editor.no_settings", layer=layer_label(spec)))
        return spec
    values = {}
    for column, name in zip(st.columns(len(names)), names, strict=True):
        current = getattr(spec, name)
        label = t(f"model.editor.field.{name}")
        if isinstance(current, bool):
            values[name] = column.checkbox(label, current, key=f"{key}.{name}", help=help_text(kind, name))
        elif isinstance(current, int):
            values[name] = int(
                column.number_input(label, **number_kwargs(kind, name, value=current), key=f"{key}.{name}")
            )
        elif isinstance(current, float):
            values[name] = float(
                column.number_input(label, **number_kwargs(kind, name, value=current), key=f"{key}.{name}")
            )
        else:
            values[name] = column.selectbox(label, **select_kwargs(kind, name, value=current), key=f"{key}.{name}")
    return kind(**values)


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
    for index, kind in enumerate(KIND_LAYER_KINDS.get(state.kind, KIND_LAYER_KINDS["table"])):
        if columns[index % 2].button(
            t("model.editor.add", layer=KIND_LABELS[kind]),
            key=f"model.add.{kind}",
            icon=":material/add:",
            width="stretch",
        ):
            layer = Layer(uid=secrets.token_hex(4), spec=DEFAULTS[kind])
            kinds = [existing.spec.kind for existing in state.layers]
            at = (
                next((i for i, name in enumerate(kinds) if name in FLATTENING), len(kinds)) if kind in SPATIAL else None
            )
            if at is None:
                state.layers.append(layer)
            else:
                state.layers.insert(at, layer)
            st.rerun()
