"""The run specification: everything a user configures, as one JSON-serialisable object.

The UI edits a `RunSpec`; core turns it into data splits, a preprocessing step, a model and a training
run. Field names follow Keras (`units`, `rate`, `learning_rate`...). A spec file reproduces a run.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import SpecError
from core.i18n import message_ids, t

Task = Literal["binary", "multiclass", "regression"]
Activation = Literal["relu", "leaky_relu", "elu", "selu", "gelu", "swish", "sigmoid", "tanh", "softplus", "linear"]
KernelInitializer = Literal[
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "orthogonal"
]
ACTIVATIONS: tuple[str, ...] = Activation.__args__  # type: ignore[attr-defined]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Spec):
    """Which columns to use and how to split the rows."""

    kind: Literal["table", "images", "text"] = Field(
        default="table",
        description="The kind of data (core.kinds): table (columns), images (a zip of class folders) or text "
        "(a table with a column of free text).",
    )
    target: str = Field(description="Column to predict.")
    features: tuple[str, ...] = Field(
        default=(), description="Input columns. Empty means every column except the target."
    )
    task: Task | None = Field(
        default=None, description="binary, multiclass or regression. Empty means inferred from the target."
    )
    test_fraction: float = Field(
        default=0.2, gt=0.0, lt=0.9, description="Share of rows held out for the final test (never trained on)."
    )
    validation_fraction: float = Field(
        default=0.1,
        gt=0.0,
        lt=0.9,
        description="Share of rows used to watch overfitting and for early stopping.",
    )
    seed: int = Field(default=42, ge=0, le=2**31 - 1, description="Random seed for the split and the weights.")
    group_column: str | None = Field(
        default=None,
        description="Rows that share a value here (a customer, a patient) stay on one side of every split.",
    )
    drop_duplicates: bool = Field(default=False, description="Remove exact duplicate rows before splitting.")
    cross_validation_folds: int = Field(
        default=0,
        ge=0,
        le=20,
        description="0: one train/validation/test split. k >= 2: also train k models on k folds and report the "
        "mean ± std of every metric.",
    )

    @model_validator(mode="after")
    def _check_fractions(self) -> DataSpec:
        if self.test_fraction + self.validation_fraction >= 0.9:
            raise ValueError(t("model.spec.fractions", test=self.test_fraction, validation=self.validation_fraction))
        if self.target in self.features:
            raise ValueError(t("model.spec.target_is_feature", target=repr(self.target)))
        if self.cross_validation_folds == 1:
            raise ValueError(t("model.spec.one_fold"))
        if self.group_column is not None and self.group_column == self.target:
            raise ValueError(t("model.spec.group_is_target"))
        return self


ColumnKind = Literal["auto", "numeric", "categorical", "datetime"]
MissingStrategy = Literal["auto", "mean", "median", "most_frequent", "constant", "drop_rows"]
OutlierStrategy = Literal["none", "clip_iqr", "clip_zscore"]
Scaling = Literal["auto", "standard", "minmax", "robust", "log1p", "none"]
CategoryEncoding = Literal["auto", "one_hot", "ordinal", "embedding", "hashing"]


class ColumnSpec(_Spec):
    """How one column is used and prepared. Anything left at "auto" follows the column's profile."""

    name: str = Field(description="Column name, as in the table.")
    role: Literal["feature", "ignore"] = Field(default="feature", description="Use the column as an input or not.")
    kind: ColumnKind = Field(
        default="auto",
        description="numeric, categorical or datetime. auto: from the column's type. numeric on a text column "
        "turns values that are not numbers into missing values.",
    )
    missing: MissingStrategy = Field(
        default="auto",
        description="How missing values are filled: auto = median for numbers, most frequent for categories; "
        "drop_rows leaves training rows with a missing value out (predictions still impute the median).",
    )
    fill_value: float | str | None = Field(default=None, description="The value used by missing='constant'.")
    missing_indicator: bool = Field(default=False, description="Add a 0/1 input saying whether the value was missing.")
    outliers: OutlierStrategy = Field(
        default="none",
        description="clip_iqr: clip to [Q1 - 1.5 IQR, Q3 + 1.5 IQR]; clip_zscore: clip to mean ± 3 std (training rows).",
    )
    scaling: Scaling = Field(
        default="auto",
        description="standard (z-score), minmax (0..1), robust (median/IQR), log1p (log, then z-score; for "
        "skewed positive amounts), none. auto = standard.",
    )
    encoding: CategoryEncoding = Field(
        default="auto",
        description="one_hot over the most frequent values (+1 'other' slot); ordinal uses `order` (unknown "
        "values count as the middle of the order); embedding learns a small vector per category (for columns "
        "with many categories: cities, products); hashing sends each value to one of `num_bins` buckets by a "
        "fixed hash (any number of categories, new ones included, in a fixed width). auto = one_hot.",
    )
    num_bins: int | None = Field(
        default=None, ge=2, le=1024, description="Buckets of the hashing encoding (Keras' `num_bins`). Empty: 64."
    )
    dayfirst: bool | None = Field(
        default=None,
        description="Dates written as text: True reads 03/04/2024 as 3 April (day first), False as March 4 "
        "(month first). Empty: detected from the values (a first number above 12 means day first).",
    )
    max_categories: int | None = Field(
        default=None, ge=1, le=1000, description="Most frequent categories kept (one_hot). Empty: the global cap."
    )
    embedding_dim: int | None = Field(
        default=None, ge=1, le=256, description="Size of each learned vector (embedding). Empty: chosen from the count."
    )
    order: tuple[str, ...] = Field(
        default=(), description="Category order for ordinal encoding, lowest first (e.g. Fair, Good, Ideal)."
    )

    @model_validator(mode="after")
    def _check_combinations(self) -> ColumnSpec:
        if self.missing == "constant" and self.fill_value is None:
            raise ValueError(t("model.spec.fill_value", name=repr(self.name)))
        if self.encoding == "ordinal" and len(self.order) < 2:
            raise ValueError(t("model.spec.ordinal_order", name=repr(self.name)))
        return self


