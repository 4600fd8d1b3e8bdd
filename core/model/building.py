"""Build the Keras network from a `ModelSpec`; the output layer and loss follow from the task."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from core.errors import SpecError
from core.model.optimization import make_optimizer as _make_optimizer
from core.spec import (
    ActivationLayer,
    BatchNormalizationLayer,
    BidirectionalLayer,
    Conv1DLayer,
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    EmbeddingLayer,
    FlattenLayer,
    GaussianNoiseLayer,
    GlobalAveragePooling1DLayer,
    GlobalAveragePooling2DLayer,
    GRULayer,
    LayerNormalizationLayer,
    LSTMLayer,
    MaxPooling1DLayer,
    MaxPooling2DLayer,
    ModelSpec,
    Task,
    TrainingSpec,
)


@dataclass(frozen=True, slots=True)
class Head:
    """Output layer and loss for a task. Probabilities come out of the model, so no loss uses logits:
    the softmax-with-`from_logits=True` mistake of the textbook example cannot be made."""

    units: int
    activation: str
    loss: str
    metric: str  # the main metric shown live
    metric_label: str


def derive_head(task: Task, num_classes: int = 0) -> Head:
    if task == "binary":
        return Head(1, "sigmoid", "binary_crossentropy", "accuracy", "accuracy")
    if task == "multiclass":
        return Head(num_classes, "softmax", "sparse_categorical_crossentropy", "accuracy", "accuracy")
    return Head(1, "linear", "mean_squared_error", "mae", "mean absolute error")


@dataclass(frozen=True, slots=True)
class LayerRow:
    name: str
    layer_type: str
    output_shape: str
    num_params: int
    details: str


# Keras class name of each layer kind (what `model.summary()` shows).
LAYER_TYPES: dict[str, str] = {
    "dense": "Dense",
    "dropout": "Dropout",
    "batch_normalization": "BatchNormalization",
    "layer_normalization": "LayerNormalization",
    "gaussian_noise": "GaussianNoise",
    "activation": "Activation",
    "conv1d": "Conv1D",
    "conv2d": "Conv2D",
    "max_pooling1d": "MaxPooling1D",
    "max_pooling2d": "MaxPooling2D",
    "global_average_pooling1d": "GlobalAveragePooling1D",
    "global_average_pooling2d": "GlobalAveragePooling2D",
    "flatten": "Flatten",
    "embedding": "Embedding",
    "lstm": "LSTM",
    "gru": "GRU",
    "bidirectional": "Bidirectional",
}
InputKind = Literal["tabular", "sequence", "image", "tokens"]
_NEEDS = {
    1: "a flat input (batch, features)",
    2: "a sequence input (batch, steps, features)",
    3: "an image input (batch, height, width, channels)",
}


def shape_text(shape: tuple[int, ...]) -> str:
    """A shape the way Keras prints it, batch first: (None, 28, 64)."""
    return "(" + ", ".join(["None", *(str(size) for size in shape)]) + ")"


def layer_label(layer) -> str:
    """The layer's type and its main setting, as messages and the diagram name it: "Dense, 64 units"."""
    kind_name = LAYER_TYPES[layer.kind]
    if isinstance(layer, DenseLayer | LSTMLayer | GRULayer):
        return f"{kind_name}, {layer.units} units"
    if isinstance(layer, Conv1DLayer | Conv2DLayer):
        return f"{kind_name}, {layer.filters} filters of {layer.kernel_size}"
    if isinstance(layer, DropoutLayer):
        return f"{kind_name}, rate {layer.rate:g}"
    if isinstance(layer, MaxPooling1DLayer | MaxPooling2DLayer):
        return f"{kind_name}, pool {layer.pool_size}"
    if isinstance(layer, ActivationLayer):
        return f"{kind_name}, {layer.activation}"
    if isinstance(layer, GaussianNoiseLayer):
        return f"{kind_name}, stddev {layer.stddev:g}"
    if isinstance(layer, EmbeddingLayer):
        return f"{kind_name}, {layer.input_dim} tokens → {layer.output_dim}"
    if isinstance(layer, BidirectionalLayer):
        return f"{kind_name} {LAYER_TYPES[layer.layer.kind]}, {layer.layer.units} units"
    return kind_name


