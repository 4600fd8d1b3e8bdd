"""Downloads of image and text runs predict what the run's model.keras predicts, run as their users would.

An image run (the shapes of tests/unit/test_images_kind.py) is exported to every format and a text run (the
reviews of tests/unit/test_text_kind.py) to the formats that can hold it, in child processes; a fresh interpreter
that never imports LayerLab unzips each download and runs it with its own runtime on raw inputs: uint8 images at
the stored size and at another size (TFLite and ONNX through the shipped preprocess.py, which resizes as the
model's Resizing layer does), raw strings for text. float32 formats must match model.keras to 1e-5; float16 and
the calibrated int8 model must stay close to it. The text run's TFLite and ONNX downloads are refused in one
sentence each, before any child process starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.deployment.formats import (
    FORMATS,
    available_formats,
    compare_formats,
    export_artifact,
    export_many,
    unavailable_reason,
)
from core.deployment.serving_model import load_model_file, predict_table
from core.errors import AppError
from core.run_store import RunStore
from core.spec import (
    AugmentationSpec,
    DataSpec,
    ImageSpec,
    PreprocessingSpec,
    RunSpec,
    TrainingSpec,
    default_model,
)
from tests.unit.test_images_kind import shapes
from tests.unit.test_text_kind import reviews

pytestmark = pytest.mark.slow

TEXT_FORMATS = ("keras", "savedmodel")

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
    if job["kind"] == "images":
        inputs = dict(np.load(job["images"]))  # batches of raw uint8 images, one size per batch
    else:
        rows = pd.read_csv(job["rows"])

    def columns(names_and_dtypes):  # a table's columns as (rows, 1) arrays: strings, or float32 numbers
        arrays = {}
        for name, (column, dtype) in names_and_dtypes.items():
            if "string" in dtype:
                arrays[name] = rows[[column]].fillna("").astype(str).to_numpy(dtype=object)
            else:
                arrays[name] = pd.to_numeric(rows[column], errors="coerce").to_numpy("float32").reshape(-1, 1)
        return arrays

    found = {}
    for batch in (sorted(inputs) if job["kind"] == "images" else ["rows"]):
        if (folder / "model.keras").exists():
            import keras, tensorflow as tf
            model = keras.saving.load_model(folder / "model.keras")
            if job["kind"] == "images":
                given = {"image": inputs[batch]}
            else:
                given = columns({name: (name, str(tensor.dtype)) for name, tensor in model.input.items()})
            outputs = {k: keras.ops.convert_to_numpy(v) for k, v in model(given, training=False).items()}
        elif (folder / "layerlab_model").exists():
            import tensorflow as tf
            serving = json.loads((folder / "serving.json").read_text())
            signature = tf.saved_model.load(str(folder / "layerlab_model" / "1")).signatures["serving_default"]
            if job["kind"] == "images":
                given = {"image": tf.constant(inputs[batch])}
            else:
                named = {item["input"]: (column, item["dtype"]) for column, item in serving["inputs"].items()}
                given = {name: tf.constant(values) for name, values in columns(named).items()}
            outputs = {k: v.numpy() for k, v in signature(**given).items()}
        else:
            module_spec = importlib.util.spec_from_file_location("preprocess", folder / "preprocess.py")
            preprocess = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(preprocess)
            spec = json.loads((folder / "preprocessing.json").read_text())
            images = list(inputs[batch]) if batch.startswith("list") else inputs[batch]
            given = preprocess.preprocess(images, spec)
            if (folder / "model.tflite").exists():
                import tensorflow as tf
                outputs = tf.lite.Interpreter(model_path=str(folder / "model.tflite")).get_signature_runner()(**given)
            else:
                import onnxruntime
                session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
                names = [output.name for output in session.get_outputs()]
                outputs = dict(zip(names, session.run(None, given)))
            outputs = {**outputs, "label": preprocess.postprocess(outputs, spec)["prediction"].to_numpy()}
        found[batch] = {
            "label": [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(outputs["label"]).reshape(-1)],
            "probabilities": np.asarray(outputs["probabilities"], dtype="float64").tolist(),
        }
    results[name] = found
assert "core" not in sys.modules
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(folder, image run dir, text run dir), each exported to every format that can hold it (one child each)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("image and text models are written under TensorFlow")
    from core.training.run_job import run_job

    folder = tmp_path_factory.mktemp("export_kinds")
    store = RunStore(folder / "runs")
    source = shapes(folder)
    # Augmentation layers and Dropout hold random-seed state that every format must leave out or carry.
    augmentation = AugmentationSpec(flip="horizontal", rotation=0.05, zoom=0.1, contrast=0.1)
    images = RunSpec(
        data=DataSpec(kind="images", target="label"),
        preprocessing=PreprocessingSpec(images=ImageSpec(augmentation=augmentation)),
        model=default_model("images"),
        training=TrainingSpec(epochs=3, learning_rate=0.005),
    )
    image_run = store.create_run(images, source.manifest, source_name="shapes.zip", pixels=folder / "pixels.npy")
    text = RunSpec(
        data=DataSpec(target="stars", kind="text"),
        model=default_model("text"),
        training=TrainingSpec(epochs=3, batch_size=32, learning_rate=0.01),
    )
    text_run = store.create_run(text, reviews(), source_name="reviews.csv")
    for run_id in (image_run, text_run):
        assert run_job(store, run_id).state == "finished"
    image_dir, text_dir = store.path(image_run), store.path(text_run)
    assert available_formats(image_dir) == FORMATS and available_formats(text_dir) == TEXT_FORMATS
    export_many(image_dir)
    export_many(text_dir)
    return folder, image_dir, text_dir


def _raw_images(image_dir: Path) -> dict[str, np.ndarray]:
    """The run's first 48 images as stored (16×16), the same at 40×30, and a list of mixed sizes."""
    pixels = np.load(image_dir / "pixels.npy")[:48]
    wide = np.stack([np.asarray(Image.fromarray(image[..., 0]).resize((30, 40)))[..., None] for image in pixels])
    return {"stored": pixels, "wide": wide.astype("uint8"), "list_of_one": wide[:1]}


