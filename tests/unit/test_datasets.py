"""From a table and a data spec to split, encoded arrays: the checks a user hits before training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.profiling import column_kind, infer_task, profile_table
from core.data.splitting import MAX_CLASSES, MIN_ROWS, TargetInfo, prepare_data
from core.errors import DataError
from core.spec import DataSpec, PreprocessingSpec

SHARED_BAD_INPUTS = Path(__file__).resolve().parents[3] / "shared" / "bad_inputs" / "csv"


def _prepare(frame: pd.DataFrame, **data) -> object:
    return prepare_data(frame, DataSpec(**data), PreprocessingSpec())


def _frame_with_target(target, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=len(target)), "y": target})


def _data_error(frame: pd.DataFrame, **data) -> DataError:
    with pytest.raises(DataError) as caught:
        _prepare(frame, **data)
    return caught.value


@pytest.mark.parametrize(
    ("target", "task"),
    [
        (["yes", "no"] * 30, "binary"),
        ([0, 1] * 30, "binary"),
        ([1.5, 2.5] * 30, "binary"),
        ([True, False] * 30, "binary"),
        (["cat", "dog", "fish"] * 20, "multiclass"),
        ([1, 2, 3, 4, 5, 6] * 10, "multiclass"),
        (list(range(20)) * 10, "multiclass"),
        (list(range(21)) * 3, "regression"),
        ([0.5, 1.25, 2.0, 3.75] * 15, "regression"),
        (list(np.linspace(0, 1, 60)), "regression"),
    ],
)
def test_task_is_inferred_from_the_target(target, task):
    prepared = _prepare(_frame_with_target(target), target="y")
    assert prepared.target.task == task


def test_integer_valued_floats_with_few_values_are_classes():
    assert infer_task(pd.Series([1.0, 2.0, 3.0, np.nan] * 10, name="y")) == "multiclass"


def test_single_class_target_is_refused_naming_the_column():
    error = _data_error(_frame_with_target(["yes"] * 40), target="y")
    assert "'y'" in error.message
    assert "two different values" in error.message


def test_all_missing_target_is_refused():
    frame = _frame_with_target([None] * 40)
    with pytest.raises(DataError) as caught:
        infer_task(frame["y"])
    assert "no values at all" in caught.value.message


@pytest.mark.skipif(not (SHARED_BAD_INPUTS / "05_single_class_target.csv").exists(), reason="shared inputs absent")
def test_shared_single_class_file_is_refused():
    frame = pd.read_csv(SHARED_BAD_INPUTS / "05_single_class_target.csv")
    error = _data_error(frame, target="label")
    assert "'label'" in error.message
    assert "two different values" in error.message


def test_fewer_than_twenty_rows_is_refused():
    frame = _frame_with_target(["a", "b"] * 9 + ["a"])
    error = _data_error(frame, target="y")
    assert f"{MIN_ROWS}" in error.message
    assert "19 usable rows" in error.message
    assert "Upload more rows" in error.message


def test_twenty_rows_after_dropping_missing_targets_is_counted_after_the_drop():
    frame = _frame_with_target(["a", "b"] * 10 + [None] * 5)
    prepared = _prepare(frame, target="y")
    assert len(prepared.train) + len(prepared.validation) + len(prepared.test) == 20
    error = _data_error(_frame_with_target(["a", "b"] * 9 + [None] * 10), target="y")
    assert "18 usable rows" in error.message


def test_more_than_a_hundred_classes_suggests_regression():
    labels = [f"class_{i:05d}" for i in range(150)] * 2
    error = _data_error(_frame_with_target(labels), target="y")
    assert "'y'" in error.message
    assert "150" in error.message
    assert str(MAX_CLASSES) in error.message
    assert "'regression'" in error.message


@pytest.mark.skipif(not (SHARED_BAD_INPUTS / "08_10000_classes.csv").exists(), reason="shared inputs absent")
def test_shared_ten_thousand_classes_file_is_refused():
    frame = pd.read_csv(SHARED_BAD_INPUTS / "08_10000_classes.csv")
    error = _data_error(frame, target="label")
    assert "10,000" in error.message
    assert "regression" in error.message


def test_an_all_missing_feature_is_dropped_with_a_note():
    frame = _frame_with_target(["a", "b"] * 20)
    frame["empty"] = np.nan
    frame["empty_text"] = pd.Series([None] * 40, dtype=object)
    prepared = _prepare(frame, target="y")
    assert prepared.features == ("x",)
    assert prepared.x_train.shape[1] == 1
    assert any("empty" in note and "empty_text" in note and "no values" in note for note in prepared.notes)


@pytest.mark.skipif(not (SHARED_BAD_INPUTS / "06_all_nan_feature.csv").exists(), reason="shared inputs absent")
def test_shared_all_nan_feature_file_trains_without_the_column():
    frame = pd.read_csv(SHARED_BAD_INPUTS / "06_all_nan_feature.csv")
    prepared = _prepare(frame, target="label")
    assert "x2_empty" not in prepared.features
    assert any("x2_empty" in note for note in prepared.notes)


def test_only_feature_all_missing_is_refused():
    frame = pd.DataFrame({"x": [np.nan] * 30, "y": ["a", "b"] * 15})
    error = _data_error(frame, target="y")
    assert "No input columns" in error.message


def test_rows_without_a_target_are_dropped_with_a_note():
    target = ["a", "b"] * 20 + [None, np.nan, None]
    prepared = _prepare(_frame_with_target(target), target="y")
    assert len(prepared.train) + len(prepared.validation) + len(prepared.test) == 40
    assert any(note.startswith("3 rows without a target value") for note in prepared.notes)


def test_regression_rows_with_infinite_target_are_dropped():
    rng = np.random.default_rng(1)
    target = list(rng.normal(size=40)) + [np.inf, -np.inf, np.nan]
    prepared = _prepare(_frame_with_target(target), target="y")
    assert prepared.target.task == "regression"
    assert len(prepared.y_train) + len(prepared.y_validation) + len(prepared.y_test) == 40
    assert np.all(np.isfinite(prepared.y_train))
    assert any("3 rows without a target value" in note for note in prepared.notes)


def test_stratified_split_keeps_the_class_ratio():
    labels = ["rare"] * 60 + ["common"] * 240
    prepared = _prepare(_frame_with_target(labels), target="y")
    for part in (prepared.train, prepared.validation, prepared.test):
        share = (part["y"] == "rare").mean()
        assert share == pytest.approx(0.2, abs=0.02)


def test_split_is_deterministic_for_a_seed_and_differs_for_another(small_binary_frame):
    first = _prepare(small_binary_frame, target="label", seed=11)
    again = _prepare(small_binary_frame, target="label", seed=11)
    other = _prepare(small_binary_frame, target="label", seed=12)
    assert list(first.test.index) == list(again.test.index)
    assert list(first.validation.index) == list(again.validation.index)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_train, again.y_train)
    assert set(first.test.index) != set(other.test.index)


@pytest.mark.parametrize(
    ("num_rows", "test_fraction", "validation_fraction"), [(200, 0.2, 0.1), (300, 0.25, 0.25), (1000, 0.1, 0.05)]
)
def test_split_sizes_follow_the_fractions(num_rows, test_fraction, validation_fraction):
    frame = _frame_with_target(["a", "b", "c", "d"] * (num_rows // 4))
    prepared = _prepare(frame, target="y", test_fraction=test_fraction, validation_fraction=validation_fraction)
    assert len(prepared.test) == pytest.approx(num_rows * test_fraction, abs=1)
    assert len(prepared.validation) == pytest.approx(num_rows * validation_fraction, abs=1)
    assert len(prepared.train) + len(prepared.validation) + len(prepared.test) == num_rows
    indices = [set(part.index) for part in (prepared.train, prepared.validation, prepared.test)]
    assert not (indices[0] & indices[1]) and not (indices[0] & indices[2]) and not (indices[1] & indices[2])
    assert len(prepared.x_train) == len(prepared.y_train) == len(prepared.train)
    assert len(prepared.x_test) == len(prepared.y_test) == len(prepared.test)


def test_regression_target_is_standardised_on_the_training_rows(small_regression_frame):
    prepared = _prepare(small_regression_frame, target="price")
    target = prepared.target
    train_prices = prepared.train["price"].to_numpy()
    assert target.task == "regression"
    assert target.mean == pytest.approx(train_prices.mean())
    assert target.std == pytest.approx(train_prices.std())
    assert prepared.y_train.mean() == pytest.approx(0.0, abs=1e-5)
    assert prepared.y_train.std() == pytest.approx(1.0, abs=1e-4)
    decoded = prepared.y_test.astype("float64") * target.std + target.mean
    np.testing.assert_allclose(decoded, prepared.test["price"].to_numpy(), rtol=1e-5)


def test_constant_regression_target_in_training_rows_does_not_divide_by_zero():
    # infer_task sees two values; forcing regression on a target that is nearly constant still gives finite y.
    frame = _frame_with_target([5.0] * 39 + [6.0])
    prepared = _prepare(frame, target="y", task="regression")
    assert prepared.target.std > 0
    assert np.all(np.isfinite(prepared.y_train))


def test_classes_are_listed_in_natural_order_and_encoded_as_indices():
    labels = ["10", "2", "1"] * 10
    prepared = _prepare(_frame_with_target(labels), target="y")
    assert prepared.target.classes == ("1", "2", "10")
    decoded = np.array(prepared.target.classes, dtype=object)[prepared.y_train]
    assert list(decoded) == list(prepared.train["y"])


def test_target_info_round_trips_through_a_dict():
    info = TargetInfo(name="price", task="regression", mean=3.5, std=0.25)
    assert TargetInfo.from_dict(info.to_dict()) == info
    info = TargetInfo(name="y", task="multiclass", classes=("a", "b", "c"))
    assert TargetInfo.from_dict(info.to_dict()) == info


def test_regression_on_a_text_target_is_refused():
    error = _data_error(_frame_with_target(["low", "mid", "high"] * 10), target="y", task="regression")
    assert error.field == "data.task"
    assert "'y'" in error.message
    assert "holds text" in error.message
    assert "'multiclass'" in error.message


def test_binary_on_a_three_class_target_is_refused():
    error = _data_error(_frame_with_target(["low", "mid", "high"] * 10), target="y", task="binary")
    assert error.field == "data.task"
    assert "3 different values" in error.message
    assert "'multiclass'" in error.message


def test_forced_multiclass_on_integers_overrides_inference():
    prepared = _prepare(_frame_with_target(list(range(30)) * 2), target="y", task="multiclass")
    assert prepared.target.task == "multiclass"
    assert len(prepared.target.classes) == 30


def test_unknown_target_is_refused_naming_it():
    error = _data_error(_frame_with_target(["a", "b"] * 15), target="price")
    assert error.field == "data.target"
    assert "'price'" in error.message
    assert "'x'" in error.message and "'y'" in error.message  # the columns that do exist


def test_unknown_feature_is_refused_naming_it():
    error = _data_error(_frame_with_target(["a", "b"] * 15), target="y", features=("x", "weight", "height"))
    assert error.field == "data.features"
    assert "'weight'" in error.message and "'height'" in error.message
    assert "'x'" not in error.message


def test_only_the_chosen_features_are_used(small_binary_frame):
    prepared = _prepare(small_binary_frame, target="label", features=("x1", "colour"))
    assert prepared.features == ("x1", "colour")
    assert [column.name for column in prepared.preprocessing.columns] == ["x1", "colour"]


def test_rare_classes_disable_stratification_with_a_note():
    labels = ["a"] * 20 + ["b"] * 20 + ["c", "c"]
    prepared = _prepare(_frame_with_target(labels), target="y")
    assert any("fewer than 3 rows" in note and "'c'" in note for note in prepared.notes)


@pytest.mark.parametrize(("num_classes", "rows_per_class"), [(5, 6), (20, 3), (10, 4)])
def test_many_small_classes_give_a_data_error_or_a_split_never_a_crash(num_classes, rows_per_class):
    labels = [f"c{i % num_classes}" for i in range(num_classes * rows_per_class)]
    frame = _frame_with_target(labels)
    try:
        prepared = _prepare(frame, target="y")
    except DataError:
        return
    assert len(prepared.train) + len(prepared.validation) + len(prepared.test) == len(frame)


def test_profile_describes_each_column(small_binary_frame):
    profiles = {profile.name: profile for profile in profile_table(small_binary_frame)}
    assert list(profiles) == list(small_binary_frame.columns)
    assert profiles["x1"].kind == "numeric"
    assert profiles["colour"].kind == "categorical"
    assert profiles["x1"].missing_fraction == pytest.approx(small_binary_frame["x1"].isna().mean())
    assert profiles["label"].num_distinct == 2
    assert column_kind(pd.Series([None, None])) == "empty"
    assert column_kind(pd.Series([True, False])) == "boolean"


def test_integer_class_labels_keep_their_names_when_a_target_cell_is_empty():
    frame = _frame_with_target([0, 1] * 20 + [None])
    assert frame["y"].dtype == "float64"
    prepared = _prepare(frame, target="y")
    assert prepared.target.classes == ("0", "1")