def _recurrent_params(layer: LSTMLayer | GRULayer, features: int) -> int:
    if isinstance(layer, LSTMLayer):
        return 4 * (layer.units * (features + layer.units) + layer.units)
    # Keras 3's GRU uses reset_after=True: two bias vectors per gate.
    return 3 * (layer.units * (features + layer.units) + 2 * layer.units)


def _window_output(size: int, window: int, strides: int, padding: str) -> int:
    if padding == "same":
        return (size + strides - 1) // strides
    return (size - window) // strides + 1 if size >= window else 0


@dataclass(frozen=True, slots=True)
class _Context:
    """Where shape inference stands when it checks one layer (for the error message)."""

    position: int
    layer: object
    previous: object
    source: str  # "the input (...)" or "layer 2 (Dense, 64 units)"
    shape: tuple[int, ...]
    input_kind: str


def _shape_error(context: _Context, needs: str, hint: str) -> SpecError:
    label = f"Layer {context.position} ({layer_label(context.layer)})"
    return SpecError(
        f"{label} needs {needs} but {context.source} outputs {shape_text(context.shape)}. {hint}",
        field=f"model.layers.{context.position - 1}",
    )


def _need_rank(context: _Context, rank: int) -> None:
    if len(context.shape) == rank:
        return
    name = LAYER_TYPES[context.layer.kind]
    previous = context.previous
    recurrent = previous.layer if isinstance(previous, BidirectionalLayer) else previous
    if rank == 2 and isinstance(recurrent, LSTMLayer | GRULayer) and not recurrent.return_sequences:
        hint = (
            f"Turn on return_sequences in layer {context.position - 1} so it outputs every step, or remove the {name}."
        )
    elif context.input_kind == "tabular":
        kind = "image" if rank == 3 else "text and time-series"
        hint = f"Remove the {name}: it is for {kind} inputs; on a table use Dense layers."
    else:
        hint = f"Remove the {name} or move it before the layer that changed the shape."
    raise _shape_error(context, _NEEDS[rank], hint)


def check_stack(spec: ModelSpec, num_features: int) -> None:
    """Refuse, before a run is queued, a layer stack that cannot take a table's rows (`SpecError` naming
    both layers), so the Train page and `layerlab train` say so instead of failing the run later."""
    infer_shapes(spec, (max(1, int(num_features)),))


