"""The `images` kind: a zip of class folders, read once into a uint8 pixel array on disk (`core.data.images`).

The network sees float pixels 0..255 of one square size: its first layer rescales them to 0..1, the
augmentation layers follow (they act while training only), then the user's layers. Training reads one batch
at a time from the memory-mapped array (`keras.utils.PyDataset`), so 60,000 images need no more memory than
a few batches. The downloadable model takes raw uint8 images of any size: it casts, resizes (bilinear) and
then runs the network, so a phone photo goes in as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold

from core.data.image_profile import profile_images
from core.data.splitting import CrossValidationPlan, TargetInfo, natural_key
from core.deployment.serving_model import SERVING_MODEL_NAME, label_outputs
from core.errors import DataError
from core.evaluation.metrics import compute_metrics
from core.i18n import Message, t
from core.kinds.base import ModelInput, batch_stream, scored_baseline, stratified_positions

PREDICT_BATCH = 256
MIN_IMAGES_PER_CLASS = 2
BASELINE_SIDE = 16  # the pixel baseline sees images shrunk to at most this side
BASELINE_ROWS = 10_000


@dataclass(frozen=True)
class ImageSource:
    """An image set as a run holds it: its manifest (one row per image) and its pixels (memory-mapped)."""

    manifest: pd.DataFrame
    pixels: np.ndarray


@dataclass(frozen=True)
class ImagePreprocessing:
    """What the network expects and the downloadable model does before it: images resized to `image_size`
    square with `channels` channels; pixels rescaled inside the network."""

    image_size: int
    channels: int
    stored_side: int
    augmentation: tuple[tuple[str, dict], ...] = ()
    columns: tuple = ()  # no table columns: the model-size estimate counts the network's weights only

    def embeddings(self) -> tuple:
        return ()

    def stem(self) -> tuple[tuple[str, dict], ...]:
        """The layers before the user's: rescaling, then the augmentations (Keras class name, arguments)."""
        return (("Rescaling", {"scale": 1.0 / 255.0}), *self.augmentation)

    def to_dict(self) -> dict:
        return {
            "kind": "images",
            "image_size": self.image_size,
            "channels": self.channels,
            "stored_side": self.stored_side,
            "resize": "bilinear",
            "pixel_range": [0, 255],
            "augmentation": [{"layer": name, **arguments} for name, arguments in self.augmentation],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> ImagePreprocessing:
        augmentation = tuple(
            (item["layer"], {key: value for key, value in item.items() if key != "layer"})
            for item in data.get("augmentation", ())
        )
        return cls(int(data["image_size"]), int(data["channels"]), int(data["stored_side"]), augmentation)


@dataclass(frozen=True)
class PreparedImages:
    """The split image set: row positions into `pixels` per split, labels encoded as class indices."""

    features: tuple[str, ...]
    target: TargetInfo
    preprocessing: ImagePreprocessing
    pixels: np.ndarray
    manifest: pd.DataFrame
    train_index: np.ndarray
    validation_index: np.ndarray
    test_index: np.ndarray
    y_train: np.ndarray
    y_validation: np.ndarray
    y_test: np.ndarray
    notes: tuple = ()
    cross_validation: Any = None
    group_column: str | None = None
    split_source: str = "random"  # "folders" when the zip's train/ and test/ folders decided the test images
    extra: dict = field(default_factory=dict)

    @property
    def num_features(self) -> int:
        side = self.preprocessing.image_size
        return side * side * self.preprocessing.channels

    @property
    def train(self) -> pd.DataFrame:
        return self.manifest.iloc[self.train_index]

    @property
    def validation(self) -> pd.DataFrame:
        return self.manifest.iloc[self.validation_index]

    @property
    def test(self) -> pd.DataFrame:
        return self.manifest.iloc[self.test_index]

    def images(self, index: np.ndarray) -> np.ndarray:
        """float32 pixels (0..255) of these rows, at the network's size."""
        return batch_pixels(self.pixels, index, self.preprocessing.image_size)


def batch_pixels(pixels: np.ndarray, index: np.ndarray, image_size: int) -> np.ndarray:
    """Read some images from the (memory-mapped) array in disk order, give them back in `index` order,
    resized to `image_size` when they were stored at another size."""
    index = np.asarray(index, dtype="int64")
    order = np.argsort(index, kind="stable")
    block = np.empty((len(index), *pixels.shape[1:]), dtype="uint8")
    block[order] = pixels[index[order]]
    if block.shape[1] != image_size:
        block = _resize(block, image_size)
    return block.astype("float32")


def _resize(block: np.ndarray, side: int) -> np.ndarray:
    resized = np.empty((len(block), side, side, block.shape[-1]), dtype="uint8")
    for position, image in enumerate(block):
        grey = image.shape[-1] == 1
        picture = Image.fromarray(image[..., 0] if grey else image)
        array = np.asarray(picture.resize((side, side), Image.Resampling.BILINEAR))
        resized[position] = array[..., None] if grey else array
    return resized


def prepare_images(source: ImageSource, data_spec, preprocessing_spec) -> PreparedImages:
    manifest = source.manifest.reset_index(drop=True)
    target_name = data_spec.target
    if target_name not in manifest.columns:
        raise DataError(t("kinds.images.no_labels", target=repr(target_name)))
    notes: list = []
    keep = np.ones(len(manifest), dtype=bool)
    if data_spec.drop_duplicates and "sha1" in manifest.columns:
        keep &= ~manifest["sha1"].duplicated(keep="first").to_numpy()
        dropped = int((~keep).sum())
        if dropped:
            notes.append(Message("kinds.images.duplicates_dropped", {"count": dropped}).to_dict())
    labels = manifest[target_name].astype(str).to_numpy()
    classes = tuple(sorted(set(labels[keep]), key=natural_key))
    counts = {name: int(((labels == name) & keep).sum()) for name in classes}
    if len(classes) < 2:
        raise DataError(t("kinds.images.one_class", classes=", ".join(classes) or "-"))
    thin = [name for name, count in counts.items() if count < MIN_IMAGES_PER_CLASS]
    if thin:
        raise DataError(t("kinds.images.too_few", classes=", ".join(thin), minimum=MIN_IMAGES_PER_CLASS))
    task = "binary" if len(classes) == 2 else "multiclass"
    target = TargetInfo(name=target_name, task=task, classes=classes)
    lookup = {name: position for position, name in enumerate(classes)}
    codes = np.array([lookup.get(value, -1) for value in labels], dtype="int32")

    positions = np.flatnonzero(keep)
    split = manifest["split"].astype(str).to_numpy() if "split" in manifest.columns else np.array([""] * len(manifest))
    split_source = "random"
    if (split[positions] == "test").any() and (split[positions] == "train").any():
        split_source = "folders"
        test_index = positions[split[positions] == "test"]
        rest = positions[split[positions] != "test"]
        validation_share = data_spec.validation_fraction / max(1.0 - data_spec.test_fraction, 1e-9)
        kept, held = stratified_positions(codes[rest], validation_share, data_spec.seed)
        train_index, validation_index = rest[kept], rest[held]
        notes.append(Message("kinds.images.split_from_folders", {"test": len(test_index)}).to_dict())
    else:
        kept, held = stratified_positions(codes[positions], data_spec.test_fraction, data_spec.seed)
        test_index = positions[held]
        rest = positions[kept]
        validation_share = data_spec.validation_fraction / max(1.0 - data_spec.test_fraction, 1e-9)
        kept, held = stratified_positions(codes[rest], validation_share, data_spec.seed + 1)
        train_index, validation_index = rest[kept], rest[held]
    if len(validation_index) == 0 or len(test_index) == 0:
        raise DataError(t("kinds.images.too_small_to_split", count=len(positions)))

    plan = None
    if data_spec.cross_validation_folds:
        plan = image_folds(manifest, codes, np.sort(np.concatenate([train_index, validation_index])),
                           data_spec.cross_validation_folds, data_spec.seed)  # fmt: skip
    stored_side = int(source.pixels.shape[1])
    channels = int(source.pixels.shape[-1])
    images_spec = preprocessing_spec.images
    preprocessing = ImagePreprocessing(
        image_size=int(images_spec.image_size or stored_side),
        channels=channels,
        stored_side=stored_side,
        augmentation=images_spec.augmentation.layers(),
    )
    return PreparedImages(
        features=("image",),
        target=target,
        preprocessing=preprocessing,
        pixels=source.pixels,
        manifest=manifest,
        train_index=train_index,
        validation_index=validation_index,
        test_index=test_index,
        y_train=codes[train_index],
        y_validation=codes[validation_index],
        y_test=codes[test_index],
        notes=tuple(notes),
        split_source=split_source,
        cross_validation=plan,
        extra={"codes": codes},
    )


def image_folds(manifest: pd.DataFrame, codes: np.ndarray, rest: np.ndarray, k: int, seed: int) -> CrossValidationPlan:
    """k folds of the images that are not test images, stratified by class (plain k-fold when a class has fewer
    than k images). Positions in the plan are into `rest`, whose manifest rows `plan.rows` keeps."""
    if len(rest) < k:
        raise DataError(t("kinds.images.too_few_for_folds", count=len(rest), folds=k))
    labels = codes[rest]
    if np.bincount(labels).min(initial=k) >= k and len(np.unique(labels)) > 1:
        splitter, method = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed), "StratifiedKFold"
    else:
        splitter, method = KFold(n_splits=k, shuffle=True, random_state=seed), "KFold"
    folds = tuple((train, held) for train, held in splitter.split(np.zeros(len(rest)), labels))
    return CrossValidationPlan(rows=manifest.iloc[rest], folds=folds, method=method)