Flip = Literal["none", "horizontal", "vertical", "horizontal_and_vertical"]


class AugmentationSpec(_Spec):
    """Random changes to training images (Keras preprocessing layers; inactive when predicting)."""

    flip: Flip = Field(default="none", description="Mirror images at random (RandomFlip's mode).")
    rotation: float = Field(
        default=0.0, ge=0.0, le=0.5, description="Rotate by up to this fraction of a full turn (RandomRotation)."
    )
    zoom: float = Field(default=0.0, ge=0.0, le=0.5, description="Zoom in or out by up to this fraction (RandomZoom).")
    contrast: float = Field(
        default=0.0, ge=0.0, le=0.9, description="Change the contrast by up to this fraction (RandomContrast)."
    )

    def layers(self) -> tuple[tuple[str, dict], ...]:
        """(Keras layer class name, arguments) of each active augmentation, in order."""
        chosen: list[tuple[str, dict]] = []
        if self.flip != "none":
            chosen.append(("RandomFlip", {"mode": self.flip}))
        if self.rotation > 0:
            chosen.append(("RandomRotation", {"factor": self.rotation, "fill_mode": "nearest"}))
        if self.zoom > 0:
            chosen.append(("RandomZoom", {"height_factor": self.zoom, "fill_mode": "nearest"}))
        if self.contrast > 0:
            chosen.append(("RandomContrast", {"factor": self.contrast, "value_range": (0, 1)}))
        return tuple(chosen)


class ImageSpec(_Spec):
    """How images are read into the network (kind "images")."""

    image_size: int | None = Field(
        default=None,
        ge=8,
        le=128,
        description="Side of the square the network sees, in pixels. Empty: the size the images were stored at "
        "(chosen from the data).",
    )
    augmentation: AugmentationSpec = Field(default=AugmentationSpec(), description="Random changes while training.")


TextSplit = Literal["auto", "whitespace", "character"]
TextStandardize = Literal["lower_and_strip_punctuation", "lower", "strip_punctuation", "none"]