@pytest.fixture(scope="module")
def fresh(runs):
    """What a fresh process (no LayerLab) predicted with each download, and what model.keras predicts here."""
    folder, image_dir, text_dir = runs
    images = _raw_images(image_dir)
    np.savez(folder / "images.npz", **images)
    rows = reviews(60, seed=7).drop(columns=["stars"])
    rows.loc[0, "review"] = "never seen words only: zyzzyva quux"
    rows.loc[1, "city"] = "a city never seen in training"
    rows.loc[2, "city"] = None
    rows.to_csv(folder / "rows.csv", index=False)
    jobs = {}
    for kind, run_dir, formats in (("images", image_dir, FORMATS), ("text", text_dir, TEXT_FORMATS)):
        for format in formats:
            jobs[f"{kind}/{format}"] = {
                "kind": kind,
                "zip": str(run_dir / "exports" / f"{format}.zip"),
                "folder": str(folder / "unzipped" / kind / format),
                "images": str(folder / "images.npz"),
                "rows": str(folder / "rows.csv"),
            }
    (folder / "jobs.json").write_text(json.dumps(jobs))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"} | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_SCRIPT, str(folder / "jobs.json")],
        capture_output=True, text=True, timeout=300, cwd=folder, env=env,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    import keras

    reference = {}
    image_model = load_model_file(image_dir / "model.keras")
    for batch, array in images.items():
        outputs = image_model({"image": array}, training=False)  # as the README says: no augmentation
        reference[f"images/{batch}"] = keras.ops.convert_to_numpy(outputs["probabilities"])
    text_model = load_model_file(text_dir / "model.keras")
    assert set(text_model.input) == {"review", "city"}  # reviews() has a city column: one model reads both
    predicted = predict_table(text_model, rows)  # LayerLab's own predictions
    reference["text/rows"] = predicted[["prob_bad", "prob_good"]].to_numpy()
    return json.loads(completed.stdout.strip().splitlines()[-1]), reference


