"""Optimizers, schedules and clipping reach Keras; the numpy preview is the curve training really follows."""

from __future__ import annotations

import numpy as np
import pytest

from core.model.building import choose_steps_per_execution, make_optimizer
from core.model.optimization import describe_schedule, learning_rate_at_steps, preview_learning_rates
from core.run_store import RunStore
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, ScheduleSpec, TrainingSpec, parse_spec
from core.training.run_job import run_job
from tests.conftest import make_binary_frame

SCHEDULES = [
    ScheduleSpec(kind="constant"),
    ScheduleSpec(kind="step", decay_rate=0.5, decay_epochs=2),
    ScheduleSpec(kind="exponential", decay_rate=0.3, decay_epochs=3),
    ScheduleSpec(kind="cosine", alpha=0.1),
    ScheduleSpec(kind="cosine", warmup_epochs=2, alpha=0.0),
]


@pytest.mark.parametrize(
    ("optimizer", "class_name"),
    [("adam", "Adam"), ("adamw", "AdamW"), ("sgd", "SGD"), ("rmsprop", "RMSprop"), ("adagrad", "Adagrad"),
     ("nadam", "Nadam")],
)  # fmt: skip
def test_every_optimizer_reaches_keras_with_its_rate_and_clipping(optimizer, class_name):
    built = make_optimizer(TrainingSpec(optimizer=optimizer, learning_rate=0.02, clipnorm=1.5))
    assert type(built).__name__ == class_name
    assert float(built.learning_rate) == pytest.approx(0.02)
    assert built.clipnorm == pytest.approx(1.5)


def test_sgd_gets_nesterov_momentum_and_clipvalue():
    built = make_optimizer(TrainingSpec(optimizer="sgd", momentum=0.8, nesterov=True, clipvalue=0.5))
    assert built.nesterov is True
    assert built.momentum == pytest.approx(0.8)
    assert built.clipvalue == pytest.approx(0.5)


def test_clipnorm_and_clipvalue_together_are_refused_with_a_fix():
    with pytest.raises(Exception, match="either clipnorm or clipvalue"):
        TrainingSpec(clipnorm=1.0, clipvalue=1.0)


def test_an_old_spec_without_schedule_fields_still_parses_as_constant():
    spec = parse_spec({"data": {"target": "y"}, "training": {"optimizer": "sgd", "learning_rate": 0.1}})
    assert spec.training.schedule.kind == "constant"
    assert spec.training.clipnorm is None and spec.training.nesterov is False


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: f"{s.kind}-{s.warmup_epochs}")
def test_the_numpy_preview_equals_the_keras_schedule_at_every_step(schedule):
    training = TrainingSpec(learning_rate=0.05, epochs=8, schedule=schedule)
    steps_per_epoch = 7
    built = make_optimizer(training, steps_per_epoch=steps_per_epoch, epochs=training.epochs)
    steps = np.arange(0, training.epochs * steps_per_epoch + 10)
    expected = learning_rate_at_steps(training, steps, steps_per_epoch=steps_per_epoch, epochs=training.epochs)
    schedule_fn = built._learning_rate  # the LearningRateSchedule, or a variable for a constant rate
    if callable(schedule_fn):
        keras_values = [float(schedule_fn(step)) for step in steps]
    else:
        keras_values = [float(built.learning_rate)] * len(steps)
    np.testing.assert_allclose(keras_values, expected, rtol=1e-5, atol=1e-9)


