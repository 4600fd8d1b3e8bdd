"""The operations a run needs from a kind of data (`DatasetKind`) and the input part it hands the network."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from core.data.feeding import even_rows


@dataclass(frozen=True, slots=True)
class ModelInput:
    """The input part of the network, as `core.model.building.build_model` takes it.

    `num_inputs`: width of a table's encoded rows (or of a flattened image); `input_shape` replaces
    `(num_inputs,)` for image and token inputs; `input_kind` selects the shape rules and the input dtype;
    `embeddings`: columns of the encoded rows that are category indices with their own learned table.
    `periodic`: columns of the encoded rows (scaled numbers) that also reach the network as periodic features.
    `stem`: built-in Keras layers between the input and the user's layers (image rescaling and augmentation).
    """

    num_inputs: int
    input_shape: tuple[int, ...] | None = None
    input_kind: str = "tabular"
    embeddings: tuple = ()
    stem: tuple = ()  # (Keras layer class name, arguments) applied before the hidden layers: rescaling, augmentation
    periodic: tuple = ()  # number columns that also get periodic features (`PreprocessingState.periodic()`)

    def build_arguments(self) -> dict[str, Any]:
        """Keyword arguments of `build_model` and `describe_model` after (spec, num_inputs, task, num_classes)."""
        arguments: dict[str, Any] = {"embeddings": self.embeddings, "input_kind": self.input_kind}
        if self.input_shape is not None:
            arguments["input_shape"] = self.input_shape
        if self.stem:
            arguments["stem"] = self.stem
        if self.periodic:
            arguments["periodic"] = self.periodic
        return arguments


class DatasetKind(Protocol):
    """One kind of data. Implementations are stateless; everything a run learns lives in the prepared data."""

    name: str  # the `DataSpec.kind` value

    def load(self, store, run_id: str):
        """The run's data as `prepare` and `profile` take it (a table; an image set's manifest and pixels)."""

    def profile(self, source, target: str | None):
        """What the data holds, for the Data page and `layerlab profile` (a `to_dict()`-able profile)."""

    def prepare(self, source, data_spec, preprocessing_spec, model_spec=None):
        """Check the data against the spec, split it (seeded, stratified where it can be), fit preprocessing on
        the training part only and encode every split. `model_spec` is for kinds whose encoding depends on the
        first layer (text: token ids for an Embedding, TF-IDF weights otherwise). Raises `DataError` with what
        the user must fix."""

    def prepare_fold(self, prepared, fold: int, preprocessing_spec):
        """Fold `fold` of a cross-validation, encoded exactly like the main split."""

    def model_input(self, prepared) -> ModelInput:
        """The input part of the network for this prepared data."""

    def preview_input(self, source, spec, info: dict | None = None) -> ModelInput:
        """The input part of the network for `spec` on this data, estimated without Keras and without
        preparing (the Model page's diagram and checks). `info`: what was stored with the data (an image
        set's side and channels)."""

    def fit_arguments(self, prepared, batch_size: int, *, multiple_of: int = 1) -> dict[str, Any]:
        """Keyword arguments for `model.fit` supplying the training and validation batches (memory-bounded),
        each batch a multiple of `multiple_of` rows (data-parallel training on jax)."""

    def predict(self, network, prepared, split: str) -> np.ndarray:
        """The network's outputs for one encoded split ("train", "validation" or "test")."""

    def baselines(self, prepared, seed: int) -> list[dict]:
        """Simple models fitted on the same split ([{"name", "test": {metric: value}, "seconds"}]): what the
        network is judged against."""

    def held_out_rows(self, prepared):
        """The test rows in prediction order, written with the run for the Evaluate page (images: the
        manifest rows with each image's `pixel_row`), or None where they are found again when asked for."""

    def preprocessing_record(self, prepared) -> str:
        """The fitted preprocessing as JSON (the run's preprocessing.json, shipped with every export)."""

    def serving_model(self, network, prepared_preprocessing, target, *, threshold: float = 0.5):
        """The downloadable model: raw inputs in (preprocessing inside), predictions in the user's labels out.
        Builds a Keras graph: call it only in workers and helpers."""


def batch_stream(count: int, batch_size: int, batch, *, shuffle: bool, multiple_of: int = 1):
    """A `keras.utils.PyDataset` of `batch(positions)` for positions 0..count-1 cut into batches, reshuffled every
    epoch from the seeded global random state when `shuffle` (as Keras' own array input does). Kinds whose
    examples are read or vectorized a batch at a time (images from disk, texts) feed `fit` with it. Every batch
    holds a multiple of `multiple_of` rows (`core.data.feeding.even_rows`: data-parallel training on jax)."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    kept = even_rows(count, multiple_of)

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.order = self._order()

        def _order(self) -> np.ndarray:
            if not shuffle:
                return np.arange(kept)
            return np.random.default_rng(np.random.randint(2**31 - 1)).permutation(count)[:kept]

        def __len__(self) -> int:
            return math.ceil(kept / batch_size)

        def __getitem__(self, position: int):
            return batch(self.order[position * batch_size : (position + 1) * batch_size])

        def on_epoch_end(self) -> None:
            self.order = self._order()

    return Batches()


def scored_baseline(name: str, model, x_train, y_train, x_test, y_test, target, score) -> dict:
    """Fit one scikit-learn classifier and score its probabilities like the network's (`score`: a
    `compute_metrics`), with a column for every class of the target, also those it never saw."""
    started = time.monotonic()
    model.fit(x_train, y_train)
    probabilities = np.zeros((x_test.shape[0], len(target.classes)))
    probabilities[:, model.classes_] = model.predict_proba(x_test)
    output = probabilities[:, 1] if target.task == "binary" else probabilities
    return {"name": name, "test": score(target, y_test, output), "seconds": round(time.monotonic() - started, 3)}


def stratified_positions(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) positions: `fraction` of each class held out (at least one where a class has two)."""
    rng = np.random.default_rng(seed)
    kept, held = [], []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        members = members[rng.permutation(len(members))]
        count = int(round(len(members) * fraction))
        if len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        else:
            count = 0
        held.append(members[:count])
        kept.append(members[count:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))
