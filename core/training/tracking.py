"""MLflow, optional: with `LAYERLAB_MLFLOW_TRACKING_URI` set, every run is also logged to the team's tracker.

After each job of a run (training, continuing, scoring a search trial on its test rows) the worker logs what is
new: on the first job the spec (as parameters, and whole as `spec.json`), then the epochs not logged yet (loss,
validation loss, metric, validation metric, learning rate, with the epoch as MLflow's step), the test metrics
(`test_<name>`, once computed: a search trial's are held back until it is chosen) and the model files
(`model/`). The MLflow run's id is kept in the run's meta.json, so a continued run logs into the same MLflow run.

A tracker that cannot be reached never fails a trained run: the run gets a note saying so, and the server log
the reason. MLflow is an optional extra (`pip install .[mlflow]`), imported only by a worker that logs.
"""

from __future__ import annotations

import logging
import math
import time

from core.config import Settings, load_settings
from core.i18n import Message
from core.run_store import RunFiles, RunStore

_LOG = logging.getLogger(__name__)
HISTORY_KEYS = ("loss", "val_loss", "metric", "val_metric", "learning_rate")
MLFLOW_STATUS = {"finished": "FINISHED", "stopped": "KILLED", "failed": "FAILED"}
MAX_PARAM_CHARS = 6000  # MLflow's limit on a parameter's value
BATCH = 900  # MLflow takes at most 1,000 metrics and 100 parameters per call
PARAM_BATCH = 100


def log_to_mlflow(store: RunStore, run_id: str, settings: Settings | None = None) -> Message | None:
    """Log what is new of this run to MLflow when a tracking URI is configured; a note when that failed."""
    settings = settings or load_settings()
    if not settings.mlflow_tracking_uri:
        return None
    try:
        import mlflow  # noqa: F401 - the optional extra, loaded only in a worker that logs (module docstring)
    except ImportError:
        return Message("train.note.mlflow_missing")
    try:
        _log(store, run_id, settings)
    except Exception as error:  # noqa: BLE001 - a tracker that is down or refuses must not fail a trained run
        _LOG.warning("layerlab: run %s could not be logged to MLflow: %r", run_id, error)
        return Message("train.note.mlflow_failed", {"reason": type(error).__name__})
    return None


def flat_params(spec: dict, prefix: str = "") -> dict[str, str]:
    """The spec as MLflow parameters: nested settings as dotted names, the layer stack as one line each."""
    params = {}
    for key, value in spec.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            params.update(flat_params(value, f"{name}."))
        elif name == "model.layers":
            for index, layer in enumerate(value):
                params[f"model.layer_{index + 1}"] = ", ".join(f"{k}={v}" for k, v in layer.items())
        elif isinstance(value, (list, tuple)):
            params[name] = ", ".join(str(item) for item in value)
        else:
            params[name] = str(value)
    return {key: value[:MAX_PARAM_CHARS] for key, value in params.items() if value != ""}


def _log(store: RunStore, run_id: str, settings: Settings) -> None:
    from mlflow import MlflowClient  # the optional extra (module docstring)
    from mlflow.entities import Metric, Param  # as above

    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    files = store.files(run_id)
    meta = files.meta()
    tracked = meta.get("mlflow_run_id")
    if not tracked:
        experiment = client.get_experiment_by_name(settings.mlflow_experiment)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(settings.mlflow_experiment)
        spec = store.spec(run_id)
        tags = {"layerlab.run_id": run_id, "layerlab.source": str(meta.get("source_name") or ""),
                "layerlab.kind": spec.data.kind, "layerlab.target": spec.data.target}  # fmt: skip
        if meta.get("search"):
            tags["layerlab.search"] = str(meta["search"])
        tracked = client.create_run(
            experiment_id, run_name=f"{meta.get('source_name') or 'run'} · {run_id[:8]}", tags=tags
        ).info.run_id
        params = [Param(key, value) for key, value in flat_params(spec.model_dump(mode="json")).items()]
        for start in range(0, len(params), PARAM_BATCH):
            client.log_batch(tracked, params=params[start : start + PARAM_BATCH])
        client.log_text(tracked, spec.to_json(), RunFiles.SPEC)
        store.update_meta(run_id, mlflow_run_id=tracked)
    now = int(time.time() * 1000)
    history = files.history()
    logged = int(meta.get("mlflow_epochs") or 0)
    points = [
        Metric(key, float(row[key]), now, int(row["epoch"]))
        for row in history[logged:]
        for key in HISTORY_KEYS
        if _finite(row.get(key))
    ]
    metrics = files.metrics() or {}
    step = int(metrics.get("epochs_run") or len(history))
    points += [Metric(f"test_{name}", float(value), now, step) for name, value in (metrics.get("test") or {}).items()
               if _finite(value)]  # fmt: skip
    for start in range(0, len(points), BATCH):
        client.log_batch(tracked, metrics=points[start : start + BATCH])
    for name in (RunFiles.MODEL, RunFiles.NETWORK):
        if files.exists(name):
            client.log_artifact(tracked, str(files.path(name)), artifact_path="model")
    state = store.status(run_id).state
    client.set_terminated(tracked, status=MLFLOW_STATUS.get(state, "FINISHED"))
    store.update_meta(run_id, mlflow_epochs=len(history))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