class TextSpec(_Spec):
    """How a column of free text becomes tokens (kind "text"; Keras TextVectorization's argument names)."""

    column: str | None = Field(default=None, description="The text column. Empty: the column detected as text.")
    max_tokens: int = Field(
        default=20000, ge=100, le=200_000, description="Vocabulary size: the most frequent tokens kept."
    )
    output_sequence_length: int | None = Field(
        default=None,
        ge=4,
        le=2000,
        description="Tokens per text for sequence models (Embedding first); longer texts are cut. Empty: from "
        "the training texts' lengths.",
    )
    ngrams: int | None = Field(
        default=None,
        ge=1,
        le=3,
        description="Also count runs of up to this many tokens. Empty: 2 for bag models, 1 for sequences.",
    )
    split: TextSplit = Field(
        default="auto",
        description="whitespace: words; character: single characters (Chinese, Japanese). auto: from the text.",
    )
    standardize: TextStandardize = Field(
        default="lower_and_strip_punctuation", description="Lower-case and remove punctuation before splitting."
    )


class PreprocessingSpec(_Spec):
    """How raw columns become numbers. Fitted on the training split only."""

    max_categories: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Most frequent categories kept per text column; rarer ones share one 'other' slot.",
    )
    columns: tuple[ColumnSpec, ...] = Field(
        default=(), description="Per-column choices; a column not listed uses the automatic defaults."
    )
    numeric_embedding: Literal["none", "periodic"] = Field(
        default="none",
        description="How number columns reach the network: none: as one standardised value each; periodic: also "
        "as the sine and cosine of learned multiples of the value, read by a small Dense layer per column "
        "(Gorishniy et al. 2022). Often lifts tables where a number matters in steps or ranges (Adult: +0.8 "
        "points), at the cost of slower epochs.",
    )
    periodic_frequencies: int = Field(
        default=24, ge=1, le=64, description="Periodic: learned frequencies per number column."
    )
    periodic_scale: float = Field(
        default=0.1,
        gt=0.0,
        le=100.0,
        description="Periodic: spread of the starting frequencies (on standardised values); larger picks up "
        "finer steps (Adult: 30 beats 0.1 by 0.7 points). A search tries 0.1 to 100.",
    )
    periodic_dim: int = Field(
        default=16, ge=1, le=128, description="Periodic: outputs of the Dense layer that reads each column."
    )
    images: ImageSpec = Field(default=ImageSpec(), description="Image size and augmentation (kind images).")
    text: TextSpec = Field(default=TextSpec(), description="How the text column is split into tokens (kind text).")

    @model_validator(mode="after")
    def _unique_columns(self) -> PreprocessingSpec:
        names = [column.name for column in self.columns]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(t("model.spec.duplicate_columns", columns=duplicated))
        return self

    def column(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        return ColumnSpec(name=name)


class DenseLayer(_Spec):
    kind: Literal["dense"] = "dense"
    units: int = Field(default=64, ge=1, le=8192, description="Number of neurons.")
    activation: Activation = Field(default="relu", description="Nonlinearity applied to the output.")
    kernel_initializer: KernelInitializer = Field(
        default="glorot_uniform",
        description="How the starting weights are drawn. he_* suits relu-like activations, lecun_normal suits selu.",
    )
    l1: float = Field(default=0.0, ge=0.0, le=1.0, description="L1 weight penalty (0 = off).")
    l2: float = Field(default=0.0, ge=0.0, le=1.0, description="L2 weight penalty (0 = off).")


class DropoutLayer(_Spec):
    kind: Literal["dropout"] = "dropout"
    rate: float = Field(default=0.2, ge=0.0, lt=1.0, description="Fraction of inputs dropped while training.")


class BatchNormalizationLayer(_Spec):
    kind: Literal["batch_normalization"] = "batch_normalization"


class LayerNormalizationLayer(_Spec):
    kind: Literal["layer_normalization"] = "layer_normalization"


class GaussianNoiseLayer(_Spec):
    kind: Literal["gaussian_noise"] = "gaussian_noise"
    stddev: float = Field(
        default=0.1, gt=0.0, le=10.0, description="Standard deviation of the noise added while training."
    )


class ActivationLayer(_Spec):
    kind: Literal["activation"] = "activation"
    activation: Activation = Field(default="relu", description="Nonlinearity applied to the previous layer's output.")


Padding = Literal["valid", "same"]


class Conv1DLayer(_Spec):
    kind: Literal["conv1d"] = "conv1d"
    filters: int = Field(default=32, ge=1, le=4096, description="Number of learned filters (output channels).")
    kernel_size: int = Field(default=3, ge=1, le=256, description="Width of each filter, in steps.")
    strides: int = Field(default=1, ge=1, le=256, description="Step between filter positions.")
    padding: Padding = Field(default="valid", description="valid: no padding; same: keep the length (stride 1).")
    activation: Activation = Field(default="relu", description="Nonlinearity applied to the output.")


class Conv2DLayer(_Spec):
    kind: Literal["conv2d"] = "conv2d"
    filters: int = Field(default=32, ge=1, le=4096, description="Number of learned filters (output channels).")
    kernel_size: int = Field(default=3, ge=1, le=256, description="Height and width of each square filter.")
    strides: int = Field(default=1, ge=1, le=256, description="Step between filter positions, both directions.")
    padding: Padding = Field(default="valid", description="valid: no padding; same: keep the size (stride 1).")
    activation: Activation = Field(default="relu", description="Nonlinearity applied to the output.")


class MaxPooling1DLayer(_Spec):
    kind: Literal["max_pooling1d"] = "max_pooling1d"
    pool_size: int = Field(default=2, ge=1, le=256, description="Steps merged into one (their maximum).")


class MaxPooling2DLayer(_Spec):
    kind: Literal["max_pooling2d"] = "max_pooling2d"
    pool_size: int = Field(default=2, ge=1, le=256, description="Square window merged into one pixel (its maximum).")


class GlobalAveragePooling1DLayer(_Spec):
    kind: Literal["global_average_pooling1d"] = "global_average_pooling1d"


class GlobalAveragePooling2DLayer(_Spec):
    kind: Literal["global_average_pooling2d"] = "global_average_pooling2d"


class FlattenLayer(_Spec):
    kind: Literal["flatten"] = "flatten"


class EmbeddingLayer(_Spec):
    kind: Literal["embedding"] = "embedding"
    input_dim: int = Field(default=1000, ge=1, le=1_000_000, description="Vocabulary size (largest token id + 1).")
    output_dim: int = Field(default=32, ge=1, le=4096, description="Length of each learned token vector.")


class LSTMLayer(_Spec):
    kind: Literal["lstm"] = "lstm"
    units: int = Field(default=64, ge=1, le=4096, description="Size of the memory state.")
    return_sequences: bool = Field(
        default=False, description="Output every step (to stack another recurrent layer) instead of the last only."
    )


class GRULayer(_Spec):
    kind: Literal["gru"] = "gru"
    units: int = Field(default=64, ge=1, le=4096, description="Size of the memory state.")
    return_sequences: bool = Field(
        default=False, description="Output every step (to stack another recurrent layer) instead of the last only."
    )


class BidirectionalLayer(_Spec):
    kind: Literal["bidirectional"] = "bidirectional"
    layer: Annotated[LSTMLayer | GRULayer, Field(discriminator="kind")] = Field(
        default_factory=LSTMLayer, description="The recurrent layer run forwards and backwards (outputs joined)."
    )


LayerSpec = Annotated[
    DenseLayer
    | DropoutLayer
    | BatchNormalizationLayer
    | LayerNormalizationLayer
    | GaussianNoiseLayer
    | ActivationLayer
    | Conv1DLayer
    | Conv2DLayer
    | MaxPooling1DLayer
    | MaxPooling2DLayer
    | GlobalAveragePooling1DLayer
    | GlobalAveragePooling2DLayer
    | FlattenLayer
    | EmbeddingLayer
    | LSTMLayer
    | GRULayer
    | BidirectionalLayer,
    Field(discriminator="kind"),
]
LAYER_KINDS: dict[str, type[_Spec]] = {
    "dense": DenseLayer,
    "dropout": DropoutLayer,
    "batch_normalization": BatchNormalizationLayer,
    "layer_normalization": LayerNormalizationLayer,
    "gaussian_noise": GaussianNoiseLayer,
    "activation": ActivationLayer,
    "conv1d": Conv1DLayer,
    "conv2d": Conv2DLayer,
    "max_pooling1d": MaxPooling1DLayer,
    "max_pooling2d": MaxPooling2DLayer,
    "global_average_pooling1d": GlobalAveragePooling1DLayer,
    "global_average_pooling2d": GlobalAveragePooling2DLayer,
    "flatten": FlattenLayer,
    "embedding": EmbeddingLayer,
    "lstm": LSTMLayer,
    "gru": GRULayer,
    "bidirectional": BidirectionalLayer,
}
# The layers that make sense on a table of encoded features; the rest are for image and text inputs.
TABULAR_LAYER_KINDS: tuple[str, ...] = (
    "dense",
    "dropout",
    "batch_normalization",
    "layer_normalization",
    "gaussian_noise",
    "activation",
)


class ModelSpec(_Spec):
    """The hidden layers. The output layer and the loss are derived from the task, never configured."""

    layers: tuple[LayerSpec, ...] = Field(
        default=(DenseLayer(units=64), DenseLayer(units=64)), max_length=64, description="Hidden layers, in order."
    )


Optimizer = Literal["adam", "adamw", "sgd", "rmsprop", "adagrad", "nadam"]
ScheduleKind = Literal["constant", "step", "exponential", "cosine", "reduce_on_plateau"]


class ScheduleSpec(_Spec):
    """How the learning rate changes during training (`TrainingSpec.learning_rate` is where it starts)."""

    kind: ScheduleKind = Field(
        default="constant",
        description="constant; step: multiply by decay_rate every decay_epochs; exponential: the same, smoothly; "
        "cosine: a cosine curve down to alpha × the rate (after warmup_epochs of linear warm-up); "
        "reduce_on_plateau: multiply by decay_rate when the validation loss stalls for `patience` epochs.",
    )
    decay_rate: float = Field(
        default=0.5, gt=0.0, lt=1.0, description="Factor applied each decay (step, exponential, reduce_on_plateau)."
    )
    decay_epochs: int = Field(default=10, ge=1, le=10000, description="Epochs per decay (step, exponential).")
    warmup_epochs: int = Field(default=0, ge=0, le=1000, description="Epochs of linear warm-up from 0 (cosine).")
    alpha: float = Field(default=0.0, ge=0.0, le=1.0, description="Final rate as a fraction of the start (cosine).")
    patience: int = Field(default=3, ge=1, le=1000, description="Stalled epochs before a drop (reduce_on_plateau).")
    min_learning_rate: float = Field(
        default=1e-6, ge=0.0, le=1.0, description="The rate never drops below this (reduce_on_plateau)."
    )


class TrainingSpec(_Spec):
    optimizer: Optimizer = Field(default="adam", description="Algorithm that updates the weights.")
    learning_rate: float = Field(default=0.001, gt=0.0, le=10.0, description="Step size of each update.")
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0, description="Momentum (SGD only).")
    nesterov: bool = Field(default=False, description="Nesterov momentum (SGD only).")
    weight_decay: float = Field(default=0.004, ge=0.0, le=1.0, description="Weight decay (AdamW only).")
    schedule: ScheduleSpec = Field(default=ScheduleSpec(), description="How the learning rate changes over time.")
    clipnorm: float | None = Field(
        default=None, gt=0.0, le=1000.0, description="Rescale each weight's gradient to at most this norm (off: empty)."
    )
    clipvalue: float | None = Field(
        default=None, gt=0.0, le=1000.0, description="Clip each gradient value to ± this (off: empty)."
    )
    mixed_precision: bool = Field(default=True, description="Compute in float16 on a GPU (faster; ignored on a CPU).")
    batch_size: int = Field(default=64, ge=1, le=65536, description="Rows per weight update.")
    epochs: int = Field(default=20, ge=1, le=10000, description="Passes over the training rows.")
    early_stopping: bool = Field(default=True, description="Stop when validation loss stops improving.")
    patience: int = Field(default=4, ge=1, le=1000, description="Epochs without improvement before stopping.")
    restore_best_weights: bool = Field(
        default=True, description="Keep the weights of the epoch with the lowest validation loss."
    )
    class_weight: Literal["none", "balanced"] = Field(
        default="none", description="balanced: weight classes inversely to their frequency in the training rows."
    )

    @model_validator(mode="after")
    def _one_clipping(self) -> TrainingSpec:
        if self.clipnorm is not None and self.clipvalue is not None:
            raise ValueError(t("model.spec.two_clippings"))
        return self


