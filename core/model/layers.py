"""Layer kinds, looked up by the spec's `kind`: what each one is called, how it changes the shape, how many
weights it has, and which Keras layer it becomes.

Adding a layer kind means a spec class in `core.spec` (its `kind` literal joins the `LayerSpec` union) and one
`LayerKind` entry in `LAYER_REGISTRY` here; `tests/unit/test_layers.py` checks every spec kind has an entry and
that the shapes and counts computed here equal what Keras builds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from core.errors import SpecError
from core.i18n import t

InputKind = Literal["tabular", "sequence", "image", "tokens"]
Shape = tuple[int, ...]

# What a layer needs, by the rank of its input without the batch axis (message ids).
_NEEDS = {1: "model.shape.needs.flat", 2: "model.shape.needs.sequence", 3: "model.shape.needs.image"}


def shape_text(shape: Shape) -> str:
    """A shape the way Keras prints it, batch first: (None, 28, 64)."""
    return "(" + ", ".join(["None", *(str(size) for size in shape)]) + ")"


@dataclass(frozen=True, slots=True)
class ShapeContext:
    """Where shape inference stands when it checks one layer (for the error message)."""

    position: int
    layer: object
    previous: object
    source: str  # "the input (...)" or "layer 2 (Dense, 64 units)"
    shape: Shape
    input_kind: str


@dataclass(frozen=True, slots=True)
class LayerKind:
    """Everything LayerLab knows about one kind of hidden layer."""

    keras_class: str  # what `model.summary()` shows
    setting: Callable[[object], str]  # its main setting, for labels: "64 units"; "" when it has none
    details: Callable[[object], str]  # the Model page's details column
    infer: Callable[[object, ShapeContext], tuple[Shape, int]]  # output shape (no batch axis), parameter count
    build: Callable[[object, str | None], object]  # the Keras layer (imports Keras: workers and helpers only)
    recurrent: bool = False  # LSTM/GRU (and Bidirectional around one): a sequence unless return_sequences
    label: Callable[[object], str] | None = None  # when "<keras_class>, <setting>" is not the right label
    size_field: str | None = None  # the setting that makes the layer wider ("units", "filters"), if any


def layer_kind(layer) -> LayerKind:
    return LAYER_REGISTRY[layer.kind]


def layer_label(layer) -> str:
    """The layer's type and its main setting, as messages and the diagram name it: "Dense, 64 units"."""
    kind = layer_kind(layer)
    if kind.label is not None:
        return kind.label(layer)
    setting = kind.setting(layer)
    return t("model.layer.label", layer=kind.keras_class, setting=setting) if setting else kind.keras_class


def shape_error(context: ShapeContext, needs: str, hint: str) -> SpecError:
    """`needs` and `hint`: sentences in the current language (from the catalog)."""
    return SpecError(
        t(
            "model.shape.error",
            position=context.position, layer=layer_label(context.layer), needs=needs, source=context.source,
            shape=shape_text(context.shape), hint=hint,
        ),
        field=f"model.layers.{context.position - 1}",
    )  # fmt: skip


def recurrent_core(layer):
    """The LSTM/GRU a layer is or wraps, else None."""
    inner = getattr(layer, "layer", layer)
    return inner if inner is not None and layer_kind(inner).recurrent and hasattr(inner, "units") else None


def need_rank(context: ShapeContext, rank: int) -> None:
    if len(context.shape) == rank:
        return
    name = layer_kind(context.layer).keras_class
    recurrent = recurrent_core(context.previous) if context.previous is not None else None
    if rank == 2 and recurrent is not None and not recurrent.return_sequences:
        hint = t("model.shape.hint.return_sequences_on", position=context.position - 1, name=name)
    elif context.input_kind == "tabular":
        hint = t("model.shape.hint.image_on_table" if rank == 3 else "model.shape.hint.sequence_on_table", name=name)
    else:
        hint = t("model.shape.hint.move", name=name)
    raise shape_error(context, t(_NEEDS[rank]), hint)


def final_shape_error(shape: Shape, source: str, last, count: int) -> SpecError:
    """The output layer cannot follow a stack that does not end flat."""
    if last is not None and recurrent_core(last) is not None:
        hint = t("model.shape.hint.flatten_or_return_sequences", position=count)
    else:
        hint = t("model.shape.hint.flatten")
    return SpecError(
        t("model.shape.output_error", needs=t(_NEEDS[1]), source=source, shape=shape_text(shape), hint=hint),
        field=f"model.layers.{count - 1}",
    )


def _window_output(size: int, window: int, strides: int, padding: str) -> int:
    if padding == "same":
        return (size + strides - 1) // strides
    return (size - window) // strides + 1 if size >= window else 0


def _recurrent_params(layer, features: int) -> int:
    if layer.kind == "lstm":
        return 4 * (layer.units * (features + layer.units) + layer.units)
    # Keras 3's GRU uses reset_after=True: two bias vectors per gate.
    return 3 * (layer.units * (features + layer.units) + 2 * layer.units)


# --- shape and weight count of each kind ---------------------------------------------------------------------