def image_fold(prepared: PreparedImages, fold: int) -> PreparedImages:
    """Fold `fold`: trained on the other folds, its held-out images both watch early stopping and are scored
    (as a table's fold is); the image preprocessing (rescaling, augmentation) is inside the model, nothing to
    refit."""
    plan = prepared.cross_validation
    rest = plan.rows.index.to_numpy()
    train, held = plan.folds[fold]
    codes = prepared.extra["codes"]
    train_index, held_index = rest[train], rest[held]
    return replace(
        prepared, train_index=train_index, validation_index=held_index, test_index=held_index,
        y_train=codes[train_index], y_validation=codes[held_index], y_test=codes[held_index], cross_validation=None,
    )  # fmt: skip


def image_batches(
    prepared: PreparedImages, index: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool, multiple_of: int = 1
):
    """(pixels, labels) batches of the rows `index`, read from disk a batch at a time (`batch_stream`)."""
    return batch_stream(
        len(index),
        batch_size,
        lambda picked: (prepared.images(index[picked]), y[picked]),
        shuffle=shuffle,
        multiple_of=multiple_of,
    )


def predict_images(network, prepared: PreparedImages, index: np.ndarray) -> np.ndarray:
    outputs = []
    for start in range(0, len(index), PREDICT_BATCH):
        batch = prepared.images(index[start : start + PREDICT_BATCH])
        outputs.append(np.asarray(network.predict_on_batch(batch)))
    if not outputs:
        return np.zeros((0,))
    return np.concatenate(outputs, axis=0)