class RunSpec(_Spec):
    """One training run, end to end. `RunSpec.model_validate_json(text)` reproduces it."""

    version: Literal[1] = 1
    data: DataSpec
    preprocessing: PreprocessingSpec = PreprocessingSpec()
    model: ModelSpec = ModelSpec()
    training: TrainingSpec = TrainingSpec()

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def _describe_location(location: tuple) -> str:
    return ".".join(str(part) for part in location) or "spec"


def _problem(item: dict) -> str:
    """What is wrong with one value, in the current language: pydantic's error types with a catalog entry
    ("model.spec.pydantic.<type>", filled from the error's context) are translated; the model validators'
    ValueErrors are already sentences from the catalog; any other type keeps pydantic's (English) message."""
    kind = item.get("type", "")
    context = item.get("ctx") or {}
    if kind == "value_error":
        return str(context.get("error", item.get("msg", ""))).removeprefix("Value error, ")
    message_id = f"model.spec.pydantic.{kind}"
    if message_id in message_ids():
        try:
            return t(message_id, **{name: str(value) for name, value in context.items()})
        except (KeyError, IndexError, ValueError):
            pass  # a pydantic version with other context names: its own message below
    return item.get("msg", "is invalid").removeprefix("Value error, ")


def format_validation_error(error: ValidationError) -> str:
    """Turn pydantic's error list into sentences that name the field, what was expected and how to fix it."""
    sentences = []
    for item in error.errors():
        field = _describe_location(item.get("loc", ()))
        received = item.get("input")
        kind = item.get("type", "")
        if kind == "extra_forbidden":
            sentences.append(t("model.spec.unknown_setting", field=field))
            continue
        if kind == "missing":
            sentences.append(t("model.spec.missing", field=field))
            continue
        shown = json.dumps(received, default=str, ensure_ascii=False) if not isinstance(received, dict) else "{...}"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        sentences.append(t("model.spec.invalid", field=field, problem=_problem(item), received=shown))
    # A space between English sentences, none after Chinese full stops.
    return "".join(s if s.endswith(("。", "！", "？")) else s + " " for s in sentences).rstrip()


