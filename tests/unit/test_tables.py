"""Tests for `core.data.reading`: every upload ends in a usable table or a `DataError`, never anything else."""

from __future__ import annotations

import io
import json
import re
import string
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import Settings
from core.data import reading as tables
from core.data.reading import (
    MESSAGES,
    SUPPORTED_EXTENSIONS,
    LoadedTable,
    TableLimits,
    list_sheets,
    load_table,
    load_table_file,
)
from core.errors import DataError

BAD_INPUTS = Path(__file__).resolve().parents[3] / "shared" / "bad_inputs"
TABLE_SUFFIXES = {".csv", ".xlsx", ".parquet", ".json"}
CJK = re.compile(r"[\u3400-\u9fff]")
# Only the catch-all message says this; every foreseen failure has its own message.
UNEXPECTED_MARK = "the reader failed with"


def assert_valid_table(table: LoadedTable) -> None:
    """The guarantees every caller of `load_table` relies on."""
    assert isinstance(table, LoadedTable)
    frame = table.frame
    assert frame.shape[0] >= 1 and frame.shape[1] >= 1
    names = list(frame.columns)
    assert all(isinstance(name, str) and name and name == name.strip() for name in names)
    assert len(set(names)) == len(names)
    assert isinstance(frame.index, pd.RangeIndex)
    assert frame.index.start == 0 and frame.index.step == 1 and len(frame.index) == len(frame)
    assert table.file_format in {"csv", "excel", "parquet", "json"}
    assert all(isinstance(note, str) and note for note in table.notes)


def load(data: bytes, filename: str, **kwargs) -> LoadedTable:
    table = load_table(data, filename, **kwargs)
    assert_valid_table(table)
    return table


def load_error(data: bytes, filename: str, **kwargs) -> str:
    with pytest.raises(DataError) as caught:
        load_table(data, filename, **kwargs)
    message = str(caught.value)
    assert UNEXPECTED_MARK not in message, message
    return message


def has_cjk(frame: pd.DataFrame) -> bool:
    cells = frame.astype(str).to_numpy().ravel().tolist()
    return any(CJK.search(text) for text in [*frame.columns, *cells])


def xlsx_bytes(rows_by_sheet: dict[str, list[list[object]]]) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in rows_by_sheet.items():
        worksheet = workbook.create_sheet(title)
        for row in rows:
            worksheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rewrite_zip(data: bytes, *, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """A copy of a zip archive with some members replaced and others added."""
    replace = replace or {}
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, replace.get(info.filename) or source.read(info))
        for name, payload in (add or {}).items():
            target.writestr(name, payload)
    return buffer.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


# What each kind of hostile file in shared/bad_inputs must give. A table check receives the
# LoadedTable; an error check is a phrase the message must contain.
def _check_gbk(table: LoadedTable) -> None:
    assert has_cjk(table.frame)
    assert table.encoding == "gb18030"
    assert any("GB18030" in note for note in table.notes)


def _check_bom(table: LoadedTable) -> None:
    assert table.frame.columns[0] == "姓名"


def _check_decimal_comma(table: LoadedTable) -> None:
    assert table.frame.shape[1] > 1
    assert table.delimiter == ";"
    assert any(pd.api.types.is_float_dtype(dtype) for dtype in table.frame.dtypes)
    assert any("decimal comma" in note for note in table.notes)


def _check_quoted_newlines(table: LoadedTable) -> None:
    assert len(table.frame) == 3
    assert table.frame["comment"].iloc[0] == "line one\nline two, with comma"
    assert table.frame["comment"].iloc[1] == 'he said "hi"'


def _check_duplicates(table: LoadedTable) -> None:
    assert list(table.frame.columns) == ["x", "x (2)", "label", "label (2)"]
    assert any("x (2)" in note for note in table.notes)


def _check_inf_tokens(table: LoadedTable) -> None:
    # "-" and "#DIV/0!" are ordinary text, so those columns stay text; later stages deal with them.
    assert len(table.frame) == 10
    assert "#DIV/0!" in table.frame["x2"].tolist()


def _check_nul_bytes(table: LoadedTable) -> None:
    assert table.frame.shape == (2, 3)
    assert any("NUL" in note for note in table.notes)


def _check_valid_xlsx(table: LoadedTable) -> None:
    # The manifest's "31 rows" counts the header row of the sheet.
    assert table.frame.shape == (30, 3)
    assert list(table.frame.columns) == ["x1", "x2", "label"]
    assert table.file_format == "excel"


