"""Hashing for many categories and day-first dates: training's numpy transform and the exported graph agree."""

import numpy as np
import pandas as pd
import pytest

from core.data.preprocessing import (
    date_order,
    datetime_parts,
    datetime_seconds,
    fit_preprocessing,
    hash_buckets,
    transform,
)
from core.deployment.serving_model import build_preprocessing_model, model_inputs
from core.spec import ColumnSpec, PreprocessingSpec


def graph_matrix(state, rows: pd.DataFrame) -> np.ndarray:
    import keras

    model = build_preprocessing_model(state)
    return keras.ops.convert_to_numpy(model(model_inputs(model, rows)))


def cities(rows: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = np.array([f"city-{i}" for i in rng.integers(0, 400, rows)], dtype=object)
    values[::9] = None
    values[3] = "Zürich"
    values[4] = "北京"
    return pd.DataFrame({"city": values})


def test_hash_buckets_are_keras_hashing_buckets():
    import keras

    values = np.array(["a", "b", "Zürich", "北京", "", "a"], dtype=object)
    expected = keras.ops.convert_to_numpy(keras.layers.Hashing(num_bins=7)(values.reshape(-1, 1))).reshape(-1)
    np.testing.assert_array_equal(hash_buckets(values, 7), expected)


@pytest.mark.parametrize(
    "options",
    [{}, {"num_bins": 5, "missing_indicator": True}, {"missing": "constant", "fill_value": "unknown"}],
    ids=str,
)
def test_hashing_matches_the_exported_graph_on_unseen_and_missing_values(options):
    data = cities()
    spec = PreprocessingSpec(columns=(ColumnSpec(name="city", encoding="hashing", **options),))
    state = fit_preprocessing(data.iloc[:200], ["city"], max_categories=50, spec=spec)
    (column,) = state.columns
    assert column.width == options.get("num_bins", 64) + int(options.get("missing_indicator", False))
    rows = pd.concat(
        [data.iloc[200:], pd.DataFrame({"city": ["never seen", "", "NA", None, "Zürich"]})], ignore_index=True
    )
    expected = transform(state, rows)
    assert expected[:, : column.num_bins].sum(axis=1).tolist() == [1.0] * len(rows)  # one bucket per row
    np.testing.assert_array_equal(graph_matrix(state, rows), expected)
    # A missing value lands in the fill value's bucket.
    fill = options.get("fill_value", column.most_frequent)
    missing_row = expected[len(rows) - 2, : column.num_bins]
    assert int(np.argmax(missing_row)) == int(hash_buckets([fill], column.num_bins)[0])


@pytest.mark.parametrize(
    ("values", "order"),
    [
        (["25/04/2024", "03/04/2024", None], "day_first"),
        (["04/25/2024", "03/04/2024"], "month_first"),
        (["03/04/2024", "01.02.2023 10:00"], "ambiguous"),
        (["25/04/2024", "04/25/2024"], "conflicting"),
        (["2024-04-03", "2024-12-01 10:00"], "unambiguous"),
    ],
)
def test_date_order_is_read_from_the_values(values, order):
    assert date_order(pd.Series(values, dtype="str")) == order


def dates(rows: int = 120) -> pd.DataFrame:
    days = pd.to_datetime("2023-01-01") + pd.to_timedelta(np.arange(rows) * 3, unit="D")
    text = pd.Series(days.strftime("%d/%m/%Y"), dtype="str")
    text[::10] = None
    return pd.DataFrame({"when": text})


def test_day_first_dates_are_detected_and_the_exported_model_reads_them_the_same_way():
    data = dates()
    spec = PreprocessingSpec(columns=(ColumnSpec(name="when", kind="datetime"),))
    state = fit_preprocessing(data.iloc[:100], ["when"], max_categories=50, spec=spec)
    (column,) = state.columns
    assert column.dayfirst  # 13/01/2023 and later prove it
    rows = pd.DataFrame({"when": ["03/04/2024", "25/12/2023", "not a date", ""]})
    expected = transform(state, rows)
    month_and_day = expected[:2, 1:3] * np.array(column.scales[1:3]) + np.array(column.centers[1:3])
    np.testing.assert_allclose(month_and_day, [[4, 3], [12, 25]], atol=1e-4)  # 3 April, 25 December
    np.testing.assert_allclose(graph_matrix(state, rows), expected, atol=1e-5)


@pytest.mark.parametrize("dayfirst", [True, False])
def test_the_users_date_order_decides_ambiguous_dates_in_training_and_in_the_export(dayfirst):
    data = pd.DataFrame({"when": pd.Series(["03/04/2024", "01/02/2024 10:30", "05/06/2023", None] * 10, dtype="str")})
    spec = PreprocessingSpec(columns=(ColumnSpec(name="when", kind="datetime", dayfirst=dayfirst),))
    state = fit_preprocessing(data, ["when"], max_categories=50, spec=spec)
    seconds = datetime_seconds(data["when"].iloc[:1], dayfirst=dayfirst)
    month, day = datetime_parts(seconds)[0, 1:3]
    assert (month, day) == ((4.0, 3.0) if dayfirst else (3.0, 4.0))
    np.testing.assert_allclose(graph_matrix(state, data), transform(state, data), atol=1e-5)


def test_iso_text_dates_parse_as_before_with_one_guessed_format():
    text = pd.Series(["2021-05-05 11:27:55", None, "2021-05-06", "2021-05-05T01:02:03+02:00", "junk"], dtype="str")
    seconds = datetime_seconds(text)
    expected = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
    np.testing.assert_array_equal(np.isnan(seconds), expected.isna().to_numpy())
    np.testing.assert_allclose(
        seconds[~np.isnan(seconds)],
        (expected.dropna().dt.tz_localize(None) - pd.Timestamp("1970-01-01")).dt.total_seconds(),
    )


def test_hashing_and_day_first_survive_saving_and_a_safe_mode_reload(tmp_path):
    import keras

    data = pd.concat([cities(120), dates(120)], axis=1)
    spec = PreprocessingSpec(
        columns=(ColumnSpec(name="city", encoding="hashing", num_bins=8), ColumnSpec(name="when", kind="datetime"))
    )
    state = fit_preprocessing(data, ["city", "when"], max_categories=50, spec=spec)
    model = build_preprocessing_model(state)
    model.save(tmp_path / "prep.keras")
    reloaded = keras.saving.load_model(tmp_path / "prep.keras", safe_mode=True)
    rows = pd.DataFrame({"city": ["never seen", "", "city-3"], "when": ["03/04/2024", "", "25/12/2023"]})
    expected = transform(state, rows)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(model_inputs(reloaded, rows))), expected)


