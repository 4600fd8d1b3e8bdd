"""Big tables are fed to Keras one expanded batch at a time, and nothing about the rows changes.

`EncodedRows` keeps one-hot columns as one integer each; `core.data.feeding` expands them per batch (tf.data
on TensorFlow, a PyDataset elsewhere). These tests pin that every path gives exactly the float32 rows of
`preprocessing.transform`, and that a run trained from batch streams finishes and learns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.feeding import _py_dataset, _tf_dataset, feeds_in_batches, fit_data, predict_rows
from core.data.preprocessing import encode_rows, fit_preprocessing, transform
from core.data.splitting import prepare_data
from core.spec import ColumnSpec, DataSpec, PreprocessingSpec
from tests.conftest import make_binary_frame, train_small_run


def _mixed_frame(rows: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", "teal"], size=rows).astype(object)
    colour[::17] = None
    size = rng.choice(["S", "M", "L"], size=rows).astype(object)
    city = rng.choice([f"city{i}" for i in range(40)], size=rows).astype(object)
    amount = rng.lognormal(size=rows)
    amount[::13] = np.nan
    when = pd.Series(pd.date_range("2024-01-01", periods=rows, freq="7h").astype(str))
    label = np.where(amount > 1.5, "yes", "no")
    return pd.DataFrame({"amount": amount, "colour": colour, "size": size, "city": city, "when": when, "label": label})


def _spec() -> PreprocessingSpec:
    return PreprocessingSpec(
        columns=(
            ColumnSpec(name="amount", missing_indicator=True, scaling="log1p"),
            ColumnSpec(name="colour", missing_indicator=True),  # one-hot + a missing flag
            ColumnSpec(name="size", encoding="ordinal", order=("S", "M", "L")),
            ColumnSpec(name="city", encoding="embedding"),
            ColumnSpec(name="when", kind="datetime"),
        )
    )


def _sorted_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.lexsort(matrix.T[::-1])]


def test_compact_rows_expand_to_the_matrix_of_every_encoding():
    frame = _mixed_frame()
    features = ["amount", "colour", "size", "city", "when"]
    state = fit_preprocessing(frame, features, max_categories=20, spec=_spec())
    encoded = encode_rows(state, frame)
    matrix = transform(state, frame)

    assert matrix.shape == (500, state.num_features) == encoded.shape
    # One integer per one-hot column instead of its 5 slots; everything else stays a float column.
    assert encoded.codes.shape == (500, 1) and encoded.dense.shape[1] == state.num_features - 5
    assert encoded.nbytes < matrix.nbytes
    rows = np.random.default_rng(1).permutation(500)[:123]
    np.testing.assert_array_equal(encoded.expand(rows), matrix[rows])
    np.testing.assert_array_equal(encoded.expand(slice(7, 300)), matrix[7:300])
    # Each row's one-hot block holds exactly one 1 (colour: other, blue, green, red, teal).
    block = matrix[:, 2:7]
    assert np.all(block.sum(axis=1) == 1.0)


def test_hashing_codes_expand_like_the_matrix():
    frame = _mixed_frame()
    spec = PreprocessingSpec(
        columns=(ColumnSpec(name="city", encoding="hashing", num_bins=16, missing_indicator=True),)
    )
    state = fit_preprocessing(frame, ["city"], max_categories=20, spec=spec)
    np.testing.assert_array_equal(encode_rows(state, frame).expand(), transform(state, frame))


@pytest.mark.parametrize("make", [_tf_dataset, _py_dataset], ids=["tf.data", "PyDataset"])
def test_batch_streams_give_exactly_the_expanded_rows(make):
    frame = _mixed_frame(700)
    state = fit_preprocessing(frame, ["amount", "colour", "size", "city", "when"], max_categories=20, spec=_spec())
    encoded = encode_rows(state, frame)
    y = np.arange(700, dtype="int32")  # the row number, to check that x and y stay together
    expected = encoded.expand()

    stream = make(encoded, y, 64, shuffle=False)
    assert len(stream) == 11  # Keras counts the steps of an epoch from this
    in_order = [(np.asarray(x), np.asarray(t)) for x, t in _iterate(stream)]
    assert [len(t) for _, t in in_order] == [64] * 10 + [60]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in in_order]), expected)

    first = [(np.asarray(x), np.asarray(t)) for x, t in _iterate(make(encoded, y, 64, shuffle=True))]
    order = np.concatenate([t for _, t in first])
    assert sorted(order.tolist()) == list(range(700)) and not np.array_equal(order, np.arange(700))
    np.testing.assert_array_equal(np.concatenate([x for x, _ in first]), expected[order])


def _iterate(stream):
    if hasattr(stream, "as_numpy_iterator"):
        return stream.as_numpy_iterator()
    return (stream[i] for i in range(len(stream)))


def test_big_tables_are_fed_in_batches_and_small_ones_as_arrays(monkeypatch):
    prepared = prepare_data(make_binary_frame(400), DataSpec(target="label"), PreprocessingSpec())
    assert not feeds_in_batches(prepared.encoded_train, prepared.encoded_validation)
    assert fit_data(prepared, 32)["x"] is prepared.x_train

    monkeypatch.setenv("LAYERLAB_TRAIN_MATRIX_MB", "0")
    prepared = prepare_data(make_binary_frame(400), DataSpec(target="label"), PreprocessingSpec())
    assert feeds_in_batches(prepared.encoded_train, prepared.encoded_validation)
    kwargs = fit_data(prepared, 32)
    assert "y" not in kwargs and "batch_size" not in kwargs and kwargs["shuffle"] is False
    assert type(kwargs["x"]).__name__.endswith("Dataset")  # tf.data on this TensorFlow backend
    assert "x_train" not in vars(prepared)  # the whole training matrix was never expanded


def test_predict_rows_expands_a_block_at_a_time(monkeypatch):
    import core.data.feeding as feeding

    prepared = prepare_data(_mixed_frame(600), DataSpec(target="label"), _spec())

    class Recorder:
        def __init__(self):
            self.calls = []

        def predict(self, x, batch_size, verbose):
            self.calls.append(len(x))
            return x[:, :1] * 2.0

    monkeypatch.setattr(feeding, "PREDICT_BLOCK_ROWS", 50)
    network = Recorder()
    output = predict_rows(network, prepared.encoded_test)
    rows = len(prepared.encoded_test)
    assert network.calls == [50] * (rows // 50) + [rows % 50]
    np.testing.assert_array_equal(output, prepared.x_test[:, :1] * 2.0)


@pytest.mark.slow
@pytest.mark.filterwarnings("error:Your input ran out of data")
def test_a_run_fed_in_batches_finishes_and_learns(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLAB_TRAIN_MATRIX_MB", "0")
    store, run_id = train_small_run(
        tmp_path / "runs", make_binary_frame(600, seed=4), epochs=8, class_weight="balanced"
    )
    metrics = store.metrics(run_id)
    history = store.history(run_id)
    assert [row["epoch"] for row in history] == list(range(1, 9))
    assert history[-1]["loss"] < history[0]["loss"]
    assert metrics["test"]["accuracy"] > 0.8  # the label is a simple function of x1, x2 and colour
    assert metrics["baselines"]  # baselines score the expanded test rows block by block
