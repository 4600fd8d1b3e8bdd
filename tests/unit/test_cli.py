"""`layerlab train` and `layerlab predict`, run as a user would from a shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.run_store import RunStore
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job
from tests.conftest import make_binary_frame, make_regression_frame

pytestmark = pytest.mark.slow

LAYERLAB = Path(sys.executable).parent / "layerlab"
SHARED_MODELS = Path(__file__).resolve().parents[3] / "shared" / "bad_inputs" / "models"


def _layerlab(*args, cwd: Path, home: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "LAYERLAB_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [str(LAYERLAB), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _json_line(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


def _assert_user_error(completed: subprocess.CompletedProcess) -> str:
    assert completed.returncode == 2, (completed.stdout, completed.stderr[-2000:])
    assert "Traceback" not in completed.stderr
    messages = [line for line in completed.stderr.splitlines() if line.startswith("layerlab: ")]
    assert len(messages) == 1, completed.stderr[-2000:]
    return messages[0]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    (folder / "home").mkdir()
    make_binary_frame(240, seed=5).to_csv(folder / "people.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def trained(workspace) -> dict:
    """One `layerlab train` with the default spec, shared by the tests that need a model file."""
    completed = _layerlab(
        "train", "people.csv", "--target", "label", "--out", workspace / "runs", cwd=workspace, home=workspace / "home"
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Traceback" not in completed.stderr
    return _json_line(completed.stdout)


def test_train_prints_one_json_line_with_the_run_and_its_test_metrics(workspace, trained):
    run_dir = Path(trained["run_dir"])
    assert run_dir.parent == workspace / "runs"
    assert (run_dir / "model.keras").is_file()
    assert trained["state"] == "finished"
    assert trained["task"] == "binary"
    assert set(trained["test"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert all(0.0 <= value <= 1.0 for value in trained["test"].values())
    assert 1 <= trained["epochs_run"] <= 20
    assert json.loads((run_dir / "metrics.json").read_text())["test"] == trained["test"]
    assert json.loads((run_dir / "spec.json").read_text())["data"]["target"] == "label"
    # How the file was read, for the generated script to read new rows the same way.
    reading = RunStore(run_dir.parent).meta(run_dir.name)["reading"]
    assert reading == {"format": "csv", "encoding": "utf-8", "delimiter": ",", "decimal": "."}


def _small_spec(seed: int = 42) -> RunSpec:
    return RunSpec(
        data=DataSpec(target="label", seed=seed),
        model=ModelSpec(layers=(DenseLayer(units=12),)),
        training=TrainingSpec(epochs=2, batch_size=16),
    )


def test_train_with_a_spec_file_matches_training_in_the_app(workspace, tmp_path):
    spec = _small_spec(seed=9)
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(spec.to_json(), encoding="utf-8")
    completed = _layerlab(
        "train", workspace / "people.csv", "--spec", spec_path, "--out", tmp_path / "runs",
        cwd=tmp_path, home=workspace / "home",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = _json_line(completed.stdout)
    assert result["epochs_run"] == 2
    assert RunStore(tmp_path / "runs").spec(Path(result["run_dir"]).name) == spec

    # The app's path, in this process, on the same file: same spec and seed, same numbers.
    from core.data.reading import load_table_file

    store = RunStore(tmp_path / "app_runs")
    run_id = store.create_run(spec, load_table_file(workspace / "people.csv").frame, source_name="people.csv")
    assert run_job(store, run_id).state == "finished"
    assert store.metrics(run_id)["test"] == result["test"]


def test_target_option_overrides_the_spec_target(workspace, tmp_path, tmp_home, capsys):
    frame = pd.read_csv(workspace / "people.csv").rename(columns={"label": "outcome"})
    frame.to_csv(tmp_path / "renamed.csv", index=False)
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(_small_spec().to_json(), encoding="utf-8")
    code = main(["train", str(tmp_path / "renamed.csv"), "--spec", str(spec_path), "--target", "outcome"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = _json_line(captured.out)
    # Without --out the run lives under LAYERLAB_HOME.
    assert Path(result["run_dir"]).parent == (tmp_home / "runs").resolve()
    assert json.loads((Path(result["run_dir"]) / "spec.json").read_text())["data"]["target"] == "outcome"


def test_train_without_a_target_says_how_to_give_one(tmp_path, tmp_home, capsys):
    make_binary_frame(40).to_csv(tmp_path / "data.csv", index=False)
    assert main(["train", str(tmp_path / "data.csv")]) == 2
    assert "--target" in capsys.readouterr().err


def test_train_on_an_empty_file_is_a_clear_error(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    completed = _layerlab("train", "empty.csv", "--target", "label", cwd=tmp_path, home=tmp_path / "home")
    message = _assert_user_error(completed)
    assert "empty.csv" in message
    assert "empty" in message
    assert completed.stdout == ""


def test_train_on_a_single_class_target_is_a_clear_error(tmp_path):
    frame = pd.DataFrame({"x": np.arange(50.0), "label": ["yes"] * 50})
    frame.to_csv(tmp_path / "one_class.csv", index=False)
    completed = _layerlab("train", "one_class.csv", "--target", "label", cwd=tmp_path, home=tmp_path / "home")
    message = _assert_user_error(completed)
    assert "'label'" in message
    assert "two different values" in message


def test_train_with_an_invalid_spec_file_names_the_field(tmp_path, tmp_home, capsys):
    make_binary_frame(40).to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "spec.json").write_text(json.dumps({"data": {"target": "label"}, "training": {"epochs": 0}}))
    assert main(["train", str(tmp_path / "data.csv"), "--spec", str(tmp_path / "spec.json")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("layerlab: ")
    assert "training.epochs" in captured.err
    assert captured.out == ""


def test_train_refuses_a_layer_stack_that_cannot_take_table_rows_before_any_run(tmp_path, tmp_home, capsys):
    make_binary_frame(40).to_csv(tmp_path / "data.csv", index=False)
    spec = {"data": {"target": "label"}, "model": {"layers": [{"kind": "dense", "units": 8}, {"kind": "lstm"}]}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "runs"
    assert main(["train", str(tmp_path / "data.csv"), "--spec", str(tmp_path / "spec.json"), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "Layer 2 (LSTM" in captured.err and "layer 1 (Dense, 8 units)" in captured.err
    assert not out.exists() or not any(out.iterdir())  # refused before a run folder was made


def test_train_with_a_missing_file_is_a_clear_error(tmp_path, tmp_home, capsys):
    assert main(["train", str(tmp_path / "nowhere.csv"), "--target", "label"]) == 2
    captured = capsys.readouterr()
    assert "nowhere.csv" in captured.err
    assert "Traceback" not in captured.err


def test_train_with_a_missing_spec_file_is_a_clear_error(tmp_path, tmp_home, capsys):
    make_binary_frame(40).to_csv(tmp_path / "data.csv", index=False)
    assert main(["train", str(tmp_path / "data.csv"), "--spec", str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err


def test_predict_writes_the_input_rows_plus_prediction_and_class_probabilities(workspace, trained, tmp_path):
    rows = make_binary_frame(30, seed=8).drop(columns=["label"])
    rows.loc[0, "x1"] = np.nan
    rows.loc[1, "colour"] = None
    rows.loc[2, "colour"] = "ultraviolet"
    rows.to_csv(tmp_path / "new_rows.csv", index=False)
    model_path = Path(trained["run_dir"]) / "model.keras"
    completed = _layerlab("predict", model_path, "new_rows.csv", "--out", "preds.csv", cwd=tmp_path, home=tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = _json_line(completed.stdout)
    assert summary["rows"] == 30
    assert Path(summary["out"]) == (tmp_path / "preds.csv").resolve()

    predictions = pd.read_csv(tmp_path / "preds.csv")
    assert list(predictions.columns) == [*rows.columns, "prediction", "prob_no", "prob_yes"]
    assert len(predictions) == 30
    np.testing.assert_allclose(predictions["x2"], rows["x2"])
    assert set(predictions["prediction"]) <= {"no", "yes"}
    np.testing.assert_allclose(predictions[["prob_no", "prob_yes"]].sum(axis=1), 1.0, rtol=1e-5)
    expected = np.where(predictions["prob_yes"] > predictions["prob_no"], "yes", "no")
    assert list(predictions["prediction"]) == list(expected)


def test_predict_without_out_writes_csv_to_stdout(trained, tmp_path, capsys):
    make_binary_frame(5, seed=3).drop(columns=["label"]).to_csv(tmp_path / "rows.csv", index=False)
    model_path = Path(trained["run_dir"]) / "model.keras"
    code = main(["predict", str(model_path), str(tmp_path / "rows.csv")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.strip().splitlines()
    assert lines[0] == "x1,x2,noise,colour,prediction,prob_no,prob_yes"
    assert len(lines) == 6


def test_predict_with_a_text_file_renamed_keras_is_a_clear_error(tmp_path):
    (tmp_path / "model.keras").write_text("this is not a model, just text\n")
    make_binary_frame(5).to_csv(tmp_path / "rows.csv", index=False)
    completed = _layerlab("predict", "model.keras", "rows.csv", cwd=tmp_path, home=tmp_path)
    message = _assert_user_error(completed)
    assert "'model.keras'" in message
    assert "not a valid .keras file" in message
    assert completed.stdout == ""


def test_predict_with_missing_columns_names_them(trained, tmp_path, capsys):
    make_binary_frame(5).drop(columns=["colour", "label"]).to_csv(tmp_path / "rows.csv", index=False)
    code = main(["predict", str(Path(trained["run_dir"]) / "model.keras"), str(tmp_path / "rows.csv")])
    captured = capsys.readouterr()
    assert code == 2
    assert "'colour'" in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    "name", ["50_text_renamed.keras", "51_lambda_layer.keras", "53_truncated.keras", "55_activation_os_system.keras"]
)
def test_predict_refuses_hostile_model_files(name, tmp_path, capsys):
    path = SHARED_MODELS / name
    if not path.exists():
        pytest.skip("shared bad inputs absent")
    make_binary_frame(5).to_csv(tmp_path / "rows.csv", index=False)
    assert main(["predict", str(path), str(tmp_path / "rows.csv")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("layerlab: ")
    assert name in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_predict_refuses_a_file_that_is_not_keras(tmp_path, capsys):
    (tmp_path / "model.h5").write_bytes(b"\x89HDF\r\n")
    make_binary_frame(5).to_csv(tmp_path / "rows.csv", index=False)
    assert main(["predict", str(tmp_path / "model.h5"), str(tmp_path / "rows.csv")]) == 2
    assert "not a .keras file" in capsys.readouterr().err


def test_predict_with_a_regression_model(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    spec = RunSpec(
        data=DataSpec(target="price"),
        model=ModelSpec(layers=(DenseLayer(units=8),)),
        training=TrainingSpec(epochs=2),
    )
    run_id = store.create_run(spec, make_regression_frame(), source_name="houses.csv")
    assert run_job(store, run_id).state == "finished"
    make_regression_frame(10, seed=4).drop(columns=["price"]).to_csv(tmp_path / "rows.csv", index=False)
    code = main(["predict", str(store.path(run_id) / "model.keras"), str(tmp_path / "rows.csv")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.splitlines()[0] == "a,b,size,prediction"


def test_spec_prints_the_run_spec_and_resume_extends_the_run(workspace, tmp_path):
    store = RunStore(tmp_path / "runs")
    spec = RunSpec(
        data=DataSpec(target="label"),
        model=ModelSpec(layers=(DenseLayer(units=8),)),
        training=TrainingSpec(epochs=2, batch_size=32, early_stopping=False),
    )
    run_id = store.create_run(spec, make_binary_frame(200), source_name="t.csv")
    assert run_job(store, run_id).state == "finished"
    run_dir = store.path(run_id)

    printed = _layerlab("spec", run_dir, cwd=workspace, home=workspace / "home", timeout=60)
    assert printed.returncode == 0, printed.stderr[-2000:]
    assert RunSpec.model_validate_json(printed.stdout) == spec

    completed = _layerlab("train", "--resume", run_dir, "--epochs", "3", cwd=workspace, home=workspace / "home")
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = _json_line(completed.stdout)
    assert result["run_dir"] == str(run_dir)
    assert result["epochs_run"] == 5
    assert result["message"].startswith("Continued from epoch 2.")
    assert set(result["test"]) >= {"accuracy", "roc_auc"}
    assert [row["epoch"] for row in store.history(run_id)] == [1, 2, 3, 4, 5]


def test_resume_needs_epochs_and_a_run_folder(tmp_path, tmp_home, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "--resume needs --epochs N" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--epochs", "2"]) == 2
    assert "is not a LayerLab run folder" in capsys.readouterr().err
    assert main(["spec", str(tmp_path)]) == 2
    assert "is not a LayerLab run folder" in capsys.readouterr().err


def test_shared_mode_caps_hold_on_the_command_line_too(tmp_path, tmp_home, monkeypatch, capsys):
    monkeypatch.setenv("LAYERLAB_SHARED", "1")
    monkeypatch.setenv("LAYERLAB_MAX_EPOCHS", "20")
    make_binary_frame(200).to_csv(tmp_path / "data.csv", index=False)
    spec = RunSpec(
        data=DataSpec(target="label"),
        model=ModelSpec(layers=tuple(DenseLayer(units=8192) for _ in range(4))),
        training=TrainingSpec(epochs=500),
    )
    (tmp_path / "spec.json").write_text(spec.to_json(), encoding="utf-8")
    out = tmp_path / "runs"
    assert main(["train", str(tmp_path / "data.csv"), "--spec", str(tmp_path / "spec.json"), "--out", str(out)]) == 2
    message = capsys.readouterr().err
    assert "larger than this shared server allows" in message
    assert "500 epochs" in message and "parameters" in message
    assert not out.exists() or not any(out.iterdir())  # refused before any run folder was written
