"""One run over several devices (`core.runtime.distribution`): jax's DataParallel and TensorFlow's
MirroredStrategy, exercised on two CPU devices made on purpose (this machine has no GPU; the GPU machine's
check is bench/gpu_check.sh).

Keras picks its backend and TensorFlow its devices once per process, so each backend trains in a child
process: jax with `--xla_force_host_platform_device_count=2`, TensorFlow with two logical CPU devices. The
children go through `core.training.run_job.run_job`, the entry point of the app's workers and `layerlab train`.
What a user would notice: the run finishes and learns, the status says two devices and the rows per step,
every epoch is there, a continued run goes on on both devices (jax); on jax every batch splits evenly over the
devices (the tables are sized so that neither the training nor the validation split divides by two or by the
batch). The big-table stream's even batches are checked in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from core.data.feeding import even_rows
from core.runtime.distribution import ONE_DEVICE, DataParallel
from tests.conftest import REPO_ROOT

COMMON = """
import json, os, sys, tempfile
from pathlib import Path

import keras
import numpy as np

from core.run_store import RunStore
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from core.training.run_job import request_resume, run_job
from tests.conftest import make_binary_frame

store = RunStore(Path(tempfile.mkdtemp()) / "runs")
results = {"backend": keras.backend.backend()}


def train(name, spec, frame, source_name="people.csv", **files):
    run_id = store.create_run(spec, frame, source_name=source_name, **files)
    status = run_job(store, run_id)
    results[name] = {
        "run_id": run_id,
        "state": status.state,
        "message": status.sentence(),
        "data_parallel": status.extra.get("data_parallel"),
        "steps_per_execution": status.extra.get("steps_per_execution"),
        "history": store.history(run_id),
        "metrics": store.metrics(run_id),
    }
    return run_id


table_spec = RunSpec(
    data=DataSpec(target="label", seed=3),
    model=ModelSpec(layers=(DenseLayer(units=16), DenseLayer(units=8))),
    training=TrainingSpec(epochs=3, batch_size=16, early_stopping=False, learning_rate=0.01),
)
# 301 rows: 210 training rows and 46 validation rows in 16-row batches per device leave uneven last batches.
frame = make_binary_frame(301, seed=2)
"""

JAX_CHILD = (
    COMMON
    + """
import jax

results["devices"] = len(jax.devices())
run_id = train("arrays", table_spec, frame)
request_resume(store, run_id, 1)
status = run_job(store, run_id)
results["continued"] = {"state": status.state, "epochs": [row["epoch"] for row in store.history(run_id)],
                        "data_parallel": status.extra.get("data_parallel")}
import core.training.run_job

# As on GPUs (pretended: float16 runs on a CPU too): mixed precision stays on with several devices.
core.training.run_job.describe_device = lambda **_: "GPU: pretend (test)"
train("mixed", table_spec, frame)
results["mixed"]["precision"] = store.status(results["mixed"]["run_id"]).precision

# Images come from disk a batch at a time (a PyDataset).
from tests.unit.test_images_kind import shapes
from core.spec import default_model

folder = Path(tempfile.mkdtemp())
source = shapes(folder, count=201)
image_spec = RunSpec(data=DataSpec(kind="images", target="label"), model=default_model("images"),
                     training=TrainingSpec(epochs=2, batch_size=16))
train("images", image_spec, source.manifest, source_name="shapes.zip", pixels=folder / "pixels.npy")
print(json.dumps(results))
"""
)

TENSORFLOW_CHILD = (
    """
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""
    + COMMON
    + """
train("arrays", table_spec, frame)
from tests.unit.test_text_kind import reviews
from core.spec import TEXT_PRESETS

text_spec = RunSpec(data=DataSpec(target="stars", kind="text"), model=TEXT_PRESETS["Embedding + average"],
                    training=TrainingSpec(epochs=4, batch_size=16, learning_rate=0.01))
train("text", text_spec, reviews(301).drop(columns=["city"]), source_name="reviews.csv")
print(json.dumps(results))
"""
)


def _child(script: str, tmp_path, **env) -> dict:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "LAYERLAB_HOME": str(tmp_path), **env}
    environment.pop("LAYERLAB_DEVICES_PER_RUN", None)
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _assert_trained_on_two_devices(result: dict, *, per_step: int = 32) -> None:
    assert result["state"] == "finished", result["message"]
    assert result["data_parallel"] == {
        "devices": 2, "kind": "CPU", "batch_per_device": 16, "batch_per_step": per_step
    }  # fmt: skip
    assert result["metrics"]["data_parallel"]["devices"] == 2
    history = result["history"]
    assert [row["epoch"] for row in history] == list(range(1, len(history) + 1)) and history
    assert all(np.isfinite(row["loss"]) and np.isfinite(row["val_loss"]) for row in history)


