"""Issue 17, MLflow: with LAYERLAB_MLFLOW_TRACKING_URI set, a run logs its spec, per-epoch metrics, test metrics
and model to MLflow (a local file store here, which the test creates and reads back with MLflow's own client);
a continued run logs its new epochs into the same MLflow run, and a tracker that fails never fails the run."""

from __future__ import annotations

import pytest

from core.training.run_job import request_resume, run_job
from tests.conftest import make_binary_frame, train_small_run

mlflow = pytest.importorskip("mlflow", reason="the [mlflow] extra (make test installs it)")
pytestmark = pytest.mark.slow


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


@pytest.mark.parametrize("store_kind", ["sqlite", "folder"])
def test_a_run_logs_its_spec_epochs_test_metrics_and_model(tmp_path, monkeypatch, store_kind):
    """MLflow's recommended local store (SQLite, artifacts in a folder beside it) and its older folder store."""
    monkeypatch.chdir(tmp_path)  # where a local store keeps the artifacts (./mlruns, ./mlartifacts)
    if store_kind == "sqlite":
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    else:
        uri = (tmp_path / "mlruns").as_uri()
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the folder store behind this switch
    monkeypatch.setenv("LAYERLAB_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("LAYERLAB_MLFLOW_EXPERIMENT", "class project")
    store, run_id = train_small_run(tmp_path / "runs", make_binary_frame(160), epochs=3, early_stopping=False)

    client = _client(uri)
    experiment = client.get_experiment_by_name("class project")
    [tracked] = client.search_runs([experiment.experiment_id])
    assert tracked.info.run_id == store.meta(run_id)["mlflow_run_id"]
    assert tracked.info.status == "FINISHED"
    assert tracked.data.tags["layerlab.run_id"] == run_id
    params = tracked.data.params
    assert params["training.learning_rate"] == "0.02" and params["data.target"] == "label"
    assert params["model.layer_1"].startswith("kind=dense, units=8")
    losses = client.get_metric_history(tracked.info.run_id, "val_loss")
    assert [point.step for point in losses] == [1, 2, 3]
    assert [point.value for point in losses] == pytest.approx([row["val_loss"] for row in store.history(run_id)])
    assert tracked.data.metrics["test_accuracy"] == pytest.approx(store.metrics(run_id)["test"]["accuracy"])
    artifacts = {item.path for item in client.list_artifacts(tracked.info.run_id, "model")}
    assert "model/network.keras" in artifacts
    assert "spec.json" in {item.path for item in client.list_artifacts(tracked.info.run_id)}

    # Two more epochs: the same MLflow run, the new epochs only.
    request_resume(store, run_id, 2)
    run_job(store, run_id)
    [again] = client.search_runs([experiment.experiment_id])
    assert again.info.run_id == tracked.info.run_id
    assert [p.step for p in client.get_metric_history(tracked.info.run_id, "val_loss")] == [1, 2, 3, 4, 5]


def test_a_tracker_that_fails_leaves_the_run_finished_with_a_note(tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the store should be")
    monkeypatch.setenv("LAYERLAB_MLFLOW_TRACKING_URI", f"sqlite:///{blocked / 'mlflow.db'}")
    store, run_id = train_small_run(tmp_path / "runs", make_binary_frame(80), epochs=1)
    status = store.status(run_id)
    assert status.state == "finished"
    assert any(isinstance(note, dict) and note.get("id") == "train.note.mlflow_failed"
               for note in status.extra["notes"])  # fmt: skip
    assert store.metrics(run_id)["test"]


def test_without_a_tracking_uri_nothing_is_logged(tmp_path, monkeypatch):
    monkeypatch.delenv("LAYERLAB_MLFLOW_TRACKING_URI", raising=False)
    store, run_id = train_small_run(tmp_path / "runs", make_binary_frame(80), epochs=1)
    assert "mlflow_run_id" not in store.meta(run_id)