def _check_nested_parquet(table: LoadedTable) -> None:
    assert list(table.frame.columns) == ["ts", "dec", "label"]
    assert pd.api.types.is_float_dtype(table.frame["dec"])
    assert table.frame["ts"].dt.tz is None
    dropped = next(note for note in table.notes if "Dropped" in note)
    assert all(name in dropped for name in ("lst", "st", "mp"))


def _loads(shape: tuple[int, int] | None = None) -> Callable[[LoadedTable], None]:
    def check(table: LoadedTable) -> None:
        if shape is not None:
            assert table.frame.shape == shape

    return check


EXPECTED: dict[str, tuple[str, Callable[[LoadedTable], None] | str]] = {
    "01_empty.csv": ("error", "is empty"),
    "03_header_only.csv": ("error", "0 data rows"),
    "05_single_class_target.csv": ("table", _loads((60, 3))),
    "06_all_nan_feature.csv": ("table", _loads((50, 3))),
    "08_10000_classes.csv": ("table", _loads((10_000, 3))),
    "09_gbk_chinese.csv": ("table", _check_gbk),
    "11_utf8_bom.csv": ("table", _check_bom),
    "12_semicolon_decimal_comma.csv": ("table", _check_decimal_comma),
    "13_quoted_newlines.csv": ("table", _check_quoted_newlines),
    "14_ragged_rows.csv": ("error", "line 3"),
    "16_duplicate_columns.csv": ("table", _check_duplicates),
    "17_inf_nan_tokens.csv": ("table", _check_inf_tokens),
    "18_mixed_types.csv": ("table", _loads((6, 2))),
    "19_dates.csv": ("table", _loads((4, 4))),
    # 5,001 columns is over the default cap of 1,000; with a raised cap it loads (see below).
    "20_wide_5000_cols.csv": ("error", "5,001 columns"),
    "22_null_bytes.csv": ("table", _check_nul_bytes),
    "26_constant_features.csv": ("table", _loads((50, 3))),
    "27_id_like_column.csv": ("table", _loads((3000, 3))),
    "28_renamed_exe.csv": ("error", "Windows program"),
    "30_valid_minimal.xlsx": ("table", _check_valid_xlsx),
    "32_xxe_external_entity.xlsx": ("error", "XML entity declarations"),
    "34_huge_dimension.xlsx": ("error", "XFD1048576"),
    "37_truncated.parquet": ("error", "not a valid Parquet file"),
    "38_nested_types.parquet": ("table", _check_nested_parquet),
    "40_scalar_and_nan.json": ("error", "list of records"),
}


def _manifest_entries() -> list[dict]:
    manifest = BAD_INPUTS / "MANIFEST.json"
    if not manifest.is_file():
        return [{"file": None}]
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    return [entry for entry in entries if Path(entry["file"]).suffix in TABLE_SUFFIXES]


@pytest.mark.parametrize("entry", _manifest_entries(), ids=lambda entry: str(entry["file"]))
def test_bad_inputs_give_a_table_or_a_clear_error(entry: dict) -> None:
    if entry["file"] is None:
        pytest.skip(f"{BAD_INPUTS} is missing")
    path = BAD_INPUTS / entry["file"]
    outcome, check = EXPECTED.get(path.name, ("either", None))
    try:
        table = load_table_file(path)
    except DataError as err:
        message = str(err)
        assert outcome in ("error", "either"), f"{path.name}: expected a table ({entry['expect']}), got: {message}"
        assert UNEXPECTED_MARK not in message, message
        if isinstance(check, str):
            assert check in message
        assert "Traceback" not in message and "root:" not in message
        return
    assert outcome in ("table", "either"), f"{path.name}: expected an error ({entry['expect']})"
    assert_valid_table(table)
    if check is not None:
        check(table)


def test_manifest_expectations_cover_every_table_file() -> None:
    if not BAD_INPUTS.is_dir():
        pytest.skip(f"{BAD_INPUTS} is missing")
    names = {Path(entry["file"]).name for entry in _manifest_entries()}
    assert set(EXPECTED) <= names


