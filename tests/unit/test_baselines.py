"""Baselines on the same split: real models, the same metrics, and the gap said in plain words."""

import numpy as np
import pandas as pd
import pytest

from core.baselines import compare_baselines, gap_sentence
from core.datasets import prepare_data
from core.run_store import RunStore
from core.spec import DataSpec, PreprocessingSpec, RunSpec, TrainingSpec
from core.training import run_job


def table(rows: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3))
    return pd.DataFrame(
        {"a": x[:, 0], "b": x[:, 1], "c": rng.choice(["u", "v"], rows), "y": np.where(x[:, 0] * x[:, 1] > 0, "p", "n")}
    )


def test_baselines_score_the_same_test_rows_with_the_same_metrics():
    data = prepare_data(table(), DataSpec(target="y"), PreprocessingSpec())
    results = compare_baselines(data, seed=0)
    assert [r["name"] for r in results] == ["Majority class (dummy)", "Logistic regression", "Gradient boosting"]
    dummy, logistic, boosting = (r["test"] for r in results)
    assert dummy["roc_auc"] == pytest.approx(0.5)
    assert logistic["accuracy"] < 0.7 < boosting["accuracy"]  # an XOR-like target: only trees get it


def test_wide_tables_fit_baselines_on_a_sample_of_bounded_size(monkeypatch):
    import core.baselines as baselines

    data = prepare_data(table(), DataSpec(target="y"), PreprocessingSpec())
    # Room for 100 expanded training rows of this table's width: the baselines see 100 sampled rows, and
    # every test row (expanded a block at a time).
    monkeypatch.setattr(baselines, "BASELINE_MATRIX_BYTES", 100 * 4 * data.num_features)
    monkeypatch.setattr(baselines, "MIN_BASELINE_ROWS", 10)
    monkeypatch.setattr(baselines, "TEST_BLOCK_ROWS", 7)
    seen = []

    class Recording(baselines.DummyClassifier):
        def fit(self, x, y):
            seen.append(x.shape)
            return super().fit(x, y)

    monkeypatch.setattr(baselines, "_models", lambda task, seed: {"Majority class (dummy)": Recording()})
    (result,) = compare_baselines(data, seed=0)
    assert seen == [(100, data.num_features)]
    assert result["test"]["accuracy"] == pytest.approx(
        float(np.mean(data.y_test == np.bincount(data.y_train).argmax())), abs=0.1
    )


def test_regression_baselines():
    frame = table()
    frame["y"] = frame["a"] * 3 + 1
    data = prepare_data(frame, DataSpec(target="y"), PreprocessingSpec())
    results = {r["name"]: r["test"] for r in compare_baselines(data, seed=0)}
    assert results["Linear regression (ridge)"]["r2"] > 0.99
    assert abs(results["Mean (dummy)"]["r2"]) < 0.05


def test_gap_sentence_names_the_best_baseline_and_the_direction():
    baselines = [
        {"name": "Gradient boosting", "test": {"accuracy": 0.871}},
        {"name": "Logistic regression", "test": {"accuracy": 0.85}},
    ]
    assert gap_sentence("binary", {"accuracy": 0.859}, baselines) == (
        "Your network is 1.2 points of accuracy below gradient boosting, the best simple model on this data."
    )
    assert "about the same" in gap_sentence("binary", {"accuracy": 0.873}, baselines)


@pytest.mark.slow
def test_run_records_baselines_and_the_summary(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run(
        RunSpec(data=DataSpec(target="y"), training=TrainingSpec(epochs=2)), table(), source_name="t"
    )
    assert run_job(store, run_id)["state"] == "finished"
    metrics = store.metrics(run_id)
    assert len(metrics["baselines"]) == 3
    assert metrics["baseline_summary"].startswith("Your network")
