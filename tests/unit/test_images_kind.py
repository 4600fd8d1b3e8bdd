"""Kind images: split, stream from disk, train, and a downloadable model that takes raw images of any size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.kinds import dataset_kind
from core.kinds.images import ImageSource, batch_pixels, prepare_images
from core.run_store import RunStore
from core.spec import AugmentationSpec, DataSpec, ImageSpec, PreprocessingSpec, RunSpec, TrainingSpec, default_model

SIDE = 16
FOLDS_MAX = 20  # DataSpec.cross_validation_folds le


def shapes(folder: Path, count: int = 240, *, split: bool = False) -> ImageSource:
    """Bars, columns and squares on noise: a CNN tells them apart in a few epochs, a pixel average cannot."""
    rng = np.random.default_rng(0)
    labels = np.array(["bar", "column", "square"])[np.arange(count) % 3]
    path = folder / "pixels.npy"
    pixels = np.lib.format.open_memmap(path, mode="w+", dtype="uint8", shape=(count, SIDE, SIDE, 1))
    for position, name in enumerate(labels):
        image = rng.integers(0, 60, (SIDE, SIDE)).astype("uint8")
        a, b = rng.integers(2, 10, 2)
        if name == "bar":
            image[a : a + 3, 2:14] = 250
        elif name == "column":
            image[2:14, b : b + 3] = 250
        else:
            image[a : a + 6, b : b + 6] = 250
        pixels[position, ..., 0] = image
    pixels.flush()
    manifest = pd.DataFrame(
        {
            "file": [f"{name}/{position}.png" for position, name in enumerate(labels)],
            "label": labels,
            "split": np.where(np.arange(count) % 5 == 0, "test", "train") if split else "",
            "width": SIDE,
            "height": SIDE,
            "mode": "L",
            "sha1": [f"{position:040x}" for position in range(count)],
        }
    )
    return ImageSource(manifest=manifest, pixels=np.load(path, mmap_mode="r"))


def test_a_split_is_stratified_seeded_and_disjoint(tmp_path):
    source = shapes(tmp_path)
    prepared = prepare_images(source, DataSpec(kind="images", target="label"), PreprocessingSpec())
    parts = [set(prepared.train_index), set(prepared.validation_index), set(prepared.test_index)]
    assert sum(len(part) for part in parts) == 240 and not (parts[0] & parts[1] or parts[0] & parts[2])
    assert np.bincount(prepared.y_test).tolist() == [16, 16, 16]  # 20% of each class
    assert prepared.target.classes == ("bar", "column", "square") and prepared.target.task == "multiclass"
    again = prepare_images(source, DataSpec(kind="images", target="label"), PreprocessingSpec())
    assert np.array_equal(again.test_index, prepared.test_index)


def test_the_zips_test_folder_is_the_test_split(tmp_path):
    prepared = prepare_images(
        shapes(tmp_path, split=True), DataSpec(kind="images", target="label"), PreprocessingSpec()
    )
    assert prepared.split_source == "folders"
    assert set(prepared.manifest["split"].iloc[prepared.test_index]) == {"test"}
    assert set(prepared.manifest["split"].iloc[prepared.train_index]) == {"train"}


def test_one_class_or_a_class_of_one_image_is_refused_with_what_to_do(tmp_path):
    source = shapes(tmp_path)
    one = ImageSource(source.manifest.assign(label="cat"), source.pixels)
    with pytest.raises(DataError, match="at least two class folders"):
        prepare_images(one, DataSpec(kind="images", target="label"), PreprocessingSpec())
    lonely = source.manifest.copy()
    lonely.loc[0, "label"] = "lonely"
    with pytest.raises(DataError, match="fewer than 2 images: lonely"):
        prepare_images(ImageSource(lonely, source.pixels), DataSpec(kind="images", target="label"), PreprocessingSpec())


def test_training_batches_read_only_their_own_images_from_disk(tmp_path):
    """Memory stays bounded: every batch reads batch_size images from the memory-mapped array, never all."""
    source = shapes(tmp_path)
    reads: list[int] = []

    class CountingPixels(np.ndarray):
        def __getitem__(self, key):
            if isinstance(key, np.ndarray):
                reads.append(len(key))
            return super().__getitem__(key)

    counting = ImageSource(source.manifest, source.pixels.view(CountingPixels))
    prepared = prepare_images(counting, DataSpec(kind="images", target="label"), PreprocessingSpec())
    batches = dataset_kind("images").fit_arguments(prepared, batch_size=32)["x"]
    x, y = batches[0]
    assert x.shape == (32, SIDE, SIDE, 1) and x.dtype == np.float32 and y.shape == (32,)
    for position in range(len(batches)):
        batches[position]
    assert reads and max(reads) <= 32
    assert sum(reads) == len(prepared.train_index) + 32  # one pass over the training images, plus the first look


def test_images_stored_at_another_size_are_resized_for_the_network(tmp_path):
    source = shapes(tmp_path)
    resized = batch_pixels(source.pixels, np.array([5, 1, 3]), 24)
    assert resized.shape == (3, 24, 24, 1)
    assert resized[1].mean() == pytest.approx(source.pixels[1].mean(), abs=6)  # the same picture, bigger


def test_the_model_diagram_lists_rescaling_and_augmentation_before_the_layers(tmp_path):
    from core.model.building import describe_model

    prepared = prepare_images(
        shapes(tmp_path),
        DataSpec(kind="images", target="label"),
        PreprocessingSpec(images=ImageSpec(augmentation=AugmentationSpec(flip="horizontal", zoom=0.1))),
    )
    model_input = dataset_kind("images").model_input(prepared)
    rows = describe_model(
        default_model("images"), model_input.num_inputs, "multiclass", 3, **model_input.build_arguments()
    )
    assert [row.layer_type for row in rows[:4]] == ["InputLayer", "Rescaling", "RandomFlip", "RandomZoom"]
    assert rows[-1].output_shape == "(None, 3)"


@pytest.mark.slow
def test_an_image_run_trains_and_its_model_takes_raw_images_of_any_size_without_layerlab(tmp_path, tmp_home):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the downloadable model is written under TensorFlow")
    from core.deployment.upload_check import check_model_file
    from core.training.run_job import run_job

    source = shapes(tmp_path)
    store = RunStore(tmp_path / "runs")
    spec = RunSpec(
        data=DataSpec(kind="images", target="label"),
        model=default_model("images"),
        training=TrainingSpec(epochs=3, batch_size=32),
        preprocessing=PreprocessingSpec(images=ImageSpec(augmentation=AugmentationSpec(flip="horizontal"))),
    )
    run_id = store.create_run(spec, source.manifest, source_name="shapes.zip", pixels=tmp_path / "pixels.npy")
    status = run_job(store, run_id)
    assert status.state == "finished", status.sentence()
    metrics = store.metrics(run_id)
    assert metrics["num_rows"]["test"] == 48 and len(store.predictions(run_id)) == 48
    names = [baseline["name"] for baseline in metrics["baselines"]]
    assert names == ["Majority class (dummy)", "Logistic regression"]
    model_path = store.path(run_id) / "model.keras"
    checked = check_model_file(model_path)  # what the Predict page's upload check accepts
    assert [(item.name, item.dtype) for item in checked.inputs] == [("image", "uint8")]
    assert checked.classes == ("bar", "column", "square")

    script = f"""