def test_xxe_workbook_never_reveals_server_files() -> None:
    if not BAD_INPUTS.is_dir():
        pytest.skip(f"{BAD_INPUTS} is missing")
    data = (BAD_INPUTS / "xlsx" / "32_xxe_external_entity.xlsx").read_bytes()
    with pytest.raises(DataError) as caught:
        load_table(data, "32_xxe_external_entity.xlsx")
    assert "root:" not in str(caught.value)
    with pytest.raises(DataError) as caught:
        list_sheets(data)
    assert "root:" not in str(caught.value)


@pytest.mark.timeout(60)  # a hang guard; speed is measured in bench/, not here
def test_huge_dimension_workbook_stays_small_and_fast() -> None:
    if not BAD_INPUTS.is_dir():
        pytest.skip(f"{BAD_INPUTS} is missing")
    data = (BAD_INPUTS / "xlsx" / "34_huge_dimension.xlsx").read_bytes()
    with pytest.raises(DataError, match="at most 1,000 columns"):
        load_table(data, "34_huge_dimension.xlsx")
    # tracemalloc slows the million empty rows down several times, so time is measured without it.
    tracemalloc.start()
    try:
        with pytest.raises(DataError):
            load_table(data, "34_huge_dimension.xlsx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 1024 * 1024


def test_wide_table_loads_when_the_column_cap_allows_it() -> None:
    if not BAD_INPUTS.is_dir():
        pytest.skip(f"{BAD_INPUTS} is missing")
    table = load_table_file(BAD_INPUTS / "csv" / "20_wide_5000_cols.csv", limits=TableLimits(max_columns=10_000))
    assert_valid_table(table)
    assert table.frame.shape == (20, 5001)


def test_utf16_tab_separated_unicode_text_export() -> None:
    data = "名前\tscore\n山田\t1.5\n李\t2\n".encode("utf-16")
    table = load(data, "export.txt")
    assert table.encoding == "utf-16"
    assert table.delimiter == "\t"
    assert list(table.frame.columns) == ["名前", "score"]
    assert table.frame["score"].tolist() == [1.5, 2.0]


def test_gbk_text_is_decoded_as_chinese() -> None:
    table = load("姓名,城市\n张三,北京\n李四,上海\n".encode("gbk"), "people.csv")
    assert table.encoding == "gb18030"
    assert table.frame["城市"].tolist() == ["北京", "上海"]


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("name,city\nJosé,Zürich\nMüller,Köln €\n", "cp1252", "cp1252"),
        ("name,city\nJosé,Zürich\nMüller,Köln\x81\n", "latin-1", "latin-1"),
    ],
)
def test_western_text_is_not_mistaken_for_chinese(text: str, encoding: str, expected: str) -> None:
    table = load(text.encode(encoding), "cities.csv")
    assert table.encoding == expected
    assert table.frame["name"].tolist() == ["José", "Müller"]
    assert any("not UTF-8" in note for note in table.notes)


def test_pipe_delimited() -> None:
    table = load(b"a|b|c\n1|2|x\n3|4|y\n", "pipes.csv")
    assert table.delimiter == "|"
    assert table.frame.shape == (2, 3)


def test_decimal_comma_with_thousands_separator() -> None:
    table = load(b"amount;label\n1.234,5;a\n2,25;b\n", "de.csv")
    assert table.frame["amount"].tolist() == [1234.5, 2.25]
    assert any("thousands" in note for note in table.notes)


def test_comma_file_with_decimal_points_is_not_reinterpreted() -> None:
    table = load(b"x,y\n1.5,2\n3.25,4\n", "en.csv")
    assert table.delimiter == ","
    assert table.frame["x"].tolist() == [1.5, 3.25]
    assert table.notes == ()


def test_dates_stay_text_whichever_engine_reads_them() -> None:
    # A hex-looking column sends the file to pandas' C engine; without it pyarrow reads it.
    fast = load(b"day,x\n2024-01-31,1\n2024-02-01,2\n", "a.csv")
    slow = load(b"day,x,code\n2024-01-31,1,0x1F\n2024-02-01,2,0x20\n", "b.csv")
    assert fast.frame["day"].dtype == slow.frame["day"].dtype
    assert fast.frame["day"].tolist() == slow.frame["day"].tolist() == ["2024-01-31", "2024-02-01"]
    assert slow.frame["code"].tolist() == ["0x1F", "0x20"]


def test_infinite_values_stay_numeric() -> None:
    table = load(b"x,label\ninf,a\n-inf,b\n1e309,a\n2,b\n", "inf.csv")
    assert pd.api.types.is_float_dtype(table.frame["x"])
    assert np.isinf(table.frame["x"]).sum() == 3


