"""Issue 16, images from a table: a table names image files in one column and their labels in another, a zip
holds the images (in any folders). Read with the zip's checks, labelled from the table; what does not match is
listed, never silently dropped. Also `layerlab train table.csv --target label --images images.zip`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.data.images import image_path_column, read_image_table
from core.errors import DataError
from tests.unit.test_images_reading import grey_png, make_zip, reason_ids


def _zip() -> bytes:
    return make_zip({
        "photos/a/1.png": grey_png(10), "photos/b/2.png": grey_png(200), "photos/3.png": grey_png(60),
        "photos/extra.png": grey_png(90), "other/notes.txt": b"hello",
    })  # fmt: skip


def test_the_table_labels_the_images_found_by_path_or_by_the_paths_end(tmp_path):
    table = pd.DataFrame({
        "image": ["photos/a/1.png", "b\\2.png", "./3.png", "missing.png", "photos/extra.png"],
        "kind": ["cat", "dog", "cat", "dog", None],
        "size": [1, 2, 3, 4, 5],
    })  # fmt: skip
    assert image_path_column(table) == "image"
    image_set = read_image_table(table, "image", "kind", _zip(), tmp_path / "pixels.npy")
    labels = dict(zip(image_set.manifest["file"], image_set.manifest["label"], strict=True))
    assert labels == {"photos/a/1.png": "cat", "photos/b/2.png": "dog", "photos/3.png": "cat"}
    reasons = reason_ids(image_set)
    assert [item.name for item in image_set.skipped].count("photos/extra.png") == 1  # one reason, not two
    assert reasons["missing.png"] == "data.images.skip.not_in_zip"
    assert reasons["photos/extra.png"] == "data.images.skip.no_label"
    assert reasons["other/notes.txt"] == "data.images.skip.not_image"
    pixels = np.load(image_set.pixels_path)
    row = list(image_set.manifest["file"]).index("photos/b/2.png")
    assert pixels.shape[0] == 3 and int(pixels[row].mean()) == 200  # pixel rows in the manifest's order


def test_an_image_the_table_does_not_name_is_listed(tmp_path):
    table = pd.DataFrame({"image": ["a/1.png", "b/2.png"], "kind": ["cat", "dog"]})
    image_set = read_image_table(table, "image", "kind", _zip(), tmp_path / "pixels.npy")
    assert reason_ids(image_set)["photos/3.png"] == "data.images.skip.not_in_table"


def test_nothing_found_names_an_example_and_bad_columns_are_refused(tmp_path):
    table = pd.DataFrame({"image": ["x/1.png", "y/2.png"], "kind": ["cat", "dog"]})
    with pytest.raises(DataError, match="No image the table names was found in the zip.*x/1.png"):
        read_image_table(table, "image", "kind", _zip(), tmp_path / "pixels.npy")
    with pytest.raises(DataError, match="must differ"):
        read_image_table(table, "image", "image", _zip(), tmp_path / "pixels.npy")
    with pytest.raises(DataError, match="no column"):
        read_image_table(table, "image", "label", _zip(), tmp_path / "pixels.npy")
    assert image_path_column(pd.DataFrame({"name": ["a", "b"], "n": [1, 2]})) is None


@pytest.mark.slow
def test_the_cli_trains_on_a_table_of_image_paths_and_a_zip(tmp_path, capsys):
    members, rows = {}, []
    for index in range(24):
        label = "dark" if index % 2 else "light"
        members[f"pics/{index}.png"] = grey_png(30 if label == "dark" else 220)
        rows.append({"file": f"{index}.png", "label": label})
    (tmp_path / "images.zip").write_bytes(make_zip(members))
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    code = main(["train", str(tmp_path / "labels.csv"), "--target", "label", "--images", str(tmp_path / "images.zip"),
                 "--out", str(tmp_path / "runs")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["state"] == "finished" and result["task"] == "binary"
    assert main(["train", str(tmp_path / "labels.csv"), "--target", "label", "--images", str(tmp_path / "x.zip")]) == 2
