"""Every download format predicts what the app predicts, loaded the way its user would, in a fresh process.

One small adult run (numbers and categories, 2 epochs) and one regression run with a date column are exported
to every format in child processes; a fresh interpreter that never imports LayerLab unzips each download and
runs it with its own runtime (Keras, tf.saved_model, the TFLite interpreter + the shipped preprocess.py,
onnxruntime + preprocess.py). float32 formats must match the app's model to 1e-5; float16 and int8 must score
within 1 point of the float32 model on the run's test rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.splitting import prepare_data
from core.deployment.formats import FORMATS, compare_formats, export_artifact, export_many
from core.deployment.serving_model import load_model_file, predict_table
from core.errors import AppError
from core.run_store import RunStore
from core.spec import ColumnSpec, DataSpec, DenseLayer, ModelSpec, PreprocessingSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job
from tests.conftest import REPO_ROOT, make_regression_frame

pytestmark = pytest.mark.slow

FRESH_PROCESS_SCRIPT = r"""
import importlib.util, json, sys, zipfile
from pathlib import Path
import numpy as np
import pandas as pd

assert "core" not in sys.modules
jobs = json.loads(Path(sys.argv[1]).read_text())
results = {}
for name, job in jobs.items():
    folder = Path(job["folder"])
    zipfile.ZipFile(job["zip"]).extractall(folder)
    rows = pd.read_parquet(job["rows"])
    if (folder / "model.keras").exists():
        import keras
        model = keras.saving.load_model(folder / "model.keras")
        inputs = {}
        for column, tensor in model.input.items():
            if "string" in str(tensor.dtype):
                inputs[column] = rows[[column]].astype(object).where(rows[[column]].notna(), "").astype(str).to_numpy(dtype=object)
            elif "float64" in str(tensor.dtype):
                when = pd.to_datetime(rows[column], errors="coerce", utc=True).dt.tz_localize(None)
                inputs[column] = (when - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy("float64").reshape(-1, 1)
            else:
                inputs[column] = pd.to_numeric(rows[column], errors="coerce").to_numpy("float32").reshape(-1, 1)
        outputs = {k: keras.ops.convert_to_numpy(v) for k, v in model(inputs).items()}
    elif (folder / "layerlab_model").exists():
        import tensorflow as tf
        serving = json.loads((folder / "serving.json").read_text())
        signature = tf.saved_model.load(str(folder / "layerlab_model" / "1")).signatures["serving_default"]
        arguments = {}
        for column, item in serving["inputs"].items():
            if item["dtype"] == "string":
                values = rows[column].astype(object).where(rows[column].notna(), "").astype(str).to_numpy(dtype=object)
            elif item["dtype"] == "float64":
                when = pd.to_datetime(rows[column], errors="coerce", utc=True).dt.tz_localize(None)
                values = (when - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy("float64", na_value=np.nan)
            else:
                values = pd.to_numeric(rows[column], errors="coerce").to_numpy("float32")
            arguments[item["input"]] = tf.constant(values.reshape(-1, 1))
        outputs = {k: v.numpy() for k, v in signature(**arguments).items()}
    else:
        spec_module = importlib.util.spec_from_file_location("preprocess", folder / "preprocess.py")
        preprocess = importlib.util.module_from_spec(spec_module)
        spec_module.loader.exec_module(preprocess)
        spec = json.loads((folder / "preprocessing.json").read_text())
        inputs = preprocess.preprocess(rows, spec)
        if (folder / "model.tflite").exists():
            import tensorflow as tf
            outputs = tf.lite.Interpreter(model_path=str(folder / "model.tflite")).get_signature_runner()(**inputs)
        else:
            import onnxruntime
            session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
            names = [output.name for output in session.get_outputs()]
            outputs = dict(zip(names, session.run(None, inputs)))
        outputs = {**outputs, "label": preprocess.postprocess(outputs, spec)["prediction"].to_numpy()}
    result = {}
    for key, value in outputs.items():
        array = np.asarray(value)
        if array.dtype == object:
            result[key] = [v.decode() if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
        else:
            result[key] = array.astype("float64").tolist()
    results[name] = result
assert "core" not in sys.modules
print(json.dumps(results))
"""


def _train(store: RunStore, frame: pd.DataFrame, spec: RunSpec, source: str) -> Path:
    run_id = store.create_run(spec, frame, source_name=source)
    assert run_job(store, run_id).state == "finished"
    return store.path(run_id)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exporters")
    store = RunStore(folder / "runs")
    # A column name with a space and a slash: every format must still find it (runtimes want [A-Za-z0-9_]).
    adult = pd.read_csv(REPO_ROOT / "sample_data" / "adult.csv", nrows=1500)
    adult = adult.rename(columns={"hours_per_week": "hours / week"})
    features = (
        "age",
        "workclass",
        "education",
        "marital_status",
        "occupation",
        "sex",
        "hours / week",
        "capital_gain",
        "fnlwgt",  # its mean (~190,000) is beyond float16's 65,504: the float16 model must still be right
    )
    binary = _train(
        store,
        adult,
        RunSpec(
            data=DataSpec(target="income", features=features),
            # Periodic features of the number columns (sin and cos inside the network): every format must carry them,
            # with a spread a search may choose (75): float16 must keep their phases (formats._split_frequencies).
            preprocessing=PreprocessingSpec(
                numeric_embedding="periodic", periodic_frequencies=8, periodic_dim=4, periodic_scale=75.0
            ),
            model=ModelSpec(layers=(DenseLayer(units=16),)),
            training=TrainingSpec(epochs=2),
        ),
        "adult.csv",
    )
    regression_frame = make_regression_frame(300)
    regression_frame["sold on"] = pd.date_range("2021-01-01", periods=300, freq="31h").astype(str)
    regression = _train(
        store,
        regression_frame,
        RunSpec(
            data=DataSpec(target="price"),
            preprocessing=PreprocessingSpec(columns=(ColumnSpec(name="sold on", kind="datetime"),)),
            model=ModelSpec(layers=(DenseLayer(units=8),)),
            training=TrainingSpec(epochs=2),
        ),
        "prices.csv",
    )
    export_many(binary)
    export_many(regression)
    return folder, store, binary, regression


def _test_rows(store: RunStore, run_dir: Path) -> pd.DataFrame:
    """The run's test rows, then six rows with every kind of missing value and an unseen category."""
    spec = store.spec(run_dir.name)
    test = prepare_data(store.table(run_dir.name), spec.data, spec.preprocessing).test.reset_index(drop=True)
    trouble = test.head(6).copy()
    for name in trouble.columns:
        if name == spec.data.target:
            continue
        if pd.api.types.is_numeric_dtype(trouble[name]):
            trouble[name] = [np.nan, np.inf, -np.inf, None, np.nan, 1e6]
        else:
            trouble[name] = pd.Series([None, "", "NA", "never seen", "null", None], dtype=object).to_numpy()
    return pd.concat(
        [test.astype({name: object for name in test.columns if test[name].dtype == "str"}), trouble], ignore_index=True
    )


@pytest.fixture(scope="module")
def fresh(runs):
    """What a fresh process (no LayerLab) predicted with each download on the runs' test rows."""
    folder, store, binary, regression = runs
    jobs = {}
    for run_name, run_dir, formats in (
        ("binary", binary, FORMATS),
        ("regression", regression, FORMATS),
    ):
        rows = _test_rows(store, run_dir).drop(columns=[store.spec(run_dir.name).data.target])
        rows_path = folder / f"{run_name}_rows.parquet"
        rows.to_parquet(rows_path, index=False)
        for format in formats:
            jobs[f"{run_name}/{format}"] = {
                "zip": str(run_dir / "exports" / f"{format}.zip"),
                "rows": str(rows_path),
                "folder": str(folder / "unzipped" / run_name / format),
            }
    jobs_path = folder / "jobs.json"
    jobs_path.write_text(json.dumps(jobs))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"} | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_SCRIPT, str(jobs_path)],
        capture_output=True, text=True, timeout=300, cwd=folder, env=env,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _app(store: RunStore, run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = _test_rows(store, run_dir)
    return rows, predict_table(load_model_file(run_dir / "model.keras"), rows)


@pytest.mark.parametrize("format", ["keras", "savedmodel", "tflite-f32", "onnx"])
def test_float32_downloads_match_the_app_model(runs, fresh, format):
    _, store, binary, _ = runs
    _, app = _app(store, binary)
    probabilities = np.array(fresh[f"binary/{format}"]["probabilities"])
    expected = app[["prob_<=50K", "prob_>50K"]].to_numpy()
    assert probabilities.shape == expected.shape
    assert np.max(np.abs(probabilities - expected)) <= 1e-5
    assert fresh[f"binary/{format}"]["label"] == app["prediction"].tolist()


@pytest.mark.parametrize("format", ["keras", "savedmodel", "tflite-f32", "onnx"])
def test_regression_with_a_date_column_matches_in_target_units(runs, fresh, format):
    _, store, _, regression = runs
    _, app = _app(store, regression)
    predicted = np.array(fresh[f"regression/{format}"]["prediction"]).reshape(-1)
    np.testing.assert_allclose(predicted, app["prediction"].to_numpy(), rtol=1e-5, atol=1e-5 * 100)
    assert 50 < np.median(predicted) < 300  # dollars, not standardised units


@pytest.mark.parametrize("format", ["tflite-f16", "tflite-int8"])
def test_quantised_tflite_scores_within_one_point_of_float32(runs, fresh, format):
    _, store, binary, _ = runs
    rows, _ = _app(store, binary)
    test = len(rows) - 6  # the trouble rows have no meaningful label
    truth = rows["income"].astype(str).to_numpy()[:test]
    accuracy = {
        name: np.mean(np.array(fresh[f"binary/{name}"]["label"])[:test] == truth) for name in ("tflite-f32", format)
    }
    if format == "tflite-f16":  # 16-bit weights move probabilities a little, never a lot
        change = np.array(fresh["binary/tflite-f16"]["probabilities"]) - np.array(
            fresh["binary/tflite-f32"]["probabilities"]
        )
        assert np.max(np.abs(change)) < 0.01
    assert abs(accuracy[format] - accuracy["tflite-f32"]) <= 0.01, accuracy


def test_every_download_carries_the_model_card_and_what_its_user_needs(runs):
    _, _, binary, _ = runs
    for format in FORMATS:
        names = zipfile.ZipFile(binary / "exports" / f"{format}.zip").namelist()
        assert "MODEL_CARD.md" in names and "README.md" in names, (format, names)
        if format.startswith("tflite") or format == "onnx":
            assert {"preprocess.py", "preprocessing.json"} <= set(names)
    archive = zipfile.ZipFile(binary / "exports" / "savedmodel.zip")
    readme = archive.read("README.md").decode()
    assert "v1/models/layerlab_model:predict" in readme
    # The REST call in the README sends one value for every signature input, under its real name.
    request = json.loads(readme.split("curl -d '", 1)[1].split("' \\", 1)[0])
    serving = json.loads(archive.read("serving.json"))
    assert set(request["inputs"]) == {item["input"] for item in serving["inputs"].values()}
    assert request["inputs"]["hours___week"] == [[40.0]]
    card = zipfile.ZipFile(binary / "exports" / "onnx.zip").read("MODEL_CARD.md").decode()
    assert "adult.csv" in card and "Logistic regression" in card


def test_every_way_of_missing_gives_one_prediction_in_every_format(runs, fresh):
    """NaN, inf, -inf (numbers) and None, "", "NA", "null" (text) are all one missing value, in every format:
    tf2onnx's default `where` and TFLite's kernels would otherwise turn them into NaN probabilities."""
    _, store, binary, _ = runs
    rows, _ = _app(store, binary)
    first = len(rows) - 6
    for format in FORMATS:
        probabilities = np.array(fresh[f"binary/{format}"]["probabilities"])[first:]
        assert np.all(np.isfinite(probabilities)), format
        for row in (1, 2, 4):
            np.testing.assert_allclose(probabilities[row], probabilities[0], atol=1e-6, err_msg=format)


def test_comparison_table_shows_size_speed_and_metric(runs):
    _, _, binary, _ = runs
    rows = {row["format"]: row for row in compare_formats(binary)}
    assert list(rows) == ["keras", "tflite-f32", "tflite-f16", "tflite-int8"]
    # Dynamic-range int8 only quantises weight tensors of 1,024+ values: a tiny network may not shrink at all.
    assert rows["tflite-int8"]["size_bytes"] <= rows["tflite-f32"]["size_bytes"]
    assert rows["tflite-f16"]["size_bytes"] <= rows["tflite-f32"]["size_bytes"]
    assert all(row["latency_us_per_row"] > 0 and row["metric"] == "accuracy" for row in rows.values())
    assert abs(rows["tflite-f32"]["value"] - rows["keras"]["value"]) < 1e-9


def test_cli_export_writes_the_page_artifact_and_refuses_bad_input(runs, tmp_path, capsys):
    from core.cli import main

    _, _, binary, _ = runs
    out = tmp_path / "model.zip"
    assert main(["export", str(binary), "--format", "onnx", "--out", str(out)]) == 0
    assert out.read_bytes() == (binary / "exports" / "onnx.zip").read_bytes()
    assert main(["export", str(binary), "--format", "pdf", "--out", str(out)]) == 2
    assert "Unknown export format 'pdf'" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--format", "onnx", "--out", str(out)]) == 2
    assert "not a LayerLab run folder" in capsys.readouterr().err


def test_a_crashing_worker_becomes_an_app_error(runs, tmp_path, monkeypatch, tmp_home):
    """A converter or interpreter that dies natively must not take the caller down."""
    import core.runtime.child

    _, _, binary, _ = runs
    crash = tmp_path / "crash.sh"
    crash.write_text("#!/bin/sh\nkill -SEGV $$\n")
    crash.chmod(0o755)
    monkeypatch.setattr(core.runtime.child.sys, "executable", str(crash))
    (binary / "exports" / "tflite-int8.zip").unlink()
    with pytest.raises(AppError) as caught:
        export_artifact(binary, "tflite-int8")
    assert "internal error" in caught.value.message and "incident id" in caught.value.message
    assert str(binary) not in caught.value.message


def test_hashed_categories_are_refused_for_tflite_and_onnx_before_any_conversion(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.json").write_text("{}")
    (run / "model.keras").write_bytes(b"not needed: the refusal comes first")
    columns = [{"name": "city", "kind": "categorical", "encoding": "hashing", "num_bins": 64}]
    (run / "preprocessing.json").write_text(json.dumps({"columns": columns}))
    for format in ("tflite-int8", "onnx"):
        with pytest.raises(AppError) as caught:
            export_artifact(run, format)
        assert "'city'" in caught.value.message and "hashing" in caught.value.message
    assert not (run / "exports").exists()


def test_a_saved_decision_threshold_reaches_the_onnx_and_tflite_labels(runs, tmp_path):
    """The Evaluate page's threshold rebuilds model.keras; the downloads made after it label rows the same way."""
    from core.deployment.formats import load_runner
    from core.deployment.threshold import apply_threshold

    _, store, binary, _ = runs
    rows = _test_rows(store, binary)
    before = predict_table(load_model_file(binary / "model.keras"), rows)["prediction"]
    apply_threshold(binary, 0.3)
    zips = export_many(binary, ("keras", "tflite-f32", "onnx"))  # model.keras is newer: rebuilt
    labels = {format: load_runner(path, tmp_path / format)(rows)["prediction"] for format, path in zips.items()}
    assert (labels["keras"] != before).any()  # the threshold changed some labels
    pd.testing.assert_series_equal(labels["onnx"], labels["keras"])
    pd.testing.assert_series_equal(labels["tflite-f32"], labels["keras"])
