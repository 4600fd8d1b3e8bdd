"""The pre-flight card: the estimate's numbers follow from the spec, and the child process measures real
training steps (positive seconds per epoch) without Keras in this process."""

from __future__ import annotations

import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest

from core.errors import SpecError
from core.model.preflight import (
    Measurement,
    estimate,
    human_bytes,
    human_seconds,
    load_measurement,
    measure_speed,
    measurement_key,
    save_measurement,
)
from core.spec import DataSpec, DenseLayer, DropoutLayer, LSTMLayer, ModelSpec, RunSpec, TrainingSpec


def make_spec(*layers, **training) -> RunSpec:
    return RunSpec(data=DataSpec(target="y"), model=ModelSpec(layers=layers), training=TrainingSpec(**training))


def test_estimate_counts_parameters_bytes_and_memory():
    spec = make_spec(DenseLayer(units=64), DropoutLayer(rate=0.2), DenseLayer(units=32), batch_size=128)
    result = estimate(spec, num_inputs=10, task="binary", train_rows=1000)
    params = 11 * 64 + 65 * 32 + 33
    assert result.num_params == params
    assert result.model_bytes == 4 * params
    # Adam: weights + gradients + 2 moments; activations (10 + 64 + 64 + 32 + 1 per row) and their gradients.
    assert result.memory_bytes == 4 * (params * 4 + 2 * (10 + 64 + 64 + 32 + 1) * 128)
    assert result.steps_per_epoch == 8  # ceil(1000 / 128)
    assert result.warnings == ()


def test_memory_grows_with_the_batch_and_plain_sgd_keeps_no_slots():
    small = estimate(
        make_spec(DenseLayer(units=256), batch_size=32), num_inputs=50, task="regression", train_rows=10**5
    )
    large = estimate(
        make_spec(DenseLayer(units=256), batch_size=4096), num_inputs=50, task="regression", train_rows=10**5
    )
    assert large.memory_bytes > small.memory_bytes
    sgd = estimate(
        make_spec(DenseLayer(units=256), batch_size=32, optimizer="sgd", momentum=0.0),
        num_inputs=50,
        task="regression",
        train_rows=10**5,
    )
    assert sgd.memory_bytes == small.memory_bytes - 4 * 2 * small.num_params


def test_batch_is_capped_by_the_training_rows():
    result = estimate(make_spec(DenseLayer(units=4), batch_size=512), num_inputs=3, task="binary", train_rows=100)
    assert (result.batch_size, result.steps_per_epoch) == (100, 1)


def test_parameter_cap_warning_names_the_limit_and_the_setting():
    spec = make_spec(DenseLayer(units=1024), DenseLayer(units=1024))
    result = estimate(spec, num_inputs=100, task="binary", train_rows=10**6, max_params=500_000)
    assert len(result.warnings) == 1
    assert "500,000" in result.warnings[0] and "LAYERLAB_MAX_PARAMS" in result.warnings[0]


def test_estimate_of_a_stack_that_does_not_fit_raises_the_shape_error():
    with pytest.raises(SpecError, match="needs a sequence input"):
        estimate(make_spec(DenseLayer(units=4), LSTMLayer(units=3)), num_inputs=5, task="binary", train_rows=100)


def test_human_units():
    assert human_bytes(512) == "512 B"
    assert human_bytes(3 * 1024 * 1024) == "3.0 MB"
    assert human_seconds(0.25) == "250 ms"
    assert human_seconds(30) == "30.0 s"
    assert human_seconds(600) == "10.0 min"
    assert human_seconds(4 * 3600) == "4.0 h"


def test_child_process_measures_positive_seconds_per_epoch():
    keras_was_loaded = "keras" in sys.modules
    spec = make_spec(DenseLayer(units=16), DenseLayer(units=8), batch_size=32, epochs=7)
    slot = SimpleNamespace(name="city", position=2, input_dim=20, output_dim=3)
    measured = measure_speed(
        spec, num_inputs=6, task="multiclass", num_classes=3, train_rows=640, validation_rows=100, embeddings=(slot,)
    )
    assert measured.seconds_per_step > 0
    assert measured.steps_per_epoch == 20
    assert measured.seconds_per_epoch >= measured.seconds_per_step * 20
    assert measured.steps_timed >= 10
    assert measured.eta_seconds(7) == pytest.approx(7 * measured.seconds_per_epoch)
    assert measured.device
    assert ("keras" in sys.modules) == keras_was_loaded  # measured in the child, never here


def test_child_reports_a_shape_error_as_a_spec_error():
    spec = make_spec(DenseLayer(units=4), LSTMLayer(units=3))
    with pytest.raises(SpecError, match=r"Layer 2 \(LSTM, 3 units\)"):
        measure_speed(spec, num_inputs=5, task="binary", train_rows=64, validation_rows=8)


def test_measurements_are_cached_per_spec_and_table(tmp_path):
    spec = make_spec(DenseLayer(units=8))
    key = measurement_key(spec, table_key="t1", num_inputs=4, train_rows=100, validation_rows=10)
    assert key == measurement_key(spec, table_key="t1", num_inputs=4, train_rows=100, validation_rows=10)
    assert key != measurement_key(spec, table_key="t2", num_inputs=4, train_rows=100, validation_rows=10)
    wider = make_spec(DenseLayer(units=16))
    assert key != measurement_key(wider, table_key="t1", num_inputs=4, train_rows=100, validation_rows=10)
    epochs_only = spec.model_copy(update={"training": replace_training(spec.training, epochs=99)})
    assert key == measurement_key(epochs_only, table_key="t1", num_inputs=4, train_rows=100, validation_rows=10)
    assert load_measurement(tmp_path, key) is None
    measured = Measurement(0.01, 0.2, 20, 10, 1, "CPU", "tensorflow")
    save_measurement(tmp_path, key, measured)
    assert load_measurement(tmp_path, key) == measured
    (tmp_path / f"{key}.json").write_text("{broken")
    assert load_measurement(tmp_path, key) is None
    assert replace(measured, seconds_per_epoch=1.0).eta_seconds(3) == pytest.approx(3.0)


def replace_training(training: TrainingSpec, **changes) -> TrainingSpec:
    return training.model_copy(update=changes)
