"""Text read by pyarrow (pandas' str dtype) is encoded in Arrow; the result equals the object-column path."""

import numpy as np
import pandas as pd
import pytest

from core.data.preprocessing import category_counts, fit_preprocessing, transform
from core.spec import ColumnSpec, PreprocessingSpec

OPTIONS = [
    {},
    {"max_categories": 3},
    {"missing": "constant", "fill_value": "unknown", "missing_indicator": True},
    {"missing": "constant", "fill_value": "b"},
    {"encoding": "ordinal", "order": ["c", "b", "a"]},
    {"encoding": "embedding"},
    {"encoding": "hashing", "num_bins": 6, "missing_indicator": True},
    # A fill value that is not among the values, but makes the top 2 with the missing ones added.
    {"max_categories": 2, "missing": "constant", "fill_value": "new"},
    {"encoding": "embedding", "max_categories": 4},
]


def columns(rows: int = 300) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(4)
    values = rng.choice(["a", "b", "c", "d", "e", "NA", "", "Zürich", "北京"], rows).astype(object)
    values[::7] = None
    return pd.Series(values, dtype="str"), pd.Series(values, dtype=object)


def test_the_arrow_column_is_really_arrow_backed():
    arrow, plain = columns()
    assert hasattr(arrow.array, "__arrow_array__") and plain.dtype == object


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_arrow_and_object_text_give_the_same_fit_and_matrix(options):
    arrow, plain = columns()
    spec = PreprocessingSpec(columns=(ColumnSpec(name="c", **options),))
    fitted = [
        fit_preprocessing(pd.DataFrame({"c": s.iloc[:200]}), ["c"], max_categories=50, spec=spec)
        for s in (arrow, plain)
    ]
    assert fitted[0] == fitted[1]
    unseen = ["zz", "NA", None, "a"]
    tail = [pd.concat([s.iloc[200:], pd.Series(unseen, dtype=s.dtype)], ignore_index=True) for s in (arrow, plain)]
    matrices = [transform(fitted[0], pd.DataFrame({"c": t})) for t in tail]
    np.testing.assert_array_equal(matrices[0], matrices[1])
    assert matrices[0].shape == (len(tail[0]), fitted[0].num_features)


def test_category_counts_leave_missing_tokens_out_unless_filled():
    arrow, plain = columns()
    for series in (arrow, plain):
        counts = category_counts(series)
        assert "NA" not in counts.index and "" not in counts.index
        assert counts.sum() == int(series.notna().sum() - series.isin(["NA", ""]).sum())
        filled = category_counts(series, "a")
        assert filled["a"] == counts["a"] + (len(series) - counts.sum())


def test_counting_only_the_top_values_of_a_selection_changes_no_vocabulary():
    from core.data.splitting import RowSelection

    # A long tail with ties at every cut: 2 values x 9 rows, 3 x 5, 4 x 2, 20 once.
    values = [f"v{i}" for i in range(2) for _ in range(9)] + [f"w{i}" for i in range(3) for _ in range(5)]
    values += [f"x{i}" for i in range(4) for _ in range(2)] + [f"once{i}" for i in range(20)]
    table = pd.DataFrame({"c": pd.Series(values, dtype="str")})
    rows = np.arange(len(table))
    for limit in range(1, 12):
        spec = PreprocessingSpec(columns=(ColumnSpec(name="c", max_categories=limit),))
        fitted = fit_preprocessing(RowSelection(table, rows), ["c"], max_categories=50, spec=spec)
        copied = fit_preprocessing(table.astype(object), ["c"], max_categories=50, spec=spec)
        assert fitted == copied and len(fitted.columns[0].vocabulary) == limit