def _same_shape(layer, context: ShapeContext) -> tuple[Shape, int]:
    return context.shape, 0


def _dense_shape(layer, context: ShapeContext) -> tuple[Shape, int]:
    shape = context.shape
    return (*shape[:-1], layer.units), (shape[-1] + 1) * layer.units


def _normalization_shape(weights_per_feature: int):
    def infer(layer, context: ShapeContext) -> tuple[Shape, int]:
        return context.shape, weights_per_feature * context.shape[-1]

    return infer


def _conv_shape(rank: int):
    def infer(layer, context: ShapeContext) -> tuple[Shape, int]:
        need_rank(context, rank)
        shape = context.shape
        sizes = tuple(_window_output(s, layer.kernel_size, layer.strides, layer.padding) for s in shape[:-1])
        if min(sizes) < 1:
            raise shape_error(
                context,
                t("model.shape.needs.steps" if rank == 2 else "model.shape.needs.pixels", size=layer.kernel_size),
                t("model.shape.hint.kernel"),
            )
        return (*sizes, layer.filters), (layer.kernel_size ** (rank - 1) * shape[-1] + 1) * layer.filters

    return infer


def _pooling_shape(rank: int):
    def infer(layer, context: ShapeContext) -> tuple[Shape, int]:
        need_rank(context, rank)
        shape = context.shape
        sizes = tuple(_window_output(s, layer.pool_size, layer.pool_size, "valid") for s in shape[:-1])
        if min(sizes) < 1:
            raise shape_error(
                context,
                t("model.shape.needs.steps" if rank == 2 else "model.shape.needs.pixels", size=layer.pool_size),
                t("model.shape.hint.pool"),
            )
        return (*sizes, shape[-1]), 0

    return infer


def _global_pooling_shape(rank: int):
    def infer(layer, context: ShapeContext) -> tuple[Shape, int]:
        need_rank(context, rank)
        return (context.shape[-1],), 0

    return infer


def _flatten_shape(layer, context: ShapeContext) -> tuple[Shape, int]:
    return (math.prod(context.shape),), 0


def _embedding_shape(layer, context: ShapeContext) -> tuple[Shape, int]:
    if context.position != 1 or context.input_kind != "tokens" or len(context.shape) != 1:
        raise shape_error(
            context,
            t("model.shape.needs.tokens"),
            t(
                "model.shape.hint.embedding_on_table"
                if context.input_kind == "tabular"
                else "model.shape.hint.embedding"
            ),
        )
    return (*context.shape, layer.output_dim), layer.input_dim * layer.output_dim


def _recurrent_shape(layer, context: ShapeContext) -> tuple[Shape, int]:
    need_rank(context, 2)
    shape = context.shape
    output = (shape[0], layer.units) if layer.return_sequences else (layer.units,)
    return output, _recurrent_params(layer, shape[-1])


def _bidirectional_shape(layer, context: ShapeContext) -> tuple[Shape, int]:
    need_rank(context, 2)
    inner, shape = layer.layer, context.shape
    output = (shape[0], 2 * inner.units) if inner.return_sequences else (2 * inner.units,)
    return output, 2 * _recurrent_params(inner, shape[-1])


# --- the Keras layer of each kind (Keras is imported only when a model is built: never in the web server) ---------


def _keras_layers():
    from keras import layers  # Keras loads only in workers and helpers, never in the web server

    return layers


def _build_dense(layer, name):
    import keras  # Keras loads only in workers and helpers, never in the web server

    regularizer = keras.regularizers.L1L2(l1=layer.l1, l2=layer.l2) if (layer.l1 or layer.l2) else None
    return keras.layers.Dense(
        layer.units,
        activation=layer.activation,
        kernel_initializer=layer.kernel_initializer,
        kernel_regularizer=regularizer,
        name=name,
    )


def _build_conv(class_name: str):
    def build(layer, name):
        conv = getattr(_keras_layers(), class_name)
        return conv(
            layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
            activation=layer.activation, name=name,
        )  # fmt: skip

    return build


def _build_recurrent(class_name: str):
    def build(layer, name):
        return getattr(_keras_layers(), class_name)(layer.units, return_sequences=layer.return_sequences, name=name)

    return build


def _build_bidirectional(layer, name):
    return _keras_layers().Bidirectional(layer_kind(layer.layer).build(layer.layer, None), name=name)


# --- details for the Model page ----------------------------------------------------------------------------------


def _dense_details(layer) -> str:
    extras = [layer.activation]
    if layer.kernel_initializer != "glorot_uniform":
        extras.append(layer.kernel_initializer)
    extras += [f"{k}={v:g}" for k, v in (("l1", layer.l1), ("l2", layer.l2)) if v]
    return t("model.layer.details", setting=_units(layer), extras=t("model.layer.separator").join(extras))


def _conv_details(layer) -> str:
    return t(
        "model.layer.conv_details",
        count=layer.filters, kernel=layer.kernel_size, strides=layer.strides, padding=layer.padding,
        activation=layer.activation,
    )  # fmt: skip


