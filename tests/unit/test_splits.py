"""How rows are split before training: groups, duplicates, drop_rows, ignored columns (no training here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.splitting import MIN_TRAIN_ROWS, prepare_data
from core.errors import DataError
from core.spec import ColumnSpec, DataSpec, PreprocessingSpec
from tests.conftest import make_binary_frame, make_regression_frame

PARTS = ("train", "validation", "test")


def _prepare(frame: pd.DataFrame, columns: tuple[ColumnSpec, ...] = (), **data):
    return prepare_data(frame, DataSpec(**data), PreprocessingSpec(columns=columns))


def _grouped_frame(num_rows: int = 300, seed: int = 0, num_groups: int = 40) -> pd.DataFrame:
    """Groups of very different sizes, some rows without a group."""
    rng = np.random.default_rng(seed)
    frame = make_binary_frame(num_rows, seed=seed)
    sizes = rng.zipf(1.6, size=num_groups).astype(float)
    customer = rng.choice([f"c{i:02d}" for i in range(num_groups)], size=num_rows, p=sizes / sizes.sum())
    frame["customer"] = customer.astype(object)
    frame.loc[frame.index[::23], "customer"] = None
    return frame


def _groups(part: pd.DataFrame) -> set:
    return set(part["customer"].dropna())


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 123])
def test_no_group_value_is_on_two_sides(seed):
    frame = _grouped_frame(seed=seed)
    prepared = _prepare(frame, target="label", group_column="customer", seed=seed)
    train, validation, test = (_groups(getattr(prepared, part)) for part in PARTS)
    assert train and validation and test
    assert not train & validation
    assert not train & test
    assert not validation & test
    assert sum(len(getattr(prepared, part)) for part in PARTS) == len(frame)
    assert "customer" not in prepared.features
    assert any("split by the group column 'customer'" in note and "not stratified" in note for note in prepared.notes)


def test_group_split_is_seeded():
    frame = _grouped_frame()
    first = _prepare(frame, target="label", group_column="customer", seed=5)
    again = _prepare(frame, target="label", group_column="customer", seed=5)
    other = _prepare(frame, target="label", group_column="customer", seed=6)
    assert list(first.test.index) == list(again.test.index)
    assert set(first.test.index) != set(other.test.index)


def test_rows_without_a_group_value_are_each_a_group_of_their_own():
    frame = _grouped_frame()
    missing = int(frame["customer"].isna().sum())
    assert missing > 5
    prepared = _prepare(frame, target="label", group_column="customer")
    assert any(f"{missing} rows have no value" in note and "group of its own" in note for note in prepared.notes)
    # They are spread over the parts rather than lumped on one side.
    assert sum(getattr(prepared, part)["customer"].isna().any() for part in PARTS) >= 2


def test_a_group_column_that_is_not_in_the_table_is_refused_naming_it():
    with pytest.raises(DataError) as caught:
        _prepare(make_binary_frame(60), target="label", group_column="patient_id")
    assert caught.value.field == "data.group_column"
    assert "'patient_id'" in caught.value.message
    assert "not in the table" in caught.value.message


def test_fewer_than_three_groups_is_refused_saying_what_to_do():
    frame = make_binary_frame(60)
    frame["site"] = np.where(np.arange(60) % 2 == 0, "north", "south")
    with pytest.raises(DataError) as caught:
        _prepare(frame, target="label", group_column="site")
    assert caught.value.field == "data.group_column"
    assert "'site'" in caught.value.message and "2 different" in caught.value.message
    assert "at least 3" in caught.value.message
    assert "clear the group column" in caught.value.message


def test_a_group_split_that_leaves_too_few_training_rows_is_refused():
    frame = make_binary_frame(60)
    frame["site"] = ["big"] * 50 + ["a"] * 5 + ["b"] * 5  # training gets one of three groups
    refused = 0
    for seed in range(10):
        try:
            prepared = _prepare(frame, target="label", group_column="site", seed=seed)
        except DataError as error:
            assert "'site'" in error.message and "5 training rows" in error.message
            refused += 1
        else:
            assert len(prepared.train) == 50
    assert 0 < refused < 10


def test_a_group_column_listed_as_a_feature_is_not_used_as_one():
    frame = _grouped_frame()
    prepared = _prepare(frame, target="label", group_column="customer", features=("x1", "customer"))
    assert prepared.features == ("x1",)
    assert any("'customer' decides the split" in note for note in prepared.notes)


def test_without_a_group_column_the_split_is_unchanged_and_stratified():
    labels = ["rare"] * 60 + ["common"] * 240
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=300), "y": labels})
    prepared = _prepare(frame, target="y")
    for part in PARTS:
        assert (getattr(prepared, part)["y"] == "rare").mean() == pytest.approx(0.2, abs=0.02)
    assert prepared.notes == ()


def _with_duplicates() -> pd.DataFrame:
    frame = make_binary_frame(120, seed=3)
    copies = frame.iloc[[0, 1, 2, 5, 5, 5, 8, 13, 21, 34]]
    return pd.concat([frame, copies], ignore_index=True).sample(frac=1.0, random_state=0)


def test_drop_duplicates_removes_them_with_a_note_and_none_straddles_the_split():
    frame = _with_duplicates()
    expected = int(frame.duplicated().sum())
    assert expected == 10
    prepared = _prepare(frame, target="label", drop_duplicates=True)
    assert sum(len(getattr(prepared, part)) for part in PARTS) == len(frame) - expected
    assert any(note.startswith(f"{expected} duplicate rows") for note in prepared.notes)
    columns = [*prepared.features, "label"]
    combined = pd.concat([getattr(prepared, part)[columns] for part in PARTS])
    assert not combined.duplicated().any()


def test_duplicates_are_kept_unless_asked():
    frame = _with_duplicates()
    prepared = _prepare(frame, target="label")
    assert sum(len(getattr(prepared, part)) for part in PARTS) == len(frame)
    assert not any("duplicate" in note for note in prepared.notes)


def test_drop_duplicates_looks_only_at_the_used_columns():
    frame = make_binary_frame(60, seed=2)
    twin = frame.iloc[[0]].assign(noise=99.0)  # differs only in a column that is not used
    frame = pd.concat([frame, twin], ignore_index=True)
    prepared = _prepare(frame, target="label", drop_duplicates=True, features=("x1", "x2", "colour"))
    assert sum(len(getattr(prepared, part)) for part in PARTS) == 60
    assert any(note.startswith("1 duplicate rows") for note in prepared.notes)


def test_drop_rows_removes_training_rows_only():
    frame = make_binary_frame(300)
    missing_x1 = frame["x1"].isna()
    prepared = _prepare(frame, columns=(ColumnSpec(name="x1", missing="drop_rows"),), target="label")
    assert not prepared.train["x1"].isna().any()
    kept = prepared.validation["x1"].isna().sum() + prepared.test["x1"].isna().sum()
    assert kept > 0
    dropped = int(missing_x1.sum()) - kept
    assert dropped > 0
    assert len(prepared.train) + len(prepared.validation) + len(prepared.test) == len(frame) - dropped
    assert len(prepared.x_train) == len(prepared.y_train) == len(prepared.train)
    assert np.all(np.isfinite(prepared.x_validation)) and np.all(np.isfinite(prepared.x_test))
    assert any(f"{dropped} training rows with a missing value in 'x1'" in note for note in prepared.notes)


def test_drop_rows_counts_infinities_and_na_text_as_missing():
    frame = make_binary_frame(300)
    columns = (ColumnSpec(name="x2", missing="drop_rows"), ColumnSpec(name="colour", missing="drop_rows"))
    prepared = _prepare(frame, columns=columns, target="label")
    assert np.isfinite(prepared.train["x2"]).all()
    assert prepared.train["colour"].notna().all()
    assert any("'x2', 'colour'" in note for note in prepared.notes)


def test_drop_rows_that_leave_too_few_training_rows_is_refused():
    frame = make_regression_frame(60)
    frame.loc[frame.index[:52], "a"] = np.nan
    with pytest.raises(DataError) as caught:
        _prepare(frame, columns=(ColumnSpec(name="a", missing="drop_rows"),), target="price")
    assert f"expected at least {MIN_TRAIN_ROWS}" in caught.value.message
    assert "'a'" in caught.value.message


def test_regression_target_scale_comes_from_the_training_rows_left_after_drop_rows():
    frame = make_regression_frame(200)
    frame.loc[frame.index[::4], "a"] = np.nan
    prepared = _prepare(frame, columns=(ColumnSpec(name="a", missing="drop_rows"),), target="price")
    assert prepared.target.mean == pytest.approx(prepared.train["price"].mean())
    assert prepared.y_train.mean() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("features", [(), ("x1", "x2", "noise", "colour")])
def test_ignored_columns_are_not_features(features):
    frame = make_binary_frame(100)
    columns = (ColumnSpec(name="noise", role="ignore"), ColumnSpec(name="colour", role="ignore"))
    prepared = _prepare(frame, columns=columns, target="label", features=features)
    assert prepared.features == ("x1", "x2")
    assert [column.name for column in prepared.preprocessing.columns] == ["x1", "x2"]
    assert prepared.x_train.shape[1] == 2


def test_ignoring_every_column_leaves_nothing_to_learn_from():
    frame = make_binary_frame(60)[["x1", "label"]]
    with pytest.raises(DataError) as caught:
        _prepare(frame, columns=(ColumnSpec(name="x1", role="ignore"),), target="label")
    assert "No input columns" in caught.value.message


def test_a_class_with_four_rows_splits_without_an_error():
    # The stratified first cut leaves one such row for validation + test; scikit-learn refuses to stratify
    # that cut, which used to escape as a ValueError instead of training.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400), "label": rng.choice(["x", "y", "z"], size=400).astype(object)})
    frame.loc[:3, "label"] = "rare"
    prepared = prepare_data(frame, DataSpec(target="label", seed=2), PreprocessingSpec())
    assert len(prepared.y_train) + len(prepared.y_validation) + len(prepared.y_test) == 400
    assert any("could not be stratified" in note for note in prepared.notes)
    # The training rows still hold the rare class in proportion.
    assert "rare" in prepared.target.classes


def test_splitting_a_table_is_unchanged_for_a_saved_spec():
    """The rows of each part for a fixed table and seed, as scikit-learn's train_test_split chose them."""
    from sklearn.model_selection import train_test_split

    frame = make_binary_frame(500, seed=3)
    prepared = _prepare(frame, target="label", seed=11)
    positions = np.arange(len(frame))
    labels = pd.factorize(frame["label"])[0]
    spec = DataSpec(target="label", seed=11)
    holdout = spec.test_fraction + spec.validation_fraction
    train, rest = train_test_split(positions, test_size=holdout, random_state=11, stratify=labels)
    validation, test = train_test_split(
        rest, test_size=spec.test_fraction / holdout, random_state=11, stratify=labels[rest]
    )
    np.testing.assert_array_equal(prepared.train_rows.positions, train)
    np.testing.assert_array_equal(prepared.validation_rows.positions, validation)
    np.testing.assert_array_equal(prepared.test_rows.positions, test)