def pixel_baselines(prepared: PreparedImages, seed: int) -> list[dict]:
    """Majority class and logistic regression on the pixels (shrunk to at most 16×16): what a network
    has to beat to have learned shapes rather than brightness."""
    side = min(BASELINE_SIDE, prepared.preprocessing.stored_side)
    rng = np.random.default_rng(seed)
    train = prepared.train_index
    if len(train) > BASELINE_ROWS:
        train = np.sort(rng.choice(train, BASELINE_ROWS, replace=False))
    y_train = prepared.y_train[np.searchsorted(prepared.train_index, train)]

    def features(index: np.ndarray) -> np.ndarray:
        parts = [
            batch_pixels(prepared.pixels, index[start : start + 2048], side).reshape(
                len(index[start : start + 2048]), -1
            )
            for start in range(0, len(index), 2048)
        ]
        return np.concatenate(parts) / 255.0

    x_train, x_test = features(train), features(prepared.test_index)
    models = {
        "Majority class (dummy)": DummyClassifier(strategy="most_frequent"),
        "Logistic regression": LogisticRegression(max_iter=200),
    }
    return [
        scored_baseline(name, model, x_train, y_train, x_test, prepared.y_test, prepared.target, compute_metrics)
        for name, model in models.items()
    ]


def build_image_serving_model(network, preprocessing: ImagePreprocessing, target: TargetInfo, *, threshold: float):
    """Raw uint8 images (any height and width, `channels` channels) → label and probabilities.
    Built-in Keras layers only: `keras.saving.load_model` reads it in safe mode without LayerLab."""
    import keras  # Keras loads only in workers and helpers, never in the web server
    from keras import layers  # Keras loads only in workers and helpers, never in the web server

    raw = keras.Input(shape=(None, None, preprocessing.channels), dtype="uint8", name="image")
    pixels = layers.Resizing(
        preprocessing.image_size, preprocessing.image_size, interpolation="bilinear", name="resize"
    )(keras.ops.cast(raw, "float32"))
    output = network(pixels, training=False)  # the Random* augmentation layers default to training=True
    # Keyed by name like every LayerLab model: `model({"image": uint8 array})`.
    return keras.Model({"image": raw}, label_outputs(output, target, threshold=threshold), name=SERVING_MODEL_NAME)


