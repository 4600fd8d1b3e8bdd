"""`profile_frame`: what a user sees about each column, the target, and how each column relates to the target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data import profiling
from core.data.profiling import (
    ASSOCIATION_EXPLANATION,
    HISTOGRAM_BINS,
    TOP_VALUES,
    TableProfile,
    looks_like_id_name,
    profile_frame,
    profile_table,
)
from tests.conftest import make_binary_frame, make_regression_frame


def kinds(frame: pd.DataFrame, target: str | None = None) -> dict[str, str]:
    return {column.name: column.kind for column in profile_frame(frame, target).columns}


def varied_frame(num_rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = ["service", "was", "slow", "but", "the", "staff", "were", "friendly", "and", "food", "good", "cold"]
    return pd.DataFrame(
        {
            "amount": rng.normal(100, 20, num_rows),
            "colour": rng.choice(["red", "green", "blue"], num_rows).astype(object),
            "flag": rng.choice([True, False], num_rows),
            "flag_text": rng.choice(["true", "false", "TRUE"], num_rows).astype(object),
            "signup": pd.date_range("2021-01-01", periods=num_rows, freq="D"),
            "signup_text": pd.date_range("2021-01-01", periods=num_rows, freq="37h").strftime("%Y-%m-%d %H:%M"),
            "review": [" ".join(rng.choice(words, 9)) + f" visit {i}" for i in range(num_rows)],
            "customer": [f"C-{i:05d}-{rng.integers(1000)}" for i in range(num_rows)],
            "row_number": rng.permutation(num_rows) + 1,
            "order_id": rng.choice(10**9, num_rows, replace=False),
            "empty": [np.nan] * num_rows,
            "month_name": rng.choice(["March", "April", "May"], num_rows).astype(object),
            "year_text": rng.choice(["2019", "2020", "2021"], num_rows).astype(object),
            "grade": rng.choice(["A1", "B2", "C3"], num_rows).astype(object),
            "income": rng.integers(10_000, 90_000, num_rows),  # mostly unique whole numbers, not an ID
        }
    )


def test_kinds_are_inferred_as_a_user_would_name_them():
    found = kinds(varied_frame())
    assert found == {
        "amount": "numeric",
        "colour": "categorical",
        "flag": "boolean",
        "flag_text": "boolean",
        "signup": "datetime",
        "signup_text": "datetime",
        "review": "text",
        "customer": "id",
        "row_number": "id",
        "order_id": "id",
        "empty": "empty",
        "month_name": "categorical",
        "year_text": "numeric",
        "grade": "categorical",
        "income": "numeric",
    }


def test_small_unique_columns_are_not_called_ids():
    frame = pd.DataFrame({"name": [f"person {i}" for i in range(20)], "score": range(20)})
    assert kinds(frame) == {"name": "categorical", "score": "numeric"}


def test_id_names_in_english_and_chinese():
    for name in ("id", "customer_id", "CustomerID", "Order ID", "uuid", "Unnamed: 0", "编号", "学号"):
        assert looks_like_id_name(name), name
    for name in ("paid", "valid", "age", "num_rooms", "identity", "idle_time"):
        assert not looks_like_id_name(name), name


def test_mixed_column_is_flagged_with_the_count_of_values_that_are_not_numbers():
    values = [str(i) for i in range(95)] + ["-", "#DIV/0!", "unknown", "-", "n.a."]
    frame = pd.DataFrame({"x": pd.Series(values, dtype=object), "y": [None] * 50 + ["NA"] * 50})
    column = profile_frame(frame).column("x")
    assert column.mixed and column.kind == "numeric" and column.treated_as == "categorical"
    assert column.mixed_count == 5 and column.numeric_count == 95
    assert set(column.mixed_examples) == {"-", "#DIV/0!", "unknown", "n.a."}
    assert not profile_frame(frame).column("y").mixed


def test_mostly_text_with_a_few_numbers_stays_categorical():
    values = ["small", "medium", "large", "10"] * 25
    column = profile_frame(pd.DataFrame({"size": values})).column("size")
    assert column.mixed and column.kind == "categorical" and column.mixed_count == 75


def test_codes_with_leading_zeros_are_not_numbers():
    frame = pd.DataFrame({"zip": [f"0{i % 9}134" for i in range(100)]})
    column = profile_frame(frame).column("zip")
    assert column.kind == "categorical" and not column.mixed and column.numeric_count == 0


def test_histogram_counts_sum_to_the_finite_values():
    frame = make_binary_frame(500)
    profile = profile_frame(frame, "label")
    for name in ("x1", "noise"):
        column = profile.column(name)
        assert sum(column.histogram.counts) == frame[name].notna().sum()
        assert len(column.histogram.edges) == len(column.histogram.counts) + 1 == HISTOGRAM_BINS + 1
    x2 = profile.column("x2")
    assert sum(x2.histogram.counts) == np.isfinite(frame["x2"]).sum()
    assert x2.infinite_count == np.isinf(frame["x2"]).sum() > 0


def test_small_whole_numbers_get_one_bar_per_value():
    column = profile_frame(pd.DataFrame({"rooms": [1, 2, 2, 3, 3, 3, 5]})).column("rooms")
    assert column.histogram.counts == (1, 2, 3, 0, 1)
    assert column.histogram.edges[0] == 0.5 and column.histogram.edges[-1] == 5.5


def test_top_values_are_the_most_frequent_with_counts():
    values = [f"v{i}" for i in range(15) for _ in range(i + 1)]
    column = profile_frame(pd.DataFrame({"c": values})).column("c")
    assert len(column.top_values) == TOP_VALUES
    assert column.top_values[0] == ("v14", 15) and column.top_values[-1] == ("v5", 6)
    assert column.num_distinct == 15 and column.histogram is None


def test_missing_values_are_counted():
    frame = make_binary_frame(300)
    column = profile_frame(frame).column("colour")
    assert column.missing_count == frame["colour"].isna().sum() > 0
    assert column.missing_fraction == pytest.approx(frame["colour"].isna().mean())


def test_big_frames_are_profiled_on_a_sample_but_missing_counts_use_every_row():
    rng = np.random.default_rng(3)
    num_rows = 300_000
    x = rng.normal(size=num_rows)
    x[::1000] = np.nan
    frame = pd.DataFrame(
        {
            "x": x,
            "n": rng.integers(0, 50, num_rows),
            "c": pd.Series(rng.choice(["a", "b", "c"], num_rows), dtype="str"),
            "y": np.where(x > 0, "yes", "no"),
        }
    )
    profile = profile_frame(frame, "y")  # sampled, as asserted below; its speed is measured in bench/
    assert profile.num_rows == num_rows and profile.sampled_rows == profiling.PROFILE_SAMPLE_ROWS
    assert profile.column("x").missing_count == 300
    assert sum(profile.column("n").histogram.counts) == profiling.PROFILE_SAMPLE_ROWS
    assert profile.target.class_counts[0][1] + profile.target.class_counts[1][1] == num_rows
    assert profile.association_rows == profiling.ASSOCIATION_SAMPLE_ROWS


def test_sample_cap_can_be_lowered(monkeypatch):
    monkeypatch.setattr(profiling, "PROFILE_SAMPLE_ROWS", 100)
    profile = profile_frame(make_binary_frame(300))
    assert profile.sampled_rows == 100
    assert profile_frame(make_binary_frame(80)).sampled_rows is None


def test_target_summary_gives_class_balance_or_histogram():
    frame = make_binary_frame(300)
    target = profile_frame(frame, "label").target
    assert target.task == "binary"
    assert dict(target.class_counts) == frame["label"].value_counts().to_dict()
    regression = profile_frame(make_regression_frame(200), "price").target
    assert regression.task == "regression" and not regression.class_counts
    assert sum(regression.histogram.counts) == 200


def test_single_value_target_says_why_there_is_no_task():
    target = profile_frame(pd.DataFrame({"x": range(30), "y": ["yes"] * 30}), "y").target
    assert target.task is None and "two different values" in target.problem


def test_association_ranks_an_informative_column_above_noise():
    profile = profile_frame(make_binary_frame(1000), "label")
    association = {column.name: column.association for column in profile.columns}
    assert association["label"] is None
    assert association["x1"] > 0.1 > association["noise"]
    assert all(0.0 <= value <= 1.0 for value in association.values() if value is not None)
    assert "0 = it tells nothing" in ASSOCIATION_EXPLANATION
    assert profile_frame(make_binary_frame(100)).column("x1").association is None


def test_profile_table_keeps_its_shape_for_the_pages():
    frame = make_binary_frame(100)
    columns = profile_table(frame)
    assert [c.name for c in columns] == list(frame.columns)
    assert columns[0].dtype == "float64" and columns[0].example
    assert isinstance(profile_frame(frame), TableProfile)


def test_profile_survives_unhashable_values_and_empty_frames():
    frame = pd.DataFrame({"nested": [[1, 2], {"a": 1}, None] * 10, "y": ["a", "b", "c"] * 10})
    assert profile_frame(frame, "y").column("nested").num_distinct == 2
    assert profile_frame(pd.DataFrame({"a": []})).columns[0].kind == "empty"


def test_profile_serialises_to_plain_json_types():
    import json

    data = profile_frame(varied_frame(60), "colour").to_dict()
    assert json.loads(json.dumps(data, allow_nan=False))["rows"] == 60