def test_empty_header_cells_get_positional_names() -> None:
    table = load(b"a,,b, \n1,2,3,4\n", "gaps.csv")
    assert list(table.frame.columns) == ["a", "column_2", "b", "column_4"]
    assert any("column_2" in note and "column_4" in note for note in table.notes)


def test_renaming_never_collides_with_an_existing_name() -> None:
    table = load(b"x,x,x (2)\n1,2,3\n", "clash.csv")
    assert list(table.frame.columns) == ["x", "x (3)", "x (2)"]


@pytest.mark.parametrize(
    ("data", "filename", "phrase"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "photo.csv", "PNG image"),
        (b"<!DOCTYPE html>\n<html><body>Sign in</body></html>", "export.csv", "web page"),
        (b"%PDF-1.7\n%\xe2\xe3", "report.csv", "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old.xlsx", ".xls"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 16, "table.csv", "gzip"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "setup.csv", "Windows program"),
        (b"   \n\t\r\n", "blank.csv", "is empty"),
        (b"a,b\n1,2,3\n4,5\n", "long_first_row.csv", "line 2"),
        (b'a,b\n1,"never closed\n2,3\n', "quote.csv", "never closed"),
        (b"\x00\x01\x02\x03\x04\x05\x06\x07" * 64, "blob.csv", "binary data"),
        (b"a,b\n1,2\n", "table.xls", "extension `.xls`"),
        (b"a,b\n1,2\n", "table.parquet", "not a valid Parquet file"),
    ],
)
def test_refusals_say_what_the_file_is(data: bytes, filename: str, phrase: str) -> None:
    assert phrase in load_error(data, filename)


def test_content_beats_extension_for_parquet() -> None:
    data = parquet_bytes(pa.table({"x": [1, 2], "label": ["a", "b"]}))
    table = load(data, "misnamed.csv")
    assert table.file_format == "parquet"
    assert table.frame["label"].tolist() == ["a", "b"]


def test_zips_other_than_workbooks_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    assert "Word document" in load_error(buffer.getvalue(), "report.xlsx")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    assert "Unzip it" in load_error(buffer.getvalue(), "data.csv")


def test_row_cap_keeps_the_first_rows_with_a_note() -> None:
    data = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * 2) for i in range(50))
    table = load(data, "many.csv", limits=TableLimits(max_rows=10))
    assert table.frame["a"].tolist() == list(range(10))
    assert any("kept the first 10" in note for note in table.notes)


def test_row_cap_on_the_c_engine_path() -> None:
    data = b"a;b\n" + b"".join(b"1.234,%d;x\n" % i for i in range(50))
    table = load(data, "many.csv", limits=TableLimits(max_rows=5))
    assert len(table.frame) == 5
    assert any("kept the first 5" in note for note in table.notes)


def test_column_cap_says_how_many_and_the_limit() -> None:
    message = load_error(b"a,b,c\n1,2,3\n", "wide.csv", limits=TableLimits(max_columns=2))
    assert "3 columns" in message and "at most 2" in message


@pytest.mark.timeout(60)
def test_sparse_csv_cannot_blow_up_memory() -> None:
    # 4 MB on disk; pandas would pad it to 2,000,000 x 1,000 float64 NaN (16 GB).
    data = (",".join(f"c{i}" for i in range(1000)) + "\n").encode() + b"1\n" * 2_000_000
    assert "2,000,000 rows × 1,000 columns" in load_error(data, "sparse.csv")


def test_cell_budget_applies_to_excel_json_and_parquet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "_MAX_OBJECT_CELLS", 10)
    monkeypatch.setattr(tables, "_MAX_CELLS", 10)
    sheet = xlsx_bytes({"Sheet": [["a", "b", "c"], *([[1, None, None]] * 5), [None, None, 9]]})
    assert "values in memory" in load_error(sheet, "sparse.xlsx")
    records = json.dumps([{"a": 1}] * 5 + [{"b": 1, "c": 2}]).encode()
    assert "values in memory" in load_error(records, "sparse.json")
    assert "values in memory" in load_error(parquet_bytes(pa.table({"a": range(6), "b": range(6)})), "t.parquet")
    assert load(b"a,b\n1,2\n3,4\n", "small.csv").frame.shape == (2, 2)


