"""Feed encoded rows to Keras: whole matrices for small tables, one expanded batch at a time for big ones.

`core.data.preprocessing.EncodedRows` keeps one-hot columns as one integer each. Expanded, a 700,000-row training
split with 224 inputs is a 630 MB float32 matrix, and Keras' array input copies it once more into the
backend. Above `LAYERLAB_TRAIN_MATRIX_MB` (default 256) of expanded training + validation rows, `fit_data`
returns batch streams instead, which expand each batch just before the network sees it:

* on TensorFlow, a `tf.data` pipeline (a permutation of the row positions per epoch → batches → gather →
  one-hot scatter, in the graph, in parallel with training; TF-only, so it lives in `_tf_dataset`);
* on other backends (jax, torch), a `keras.utils.PyDataset` that expands batches in numpy.

Both reshuffle the training rows every epoch from the seeded global random state, as Keras' own array
input does, and give exactly the rows `EncodedRows.expand` gives. With `multiple_of` > 1 (data-parallel
training on jax, `core.runtime.distribution`), every batch holds a multiple of that many rows: an epoch
leaves out `count % multiple_of` rows (other ones each epoch when shuffled; arrays lose their last few). Predictions go through `predict_rows`,
which expands a block of rows at a time.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from core.data.preprocessing import EncodedRows
from core.errors import AppError
from core.i18n import t

TRAIN_MATRIX_ENV = "LAYERLAB_TRAIN_MATRIX_MB"
DEFAULT_TRAIN_MATRIX_MB = 256
PREDICT_BLOCK_ROWS = 65_536


def train_matrix_limit_mb() -> int:
    raw = os.environ.get(TRAIN_MATRIX_ENV, "").strip()
    if not raw:
        return DEFAULT_TRAIN_MATRIX_MB
    try:
        value = int(raw)
    except ValueError:
        raise AppError(
            t("data.feeding.bad_limit", variable=TRAIN_MATRIX_ENV, value=repr(raw), default=DEFAULT_TRAIN_MATRIX_MB)
        ) from None
    return max(value, 0)


def feeds_in_batches(train: EncodedRows, validation: EncodedRows) -> bool:
    """True when the expanded training and validation matrices together would pass the limit."""
    return (train.expanded_nbytes + validation.expanded_nbytes) > train_matrix_limit_mb() * 2**20


def even_rows(count: int, multiple_of: int = 1) -> int:
    """How many of `count` rows an epoch uses when every batch must hold a multiple of `multiple_of` rows."""
    return count - count % max(multiple_of, 1)


def fit_data(data, batch_size: int, *, multiple_of: int = 1) -> dict[str, Any]:
    """Keyword arguments for `model.fit` that supply the training and validation rows of `data`
    (a `core.data.splitting.PreparedData`): arrays for small tables, batch streams for big ones."""
    train, validation = data.encoded_train, data.encoded_validation
    if not feeds_in_batches(train, validation):
        x, y, x_validation, y_validation = data.x_train, data.y_train, data.x_validation, data.y_validation
        if multiple_of > 1:  # the split is already in random order: its last few rows are a random few
            kept, kept_validation = even_rows(len(train), multiple_of), even_rows(len(validation), multiple_of)
            x, y, x_validation, y_validation = (
                x[:kept],
                y[:kept],
                x_validation[:kept_validation],
                y_validation[:kept_validation],
            )
        return {
            "x": x,
            "y": y,
            "validation_data": (x_validation, y_validation),
            "batch_size": batch_size,
            "shuffle": True,
        }
    return {
        "x": batches(train, data.y_train, batch_size, shuffle=True, multiple_of=multiple_of),
        "validation_data": batches(validation, data.y_validation, batch_size, shuffle=False, multiple_of=multiple_of),
        "shuffle": False,  # the stream reshuffles its rows every epoch itself
    }


def batches(rows: EncodedRows, y: np.ndarray, batch_size: int, *, shuffle: bool, multiple_of: int = 1):
    """(x, y) batches of `rows` expanded: a `tf.data.Dataset` on TensorFlow, else a `PyDataset`."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    if keras.backend.backend() == "tensorflow":
        return _tf_dataset(rows, y, batch_size, shuffle=shuffle, multiple_of=multiple_of)
    return _py_dataset(rows, y, batch_size, shuffle=shuffle, multiple_of=multiple_of)


