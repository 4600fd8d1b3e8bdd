"""The model doctor: advice on a run spec before training, each finding with its reason and a one-click fix.

Nothing here blocks training: these are patterns that usually waste a run (a stack that collapses to one
linear map, a dropout that drops almost everything, a learning rate far from the optimizer's usual range...).
`diagnose` looks at the spec and a few facts about the data; `apply_advice` is the pure spec edit behind
the finding's "Apply fix" button.

Example:
    >>> findings = diagnose(spec, train_rows=700, num_inputs=13, task="binary")
    >>> spec = apply_advice(spec, findings[0])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from core.errors import SpecError
from core.model.building import count_params, describe_model, layer_label
from core.model.layers import layer_kind
from core.spec import (
    ActivationLayer,
    BatchNormalizationLayer,
    DenseLayer,
    DropoutLayer,
    GaussianNoiseLayer,
    LayerNormalizationLayer,
    ModelSpec,
    RunSpec,
    Task,
)

# Sane learning-rate ranges per optimizer (inclusive) and the value the fix sets. Names the training
# engineer adds later fall back to DEFAULT_RANGE, so a new optimizer never crashes the doctor.
LEARNING_RATE_RANGES: dict[str, tuple[float, float, float]] = {
    "adam": (1e-5, 1e-2, 1e-3),
    "adamw": (1e-5, 1e-2, 1e-3),
    "nadam": (1e-5, 1e-2, 1e-3),
    "adamax": (1e-5, 2e-2, 2e-3),
    "rmsprop": (1e-5, 1e-2, 1e-3),
    "sgd": (1e-4, 0.5, 1e-2),
    "adagrad": (1e-4, 0.5, 1e-2),
}
DEFAULT_RANGE = (1e-5, 0.1, 1e-3)
OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "nadam": "Nadam", "sgd": "SGD", "rmsprop": "RMSprop"}
HIGH_DROPOUT = 0.8
MAX_LAYERS = 64  # ModelSpec.layers' max_length
PARAMS_PER_ROW = 10
SATURATING = {"sigmoid", "tanh"}
# Layers that keep a Dense stack linear: they rescale, shift or zero inputs but add no nonlinearity.
_AFFINE_KINDS = (DropoutLayer, BatchNormalizationLayer, LayerNormalizationLayer, GaussianNoiseLayer)


@dataclass(frozen=True, slots=True)
class Advice:
    """One finding. `layer_index` (0-based) and `value` carry what `apply_advice` needs."""

    kind: str
    severity: Literal["warning", "info"]
    message: str
    fix_label: str
    layer_index: int | None = None
    value: float | None = None
    layers: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        """Stable identifier for widget keys, unique within one `diagnose` result."""
        key = f"{self.kind}.{self.layer_index if self.layer_index is not None else ''}"
        return key + (".insert" if self.kind == "linear_stack" and self.value == 0 else "")


def diagnose(
    spec: RunSpec, *, train_rows: int, num_inputs: int, task: Task, num_classes: int = 0, embeddings: tuple = ()
) -> list[Advice]:
    """Every finding for this spec, warnings first. Never raises on a spec that parsed.

    `embeddings` (from `PreprocessingState.embeddings()`) make the parameter count exact for embedded columns.
    """
    layers = spec.model.layers
    findings = [
        *_linear_stacks(layers),
        *_high_dropout(layers),
        *_saturating_stacks(layers),
        *_selu_initializer(layers),
        *_batch_norm_after_dropout(layers),
        *_too_many_parameters(spec.model, train_rows, num_inputs, task, num_classes, embeddings),
        *_batch_too_large(spec, train_rows),
        *_learning_rate(spec),
    ]
    return sorted(findings, key=lambda advice: advice.severity != "warning")


def apply_advice(spec: RunSpec, advice: Advice) -> RunSpec:
    """The spec with the finding's fix applied (a new spec; the input is unchanged)."""
    layers = list(spec.model.layers)
    training = spec.training
    index = advice.layer_index
    if advice.kind == "linear_stack" and index is not None:
        if advice.value == 1:  # nothing between the two Dense layers: make the first one nonlinear
            layers[index] = layers[index].model_copy(update={"activation": "relu"})
        elif len(layers) >= MAX_LAYERS:  # no room for one more layer: make the linear Dense nonlinear instead
            layers[advice.layers[0]] = layers[advice.layers[0]].model_copy(update={"activation": "relu"})
        else:
            layers.insert(index, ActivationLayer(activation="relu"))
    elif advice.kind == "high_dropout" and index is not None:
        layers[index] = layers[index].model_copy(update={"rate": 0.5})
    elif advice.kind == "saturating_stack":
        for position in advice.layers:
            layers[position] = layers[position].model_copy(update={"activation": "relu"})
    elif advice.kind == "selu_initializer" and index is not None:
        layers[index] = layers[index].model_copy(update={"kernel_initializer": "lecun_normal"})
    elif advice.kind == "batch_norm_after_dropout" and index is not None:
        layers[index - 1], layers[index] = layers[index], layers[index - 1]
    elif advice.kind == "too_many_parameters" and advice.value is not None:
        layers = _scaled(layers, advice.value)
    elif advice.kind == "batch_too_large" and advice.value is not None:
        training = training.model_copy(update={"batch_size": int(advice.value)})
    elif advice.kind == "learning_rate" and advice.value is not None:
        training = training.model_copy(update={"learning_rate": float(advice.value)})
    else:
        raise ValueError(f"Unknown advice {advice.kind!r}")
    model = ModelSpec.model_validate({"layers": [layer.model_dump() for layer in layers]})
    return spec.model_copy(update={"model": model, "training": training})