@pytest.mark.slow
def test_jax_trains_one_run_on_two_devices_with_even_batches(tmp_path):
    pytest.importorskip("jax", reason="jax is not installed (see requirements.lock)")
    result = _child(
        JAX_CHILD, tmp_path, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2"
    )  # fmt: skip
    assert result["backend"] == "jax" and result["devices"] == 2
    _assert_trained_on_two_devices(result["arrays"])
    assert result["arrays"]["history"][-1]["loss"] < result["arrays"]["history"][0]["loss"]  # it learned
    assert result["arrays"]["metrics"]["test"]["accuracy"] > 0.6
    # A continued run trains on both devices again, from where it stopped.
    assert result["continued"]["state"] == "finished" and result["continued"]["epochs"] == [1, 2, 3, 4]
    assert result["continued"]["data_parallel"]["devices"] == 2
    # Mixed precision (a GPU pretended) trains data-parallel too, its loss scaling and all.
    _assert_trained_on_two_devices(result["mixed"])
    assert result["mixed"]["precision"] == "mixed_float16"
    # Images come from disk a batch at a time (a PyDataset): 201 images do not divide evenly either.
    _assert_trained_on_two_devices(result["images"])


@pytest.mark.slow
def test_tensorflow_trains_one_run_on_two_devices_with_a_mirrored_strategy(tmp_path):
    result = _child(TENSORFLOW_CHILD, tmp_path, KERAS_BACKEND="tensorflow")
    assert result["backend"] == "tensorflow"
    for name in ("arrays", "text"):
        _assert_trained_on_two_devices(result[name])
        # Keras 3 cannot fuse steps under MirroredStrategy (keras-team/keras#19246).
        assert result[name]["steps_per_execution"] == 1
    assert result["arrays"]["metrics"]["test"]["accuracy"] > 0.6
    assert result["text"]["metrics"]["test"]["accuracy"] >= 0.9  # the words say it all


def test_each_device_gets_the_users_batch_and_a_step_never_exceeds_the_rows():
    two = DataParallel(devices=2, even_batches=2)
    assert two.global_batch(16, 1000) == 32
    assert two.global_batch(512, 301) == 300  # all training rows, split evenly
    assert two.global_batch(16, 1) == 2  # at least a row per device
    assert ONE_DEVICE.global_batch(64, 1000) == 64 and ONE_DEVICE.global_batch(64, 10) == 10
    assert not ONE_DEVICE.active and two.active


def test_even_batches_leave_out_fewer_rows_than_devices(tmp_path):
    from core.kinds.base import batch_stream

    assert even_rows(301, 2) == 300 and even_rows(301, 1) == 301 and even_rows(7, 8) == 0
    np.random.seed(0)
    seen = []
    stream = batch_stream(301, 32, lambda picked: (picked, picked), shuffle=True, multiple_of=2)
    for _ in range(3):
        sizes = [len(stream[i][0]) for i in range(len(stream))]
        assert all(size % 2 == 0 for size in sizes) and sum(sizes) == 300
        seen.append(set(np.concatenate([stream[i][0] for i in range(len(stream))]).tolist()))
        stream.on_epoch_end()
    assert len(set.union(*seen)) == 301  # a different row sits out each epoch
    validation = batch_stream(301, 32, lambda picked: (picked, picked), shuffle=False, multiple_of=2)
    assert sum(len(validation[i][0]) for i in range(len(validation))) == 300


def test_big_table_batches_split_evenly_too():
    """The stream that expands a big table's rows a batch at a time (on jax and torch; TensorFlow's tf.data
    stream takes the same `multiple_of`)."""
    from core.data.feeding import _py_dataset
    from core.data.preprocessing import EncodedRows

    rows = EncodedRows(dense=np.arange(301, dtype="float32")[:, None], codes=np.zeros((301, 0), "int32"),
                       dense_positions=np.array([0]), width=1)  # fmt: skip
    np.random.seed(1)
    stream = _py_dataset(rows, np.arange(301), 64, shuffle=True, multiple_of=2)
    sizes = [len(stream[i][1]) for i in range(len(stream))]
    assert sizes == [64, 64, 64, 64, 44]
    assert len(set(np.concatenate([stream[i][1] for i in range(len(stream))]).tolist())) == 300


def test_one_device_when_the_setting_says_so():
    from core.runtime.distribution import data_parallel

    assert data_parallel(limit=1) is ONE_DEVICE
    assert data_parallel() is ONE_DEVICE  # this machine: one CPU device, no GPU