class ImagesKind:
    """A zip of class folders (optionally under train/ and test/), stored as a pixel array."""

    name = "images"

    def load(self, store, run_id: str) -> ImageSource:
        pixels = store.pixels(run_id)
        if pixels is None:
            raise DataError(t("kinds.images.pixels_missing"))
        return ImageSource(manifest=store.table(run_id), pixels=pixels)

    def profile(self, source, target: str | None):
        return profile_images(source.manifest, source.pixels)

    def prepare(self, source, data_spec, preprocessing_spec, model_spec=None):
        return prepare_images(source, data_spec, preprocessing_spec)

    def prepare_fold(self, prepared, fold: int, preprocessing_spec):
        return image_fold(prepared, fold)

    def model_input(self, prepared) -> ModelInput:
        side, channels = prepared.preprocessing.image_size, prepared.preprocessing.channels
        return ModelInput(
            num_inputs=side * side * channels,
            input_shape=(side, side, channels),
            input_kind="image",
            stem=prepared.preprocessing.stem(),
        )

    def preview_input(self, source, spec, info: dict | None = None) -> ModelInput:
        info = info or {}
        side = int(spec.preprocessing.images.image_size or info.get("side") or 28)
        channels = int(info.get("channels") or 1)
        preprocessing = ImagePreprocessing(side, channels, side, spec.preprocessing.images.augmentation.layers())
        return ModelInput(side * side * channels, (side, side, channels), "image", stem=preprocessing.stem())

    def fit_arguments(self, prepared, batch_size: int, *, multiple_of: int = 1) -> dict[str, Any]:
        even = {"multiple_of": multiple_of}
        return {
            "x": image_batches(prepared, prepared.train_index, prepared.y_train, batch_size, shuffle=True, **even),
            "validation_data": image_batches(
                prepared, prepared.validation_index, prepared.y_validation, batch_size, shuffle=False, **even
            ),
            "shuffle": False,  # the batches reshuffle themselves every epoch
        }

    def predict(self, network, prepared, split: str) -> np.ndarray:
        return predict_images(network, prepared, getattr(prepared, f"{split}_index"))

    def baselines(self, prepared, seed: int) -> list[dict]:
        return pixel_baselines(prepared, seed)

    def held_out_rows(self, prepared):
        rows = prepared.manifest.iloc[prepared.test_index][["file", prepared.target.name]].copy()
        rows.insert(0, "pixel_row", prepared.test_index.astype("int64"))
        return rows

    def preprocessing_record(self, prepared) -> str:
        return prepared.preprocessing.to_json()

    def serving_model(self, network, prepared_preprocessing, target, *, threshold: float = 0.5):
        return build_image_serving_model(network, prepared_preprocessing, target, threshold=threshold)
