"""Every per-column preprocessing option: fitted on training rows only, and the exported Keras graph
computes exactly what the numpy transform used for training computes."""

import numpy as np
import pandas as pd
import pytest

from core.data.preprocessing import DATETIME_PARTS, datetime_parts, fit_preprocessing, transform
from core.deployment.serving_model import build_preprocessing_model, model_inputs
from core.spec import ColumnSpec, PreprocessingSpec


def frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1.2, rows)
    amount[::17] = np.nan
    amount[5] = np.inf
    amount[7] = 1e6  # an outlier
    size = rng.choice(["S", "M", "L", "XL"], rows).astype(object)
    size[::11] = None
    city = rng.choice(["北京", "上海", "Lyon", "Lima"], rows).astype(object)
    city[::13] = None
    when = pd.Series(pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365 * 24, rows), unit="h"))
    when[::19] = pd.NaT
    return pd.DataFrame(
        {"amount": amount, "size": size, "city": city, "when": when.dt.strftime("%Y-%m-%d %H:%M").where(when.notna())}
    )


def graph_matrix(state, rows: pd.DataFrame) -> np.ndarray:
    model = build_preprocessing_model(state)
    import keras

    return keras.ops.convert_to_numpy(model(model_inputs(model, rows)))


NUMERIC_OPTIONS = [
    {},
    {"missing": "mean"},
    {"missing": "most_frequent"},
    {"missing": "constant", "fill_value": -1.0},
    {"missing_indicator": True},
    {"outliers": "clip_iqr"},
    {"outliers": "clip_zscore"},
    {"scaling": "minmax"},
    {"scaling": "robust"},
    {"scaling": "log1p"},
    {"scaling": "none", "outliers": "clip_iqr", "missing_indicator": True},
]
CATEGORY_OPTIONS = [
    {},
    {"max_categories": 2},
    {"missing": "constant", "fill_value": "unknown"},
    {"missing_indicator": True},
    {"encoding": "ordinal", "order": ["S", "M", "L", "XL"]},
    {"encoding": "ordinal", "order": ["S", "M", "L"], "missing_indicator": True},
]


@pytest.mark.parametrize("options", NUMERIC_OPTIONS, ids=str)
def test_numeric_options_match_the_exported_graph(options):
    data = frame()
    spec = PreprocessingSpec(columns=(ColumnSpec(name="amount", **options),))
    state = fit_preprocessing(data.iloc[:150], ["amount"], max_categories=50, spec=spec)
    expected = transform(state, data.iloc[150:])
    assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(graph_matrix(state, data.iloc[150:]), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("options", CATEGORY_OPTIONS, ids=str)
def test_category_options_match_the_exported_graph(options):
    data = frame()
    spec = PreprocessingSpec(columns=(ColumnSpec(name="size", **options),))
    state = fit_preprocessing(data.iloc[:150], ["size"], max_categories=50, spec=spec)
    rows = pd.concat([data.iloc[150:], pd.DataFrame({"size": ["XXL", "", "NA"]})], ignore_index=True)
    np.testing.assert_allclose(graph_matrix(state, rows), transform(state, rows), atol=1e-6)


def test_datetime_parts_match_pandas_and_the_exported_graph():
    data = frame()
    spec = PreprocessingSpec(columns=(ColumnSpec(name="when", kind="datetime", missing_indicator=True),))
    state = fit_preprocessing(data.iloc[:150], ["when"], max_categories=50, spec=spec)
    assert state.num_features == len(DATETIME_PARTS) + 1
    np.testing.assert_allclose(graph_matrix(state, data.iloc[150:]), transform(state, data.iloc[150:]), atol=1e-5)
    stamps = pd.to_datetime(pd.Series(["1969-12-31 23:00", "2000-02-29 13:45", "2024-12-31 00:10", "2100-03-01 05:00"]))
    seconds = (stamps - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy()
    expected = np.stack(
        [stamps.dt.year, stamps.dt.month, stamps.dt.day, stamps.dt.weekday, stamps.dt.hour], axis=1
    ).astype(float)
    np.testing.assert_array_equal(datetime_parts(seconds), expected)


def test_mixed_frame_with_every_kind_matches_the_graph():
    data = frame()
    spec = PreprocessingSpec(
        columns=(
            ColumnSpec(name="amount", scaling="log1p", missing_indicator=True, outliers="clip_iqr"),
            ColumnSpec(name="size", encoding="ordinal", order=("S", "M", "L", "XL")),
            ColumnSpec(name="when", kind="datetime"),
        )
    )
    features = ["amount", "size", "city", "when"]
    state = fit_preprocessing(data.iloc[:150], features, max_categories=50, spec=spec)
    np.testing.assert_allclose(graph_matrix(state, data.iloc[150:]), transform(state, data.iloc[150:]), atol=1e-5)


def test_changing_only_test_rows_changes_no_fitted_statistic():
    data = frame()
    spec = PreprocessingSpec(
        columns=(
            ColumnSpec(name="amount", scaling="robust", outliers="clip_zscore", missing="mean"),
            ColumnSpec(name="when", kind="datetime"),
        )
    )
    features = ["amount", "size", "city", "when"]
    train = data.iloc[:150]
    before = fit_preprocessing(train, features, max_categories=50, spec=spec)
    changed = data.copy()
    changed.loc[150:, "amount"] = 1e9
    changed.loc[150:, "size"] = "XXXL"
    changed.loc[150:, "when"] = "1999-01-01 00:00"
    after = fit_preprocessing(changed.iloc[:150], features, max_categories=50, spec=spec)
    assert before == after


def test_kind_override_numeric_coerces_text_and_categorical_keeps_codes_as_categories():
    data = pd.DataFrame({"code": ["1", "2", "x", "3", None] * 10, "zip": [75001, 69002, 75001, 13001, 75001] * 10})
    spec = PreprocessingSpec(
        columns=(ColumnSpec(name="code", kind="numeric"), ColumnSpec(name="zip", kind="categorical"))
    )
    state = fit_preprocessing(data, ["code", "zip"], max_categories=50, spec=spec)
    assert state.columns[0].kind == "numeric"
    assert state.columns[1].kind == "categorical" and state.columns[1].vocabulary[0] == "75001"
    np.testing.assert_allclose(graph_matrix(state, data), transform(state, data), atol=1e-5)


def test_constant_fill_must_be_a_number_for_numbers():
    from core.errors import DataError

    data = pd.DataFrame({"n": [1.0, np.nan, 3.0]})
    spec = PreprocessingSpec(columns=(ColumnSpec(name="n", missing="constant", fill_value="zero"),))
    with pytest.raises(DataError, match="not a number"):
        fit_preprocessing(data, ["n"], max_categories=5, spec=spec)
