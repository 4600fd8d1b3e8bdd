"""k-fold cross-validation after the main run, and balanced class weights."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_class_weight

from core.data.splitting import prepare_data, prepare_fold
from core.errors import DataError
from core.run_store import RunStore, stored_text
from core.spec import ColumnSpec, DataSpec, DenseLayer, ModelSpec, PreprocessingSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job
from tests.conftest import make_binary_frame, make_regression_frame

SMALL_MODEL = ModelSpec(layers=(DenseLayer(units=8),))


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def _spec(target: str, *, columns: tuple[ColumnSpec, ...] = (), training: dict | None = None, **data) -> RunSpec:
    return RunSpec(
        data=DataSpec(target=target, **data),
        preprocessing=PreprocessingSpec(columns=columns),
        model=SMALL_MODEL,
        training=TrainingSpec(**{"epochs": 2, "batch_size": 32, **(training or {})}),
    )


def _cross_validation(store: RunStore, run_id: str) -> dict:
    return json.loads((store.path(run_id) / "cross_validation.json").read_text(encoding="utf-8"))


def _with_groups(frame: pd.DataFrame, num_groups: int = 15, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return frame.assign(shop=rng.choice([f"s{i}" for i in range(num_groups)], size=len(frame)).astype(object))


# --- The folds (no training) ---


def test_held_out_folds_partition_the_non_test_rows():
    frame = make_binary_frame(200)
    prepared = prepare_data(frame, DataSpec(target="label", cross_validation_folds=4), PreprocessingSpec())
    plan = prepared.cross_validation
    assert plan.k == 4 and plan.method == "StratifiedKFold"
    assert set(plan.rows.index) == set(prepared.train.index) | set(prepared.validation.index)
    assert not set(plan.rows.index) & set(prepared.test.index)
    held_out = np.concatenate([held for _, held in plan.folds])
    assert sorted(held_out) == list(range(len(plan.rows)))
    for train, held in plan.folds:
        assert not set(train) & set(held)
        assert len(train) + len(held) == len(plan.rows)
        share = (plan.rows.iloc[held]["label"] == "yes").mean()
        assert share == pytest.approx((plan.rows["label"] == "yes").mean(), abs=0.05)


def test_folds_are_seeded():
    frame = make_binary_frame(200)
    folds = [
        prepare_data(frame, DataSpec(target="label", cross_validation_folds=3, seed=seed), PreprocessingSpec())
        .cross_validation.folds[0][1]
        .tolist()
        for seed in (3, 3, 4)
    ]
    assert folds[0] == folds[1] != folds[2]


def test_regression_uses_kfold_and_each_fold_refits_the_target_scale():
    frame = make_regression_frame(200)
    spec = DataSpec(target="price", cross_validation_folds=3)
    prepared = prepare_data(frame, spec, PreprocessingSpec())
    assert prepared.cross_validation.method == "KFold"
    fold = prepare_fold(prepared, 1, PreprocessingSpec())
    assert fold.target.mean == pytest.approx(fold.train["price"].mean())
    assert fold.target.mean != prepared.target.mean
    assert fold.test is fold.validation  # each fold model is scored on its held-out fold
    assert len(fold.train) + len(fold.test) == len(prepared.cross_validation.rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_validation_with_groups_uses_group_kfold(seed):
    frame = _with_groups(make_binary_frame(240, seed=seed), seed=seed)
    spec = DataSpec(target="label", group_column="shop", cross_validation_folds=3, seed=seed)
    prepared = prepare_data(frame, spec, PreprocessingSpec())
    plan = prepared.cross_validation
    assert plan.method == "GroupKFold"
    assert not set(plan.rows["shop"]) & set(prepared.test["shop"])
    held_out_groups = [set(plan.rows.iloc[held]["shop"]) for _, held in plan.folds]
    for i, groups in enumerate(held_out_groups):
        assert groups
        assert not groups & set(plan.rows.iloc[plan.folds[i][0]]["shop"])  # not in the fold's training rows
        for other in held_out_groups[i + 1 :]:
            assert not groups & other  # no group in two folds


def test_more_folds_than_groups_is_refused_before_training():
    frame = _with_groups(make_binary_frame(200), num_groups=5)  # one group goes to the test rows
    spec = DataSpec(target="label", group_column="shop", cross_validation_folds=5)
    with pytest.raises(DataError) as caught:
        prepare_data(frame, spec, PreprocessingSpec())
    assert caught.value.field == "data.cross_validation_folds"
    assert "at least 5 groups" in caught.value.message and "'shop' has 4" in caught.value.message


def test_more_folds_than_rows_is_refused_before_training():
    with pytest.raises(DataError) as caught:
        prepare_data(make_binary_frame(24), DataSpec(target="label", cross_validation_folds=20), PreprocessingSpec())
    assert caught.value.field == "data.cross_validation_folds"
    assert "Lower the number of folds" in caught.value.message


def test_folds_left_with_too_few_training_rows_after_drop_rows_are_refused_before_training():
    frame = make_binary_frame(40)
    frame.loc[frame.index[:23], "x1"] = np.nan  # 17 rows with x1: enough for the main split, not for a fold
    preprocessing = PreprocessingSpec(columns=(ColumnSpec(name="x1", missing="drop_rows"),))
    assert len(prepare_data(frame, DataSpec(target="label"), preprocessing).train) >= 10
    with pytest.raises(DataError) as caught:
        prepare_data(frame, DataSpec(target="label", cross_validation_folds=3), preprocessing)
    assert caught.value.field == "data.cross_validation_folds"
    assert "leaves a fold with 9 training rows" in caught.value.message
    assert "Lower the number of folds" in caught.value.message


def test_each_fold_drops_rows_from_its_own_training_rows_only():
    frame = make_binary_frame(300)
    preprocessing = PreprocessingSpec(columns=(ColumnSpec(name="x1", missing="drop_rows"),))
    prepared = prepare_data(frame, DataSpec(target="label", cross_validation_folds=3), preprocessing)
    assert prepared.cross_validation.rows["x1"].isna().any()  # the plan keeps them
    for fold in range(3):
        data = prepare_fold(prepared, fold, preprocessing)
        assert not data.train["x1"].isna().any()
    assert any(prepare_fold(prepared, fold, preprocessing).test["x1"].isna().any() for fold in range(3))


# --- Training runs ---


@pytest.mark.slow
def test_three_fold_cross_validation_reports_mean_and_std_of_every_metric(store):
    frame = make_binary_frame(240)
    run_id = store.create_run(_spec("label", cross_validation_folds=3), frame, source_name="t.csv")
    status = run_job(store, run_id)
    assert status.state == "finished"
    assert "Cross-validation over 3 folds: Accuracy" in status.message

    result = _cross_validation(store, run_id)
    assert result["folds"] == 3 and result["completed"] == 3 and result["stopped"] is False
    assert result["method"] == "StratifiedKFold" and result["scored_on"] == "held-out fold"
    assert len(result["per_fold"]) == 3
    names = {"accuracy", "precision", "recall", "f1", "roc_auc"}
    for name in names:
        values = [scores[name] for scores in result["per_fold"]]
        assert result["mean"][name] == pytest.approx(np.mean(values))
        assert result["std"][name] == pytest.approx(np.std(values))
    held_out = [detail["held_out_rows"] for detail in result["fold_details"]]
    metrics = store.metrics(run_id)
    assert sum(held_out) == metrics["num_rows"]["train"] + metrics["num_rows"]["validation"]
    assert metrics["cross_validation"]["folds"] == 3
    assert metrics["cross_validation"]["mean"] == result["mean"]
    assert metrics["cross_validation"]["std"] == result["std"]
    assert status.extra["cross_validation"] == metrics["cross_validation"]
    assert len(store.history(run_id)) == metrics["epochs_run"]  # the folds leave the main curves alone

    # The main run (test metrics, exported model) is the same as without cross-validation.
    plain_id = store.create_run(_spec("label"), frame, source_name="t.csv")
    assert run_job(store, plain_id).state == "finished"
    assert store.metrics(plain_id)["test"] == metrics["test"]
    assert "cross_validation" not in store.metrics(plain_id)
    assert not (store.path(plain_id) / "cross_validation.json").exists()


@pytest.mark.slow
def test_regression_cross_validation_with_groups(store):
    frame = _with_groups(make_regression_frame(200))
    spec = _spec("price", group_column="shop", cross_validation_folds=3)
    run_id = store.create_run(spec, frame, source_name="t.csv")
    assert run_job(store, run_id).state == "finished"
    result = _cross_validation(store, run_id)
    assert result["method"] == "GroupKFold"
    assert [set(scores) for scores in result["per_fold"]] == [{"mae", "rmse", "r2", "mape"}] * 3
    assert result["mean"]["mae"] == pytest.approx(np.mean([scores["mae"] for scores in result["per_fold"]]))


@pytest.mark.parametrize(("stop_at", "done"), [("Saving the model…", 0), ("Cross-validation: fold 2 of 3…", 1)])
def test_stop_during_cross_validation_ends_stopped_with_the_folds_done(tmp_path, stop_at, done):
    class StopAt(RunStore):
        """Presses Stop the moment the run reaches a given status message."""

        def set_status(self, run_id, state, message="", **extra):
            super().set_status(run_id, state, message, **extra)
            if str(message) == stop_at:  # a Message, read in English
                self.request_stop(run_id)

    store = StopAt(tmp_path / "runs")
    spec = _spec("label", cross_validation_folds=3, training={"epochs": 1})
    run_id = store.create_run(spec, make_binary_frame(150), source_name="t.csv")
    status = run_job(store, run_id)
    assert status.state == "stopped"
    assert f"Cross-validation stopped by you after {done} of 3 folds" in status.message
    assert store.model_path(run_id) is not None  # the main model was exported before
    result = _cross_validation(store, run_id)
    assert result["stopped"] is True
    assert result["completed"] == len(result["per_fold"]) == done
    metrics = store.metrics(run_id)
    assert metrics["cross_validation"]["completed"] == done
    assert any(f"stopped cross-validation after {done} of 3 folds" in stored_text(note) for note in metrics["notes"])


@pytest.mark.slow
def test_cli_train_prints_the_cross_validation_results(tmp_home, tmp_path, capsys):
    from core.cli import main

    make_binary_frame(150).to_csv(tmp_path / "table.csv", index=False)
    (tmp_path / "spec.json").write_text(_spec("label", cross_validation_folds=3, training={"epochs": 1}).to_json())
    code = main(["train", str(tmp_path / "table.csv"), "--spec", str(tmp_path / "spec.json")])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["cross_validation"]["folds"] == 3
    assert set(printed["cross_validation"]["mean"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert set(printed["cross_validation"]["std"]) == set(printed["cross_validation"]["mean"])


# --- Class weights ---


def _imbalanced_frame(num_rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """About 9% 'rare' rows, overlapping the common class: an unweighted network mostly predicts 'common'."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_rows, 2))
    score = x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.7, size=num_rows)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": np.where(score > 1.7, "rare", "common").astype(object)})


