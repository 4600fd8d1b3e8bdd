"""Occlusion of images and leave-one-word-out of texts (core.evaluation.occlusion): models whose answer we know."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import AppError
from core.evaluation.occlusion import (
    HeatMap,
    TextPushes,
    occlusion_map,
    patch_geometry,
    patch_positions,
    reads_characters,
    text_pieces,
    word_pushes,
)
from core.run_store import RunFiles

SIDE = 28


def corner_model(images: np.ndarray) -> np.ndarray:
    """P(bright) from the top-left 6 × 6 pixels only: the rest of the image cannot matter."""
    corner = images[:, :6, :6, :].astype("float64").mean(axis=(1, 2, 3)) / 255.0
    bright = 1.0 / (1.0 + np.exp(-12.0 * (corner - 0.5)))
    return np.stack([1.0 - bright, bright], axis=1)


def test_a_model_that_looks_at_the_top_left_corner_drops_most_when_it_is_covered():
    image = np.full((SIDE, SIDE, 1), 250, dtype="uint8")
    calls: list[int] = []

    def counted(images):
        calls.append(len(images))
        return corner_model(images)

    heat = occlusion_map(counted, image, 1, class_name="bright")
    assert (heat.patch, heat.stride) == (4, 2) and heat.drops.shape == (13, 13)
    assert np.unravel_index(heat.drops.argmax(), heat.drops.shape) == (0, 0)
    assert heat.drops[0, 0] > 0.02 and heat.probability == pytest.approx(corner_model(image[None])[0, 1])
    assert heat.rows[3] == 6 and heat.columns[3] == 6  # from the fourth position on, a patch misses the corner
    assert np.abs(heat.drops[3:, :]).max() == 0.0 and np.abs(heat.drops[:, 3:]).max() == 0.0
    assert calls == [1, 169]  # the whole image, then every position in one batch


def test_patches_are_about_a_seventh_of_the_side_and_cover_every_pixel():
    assert patch_geometry(16) == (2, 1) and patch_geometry(28) == (4, 2) and patch_geometry(224) == (32, 16)
    positions = patch_positions(30, 4, 3)
    assert positions[0] == 0 and positions[-1] == 26  # the last patch is flush with the edge
    covered = np.zeros(30, dtype=bool)
    for start in positions:
        covered[start : start + 4] = True
    assert covered.all()
    with pytest.raises(ValueError, match="Received: side=1"):
        patch_geometry(1)


def test_a_colour_image_is_covered_in_every_channel():
    image = np.full((14, 14, 3), 250, dtype="uint8")
    heat = occlusion_map(corner_model, image, 1)
    assert heat.drops[0, 0] == heat.drops.max() > 0


def test_the_word_that_decides_the_class_gets_the_largest_push():
    def sentiment(texts):
        return np.array([[0.95, 0.05] if "awful" in text else [0.3, 0.7] for text in texts])

    seen: list[list[str]] = []

    def recorded(texts):
        seen.append(list(texts))
        return sentiment(texts)

    texts = ["an awful, long film", "a fine film", "<b>x</b> **y** awful"]
    result = word_pushes(recorded, texts, [0, 1, 0], class_names=["bad", "good", "bad"])
    assert len(seen) == 1  # every variant of every text in one call
    first = result[0]
    assert "".join(first.pieces) == texts[0] and first.class_name == "bad"
    pushes = {piece: push for piece, push in zip(first.pieces, first.pushes, strict=True) if push is not None}
    assert max(pushes, key=pushes.get) == "awful," and pushes["awful,"] == pytest.approx(0.65)
    assert pushes["an"] == 0.0 and pushes["long"] == 0.0
    assert all(push == 0.0 for push in result[1].pushes if push is not None)  # no word changes a fine film
    marked = result[2]
    assert marked.pieces == ("<b>x</b>", " ", "**y**", " ", "awful") and marked.pushes[1] is None


def test_chinese_text_is_read_by_character_and_pushes_go_both_ways():
    def sentiment(texts):
        return np.array([[min(1.0, 0.5 + 0.4 * ("差" in text) - 0.3 * ("好" in text)), 0.0] for text in texts])

    assert reads_characters("服务很差，不推荐") and not reads_characters("a fine film")
    assert reads_characters("abc", split="character") and not reads_characters("wonderful", split="whitespace")
    assert text_pieces("很差 好", characters=True) == ["很", "差", " ", "好"]
    result = word_pushes(sentiment, ["服务差但房间好"], [0])[0]
    pushes = dict(zip(result.pieces, result.pushes, strict=True))
    assert pushes["差"] == pytest.approx(0.4) and pushes["好"] == pytest.approx(-0.3) and pushes["服"] == 0.0


def test_a_long_text_gets_pushes_for_its_first_words_only():
    result = word_pushes(lambda texts: np.full((len(texts), 2), 0.5), [" ".join(["word"] * 10)], [0], max_units=3)[0]
    assert sum(push is not None for push in result.pushes) == 3 and len(result.pieces) == 19


def test_results_travel_as_json_and_back():
    heat = HeatMap(np.array([[0.25, 0.0]]), (0,), (0, 2), 2, 2, 0.9, "cat")
    again = HeatMap.from_dict(heat.to_dict())
    assert np.array_equal(again.drops, heat.drops) and again.columns == (0, 2) and again.class_name == "cat"
    pushes = TextPushes(("a", " ", "b"), (0.1, None, -0.2), 0.8, "good")
    assert TextPushes.from_dict(pushes.to_dict()) == pushes


def _run_folder(tmp_path, classes: list[str]) -> RunFiles:
    folder = tmp_path / "run"
    folder.mkdir()
    files = RunFiles(folder)
    files.write_json(RunFiles.TARGET, {"name": "label", "task": "binary", "classes": classes, "mean": 0.0, "std": 1.0})
    return files


@pytest.mark.slow
def test_a_saved_corner_model_gives_the_largest_drop_in_its_corner(tmp_path):
    """The child's own work, in this process: a `.keras` image model that reads only the top-left corner."""
    import keras

    from core.deployment.serving_model import SERVING_MODEL_NAME
    from core.evaluation.occlusion import heat_map_of_run

    files = _run_folder(tmp_path, ["dark", "bright"])
    pixels = np.full((3, SIDE, SIDE, 1), 250, dtype="uint8")
    np.save(files.path(RunFiles.PIXELS), pixels)
    raw = keras.Input(shape=(SIDE, SIDE, 1), dtype="uint8", name="image")
    scaled = keras.layers.Rescaling(1.0 / 255.0)(keras.ops.cast(raw, "float32"))
    corner = keras.layers.Cropping2D(((0, SIDE - 6), (0, SIDE - 6)))(scaled)
    bright = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(corner))
    probabilities = keras.layers.Concatenate()([keras.ops.subtract(1.0, bright), bright])
    model = keras.Model({"image": raw}, {"probabilities": probabilities}, name=SERVING_MODEL_NAME)
    dense = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dense))
    dense.set_weights([np.array([[12.0]], dtype="float32"), np.array([-6.0], dtype="float32")])
    model.save(files.path(RunFiles.MODEL))

    heat = heat_map_of_run(files.folder, 1, "bright")
    assert np.unravel_index(heat.drops.argmax(), heat.drops.shape) == (0, 0)
    assert heat.drops[0, 0] > 0.02 and np.abs(heat.drops[5:, 5:]).max() < 1e-6
    with pytest.raises(AppError, match="'purple' is not one of this run's classes"):
        heat_map_of_run(files.folder, 1, "purple")


