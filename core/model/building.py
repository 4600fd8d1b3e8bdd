"""Build the Keras network from a `ModelSpec`; the output layer and loss follow from the task."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.i18n import t
from core.model.layers import (
    LAYER_TYPES,
    InputKind,
    ShapeContext,
    final_shape_error,
    layer_kind,
    layer_label,
    shape_text,
)
from core.model.optimization import make_optimizer as _make_optimizer
from core.spec import ModelSpec, Task, TrainingSpec


@dataclass(frozen=True, slots=True)
class Head:
    """Output layer and loss for a task. Probabilities come out of the model, so no loss uses logits:
    the softmax-with-`from_logits=True` mistake of the textbook example cannot be made."""

    units: int
    activation: str
    loss: str
    metric: str  # the main metric shown live
    metric_label: str  # what charts call the metric, in the current language when `derive_head` ran


def derive_head(task: Task, num_classes: int = 0) -> Head:
    if task == "binary":
        return Head(1, "sigmoid", "binary_crossentropy", "accuracy", t("model.head.accuracy"))
    if task == "multiclass":
        return Head(num_classes, "softmax", "sparse_categorical_crossentropy", "accuracy", t("model.head.accuracy"))
    return Head(1, "linear", "mean_squared_error", "mae", t("model.head.mae"))


@dataclass(frozen=True, slots=True)
class LayerRow:
    name: str
    layer_type: str
    output_shape: str
    num_params: int
    details: str


def check_stack(spec: ModelSpec, num_features: int) -> None:
    """Refuse, before a run is queued, a layer stack that cannot take a table's rows (`SpecError` naming
    both layers), so the Train page and `layerlab train` say so instead of failing the run later."""
    infer_shapes(spec, (max(1, int(num_features)),))


def infer_shapes(
    spec: ModelSpec, input_shape: tuple[int, ...], *, input_kind: InputKind = "tabular"
) -> list[tuple[tuple[int, ...], int]]:
    """(output shape without the batch axis, parameter count) of every hidden layer, without Keras.

    Raises `SpecError` when a layer cannot follow the one before it (or the output layer cannot follow
    the last one), naming both layers, what the layer needs and how to fix the stack. Each layer kind's
    rule is looked up in `core.model.layers.LAYER_REGISTRY`.
    """
    shape = tuple(input_shape)
    if input_kind == "tabular":
        source = t("model.shape.source.table", count=shape[-1])
    else:
        source = t("model.shape.source.input", kind=input_kind)
    previous = None
    results: list[tuple[tuple[int, ...], int]] = []
    for position, layer in enumerate(spec.layers, start=1):
        context = ShapeContext(position, layer, previous, source, shape, input_kind)
        shape, num_params = layer_kind(layer).infer(layer, context)
        results.append((shape, num_params))
        source = t("model.shape.source.layer", position=position, layer=layer_label(layer))
        previous = layer
    if len(shape) != 1:
        raise final_shape_error(shape, source, previous, len(spec.layers))
    return results


def describe_model(
    spec: ModelSpec,
    num_inputs: int,
    task: Task,
    num_classes: int = 0,
    embeddings: tuple = (),
    *,
    input_shape: tuple[int, ...] | None = None,
    input_kind: InputKind = "tabular",
    stem: tuple = (),
    periodic: tuple = (),
) -> list[LayerRow]:
    """The network as Keras' `model.summary()` would list it, computed without importing Keras.

    Lets the Model page update instantly; `tests/unit/test_modeling.py` and `tests/unit/test_layers.py`
    check it against Keras. `input_shape` (without the batch axis) replaces `(num_inputs,)` for image and
    text inputs. Raises `SpecError` when a layer cannot follow the previous one.
    """
    shape = tuple(input_shape) if input_shape is not None else (num_inputs,)
    described = (
        t("model.diagram.encoded_features", count=num_inputs)
        if input_shape is None
        else t("model.diagram.kind_input", kind=input_kind)
    )
    rows = [LayerRow("inputs", "InputLayer", shape_text(shape), 0, described)]
    for position, (class_name, arguments) in enumerate(stem, start=1):
        details = ", ".join(
            f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in arguments.items()
            if key not in ("value_range", "fill_mode")
        )
        if class_name == "Rescaling":
            details = t("model.diagram.rescaling")
        rows.append(LayerRow(f"stem_{position}_{class_name.lower()}", class_name, shape_text(shape), 0, details))
    width = num_inputs
    for position, slot in enumerate(embeddings, start=1):
        rows.append(
            LayerRow(
                f"embedding_{position}", "Embedding", f"(None, {slot.output_dim})", slot.input_dim * slot.output_dim,
                t("model.diagram.embedding", name=slot.name, count=slot.input_dim, dim=slot.output_dim),
            )
        )  # fmt: skip
        width += slot.output_dim - 1
    for position, slot in enumerate(periodic, start=1):
        rows.append(
            LayerRow(
                f"periodic_{position}_frequencies", "Dense", f"(None, {slot.frequencies})", slot.frequencies,
                t("model.diagram.periodic", name=slot.name, count=slot.frequencies),
            )
        )  # fmt: skip
        rows.append(
            LayerRow(
                f"periodic_{position}", "Dense", f"(None, {slot.dim})", (2 * slot.frequencies + 1) * slot.dim, "relu"
            )
        )
        width += slot.dim
    if input_shape is None:
        shape = (width,)
    shapes = infer_shapes(spec, shape, input_kind=input_kind)
    for position, (layer, (output, num_params)) in enumerate(zip(spec.layers, shapes, strict=True), start=1):
        rows.append(
            LayerRow(
                _layer_name(position, layer), LAYER_TYPES[layer.kind], shape_text(output), num_params,
                layer_kind(layer).details(layer),
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
    stem: tuple = (),
    periodic: tuple = (),
):
    """A functional Keras model from encoded features (float32, shape (None, num_inputs)) to the task's output.

    `embeddings` (from `PreprocessingState.embeddings()`) name the matrix columns that hold category indices:
    each is taken out, looked up in its own learned `Embedding` table and joined to the other inputs.
    `periodic` (from `PreprocessingState.periodic()`) names the scaled number columns that also reach the
    network as periodic features: the sine and cosine of learned multiples of the value (Dense without bias,
    starting frequencies drawn from N(0, 2π·scale)), read by a Dense relu layer per column (Gorishniy et al.
    2022, "PLR"), joined to the other inputs. Built-in layers and `keras.ops` only, so every export keeps working.
    `input_shape`/`input_kind` are for image and text inputs (token inputs are int32); `stem` lists built-in
    layers put before the hidden ones (image rescaling and augmentation, as (class name, arguments)). The stack is checked
    with `infer_shapes` first, so a layer that cannot follow the previous one raises `SpecError`, not a
    Keras traceback.
    """
    width = num_inputs + sum(slot.output_dim - 1 for slot in embeddings) + sum(slot.dim for slot in periodic)
    infer_shapes(spec, tuple(input_shape) if input_shape is not None else (width,), input_kind=input_kind)

    import keras  # Keras loads only in workers and helpers, never in the web server

    shape = tuple(input_shape) if input_shape is not None else (num_inputs,)
    dtype = "int32" if input_kind == "tokens" else "float32"
    inputs = keras.Input(shape=shape, dtype=dtype, name="inputs")
    x = _embed(inputs, num_inputs, embeddings) if embeddings else inputs
    if periodic:
        x = _periodic(inputs, x, periodic)
    for position, (class_name, arguments) in enumerate(stem, start=1):
        # Built-in layers only (Rescaling, RandomFlip...): the saved model still loads in safe mode.
        x = getattr(keras.layers, class_name)(**arguments, name=f"stem_{position}_{class_name.lower()}")(x)
    for position, layer in enumerate(spec.layers, start=1):
        x = layer_kind(layer).build(layer, _layer_name(position, layer))(x)
    head = derive_head(task, num_classes)
    outputs = keras.layers.Dense(head.units, activation=head.activation, name="output")(x)
    return keras.Model(inputs, outputs, name="layerlab_network")


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


def is_periodic_frequencies(name: str) -> bool:
    """Whether a layer is a periodic feature's frequencies (`periodic_N_frequencies`, built by `_periodic`): the
    layers that must compute in float32 (mixed precision, TFLite float16)."""
    return name.startswith("periodic_") and name.endswith("_frequencies")


def _periodic(inputs, x, periodic: tuple):
    import keras  # Keras loads only in workers and helpers, never in the web server
    from keras import ops  # Keras loads only in workers and helpers, never in the web server

    parts = [x]
    for position, slot in enumerate(periodic, start=1):
        value = ops.take(inputs, [slot.position], axis=1)
        phases = keras.layers.Dense(
            slot.frequencies,
            use_bias=False,
            kernel_initializer=keras.initializers.RandomNormal(stddev=2 * math.pi * slot.scale),
            name=f"periodic_{position}_frequencies",
        )(value)
        features = keras.layers.Concatenate(name=f"periodic_{position}_sin_cos")([ops.sin(phases), ops.cos(phases)])
        parts.append(keras.layers.Dense(slot.dim, activation="relu", name=f"periodic_{position}")(features))
    return keras.layers.Concatenate(name="periodic_inputs")(parts)


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
