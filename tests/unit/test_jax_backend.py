"""Training runs under KERAS_BACKEND=jax too, not only TensorFlow.

Keras picks its backend once per process, so the run happens in a child process started with
KERAS_BACKEND=jax, where TensorFlow cannot be imported (as on the GPU machine, which has jax only); it
trains a tiny model through `core.training.run_job.run_job`, the same entry point the app's workers and
`layerlab train` use.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytest.importorskip("jax", reason="jax is not installed (pip install jax jaxlib, see requirements.lock)")

CHILD = """
import importlib.abc, json, sys, tempfile
from pathlib import Path


class NoTensorFlow(importlib.abc.MetaPathFinder):
    # Like the GPU machine: jax, and no TensorFlow at all.
    def find_spec(self, name, path, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("TensorFlow is not installed here")


sys.meta_path.insert(0, NoTensorFlow())

import keras
import numpy as np

from core.run_store import RunStore
from core.spec import DataSpec, DenseLayer, DropoutLayer, ModelSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job
from tests.conftest import make_binary_frame

import os

store = RunStore(Path(tempfile.mkdtemp()) / "runs")
spec = RunSpec(
    data=DataSpec(target="label", seed=3),
    model=ModelSpec(layers=(DenseLayer(units=16), DropoutLayer(rate=0.1), DenseLayer(units=8))),
    training=TrainingSpec(epochs=3, batch_size=32, early_stopping=False),
)
results = {}
for limit in sys.argv[1:]:
    os.environ["LAYERLAB_TRAIN_MATRIX_MB"] = limit
    run_id = store.create_run(spec, make_binary_frame(240, seed=2), source_name="people.csv")
    status = run_job(store, run_id)
    run_dir = store.path(run_id)
    network = keras.saving.load_model(run_dir / "network.keras")
    weights = network.get_weights()
    results[limit] = {
    "backend": keras.backend.backend(),
    "tensor_type": type(network(np.zeros((2, network.input_shape[1]), "float32"))).__module__,
    "state": status.state,
    "message": status.message,
    "device": status.device,
    "history": store.history(run_id),
    "metrics": store.metrics(run_id)["test"],
    "files": sorted(path.name for path in run_dir.iterdir()),
    "weights_finite": all(bool(np.all(np.isfinite(w))) for w in weights),
    "tensorflow_imported": "tensorflow" in sys.modules,
    }
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def jax_runs(tmp_path_factory) -> dict:
    """One child process (one jax start), two runs: "256" feeds the whole matrix; "0" makes every table count as
    big, so rows are expanded a batch at a time by core.data.feeding's PyDataset."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2",
           "LAYERLAB_HOME": str(tmp_path_factory.mktemp("jax"))}  # fmt: skip
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, "256", "0"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("matrix_limit_mb", ["256", "0"], ids=["whole-matrix", "batch-stream"])
def test_run_job_trains_a_tiny_model_on_jax(jax_runs, matrix_limit_mb):
    result = jax_runs[matrix_limit_mb]

    assert result["backend"] == "jax"
    assert not result["tensorflow_imported"]  # core trains where only jax is installed (the GPU machine)
    assert result["tensor_type"].startswith("jax")  # the network computes with jax arrays
    assert result["state"] == "finished", result["message"]
    assert result["device"].endswith("(jax backend)")
    assert [row["epoch"] for row in result["history"]] == [1, 2, 3]
    assert all(math.isfinite(row["loss"]) and math.isfinite(row["val_loss"]) for row in result["history"])
    assert result["history"][-1]["loss"] < result["history"][0]["loss"]  # it learned something
    assert 0.0 <= result["metrics"]["accuracy"] <= 1.0 and result["metrics"]["roc_auc"] is not None
    # The serving model needs TensorFlow's string tensors, so on jax only the bare network is written.
    assert "network.keras" in result["files"] and "model.keras" not in result["files"]
    assert {"metrics.json", "history.json", "predictions.parquet", "preprocessing.json"} <= set(result["files"])
    assert result["weights_finite"]
