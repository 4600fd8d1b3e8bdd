"""Big CSV files are read by pyarrow straight from disk, and give exactly the table an upload gives.

`load_table_file` streams a file of `_LARGE_FILE_BYTES` or more once (UTF-8 check, quotes, line breaks),
then lets pyarrow read it from its path, so the file's bytes are never held in memory. Everything it is
not sure about goes to the in-memory reader. These tests lower the size threshold to 0 and compare both
readers on every kind of CSV we know: the sample data, ../shared/bad_inputs and files made here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import core.data.reading as tables
from core.data.reading import load_table, load_table_file
from core.errors import DataError

REPO = Path(__file__).resolve().parents[2]
BAD_INPUTS = REPO.parent / "shared" / "bad_inputs"


def _bad_csv_files() -> list[Path]:
    manifest = BAD_INPUTS / "MANIFEST.json"
    if not manifest.exists():
        return []
    return [BAD_INPUTS / e["file"] for e in json.loads(manifest.read_text()) if e["file"].endswith(".csv")]


MADE = {
    "dates_and_times.csv": "id,day,clock,stamp,empty\n1,2024-01-03,12:30:00,2024-01-03 12:30:00,\n2,,08:00:00,2024-02-01 01:02:03,\n3,2024-03-09,,,\n",
    "decimal_comma.csv": "name;price;qty\nA;3,50;1\nB;12,25;2\nC;0,75;3\n",
    "na_tokens.csv": "a,b,c\n1,NA,x\nnull,2,N/A\n3,None,\n4,5,#N/A\n",
    "quoted_newlines.csv": 'id,text,n\n1,"two\nlines",3\n2,"a ""quote""",4\n3,plain,5\n',
    "utf8_bom.csv": "\ufeffname,城市,value\n张三,北京,1.5\nJosé,São Paulo,2.5\nLi,上海,\n",
    "tabs.csv": "a\tb\tc\n1\t2\tx\n3\t4\ty\n5\t6\tz\n",
    "booleans.csv": "flag,n,word\ntrue,1,yes\nfalse,0,no\nTRUE,1,maybe\n",
    "duplicate_names.csv": "a,a,,b\n1,2,3,4\n5,6,7,8\n9,10,11,12\n",
    "hex.csv": "id,code\n1,0x1F\n2,0x20\n3,0x21\n",
    "odd_quote.csv": 'a,b\n1,"open\n2,3\n',
    "latin1.csv": "name,city\nJos\xe9,M\xfcnchen\nAnn,K\xf6ln\n",
    "nul.csv": "a,b\n1,2\x00\n3,4\n",
}


def _made_files(folder: Path) -> list[Path]:
    paths = []
    for name, text in MADE.items():
        path = folder / name
        path.write_bytes(text.encode("latin-1" if name == "latin1.csv" else "utf-8"))
        paths.append(path)
    return paths


def _outcome(load):
    try:
        table = load()
    except DataError as error:
        return ("error", str(error))
    return ("table", table.frame, table.notes, table.encoding, table.delimiter, table.file_format)


def _assert_same(path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tables, "_LARGE_FILE_BYTES", 0)
    from_disk = _outcome(lambda: load_table_file(path))
    from_bytes = _outcome(lambda: load_table(path.read_bytes(), path.name))
    assert from_disk[0] == from_bytes[0], (path.name, from_disk[:1] + from_disk[2:], from_bytes[:1] + from_bytes[2:])
    if from_disk[0] == "error":
        assert from_disk[1] == from_bytes[1]
        return
    pd.testing.assert_frame_equal(from_disk[1], from_bytes[1], check_exact=True)
    assert from_disk[2:] == from_bytes[2:], path.name


@pytest.mark.parametrize("name", sorted(MADE))
def test_made_files_read_the_same_from_disk_and_from_bytes(tmp_path, monkeypatch, name):
    path = next(p for p in _made_files(tmp_path) if p.name == name)
    _assert_same(path, monkeypatch)


@pytest.mark.parametrize("path", sorted((REPO / "sample_data").glob("*.csv")), ids=lambda p: p.name)
def test_sample_data_reads_the_same_from_disk_and_from_bytes(path, monkeypatch):
    _assert_same(path, monkeypatch)


@pytest.mark.skipif(not _bad_csv_files(), reason="../shared/bad_inputs is not present")
def test_every_bad_csv_reads_the_same_from_disk_and_from_bytes(monkeypatch):
    for path in _bad_csv_files():
        _assert_same(path, monkeypatch)


def test_plain_utf8_files_are_read_from_their_path_and_others_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "_LARGE_FILE_BYTES", 0)
    read_from_disk: list[str] = []
    original = tables._read_csv_arrow_file

    def spy(path, *args):
        read_from_disk.append(Path(path).name)
        return original(path, *args)

    monkeypatch.setattr(tables, "_read_csv_arrow_file", spy)
    for path in _made_files(tmp_path):
        try:
            load_table_file(path)
        except DataError:
            pass
    # Latin-1, NUL bytes, hex numbers and an unclosed quote need the in-memory reader's repairs.
    assert set(read_from_disk) == set(MADE) - {"latin1.csv", "nul.csv", "hex.csv", "odd_quote.csv"}


def test_small_files_keep_the_in_memory_reader(tmp_path, monkeypatch):
    path = tmp_path / "small.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    monkeypatch.setattr(tables, "_read_csv_arrow_file", lambda *a: pytest.fail("a small file was read from disk"))
    assert load_table_file(path).frame.shape == (2, 2)
