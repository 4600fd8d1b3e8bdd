"""Build the Keras network from a `ModelSpec`; the output layer and loss follow from the task."""

from __future__ import annotations

from dataclasses import dataclass

from core.spec import BatchNormalizationLayer, DenseLayer, DropoutLayer, ModelSpec, Task, TrainingSpec


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


def describe_model(
    spec: ModelSpec, num_inputs: int, task: Task, num_classes: int = 0, embeddings: tuple = ()
) -> list[LayerRow]:
    """The network as Keras' `model.summary()` would list it, computed without importing Keras.

    Lets the Model page update instantly; `tests/unit/test_modeling.py` checks it against Keras.
    """
    rows = [LayerRow("inputs", "InputLayer", f"(None, {num_inputs})", 0, f"{num_inputs} encoded features")]
    width = num_inputs
    for position, slot in enumerate(embeddings, start=1):
        rows.append(
            LayerRow(
                f"embedding_{position}", "Embedding", f"(None, {slot.output_dim})", slot.input_dim * slot.output_dim,
                f"{slot.name}: {slot.input_dim} categories → {slot.output_dim} numbers",
            )
        )  # fmt: skip
        width += slot.output_dim - 1
    for position, layer in enumerate(spec.layers, start=1):
        name = _layer_name(position, layer)
        if isinstance(layer, DenseLayer):
            penalty = ", ".join(f"{k}={v:g}" for k, v in (("l1", layer.l1), ("l2", layer.l2)) if v)
            rows.append(
                LayerRow(
                    name, "Dense", f"(None, {layer.units})", (width + 1) * layer.units,
                    f"{layer.units} units, {layer.activation}" + (f", {penalty}" if penalty else ""),
                )
            )  # fmt: skip
            width = layer.units
        elif isinstance(layer, DropoutLayer):
            rows.append(LayerRow(name, "Dropout", f"(None, {width})", 0, f"rate {layer.rate:g}"))
        else:
            rows.append(LayerRow(name, "BatchNormalization", f"(None, {width})", 4 * width, "normalises activations"))
    head = derive_head(task, num_classes)
    rows.append(
        LayerRow("output", "Dense", f"(None, {head.units})", (width + 1) * head.units, f"{head.activation} ({task})")
    )
    return rows


def count_params(rows: list[LayerRow]) -> int:
    return sum(row.num_params for row in rows)


def _layer_name(position: int, layer) -> str:
    return f"hidden_{position}_{layer.kind}"


def build_model(spec: ModelSpec, num_inputs: int, task: Task, num_classes: int = 0, embeddings: tuple = ()):
    """A functional Keras model from encoded features (float32, shape (None, num_inputs)) to the task's output.

    `embeddings` (from `PreprocessingState.embeddings()`) name the matrix columns that hold category indices:
    each is taken out, looked up in its own learned `Embedding` table and joined to the other inputs.
    """
    import keras

    inputs = keras.Input(shape=(num_inputs,), name="inputs")
    x = _embed(inputs, num_inputs, embeddings) if embeddings else inputs
    for position, layer in enumerate(spec.layers, start=1):
        name = _layer_name(position, layer)
        if isinstance(layer, DenseLayer):
            regularizer = keras.regularizers.L1L2(l1=layer.l1, l2=layer.l2) if (layer.l1 or layer.l2) else None
            x = keras.layers.Dense(layer.units, activation=layer.activation, kernel_regularizer=regularizer, name=name)(
                x
            )
        elif isinstance(layer, DropoutLayer):
            x = keras.layers.Dropout(layer.rate, name=name)(x)
        elif isinstance(layer, BatchNormalizationLayer):
            x = keras.layers.BatchNormalization(name=name)(x)
        else:  # pragma: no cover - the spec's discriminated union makes this unreachable
            raise TypeError(f"Unknown layer spec {layer!r}")
    head = derive_head(task, num_classes)
    outputs = keras.layers.Dense(head.units, activation=head.activation, name="output")(x)
    return keras.Model(inputs, outputs, name="layerlab_network")


def _embed(inputs, num_inputs: int, embeddings: tuple):
    import keras
    from keras import ops

    embedded = {slot.position for slot in embeddings}
    plain = [i for i in range(num_inputs) if i not in embedded]
    parts = [ops.take(inputs, plain, axis=1)] if plain else []
    for position, slot in enumerate(embeddings, start=1):
        index = ops.cast(ops.take(inputs, [slot.position], axis=1), "int32")
        vectors = keras.layers.Embedding(slot.input_dim, slot.output_dim, name=f"embedding_{position}")(index)
        parts.append(keras.layers.Reshape((slot.output_dim,), name=f"embedding_{position}_flat")(vectors))
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="embedded_inputs")(parts)


def make_optimizer(spec: TrainingSpec):
    import keras

    if spec.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=spec.learning_rate, momentum=spec.momentum)
    if spec.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=spec.learning_rate, weight_decay=spec.weight_decay)
    if spec.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=spec.learning_rate)
    return keras.optimizers.Adam(learning_rate=spec.learning_rate)


def choose_steps_per_execution(num_params: int, batch_size: int, steps_per_epoch: int, backend: str) -> int:
    """Steps fused into one call, so tiny batches are not throttled by per-step overhead.

    Aims at ~0.1 s per call (so progress and Stop still react several times a second), assuming roughly
    10 GFLOP/s on a CPU and 6 FLOPs per parameter per row for a forward and backward pass.
    """
    if backend == "torch":
        return 1  # the torch backend refuses steps_per_execution > 1
    seconds_per_step = 6.0 * max(num_params, 1) * batch_size / 10e9
    steps = int(0.1 / max(seconds_per_step, 1e-6))
    return max(1, min(32, steps, steps_per_epoch))
