"""Preprocessing is learned from training rows only and turns messy columns into clean numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data.preprocessing import (
    CategoricalColumn,
    NumericColumn,
    PreprocessingState,
    fit_preprocessing,
    transform,
)
from core.data.splitting import prepare_data
from core.errors import DataError
from core.spec import DataSpec, PreprocessingSpec


def _column(state: PreprocessingState, name: str):
    return next(column for column in state.columns if column.name == name)


def test_statistics_ignore_rows_outside_the_training_split(small_binary_frame):
    spec = DataSpec(target="label", seed=3)
    before = prepare_data(small_binary_frame, spec, PreprocessingSpec())
    changed = small_binary_frame.copy()
    held_out = before.test.index.union(before.validation.index)
    changed.loc[held_out, "x1"] = 1e6
    changed.loc[held_out, "x2"] = -1e6
    changed.loc[held_out, "noise"] = np.nan
    changed.loc[held_out, "colour"] = "ultraviolet"
    after = prepare_data(changed, spec, PreprocessingSpec())
    assert list(after.train.index) == list(before.train.index)
    assert after.preprocessing == before.preprocessing
    np.testing.assert_array_equal(after.x_train, before.x_train)
    # The held-out rows themselves do change: the test really altered data the model will see.
    assert not np.array_equal(after.x_test, before.x_test)


def test_fit_uses_only_the_rows_it_is_given():
    train = pd.DataFrame({"n": [1.0, 2.0, 3.0, 4.0], "c": ["a", "a", "b", "c"]})
    other = pd.DataFrame({"n": [1000.0, -50.0], "c": ["z", "z"]})
    state = fit_preprocessing(train, ["n", "c"], max_categories=10)
    transform(state, pd.concat([train, other], ignore_index=True))
    assert state == fit_preprocessing(train, ["n", "c"], max_categories=10)
    assert "z" not in _column(state, "c").vocabulary
    assert _column(state, "n").center == pytest.approx(2.5)


def test_missing_numbers_are_filled_with_the_training_median():
    train = pd.DataFrame({"n": [1.0, 2.0, 10.0, np.nan, 3.0]})
    state = fit_preprocessing(train, ["n"], max_categories=5)
    column = _column(state, "n")
    assert column.fill == pytest.approx(2.5)  # median of 1, 2, 3, 10
    filled = np.array([1.0, 2.0, 10.0, 2.5, 3.0])
    assert column.center == pytest.approx(filled.mean())
    assert column.scale == pytest.approx(filled.std())
    encoded = transform(state, pd.DataFrame({"n": [np.nan, 2.5]}))
    assert encoded[0, 0] == pytest.approx(encoded[1, 0])
    assert encoded[0, 0] == pytest.approx((2.5 - column.center) / column.scale, rel=1e-6)


def test_infinities_count_as_missing():
    train = pd.DataFrame({"n": [1.0, 2.0, np.inf, 3.0, -np.inf, 4.0]})
    state = fit_preprocessing(train, ["n"], max_categories=5)
    column = _column(state, "n")
    assert column.fill == pytest.approx(2.5)
    assert np.isfinite(column.center) and np.isfinite(column.scale)
    encoded = transform(state, pd.DataFrame({"n": [np.inf, -np.inf, np.nan, 2.5]}))
    assert np.all(np.isfinite(encoded))
    assert np.allclose(encoded[:, 0], encoded[3, 0])


def test_numeric_columns_are_standardised_on_the_training_rows(small_binary_frame):
    prepared = prepare_data(small_binary_frame, DataSpec(target="label"), PreprocessingSpec())
    names = prepared.preprocessing.feature_names
    for name in ("x1", "x2", "noise"):
        values = prepared.x_train[:, names.index(name)]
        assert np.all(np.isfinite(values))
        assert values.mean() == pytest.approx(0.0, abs=1e-5)
        assert values.std() == pytest.approx(1.0, abs=1e-4)
    assert np.all(np.isfinite(prepared.x_test))
    assert np.all(np.isfinite(prepared.x_validation))


def test_a_constant_column_gives_zeros_not_nan():
    train = pd.DataFrame({"same": [7.0] * 10, "half": [np.nan] * 5 + [3.0] * 5})
    state = fit_preprocessing(train, ["same", "half"], max_categories=5)
    assert _column(state, "same").scale == 1.0
    assert _column(state, "half").scale == 1.0
    encoded = transform(state, train)
    assert not np.isnan(encoded).any()
    assert np.all(encoded == 0.0)
    assert transform(state, pd.DataFrame({"same": [9.0], "half": [4.0]})).tolist() == [[2.0, 1.0]]


def test_a_numeric_column_with_no_finite_training_value_is_a_data_error():
    train = pd.DataFrame({"n": [np.inf, np.nan, -np.inf]})
    with pytest.raises(DataError) as caught:
        fit_preprocessing(train, ["n"], max_categories=5)
    assert "'n'" in caught.value.message
    assert caught.value.field == "n"


def test_vocabulary_is_most_frequent_first_with_ties_broken_by_value():
    train = pd.DataFrame({"c": ["b"] * 2 + ["a"] * 2 + ["z"] * 5 + ["m"]})
    column = _column(fit_preprocessing(train, ["c"], max_categories=10), "c")
    assert column.vocabulary == ("z", "a", "b", "m")
    assert column.most_frequent == "z"
    assert column.width == 5


def test_vocabulary_is_capped_and_rare_categories_share_the_other_slot():
    train = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + ["e"]})
    state = fit_preprocessing(train, ["c"], max_categories=2)
    column = _column(state, "c")
    assert column.vocabulary == ("a", "b")
    assert state.feature_names == ["c=<other>", "c=a", "c=b"]
    encoded = transform(state, pd.DataFrame({"c": ["a", "b", "d", "e"]}))
    assert encoded.tolist() == [[0, 1, 0], [0, 0, 1], [1, 0, 0], [1, 0, 0]]


def test_unseen_category_goes_to_slot_zero_and_missing_to_the_most_frequent():
    train = pd.DataFrame({"c": ["red", "red", "blue", None]})
    state = fit_preprocessing(train, ["c"], max_categories=10)
    assert _column(state, "c").vocabulary == ("red", "blue")
    encoded = transform(state, pd.DataFrame({"c": ["purple", None, np.nan, "blue", "red"]}))
    assert encoded.tolist() == [
        [1, 0, 0],  # unseen → other
        [0, 1, 0],  # missing → red, the most frequent
        [0, 1, 0],
        [0, 0, 1],
        [0, 1, 0],
    ]
    assert encoded.sum(axis=1).tolist() == [1.0] * 5


@pytest.mark.parametrize("token", ["NA", "", "null", "NULL", "N/A", "nan", "NaN", "None", "<NA>", "#N/A", "n/a"])
def test_pandas_missing_tokens_count_as_missing(token):
    train = pd.DataFrame({"c": ["x", "x", "y", token, token, token]})
    state = fit_preprocessing(train, ["c"], max_categories=10)
    column = _column(state, "c")
    # Three copies of the token would make it the most frequent category if it were a value.
    assert column.vocabulary == ("x", "y")
    assert column.most_frequent == "x"
    assert transform(state, pd.DataFrame({"c": [token]})).tolist() == [[0, 1, 0]]


def test_a_column_of_only_missing_categories_still_encodes():
    train = pd.DataFrame({"c": [None, "NA", ""], "n": [1.0, 2.0, 3.0]})
    state = fit_preprocessing(train, ["c", "n"], max_categories=10)
    column = _column(state, "c")
    assert column.vocabulary == ()
    assert column.most_frequent is None
    encoded = transform(state, pd.DataFrame({"c": ["anything", None], "n": [1.0, 2.0]}))
    assert encoded[:, 0].tolist() == [1.0, 1.0]


def test_string_dtype_and_object_dtype_encode_the_same():
    values = ["a", "b", None, "a", "c"]
    as_object = pd.DataFrame({"c": pd.Series(values, dtype=object)})
    as_string = pd.DataFrame({"c": pd.Series(values, dtype="string")})
    state = fit_preprocessing(as_object, ["c"], max_categories=10)
    assert state == fit_preprocessing(as_string, ["c"], max_categories=10)
    np.testing.assert_array_equal(transform(state, as_object), transform(state, as_string))


def test_state_json_round_trip_is_exact(small_binary_frame):
    state = prepare_data(small_binary_frame, DataSpec(target="label"), PreprocessingSpec()).preprocessing
    assert any(isinstance(c, NumericColumn) for c in state.columns)
    assert any(isinstance(c, CategoricalColumn) for c in state.columns)
    restored = PreprocessingState.from_json(state.to_json())
    assert restored == state
    assert restored.feature_names == state.feature_names
    np.testing.assert_array_equal(transform(restored, small_binary_frame), transform(state, small_binary_frame))


def test_state_json_keeps_unicode_category_names():
    train = pd.DataFrame({"city": ["Zürich", "東京", "東京", "São Paulo"]})
    state = fit_preprocessing(train, ["city"], max_categories=10)
    text = state.to_json()
    assert "東京" in text
    assert PreprocessingState.from_json(text) == state


def test_transform_names_the_missing_column():
    train = pd.DataFrame({"age": [1.0, 2.0], "city": ["a", "b"]})
    state = fit_preprocessing(train, ["age", "city"], max_categories=10)
    with pytest.raises(DataError) as caught:
        transform(state, pd.DataFrame({"age": [3.0]}))
    assert caught.value.field == "city"
    assert "'city'" in caught.value.message
    assert "'age'" not in caught.value.message


def test_output_shape_and_width_match_the_state(small_binary_frame):
    state = fit_preprocessing(small_binary_frame, ["x1", "x2", "colour"], max_categories=50)
    encoded = transform(state, small_binary_frame)
    assert encoded.dtype == np.float32
    assert encoded.shape == (len(small_binary_frame), state.num_features)
    assert state.num_features == 2 + 1 + 3  # two numbers, other slot, red/green/blue
    assert state.feature_names == ["x1", "x2", "colour=<other>", "colour=red", "colour=green", "colour=blue"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.none()), min_size=2, max_size=30)
)
def test_any_numeric_column_with_one_finite_value_encodes_to_finite_numbers(values):
    train = pd.DataFrame({"n": pd.Series(values, dtype="float64")})
    if not np.isfinite(train["n"].to_numpy()).any():
        with pytest.raises(DataError):
            fit_preprocessing(train, ["n"], max_categories=5)
        return
    state = fit_preprocessing(train, ["n"], max_categories=5)
    assert np.all(np.isfinite(transform(state, train)))


@pytest.mark.parametrize("huge", [1e39, -1e300, 1e200])
def test_numbers_beyond_float32_range_never_reach_training_as_nan(huge):
    train = pd.DataFrame({"n": [1.0, 2.0, 3.0, 4.0, huge]})
    state = fit_preprocessing(train, ["n"], max_categories=5)
    column = _column(state, "n")
    assert np.isfinite(column.center) and np.isfinite(column.scale)
    encoded = transform(state, train)
    assert np.all(np.isfinite(encoded))
    # The ordinary rows still carry information (not all squashed to the same value).
    assert len(np.unique(encoded[:4, 0])) == 4


def test_dates_parsed_in_blocks_equal_one_whole_parse(monkeypatch):
    import core.data.preprocessing as preprocessing
    from core.data.preprocessing import DatetimeColumn, _parse_dates, _seconds, datetime_seconds

    values = ["2024-03-01 10:00:00", None, "2024-03-02 11:30:00", "03/04/2024", "not a date", "2024-03-05 00:00:00"]
    values += ["2024-03-06T08:00:00+02:00", "", "2023-12-31 23:59:59"] * 3
    series = pd.Series(values, dtype="str")
    whole = _seconds(_parse_dates(series, "%Y-%m-%d %H:%M:%S", dayfirst=True))
    monkeypatch.setattr(preprocessing, "DATE_BLOCK_ROWS", 4)
    blocked = datetime_seconds(series, dayfirst=True)
    np.testing.assert_array_equal(blocked, whole)
    assert np.isnan(blocked[[1, 4, 7]]).all() and np.isfinite(blocked[[0, 3, 6]]).all()

    column = DatetimeColumn("d", fill_seconds=float(np.nanmedian(whole)), centers=(2024.0, 3.0, 5.0, 3.0, 9.0),
                            scales=(1.0, 2.0, 8.0, 2.0, 6.0), indicator=True, dayfirst=True)  # fmt: skip
    blocks = preprocessing._transform_column(column, series)
    monkeypatch.setattr(preprocessing, "DATE_BLOCK_ROWS", 10_000)
    np.testing.assert_array_equal(blocks, preprocessing._transform_column(column, series))
    assert blocks.shape == (len(values), 6) and blocks[1, -1] == 1.0