def predict_rows(network, rows: EncodedRows, *, batch_size: int = 4096) -> np.ndarray:
    """`network.predict` on the expanded rows, expanding `PREDICT_BLOCK_ROWS` rows at a time."""
    outputs = [
        np.asarray(
            network.predict(rows.expand(slice(start, start + PREDICT_BLOCK_ROWS)), batch_size=batch_size, verbose=0)
        )
        for start in range(0, len(rows), PREDICT_BLOCK_ROWS)
    ]
    return np.concatenate(outputs, axis=0)


def _tf_dataset(rows: EncodedRows, y: np.ndarray, batch_size: int, *, shuffle: bool, multiple_of: int = 1):
    """TensorFlow only: a fresh permutation of the row positions each epoch, cut into batches; each batch
    gathers its compact rows and expands them in the graph.

    The expansion is exact: dense values are gathered into their matrix columns (no arithmetic on them)
    and each row's one-hot codes are scattered as 1.0 into zeros (distinct columns per row)."""
    import tensorflow as tf  # TensorFlow loads only in workers and helpers, never in the web server

    dense = tf.constant(rows.dense)
    codes = tf.constant(rows.codes.astype("int64"))
    targets = tf.constant(y)
    width = rows.width
    count = len(rows)
    kept = even_rows(count, multiple_of)
    num_batches = math.ceil(kept / batch_size)
    # Matrix column j takes dense column source[j]; one-hot columns take the extra zero column at the end.
    source = np.full(width, rows.dense.shape[1], dtype="int32")
    source[rows.dense_positions] = np.arange(rows.dense.shape[1], dtype="int32")
    source = tf.constant(source)
    has_codes = rows.codes.shape[1] > 0

    def order(_):
        positions = tf.range(count, dtype=tf.int64)
        return (tf.random.shuffle(positions) if shuffle else positions)[:kept]

    def batches_of(positions):
        return tf.data.Dataset.range(num_batches).map(lambda i: positions[i * batch_size : (i + 1) * batch_size])

    def expand(positions):
        picked = tf.gather(dense, positions)
        padded = tf.concat([picked, tf.zeros_like(picked[:, :1])], axis=1)
        matrix = tf.gather(padded, source, axis=1)
        if has_codes:
            hot_columns = tf.gather(codes, positions)
            size = tf.shape(hot_columns, out_type=tf.int64)[0]
            flat = tf.reshape(tf.range(size)[:, None] * width + hot_columns, [-1, 1])
            ones = tf.ones([tf.size(hot_columns)], dtype=tf.float32)
            matrix += tf.reshape(tf.scatter_nd(flat, ones, tf.reshape(size * width, [1])), [-1, width])
        return matrix, tf.gather(targets, positions)

    dataset = tf.data.Dataset.from_tensors(0).map(order).flat_map(batches_of)
    # flat_map hides the number of batches; Keras needs it to count steps (and not warn at each epoch's end).
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    return dataset.map(expand, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _py_dataset(rows: EncodedRows, y: np.ndarray, batch_size: int, *, shuffle: bool, multiple_of: int = 1):
    import keras  # Keras loads only in workers and helpers, never in the web server

    kept = even_rows(len(rows), multiple_of)

    class EncodedBatches(keras.utils.PyDataset):
        """Batches of `rows` expanded in numpy; reshuffled at the end of every epoch when `shuffle`."""

        def __init__(self):
            super().__init__()
            self.order = self._order()

        def _order(self) -> np.ndarray:
            if not shuffle:
                return np.arange(kept)
            return np.random.default_rng(np.random.randint(2**31 - 1)).permutation(len(rows))[:kept]

        def __len__(self) -> int:
            return math.ceil(kept / batch_size)

        def __getitem__(self, index: int):
            picked = self.order[index * batch_size : (index + 1) * batch_size]
            return rows.expand(picked), y[picked]

        def on_epoch_end(self) -> None:
            self.order = self._order()

    return EncodedBatches()
