"""A training run, start to finish, through the files a user sees: status, history, metrics, model, predictions."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from core.data.splitting import prepare_data
from core.run_store import FINAL_STATES, RunStore, stored_text
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job
from tests.conftest import make_binary_frame, make_regression_frame

SMALL_MODEL = ModelSpec(layers=(DenseLayer(units=16),))


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def _spec(target: str, *, model: ModelSpec = SMALL_MODEL, data: dict | None = None, **training) -> RunSpec:
    training = {"epochs": 3, "batch_size": 32, **training}
    return RunSpec(data=DataSpec(target=target, **(data or {})), model=model, training=TrainingSpec(**training))


def _train(store: RunStore, frame: pd.DataFrame, spec: RunSpec) -> tuple[str, dict]:
    run_id = store.create_run(spec, frame, source_name="table.csv")
    status = run_job(store, run_id)
    assert status.state in FINAL_STATES
    assert store.status(run_id).state in FINAL_STATES
    return run_id, status


def test_binary_run_writes_everything_the_evaluate_page_needs(store, small_binary_frame):
    run_id, status = _train(store, small_binary_frame, _spec("label"))
    run_dir = store.path(run_id)
    assert status.state == "finished"
    assert status.message.startswith("Finished all 3 epochs")
    assert status.finished_at >= status.started_at

    history = store.history(run_id)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for row in history:
        assert np.isfinite(row["loss"]) and np.isfinite(row["val_loss"])
        assert 0.0 <= row["metric"] <= 1.0
        assert 0.0 <= row["val_metric"] <= 1.0

    metrics = store.metrics(run_id)
    assert metrics["task"] == "binary"
    assert metrics["target"] == "label"
    assert set(metrics["test"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    for name, value in metrics["test"].items():
        assert 0.0 <= value <= 1.0, name
    assert metrics["epochs_run"] == 3
    assert sum(metrics["num_rows"].values()) == len(small_binary_frame)
    assert status.metrics == metrics["test"]

    assert (run_dir / "model.keras").stat().st_size > 0
    assert (run_dir / "network.keras").stat().st_size > 0
    assert store.model_path(run_id) == run_dir / "model.keras"

    predictions = store.predictions(run_id)
    assert list(predictions.columns) == ["actual", "predicted", "prob_no", "prob_yes"]
    assert len(predictions) == metrics["num_rows"]["test"]
    assert set(predictions["actual"]) <= {"no", "yes"}
    np.testing.assert_allclose(predictions[["prob_no", "prob_yes"]].sum(axis=1), 1.0, rtol=1e-6)
    expected = np.where(predictions["prob_yes"] > predictions["prob_no"], "yes", "no")
    assert list(predictions["predicted"]) == list(expected)
    assert metrics["test"]["accuracy"] == pytest.approx((predictions["actual"] == predictions["predicted"]).mean())

    progress = store.progress(run_id)
    assert progress.epoch == 3 and progress.fraction == pytest.approx(1.0)
    assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob(".*.tmp"))


def test_multiclass_run_has_one_probability_per_class(store, small_multiclass_frame):
    run_id, status = _train(store, small_multiclass_frame, _spec("species"))
    assert status.state == "finished"
    predictions = store.predictions(run_id)
    assert list(predictions.columns) == [
        "actual", "predicted", "prob_setosa", "prob_versicolor", "prob_virginica",
    ]  # fmt: skip
    probabilities = predictions.filter(like="prob_").to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_regression_run_learns_an_easy_linear_target(store, small_regression_frame):
    spec = _spec("price", epochs=25, learning_rate=0.02)
    run_id, status = _train(store, small_regression_frame, spec)
    assert status.state == "finished"
    metrics = store.metrics(run_id)
    assert metrics["task"] == "regression"
    assert set(metrics["test"]) == {"mae", "rmse", "r2", "mape"}
    assert metrics["test"]["r2"] > 0.8
    assert 0 < metrics["test"]["mae"] <= metrics["test"]["rmse"]
    predictions = store.predictions(run_id)
    assert list(predictions.columns) == ["actual", "predicted"]
    # Predictions are in dollars, not in standardised units.
    assert predictions["predicted"].mean() == pytest.approx(predictions["actual"].mean(), rel=0.1)
    history = store.history(run_id)
    # The live metric is the MAE in target units too, so it can be compared with the test MAE.
    assert history[-1]["val_metric"] == pytest.approx(metrics["test"]["mae"], rel=1.0)


def test_stop_requested_before_start_ends_stopped_without_training(store, small_binary_frame):
    run_id = store.create_run(_spec("label"), small_binary_frame, source_name="table.csv")
    store.request_stop(run_id)
    status = run_job(store, run_id)
    assert status.state == "stopped"
    assert "before training started" in status.message
    assert store.history(run_id) == []
    assert store.model_path(run_id) is None


@pytest.mark.slow
def test_stop_during_training_ends_quickly_and_keeps_a_downloadable_model(store):
    frame = make_binary_frame(3000, seed=1)
    spec = _spec("label", epochs=200, early_stopping=False)
    run_id = store.create_run(spec, frame, source_name="table.csv")
    run_dir = store.path(run_id)
    requested: dict[str, float] = {}

    def press_stop():
        deadline = time.monotonic() + 60
        while not (run_dir / "history.json").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        requested["at"] = time.monotonic()
        store.request_stop(run_id)

    presser = threading.Thread(target=press_stop, daemon=True)
    presser.start()
    status = run_job(store, run_id)
    ended = time.monotonic()
    presser.join(timeout=5)

    assert status.state == "stopped"
    assert ended - requested["at"] < 2.5
    metrics = store.metrics(run_id)
    assert 1 <= metrics["epochs_run"] < 200
    assert status.message.startswith(f"Stopped by you after {metrics['epochs_run']} of 200 epochs")
    assert len(store.history(run_id)) == metrics["epochs_run"]
    assert store.model_path(run_id) is not None
    assert store.predictions(run_id) is not None
    assert set(metrics["test"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}


def _overfitting_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 20)), columns=[f"f{i}" for i in range(20)])
    frame["y"] = np.where(frame["f0"] + rng.normal(scale=0.8, size=200) > 0, "a", "b")
    return frame


@pytest.mark.slow
def test_early_stopping_keeps_the_weights_of_the_best_epoch(store):
    import keras

    spec = _spec(
        "y",
        model=ModelSpec(layers=(DenseLayer(units=128), DenseLayer(units=128))),
        data={"validation_fraction": 0.2},
        epochs=60,
        batch_size=16,
        learning_rate=0.003,
        patience=3,
    )
    frame = _overfitting_frame()
    run_id, status = _train(store, frame, spec)
    metrics = store.metrics(run_id)
    history = store.history(run_id)
    val_losses = [row["val_loss"] for row in history]
    best_epoch = int(np.argmin(val_losses)) + 1

    assert status.state == "finished"
    assert metrics["epochs_run"] < 60
    assert metrics["best_epoch"] == best_epoch
    assert metrics["epochs_run"] == best_epoch + spec.training.patience
    assert metrics["restored_best_weights"] is True
    assert f"Kept the weights of epoch {best_epoch}" in status.message
    assert status.message.startswith(f"Early stopping ended training after {metrics['epochs_run']} of 60")

    # The saved network really is the best epoch's: its validation loss is the lowest one in the history.
    prepared = prepare_data(frame, spec.data, spec.preprocessing)
    network = keras.saving.load_model(store.path(run_id) / "network.keras")
    output = network.predict(prepared.x_validation, verbose=0)
    loss = float(keras.ops.mean(keras.losses.binary_crossentropy(prepared.y_validation.reshape(-1, 1), output)))
    assert loss == pytest.approx(min(val_losses), abs=1e-4)
    assert loss < val_losses[-1]


@pytest.mark.slow
def test_without_restore_the_last_epoch_is_kept(store):
    import keras

    spec = _spec(
        "y",
        model=ModelSpec(layers=(DenseLayer(units=128), DenseLayer(units=128))),
        data={"validation_fraction": 0.2},
        epochs=60,
        batch_size=16,
        learning_rate=0.003,
        patience=3,
        restore_best_weights=False,
    )
    frame = _overfitting_frame()
    run_id, status = _train(store, frame, spec)
    assert store.metrics(run_id)["restored_best_weights"] is False
    assert "Kept the weights" not in status.message
    prepared = prepare_data(frame, spec.data, spec.preprocessing)
    network = keras.saving.load_model(store.path(run_id) / "network.keras")
    output = network.predict(prepared.x_validation, verbose=0)
    loss = float(keras.ops.mean(keras.losses.binary_crossentropy(prepared.y_validation.reshape(-1, 1), output)))
    assert loss == pytest.approx(store.history(run_id)[-1]["val_loss"], abs=1e-4)


def test_a_data_error_ends_as_failed_with_its_message(store):
    frame = pd.DataFrame({"x": np.arange(40.0), "label": ["yes"] * 40})
    run_id = store.create_run(_spec("label"), frame, source_name="table.csv")
    status = run_job(store, run_id)
    assert status.state == "failed"
    assert "'label'" in status.message
    assert "two different values" in status.message
    assert store.status(run_id).state == "failed"
    assert store.model_path(run_id) is None
    assert not (store.path(run_id) / "log.txt").exists()


def test_an_unknown_target_ends_as_failed_not_as_an_exception(store, small_binary_frame):
    spec = _spec("label")
    run_id = store.create_run(spec, small_binary_frame, source_name="table.csv")
    # The stored table lost its target column (e.g. a hand-edited run folder): still a clean failure.
    (store.path(run_id) / "data.parquet").write_bytes(_parquet(small_binary_frame.drop(columns=["label"])))
    status = run_job(store, run_id)
    assert status.state == "failed"
    assert "'label'" in status.message


def _parquet(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_same_spec_and_seed_give_identical_results(store, small_binary_frame):
    spec = _spec("label", epochs=2)
    first_id, _ = _train(store, small_binary_frame, spec)
    second_id, _ = _train(store, small_binary_frame, spec)
    assert store.metrics(first_id)["test"] == store.metrics(second_id)["test"]
    first_history = [{k: v for k, v in row.items() if k != "seconds"} for row in store.history(first_id)]
    second_history = [{k: v for k, v in row.items() if k != "seconds"} for row in store.history(second_id)]
    assert first_history == second_history
    pd.testing.assert_frame_equal(store.predictions(first_id), store.predictions(second_id))


def test_another_seed_gives_another_split(store, small_binary_frame):
    first_id, _ = _train(store, small_binary_frame, _spec("label", epochs=1))
    second_id, _ = _train(store, small_binary_frame, _spec("label", epochs=1, data={"seed": 7}))
    assert not store.predictions(first_id)["prob_yes"].equals(store.predictions(second_id)["prob_yes"])


def test_status_records_the_run_details(store, small_binary_frame):
    run_id, status = _train(store, small_binary_frame, _spec("label", epochs=1))
    assert status.extra["num_params"] == store.metrics(run_id)["num_params"]
    assert status.extra["steps_per_execution"] >= 1
    assert "backend" in status.device
    assert status.extra["notes"] == []


def test_notes_from_the_data_reach_the_status(store, small_binary_frame):
    frame = small_binary_frame.copy()
    frame["blank"] = np.nan
    frame.loc[:4, "label"] = None
    run_id, status = _train(store, frame, _spec("label", epochs=1))
    assert status.state == "finished"
    notes = [stored_text(note) for note in store.metrics(run_id)["notes"]]  # kept as messages, read here
    assert any("5 rows without a target value" in note for note in notes)
    assert any("blank" in note for note in notes)
    assert status.extra["notes"] == store.metrics(run_id)["notes"] and status.notes == notes


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_run_that_diverges_at_once_says_to_lower_the_learning_rate(store, task):
    frame, target = (make_binary_frame(), "label") if task == "binary" else (make_regression_frame(), "price")
    spec = _spec(
        target,
        model=ModelSpec(layers=(DenseLayer(units=64), DenseLayer(units=64))),
        optimizer="sgd",
        learning_rate=10.0,
        momentum=0.9,
        batch_size=16,
    )
    run_id = store.create_run(spec, frame, source_name="table.csv")
    status = run_job(store, run_id)
    assert status.state in FINAL_STATES
    assert "diverged" in status.message
    assert "Lower the learning rate" in status.message


def test_column_names_with_spaces_and_unicode_train_and_export(store, small_binary_frame):
    frame = small_binary_frame.rename(columns={"x1": "Größe in m²", "colour": "favourite colour", "x2": "x:2"})
    run_id, status = _train(store, frame, _spec("label", epochs=1))
    assert status.state == "finished"
    assert store.model_path(run_id) is not None


def test_a_column_name_with_a_slash_trains_exports_and_predicts(store, small_binary_frame):
    from core.deployment.serving_model import load_model_file, predict_table

    frame = small_binary_frame.rename(columns={"x1": "speed (km/h)"})
    run_id, status = _train(store, frame, _spec("label", epochs=1))
    assert status.state == "finished"
    model = load_model_file(store.model_path(run_id))
    result = predict_table(model, frame.drop(columns=["label"]).head(5))
    assert list(result.columns) == ["speed (km/h)", "x2", "noise", "colour", "prediction", "prob_no", "prob_yes"]


@pytest.mark.parametrize("column", ["features", "network", "label_lookup"])
def test_a_column_named_like_an_internal_layer_can_be_exported(store, small_binary_frame, column):
    frame = small_binary_frame.rename(columns={"x1": column})
    run_id = store.create_run(_spec("label", epochs=1), frame, source_name="table.csv")
    status = run_job(store, run_id)
    assert status.state == "finished"
    assert store.model_path(run_id) is not None


def test_a_run_that_diverges_later_stops_and_keeps_its_best_weights(store):
    """A warm-up to an absurd learning rate: the loss explodes in a later epoch; the run stays usable."""
    from core.spec import ScheduleSpec

    spec = _spec(
        "price",
        optimizer="sgd",
        learning_rate=10.0,
        epochs=20,
        early_stopping=False,
        schedule=ScheduleSpec(kind="cosine", warmup_epochs=20),
    )
    run_id, status = _train(store, make_regression_frame(), spec)
    history = store.history(run_id)
    assert len(history) < 20  # stopped at the explosion, not after all epochs
    assert status.diverged is True
    assert "diverged" in status.message and "Kept the weights of epoch" in status.message
    metrics = store.metrics(run_id)
    assert metrics["restored_best_weights"] is True
    assert np.isfinite(store.predictions(run_id)["predicted"]).all()
    assert metrics["test"]["r2"] > 0.5  # the kept weights still predict


def test_the_progress_callback_keeps_asynchronous_dispatch_on_jax(tmp_path):
    """On JAX, Keras dispatches steps asynchronously only if every callback's batch hook is async-safe."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import keras; from pathlib import Path; from core.run_store import RunStore; "
        "from core.spec import DataSpec, RunSpec; from core.training.run_job import make_live_callback; "
        f"store = RunStore(Path({str(tmp_path)!r})); "
        "import pandas as pd; run = store.create_run(RunSpec(data=DataSpec(target='y')), "
        "pd.DataFrame({'x': [1.0, 2.0], 'y': [0, 1]}), source_name='t'); "
        "live = make_live_callback(store, run, steps_per_epoch=1, epochs=1, metric_scale=1.0); "
        "print(keras.backend.backend(), keras.callbacks.CallbackList([live, keras.callbacks.EarlyStopping()])"
        "._async_train)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert completed.stdout.split()[-2:] == ["jax", "True"], completed.stderr[-2000:]
