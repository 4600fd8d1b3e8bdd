"""The downloaded `.keras` file predicts exactly what the app predicts, with nothing but Keras installed.

A fresh Python process loads each model in Keras' safe mode, without importing LayerLab, and predicts on raw rows
with the awkward values users have: NaN, inf, an empty category, a pandas NA token and a category never seen in
training. Its outputs must match the app's own path (numpy preprocessing + the bare network) to 1e-5.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.preprocessing import PreprocessingState, transform
from core.data.splitting import TargetInfo
from core.deployment.serving_model import load_model_file, predict_table
from core.evaluation.metrics import probabilities_from_output
from core.run_store import RunStore
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job
from tests.conftest import make_binary_frame, make_multiclass_frame, make_regression_frame

pytestmark = pytest.mark.slow

TOLERANCE = 1e-5

# Runs in a fresh interpreter: only keras, numpy and pandas, as on a user's machine without LayerLab.
FRESH_PROCESS_SCRIPT = r"""
import json, sys
import numpy as np
import pandas as pd
import keras

assert "core" not in sys.modules, "the fresh process must not import LayerLab"
jobs = json.loads(open(sys.argv[1], encoding="utf-8").read())
results = {}
for name, job in jobs.items():
    model = keras.saving.load_model(job["model"])  # safe_mode=True is the default
    frame = pd.read_parquet(job["rows"])
    inputs = {}
    # The model's input is a dict keyed by the raw column names.
    assert isinstance(model.input, dict), type(model.input)
    for column_name, tensor in model.input.items():
        column = frame[column_name]
        if "string" in str(tensor.dtype):
            # A TensorFlow string tensor cannot hold None: a missing category is passed as "".
            text = ["" if value is None or value != value else str(value) for value in column]
            inputs[column_name] = np.array(text, dtype=object).reshape(-1, 1)
        else:
            inputs[column_name] = column.to_numpy(dtype="float32", na_value=np.nan).reshape(-1, 1)
    outputs = model(inputs)
    result = {}
    for key, value in outputs.items():
        array = keras.ops.convert_to_numpy(value)
        if array.dtype == object:
            result[key] = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
        else:
            result[key] = array.astype("float64").tolist()
    results[name] = result