def parse_spec(text: str | bytes | dict) -> RunSpec:
    """Parse a spec from JSON text or a dict; raises `SpecError` naming every bad field."""
    try:
        if isinstance(text, dict):
            return RunSpec.model_validate(text)
        return RunSpec.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0].get("loc", ()) if error.errors() else ()
        raise SpecError(
            t("model.spec.not_valid", problems=format_validation_error(error)), field=_describe_location(first)
        ) from None


PRESETS: dict[str, ModelSpec] = {
    "Balanced (default)": ModelSpec(),
    "Textbook MLP": ModelSpec(layers=(DenseLayer(units=64), DenseLayer(units=64))),
    "Wide with dropout": ModelSpec(
        layers=(DenseLayer(units=256), DropoutLayer(rate=0.3), DenseLayer(units=128), DropoutLayer(rate=0.3))
    ),
    "Deep with batch norm": ModelSpec(
        layers=(
            DenseLayer(units=128, activation="linear", kernel_initializer="he_normal"),
            BatchNormalizationLayer(),
            ActivationLayer(activation="relu"),
            DenseLayer(units=128, activation="linear", kernel_initializer="he_normal"),
            BatchNormalizationLayer(),
            ActivationLayer(activation="relu"),
            DenseLayer(units=64, activation="relu", kernel_initializer="he_normal"),
        )
    ),
    "Linear (no hidden layer)": ModelSpec(layers=()),
}

