"""Predicting new rows in a child process, and CSV downloads that a spreadsheet cannot turn into formulas."""

import pandas as pd
import pytest

from core.data.preprocessing import fit_preprocessing
from core.deployment.prediction import column_report, predict_rows
from core.errors import DataError
from core.plain_text import escape_formulas


def test_formula_cells_are_escaped_and_numbers_are_not():
    frame = pd.DataFrame({"text": ["=1+2", "+SUM(A1)", "-x", "@cmd", "plain", None], "n": [-1, 2, 3, 4, 5, 6]})
    escaped = escape_formulas(frame)
    assert escaped["text"].tolist()[:5] == ["'=1+2", "'+SUM(A1)", "'-x", "'@cmd", "plain"]
    assert pd.isna(escaped["text"].iloc[5])
    assert escaped["n"].tolist() == [-1, 2, 3, 4, 5, 6]


def test_column_report_names_missing_and_extra_columns():
    state = fit_preprocessing(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}), ["a", "b"], max_categories=5)
    missing, extra = column_report(state, pd.DataFrame({"a": [1.0], "c": [3]}))
    assert missing == ["b"] and extra == ["c"]


def test_a_file_that_is_not_a_model_is_a_message(tmp_path):
    fake = tmp_path / "model.keras"
    fake.write_text("not a model")
    with pytest.raises(DataError, match="not a valid .keras file"):
        predict_rows(fake, pd.DataFrame({"a": [1.0]}))
