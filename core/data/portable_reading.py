"""Reading a table file the way LayerLab read a run's table, for code that leaves LayerLab.

`read_rows` needs only pandas and the standard library. The generated script (`core.deployment.codegen`) carries its
source verbatim (`inspect.getsource`) instead of a template of its own: a run records how its file was read
(`LoadedTable.reading()`, in meta.json) and the script reads a file of the same kind with the same encoding,
separator and decimal mark. (`core.data.reading.load_table` stays the app's own, stricter reader.)
"""

from __future__ import annotations

# Module-level, as in the generated script that carries `read_rows` verbatim (its header imports the same).
import csv
import io
import re
from pathlib import Path

import pandas as pd

# Shipped verbatim before `read_rows` in the generated script and preprocess.py (core/data/table_rules.py).
from core.data.table_rules import formatted_numbers


def read_rows(path, reading=None):
    """The table in `path`, read the way LayerLab read the run's file.

    `reading` is the run's record of that (a dict: "encoding", "delimiter", "decimal", "thousands", "sheet"; None for a
    run that has none). Parquet, Excel (.xlsx) and JSON (.json, .jsonl) files are read by pandas. A text file
    is UTF-16 when it starts with that byte-order mark (or the run's was UTF-16 without one), UTF-8 when its
    bytes are valid UTF-8, else in the run's encoding (GB18030, Big5, Shift-JIS...; GB18030 when none was
    recorded), else Latin-1. The separator and the decimal mark are the run's, or, without a record, guessed:
    comma, semicolon, tab or pipe; a decimal comma in a semicolon file. If your file needs something else, pass
    your own `reading`. Text columns of numbers written as １２３, 1,234.5 or 12.3% become numbers
    (`formatted_numbers`), as LayerLab read them.
    """
    reading = reading or {}
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif suffix == ".xlsx":
        frame = pd.read_excel(path, sheet_name=reading.get("sheet", 0))  # the run's worksheet, else the first
    elif suffix == ".jsonl":
        frame = pd.read_json(path, lines=True)
    elif suffix == ".json":
        frame = pd.read_json(path)
    else:
        raw = Path(path).read_bytes()
        encoding = "latin-1"
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            encoding = "utf-16"
        elif str(reading.get("encoding", "")).startswith("utf-16"):
            encoding = reading["encoding"]  # UTF-16 without a byte-order mark would also pass as UTF-8
        else:
            for candidate in ("utf-8-sig", reading.get("encoding") or "gb18030"):
                try:
                    raw.decode(candidate)
                except (UnicodeDecodeError, LookupError):
                    continue
                encoding = candidate
                break
        text = raw.decode(encoding)
        sample = "\n".join(text[:65536].splitlines()[:50])
        sep = reading.get("delimiter")
        if sep is None:
            try:
                sep = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
            except csv.Error:
                sep = "\t" if suffix == ".tsv" else ","
        decimal = reading.get("decimal")
        if decimal is None:
            comma = re.search(r"(^|;)\s*-?\d+,\d+\s*(;|$)", sample, re.MULTILINE)
            decimal = "," if sep == ";" and comma else "."
        frame = pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, thousands=reading.get("thousands"))
    for position in range(frame.shape[1]):
        values = formatted_numbers(frame.iloc[:, position])
        if values is not None:
            frame.isetitem(position, values)
    return frame
