"""`suggest_target`: a likely column to predict, or None so that the Data page asks."""

import numpy as np
import pandas as pd
import pytest

from core.data.profiling import suggest_target

ROWS = 60
rng = np.random.default_rng(0)


def numbers() -> np.ndarray:
    return rng.normal(size=ROWS).round(3)


@pytest.mark.parametrize(
    "name", ["target", "Label", "class", "y", "outcome", "price", "income", "churn", "目标", "标签"]
)
def test_a_column_named_like_a_target_is_suggested_wherever_it_is(name):
    frame = pd.DataFrame({name: rng.choice(["a", "b"], ROWS), "x1": numbers(), "x2": numbers()})
    assert suggest_target(frame) == name


def test_a_whole_name_wins_over_a_last_word_and_the_last_match_over_earlier_ones():
    frame = pd.DataFrame({"label": rng.choice(["a", "b"], ROWS), "income_class": rng.choice(["lo", "hi"], ROWS)})
    assert suggest_target(frame) == "label"
    frame = pd.DataFrame({"is_churn": rng.choice([0, 1], ROWS), "x": numbers(), "y": numbers()})
    assert suggest_target(frame) == "y"


def test_a_low_cardinality_last_column_is_suggested():
    frame = pd.DataFrame({"x1": numbers(), "x2": numbers(), "grade": rng.choice(["A", "B", "C"], ROWS)})
    assert suggest_target(frame) == "grade"


def test_unsure_returns_none():
    # The last column is a measurement like the others: nothing says which one to predict.
    assert suggest_target(pd.DataFrame({"x1": numbers(), "x2": numbers(), "x3": numbers()})) is None


def test_id_free_text_and_constant_columns_are_never_suggested():
    text = [f"this is a long free text comment number {i} about the visit and the staff" for i in range(ROWS)]
    assert suggest_target(pd.DataFrame({"x": numbers(), "comment": text})) is None
    assert suggest_target(pd.DataFrame({"x": numbers(), "target": ["same"] * ROWS})) is None
    ids = pd.DataFrame({"x": numbers(), "label_id": [f"row-{i:05d}" for i in range(ROWS)]})
    assert suggest_target(ids) is None


def test_a_coordinate_named_y_is_not_a_target_by_its_last_word():
    frame = pd.DataFrame({"pos_x": numbers(), "pos_y": numbers(), "kind": rng.choice(["a", "b"], ROWS)})
    assert suggest_target(frame) == "kind"
