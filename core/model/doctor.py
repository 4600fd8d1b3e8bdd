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
from core.i18n import format_share, t
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
    """One finding. `layer_index` (0-based) and `value` carry what `apply_advice` needs. `message` and
    `fix_label` are sentences in the language current when `diagnose` ran (it runs each time the page is shown)."""

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
        target = t("model.doctor.output_layer") if at_end else t("model.doctor.dense_layer", position=following + 1)
        message = t("model.doctor.linear_stack", position=first + 1, layer=layer_label(layer), target=target)
        if between == 0 or at_end:
            fix = t("model.doctor.fix.use_relu", position=first + 1)
            findings.append(Advice("linear_stack", "warning", message, fix, first, 1.0))
        else:
            fix = t("model.doctor.fix.insert_relu", position=following + 1)
            findings.append(Advice("linear_stack", "warning", message, fix, following, 0.0, (first,)))
    return findings


def _high_dropout(layers) -> list[Advice]:
    return [
        Advice(
            "high_dropout",
            "warning",
            t("model.doctor.high_dropout", position=position + 1, share=format_share(layer.rate)),
            t("model.doctor.fix.dropout_rate", position=position + 1),
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
                    t(
                        "model.doctor.saturating_stack",
                        positions=t("model.doctor.list_separator").join(str(p + 1) for p in run),
                        count=len(run),
                        activations="/".join(names),
                    ),
                    t("model.doctor.fix.switch_to_relu"),
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
            t("model.doctor.selu", position=position + 1, initializer=layer.kernel_initializer),
            t("model.doctor.fix.lecun_normal", position=position + 1),
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
            t("model.doctor.batch_norm_after_dropout", position=position + 1),
            t("model.doctor.fix.swap", first=position, second=position + 1),
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
    label = (
        t("model.doctor.fix.narrower_widths", widths=t("model.doctor.list_separator").join(widths[:4]))
        if widths
        else t("model.doctor.fix.narrower")
    )
    return [
        Advice(
            "too_many_parameters",
            "warning",
            t(
                "model.doctor.too_many_parameters",
                params=num_params,
                rows=train_rows,
                per_row=num_params / max(train_rows, 1),
            ),  # fmt: skip
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
            t("model.doctor.batch_too_large", batch_size=batch_size, rows=train_rows),
            t("model.doctor.fix.batch_size", batch_size=suggested),
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
    message_id = "model.doctor.learning_rate_high" if rate > high else "model.doctor.learning_rate_low"
    return [
        Advice(
            "learning_rate",
            "warning",
            t(message_id, rate=rate, name=name, low=low, high=high),
            t("model.doctor.fix.learning_rate", rate=suggested),
            value=suggested,
        )
    ]
