"""Continue a finished or stopped run for N more epochs: same run, optimizer state kept, curves continued."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import TrainingError
from core.model.optimization import preview_learning_rates
from core.run_store import RunStore
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, ScheduleSpec, TrainingSpec
from core.training.run_job import request_resume, resume_problem, run_job
from tests.conftest import make_binary_frame

TRAINING = TrainingSpec(
    optimizer="adam", learning_rate=0.02, epochs=3, batch_size=32, early_stopping=False,
    schedule=ScheduleSpec(kind="step", decay_rate=0.5, decay_epochs=2),
)  # fmt: skip


def _spec(**data) -> RunSpec:
    return RunSpec(
        data=DataSpec(target="label", **data), model=ModelSpec(layers=(DenseLayer(units=8),)), training=TRAINING
    )


@pytest.fixture
def finished_run(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(_spec(), make_binary_frame(200), source_name="t.csv")
    assert run_job(store, run_id).state == "finished"
    return store, run_id


def test_a_finished_run_continues_with_its_optimizer_state_and_history(finished_run):
    store, run_id = finished_run
    before = store.history(run_id)
    first = store.metrics(run_id)
    steps_per_epoch = first["optimizer_iterations"] // 3
    assert json.loads((store.path(run_id) / "checkpoint.json").read_text())["epochs"] == 3
    assert store.status(run_id).precision == "float32"  # no GPU here: mixed precision is a no-op

    # A new store object on the same folder: all a restarted server has is the disk.
    store = RunStore(store.root)
    request_resume(store, run_id, 2)
    status = run_job(store, run_id)

    assert status.state == "finished"
    assert status.message.startswith("Continued from epoch 3. Finished all 5 epochs.")
    history = store.history(run_id)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5]
    assert history[:3] == before  # the curves continue where they stopped
    metrics = store.metrics(run_id)
    assert metrics["epochs_run"] == 5
    assert metrics["optimizer_iterations"] == 5 * steps_per_epoch  # Adam's step count went on, not restarted
    assert metrics["continued"][0]["from_epoch"] == 3 and metrics["continued"][0]["to_epoch"] == 5
    # The schedule continued too: epochs 4 and 5 ran at the rates of a 5-epoch run of the same spec.
    expected = preview_learning_rates(TRAINING, steps_per_epoch=steps_per_epoch, epochs=5)
    np.testing.assert_allclose([row["learning_rate"] for row in history], expected, rtol=1e-6)
    assert (store.path(run_id) / "model.keras").exists()  # re-exported
    assert not (store.path(run_id) / "resume.json").exists()

    request_resume(store, run_id, 1)  # and again
    assert run_job(store, run_id).state == "finished"
    assert len(store.history(run_id)) == 6
    assert len(store.metrics(run_id)["continued"]) == 2


def test_runs_that_cannot_continue_say_why(tmp_path):
    store = RunStore(tmp_path / "runs")
    untrained = store.create_run(_spec(), make_binary_frame(200), source_name="t.csv")
    with pytest.raises(TrainingError, match="1 to 10000 more epochs"):
        request_resume(store, untrained, 0)
    with pytest.raises(TrainingError, match="Only a finished or stopped run can continue"):
        request_resume(store, untrained, 2)
    store.set_status(untrained, "stopped", "Stopped before training started.")
    with pytest.raises(TrainingError, match="no checkpoint"):
        request_resume(store, untrained, 2)

    cross_validated = store.create_run(_spec(cross_validation_folds=3), make_binary_frame(200), source_name="t.csv")
    store.set_status(cross_validated, "finished", "done")
    assert "cross-validation" in resume_problem(store, cross_validated)


def test_mixed_precision_runs_on_a_gpu_and_continues_with_its_loss_scale_state(tmp_path, monkeypatch):
    """With a GPU (pretended here: float16 also runs on a CPU) the hidden layers compute in float16, the output
    layer in float32, and a continued run restores the loss-scaled optimizer instead of starting it over."""
    import keras

    import core.training.run_job

    monkeypatch.setattr(core.training.run_job, "describe_device", lambda **_: "GPU: pretend (test)")
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(_spec(), make_binary_frame(200), source_name="t.csv")
    status = run_job(store, run_id)
    assert status.precision == "mixed_float16"
    checkpoint = keras.saving.load_model(store.path(run_id) / "checkpoint.keras", compile=False)
    assert checkpoint.get_layer("output").dtype_policy.name == "float32"
    assert checkpoint.get_layer("hidden_1_dense").dtype_policy.name == "mixed_float16"
    first = store.metrics(run_id)["optimizer_iterations"]

    request_resume(store, run_id, 1)
    assert run_job(store, run_id).state == "finished"
    metrics = store.metrics(run_id)
    assert metrics["precision"] == "mixed_float16"
    assert metrics["optimizer_iterations"] == first // 3 * 4
    assert np.isfinite(store.predictions(run_id)["prob_yes"]).all()


def test_a_cosine_schedule_that_reached_zero_cannot_continue(tmp_path):
    store = RunStore(tmp_path / "runs")
    spec = _spec().model_copy(
        update={"training": TRAINING.model_copy(update={"schedule": ScheduleSpec(kind="cosine")})}
    )
    run_id = store.create_run(spec, make_binary_frame(200), source_name="t.csv")
    store.set_status(run_id, "finished", "done")
    for name in ("checkpoint.keras", "checkpoint.json"):
        (store.path(run_id) / name).write_text("{}")
    assert "brought the learning rate down to 0" in resume_problem(store, run_id)


def test_epochs_are_checkpointed_so_a_run_whose_process_died_can_continue(tmp_path, monkeypatch):
    import core.training.run_job as training

    saved: list[int] = []
    original = training._save_checkpoint

    def recording(network, run_dir, epochs_run, precision):
        saved.append(epochs_run)
        original(network, run_dir, epochs_run, precision)

    monkeypatch.setattr(training, "_save_checkpoint", recording)
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(_spec(), make_binary_frame(200), source_name="t.csv")
    run_job(store, run_id)
    assert saved[0] == 1 and saved[-1] == 3  # after the first epoch (cheap here), and at the end

    # What the store records when the worker dies or the server restarts mid-run:
    store.set_status(run_id, "failed", "The training process ended unexpectedly.")
    request_resume(store, run_id, 1)
    status = run_job(store, run_id)
    assert status.state == "finished"
    assert status.message.startswith("Continued from epoch 3.")
    assert len(store.history(run_id)) == 4


def test_a_continued_run_keeps_the_decision_threshold_the_user_saved(finished_run):
    from core.deployment.threshold import save_threshold
    from core.deployment.upload_check import model_threshold

    store, run_id = finished_run
    save_threshold(store.path(run_id), 0.8)
    request_resume(store, run_id, 1)
    assert run_job(store, run_id).state == "finished"
    assert model_threshold(store.path(run_id) / "model.keras") == pytest.approx(0.8)