DATES_MIXED = [
    "2024-03-01 10:00:00", None, "25/04/2024", "2024-03-06T08:00:00+02:00", "", "03/04/2024",
    "2024/12/11", "11/12/2024 14:00", "not a date", "2023-01-02",
]  # fmt: skip


@pytest.mark.parametrize("dayfirst", [True, False])
@pytest.mark.parametrize("first", [0, 2], ids=["iso-first", "dmy-first"])
def test_year_first_dates_are_never_read_day_first_by_any_of_the_three_readers(dayfirst, first):
    """Core (training and the .keras model's inputs), the generated script and the TFLite/ONNX preprocess.py
    read a column the same way, and a value that starts with its year is year-month-day even when the
    column is read day first (pandas alone reads 2024-03-01 as 3 January with dayfirst=True)."""
    from core.data import table_rules
    from core.data.preprocessing import datetime_seconds
    from core.deployment.formats import preprocess

    series = pd.Series(DATES_MIXED[first:] + DATES_MIXED[:first], dtype="str")
    core_seconds = datetime_seconds(series, dayfirst=dayfirst)
    namespace: dict = {}
    exec("\n".join(table_rules.SHIPPED_IMPORTS) + "\n" + table_rules.shipped_source(), namespace)  # noqa: S102
    script_seconds = namespace["datetime_seconds"](series, dayfirst)
    spec = {"inputs": [{"column": "d", "input": "d", "kind": "datetime", "dayfirst": dayfirst}]}
    shipped_seconds = preprocess(pd.DataFrame({"d": series}), spec)["d"].reshape(-1)
    np.testing.assert_array_equal(script_seconds, core_seconds)
    np.testing.assert_array_equal(shipped_seconds, core_seconds)

    read = dict(zip(series.tolist(), pd.to_datetime(core_seconds, unit="s").strftime("%Y-%m-%d %H:%M"), strict=True))
    assert read["2024-03-01 10:00:00"] == "2024-03-01 10:00"
    assert read["2024-03-06T08:00:00+02:00"] == "2024-03-06 06:00"
    assert read["2024/12/11"] == "2024-12-11 00:00"
    assert read["2023-01-02"] == "2023-01-02 00:00"
    if dayfirst:
        assert read["03/04/2024"] == "2024-04-03 00:00" and read["25/04/2024"] == "2024-04-25 00:00"