import json, sys
import keras, numpy as np
model = keras.saving.load_model({str(model_path)!r})
big = np.zeros((2, 40, 30, 1), dtype="uint8"); big[:, 5:35, 12:18] = 250  # a column, at another size
out = model({{"image": big}})
assert "core" not in sys.modules
print(json.dumps({{"labels": [v.decode() for v in keras.ops.convert_to_numpy(out["label"]).tolist()],
                   "sums": keras.ops.convert_to_numpy(out["probabilities"]).sum(axis=1).tolist()}}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(output["labels"]) <= {"bar", "column", "square"}
    assert all(abs(total - 1) < 1e-4 for total in output["sums"])


def test_shared_mode_caps_count_an_image_networks_parameters_when_the_run_is_created(tmp_path):
    from core.errors import CapError
    from core.shared_mode.limits import RunCaps
    from core.spec import DenseLayer, FlattenLayer, ModelSpec

    source = shapes(tmp_path)
    caps = RunCaps(max_rows=10_000, max_epochs=50, max_params=500_000, max_model_mb=50, max_run_minutes=10)
    store = RunStore(tmp_path / "runs", caps=caps)
    huge = ModelSpec(layers=(FlattenLayer(), DenseLayer(units=4096), DenseLayer(units=4096)))
    spec = RunSpec(data=DataSpec(kind="images", target="label"), model=huge)
    with pytest.raises(CapError, match="parameters"):
        store.create_run(spec, source.manifest, source_name="shapes.zip", pixels=tmp_path / "pixels.npy")
    small = RunSpec(data=DataSpec(kind="images", target="label"), model=default_model("images"))
    assert store.create_run(small, source.manifest, source_name="shapes.zip", pixels=tmp_path / "pixels.npy")


def test_image_folds_are_stratified_disjoint_and_leave_the_test_images_out(tmp_path):
    source = shapes(tmp_path, 120)
    prepared = prepare_images(
        source, DataSpec(kind="images", target="label", cross_validation_folds=3), PreprocessingSpec()
    )
    assert prepared.cross_validation.k == 3 and prepared.cross_validation.method == "StratifiedKFold"
    kind = dataset_kind("images")
    held = [set(kind.prepare_fold(prepared, fold, PreprocessingSpec()).test_index) for fold in range(3)]
    assert not (held[0] & held[1] or held[0] & held[2] or held[1] & held[2])
    assert set().union(*held) == set(prepared.train_index) | set(prepared.validation_index)
    assert not set().union(*held) & set(prepared.test_index)
    fold = kind.prepare_fold(prepared, 0, PreprocessingSpec())
    assert not set(fold.train_index) & set(fold.test_index)
    assert np.bincount(fold.y_test).tolist() == np.bincount(prepared.extra["codes"][fold.test_index]).tolist()
    few = tmp_path / "few"
    few.mkdir()
    with pytest.raises(DataError, match="at least one image per fold"):
        prepare_images(shapes(few, 15), DataSpec(kind="images", target="label", cross_validation_folds=FOLDS_MAX),
                       PreprocessingSpec())  # fmt: skip


@pytest.mark.slow
def test_an_image_run_cross_validates_one_network_per_fold(tmp_path):
    from core.spec import IMAGE_PRESETS
    from core.training.run_job import run_job

    source = shapes(tmp_path, 90)
    store = RunStore(tmp_path / "runs")
    spec = RunSpec(data=DataSpec(kind="images", target="label", cross_validation_folds=3),
                   model=IMAGE_PRESETS["MLP on pixels"], training=TrainingSpec(epochs=2))  # fmt: skip
    run_id = store.create_run(spec, source.manifest, source_name="shapes.zip", pixels=tmp_path / "pixels.npy")
    assert run_job(store, run_id).state == "finished"
    result = store.metrics(run_id)["cross_validation"]
    assert result["folds"] == 3 and result["completed"] == 3 and "accuracy" in result["mean"]
    details = json.loads((store.path(run_id) / "cross_validation.json").read_text())["fold_details"]
    rows = store.metrics(run_id)["num_rows"]
    assert sum(d["held_out_rows"] for d in details) == rows["train"] + rows["validation"]  # every non-test image once
