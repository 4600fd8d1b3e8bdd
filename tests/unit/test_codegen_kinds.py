"""`layerlab code` for image and text runs: a prediction script that runs in a fresh Python without LayerLab.

The image script reads image files with Pillow (any size, grey or colour, a folder of them; an unreadable file is
reported, not fatal to the others) and prints one JSON line per image; the text script reads a CSV and writes its
rows with the predicted class and probabilities. Both must predict what the run's model.keras predicts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.deployment.codegen import generate_script, script_file_name
from core.run_store import RunStore
from core.spec import DataSpec, RunSpec, TrainingSpec, default_model
from tests.unit.test_images_kind import shapes
from tests.unit.test_text_kind import reviews

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("image and text models are written under TensorFlow")
    from core.training.run_job import run_job

    folder = tmp_path_factory.mktemp("codegen_kinds")
    store = RunStore(folder / "runs")
    source = shapes(folder)
    image_run = store.create_run(
        RunSpec(
            data=DataSpec(kind="images", target="label"), model=default_model("images"), training=TrainingSpec(epochs=3)
        ),
        source.manifest,
        source_name="shapes.zip",
        pixels=folder / "pixels.npy",
    )
    text_run = store.create_run(
        RunSpec(
            data=DataSpec(target="stars", kind="text"),
            model=default_model("text"),
            training=TrainingSpec(epochs=3, batch_size=32, learning_rate=0.01),
        ),
        reviews(),
        source_name="reviews.csv",
    )
    for run_id in (image_run, text_run):
        assert run_job(store, run_id).state == "finished"
    return folder, store, image_run, text_run


def _fresh_python(script: Path, arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The script as its user runs it: another folder, no LayerLab on the path."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"} | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, str(script), *arguments], capture_output=True, text=True, timeout=300, cwd=cwd, env=env
    )


def _user_folder(folder: Path, store: RunStore, run_id: str, name: str) -> tuple[Path, Path]:
    """A folder holding the script and the model under the name the Download page gives it."""
    user = folder / name
    user.mkdir()
    script = user / script_file_name(run_id)
    script.write_text(generate_script(store.path(run_id)), encoding="utf-8")
    shutil.copy(store.path(run_id) / "model.keras", user / f"layerlab_{run_id[:6]}.keras")
    return user, script


def test_the_image_script_predicts_image_files_as_the_model_does(runs):
    folder, store, run_id, _ = runs
    user, script = _user_folder(folder, store, run_id, "images_user")
    pixels = np.load(store.path(run_id) / "pixels.npy")
    (user / "more").mkdir()
    Image.fromarray(pixels[0, ..., 0]).resize((40, 30)).save(user / "wide.png")  # another size
    Image.fromarray(pixels[1, ..., 0]).convert("RGB").save(user / "colour.jpg", quality=95)  # colour, grey model
    Image.fromarray(pixels[2, ..., 0]).save(user / "more" / "a.png")
    Image.fromarray(pixels[3, ..., 0]).save(user / "more" / "b.bmp")
    (user / "broken.png").write_bytes(b"not an image at all")

    result = _fresh_python(script, ["wide.png", "colour.jpg", "broken.png", "more"], user)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["file"] for line in lines] == ["wide.png", "colour.jpg", str(Path("more") / "a.png"),
                                                str(Path("more") / "b.bmp")]  # fmt: skip
    assert "broken.png: not a readable image" in result.stderr
    assert result.returncode == 1  # one file could not be read: said, and the others still predicted

    import keras

    from core.deployment.serving_model import load_model_file

    model = load_model_file(store.path(run_id) / "model.keras")
    for line, image in zip(lines[2:], pixels[2:4], strict=True):
        expected = keras.ops.convert_to_numpy(model({"image": image[None]}, training=False)["probabilities"])[0]
        assert list(line["probabilities"]) == ["bar", "column", "square"]
        assert np.allclose(list(line["probabilities"].values()), expected, atol=1e-5)
        assert line["prediction"] == ["bar", "column", "square"][int(expected.argmax())]


def test_the_text_script_predicts_the_text_column_of_a_csv(runs):
    folder, store, _, run_id = runs
    user, script = _user_folder(folder, store, run_id, "text_user")
    rows = reviews(20, seed=3).drop(columns=["stars"])
    rows.to_csv(user / "new_rows.csv", index=False)

    result = _fresh_python(script, ["new_rows.csv", "--out", "predicted.csv"], user)
    assert result.returncode == 0, result.stderr[-3000:]
    predicted = pd.read_csv(user / "predicted.csv", encoding="utf-8-sig")
    assert list(predicted.columns) == ["review", "city", "prediction", "prob_bad", "prob_good"]
    expected = np.where(rows["review"].str.contains("|".join(["wonderful", "great", "funny", "best"])), "good", "bad")
    assert (predicted["prediction"] == expected).mean() >= 0.9  # the words say it all
    assert np.allclose(predicted[["prob_bad", "prob_good"]].sum(axis=1), 1.0, atol=1e-5)

    (user / "wrong.csv").write_text("title\nhello\n")
    missing = _fresh_python(script, ["wrong.csv"], user)
    assert missing.returncode != 0 and "has no column(s)" in missing.stderr and "'review'" in missing.stderr


def test_the_scripts_say_what_they_read(runs):
    _, store, image_run, text_run = runs
    image_script = generate_script(store.path(image_run))
    assert "from PIL import Image" in image_script and "CHANNELS = 1" in image_script
    assert "resizes them to 16 x 16" in image_script
    text_script = generate_script(store.path(text_run))
    assert 'TEXT_COLUMN = "review"' in text_script and "def model_inputs(model, rows):" in text_script
    assert "Beside the text it reads the column(s) city" in text_script  # reviews() has a city column too
    compile(image_script, "image_script.py", "exec")
    compile(text_script, "text_script.py", "exec")
