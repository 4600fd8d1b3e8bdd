"""Kind text: a free-text column becomes TextVectorization inside the model, which then takes raw strings."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.kinds import dataset_kind
from core.kinds.text import looks_like_text, text_column
from core.run_store import RunStore
from core.spec import DataSpec, PreprocessingSpec, RunSpec, TextSpec, TrainingSpec, default_model

GOOD = ["a wonderful, moving film", "great acting and a lovely score", "funny - and smart too", "best of the year"]
BAD = ["dull and far too long", "a boring mess - nothing works", "bad acting, worse script", "tedious and flat"]


def reviews(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = np.where(np.arange(rows) % 2 == 0, "good", "bad")
    texts = [
        f"{rng.choice(GOOD if label == 'good' else BAD)} number {position} says {rng.choice(['he', 'she', 'they'])}"
        for position, label in enumerate(labels)
    ]
    return pd.DataFrame({"review": texts, "stars": labels, "city": rng.choice(["x", "y"], rows)})


def test_the_text_column_is_detected_and_can_be_named():
    frame = reviews()
    assert looks_like_text(frame, "stars")
    assert text_column(frame, DataSpec(target="stars", kind="text"), TextSpec()) == "review"
    with pytest.raises(DataError, match="'nope' is not in the table"):
        text_column(frame, DataSpec(target="stars", kind="text"), TextSpec(column="nope"))
    assert not looks_like_text(frame[["stars", "city"]], "stars")


def test_a_number_target_is_refused_for_text():
    frame = reviews().assign(stars=np.arange(400, dtype=float))
    with pytest.raises(DataError, match="predict classes, not numbers"):
        dataset_kind("text").prepare(
            frame, DataSpec(target="stars", kind="text", task="regression"), PreprocessingSpec()
        )


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["Bag of n-grams (default)", "Embedding + average"])
def test_a_text_run_trains_and_its_model_takes_raw_strings_without_layerlab(tmp_path, tmp_home, preset):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TextVectorization runs on TensorFlow's string ops")
    from core.spec import TEXT_PRESETS
    from core.training.run_job import run_job

    store = RunStore(tmp_path / "runs")
    spec = RunSpec(
        data=DataSpec(target="stars", kind="text"),
        model=TEXT_PRESETS[preset],
        training=TrainingSpec(epochs=8, batch_size=32, learning_rate=0.01),
    )
    run_id = store.create_run(spec, reviews().drop(columns=["city"]), source_name="reviews.csv")
    status = run_job(store, run_id)
    assert status.state == "finished", status.sentence()
    metrics = store.metrics(run_id)
    assert metrics["test"]["accuracy"] >= 0.9  # the words say it all
    assert [b["name"] for b in metrics["baselines"]] == ["Majority class (dummy)", "TF-IDF + logistic regression"]
    record = json.loads(store.files(run_id).preprocessing_text())
    assert record["column"] == "review" and record["settings"]["split"] == "whitespace"
    assert record["settings"]["output_mode"] == ("int" if preset.startswith("Embedding") else "tf_idf")

    script = f"""
import json, sys
import keras, numpy as np, tensorflow as tf
model = keras.saving.load_model({str(store.path(run_id) / "model.keras")!r})
out = model({{"review": tf.constant([["a wonderful -- moving film"], ["dull, boring  mess"]])}})
assert "core" not in sys.modules
print(json.dumps([v.decode() for v in keras.ops.convert_to_numpy(out["label"]).tolist()]))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["good", "bad"]


def chinese_reviews(rows: int = 300) -> pd.DataFrame:
    """Chinese reviews without spaces between words: the text kind splits them into characters."""
    rng = np.random.default_rng(1)
    good, bad = (
        ["质量很好，非常满意", "服务周到，下次还来", "性价比高，推荐"],
        ["太差了，很失望", "房间很脏，服务差", "没用几天就坏了"],
    )
    labels = np.where(np.arange(rows) % 2 == 0, "正面", "负面")
    texts = [f"{rng.choice(good if label == '正面' else bad)}。第{i}条" for i, label in enumerate(labels)]
    return pd.DataFrame({"评论": texts, "情感": labels})


@pytest.mark.slow
def test_a_bag_of_ngrams_reads_the_other_columns_beside_the_text(tmp_path, tmp_home):
    """The class depends on a number column only (the texts are the same mix in both classes): the combined model
    learns it from that column, TF-IDF on the text alone cannot, and the downloaded model takes both raw."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TextVectorization runs on TensorFlow's string ops")
    from core.deployment.serving_model import load_model_file, predict_table
    from core.training.run_job import run_job

    rng = np.random.default_rng(3)
    frame = reviews(400).drop(columns=["stars"])
    frame["price"] = rng.uniform(0, 100, len(frame))
    frame["stars"] = np.where(frame["price"] > 50, "dear", "cheap")
    store = RunStore(tmp_path / "runs")
    spec = RunSpec(
        data=DataSpec(target="stars", kind="text"),
        model=default_model("text"),
        training=TrainingSpec(epochs=30, batch_size=32, learning_rate=0.01),
    )
    run_id = store.create_run(spec, frame, source_name="reviews.csv")
    assert run_job(store, run_id).state == "finished"
    metrics = store.metrics(run_id)
    tfidf = next(b for b in metrics["baselines"] if b["name"].startswith("TF-IDF"))["test"]["accuracy"]
    assert metrics["test"]["accuracy"] >= 0.85 and tfidf < 0.7
    record = json.loads(store.files(run_id).preprocessing_text())
    assert [column["name"] for column in record["table"]["columns"]] == ["city", "price"]
    model = load_model_file(store.path(run_id) / "model.keras")
    rows = pd.DataFrame(
        {"review": ["best of the year", "dull and far too long"], "city": ["x", "y"], "price": [95.0, 5.0]}
    )
    assert predict_table(model, rows)["prediction"].tolist() == ["dear", "cheap"]
