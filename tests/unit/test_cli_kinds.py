"""`layerlab` on images and text: train a zip of class folders, profile it, predict an image and a zip; train a
table whose text column is detected; a hostile zip is refused with a message, not a traceback."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.cli import main
from core.spec import DataSpec, RunSpec, TrainingSpec, default_model
from tests.unit.test_images_reading import BAD_INPUTS, needs_bad_inputs


def shapes_zip(path: Path, per_class: int = 30) -> Path:
    """PNG folders bar/ and column/ (16×16 grey, some 20×24 RGB to be normalised)."""
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as archive:
        for label in ("bar", "column"):
            for index in range(per_class):
                image = rng.integers(0, 50, (16, 16)).astype("uint8")
                start = rng.integers(2, 11)
                if label == "bar":
                    image[start : start + 3, 2:14] = 240
                else:
                    image[2:14, start : start + 3] = 240
                picture = Image.fromarray(image)
                if index % 10 == 0:
                    picture = picture.convert("RGB").resize((20, 24))
                buffer = io.BytesIO()
                picture.save(buffer, format="PNG")
                archive.writestr(f"shapes/{label}/{index}.png", buffer.getvalue())
        archive.writestr("shapes/notes.txt", "not an image")
    return path


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(item) for item in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_profile_of_a_zip_lists_classes_and_what_was_skipped(tmp_path, tmp_home, capsys):
    code, out, _ = run_cli(capsys, "profile", shapes_zip(tmp_path / "shapes.zip"))
    assert code == 0
    profile = json.loads(out)
    assert profile["kind"] == "images" and profile["classes"] == {"bar": 30, "column": 30}
    assert profile["side"] == 16 and profile["channels"] == 3  # some files are RGB: every image gets 3 channels
    assert [item["file"] for item in profile["skipped"]] == ["shapes/notes.txt"]


@needs_bad_inputs
def test_a_hostile_zip_is_refused_with_a_message(tmp_path, tmp_home, capsys):
    code, out, err = run_cli(capsys, "train", BAD_INPUTS / "zips" / "44_zip_slip.zip")
    assert code == 2 and out == ""
    assert "unsafe name" in err and "Traceback" not in err


@pytest.mark.slow
def test_train_a_zip_then_predict_an_image_and_a_zip(tmp_path, tmp_home, capsys):
    data = shapes_zip(tmp_path / "shapes.zip")
    spec = RunSpec(
        data=DataSpec(kind="images", target="label"),
        model=default_model("images"),
        training=TrainingSpec(epochs=3, batch_size=16),
    )
    (tmp_path / "spec.json").write_text(spec.to_json(), encoding="utf-8")
    code, out, err = run_cli(capsys, "train", data, "--spec", tmp_path / "spec.json", "--out", tmp_path / "runs")
    assert code == 0, err
    result = json.loads(out)
    assert result["state"] == "finished" and result["task"] == "binary"
    assert "skipped" in err  # the text file in the zip, said on stderr
    model = Path(result["run_dir"]) / "model.keras"

    with zipfile.ZipFile(data) as archive:
        (tmp_path / "one.png").write_bytes(archive.read("shapes/bar/3.png"))
    code, out, err = run_cli(capsys, "predict", model, tmp_path / "one.png")
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert table.columns.tolist() == ["file", "prediction", "prob_bar", "prob_column"]
    assert table["file"].tolist() == ["one.png"]

    code, out, err = run_cli(capsys, "predict", model, data, "--out", tmp_path / "predictions.csv")
    assert code == 0, err
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert len(predictions) == 60 and set(predictions["prediction"]) <= {"bar", "column"}

    code, _, err = run_cli(capsys, "predict", model, tmp_path / "spec.json")
    assert code == 2 and "not an image file" in err

    code, out, err = run_cli(capsys, "evaluate", result["run_dir"], data)  # scored on the zip's class folders
    assert code == 0, err
    report = json.loads(out)
    assert report["permutation_importance"] is None and report["data"]["rows"] == 60


@pytest.mark.slow
def test_a_chinese_text_table_trains_as_text_split_into_characters_and_predicts(tmp_path, tmp_home, capsys):
    from tests.unit.test_text_kind import chinese_reviews

    chinese_reviews().to_csv(tmp_path / "评论.csv", index=False)
    code, out, err = run_cli(capsys, "train", tmp_path / "评论.csv", "--target", "情感", "--out", tmp_path / "runs")
    assert code == 0, err
    run_dir = Path(json.loads(out)["run_dir"])
    assert json.loads((run_dir / "spec.json").read_text(encoding="utf-8"))["data"]["kind"] == "text"
    assert json.loads((run_dir / "preprocessing.json").read_text(encoding="utf-8"))["settings"]["split"] == "character"
    pd.DataFrame({"评论": ["非常满意，质量很好", "很失望，太差了"]}).to_csv(tmp_path / "new.csv", index=False)
    code, out, err = run_cli(capsys, "predict", run_dir / "model.keras", tmp_path / "new.csv")
    assert code == 0, err
    assert pd.read_csv(io.StringIO(out))["prediction"].tolist() == ["正面", "负面"]
    code, out, err = run_cli(capsys, "profile", tmp_path / "评论.csv", "--target", "情感")
    assert code == 0, err
    assert json.loads(out)["text_columns"]["评论"]["cjk_share"] > 0.5  # digits and punctuation are the rest
