"""A saved decision threshold labels rows in the downloaded model exactly as thresholding its probabilities."""

import json
import subprocess
import sys

import numpy as np
import pytest

from core.deployment.threshold import DEFAULT_THRESHOLD, apply_threshold, load_threshold, save_threshold
from core.errors import AppError
from core.run_store import RunStore
from tests.conftest import make_binary_frame, train_small_run

FRESH_PROCESS_SCRIPT = r"""
import json, sys
import numpy as np, pandas as pd, keras
model = keras.saving.load_model(sys.argv[1], safe_mode=True)
rows = pd.read_parquet(sys.argv[2])
inputs = {name: rows[[name]].astype("float32").to_numpy() for name in ("x1", "x2", "noise")}
inputs["colour"] = rows[["colour"]].fillna("").astype(str).to_numpy(dtype=object)
outputs = model(inputs)
labels = [v.decode() for v in keras.ops.convert_to_numpy(outputs["label"]).reshape(-1)]
probabilities = keras.ops.convert_to_numpy(outputs["probabilities"])
assert "core" not in sys.modules
print(json.dumps({"labels": labels, "yes": probabilities[:, 1].tolist()}))
"""


def test_threshold_defaults_to_one_half_and_round_trips(tmp_path):
    assert load_threshold(tmp_path) == DEFAULT_THRESHOLD
    assert save_threshold(tmp_path, 0.8) == 0.8
    assert load_threshold(tmp_path) == 0.8
    assert json.loads((tmp_path / "decision.json").read_text())["threshold"] == 0.8


@pytest.mark.parametrize("value", [0.0, 1.0, -0.2, 3, "high", None, float("nan")])
def test_a_threshold_outside_zero_and_one_is_refused(tmp_path, value):
    with pytest.raises(AppError, match="strictly between 0 and 1"):
        save_threshold(tmp_path, value)
    assert not (tmp_path / "decision.json").exists()


def test_an_unreadable_decision_file_falls_back_to_one_half(tmp_path):
    (tmp_path / "decision.json").write_text('{"threshold": 7}')
    assert load_threshold(tmp_path) == DEFAULT_THRESHOLD


def _train(store: RunStore, frame, target: str) -> str:
    return train_small_run(store.root, frame, target, epochs=2, batch_size=32, learning_rate=0.01)[1]


def _fresh_predictions(model_path, rows_path) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_SCRIPT, str(model_path), str(rows_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=rows_path.parent,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_saving_a_threshold_relabels_the_downloaded_model(tmp_path):
    store = RunStore(tmp_path / "runs")
    frame = make_binary_frame()
    run_id = _train(store, frame, "label")
    run_dir = store.path(run_id)
    rows_path = tmp_path / "rows.parquet"
    frame.drop(columns=["label"]).to_parquet(rows_path, index=False)

    before = _fresh_predictions(run_dir / "model.keras", rows_path)
    assert apply_threshold(run_dir, 0.8) == 0.8
    after = _fresh_predictions(run_dir / "model.keras", rows_path)

    probability = np.asarray(after["yes"], dtype="float32")
    np.testing.assert_allclose(probability, before["yes"], atol=1e-6)  # same network, only the labels move
    assert after["labels"] == np.where(probability >= np.float32(0.8), "yes", "no").tolist()
    assert before["labels"] == np.where(probability >= np.float32(0.5), "yes", "no").tolist()
    assert before["labels"] != after["labels"], "no row has a probability between 0.5 and 0.8"
    assert load_threshold(run_dir) == 0.8


def test_a_threshold_for_a_regression_run_is_refused(tmp_path):
    (tmp_path / "target.json").write_text(json.dumps({"name": "price", "task": "regression", "classes": []}))
    with pytest.raises(AppError, match="binary"):
        apply_threshold(tmp_path, 0.7)
    assert not (tmp_path / "decision.json").exists()


def test_the_evaluate_page_thresholds_probabilities_exactly_as_the_model_does():
    """The model compares float32 probabilities with float32(threshold); 0.7 is not a float32, so a row
    at float32(0.7) is labelled positive by the model and must count as positive on the Evaluate page."""
    import pandas as pd

    from core.evaluation.metrics import cell_rows, predicted_classes, threshold_metrics

    edge = float(np.float32(0.7))
    assert edge < 0.7
    predictions = pd.DataFrame({"actual": ["yes", "no"], "predicted": ["yes", "no"], "prob_no": [0.3, 0.9]})
    predictions["prob_yes"] = [edge, 0.1]
    at = threshold_metrics(predictions, ("no", "yes"), 0.7)
    assert at["recall"] == 1.0 and at["confusion"].tolist() == [[1, 0], [0, 1]]
    assert predicted_classes(predictions[["prob_no", "prob_yes"]].to_numpy(), "binary", 0.7).tolist() == [1, 0]
    rows = pd.DataFrame({"x": [1, 2]})
    assert len(cell_rows(predictions, rows, ("no", "yes"), "yes", "yes", threshold=0.7)) == 1


@pytest.mark.slow
def test_a_text_runs_threshold_is_built_into_its_model(tmp_path):
    """Issue 16: images and text keep a saved threshold too (their vectorizer is prepared again, the same fit)."""
    import pandas as pd

    from core.spec import DataSpec, RunSpec, TrainingSpec, default_model
    from core.training.run_job import run_job

    rng = np.random.default_rng(0)
    good, bad = ["fine", "great", "lovely", "moving"], ["dull", "poor", "weak", "boring"]
    rows = [(" ".join(rng.choice(good if positive else bad, 3)) + " film " + rng.choice(good + bad), positive)
            for positive in rng.integers(0, 2, 300)]  # fmt: skip
    frame = pd.DataFrame({"review": [text for text, _ in rows], "label": ["pos" if p else "neg" for _, p in rows]})
    store = RunStore(tmp_path / "runs")
    spec = RunSpec(data=DataSpec(kind="text", target="label"), model=default_model("text"),
                   training=TrainingSpec(epochs=2))  # fmt: skip
    run_id = store.create_run(spec, frame, source_name="reviews.csv")
    assert run_job(store, run_id).state == "finished"
    texts = ["fine great film dull", "dull poor film lovely", "moving film", "boring weak film", "film"]

    def predict():  # the model file as a user loads it (a fresh process is the table test's business above)
        import keras

        model = keras.saving.load_model(store.path(run_id) / "model.keras", safe_mode=True)
        outputs = model({"review": np.array([[text] for text in texts], dtype=object)})
        labels = [v.decode() for v in keras.ops.convert_to_numpy(outputs["label"]).reshape(-1)]
        return {"labels": labels, "pos": keras.ops.convert_to_numpy(outputs["probabilities"])[:, 1].tolist()}

    before = predict()
    nearest = min(before["pos"], key=lambda p: abs(p - 0.5))  # the text whose label a threshold moves first
    cut = float(np.float32(nearest + 1e-4 if nearest >= 0.5 else nearest - 1e-4))
    assert 0.0 < cut < 1.0
    assert apply_threshold(store.path(run_id), cut) == cut
    after = predict()
    np.testing.assert_allclose(after["pos"], before["pos"], atol=1e-6)  # the same vectorizer and network
    assert after["labels"] == ["pos" if p >= np.float32(cut) else "neg" for p in after["pos"]]
    assert after["labels"] != before["labels"]