@pytest.mark.parametrize("format", ["keras", "savedmodel", "tflite-f32", "onnx"])
def test_float32_image_downloads_match_the_keras_model_on_raw_images_of_any_size(fresh, format):
    found, reference = fresh
    for batch in ("stored", "wide", "list_of_one"):
        predicted = found[f"images/{format}"][batch]
        expected = reference[f"images/{batch}"]
        assert np.abs(np.array(predicted["probabilities"]) - expected).max() < 1e-5, (format, batch)
        classes = ["bar", "column", "square"]
        assert predicted["label"] == [classes[i] for i in expected.argmax(axis=1)], (format, batch)


@pytest.mark.parametrize("format", ["tflite-f16", "tflite-int8"])
def test_smaller_image_downloads_stay_close_to_the_keras_model(fresh, format):
    found, reference = fresh
    for batch in ("stored", "wide"):
        predicted = np.array(found[f"images/{format}"][batch]["probabilities"])
        expected = reference[f"images/{batch}"]
        tolerance = 1e-3 if format == "tflite-f16" else 0.05
        assert np.abs(predicted - expected).max() < tolerance, (format, batch)
        confident = np.sort(expected, axis=1)[:, -1] - np.sort(expected, axis=1)[:, -2] > 2 * tolerance
        assert (predicted.argmax(axis=1) == expected.argmax(axis=1))[confident].all(), (format, batch)


def test_the_int8_image_model_is_calibrated_integer_arithmetic_not_only_its_weights(runs):
    import tensorflow as tf

    folder, image_dir, _ = runs
    with zipfile.ZipFile(image_dir / "exports" / "tflite-int8.zip") as archive:
        model = archive.read("model.tflite")
        readme = archive.read("README.md").decode()
        assert json.loads(archive.read("preprocessing.json"))["image_size"] == 16
        assert "preprocess.py" in archive.namelist()
    interpreter = tf.lite.Interpreter(model_content=model)
    interpreter.allocate_tensors()
    # Activations quantised on the representative images: the graph starts by quantising its float input.
    operations = {op["op_name"] for op in interpreter._get_ops_details()}  # no public list of a model's ops
    assert "QUANTIZE" in operations and "DEQUANTIZE" in operations
    assert interpreter.get_input_details()[0]["dtype"] == np.float32  # called like the float32 model
    assert "calibrated on 100" in readme and "preprocess.py" in readme


def test_text_downloads_match_the_keras_model_on_raw_strings(fresh):
    found, reference = fresh
    for format in TEXT_FORMATS:
        predicted = found[f"text/{format}"]["rows"]
        assert np.abs(np.array(predicted["probabilities"]) - reference["text/rows"]).max() < 1e-5, format
        threshold = np.where(reference["text/rows"][:, 1] >= 0.5, "good", "bad").tolist()
        assert predicted["label"] == threshold, format


def test_formats_that_cannot_hold_a_text_model_are_refused_in_one_sentence(runs):
    _, image_dir, text_dir = runs
    for format in ("tflite-f32", "tflite-f16", "tflite-int8", "onnx"):
        reason = unavailable_reason(text_dir, format)
        assert reason is not None and reason.count(". ") == 0 and "string operations" in reason
        with pytest.raises(AppError) as refused:
            export_artifact(text_dir, format)
        assert refused.value.message == reason
        assert not (text_dir / "exports" / f"{format}.zip").exists()
        assert unavailable_reason(image_dir, format) is None
    with pytest.raises(AppError, match="Not offered"):
        compare_formats(text_dir)


def test_the_comparison_of_an_image_run_scores_each_format_on_its_test_images(runs):
    _, image_dir, _ = runs
    rows = compare_formats(image_dir)
    assert [row["label"] for row in rows] == [
        "Keras (.keras)",
        "TFLite float32",
        "TFLite float16",
        "TFLite int8 (full integer)",
    ]
    scores = {row["format"]: row["value"] for row in rows}
    assert scores["tflite-f32"] == pytest.approx(scores["keras"], abs=1e-9)
    assert abs(scores["tflite-int8"] - scores["keras"]) <= 0.05
    assert rows[3]["size_bytes"] < rows[1]["size_bytes"]