def _is_nonlinear(layer) -> bool:
    return isinstance(layer, ActivationLayer) and layer.activation != "linear"


def _linear_stacks(layers) -> list[Advice]:
    """A Dense with a linear activation followed by another Dense with nothing nonlinear in between: two
    matrix multiplications in a row equal one, so the extra layer adds parameters and no capacity."""
    findings = []
    for first, layer in enumerate(layers):
        if not (isinstance(layer, DenseLayer) and layer.activation == "linear"):
            continue
        following = first + 1
        while following < len(layers) and (
            isinstance(layers[following], _AFFINE_KINDS)
            or (isinstance(layers[following], ActivationLayer) and not _is_nonlinear(layers[following]))
        ):
            following += 1
        at_end = following == len(layers)
        if not at_end and not isinstance(layers[following], DenseLayer):
            continue
        between = following - first - 1
        target = "the output layer" if at_end else f"layer {following + 1} (Dense)"
        message = (
            f"Layer {first + 1} ({layer_label(layer)}) is linear and feeds {target} with nothing nonlinear in "
            "between, so the two compute no more than a single Dense layer would."
        )
        if between == 0 or at_end:
            findings.append(Advice("linear_stack", "warning", message, f"Use relu in layer {first + 1}", first, 1.0))
        else:
            findings.append(
                Advice(
                    "linear_stack", "warning", message, f"Insert a relu Activation before layer {following + 1}",
                    following, 0.0, (first,),
                )
            )  # fmt: skip
    return findings


def _high_dropout(layers) -> list[Advice]:
    return [
        Advice(
            "high_dropout",
            "warning",
            f"Layer {position + 1} drops {layer.rate:.0%} of its inputs at every step, so the next layer sees "
            "too little of the signal and training is slow and noisy; 0.2 to 0.5 is the usual range.",
            f"Set layer {position + 1}'s rate to 0.5",
            position,
            0.5,
        )
        for position, layer in enumerate(layers)
        if isinstance(layer, DropoutLayer) and layer.rate >= HIGH_DROPOUT
    ]


def _saturating_stacks(layers) -> list[Advice]:
    """3+ sigmoid/tanh layers in a row (ignoring dropout and normalisation): gradients shrink through each."""
    findings = []
    run: list[int] = []
    for position, layer in enumerate([*layers, None]):
        if isinstance(layer, DenseLayer | ActivationLayer) and layer.activation in SATURATING:
            run.append(position)
            continue
        # Dropout and normalisation do not break the chain, nor does a linear Dense (Dense + Activation = one).
        if isinstance(layer, _AFFINE_KINDS) or (isinstance(layer, DenseLayer) and layer.activation == "linear"):
            continue
        if len(run) >= 3:
            names = sorted({layers[p].activation for p in run})
            findings.append(
                Advice(
                    "saturating_stack",
                    "warning",
                    f"Layers {', '.join(str(p + 1) for p in run)} stack {len(run)} {'/'.join(names)} activations: "
                    "their gradients shrink at every layer (vanishing gradients), so the first layers barely learn.",
                    "Switch them to relu",
                    run[0],
                    layers=tuple(run),
                )
            )
        run = []
    return findings