TRAINING_PRESETS: dict[str, TrainingSpec] = {
    # The classic Keras example: Adam at 0.001, batch 32, 10 epochs, no early stopping.
    "Textbook MLP": TrainingSpec(optimizer="adam", learning_rate=0.001, batch_size=32, epochs=10, early_stopping=False),
}

# Kind images: the network's input is (side, side, channels) pixels, rescaled and augmented before these layers.
IMAGE_PRESETS: dict[str, ModelSpec] = {
    # Flattened, not globally pooled, before the Dense layer: on the 10,000-image Fashion-MNIST sample a global
    # average pooling version reached 0.76 test accuracy after 20 epochs where this one reached 0.88 (the
    # MLP on pixels: 0.84). Global pooling is the choice for large photos (the third preset).
    "Small CNN (default)": ModelSpec(
        layers=(
            Conv2DLayer(filters=32, kernel_size=3, padding="same"),
            MaxPooling2DLayer(pool_size=2),
            Conv2DLayer(filters=64, kernel_size=3, padding="same"),
            MaxPooling2DLayer(pool_size=2),
            FlattenLayer(),
            DropoutLayer(rate=0.3),
            DenseLayer(units=128),
        )
    ),
    "Deeper CNN": ModelSpec(
        layers=(
            Conv2DLayer(filters=32, kernel_size=3, padding="same"),
            Conv2DLayer(filters=32, kernel_size=3, padding="same"),
            MaxPooling2DLayer(pool_size=2),
            Conv2DLayer(filters=64, kernel_size=3, padding="same"),
            Conv2DLayer(filters=64, kernel_size=3, padding="same"),
            MaxPooling2DLayer(pool_size=2),
            FlattenLayer(),
            DropoutLayer(rate=0.4),
            DenseLayer(units=128),
        )
    ),
    "CNN with global pooling": ModelSpec(
        layers=(
            Conv2DLayer(filters=32, kernel_size=3, padding="same"),
            MaxPooling2DLayer(pool_size=2),
            Conv2DLayer(filters=64, kernel_size=3, padding="same"),
            MaxPooling2DLayer(pool_size=2),
            Conv2DLayer(filters=128, kernel_size=3, padding="same"),
            GlobalAveragePooling2DLayer(),
            DenseLayer(units=128),
        )
    ),
    "MLP on pixels": ModelSpec(
        layers=(FlattenLayer(), DenseLayer(units=256), DropoutLayer(rate=0.2), DenseLayer(units=128))
    ),
}

