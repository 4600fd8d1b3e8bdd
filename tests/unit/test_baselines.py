"""Baselines on the same split: real models, the same metrics, and the gap said in plain words."""

import numpy as np
import pandas as pd
import pytest

from core.data.splitting import prepare_data
from core.evaluation.baselines import compare_baselines, gap_sentence, stored_summary
from core.run_store import RunStore
from core.spec import DataSpec, PreprocessingSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job


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
    import core.evaluation.baselines as baselines

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
    assert run_job(store, run_id).state == "finished"
    metrics = store.metrics(run_id)
    assert len(metrics["baselines"]) == 3
    assert stored_summary(metrics["baseline_summary"]).startswith("Your network")  # a stored Message


def rare_class_table() -> tuple[pd.DataFrame, int]:
    """A two-class table plus one row of a third class, and a seed whose split puts that row in the test rows."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    frame = pd.DataFrame({"a": x, "b": rng.normal(size=60), "y": np.where(x > 0, "p", "n").astype(object)})
    frame.loc[4, "y"] = "rare"
    return frame, 4


def test_a_class_seen_only_in_the_test_rows_gets_a_probability_column_of_zeros():
    frame, seed = rare_class_table()
    data = prepare_data(frame, DataSpec(target="y", seed=seed), PreprocessingSpec())
    assert 2 not in set(data.y_train) and 2 in set(data.y_test)  # 'rare' is in the test rows only
    results = compare_baselines(data, seed=seed)
    assert [r["name"] for r in results] == ["Majority class (dummy)", "Logistic regression", "Gradient boosting"]
    assert all(0.0 <= r["test"]["accuracy"] <= 1.0 for r in results)


def test_a_failing_extra_becomes_a_note_and_the_run_still_finishes(tmp_path, monkeypatch):
    import core.kinds.table as table_kind

    def broken(data, seed):
        raise ValueError("boom")

    monkeypatch.setattr(table_kind, "compare_baselines", broken)  # what the table kind's baselines() calls
    store = RunStore(tmp_path)
    run_id = store.create_run(
        RunSpec(data=DataSpec(target="y"), training=TrainingSpec(epochs=2)), table(120), source_name="t"
    )
    assert run_job(store, run_id).state == "finished"
    metrics = store.metrics(run_id)
    assert "baselines" not in metrics and (store.path(run_id) / "model.keras").exists()
    assert any("comparison with simple models could not be done" in stored_summary(note) for note in metrics["notes"])
    assert "ValueError: boom" in (store.path(run_id) / "log.txt").read_text()


def test_a_run_with_a_class_only_in_the_test_rows_finishes_and_reports_it(tmp_path):
    from core.data.quality import assess_quality
    from core.evaluation.report import evaluation_report

    frame, seed = rare_class_table()
    spec = RunSpec(data=DataSpec(target="y", seed=seed), training=TrainingSpec(epochs=2))
    assert "rare_classes" in {finding.kind for finding in assess_quality(frame, spec)}  # warned before training
    store = RunStore(tmp_path)
    run_id = store.create_run(spec, frame, source_name="t")
    assert run_job(store, run_id).state == "finished"
    metrics = store.metrics(run_id)
    assert len(metrics["baselines"]) == 3
    assert metrics["class_rows"]["train"]["rare"] == 0 and metrics["class_rows"]["test"]["rare"] == 1
    assert any("'rare' had no training rows" in stored_summary(note) for note in metrics["notes"])
    report = evaluation_report(store.path(run_id), importance=False)
    rare = next(row for row in report["per_class"] if row["class"] == "rare")
    assert rare["training rows"] == 0 and rare["support"] == 1 and rare["recall"] == 0.0


def test_per_class_scores_of_a_class_without_test_rows_are_undefined_not_zero():
    from core.evaluation.metrics import per_class_report

    predictions = pd.DataFrame({"actual": ["a", "a", "b"], "predicted": ["a", "b", "b"]})
    report = per_class_report(predictions, ("a", "b", "c"), {"a": 5, "b": 4, "c": 1}).set_index("class")
    assert report.loc["c", "support"] == 0 and report.loc["c", "training rows"] == 1
    assert report.loc[["c"], ["precision", "recall", "F1"]].isna().all(axis=None)
    assert report.loc["a", "recall"] == 0.5


def test_on_unbalanced_classes_the_verdict_compares_auc_and_says_why():
    baselines = [
        {"name": "Gradient boosting", "test": {"accuracy": 0.95, "roc_auc": 0.80, "f1": 0.6}},
        {"name": "Majority class (dummy)", "test": {"accuracy": 0.94, "roc_auc": 0.5, "f1": 0.48}},
    ]
    network = {"accuracy": 0.794, "roc_auc": 0.801, "f1": 0.62}
    assert "15.6 points of accuracy below" in gap_sentence("binary", network, baselines)
    sentence = gap_sentence("binary", network, baselines, imbalanced=True)
    assert sentence.startswith("Your network scores about the same as gradient boosting")
    assert "ROC AUC" in sentence and "unbalanced" in sentence and "accuracy" not in sentence.split(".")[0]
    multiclass = gap_sentence("multiclass", {"accuracy": 0.5, "roc_auc": None, "f1": 0.7}, baselines, imbalanced=True)
    assert "10.0 points of macro F1 (×100) above" in multiclass


def test_imbalance_follows_the_quality_gates_rule():
    from core.evaluation.baselines import is_imbalanced

    assert is_imbalanced([950, 50]) and not is_imbalanced([60, 40])
    assert not is_imbalanced([100, 0])  # a class without rows is noted elsewhere