def infer_shapes(
    spec: ModelSpec, input_shape: tuple[int, ...], *, input_kind: InputKind = "tabular"
) -> list[tuple[tuple[int, ...], int]]:
    """(output shape without the batch axis, parameter count) of every hidden layer, without Keras.

    Raises `SpecError` when a layer cannot follow the one before it (or the output layer cannot follow
    the last one), naming both layers, what the layer needs and how to fix the stack.
    """
    shape = tuple(input_shape)
    if input_kind == "tabular":
        source = f"the input ({shape[-1]} encoded table columns)"
    else:
        source = f"the input ({input_kind})"
    previous = None
    results: list[tuple[tuple[int, ...], int]] = []
    for position, layer in enumerate(spec.layers, start=1):
        context = _Context(position, layer, previous, source, shape, input_kind)
        num_params = 0
        if isinstance(layer, DenseLayer):
            num_params = (shape[-1] + 1) * layer.units
            shape = (*shape[:-1], layer.units)
        elif isinstance(layer, BatchNormalizationLayer):
            num_params = 4 * shape[-1]
        elif isinstance(layer, LayerNormalizationLayer):
            num_params = 2 * shape[-1]
        elif isinstance(layer, DropoutLayer | GaussianNoiseLayer | ActivationLayer):
            pass
        elif isinstance(layer, Conv1DLayer | Conv2DLayer):
            rank = 2 if isinstance(layer, Conv1DLayer) else 3
            _need_rank(context, rank)
            sizes = tuple(_window_output(s, layer.kernel_size, layer.strides, layer.padding) for s in shape[:-1])
            if min(sizes) < 1:
                raise _shape_error(
                    context,
                    f"at least {layer.kernel_size} {'steps' if rank == 2 else 'pixels a side'}",
                    "Use a smaller kernel_size, padding 'same', or fewer pooling layers before it.",
                )
            num_params = (layer.kernel_size ** (rank - 1) * shape[-1] + 1) * layer.filters
            shape = (*sizes, layer.filters)
        elif isinstance(layer, MaxPooling1DLayer | MaxPooling2DLayer):
            rank = 2 if isinstance(layer, MaxPooling1DLayer) else 3
            _need_rank(context, rank)
            sizes = tuple(_window_output(s, layer.pool_size, layer.pool_size, "valid") for s in shape[:-1])
            if min(sizes) < 1:
                raise _shape_error(
                    context,
                    f"at least {layer.pool_size} {'steps' if rank == 2 else 'pixels a side'}",
                    "Use a smaller pool_size or remove a pooling layer.",
                )
            shape = (*sizes, shape[-1])
        elif isinstance(layer, GlobalAveragePooling1DLayer | GlobalAveragePooling2DLayer):
            _need_rank(context, 2 if isinstance(layer, GlobalAveragePooling1DLayer) else 3)
            shape = (shape[-1],)
        elif isinstance(layer, FlattenLayer):
            shape = (math.prod(shape),)
        elif isinstance(layer, EmbeddingLayer):
            if position != 1 or input_kind != "tokens" or len(shape) != 1:
                raise _shape_error(
                    context,
                    "integer token ids (batch, steps) straight from a text input",
                    "An Embedding layer must be the first layer of a text model. Remove it"
                    + (
                        "; to learn vectors for a category column of a table, choose 'embedding' for that column "
                        "on the Prepare page."
                        if input_kind == "tabular"
                        else "."
                    ),
                )
            num_params = layer.input_dim * layer.output_dim
            shape = (*shape, layer.output_dim)
        elif isinstance(layer, LSTMLayer | GRULayer):
            _need_rank(context, 2)
            num_params = _recurrent_params(layer, shape[-1])
            shape = (shape[0], layer.units) if layer.return_sequences else (layer.units,)
        elif isinstance(layer, BidirectionalLayer):
            _need_rank(context, 2)
            inner = layer.layer
            num_params = 2 * _recurrent_params(inner, shape[-1])
            shape = (shape[0], 2 * inner.units) if inner.return_sequences else (2 * inner.units,)
        else:  # pragma: no cover - the spec's discriminated union makes this unreachable
            raise TypeError(f"Unknown layer spec {layer!r}")
        results.append((shape, num_params))
        source = f"layer {position} ({layer_label(layer)})"
        previous = layer
    if len(shape) != 1:
        hint = "Add a Flatten or a GlobalAveragePooling layer at the end"
        recurrent = previous.layer if isinstance(previous, BidirectionalLayer) else previous
        if isinstance(recurrent, LSTMLayer | GRULayer):
            hint += f", or turn off return_sequences in layer {len(spec.layers)}"
        raise SpecError(
            f"The output layer needs {_NEEDS[1]} but {source} outputs {shape_text(shape)}. {hint}.",
            field=f"model.layers.{len(spec.layers) - 1}",
        )
    return results


def _layer_details(layer) -> str:
    if isinstance(layer, DenseLayer):
        extras = [layer.activation]
        if layer.kernel_initializer != "glorot_uniform":
            extras.append(layer.kernel_initializer)
        extras += [f"{k}={v:g}" for k, v in (("l1", layer.l1), ("l2", layer.l2)) if v]
        return f"{layer.units} units, " + ", ".join(extras)
    if isinstance(layer, DropoutLayer):
        return f"rate {layer.rate:g}"
    if isinstance(layer, BatchNormalizationLayer):
        return "normalises activations"
    if isinstance(layer, LayerNormalizationLayer):
        return "normalises each row"
    if isinstance(layer, Conv1DLayer | Conv2DLayer):
        return (
            f"{layer.filters} filters, kernel {layer.kernel_size}, strides {layer.strides}, {layer.padding}, "
            f"{layer.activation}"
        )
    if isinstance(layer, LSTMLayer | GRULayer):
        return f"{layer.units} units" + (", every step" if layer.return_sequences else "")
    if isinstance(layer, BidirectionalLayer):
        return f"{LAYER_TYPES[layer.layer.kind]} {_layer_details(layer.layer)}, both directions"
    return layer_label(layer).partition(", ")[2]


