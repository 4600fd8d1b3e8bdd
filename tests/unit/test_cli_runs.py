"""Issue 17 on the command line: `layerlab runs [FOLDER]` and `layerlab compare RUN RUN…`."""

import json

import pandas as pd
import pytest

from core.cli import main
from core.experiments.history import annotate
from core.run_store import RunFiles, RunStore
from core.spec import IMAGE_PRESETS, DataSpec, DenseLayer, RunSpec, TrainingSpec
from core.training.run_job import run_job
from tests.conftest import make_binary_frame
from tests.unit.test_history import fake_run


def test_runs_lists_a_folder_newest_first_and_as_json(tmp_path, capsys):
    store = RunStore(tmp_path / "out")
    first = fake_run(store, accuracy=0.8, source="a.csv")
    second = fake_run(store, accuracy=0.9, source="b.csv")
    annotate(store, first, name="baseline", starred=True)
    assert main(["runs", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run", "started", "state", "score", "data", "layers", "name"]
    assert second in lines[1] and "accuracy 0.9000" in lines[1] and "b.csv" in lines[1]
    assert lines[2].startswith(f"* {first}") and lines[2].endswith("baseline")

    assert main(["runs", str(tmp_path / "out"), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["run_dir"] for row in rows] == [str(store.path(second)), str(store.path(first))]
    assert rows[0]["score"] == 0.9 and rows[0]["layers"] == ["Dense 64"] and rows[1]["starred"] is True


def test_runs_defaults_to_layerlab_home_and_says_when_it_is_empty(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAYERLAB_HOME", str(tmp_path))
    (tmp_path / "runs").mkdir()
    assert main(["runs"]) == 0
    assert "No runs in" in capsys.readouterr().out
    assert main(["runs", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_compare_prints_metrics_with_the_best_and_the_differences(tmp_path, monkeypatch, capsys):
    store = RunStore(tmp_path / "one")
    other = RunStore(tmp_path / "two")  # two --out folders: runs are compared wherever they are
    a = fake_run(store, accuracy=0.80)
    b = fake_run(other, layers=(DenseLayer(units=64), DenseLayer(units=16)), learning_rate=0.01, accuracy=0.85)
    assert main(["compare", str(store.path(a)), str(other.path(b))]) == 0
    out = capsys.readouterr().out
    accuracy = next(line for line in out.splitlines() if line.startswith("accuracy"))
    assert accuracy.split() == ["accuracy", "0.8000", "0.8500", "(best)"]
    assert "+1 Dense layer (Dense 16)" in out and "learning rate: 0.001 → 0.01" in out

    assert main(["compare", str(store.path(a)), str(other.path(b)), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["best"]["accuracy"] == b and payload["metrics"]["accuracy"][a] == 0.8

    monkeypatch.setenv("LAYERLAB_HOME", str(tmp_path / "home"))
    assert main(["compare", str(store.path(a))]) == 2
    assert "between 2 and 5" in capsys.readouterr().err
    assert main(["compare", str(store.path(a)), str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["--lang", "zh", "compare", str(store.path(a)), str(other.path(b))]) == 0
    assert "学习率：0.001 → 0.01" in capsys.readouterr().out


def test_tune_prints_the_leaderboard_then_the_best_run_as_train_does(tmp_path, capsys):
    data = tmp_path / "b.csv"
    make_binary_frame(160).to_csv(data, index=False)
    spec = tmp_path / "spec.json"
    spec.write_text(
        RunSpec(data=DataSpec(target="label"), training=TrainingSpec(epochs=2, early_stopping=False)).to_json()
    )
    out = tmp_path / "out"
    assert main(["tune", str(data), "--trials", "2", "--spec", str(spec), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["trial", "state", "val_loss", "val_metric", "settings", "run"]
    board = lines[1:3]
    assert all(" complete " in line and "learning_rate=" in line for line in board)
    best = json.loads(lines[-1])
    assert set(best) >= {"run_dir", "state", "task", "test", "epochs_run", "search"}
    assert best["state"] == "finished" and best["run_dir"].split("/")[-1] in board[0]  # the best trial leads
    assert best["search"]["trials"] == 2
    # Every trial is a normal run: `layerlab runs` lists them, and they carry their search.
    assert main(["runs", str(out), "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    # Only the chosen trial was scored on the test rows; the other one never looked at them.
    store = RunStore(out)
    chosen, other = best["run_dir"].split("/")[-1], board[1].split()[-1]
    assert not store.files(other).exists(RunFiles.PREDICTIONS)
    assert store.metrics(other)["test"] == {} and store.metrics(other)["test_held_back"] is True
    assert "baselines" not in store.metrics(other)
    assert best["test"] == store.metrics(chosen)["test"] and "baselines" in store.metrics(chosen)
    assert not store.meta(chosen)["test_held_back"]
    # Scored later, the chosen trial has the test score its spec gets when trained as a plain run (same split).
    plain = store.create_run(store.spec(chosen), pd.read_csv(data), source_name="b.csv")
    run_job(store, plain)
    assert store.metrics(plain)["test"] == pytest.approx(best["test"])


def test_tune_needs_a_budget_and_a_table(tmp_path, capsys):
    data = tmp_path / "b.csv"
    make_binary_frame(40).to_csv(data, index=False)
    assert main(["tune", str(data), "--target", "label", "--trials", "0"]) == 2
    assert "trials" in capsys.readouterr().err
    assert main(["tune", str(tmp_path / "images.zip"), "--trials", "2"]) == 2
    assert "images.zip" in capsys.readouterr().err  # a missing zip is named, not a traceback


@pytest.mark.slow
def test_tune_searches_an_image_zip_over_the_training_settings(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(RunSpec(data=DataSpec(kind="images", target="label"), model=IMAGE_PRESETS["MLP on pixels"],
                            training=TrainingSpec(epochs=2)).to_json())  # fmt: skip
    from tests.unit.test_images_reading import grey_png, make_zip

    images = tmp_path / "shades.zip"  # 30 tiny images in three classes: the search's bookkeeping, not accuracy
    images.write_bytes(make_zip({f"{name}/{i}.png": grey_png(value, side=8) for name, value in
                                 (("dark", 20), ("mid", 128), ("light", 235)) for i in range(10)}))  # fmt: skip
    out = tmp_path / "out"
    assert main(["tune", str(images), "--trials", "2", "--spec", str(spec), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    board = lines[1:3]
    assert all("learning_rate=" in line and "layers=" not in line for line in board)  # the network stays
    best = json.loads(lines[-1])
    assert best["task"] == "multiclass" and set(best["test"]) >= {"accuracy"}
    assert not any(path.name.startswith(".tune-") for path in out.iterdir())  # its scratch pixels are gone
