"""Columns of a big table are fitted and encoded on several threads: the same result as one thread."""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import core.data.parallel as parallel
from core.data.parallel import map_columns, warnings_ignored
from core.data.splitting import prepare_data
from core.errors import DataError
from core.spec import ColumnSpec, DataSpec, PreprocessingSpec


@pytest.fixture
def threads_for_any_table(monkeypatch):
    monkeypatch.setattr(parallel, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(parallel, "thread_count", lambda: 2)


def test_results_and_the_first_error_come_in_item_order(threads_for_any_table):
    def work(item: int) -> int:
        if item in {3, 5}:
            raise ValueError(f"item {item}")
        return item * item

    assert map_columns(work, [0, 1, 2, 4], rows=10) == [0, 1, 4, 16]
    with pytest.raises(ValueError, match="item 3"):
        map_columns(work, [1, 3, 5], rows=10, cost=lambda item: item)
    with pytest.raises(ValueError, match="item 5"):
        map_columns(work, [5, 1, 3], rows=10, cost=lambda item: -item)


def test_warnings_are_silenced_by_one_thread_at_a_time(threads_for_any_table):
    """Date parsing silences pandas' hints with `warnings_ignored`; the warnings filters are process-wide,
    so threads must not enter and leave `catch_warnings` at once."""
    before = list(warnings.filters)
    guard = threading.Lock()
    inside = most = 0

    def work(item: int) -> int:
        nonlocal inside, most
        with warnings_ignored():
            with guard:
                inside += 1
                most = max(most, inside)
            warnings.warn("a hint nobody should see", UserWarning, stacklevel=1)
            time.sleep(0.002)
            with guard:
                inside -= 1
        return item

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert map_columns(work, list(range(20)), rows=10) == list(range(20))
    assert most == 1 and seen == []
    assert warnings.filters == before


def test_small_tables_stay_on_one_thread(monkeypatch):
    monkeypatch.setattr(parallel, "thread_count", lambda: 2)
    caller = threading.current_thread()
    assert all(
        map_columns(lambda _: threading.current_thread() is caller, [1, 2, 3], rows=parallel.PARALLEL_MIN_ROWS - 1)
    )


def _mixed_table(num_rows: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    city = rng.choice(["Lyon", "Paris", "Nice", "NA", "", "北京"], num_rows).astype(object)
    city[::11] = None
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, num_rows), unit="D")
    table = pd.DataFrame(
        {
            "x": rng.normal(size=num_rows),
            "n": rng.integers(0, 9, num_rows).astype(float),
            "city": pd.Series(city, dtype="str"),
            "plan": pd.Series(rng.choice(["free", "pro", "team"], num_rows), dtype="str"),
            "code": pd.Series([f"c{v}" for v in rng.integers(0, 300, num_rows)], dtype="str"),
            "when": pd.Series(days.strftime("%d/%m/%Y"), dtype="str"),
            "label": pd.Series(rng.choice(["yes", "no"], num_rows), dtype="str"),
        }
    )
    table.loc[::13, "x"] = np.nan
    return table


PREPROCESSING = PreprocessingSpec(
    columns=(
        ColumnSpec(name="x", missing_indicator=True, outliers="clip_iqr"),
        ColumnSpec(name="n", scaling="robust"),
        ColumnSpec(name="city", missing="constant", fill_value="unknown", missing_indicator=True),
        ColumnSpec(name="plan", encoding="ordinal", order=("free", "pro", "team")),
        ColumnSpec(name="code", encoding="embedding"),
        ColumnSpec(name="when", kind="datetime", dayfirst=True),
    )
)


def test_prepared_data_is_the_same_on_several_threads(monkeypatch):
    table = _mixed_table()
    one_thread = prepare_data(table, DataSpec(target="label", seed=4), PREPROCESSING)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(parallel, "thread_count", lambda: 2)
    threaded = prepare_data(table, DataSpec(target="label", seed=4), PREPROCESSING)
    assert threaded.preprocessing == one_thread.preprocessing
    for part in ("x_train", "x_validation", "x_test", "y_train", "y_test"):
        np.testing.assert_array_equal(getattr(threaded, part), getattr(one_thread, part))


def test_an_unusable_column_is_reported_as_on_one_thread(threads_for_any_table):
    table = _mixed_table()
    table["x"] = "not a number"
    spec = PreprocessingSpec(columns=(ColumnSpec(name="x", kind="numeric"),))
    with pytest.raises(DataError, match="'x' has no usable numbers"):
        prepare_data(table, DataSpec(target="label"), spec)


def test_the_profile_is_the_same_on_several_threads(monkeypatch):
    from core.data.profiling import profile_frame

    table = _mixed_table()
    one_thread = profile_frame(table, target="label")
    monkeypatch.setattr(parallel, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(parallel, "thread_count", lambda: 2)
    assert profile_frame(table, target="label") == one_thread


@pytest.mark.parametrize("dayfirst", [None, True])
def test_dates_parsed_for_fitting_encode_the_training_rows_as_a_copy_of_them_would(monkeypatch, dayfirst):
    """Fitting a date column parses the training rows once and encoding reuses that; blocks of rows are
    parsed one at a time. Every split must equal `transform` of its copied rows: gaps, unreadable values,
    a second format, several blocks."""
    import core.data.preprocessing as preprocessing
    from core.data.preprocessing import transform

    monkeypatch.setattr(preprocessing, "DATE_BLOCK_ROWS", 64)
    rng = np.random.default_rng(9)
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, 900), unit="D")
    when = pd.Series(days.strftime("%d/%m/%Y %H:%M"), dtype=object)
    when[::17] = None
    when[5::31] = "not a date"
    when[7::23] = days[7::23].strftime("%Y-%m-%d").to_numpy()
    table = pd.DataFrame(
        {"when": pd.Series(when, dtype="str"), "label": pd.Series(rng.choice(["a", "b"], 900), dtype="str")}
    )
    spec = PreprocessingSpec(
        columns=(ColumnSpec(name="when", kind="datetime", dayfirst=dayfirst, missing_indicator=True),)
    )
    prepared = prepare_data(table, DataSpec(target="label", seed=2), spec)
    assert prepared.train_rows.cache == {}
    for part in ("train", "validation", "test"):
        copied = transform(prepared.preprocessing, getattr(prepared, part).reset_index(drop=True))
        np.testing.assert_array_equal(getattr(prepared, f"x_{part}"), copied)
