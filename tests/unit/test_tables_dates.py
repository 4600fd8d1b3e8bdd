"""Date and time text in a CSV stays text, read in one pyarrow pass when only timestamps are involved."""

import pandas as pd

import core.data.reading as tables
from core.data.reading import load_table

CSV = (
    b"when,day,at,count,label\n"
    b"2021-05-05 11:27:55,2021-05-05,10:00:00,1,a\n"
    b"2021-05-06T01:02:03,2021-05-06,11:30:00,,b\n"
    b",,,3,a\n"
)


def test_timestamps_dates_and_times_stay_text_like_the_c_engine_reads_them():
    frame = load_table(CSV, filename="t.csv").frame
    c_engine = pd.read_csv(pd.io.common.BytesIO(CSV), engine="c")
    assert frame["when"].tolist()[:2] == ["2021-05-05 11:27:55", "2021-05-06T01:02:03"]
    assert frame["day"].tolist()[:2] == ["2021-05-05", "2021-05-06"]
    assert frame["at"].tolist()[:2] == ["10:00:00", "11:30:00"]
    assert frame.dtypes.astype(str).tolist() == c_engine.dtypes.astype(str).tolist()
    assert frame["count"].isna().tolist() == [False, True, False]


def test_a_table_of_timestamp_text_is_parsed_once(monkeypatch):
    calls = []
    real = pd.read_csv

    def counting(*args, **kwargs):
        calls.append(kwargs.get("engine"))
        return real(*args, **kwargs)

    monkeypatch.setattr(tables.pd, "read_csv", counting)
    frame = load_table(
        b"when,count\n2021-05-05 11:27:55,1\n2021-05-06 01:02:03,\n2021-05-07 00:00:00,3\n", filename="t.csv"
    ).frame
    assert calls == ["pyarrow"]
    assert frame["when"].iloc[0] == "2021-05-05 11:27:55"
