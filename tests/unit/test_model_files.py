"""The model files a run writes: the downloads hold weights only, the checkpoint keeps the optimizer state,
and a model over the server's file size is refused before anything is written."""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import pytest

from core.data.preprocessing import PreprocessingState
from core.data.splitting import TargetInfo
from core.deployment.serving_model import build_serving_model, estimated_model_bytes, load_model_file, predict_table
from core.run_store import RunStore
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job
from tests.conftest import make_binary_frame, train_small_run

pytestmark = pytest.mark.slow


def _optimizer_variables(path) -> list[str]:
    import h5py

    with zipfile.ZipFile(path) as archive:
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    names = []
    weights.visit(lambda name: names.append(name) if isinstance(weights[name], h5py.Dataset) else None)
    return [name for name in names if "optimizer" in name.split("/")]


def test_the_downloadable_model_holds_weights_only_and_predicts_like_the_trained_network(tmp_home):
    import keras

    frame = make_binary_frame()
    store, run_id = train_small_run(tmp_home / "runs", frame, epochs=2)
    run_dir = store.path(run_id)

    assert _optimizer_variables(run_dir / "model.keras") == []
    assert _optimizer_variables(run_dir / "network.keras") == []
    assert _optimizer_variables(run_dir / "checkpoint.keras")  # "Continue training" needs Adam's moments
    for name in ["model.keras", "network.keras"]:
        with zipfile.ZipFile(run_dir / name) as archive:
            assert not json.loads(archive.read("config.json")).get("compile_config"), name

    # The serving model as it was built before: around the compiled network (the checkpoint holds the final
    # weights). The weights-only file gives exactly its predictions.
    compiled = keras.saving.load_model(run_dir / "checkpoint.keras", compile=True)
    assert compiled.optimizer is not None
    state = PreprocessingState.from_json((run_dir / "preprocessing.json").read_text(encoding="utf-8"))
    target = TargetInfo.from_dict(json.loads((run_dir / "target.json").read_text(encoding="utf-8")))
    rows = frame.drop(columns="label")
    expected = predict_table(build_serving_model(compiled, state, target), rows)
    pd.testing.assert_frame_equal(predict_table(load_model_file(run_dir / "model.keras"), rows), expected)

    # The estimate the size cap uses counts the weights and tables; the rest is the graph's config (JSON).
    estimate = estimated_model_bytes(compiled.count_params(), state)
    assert estimate < (run_dir / "model.keras").stat().st_size < estimate + 200_000


def test_a_model_over_the_size_cap_fails_before_any_model_file_is_written(tmp_home, monkeypatch):
    monkeypatch.setenv("LAYERLAB_MAX_MODEL_MB", "1")
    store = RunStore(tmp_home / "runs")
    spec = RunSpec(
        data=DataSpec(target="label"),
        model=ModelSpec(layers=(DenseLayer(units=600), DenseLayer(units=600))),  # about 365,000 weights
        training=TrainingSpec(epochs=2),
    )
    run_id = store.create_run(spec, make_binary_frame(), source_name="t.csv")

    status = run_job(store, run_id)

    assert status.state == "failed"
    assert status.message == (
        "The model would need about 2 MB on disk; this server allows 1 MB. Use fewer units or layers."
    )
    assert not list(store.path(run_id).glob("*.keras"))
    assert store.history(run_id) == []  # refused before the first epoch
