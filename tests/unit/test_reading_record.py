"""A run records how its file was read, the worksheet included, and read_rows reads new files that way."""

from __future__ import annotations

import pandas as pd

from core.data.portable_reading import read_rows
from core.data.reading import load_table_file


def test_an_excel_run_records_its_worksheet_and_read_rows_reads_that_sheet(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"notes": ["a", "b"]}).to_excel(writer, sheet_name="Cover", index=False)
        pd.DataFrame({"城市": ["北京", "上海", "广州"], "收入": [1.5, 2.5, 3.5]}).to_excel(
            writer, sheet_name="数据", index=False
        )
    loaded = load_table_file(path, sheet="数据")
    assert loaded.reading() == {"format": "excel", "sheet": "数据"}
    again = read_rows(path, loaded.reading())
    assert list(again.columns) == ["城市", "收入"] and again["城市"].tolist() == ["北京", "上海", "广州"]
    assert list(read_rows(path).columns) == ["notes"]  # without a record: the first sheet, as pandas does