def test_long_cell_names_the_column() -> None:
    with pytest.raises(DataError) as caught:
        load_table(b"id,essay\n1,short\n2," + b"y" * 100 + b"\n", "essays.csv", limits=TableLimits(max_cell_chars=50))
    assert "`essay`" in str(caught.value) and "100 characters" in str(caught.value)
    assert caught.value.field == "essay"


def test_cell_length_counts_characters_not_bytes() -> None:
    # 40 Chinese characters are 120 UTF-8 bytes: within a 50-character cap.
    text = "北京" * 20
    loaded = load_table(f"id,city\n1,{text}\n2,上海\n".encode(), "cities.csv", limits=TableLimits(max_cell_chars=50))
    assert loaded.frame["city"][0] == text
    with pytest.raises(DataError, match="51 characters"):
        load_table(f"id,city\n1,{'北' * 51}\n2,上海\n".encode(), "c.csv", limits=TableLimits(max_cell_chars=50))


def test_bytes_over_the_cap_are_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 100)
    with pytest.raises(DataError, match="larger than"):
        load_table_file(path, limits=TableLimits(max_bytes=100))
    assert "larger than" in load_error(path.read_bytes(), "big.csv", limits=TableLimits(max_bytes=100))


def test_load_table_file_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="could not open"):
        load_table_file(tmp_path / "nowhere.csv")


def test_limits_from_settings() -> None:
    settings = Settings(
        home=Path("."), shared=False, max_upload_mb=3, max_jobs=1, max_rows=10, max_columns=20, max_cell_chars=30
    )
    assert TableLimits.from_settings(settings) == TableLimits(
        max_bytes=3 * 1024 * 1024, max_rows=10, max_columns=20, max_cell_chars=30
    )


def test_excel_sheet_picker_and_cleanup() -> None:
    data = xlsx_bytes(
        {
            "Notes": [["only a title"]],
            "Data": [
                [],
                [None, "x", "x", None, "mixed"],
                [None, 1, 2.5, 7, 12],
                [None, None, 3.5, None, "abc"],
                [],
                [None, 3, 4.5, 8, 3.5],
            ],
        }
    )
    assert list_sheets(data) == ["Notes", "Data"]
    assert "0 data rows" in load_error(data, "book.xlsx")
    table = load(data, "book.xlsx", sheet="Data")
    assert list(table.frame.columns) == ["x", "x (2)", "column_3", "mixed"]
    assert table.frame["x (2)"].tolist() == [2.5, 3.5, 4.5]
    assert table.frame["mixed"].tolist() == ["12", "abc", "3.5"]
    assert any("`Notes`" in note for note in table.notes)
    assert "`Notes`, `Data`" in load_error(data, "book.xlsx", sheet="Summary")


def test_excel_row_cap_and_column_cap() -> None:
    data = xlsx_bytes({"Sheet": [["a", "b", "c"], *([[1, 2, 3]] * 20)]})
    table = load(data, "book.xlsx", limits=TableLimits(max_rows=5))
    assert table.frame.shape == (5, 3)
    assert any("kept the first 5" in note for note in table.notes)
    assert "at most 2 columns" in load_error(data, "book.xlsx", limits=TableLimits(max_columns=2))


def test_excel_with_internal_entities_is_refused() -> None:
    data = xlsx_bytes({"Sheet": [["a"], [1]]})
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>'
    )
    bomb = rewrite_zip(data, replace={"xl/worksheets/sheet1.xml": laughs})
    assert "XML entity declarations" in load_error(bomb, "laughs.xlsx")


def test_excel_zip_bomb_is_refused_before_unpacking() -> None:
    data = xlsx_bytes({"Sheet": [["a"], [1]]})
    padded = rewrite_zip(data, add={"xl/media/padding.bin": b"\x00" * (8 * 1024 * 1024)})
    assert "would unpack" in load_error(padded, "padded.xlsx")


def test_parquet_conversions_and_caps() -> None:
    table = pa.table(
        {
            "city": pa.array(["a", "b", "a"]).dictionary_encode(),
            "empty": pa.nulls(3),
            "__index_level_0__": [10, 11, 12],
            "x": [1.0, 2.0, 3.0],
        }
    )
    loaded = load(parquet_bytes(table), "t.parquet")
    assert list(loaded.frame.columns) == ["city", "empty", "x"]
    assert isinstance(loaded.frame["city"].dtype, pd.StringDtype)
    assert loaded.frame["empty"].isna().all()
    assert any("index" in note for note in loaded.notes)
    capped = load(parquet_bytes(table), "t.parquet", limits=TableLimits(max_rows=2))
    assert len(capped.frame) == 2
    assert "at most 2 columns" in load_error(parquet_bytes(table), "t.parquet", limits=TableLimits(max_columns=2))