def describe_model(
    spec: ModelSpec,
    num_inputs: int,
    task: Task,
    num_classes: int = 0,
    embeddings: tuple = (),
    *,
    input_shape: tuple[int, ...] | None = None,
    input_kind: InputKind = "tabular",
) -> list[LayerRow]:
    """The network as Keras' `model.summary()` would list it, computed without importing Keras.

    Lets the Model page update instantly; `tests/unit/test_modeling.py` and `tests/unit/test_layers.py`
    check it against Keras. `input_shape` (without the batch axis) replaces `(num_inputs,)` for image and
    text inputs. Raises `SpecError` when a layer cannot follow the previous one.
    """
    shape = tuple(input_shape) if input_shape is not None else (num_inputs,)
    described = f"{num_inputs} encoded features" if input_shape is None else f"{input_kind} input"
    rows = [LayerRow("inputs", "InputLayer", shape_text(shape), 0, described)]
    width = num_inputs
    for position, slot in enumerate(embeddings, start=1):
        rows.append(
            LayerRow(
                f"embedding_{position}", "Embedding", f"(None, {slot.output_dim})", slot.input_dim * slot.output_dim,
                f"{slot.name}: {slot.input_dim} categories → {slot.output_dim} numbers",
            )
        )  # fmt: skip
        width += slot.output_dim - 1
    if input_shape is None:
        shape = (width,)
    shapes = infer_shapes(spec, shape, input_kind=input_kind)
    for position, (layer, (output, num_params)) in enumerate(zip(spec.layers, shapes, strict=True), start=1):
        rows.append(
            LayerRow(
                _layer_name(position, layer), LAYER_TYPES[layer.kind], shape_text(output), num_params,
                _layer_details(layer),
            )
        )  # fmt: skip
        shape = output
    head = derive_head(task, num_classes)
    rows.append(
        LayerRow(
            "output", "Dense", f"(None, {head.units})", (shape[-1] + 1) * head.units, f"{head.activation} ({task})"
        )
    )
    return rows


def count_params(rows: list[LayerRow]) -> int:
    return sum(row.num_params for row in rows)


def _layer_name(position: int, layer) -> str:
    return f"hidden_{position}_{layer.kind}"


def build_model(
    spec: ModelSpec,
    num_inputs: int,
    task: Task,
    num_classes: int = 0,
    embeddings: tuple = (),
    *,
    input_shape: tuple[int, ...] | None = None,
    input_kind: InputKind = "tabular",
):
    """A functional Keras model from encoded features (float32, shape (None, num_inputs)) to the task's output.

    `embeddings` (from `PreprocessingState.embeddings()`) name the matrix columns that hold category indices:
    each is taken out, looked up in its own learned `Embedding` table and joined to the other inputs.
    `input_shape`/`input_kind` are for image and text inputs (token inputs are int32). The stack is checked
    with `infer_shapes` first, so a layer that cannot follow the previous one raises `SpecError`, not a
    Keras traceback.
    """
    width = num_inputs + sum(slot.output_dim - 1 for slot in embeddings)
    infer_shapes(spec, tuple(input_shape) if input_shape is not None else (width,), input_kind=input_kind)

    import keras  # Keras loads only in workers and helpers, never in the web server

    shape = tuple(input_shape) if input_shape is not None else (num_inputs,)
    dtype = "int32" if input_kind == "tokens" else "float32"
    inputs = keras.Input(shape=shape, dtype=dtype, name="inputs")
    x = _embed(inputs, num_inputs, embeddings) if embeddings else inputs
    for position, layer in enumerate(spec.layers, start=1):
        x = _keras_layer(layer, _layer_name(position, layer))(x)
    head = derive_head(task, num_classes)
    outputs = keras.layers.Dense(head.units, activation=head.activation, name="output")(x)
    return keras.Model(inputs, outputs, name="layerlab_network")