assert "core" not in sys.modules, "loading the model must not import LayerLab"
print(json.dumps(results))
"""


def _awkward_rows(frame: pd.DataFrame, target: str, numeric: list[str], categorical: str, unseen: str) -> pd.DataFrame:
    """Forty ordinary rows plus rows with every kind of trouble in every input column."""
    rows = frame.drop(columns=[target]).head(40).copy()
    trouble = rows.head(6).copy()
    for position, value in enumerate([np.nan, np.inf, -np.inf, None, np.nan, 1e3]):
        for name in numeric:
            trouble.iloc[position, trouble.columns.get_loc(name)] = value
    trouble[categorical] = pd.Series([None, "", "NA", unseen, "null", None], index=trouble.index, dtype=object)
    rows[categorical] = rows[categorical].astype(object)
    return pd.concat([rows, trouble], ignore_index=True)


def _train(store: RunStore, frame: pd.DataFrame, target: str) -> str:
    spec = RunSpec(
        data=DataSpec(target=target),
        model=ModelSpec(layers=(DenseLayer(units=16), DenseLayer(units=8, activation="tanh"))),
        training=TrainingSpec(epochs=3, batch_size=32, learning_rate=0.01),
    )
    run_id = store.create_run(spec, frame, source_name=f"{target}.csv")
    assert run_job(store, run_id).state == "finished"
    return run_id


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Three trained runs and what a fresh process predicted with their downloaded models."""
    folder = tmp_path_factory.mktemp("export")
    store = RunStore(folder / "runs")
    cases = {
        "binary": (
            make_binary_frame().rename(columns={"noise": "wind (m/s)"}),
            "label", ["x1", "x2", "wind (m/s)"], "colour", "ultraviolet",
        ),
        "multiclass": (
            make_multiclass_frame().assign(soil=lambda f: np.where(f["length"] > 1, "clay", "sand")),
            "species", ["length", "width"], "soil", "peat",
        ),
        "regression": (make_regression_frame(), "price", ["a", "b"], "size", "medium"),
    }  # fmt: skip
    jobs, runs = {}, {}
    for name, (frame, target, numeric, categorical, unseen) in cases.items():
        run_id = _train(store, frame, target)
        rows = _awkward_rows(frame, target, numeric, categorical, unseen)
        rows_path = folder / f"{name}_rows.parquet"
        rows.to_parquet(rows_path, index=False)
        jobs[name] = {"model": str(store.path(run_id) / "model.keras"), "rows": str(rows_path)}
        runs[name] = (run_id, rows)
    jobs_path = folder / "jobs.json"
    jobs_path.write_text(json.dumps(jobs), encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_SCRIPT, str(jobs_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=folder,  # not the repository, so `core` cannot be imported by accident
        env={**_clean_env(), "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    predictions = json.loads(completed.stdout.strip().splitlines()[-1])
    return store, runs, predictions


def _clean_env() -> dict:
    import os

    return {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH"}}


def _app_output(store: RunStore, run_id: str, rows: pd.DataFrame):
    import keras

    run_dir = store.path(run_id)
    state = PreprocessingState.from_json((run_dir / "preprocessing.json").read_text(encoding="utf-8"))
    target = TargetInfo.from_dict(json.loads((run_dir / "target.json").read_text(encoding="utf-8")))
    network = keras.saving.load_model(run_dir / "network.keras")
    output = network.predict(transform(state, rows), verbose=0)
    return target, output


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_downloaded_classifier_matches_the_app_in_a_fresh_process(exported, task):
    store, runs, predictions = exported
    run_id, rows = runs[task]
    target, output = _app_output(store, run_id, rows)
    app_probabilities = probabilities_from_output(output, target)
    model_probabilities = np.array(predictions[task]["probabilities"])

    assert model_probabilities.shape == (len(rows), len(target.classes))
    assert np.all(np.isfinite(model_probabilities))
    assert np.max(np.abs(model_probabilities - app_probabilities)) <= TOLERANCE
    expected_labels = [target.classes[i] for i in app_probabilities.argmax(axis=1)]
    assert predictions[task]["label"] == expected_labels
    assert set(predictions[task]["label"]) <= set(target.classes)


def test_downloaded_regressor_predicts_in_target_units(exported):
    store, runs, predictions = exported
    run_id, rows = runs["regression"]
    target, output = _app_output(store, run_id, rows)
    expected = np.asarray(output, dtype="float64").reshape(-1) * target.std + target.mean
    predicted = np.array(predictions["regression"]["prediction"]).reshape(-1)
    assert np.all(np.isfinite(predicted))
    np.testing.assert_allclose(predicted, expected, rtol=TOLERANCE, atol=TOLERANCE * max(1.0, abs(target.mean)))
    # In dollars around the training mean, not standardised units around zero.
    assert abs(np.median(predicted) - target.mean) < 3 * target.std


def test_missing_and_unseen_values_are_handled_like_the_app(exported):
    store, runs, predictions = exported
    run_id, rows = runs["binary"]
    target, output = _app_output(store, run_id, rows)
    probabilities = np.array(predictions["binary"]["probabilities"])
    # Rows 40, 41, 42 and 44 differ only in how a value is missing (NaN, inf, -inf; None, "", "NA", "null"):
    # every one is imputed the same way, so they get the same prediction.
    for row in (41, 42, 44):
        np.testing.assert_allclose(probabilities[row], probabilities[40], atol=TOLERANCE)
    # Row 43 has an unseen category, which is not the same as a missing one.
    assert np.max(np.abs(probabilities[43] - probabilities[40])) > 0
    app = probabilities_from_output(output, target)
    np.testing.assert_allclose(probabilities[40:46], app[40:46], atol=TOLERANCE)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_predict_table_adds_prediction_and_one_probability_column_per_class(exported, task):
    store, runs, predictions = exported
    run_id, rows = runs[task]
    model = load_model_file(store.path(run_id) / "model.keras")
    result = predict_table(model, rows)
    target, output = _app_output(store, run_id, rows)

    assert list(result.columns[: len(rows.columns)]) == list(rows.columns)
    pd.testing.assert_frame_equal(result[rows.columns], rows)
    if task == "regression":
        assert list(result.columns[len(rows.columns) :]) == ["prediction"]
        expected = np.array(predictions[task]["prediction"]).reshape(-1)
        np.testing.assert_allclose(result["prediction"], expected, rtol=1e-6, atol=1e-4)
        return
    probability_columns = [f"prob_{name}" for name in target.classes]
    assert list(result.columns[len(rows.columns) :]) == ["prediction", *probability_columns]
    assert result["prediction"].tolist() == predictions[task]["label"]
    app_probabilities = probabilities_from_output(output, target)
    assert np.max(np.abs(result[probability_columns].to_numpy() - app_probabilities)) <= TOLERANCE
    np.testing.assert_allclose(result[probability_columns].sum(axis=1), 1.0, rtol=1e-5)


def test_load_model_file_accepts_a_layerlab_regression_model(exported):
    store, runs, _ = exported
    run_id, rows = runs["regression"]
    model = load_model_file(store.path(run_id) / "model.keras")
    assert "prediction" in predict_table(model, rows).columns


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_load_model_file_accepts_a_layerlab_classifier(exported, task):
    store, runs, _ = exported
    run_id, _ = runs[task]
    model = load_model_file(store.path(run_id) / "model.keras")
    assert model.get_layer("label_lookup").get_vocabulary() == list(
        TargetInfo.from_dict(json.loads((store.path(run_id) / "target.json").read_text())).classes
    )


def test_predict_table_in_batches_gives_the_same_rows(exported):
    store, runs, _ = exported
    run_id, rows = runs["binary"]
    model = load_model_file(store.path(run_id) / "model.keras")
    whole = predict_table(model, rows)
    batched = predict_table(model, rows, batch_size=7)
    pd.testing.assert_frame_equal(whole, batched, atol=1e-6)


def test_predict_table_names_missing_columns(exported):
    from core.errors import ModelFileError

    store, runs, _ = exported
    run_id, rows = runs["binary"]
    model = load_model_file(store.path(run_id) / "model.keras")
    with pytest.raises(ModelFileError) as caught:
        predict_table(model, rows.drop(columns=["colour"]))
    assert "'colour'" in caught.value.message


def test_model_file_is_not_a_custom_object_file(exported):
    """Only built-in Keras classes: the config names no module outside keras."""
    import zipfile

    store, runs, _ = exported
    run_id, _ = runs["binary"]
    with zipfile.ZipFile(Path(store.path(run_id) / "model.keras")) as archive:
        config = archive.read("config.json").decode("utf-8")
    modules = {value for key, value in _walk(json.loads(config)) if key == "module" and value}
    assert modules and all(module.startswith("keras") for module in modules), modules


def _walk(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)