# Kind text: a bag-of-n-grams model reads TF-IDF weights of the vocabulary; a model whose first layer is an
# Embedding reads token ids (its `input_dim` is the vocabulary size).
TEXT_PRESETS: dict[str, ModelSpec] = {
    # Dropout on the TF-IDF weights, then the output layer: a regularised logistic regression, trained like
    # any network. On the samples' splits it was within 1 point of scikit-learn's TF-IDF + logistic regression
    # in English (-0.3) and Chinese (-0.7); a hidden Dense(64) layer was -0.8 to -2.4 points in English.
    "Bag of n-grams (default)": ModelSpec(layers=(DropoutLayer(rate=0.5),)),
    "Bag of n-grams + hidden layer": ModelSpec(
        layers=(DropoutLayer(rate=0.5), DenseLayer(units=64), DropoutLayer(rate=0.5))
    ),
    "Embedding + average": ModelSpec(
        layers=(EmbeddingLayer(input_dim=20000, output_dim=64), GlobalAveragePooling1DLayer(), DenseLayer(units=64))
    ),
    "Embedding + Conv1D": ModelSpec(
        layers=(
            EmbeddingLayer(input_dim=20000, output_dim=64),
            Conv1DLayer(filters=64, kernel_size=5, padding="same"),
            GlobalAveragePooling1DLayer(),
            DenseLayer(units=64),
        )
    ),
    "Embedding + bidirectional LSTM": ModelSpec(
        layers=(
            EmbeddingLayer(input_dim=20000, output_dim=64),
            BidirectionalLayer(layer=LSTMLayer(units=32)),
            DenseLayer(units=64),
        )
    ),
}

KIND_PRESETS: dict[str, dict[str, ModelSpec]] = {"table": PRESETS, "images": IMAGE_PRESETS, "text": TEXT_PRESETS}


def default_model(kind: str) -> ModelSpec:
    """The model a new run of this kind of data starts from (the first preset)."""
    return next(iter(KIND_PRESETS[kind].values()))


# The layers each kind of data offers in the Model page's toolbox (a spec may still hold any layer kind).
IMAGE_LAYER_KINDS: tuple[str, ...] = (
    "conv2d", "max_pooling2d", "global_average_pooling2d", "flatten", "dense", "dropout", "batch_normalization",
    "activation",
)  # fmt: skip
TEXT_LAYER_KINDS: tuple[str, ...] = (
    "embedding", "conv1d", "max_pooling1d", "global_average_pooling1d", "lstm", "gru", "bidirectional", "dense",
    "dropout", "layer_normalization",
)  # fmt: skip
KIND_LAYER_KINDS: dict[str, tuple[str, ...]] = {
    "table": TABULAR_LAYER_KINDS,
    "images": IMAGE_LAYER_KINDS,
    "text": TEXT_LAYER_KINDS,
}