def test_vocabulary_is_most_frequent_first_with_ties_broken_by_value():
    values = ["q"] * 5 + ["b"] * 3 + ["z", "z", "a", "a", "m", "m"] + [f"once {i}" for i in range(50)]
    spec = PreprocessingSpec(columns=(ColumnSpec(name="c", max_categories=3),))
    state = fit_preprocessing(pd.DataFrame({"c": values}), ["c"], max_categories=50, spec=spec)
    assert state.columns[0].vocabulary == ("q", "b", "a")  # a, m and z tie at 2: alphabetical
    assert state.columns[0].most_frequent == "q"
    ordinal = PreprocessingSpec(columns=(ColumnSpec(name="c", encoding="ordinal", order=("z", "m")),))
    assert (
        fit_preprocessing(pd.DataFrame({"c": values}), ["c"], max_categories=50, spec=ordinal).columns[0].most_frequent
        == "m"
    )


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_a_row_selection_encodes_like_its_copied_rows(options):
    from core.data.splitting import RowSelection

    arrow, _ = columns()
    table = pd.DataFrame({"c": arrow, "x": np.arange(len(arrow), dtype=float)})
    spec = PreprocessingSpec(columns=(ColumnSpec(name="c", **options),))
    state = fit_preprocessing(table.iloc[:200], ["c", "x"], max_categories=50, spec=spec)
    rows = np.array([299, 5, 7, 250, 0, 14, 3])
    np.testing.assert_array_equal(transform(state, RowSelection(table, rows)), transform(state, table.iloc[rows]))


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_fitting_on_a_row_selection_equals_fitting_on_its_copied_rows(options):
    from core.data.splitting import RowSelection

    arrow, _ = columns()
    table = pd.DataFrame({"c": arrow, "x": np.arange(len(arrow), dtype=float)})
    spec = PreprocessingSpec(columns=(ColumnSpec(name="c", **options),))
    rows = np.random.default_rng(2).permutation(len(table))[:180]
    selected = fit_preprocessing(RowSelection(table, rows), ["c", "x"], max_categories=50, spec=spec)
    assert selected == fit_preprocessing(table.iloc[rows], ["c", "x"], max_categories=50, spec=spec)


def test_splits_share_one_dictionary_per_text_column_and_release_it(monkeypatch):
    """prepare_data encodes each Arrow text column once for fitting and for all three splits, and keeps
    none of it afterwards (a million-row column's codes are 4 MB, its dictionary can be as big as the text)."""
    import core.data.preprocessing as preprocessing
    from core.data.splitting import prepare_data
    from core.spec import DataSpec

    arrow, _ = columns(600)
    rng = np.random.default_rng(5)
    table = pd.DataFrame(
        {
            "c": arrow,
            "d": arrow.str.upper(),
            "x": rng.normal(size=600),
            "y": pd.Series(rng.choice(["p", "q"], 600), dtype="str"),
        }
    )
    encoded: list[int] = []
    original = preprocessing.TextCodes.__init__

    def counting(self, values):
        encoded.append(len(values))
        original(self, values)

    monkeypatch.setattr(preprocessing.TextCodes, "__init__", counting)
    prepared = prepare_data(table, DataSpec(target="y"), PreprocessingSpec())
    assert encoded == [600, 600]  # c and d, each once for the whole table
    assert prepared.train_rows.cache == {}
    np.testing.assert_array_equal(prepared.x_test, transform(prepared.preprocessing, prepared.test))


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_a_column_read_in_several_chunks_fits_and_encodes_like_plain_text(options):
    """A big file is read in blocks, so its text columns are chunked Arrow arrays (one chunk empty here)."""
    import pyarrow as pa

    from core.data.splitting import RowSelection

    arrow, plain = columns(400)
    values = arrow.to_numpy(dtype=object, na_value=None)
    chunked = pa.chunked_array([pa.array(values[:90]), pa.array([], pa.string()), pa.array(values[90:])])
    table = pd.DataFrame({"c": pd.Series(pd.array(chunked, dtype="str"))})
    assert pa.chunked_array(table["c"].array.__arrow_array__()).num_chunks > 1
    spec = PreprocessingSpec(columns=(ColumnSpec(name="c", **options),))
    rows = np.random.default_rng(8).permutation(len(table))[:250]
    fitted = fit_preprocessing(RowSelection(table, rows), ["c"], max_categories=50, spec=spec)
    expected = fit_preprocessing(pd.DataFrame({"c": plain.iloc[rows]}), ["c"], max_categories=50, spec=spec)
    assert fitted == expected
    np.testing.assert_array_equal(
        transform(fitted, RowSelection(table, np.arange(len(table)))), transform(fitted, pd.DataFrame({"c": plain}))
    )