def test_preview_shapes_match_what_the_page_promises():
    step = TrainingSpec(learning_rate=0.1, epochs=6, schedule=ScheduleSpec(kind="step", decay_epochs=2))
    np.testing.assert_allclose(preview_learning_rates(step, steps_per_epoch=5), [0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    cosine = TrainingSpec(learning_rate=0.1, epochs=10, schedule=ScheduleSpec(kind="cosine", warmup_epochs=2))
    curve = preview_learning_rates(cosine, steps_per_epoch=4)
    assert curve[0] == 0.0 and curve[2] == pytest.approx(0.1)  # warm-up from 0, then the peak
    assert np.all(np.diff(curve[2:]) < 0)  # then only down
    assert "warm" in describe_schedule(cosine).lower() or "Rises" in describe_schedule(cosine)


def test_steps_per_execution_fuses_more_on_a_gpu_for_the_textbook_mlp():
    num_params = 100 * 64 + 64 + 64 * 64 + 64 + 65
    cpu = choose_steps_per_execution(num_params, 32, 1000, "jax")
    gpu = choose_steps_per_execution(num_params, 32, 1000, "jax", device="GPU: NVIDIA H200")
    assert cpu <= 32 < gpu <= 128
    assert choose_steps_per_execution(num_params, 32, 1000, "torch", device="GPU: x") == 1
    assert choose_steps_per_execution(num_params, 32, 5, "jax", device="GPU: x") == 5


def test_the_logged_learning_rate_equals_the_preview(tmp_path):
    """Train with step decay and read history.json: the rate each epoch used is the one drawn beforehand."""
    store = RunStore(tmp_path / "runs")
    training = TrainingSpec(
        optimizer="sgd", learning_rate=0.08, epochs=5, batch_size=32, early_stopping=False,
        schedule=ScheduleSpec(kind="step", decay_rate=0.5, decay_epochs=2),
    )  # fmt: skip
    spec = RunSpec(data=DataSpec(target="label"), model=ModelSpec(layers=(DenseLayer(units=8),)), training=training)
    run_id = store.create_run(spec, make_binary_frame(200), source_name="t.csv")
    assert run_job(store, run_id).state == "finished"
    logged = [row["learning_rate"] for row in store.history(run_id)]
    metrics = store.metrics(run_id)
    steps_per_epoch = metrics["optimizer_iterations"] // 5
    np.testing.assert_allclose(logged, preview_learning_rates(training, steps_per_epoch=steps_per_epoch), rtol=1e-6)
    assert logged == pytest.approx([0.08, 0.08, 0.04, 0.04, 0.02])
    assert metrics["precision"] == "float32"  # no GPU here: mixed precision is a no-op


def test_reduce_on_plateau_halves_the_logged_rate_when_validation_stalls(tmp_path):
    """A rate so small the validation loss cannot improve by Keras's min_delta: each stalled epoch halves it."""
    store = RunStore(tmp_path / "runs")
    training = TrainingSpec(
        learning_rate=1e-5, epochs=4, batch_size=64, early_stopping=False,
        schedule=ScheduleSpec(kind="reduce_on_plateau", decay_rate=0.5, patience=1, min_learning_rate=0.0),
    )  # fmt: skip
    spec = RunSpec(data=DataSpec(target="label"), model=ModelSpec(layers=(DenseLayer(units=4),)), training=training)
    run_id = store.create_run(spec, make_binary_frame(200), source_name="t.csv")
    assert run_job(store, run_id).state == "finished"
    logged = [row["learning_rate"] for row in store.history(run_id)]
    np.testing.assert_allclose(logged, [1e-5, 1e-5, 5e-6, 2.5e-6], rtol=1e-5)


def test_small_batches_on_a_gpu_get_a_note_and_nothing_else_does():
    from core.model.optimization import gpu_batch_size_note

    note = str(gpu_batch_size_note("GPU: NVIDIA H200 (jax backend)", 32, 500_000))  # a Message, kept in the run
    assert "batch size of 1024 or more" in note and "500,000" in note
    assert gpu_batch_size_note("CPU (tensorflow backend)", 32, 500_000) is None
    assert gpu_batch_size_note("GPU: NVIDIA H200 (jax backend)", 2048, 500_000) is None
    assert gpu_batch_size_note("GPU: NVIDIA H200 (jax backend)", 32, 5_000) is None  # too small to matter