def _recurrent_details(layer) -> str:
    return t("model.layer.every_step", setting=_units(layer)) if layer.return_sequences else _units(layer)


def _bidirectional_details(layer) -> str:
    return t(
        "model.layer.both_directions",
        layer=layer_kind(layer.layer).keras_class,
        details=_recurrent_details(layer.layer),
    )


def _units(layer) -> str:
    return t("model.layer.units", count=layer.units)


def _no_setting(layer) -> str:
    return ""


def _fixed(message_id: str):
    """A fixed sentence, read in the current language when shown."""
    return lambda layer: t(message_id)


def _filters(layer) -> str:
    return t("model.layer.filters", count=layer.filters, size=layer.kernel_size)


def _settings_as_details(layer) -> str:
    return layer_kind(layer).setting(layer)


LAYER_REGISTRY: dict[str, LayerKind] = {
    "dense": LayerKind(
        "Dense", _units, _dense_details, _dense_shape, _build_dense, size_field="units"
    ),
    "dropout": LayerKind(
        "Dropout", lambda layer: t("model.layer.rate", rate=layer.rate), _settings_as_details, _same_shape,
        lambda layer, name: _keras_layers().Dropout(layer.rate, name=name),
    ),
    "batch_normalization": LayerKind(
        "BatchNormalization", _no_setting, _fixed("model.layer.normalises_activations"), _normalization_shape(4),
        lambda layer, name: _keras_layers().BatchNormalization(name=name),
    ),
    "layer_normalization": LayerKind(
        "LayerNormalization", _no_setting, _fixed("model.layer.normalises_rows"), _normalization_shape(2),
        lambda layer, name: _keras_layers().LayerNormalization(name=name),
    ),
    "gaussian_noise": LayerKind(
        "GaussianNoise", lambda layer: t("model.layer.stddev", stddev=layer.stddev), _settings_as_details, _same_shape,
        lambda layer, name: _keras_layers().GaussianNoise(layer.stddev, name=name),
    ),
    "activation": LayerKind(
        "Activation", lambda layer: layer.activation, _settings_as_details, _same_shape,
        lambda layer, name: _keras_layers().Activation(layer.activation, name=name),
    ),
    "conv1d": LayerKind(
        "Conv1D", _filters, _conv_details, _conv_shape(2),
        _build_conv("Conv1D"), size_field="filters",
    ),
    "conv2d": LayerKind(
        "Conv2D", _filters, _conv_details, _conv_shape(3),
        _build_conv("Conv2D"), size_field="filters",
    ),
    "max_pooling1d": LayerKind(
        "MaxPooling1D", lambda layer: t("model.layer.pool", size=layer.pool_size), _settings_as_details, _pooling_shape(2),
        lambda layer, name: _keras_layers().MaxPooling1D(layer.pool_size, name=name),
    ),
    "max_pooling2d": LayerKind(
        "MaxPooling2D", lambda layer: t("model.layer.pool", size=layer.pool_size), _settings_as_details, _pooling_shape(3),
        lambda layer, name: _keras_layers().MaxPooling2D(layer.pool_size, name=name),
    ),
    "global_average_pooling1d": LayerKind(
        "GlobalAveragePooling1D", _no_setting, _no_setting, _global_pooling_shape(2),
        lambda layer, name: _keras_layers().GlobalAveragePooling1D(name=name),
    ),
    "global_average_pooling2d": LayerKind(
        "GlobalAveragePooling2D", _no_setting, _no_setting, _global_pooling_shape(3),
        lambda layer, name: _keras_layers().GlobalAveragePooling2D(name=name),
    ),
    "flatten": LayerKind(
        "Flatten", _no_setting, _no_setting, _flatten_shape, lambda layer, name: _keras_layers().Flatten(name=name)
    ),
    "embedding": LayerKind(
        "Embedding", lambda layer: t("model.layer.tokens", count=layer.input_dim, dim=layer.output_dim), _settings_as_details,
        _embedding_shape, lambda layer, name: _keras_layers().Embedding(layer.input_dim, layer.output_dim, name=name),
    ),
    "lstm": LayerKind(
        "LSTM", _units, _recurrent_details, _recurrent_shape, _build_recurrent("LSTM"),
        recurrent=True, size_field="units",
    ),
    "gru": LayerKind(
        "GRU", _units, _recurrent_details, _recurrent_shape, _build_recurrent("GRU"),
        recurrent=True, size_field="units",
    ),
    "bidirectional": LayerKind(
        "Bidirectional",
        lambda layer: t("model.layer.wrapped", layer=layer_kind(layer.layer).keras_class, setting=_units(layer.layer)),
        _bidirectional_details,
        _bidirectional_shape,
        _build_bidirectional,
        recurrent=True,
        label=lambda layer: t(
            "model.layer.bidirectional", layer=layer_kind(layer.layer).keras_class, setting=_units(layer.layer)
        ),
    ),
}  # fmt: skip

# Keras class name of each layer kind (what `model.summary()` shows).
LAYER_TYPES: dict[str, str] = {kind: entry.keras_class for kind, entry in LAYER_REGISTRY.items()}
