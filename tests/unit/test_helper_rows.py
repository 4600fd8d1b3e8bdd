"""The rows of a click travel to the warm helper as JSON columns: every value a prediction reads arrives."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from core.runtime.helper import attach_predictions, decode_rows, encode_predictions, encode_rows


def _through_the_pipe(frame: pd.DataFrame) -> pd.DataFrame:
    return decode_rows(json.loads(json.dumps(encode_rows(frame))))


def test_numbers_text_and_missing_values_arrive_as_they_were_sent():
    frame = pd.DataFrame(
        {
            "ratio": [1.5, None, np.nan],
            "count": [1, 2, 3],
            "nullable": pd.array([1, None, 3], dtype="Int64"),
            "city": ["北京", None, "Zürich"],
            "flag": [True, False, True],
            "mixed": ["a", 3, None],
            "kind": pd.Categorical(["u", None, "v"]),
            "small": np.array([1.25, np.nan, 2.0], dtype="float32"),
        }
    )
    got = _through_the_pipe(frame)
    assert list(got.columns) == list(frame.columns)
    assert got["ratio"].tolist()[0] == 1.5 and got["ratio"].isna().tolist() == [False, True, True]
    assert got["count"].tolist() == [1, 2, 3]
    assert got["nullable"].isna().tolist() == [False, True, False] and got["nullable"][2] == 3
    assert got["city"].tolist()[0] == "北京" and pd.isna(got["city"][1]) and got["city"][2] == "Zürich"
    assert got["flag"].tolist() == [True, False, True]
    assert got["mixed"].tolist()[:2] == ["a", 3] and pd.isna(got["mixed"][2])
    assert got["kind"][0] == "u" and pd.isna(got["kind"][1])
    assert got["small"][0] == 1.25 and np.isnan(got["small"][1])


def test_a_zone_aware_date_keeps_its_instant_and_a_missing_date_stays_missing():
    when = pd.to_datetime(["2020-01-01 10:00", None]).tz_localize("Europe/Paris")
    got = _through_the_pipe(pd.DataFrame({"when": when}))
    assert got["when"][0] == pd.Timestamp("2020-01-01 09:00") and pd.isna(got["when"][1])


def test_only_the_prediction_columns_come_back_and_keep_their_types():
    rows = pd.DataFrame({"x": [1.0, 2.0]})
    predicted = rows.assign(prediction=["yes", "no"], prob_no=np.float32([0.25, 0.5]), prob_yes=np.float32([0.75, 0.5]))
    sent = json.loads(json.dumps(encode_predictions(predicted, rows)))
    assert list(sent) == ["prediction", "prob_no", "prob_yes"]
    got = attach_predictions(rows, sent)
    pd.testing.assert_frame_equal(got, predicted)
    value = rows.assign(prediction=np.float32([3.5, -1.0]))
    pd.testing.assert_frame_equal(attach_predictions(rows, encode_predictions(value, rows)), value)