def _keras_layer(layer, name: str | None):
    import keras  # Keras loads only in workers and helpers, never in the web server
    from keras import layers  # Keras loads only in workers and helpers, never in the web server

    if isinstance(layer, DenseLayer):
        regularizer = keras.regularizers.L1L2(l1=layer.l1, l2=layer.l2) if (layer.l1 or layer.l2) else None
        return layers.Dense(
            layer.units,
            activation=layer.activation,
            kernel_initializer=layer.kernel_initializer,
            kernel_regularizer=regularizer,
            name=name,
        )
    if isinstance(layer, DropoutLayer):
        return layers.Dropout(layer.rate, name=name)
    if isinstance(layer, BatchNormalizationLayer):
        return layers.BatchNormalization(name=name)
    if isinstance(layer, LayerNormalizationLayer):
        return layers.LayerNormalization(name=name)
    if isinstance(layer, GaussianNoiseLayer):
        return layers.GaussianNoise(layer.stddev, name=name)
    if isinstance(layer, ActivationLayer):
        return layers.Activation(layer.activation, name=name)
    if isinstance(layer, Conv1DLayer | Conv2DLayer):
        conv = layers.Conv1D if isinstance(layer, Conv1DLayer) else layers.Conv2D
        return conv(
            layer.filters,
            layer.kernel_size,
            strides=layer.strides,
            padding=layer.padding,
            activation=layer.activation,
            name=name,
        )
    if isinstance(layer, MaxPooling1DLayer):
        return layers.MaxPooling1D(layer.pool_size, name=name)
    if isinstance(layer, MaxPooling2DLayer):
        return layers.MaxPooling2D(layer.pool_size, name=name)
    if isinstance(layer, GlobalAveragePooling1DLayer):
        return layers.GlobalAveragePooling1D(name=name)
    if isinstance(layer, GlobalAveragePooling2DLayer):
        return layers.GlobalAveragePooling2D(name=name)
    if isinstance(layer, FlattenLayer):
        return layers.Flatten(name=name)
    if isinstance(layer, EmbeddingLayer):
        return layers.Embedding(layer.input_dim, layer.output_dim, name=name)
    if isinstance(layer, LSTMLayer):
        return layers.LSTM(layer.units, return_sequences=layer.return_sequences, name=name)
    if isinstance(layer, GRULayer):
        return layers.GRU(layer.units, return_sequences=layer.return_sequences, name=name)
    if isinstance(layer, BidirectionalLayer):
        return layers.Bidirectional(_keras_layer(layer.layer, None), name=name)
    raise TypeError(f"Unknown layer spec {layer!r}")  # pragma: no cover - the discriminated union prevents it


def _embed(inputs, num_inputs: int, embeddings: tuple):
    import keras  # Keras loads only in workers and helpers, never in the web server
    from keras import ops  # Keras loads only in workers and helpers, never in the web server

    embedded = {slot.position for slot in embeddings}
    plain = [i for i in range(num_inputs) if i not in embedded]
    parts = [ops.take(inputs, plain, axis=1)] if plain else []
    for position, slot in enumerate(embeddings, start=1):
        index = ops.cast(ops.take(inputs, [slot.position], axis=1), "int32")
        vectors = keras.layers.Embedding(slot.input_dim, slot.output_dim, name=f"embedding_{position}")(index)
        parts.append(keras.layers.Reshape((slot.output_dim,), name=f"embedding_{position}_flat")(vectors))
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="embedded_inputs")(parts)


def make_optimizer(spec: TrainingSpec, *, steps_per_epoch: int = 1, epochs: int | None = None):
    """The Keras optimizer with its learning-rate schedule and gradient clipping (see `core.model.optimization`)."""

    return _make_optimizer(spec, steps_per_epoch=steps_per_epoch, epochs=epochs)


def choose_steps_per_execution(
    num_params: int, batch_size: int, steps_per_epoch: int, backend: str, *, device: str = "CPU"
) -> int:
    """Steps fused into one call, so tiny batches are not throttled by per-step overhead.

    Aims at ~0.1 s per call (so progress and Stop still react several times a second). On a CPU: roughly
    10 GFLOP/s and 6 FLOPs per parameter per row for a forward and backward pass, up to 32 steps. On a GPU
    (`device` starting with "GPU", as `core.runtime.devices.describe_device` says) the arithmetic is cheap and the
    host's per-step dispatch (~0.1 ms) dominates small models, so up to 128 steps are fused.
    """
    if backend == "torch":
        return 1  # the torch backend refuses steps_per_execution > 1
    if device.startswith("GPU"):
        seconds_per_step = 1e-4 + 6.0 * max(num_params, 1) * batch_size / 50e12
        cap = 128
    else:
        seconds_per_step = 6.0 * max(num_params, 1) * batch_size / 10e9
        cap = 32
    steps = int(0.1 / max(seconds_per_step, 1e-6))
    return max(1, min(cap, steps, steps_per_epoch))