@pytest.mark.slow
def test_a_saved_text_model_pushes_hardest_with_the_word_that_decides(tmp_path):
    """The child's own work, in this process: a raw-string model in which only "awful" says "bad"."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TextVectorization runs on TensorFlow's string ops")
    from core.deployment.serving_model import SERVING_MODEL_NAME
    from core.evaluation.occlusion import word_pushes_of_run

    files = _run_folder(tmp_path, ["bad", "good"])
    raw = keras.Input(shape=(1,), dtype="string", name="review")
    words = keras.layers.TextVectorization(vocabulary=["awful", "film", "the"], output_mode="multi_hot")(raw)
    good = keras.layers.Dense(1, activation="sigmoid")(words)
    probabilities = keras.layers.Concatenate()([keras.ops.subtract(1.0, good), good])
    model = keras.Model({"review": raw}, {"probabilities": probabilities}, name=SERVING_MODEL_NAME)
    dense = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dense))
    # multi_hot slots: [unknown, awful, film, the]; "awful" pulls hard toward bad, "film" a little toward good.
    dense.set_weights([np.array([[0.0], [-6.0], [0.5], [0.0]], dtype="float32"), np.array([2.0], dtype="float32")])
    model.save(files.path(RunFiles.MODEL))

    result = word_pushes_of_run(files.folder, ["the awful film", "the film"], ["bad", "good"])
    pushes = dict(zip(result[0].pieces, result[0].pushes, strict=True))
    assert max((piece for piece in pushes if pushes[piece] is not None), key=pushes.get) == "awful"
    assert pushes["awful"] > 0.5 and pushes["film"] < 0 and pushes["the"] == pytest.approx(0.0, abs=1e-6)
    assert result[1].class_name == "good" and result[1].probability > 0.9