def test_balanced_class_weights_are_recorded_as_sklearn_computes_them(store):
    frame = _imbalanced_frame(300)
    spec = _spec("y", training={"epochs": 1, "class_weight": "balanced"})
    run_id = store.create_run(spec, frame, source_name="t.csv")
    assert run_job(store, run_id).state == "finished"
    train = prepare_data(frame, spec.data, spec.preprocessing).train["y"]
    classes = np.array(["common", "rare"])
    expected = compute_class_weight("balanced", classes=classes, y=train.to_numpy())
    recorded = store.metrics(run_id)["class_weight"]
    assert list(recorded) == ["common", "rare"]
    assert [recorded[name] for name in classes] == pytest.approx(list(expected))
    assert recorded["rare"] > 1 > recorded["common"]


def test_class_weights_are_off_by_default_and_for_regression(store):
    run_id = store.create_run(_spec("y", training={"epochs": 1}), _imbalanced_frame(200), source_name="t.csv")
    run_job(store, run_id)
    assert store.metrics(run_id)["class_weight"] is None
    spec = _spec("price", training={"epochs": 1, "class_weight": "balanced"})
    run_id = store.create_run(spec, make_regression_frame(100), source_name="t.csv")
    assert run_job(store, run_id).state == "finished"
    assert store.metrics(run_id)["class_weight"] is None
    assert any("classification only" in stored_text(note) for note in store.metrics(run_id)["notes"])


@pytest.mark.slow
def test_balanced_class_weights_raise_the_recall_of_a_rare_class(store):
    frame = _imbalanced_frame()
    recall = {}
    for weighting in ("none", "balanced"):
        training = {"epochs": 15, "learning_rate": 0.01, "early_stopping": False, "class_weight": weighting}
        run_id = store.create_run(_spec("y", training=training), frame, source_name="t.csv")
        assert run_job(store, run_id).state == "finished"
        predictions = store.predictions(run_id)
        rare = predictions[predictions["actual"] == "rare"]
        recall[weighting] = float((rare["predicted"] == "rare").mean())
    assert recall["balanced"] >= recall["none"] + 0.3