def test_parquet_with_only_nested_columns_is_refused() -> None:
    table = pa.table({"tags": [[1, 2], [3]], "meta": [{"a": 1}, {"a": 2}]})
    assert "cannot use" in load_error(parquet_bytes(table), "nested.parquet")


def test_json_records_columns_and_lines() -> None:
    records = load(b'[{"a": 1, "b": "x"}, {"a": 2, "c": {"d": 1}}]', "r.json")
    assert list(records.frame.columns) == ["a", "b", "c"]
    assert records.frame["c"].tolist()[1] == '{"d": 1}'
    assert any("JSON text" in note for note in records.notes)
    columns = load(b'{"a": [1, 2, 3], "b": ["x", "y", null]}', "c.json")
    assert columns.frame.shape == (3, 2)
    lines = load(b'{"a": 1}\n\n{"a": 2, "b": NaN}\n', "l.jsonl")
    assert lines.frame.shape == (2, 2)
    detected = load(b'{"a": 1}\n{"a": 2}\n', "l.json")
    assert any("JSON Lines" in note for note in detected.notes)
    wrapped = load(b'{"data": [{"a": 1}, {"a": 2}]}', "w.json")
    assert wrapped.frame["a"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b"42", "list of records"),
        (b"NaN", "list of records"),
        (b'[1, "a", null]', "list of records"),
        (b'{"a": 1, "b": 2}', "list of records"),
        (b'[{"a": 1}', "not valid JSON"),
        (b'{"a": [1, 2], "b": [1]}', "different lengths"),
        (b"[]", "0 data rows"),
        (b"[" * 100_000 + b"]" * 100_000, "too deeply"),
    ],
)
def test_json_refusals(data: bytes, phrase: str) -> None:
    assert phrase in load_error(data, "bad.json")


def test_every_message_is_used_and_formats() -> None:
    source = Path(tables.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r'_(?:error|note)\(\s*"(\w+)"', source))
    used |= set(re.findall(r'MESSAGES\["(\w+)"\]', source)) | set(re.findall(r'"(fix_\w+)"', source))
    assert used == set(MESSAGES)
    for template in MESSAGES.values():
        fields = {field: spec for _, field, spec, _ in string.Formatter().parse(template) if field}
        values = {field: 1234 if spec else "value" for field, spec in fields.items()}
        assert "{" not in template.format(**values).replace('{"', "").replace("{}", "")


def test_supported_extensions() -> None:
    assert SUPPORTED_EXTENSIONS == ("csv", "tsv", "txt", "xlsx", "parquet", "json", "jsonl")


CSV_ALPHABET = st.sampled_from(list('abcxyz0123456789,;\t|"\n\r.- ') + ["中", "文", "é", "名"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=600),
    filename=st.sampled_from(["t.csv", "t.txt", "t.tsv", "t.json", "t.jsonl", "t.xlsx", "t.parquet"]),
)
def test_random_bytes_give_a_table_or_a_data_error(data: bytes, filename: str) -> None:
    try:
        table = load_table(data, filename)
    except DataError as err:
        assert str(err)
        return
    assert_valid_table(table)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.text(alphabet=CSV_ALPHABET, max_size=300),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "gb18030"]),
)
def test_random_csv_like_text_gives_a_table_or_a_clear_error(text: str, encoding: str) -> None:
    try:
        table = load_table(text.encode(encoding), "random.csv")
    except DataError as err:
        assert UNEXPECTED_MARK not in str(err), str(err)
        return
    assert_valid_table(table)


def test_images_and_archives_given_where_a_table_is_expected_say_where_they_belong() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(3):
            archive.writestr(f"cats/{number}.jpg", b"\xff\xd8\xff\xe0")
    message = load_error(buffer.getvalue(), "cats.zip")
    assert "a zip archive of 3 images" in message and "zip of image folders is read on the Data page" in message
    assert "CSV, Excel (.xlsx), Parquet or JSON" in message  # which formats it reads
    assert "folders named after their classes" in load_error(b"\xff\xd8\xff\xe0\x00\x10JFIF", "cat.jpg")
    assert "folders named after their classes" in load_error(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "cat.webp")