def _selu_initializer(layers) -> list[Advice]:
    return [
        Advice(
            "selu_initializer",
            "info",
            f"Layer {position + 1} uses selu, which keeps activations normalised only when the weights start "
            f"from lecun_normal (it uses {layer.kernel_initializer}).",
            f"Use lecun_normal in layer {position + 1}",
            position,
        )
        for position, layer in enumerate(layers)
        if isinstance(layer, DenseLayer) and layer.activation == "selu" and layer.kernel_initializer != "lecun_normal"
    ]


def _batch_norm_after_dropout(layers) -> list[Advice]:
    return [
        Advice(
            "batch_norm_after_dropout",
            "info",
            f"Layer {position + 1} (BatchNormalization) comes right after a Dropout layer: it learns its "
            "statistics from dropped-out values during training that differ from what it sees when predicting.",
            f"Swap layers {position} and {position + 1}",
            position,
        )
        for position, layer in enumerate(layers)
        if position > 0
        and isinstance(layer, BatchNormalizationLayer)
        and isinstance(layers[position - 1], DropoutLayer)
    ]


def _num_params(model: ModelSpec, num_inputs: int, task: Task, num_classes: int, embeddings: tuple) -> int:
    return count_params(describe_model(model, num_inputs, task, num_classes, embeddings))


def _scaled(layers, factor: float) -> list:
    scaled = []
    for layer in layers:
        field = layer_kind(layer).size_field
        if field is not None:
            layer = layer.model_copy(update={field: max(1, int(getattr(layer, field) * factor))})
        scaled.append(layer)
    return scaled


def _too_many_parameters(
    model: ModelSpec, train_rows: int, num_inputs: int, task: Task, num_classes: int, embeddings: tuple
):
    try:
        num_params = _num_params(model, num_inputs, task, num_classes, embeddings)
    except SpecError:
        return []  # a stack that does not fit together: the page shows that error itself
    limit = PARAMS_PER_ROW * max(train_rows, 1)
    if num_params <= limit:
        return []
    # The largest width factor (to 1%) that brings the count under the limit; widths never go below 1.
    low, high = 0.0, 1.0
    for _ in range(12):
        middle = (low + high) / 2
        scaled = ModelSpec(layers=tuple(_scaled(model.layers, middle)))
        if _num_params(scaled, num_inputs, task, num_classes, embeddings) <= limit:
            low = middle
        else:
            high = middle
    factor = max(math.floor(low * 1000) / 1000, 0.001)
    widths = [f"{layer.units}→{max(1, int(layer.units * factor))}" for layer in model.layers if hasattr(layer, "units")]
    label = "Make the layers narrower" + (f" ({', '.join(widths[:4])})" if widths else "")
    return [
        Advice(
            "too_many_parameters",
            "warning",
            f"The network has {num_params:,} parameters for about {train_rows:,} training rows "
            f"({num_params / max(train_rows, 1):.0f} per row): it can memorise the rows instead of learning a "
            "pattern that holds on new ones.",
            label,
            value=factor,
        )
    ]


def _batch_too_large(spec: RunSpec, train_rows: int) -> list[Advice]:
    batch_size = spec.training.batch_size
    if train_rows < 1 or batch_size <= train_rows:
        return []
    suggested = 1
    while suggested * 2 <= min(32, train_rows):
        suggested *= 2
    return [
        Advice(
            "batch_too_large",
            "warning",
            f"The batch size ({batch_size}) is larger than the about {train_rows:,} training rows, so each epoch "
            "is a single weight update: training needs many more epochs to get anywhere.",
            f"Use batch size {suggested}",
            value=float(suggested),
        )
    ]


def _learning_rate(spec: RunSpec) -> list[Advice]:
    optimizer = str(getattr(spec.training, "optimizer", "adam"))
    rate = float(getattr(spec.training, "learning_rate", 1e-3))
    low, high, suggested = LEARNING_RATE_RANGES.get(optimizer, DEFAULT_RANGE)
    if low <= rate <= high:
        return []
    name = OPTIMIZER_NAMES.get(optimizer, optimizer)
    consequence = (
        "the loss will jump around or blow up" if rate > high else "the weights will barely move in the epochs given"
    )
    side = "above" if rate > high else "below"
    return [
        Advice(
            "learning_rate",
            "warning",
            f"A learning rate of {rate:g} is {side} the usual range for {name} ({low:g} to {high:g}): {consequence}.",
            f"Use {suggested:g}",
            value=suggested,
        )
    ]
