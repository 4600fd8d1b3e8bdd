"""Read an uploaded table (CSV, Excel, Parquet or JSON) into a `pandas.DataFrame`, or explain why we cannot.

Uploads come from people who do not code, and sometimes from people who mean harm, so `load_table` trusts
neither the file name nor the bytes: it sniffs what the content really is, refuses programs, archives and
documents, guards the Excel reader against XML entity tricks and "one cell at XFD1048576" grids, and turns
every failure into a `DataError` whose message says what happened, what was expected and how to fix it.
Whatever it decided on the user's behalf (the encoding, the delimiter, renamed columns, dropped rows) is
listed in `LoadedTable.notes`, so the page can show it.

`load_table_file` reads a big plain UTF-8 CSV (32 MB and more) with pyarrow straight from its path, after
one streaming pass that checks the encoding and counts quotes and line breaks, so the file's bytes are not
held in memory next to the table; it gives the same table as `load_table` on the bytes
(`tests/unit/test_tables_large_files.py`). Anything else goes through `load_table`.

Example:
    >>> table = load_table(b"age,label\\n31,yes\\n45,no\\n", "people.csv")
    >>> table.frame.shape, table.delimiter
    ((2, 2), ',')
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import os
import re
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from charset_normalizer import from_bytes as rank_encodings

from core.config import Settings
from core.data.memory import use_returning_arrow_pool
from core.data.parallel import map_columns
from core.data.table_rules import formatted_numbers
from core.errors import DataError
from core.i18n import CatalogView, t

_LOG = logging.getLogger(__name__)
use_returning_arrow_pool()

SUPPORTED_EXTENSIONS: tuple[str, ...] = ("csv", "tsv", "txt", "xlsx", "parquet", "json", "jsonl")
_IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "heic", "svg"})
# Encodings a user can force for a text file when detection guessed wrong (codec → name shown).
ENCODING_CHOICES: dict[str, str] = {
    "utf-8": "UTF-8",
    "gb18030": "GB18030 / GBK (Simplified Chinese)",
    "big5": "Big5 (Traditional Chinese)",
    "shift_jis": "Shift-JIS (Japanese)",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252 (Western European)",
    "latin-1": "Latin-1 (ISO-8859-1)",
}

# Every sentence shown to a user is a message of the catalogs, id "data.reading.<key>" (core/locale/*/LC_MESSAGES/
# core.po, English and Chinese), filled with `str.format`; MESSAGES[key] is its template in the current language.
# `name` is always the file name as the user knows it. A new sentence: add its id to both core.po files.
MESSAGES = CatalogView("data.reading.")

_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "commas (,)", ";": "semicolons (;)", "\t": "tabs", "|": "vertical bars (|)"}
_DELIMITER_SINGULAR = {",": "a comma", ";": "a semicolon", "\t": "a tab", "|": "a vertical bar"}
_FORMAT_NAMES = {"csv": "CSV", "excel": "Excel", "parquet": "Parquet", "json": "JSON", "uploaded": "uploaded"}
_ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16 (little-endian, no byte order mark)",
    "utf-16-be": "UTF-16 (big-endian, no byte order mark)",
    "utf-32": "UTF-32",
    "gb18030": "GB18030 (Chinese, GBK)",
    "big5": "Big5 (Traditional Chinese)",
    "cp950": "Big5 (Traditional Chinese, Windows code page 950)",
    "shift_jis": "Shift-JIS (Japanese)",
    "cp932": "Shift-JIS (Japanese, Windows code page 932)",
    "cp1252": "Windows-1252 (Western European)",
    "latin-1": "Latin-1 (ISO-8859-1)",
}

# Leading bytes of files people upload by mistake. Checked before anything parses the content. "MZ"
# needs a NUL nearby, so that a CSV whose first header happens to start with "MZ" is not refused.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x7fELF", "a Linux program (ELF executable)", "fix_generic"),
    (b"%PDF-", "a PDF document", "fix_generic"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "fix_not_tables_yet"),
    (b"\xff\xd8\xff", "a JPEG image", "fix_not_tables_yet"),
    (b"GIF87a", "a GIF image", "fix_not_tables_yet"),
    (b"GIF89a", "a GIF image", "fix_not_tables_yet"),
    (b"II*\x00", "a TIFF image", "fix_not_tables_yet"),
    (b"MM\x00*", "a TIFF image", "fix_not_tables_yet"),
    (b"\x1f\x8b", "a gzip-compressed file", "fix_archive"),
    *((b"BZh%d1AY&SY" % level, "a bzip2-compressed file", "fix_archive") for level in range(1, 10)),
    (b"\xfd7zXZ\x00", "an xz-compressed file", "fix_archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "fix_archive"),
    (b"Rar!\x1a\x07", "a RAR archive", "fix_archive"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an old Excel 97-2003 (.xls) or password-protected workbook",
        "fix_old_excel",
    ),
    (b"SQLite format 3\x00", "an SQLite database", "fix_generic"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (for example a Keras .h5 model)", "fix_generic"),
    (b"\x93NUMPY", "a NumPy array file (.npy)", "fix_generic"),
    (b"ARROW1", "an Arrow/Feather file", "fix_generic"),
    (b"\xca\xfe\xba\xbe", "a Java class file or macOS program", "fix_generic"),
    (b"\xcf\xfa\xed\xfe", "a macOS program", "fix_generic"),
    (b"\xfe\xed\xfa\xcf", "a macOS program", "fix_generic"),
)
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_MARKUP_PREFIXES = (
    (b"<!doctype html", "a web page (HTML)"),
    (b"<html", "a web page (HTML)"),
    (b"<!doctype", "an HTML or XML document"),
    (b"<?xml", "an XML document"),
    (b"<svg", "an SVG image"),
)

# Bigger samples cost nothing measurable; 64 KB holds a header and enough rows to judge the delimiter.
_SAMPLE_BYTES = 64 * 1024
_MAX_SAMPLE_BYTES = 8 * 1024 * 1024
_SAMPLE_RECORDS = 200
_DECODE_CHUNK_BYTES = 4 * 1024 * 1024

_DECIMAL_COMMA = re.compile(r"-?\d+(?:\.\d{3})*,\d+")
_DECIMAL_POINT = re.compile(r"-?\d+\.\d+")
_DOTTED_THOUSANDS = re.compile(r"-?\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_HEX_NUMBER = re.compile(r"[-+]?0[xX][0-9a-fA-F]+")
_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_UNCLOSED = re.compile(r"EOF inside string starting (?:at|on) (?:row|line) (\d+)")
_INDEX_COLUMN = re.compile(r"__index_level_\d+__")

# Row and column caps alone still allow a 4 MB CSV of a 1,000-name header and two million "1" lines,
# which pandas pads to 16 GB of NaN; sparse Excel sheets and JSON records do the same. Values held as
# Python objects (Excel, JSON) cost several times more than parsed numbers, hence the smaller budget.
_MAX_CELLS = 100_000_000
_MAX_OBJECT_CELLS = 20_000_000
# A real workbook's XML compresses about 5-30:1; zip bombs reach 1000:1.
_EXCEL_MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
_EXCEL_MAX_RATIO = 200
_EXCEL_MAX_MEMBERS = 10_000
_EXCEL_XML_SUFFIXES = (".xml", ".rels", ".vml")


@dataclass(frozen=True, slots=True)
class TableLimits:
    """The most a table may hold; beyond these we refuse or truncate instead of running out of memory.

    Attributes:
        max_bytes: largest file accepted, checked before anything is parsed.
        max_rows: data rows kept; further rows are dropped with a note.
        max_columns: columns accepted; more is an error.
        max_cell_chars: longest text value accepted in any cell.
    """

    max_bytes: int = 200 * 1024 * 1024
    max_rows: int = 2_000_000
    max_columns: int = 1_000
    max_cell_chars: int = 10_000

    @classmethod
    def from_settings(cls, settings: Settings) -> TableLimits:
        """The limits an operator configured (see `core.config.Settings`)."""
        return cls(
            max_bytes=settings.max_upload_mb * 1024 * 1024,
            max_rows=settings.max_rows,
            max_columns=settings.max_columns,
            max_cell_chars=settings.max_cell_chars,
        )


@dataclass(frozen=True, slots=True)
class LoadedTable:
    """A table ready for profiling, with everything we decided while reading it.

    Attributes:
        frame: at least one row and one column; unique, non-empty string column names; a fresh RangeIndex.
        source_name: the file name as given.
        file_format: "csv", "excel", "parquet" or "json".
        notes: sentences for the user about what we changed or assumed (encoding, delimiter, renamed
            columns, dropped rows or columns...), in the order they happened.
        encoding: the text encoding used, for CSV and JSON.
        delimiter: the value separator, for CSV.
        decimal: the decimal mark of a CSV's numbers ("." or ","); thousands: their thousands separator, if any.
        sheet: the worksheet read, for Excel.
    """

    frame: pd.DataFrame
    source_name: str
    file_format: str
    notes: tuple[str, ...]
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    thousands: str | None = None
    sheet: str | None = None

    def reading(self) -> dict:
        """How the file was read, JSON-ready: a run records it so that every later reader (the generated
        script, `layerlab predict` on new rows) reads files of the same kind the same way."""
        fields = {"encoding": self.encoding, "delimiter": self.delimiter, "decimal": self.decimal}
        fields["thousands"] = self.thousands
        fields["sheet"] = self.sheet
        return {"format": self.file_format, **{key: value for key, value in fields.items() if value is not None}}


@dataclass(slots=True)
class _Parsed:
    frame: pd.DataFrame
    file_format: str
    notes: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    thousands: str | None = None
    sheet: str | None = None


def load_table(
    data: bytes,
    filename: str,
    *,
    limits: TableLimits | None = None,
    sheet: str | None = None,
    encoding: str | None = None,
) -> LoadedTable:
    """Read an uploaded file into a table, deciding the format from its content.

    Args:
        data: the whole file.
        filename: the name the user gave it; its extension only breaks ties that content cannot settle
            (CSV or JSON) and names the file in messages.
        limits: size caps; `TableLimits()` when omitted.
        sheet: for Excel workbooks, the sheet to read; the first worksheet when omitted.
        encoding: for text files, a codec from `ENCODING_CHOICES` that overrides detection.

    Returns:
        The table, with notes about anything we changed or assumed while reading it.

    Raises:
        DataError: for anything wrong with the file; no other exception escapes for any `data`.

    Example:
        >>> table = load_table(b"x;y\\n1,5;a\\n2,0;b\\n", "export.csv")
        >>> table.frame["x"].tolist(), table.delimiter
        ([1.5, 2.0], ';')
    """
    limits = limits or TableLimits()
    data = bytes(data)
    name = _display_name(filename)
    if len(data) > limits.max_bytes:
        raise _error("too_large", name=name, size=_format_bytes(len(data)), limit=_format_bytes(limits.max_bytes))
    kind = "uploaded"
    try:
        kind = _sniff_format(data, filename, name)
        parsed = _read(kind, data, filename, name, limits, sheet, encoding)
        frame = _finish_frame(parsed, name, limits)
    except DataError:
        raise
    except MemoryError:
        raise _error("out_of_memory", name=name) from None
    except RecursionError:
        raise _error("too_deep", name=name) from None
    except Exception as err:
        # Every reader raises its own zoo of exceptions on hostile input; pages only catch AppError, so
        # anything we did not foresee still becomes a message, and the traceback goes to the log.
        _LOG.warning("Unexpected error while reading %r as %s", filename, kind, exc_info=True)
        raise _error("unexpected", name=name, kind=_FORMAT_NAMES[kind], error=type(err).__name__) from err
    return _loaded(parsed, frame, filename)


def _loaded(parsed: _Parsed, frame: pd.DataFrame, filename: str) -> LoadedTable:
    return LoadedTable(
        frame=frame,
        source_name=filename,
        file_format=parsed.file_format,
        notes=tuple(parsed.notes),
        encoding=parsed.encoding,
        delimiter=parsed.delimiter,
        decimal=parsed.decimal,
        thousands=parsed.thousands,
        sheet=parsed.sheet,
    )


def load_table_file(
    path: str | os.PathLike, *, limits: TableLimits | None = None, sheet: str | None = None, encoding: str | None = None
) -> LoadedTable:
    """Read a table from disk, refusing files over `limits.max_bytes` before reading them.

    Args:
        path: the file to read; its base name is used as the file name.
        limits: size caps; `TableLimits()` when omitted.
        sheet: for Excel workbooks, the sheet to read.

    Returns:
        The table, as `load_table` returns it.

    Raises:
        DataError: the file is missing, unreadable, too large, or not a usable table.
    """
    limits = limits or TableLimits()
    filename = os.path.basename(os.fspath(path))
    name = _display_name(filename)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limits.max_bytes:
                raise _error("too_large", name=name, size=_format_bytes(size), limit=_format_bytes(limits.max_bytes))
            if size >= _LARGE_FILE_BYTES and sheet is None and encoding is None:
                loaded = _load_large_text_file(handle, filename, name, size, limits)
                if loaded is not None:
                    return loaded
                handle.seek(0)
            # One byte over the cap is enough to notice a file that grew after the size check.
            data = handle.read(limits.max_bytes + 1)
    except OSError as err:
        raise _error("cannot_open", name=name, reason=err.strerror or type(err).__name__) from None
    return load_table(data, filename, limits=limits, sheet=sheet, encoding=encoding)


@dataclass(frozen=True, slots=True)
class _FileScan:
    """What `_read_delimited` needs to know about a whole text file it reads from disk, counted in one
    pass without holding the file: its path, size, quote characters and line breaks."""

    path: str
    size: int
    quotes: int
    line_breaks: int


class _NeedBytes(Exception):
    """The file on disk needs the in-memory reader after all (the C engine's fallbacks read bytes)."""


def _load_large_text_file(handle, filename: str, name: str, size: int, limits: TableLimits) -> LoadedTable | None:
    """A big plain UTF-8 CSV, read by pyarrow straight from disk: the file's bytes are never held in memory
    (100 MB less at the peak for a 100 MB file). Anything else (another encoding, NUL bytes, a spreadsheet,
    a file pyarrow cannot read as we want) returns None, and `load_table` reads the bytes as for an upload."""
    head = handle.read(_MAX_SAMPLE_BYTES)
    try:
        if _sniff_format(head, filename, name) != "csv":
            return None
    except DataError:
        return None  # the in-memory reader raises the same message with the whole file at hand
    if (
        head.startswith(_WIDE_BOMS)
        or _utf16_without_bom(head[:4096])
        or _looks_binary(head[:_SAMPLE_BYTES].decode("latin-1"))
    ):
        return None
    scan = _scan_utf8(handle, head, size, os.path.realpath(handle.name))
    if scan is None:
        return None
    try:
        parsed = _read_delimited(head, name, limits, scan=scan)
        frame = _finish_frame(parsed, name, limits)
    except _NeedBytes:
        return None
    except DataError:
        raise
    except MemoryError:
        raise _error("out_of_memory", name=name) from None
    except Exception:  # noqa: BLE001 - the in-memory reader explains whatever went wrong
        _LOG.warning("Reading %r from disk failed; reading it in memory instead", filename, exc_info=True)
        return None
    return _loaded(parsed, frame, filename)


def _scan_utf8(handle, head: bytes, size: int, path: str) -> _FileScan | None:
    """One pass over the file: strict UTF-8 with no NUL bytes (else None), counting quotes and line breaks."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    quotes = newlines = returns = 0
    chunk = head
    while chunk:
        if b"\x00" in chunk:
            return None
        # `in` is a fast memchr; most files hold no quotes or carriage returns, and then are not counted.
        quotes += chunk.count(b'"') if b'"' in chunk else 0
        newlines += chunk.count(b"\n")
        returns += chunk.count(b"\r") if b"\r" in chunk else 0
        if not (chunk.isascii() and decoder.getstate()[0] == b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return None
        chunk = handle.read(_DECODE_CHUNK_BYTES)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return _FileScan(path=path, size=size, quotes=quotes, line_breaks=max(newlines, returns))


def list_sheets(data: bytes, *, filename: str = "workbook.xlsx") -> list[str]:
    """Names of the worksheets in an .xlsx workbook, in workbook order, for a sheet picker.

    Args:
        data: the whole .xlsx file.
        filename: the name the user gave it, for messages.

    Raises:
        DataError: the data is not a safe, valid .xlsx workbook.
    """
    name = _display_name(filename)
    data = bytes(data)
    try:
        if not data.startswith(_ZIP_SIGNATURES):
            raise _error("excel_invalid", name=name, detail="it is not a zip-based .xlsx file")
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_workbook_archive(archive, name)
        workbook = _open_workbook(data)
        try:
            return [worksheet.title for worksheet in workbook.worksheets]
        finally:
            workbook.close()
    except DataError:
        raise
    except MemoryError:
        raise _error("out_of_memory", name=name) from None
    except Exception as err:
        raise _error("excel_invalid", name=name, detail=type(err).__name__) from err


def _error(message_id: str, /, **values: Any) -> DataError:
    return DataError(t(f"data.reading.{message_id}", **values))


def _note(message_id: str, /, **values: Any) -> str:
    return t(f"data.reading.{message_id}", **values)


def _display_name(filename: str) -> str:
    base = os.path.basename(str(filename).replace("\\", "/")) or "the file"
    # Names come from the browser; keep them printable and short so they cannot break a message.
    base = "".join(ch for ch in base if ch.isprintable() and ch != "`")
    return base[:120] or "the file"


def _format_bytes(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    if size < 1024**3:
        return f"{size / 1024**2:.1f} MB"
    return f"{size / 1024**3:.1f} GB"


def _extension(filename: str) -> str:
    _, dot, extension = str(filename).rpartition(".")
    return extension.lower() if dot else ""


def _format_list(items: Sequence[str], limit: int = 10, *, quote: bool = True) -> str:
    shown = [f"`{item}`" if quote else item for item in items[:limit]]
    if len(items) > limit:
        shown.append(f"and {len(items) - limit:,} more")
    return ", ".join(shown)


def _sniff_format(data: bytes, filename: str, name: str) -> str:
    """Decide "csv", "excel", "parquet" or "json" from the bytes, using the extension only for text."""
    extension = _extension(filename)
    if not data:
        raise _error("empty", name=name, detail="0 bytes")
    head = data[:1024]
    if head.startswith(b"MZ") and b"\x00" in head[:64]:
        raise _error("not_a_table", name=name, what="a Windows program (.exe or .dll)", fix=MESSAGES["fix_generic"])
    for signature, what, fix in _SIGNATURES:
        if head.startswith(signature):
            raise _error("not_a_table", name=name, what=what, fix=MESSAGES[fix])
    if head.startswith(_ZIP_SIGNATURES):
        _classify_zip(data, name, extension)
        return "excel"
    if head.startswith(b"PAR1"):
        return "parquet"
    text_head = _strip_boms(head).lstrip().lower()
    if not text_head and not _strip_boms(data).strip():
        raise _error("empty", name=name, detail="only blank space")
    for prefix, what in _MARKUP_PREFIXES:
        if text_head.startswith(prefix):
            raise _error("not_a_table", name=name, what=what, fix=MESSAGES["fix_generic"])
    if extension in ("json", "jsonl"):
        return "json"
    if extension in ("csv", "tsv", "txt"):
        return "csv"
    if extension == "xlsx":
        raise _error("excel_invalid", name=name, detail="it is not a zip-based .xlsx file")
    if extension == "parquet":
        raise _error("parquet_invalid", name=name, detail="it does not start with the Parquet marker PAR1")
    if extension in _IMAGE_EXTENSIONS:
        raise _error("not_a_table", name=name, what="an image", fix=MESSAGES["fix_not_tables_yet"])
    supported = ", ".join(f".{ext}" for ext in SUPPORTED_EXTENSIONS)
    raise _error(
        "unsupported_extension", name=name, extension=f".{extension}" if extension else "(none)", supported=supported
    )


def _strip_boms(data: bytes) -> bytes:
    for bom in (codecs.BOM_UTF8, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if data.startswith(bom):
            return data[len(bom) :].replace(b"\x00", b"")
    return data


def _classify_zip(data: bytes, name: str, extension: str) -> None:
    """Accept a zip only if it is an .xlsx workbook; name what it is otherwise."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.namelist()
            mimetype = archive.read("mimetype")[:100] if "mimetype" in members else b""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError):
        if extension == "xlsx":
            raise _error("excel_invalid", name=name, detail="the zip container is damaged") from None
        raise _error("not_a_table", name=name, what="a damaged zip archive", fix=MESSAGES["fix_archive"]) from None
    has_content_types = "[Content_Types].xml" in members
    lowered = [member.lower() for member in members]
    if has_content_types and "xl/workbook.xml" in lowered:
        return
    if has_content_types and "xl/workbook.bin" in lowered:
        what, fix = "an Excel binary workbook (.xlsb)", "fix_office"
    elif has_content_types and any(member.startswith("word/") for member in lowered):
        what, fix = "a Word document", "fix_office"
    elif has_content_types and any(member.startswith("ppt/") for member in lowered):
        what, fix = "a PowerPoint presentation", "fix_office"
    elif mimetype.startswith(b"application/vnd.oasis.opendocument"):
        what, fix = "an OpenDocument (LibreOffice) file", "fix_office"
    else:
        images = sum(member.rsplit(".", 1)[-1] in _IMAGE_EXTENSIONS for member in lowered)
        what, fix = (f"a zip archive of {images:,} images" if images else "a zip archive"), "fix_zip"
    raise _error("not_a_table", name=name, what=what, fix=MESSAGES[fix])


def _read(
    kind: str, data: bytes, filename: str, name: str, limits: TableLimits, sheet: str | None, encoding: str | None
) -> _Parsed:
    if kind == "excel":
        return _read_excel(data, name, limits, sheet)
    if kind == "parquet":
        return _read_parquet(data, name, limits)
    if kind == "json":
        return _read_json(data, name, _extension(filename), limits)
    return _read_delimited(data, name, limits, encoding)


def _finish_frame(parsed: _Parsed, name: str, limits: TableLimits) -> pd.DataFrame:
    """Apply the guarantees every reader shares: names, non-empty, cell lengths, plain dtypes, RangeIndex."""
    frame = parsed.frame
    if frame.shape[1] == 0:
        raise _error("no_columns", name=name)
    if frame.shape[1] > limits.max_columns:
        raise _error("too_many_columns", name=name, count=frame.shape[1], limit=limits.max_columns)
    names, notes = _clean_column_names(list(frame.columns))
    parsed.notes.extend(notes)
    frame.columns = names
    for position, column in enumerate(names, start=1):
        if len(column) > limits.max_cell_chars:
            raise _error(
                "column_name_too_long", name=name, position=position, length=len(column), limit=limits.max_cell_chars
            )
    if len(frame) == 0:
        raise _error("no_data_rows", name=name)
    frame = _normalise_object_columns(frame)
    _check_cell_lengths(frame, name, limits.max_cell_chars)
    _read_formatted_numbers(frame, parsed.notes)
    return frame.reset_index(drop=True)


def _read_formatted_numbers(frame: pd.DataFrame, notes: list[str]) -> None:
    """Text columns of numbers written as １２３, 1,234.5 or 12.3% become numbers (`table_rules.formatted_numbers`,
    the rule `read_rows` applies too, so an export reads new rows the same way), with a note."""
    text = [i for i, dtype in enumerate(frame.dtypes) if pd.api.types.is_string_dtype(dtype)]
    found = map_columns(lambda i: formatted_numbers(frame.iloc[:, i]), text, rows=len(frame))
    converted = []
    for i, values in zip(text, found, strict=True):
        if values is not None:
            frame.isetitem(i, values)
            converted.append(str(frame.columns[i]))
    if converted:
        notes.append(_note("note_formatted_numbers", columns=_format_list(converted)))


def _check_cells(name: str, rows: int, columns: int, limit: int) -> None:
    if rows * columns > limit:
        raise _error("too_many_cells", name=name, rows=rows, columns=columns, cells=rows * columns, limit=limit)


def _clean_column_names(raw_names: Sequence[object]) -> tuple[list[str], list[str]]:
    """Unique, stripped, non-empty string names; each change is described in a note."""
    bases = []
    named_empty = []
    for position, raw in enumerate(raw_names, start=1):
        text = "" if raw is None or (isinstance(raw, float) and raw != raw) else str(raw).strip()
        if not text:
            text = f"column_{position}"
            named_empty.append(text)
        bases.append(text)
    # A repeat never takes a name that appears literally elsewhere in the header.
    reserved = set(bases)
    used: set[str] = set()
    names = []
    renames = []
    for base in bases:
        if base not in used:
            used.add(base)
            names.append(base)
            continue
        counter = 2
        while f"{base} ({counter})" in used or f"{base} ({counter})" in reserved:
            counter += 1
        renamed = f"{base} ({counter})"
        used.add(renamed)
        names.append(renamed)
        renames.append(f"`{base}` → `{renamed}`")
    notes = []
    if named_empty:
        notes.append(_note("note_named_empty", count=len(named_empty), names=_format_list(named_empty)))
    if renames:
        notes.append(_note("note_renamed_duplicates", renames=_format_list(renames, quote=False)))
    return names, notes


def _normalise_object_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Give mixed Python-object columns one plain dtype, as the CSV reader would have.

    Excel, JSON and Parquet hand us Python objects; a column mixing numbers and text becomes text (what
    the CSV reader does with such a column), an all-empty one becomes float NaN, and true/false columns
    with gaps stay as they are.
    """
    for column in frame.columns:
        series = frame[column]
        if series.dtype != object:
            continue
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred == "boolean":
            continue
        if inferred == "empty":
            frame[column] = series.astype("float64")
        elif inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            try:
                frame[column] = pd.to_numeric(series)
            except (ValueError, TypeError, OverflowError):
                frame[column] = series.astype("str")
        else:
            frame[column] = series.astype("str")
    return frame


def _check_cell_lengths(frame: pd.DataFrame, name: str, limit: int) -> None:
    text = [i for i, dtype in enumerate(frame.dtypes) if isinstance(dtype, pd.StringDtype)]
    # The longest cell of each text column in bytes, the columns of a big table on several threads.
    longest = map_columns(lambda i: _longest_in_bytes(frame.iloc[:, i]), text, rows=len(frame))
    for i, most_bytes in zip(text, longest, strict=True):
        if most_bytes <= limit:
            continue  # a character takes at least one byte: no cell can be too long
        column, series = frame.columns[i], frame.iloc[:, i]
        lengths = series.str.len()
        most_chars = lengths.max()
        if pd.notna(most_chars) and most_chars > limit:
            row = int(lengths.to_numpy(dtype="float64", na_value=-1).argmax()) + 1
            raise DataError(
                MESSAGES["cell_too_long"].format(
                    column=column, name=name, length=int(most_chars), row=row, limit=limit
                ),
                field=str(column),
            )


def _longest_in_bytes(series: pd.Series) -> float:
    """The longest UTF-8 cell in bytes (an upper bound of its length in characters); inf when unknown."""
    if not hasattr(series.array, "__arrow_array__"):
        return float("inf")
    values = pa.chunked_array(series.array.__arrow_array__())
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return float("inf")
    longest = pc.max(pc.binary_length(values)).as_py()
    return 0 if longest is None else longest


def _read_delimited(
    data: bytes,
    name: str,
    limits: TableLimits,
    forced_encoding: str | None = None,
    *,
    scan: _FileScan | None = None,
) -> _Parsed:
    """Read a delimited text file. With `scan`, `data` is only the head of a UTF-8 file on disk, which
    pyarrow reads from its path; raises `_NeedBytes` when the whole file's bytes are needed after all."""
    notes: list[str] = []
    if scan is not None:
        encoding = "utf-8"
    elif forced_encoding:
        data, encoding = _forced_encoding(data, name, notes, forced_encoding)
    else:
        data, encoding = _detect_encoding(data, name, notes)
    size = len(data) if scan is None else scan.size
    sample = _sample_text(data, encoding)
    if scan is not None and (sample.count("\n") < 2 and sample.count("\r") < 2):
        raise _NeedBytes  # no two whole lines in the head: let the in-memory reader look at everything
    if not sample.strip() and size <= _MAX_SAMPLE_BYTES:
        raise _error("empty", name=name, detail="only blank space")
    delimiter = _sniff_delimiter(sample)
    records = _sample_records(sample, delimiter)
    if not records:
        raise _error("empty", name=name, detail="only blank space")
    header = records[0]
    if len(header) > limits.max_columns:
        raise _error("too_many_columns", name=name, count=len(header), limit=limits.max_columns)
    # Every line break could start a row, so this over-counts rows only when values hold line breaks.
    if size * len(header) > _MAX_CELLS:
        line_breaks = max(data.count(b"\n"), data.count(b"\r")) if scan is None else scan.line_breaks
        _check_cells(name, min(line_breaks, limits.max_rows), len(header), _MAX_CELLS)
    # pandas would silently turn the first value of each row into the index; pyarrow refuses the file.
    if len(records) > 1 and len(records[1]) > len(header):
        raise _error("ragged_first_row", name=name, line=_count_lines(header) + 1, expected=len(header))
    names, name_notes = _clean_column_names(header)
    if delimiter != ",":
        notes.append(_note("note_delimiter", name=name, delimiter_name=_DELIMITER_NAMES[delimiter]))
    decimal, thousands = _detect_decimal_comma(records[1:], delimiter)
    if decimal == ",":
        example = next(
            (field.strip() for record in records[1:] for field in record if _DECIMAL_COMMA.fullmatch(field.strip())),
            "3,14",
        )
        notes.append(
            _note(
                "note_decimal_comma",
                name=name,
                example=example,
                thousands=MESSAGES["note_thousands"] if thousands else "",
            )
        )
    notes.extend(name_notes)
    options = {"sep": delimiter, "encoding": encoding, "decimal": decimal}
    frame = None
    # pyarrow reads several times faster on big files, but it turns "0x1F" into 31, cannot split
    # thousands, and lets a quote that is never closed swallow the rest of the file (an odd number of
    # quotes gives that away). The C engine handles those, and re-raises pyarrow's errors with a line number.
    quotes = data.count(b'"') if scan is None else scan.quotes
    if thousands is None and not _has_hex_numbers(records[1:]) and quotes % 2 == 0:
        frame = _read_csv_pyarrow(data if scan is None else scan.path, options, header, len(names))
    truncated = False
    if frame is None:
        if scan is not None:
            raise _NeedBytes
        frame = _read_csv_c(data, options, names, thousands, limits, name, header_lines=_count_lines(header))
    if len(frame) > limits.max_rows:
        frame = frame.iloc[: limits.max_rows]
        truncated = True
    frame.columns = names
    if truncated:
        notes.append(_note("note_rows_truncated", name=name, limit=limits.max_rows))
    return _Parsed(
        frame=frame,
        file_format="csv",
        notes=notes,
        encoding=encoding,
        delimiter=delimiter,
        decimal=decimal,
        thousands=thousands,
    )


def encoding_label(codec: str | None) -> str:
    """The name a person knows an encoding by ("Big5 (Traditional Chinese)" for "big5"), for the page."""
    return _ENCODING_NAMES.get(codec or "", codec or "unknown")


def _forced_encoding(data: bytes, name: str, notes: list[str], encoding: str) -> tuple[bytes, str]:
    """The user's choice of encoding, checked: a wrong choice is a message, never garbled columns. Big5 and
    Shift-JIS also accept Windows' extensions of them (code pages 950 and 932)."""
    label = _ENCODING_NAMES.get(encoding, encoding)
    if encoding in _WINDOWS_SUPERSETS and encoding in ENCODING_CHOICES and not _decodes(data, encoding):
        encoding = _WINDOWS_SUPERSETS[encoding]
    if encoding not in (*ENCODING_CHOICES, *_WINDOWS_SUPERSETS.values()) or not _decodes(data, encoding):
        raise _error("forced_encoding_failed", name=name, encoding=label)
    if encoding == "utf-8":
        data = _strip_boms(data)
    notes.append(_note("note_forced_encoding", name=name, encoding=label))
    return data, encoding


def _detect_encoding(data: bytes, name: str, notes: list[str]) -> tuple[bytes, str]:
    """Pick the text encoding: BOM, UTF-16 without one, strict UTF-8, accented Western text, then the legacy
    East Asian encodings (GB18030/GBK, Big5, Shift-JIS) ranked by charset-normalizer (`_legacy_encoding`).

    Returns the data (without NUL bytes, which are dropped with a note) and a codec name pandas knows.
    """
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            if not _decodes(data, encoding):
                raise _error("bad_unicode", name=name, encoding=_ENCODING_NAMES[encoding])
            if _looks_binary(_sample_text(data, encoding)):
                raise _error("binary_text", name=name)
            notes.append(_note("note_encoding", name=name, encoding=_ENCODING_NAMES[encoding]))
            return data, encoding
    utf16 = _utf16_without_bom(data[:4096])
    if utf16 and _decodes(data, utf16) and not _looks_binary(_sample_text(data, utf16)):
        notes.append(_note("note_encoding", name=name, encoding=_ENCODING_NAMES[utf16]))
        return data, utf16
    if b"\x00" in data:
        nul_count = data.count(b"\x00")
        if nul_count > len(data) // 10:
            raise _error("binary_text", name=name)
        data = data.replace(b"\x00", b"")
        notes.append(_note("note_nul_bytes", name=name, count=nul_count))
        if not _strip_boms(data).strip():
            raise _error("empty", name=name, detail="only NUL bytes and blank space")
    if _looks_binary(data[:_SAMPLE_BYTES].decode("latin-1")):
        raise _error("binary_text", name=name)
    # A UTF-8 byte order mark is valid UTF-8, and both pandas engines drop it from the first name.
    if data.isascii() or _decodes(data, "utf-8"):
        return data, "utf-8"
    encoding = _legacy_encoding(data)
    notes.append(_note("note_encoding", name=name, encoding=_ENCODING_NAMES[encoding]))
    return data, encoding


# Legacy East Asian encodings, each with Windows' superset of it, tried in this order (Big5 files saved by
# Windows may hold code page 950's extra characters, Shift-JIS ones code page 932's).
_EAST_ASIAN_FAMILIES = (("gb18030",), ("big5", "cp950"), ("shift_jis", "cp932"))
_WINDOWS_SUPERSETS = {"big5": "cp950", "shift_jis": "cp932"}
_RANKING_SAMPLE_BYTES = 256 * 1024


def _legacy_encoding(data: bytes) -> str:
    """The encoding of text that is not UTF-8 (nor UTF-16/32).

    Accented Western text is recognised first (`_looks_western`): on a short file any of the East Asian
    double-byte encodings also decodes "Köln", as one ideograph between two letters. Otherwise the East
    Asian encodings that decode the start of the file are ranked by charset-normalizer (how much the decoded
    text looks like a mess, how coherent it is as language) and the first that decodes the whole file wins.
    GB18030 also needs Chinese-looking byte pairs (`_looks_chinese`): it decodes nearly anything. Western
    text falls back to Windows-1252, or Latin-1 when a byte Windows-1252 leaves undefined occurs.
    """
    # Cut after a line break: 0x0A is never the second byte of a double-byte character.
    sample = data[:_RANKING_SAMPLE_BYTES]
    if len(data) > len(sample) and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]
    if not _looks_western(sample):
        candidates = []
        for family in _EAST_ASIAN_FAMILIES:
            codec = next((codec for codec in family if _decodes(sample, codec)), None)
            if codec is not None and (codec != "gb18030" or _looks_chinese(sample[:_SAMPLE_BYTES])):
                candidates.append(codec)
        ranked = []
        if len(candidates) > 1:
            matches = rank_encodings(sample, cp_isolation=candidates)
            # Least mess first, then most coherent; a tie (a few words) goes to the order above.
            ranked = [
                match.encoding
                for match in sorted(
                    (match for match in matches if match.encoding in candidates),
                    key=lambda match: (match.chaos, -match.coherence, candidates.index(match.encoding)),
                )
            ]
        for codec in [*ranked, *candidates]:
            if _decodes(data, codec):
                return codec
    # The five bytes Windows-1252 leaves undefined; without them it is the likelier Western encoding.
    if not any(byte in data for byte in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")):
        return "cp1252"
    return "latin-1"


def _looks_western(raw: bytes) -> bool:
    """Whether non-UTF-8 bytes read as accented Western words: (nearly) every non-ASCII character, read as
    Windows-1252, is a letter next to an ASCII letter ("Köln", "José"). East Asian double-byte text read so
    gives symbols (0xA1-0xBF: "¥", "§", "±") or runs of non-ASCII characters instead."""
    text = raw[:_SAMPLE_BYTES].decode("cp1252", errors="replace")
    non_ascii = western = 0
    for position, ch in enumerate(text):
        if ch <= "\x7f":
            continue
        non_ascii += 1
        before = text[position - 1] if position else ""
        after = text[position + 1] if position + 1 < len(text) else ""
        western += ch.isalpha() and ((before.isascii() and before.isalpha()) or (after.isascii() and after.isalpha()))
    return non_ascii > 0 and western >= 0.8 * non_ascii


def _decodes(data: bytes, encoding: str) -> bool:
    # In chunks, so validating a 100 MB file never holds a 100 MB str.
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    view = memoryview(data)
    try:
        for start in range(0, len(data), _DECODE_CHUNK_BYTES):
            decoder.decode(view[start : start + _DECODE_CHUNK_BYTES])
        decoder.decode(b"", final=True)
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 without a byte order mark shows as a NUL in every other byte of ASCII-heavy text. Text that is
    mostly Chinese has fewer such NULs (only its separators, digits and line breaks are ASCII), so a head
    with NULs on one side only also counts when it decodes to line breaks and readable characters."""
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    even_nul, odd_nul = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nul > 0.4 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.4 and odd_nul < 0.05:
        return "utf-16-be"
    for codec, nuls, others in (("utf-16-le", odd_nul, even_nul), ("utf-16-be", even_nul, odd_nul)):
        if nuls > 0.05 and others < 0.02 and _readable_utf16(head, codec):
            return codec
    return None


def _readable_utf16(head: bytes, codec: str) -> bool:
    """Whether `head` decodes as `codec` into lines of ASCII, CJK, kana, Hangul or full-width characters."""
    text = head[: len(head) // 2 * 2].decode(codec, errors="replace")
    if "\n" not in text and "\r" not in text:
        return False
    readable = sum(
        (" " <= ch <= "\x7e")
        or ch in "\t\r\n"
        or "\u00a0" <= ch <= "\u024f"
        or "\u3000" <= ch <= "\u30ff"
        or "\u3400" <= ch <= "\u9fff"
        or "\uac00" <= ch <= "\ud7a3"
        or "\uff00" <= ch <= "\uffef"
        for ch in text
    )
    return readable >= 0.95 * len(text)


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\n\r\x0c")
    return controls > max(2, len(text) // 20)


def _looks_chinese(raw: bytes) -> bool:
    """Whether bytes that decode as GB18030 are really Chinese rather than accented Western text.

    Nearly any Windows-1252 text also decodes as GB18030. Common Chinese characters have both bytes in
    0xA1-0xFE, while an accented Latin letter is usually followed by a plain ASCII letter.
    """
    text = raw.decode("gb18030", errors="ignore")
    non_ascii = common = cjk = 0
    for ch in text:
        if ch <= "\x7f":
            continue
        non_ascii += 1
        if "\u3400" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef":
            cjk += 1
        encoded = ch.encode("gb18030")
        common += len(encoded) == 2 and encoded[1] >= 0xA1
    return cjk > 0 and common / non_ascii >= 0.7


def _sample_text(data: bytes, encoding: str) -> str:
    """The first whole lines of the file, decoded; longer if the header alone is longer than a sample."""
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    size = _SAMPLE_BYTES
    while True:
        decoder = codecs.getincrementaldecoder(codec)("replace")
        complete = size >= len(data)
        text = decoder.decode(data[:size], final=complete)
        if complete:
            return text
        cut = max(text.rfind("\n"), text.rfind("\r"))
        # Two line breaks give a header and a first row to sniff; keep doubling until there are some.
        if (text.count("\n") >= 2 or text.count("\r") >= 2) or size >= _MAX_SAMPLE_BYTES:
            return text[: cut + 1] if cut >= 0 else text
        size *= 4


def _sample_records(sample: str, delimiter: str) -> list[list[str]]:
    records = []
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, quotechar='"', doublequote=True)
    try:
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            records.append(record)
            if len(records) >= _SAMPLE_RECORDS:
                break
    except csv.Error:
        pass
    return records


def _sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the header into the most columns that the rows then repeat.

    `csv.Sniffer` guesses from character frequencies and, on small samples, picks `,` in files that use
    `;` between values and `,` as the decimal mark; counting fields per record does not.
    """
    best, best_score = ",", (0.0, 0)
    for delimiter in _DELIMITERS:
        records = _sample_records(sample, delimiter)
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        rows = records[1:]
        consistency = sum(len(row) == width for row in rows) / len(rows) if rows else 1.0
        score = (consistency, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _detect_decimal_comma(rows: Iterable[list[str]], delimiter: str) -> tuple[str, str | None]:
    if delimiter != ";":
        return ".", None
    comma = point = dotted = 0
    for row in rows:
        for field in row:
            value = field.strip()
            if _DECIMAL_COMMA.fullmatch(value):
                comma += 1
                dotted += "." in value
            elif _DOTTED_THOUSANDS.fullmatch(value):
                dotted += 1
            elif _DECIMAL_POINT.fullmatch(value):
                point += 1
    if comma and not point:
        return ",", "." if dotted else None
    return ".", None


def _has_hex_numbers(rows: Iterable[list[str]]) -> bool:
    return any(_HEX_NUMBER.fullmatch(field.strip()) for row in rows for field in row)


def _count_lines(header: list[str]) -> int:
    # A header with quoted line breaks spans several physical lines; pandas counts physical lines.
    return 1 + sum(field.count("\n") for field in header)


# pandas' default NA strings, which its pyarrow engine hands to pyarrow as null values.
_PANDAS_NA_VALUES: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip
# Files from this size on are read from disk by pyarrow rather than from their bytes in memory.
_LARGE_FILE_BYTES = 32 * 1024 * 1024
_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_NO_TIMESTAMPS = "%Y-%m-%d\x1f%H"  # a unit separator (0x1F) between date and hour: not in real data


def _read_csv_pyarrow(data: bytes | str, options: dict[str, Any], header: list[str], width: int) -> pd.DataFrame | None:
    """Read with the pyarrow engine, or None when only the C engine gives the answer we want. `data` is the
    file's bytes, or the path of a UTF-8 file (read by pyarrow directly, see `_read_csv_arrow_file`)."""
    if isinstance(data, str):
        try:
            return _read_csv_arrow_file(data, options, header, width)
        except Exception:  # noqa: BLE001 - the caller falls back to the in-memory reader
            return None
    try:
        # pandas hands `date_format` to pyarrow as its only timestamp format; one that never matches keeps
        # pyarrow from turning "2021-05-05 11:27:55" into timestamps, so such columns stay text in one read.
        frame = pd.read_csv(io.BytesIO(data), engine="pyarrow", header=0, date_format=_NO_TIMESTAMPS, **options)
        if frame.shape[1] != width:
            return None
        # Only the temporal columns are re-read: a whole-file re-read with a dtype map also re-converts integer
        # columns, which fails in pandas 3 when they have gaps, and then the slow C engine reads everything.
        frame = _temporal_as_text(
            frame,
            header,
            lambda names: pd.read_csv(
                io.BytesIO(data),
                engine="pyarrow",
                header=0,
                usecols=names,
                dtype=dict.fromkeys(names, "str"),
                **options,
            ),
        )
    except Exception:  # noqa: BLE001 - any pyarrow failure is retried by the C engine, which explains it
        return None
    return frame


def _read_csv_arrow_file(path: str, options: dict[str, Any], header: list[str], width: int) -> pd.DataFrame | None:
    """What `pandas.read_csv(path, engine="pyarrow", header=0, date_format=_NO_TIMESTAMPS, **options)` returns
    for a UTF-8 file, with a lower peak: each column is freed from the Arrow table as soon as pandas has it
    (`self_destruct`), and the pool returns freed memory at once (`core.data.memory`). `test_tables_large_files` checks
    that both give the same frame."""

    pool = use_returning_arrow_pool()

    def read(**convert) -> pd.DataFrame:
        table = pacsv.read_csv(
            path,
            # 8 MiB blocks instead of 1: fewer, bigger chunks, 30 MiB lower peak for a 100 MB file, as fast.
            read_options=pacsv.ReadOptions(block_size=8 * 2**20),
            parse_options=pacsv.ParseOptions(delimiter=options["sep"]),
            convert_options=pacsv.ConvertOptions(
                null_values=list(_PANDAS_NA_VALUES),
                strings_can_be_null=True,
                decimal_point=options["decimal"],
                **convert,
            ),
            memory_pool=pool,
        )
        # pandas reads an all-empty column as float64 NaN.
        schema = table.schema
        for position, arrow_type in enumerate(schema.types):
            if pa.types.is_null(arrow_type):
                schema = schema.set(position, schema.field(position).with_type(pa.float64()))
        if schema != table.schema:
            table = table.cast(schema)
        frame = table.to_pandas(self_destruct=True, split_blocks=True, memory_pool=pool)
        del table
        return frame

    frame = read(timestamp_parsers=[_NO_TIMESTAMPS])
    if frame.shape[1] != width:
        return None
    frame = _temporal_as_text(
        frame, header, lambda names: read(include_columns=names, column_types=dict.fromkeys(names, pa.string()))
    )
    pool.release_unused()
    return frame


def _temporal_as_text(frame: pd.DataFrame, header: list[str], read_text) -> pd.DataFrame | None:
    """pyarrow turns date-only and time-only values into dates and times where the C engine keeps text:
    those columns are read again as text (`read_text(names)`), so a table has the same dtypes whichever
    engine read it. None when the header cannot name them (duplicate or empty names)."""
    temporal = [
        position
        for position, dtype in enumerate(frame.dtypes)
        if pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
    ]
    if not temporal:
        return frame
    if len(set(header)) != len(header) or any(not field for field in header):
        return None
    names = [header[position] for position in temporal]
    text = read_text(names)
    for position, column in zip(temporal, names, strict=True):
        frame.isetitem(position, text[column].to_numpy())
    return frame


def _read_csv_c(
    data: bytes,
    options: dict[str, Any],
    names: list[str],
    thousands: str | None,
    limits: TableLimits,
    name: str,
    header_lines: int,
) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            # With index_col=False pandas only warns when the first row is longer than the header and
            # drops its extra values; that is the same mistake as a ragged row, so it is an error here.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            return pd.read_csv(
                io.BytesIO(data),
                engine="c",
                header=0,
                names=names,
                index_col=False,
                thousands=thousands,
                nrows=limits.max_rows + 1,
                low_memory=False,
                skip_blank_lines=True,
                keep_default_na=True,
                **options,
            )
    except pd.errors.ParserWarning:
        raise _error("ragged_first_row", name=name, line=header_lines + 1, expected=len(names)) from None
    except pd.errors.EmptyDataError:
        raise _error("empty", name=name, detail="no values") from None
    except pd.errors.ParserError as err:
        text = str(err)
        ragged = _RAGGED.search(text)
        if ragged:
            expected, line, found = (int(group) for group in ragged.groups())
            raise _error(
                "ragged_row",
                name=name,
                line=line,
                found=found,
                expected=expected,
                delimiter_name=_DELIMITER_SINGULAR[options["sep"]],
            ) from None
        unclosed = _UNCLOSED.search(text)
        if unclosed:
            raise _error("unclosed_quote", name=name, line=int(unclosed.group(1)) + 1) from None
        detail = text.replace("Error tokenizing data. C error: ", "").strip().rstrip(".")
        raise _error("csv_unparsable", name=name, detail=detail[:200]) from None


def _read_excel(data: bytes, name: str, limits: TableLimits, sheet: str | None) -> _Parsed:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_workbook_archive(archive, name)
        workbook = _open_workbook(data)
    except DataError:
        raise
    except MemoryError:
        raise
    except Exception as err:
        raise _error("excel_invalid", name=name, detail=f"{type(err).__name__}: {str(err)[:120]}") from err
    try:
        worksheets = list(workbook.worksheets)
        if not worksheets:
            raise _error("excel_no_sheets", name=name)
        titles = [worksheet.title for worksheet in worksheets]
        if sheet is None:
            worksheet = worksheets[0]
        elif sheet in titles:
            worksheet = worksheets[titles.index(sheet)]
        else:
            raise _error("excel_sheet_missing", name=name, sheet=sheet, sheets=_format_list(titles))
        notes: list[str] = []
        if len(titles) > 1:
            others = [title for title in titles if title != worksheet.title]
            notes.append(_note("note_excel_sheet", sheet=worksheet.title, name=name, others=_format_list(others)))
        try:
            header, rows = _read_sheet_rows(worksheet, name, limits, notes)
        except DataError:
            raise
        except MemoryError:
            raise
        except Exception as err:
            raise _error("excel_invalid", name=name, detail=f"{type(err).__name__}: {str(err)[:120]}") from err
    finally:
        workbook.close()
    if header is None:
        raise _error("excel_sheet_empty", name=name, sheet=worksheet.title, sheets=_format_list(titles))
    if not rows:
        raise _error("excel_no_data_rows", name=name, sheet=worksheet.title, sheets=_format_list(titles))
    width = max([len(header), *(len(row) for row in rows)])
    # A table placed at B2 instead of A1 leaves columns that are empty in every row.
    lead = min(_first_filled(row) for row in [header, *rows] if row)
    if lead:
        notes.append(_note("note_excel_leading_columns", count=lead, sheet=worksheet.title))
    padded = [tuple(row[lead:]) + (None,) * (width - len(row)) for row in rows]
    raw_names = list(header[lead:]) + [None] * (width - len(header))
    frame = pd.DataFrame(padded)
    frame.columns = raw_names
    return _Parsed(frame=frame, file_format="excel", notes=notes, sheet=worksheet.title)


def _open_workbook(data: bytes) -> Any:
    import openpyxl  # optional: only Excel files need it

    with warnings.catch_warnings():
        # openpyxl warns about styles and extensions it ignores; none of that matters for values.
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)


def _check_workbook_archive(archive: zipfile.ZipFile, name: str) -> None:
    """Refuse zip bombs and XML with a DOCTYPE before openpyxl parses anything.

    openpyxl parses with lxml when it is installed, and lxml resolves entities, so a `<!DOCTYPE>` with an
    `<!ENTITY ... SYSTEM "file:///etc/passwd">` would put a server file into a cell. A DOCTYPE can only
    come before the root element, so reading each part up to its first element is enough.
    """
    from defusedxml import DefusedXmlException  # optional: only Excel files need it
    from defusedxml.ElementTree import iterparse  # optional: only Excel files need it

    members = archive.infolist()
    if len(members) > _EXCEL_MAX_MEMBERS:
        raise _error("excel_invalid", name=name, detail=f"it has {len(members):,} parts")
    unpacked = sum(member.file_size for member in members)
    limit = _format_bytes(_EXCEL_MAX_UNPACKED_BYTES)
    if unpacked > _EXCEL_MAX_UNPACKED_BYTES:
        raise _error("excel_too_big_unpacked", name=name, size=_format_bytes(unpacked), detail="in total", limit=limit)
    for member in members:
        if member.file_size > 1024 * 1024 and member.file_size > _EXCEL_MAX_RATIO * max(member.compress_size, 1):
            ratio = member.file_size // max(member.compress_size, 1)
            raise _error(
                "excel_compression_ratio",
                name=name,
                part="".join(ch for ch in member.filename if ch.isprintable() and ch != "`")[:80],
                ratio=ratio,
                size=_format_bytes(member.file_size),
                max_ratio=_EXCEL_MAX_RATIO,
            )
    for member in members:
        if not member.filename.lower().endswith(_EXCEL_XML_SUFFIXES) or member.file_size == 0:
            continue
        with archive.open(member) as stream:
            try:
                for _event, _element in iterparse(
                    stream, events=("start",), forbid_dtd=True, forbid_entities=True, forbid_external=True
                ):
                    break
            except DefusedXmlException:
                raise _error("excel_entities", name=name, part=member.filename) from None
            except ParseError:
                raise _error(
                    "excel_invalid", name=name, detail=f"the part `{member.filename}` is not well-formed XML"
                ) from None


def _read_sheet_rows(
    worksheet: Any, name: str, limits: TableLimits, notes: list[str]
) -> tuple[tuple | None, list[tuple]]:
    """The header and data rows that hold values, read one row at a time.

    The declared dimension is ignored: openpyxl would otherwise pad every row to it, and one stray cell
    at XFD1048576 makes that a 16,384-column grid. Empty rows are skipped (as blank CSV lines are), so
    a million empty rows cost time but no memory, and a value beyond the column cap is refused before
    any frame exists.
    """
    from openpyxl.utils import get_column_letter  # optional: only Excel files need it

    worksheet.reset_dimensions()
    header = None
    rows: list[tuple] = []
    leading_empty = pending_empty = skipped_empty = max_width = 0
    truncated = False
    for row_number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
        width = len(values)
        while width and (values[width - 1] is None or values[width - 1] == ""):
            width -= 1
        if width > limits.max_columns:
            raise _error(
                "excel_cell_beyond_columns",
                name=name,
                sheet=worksheet.title,
                cell=f"{get_column_letter(width)}{row_number}",
                count=width,
                limit=limits.max_columns,
            )
        if not width:
            if header is None:
                leading_empty += 1
            else:
                pending_empty += 1
            continue
        if header is None:
            header = values[:width]
            max_width = width
            continue
        if len(rows) >= limits.max_rows:
            truncated = True
            break
        skipped_empty += pending_empty
        pending_empty = 0
        rows.append(values[:width])
        max_width = max(max_width, width)
        _check_cells(name, len(rows), max_width, _MAX_OBJECT_CELLS)
    if leading_empty and header is not None:
        notes.append(_note("note_excel_leading_rows", count=leading_empty, sheet=worksheet.title))
    if skipped_empty:
        notes.append(_note("note_excel_empty_rows", count=skipped_empty, sheet=worksheet.title))
    if truncated:
        notes.append(_note("note_rows_truncated", name=name, limit=limits.max_rows))
    return header, rows


def _first_filled(row: Sequence[Any]) -> int:
    for position, value in enumerate(row):
        if value is not None and value != "":
            return position
    return len(row)


def _read_parquet(data: bytes, name: str, limits: TableLimits) -> _Parsed:
    try:
        parquet_file = pq.ParquetFile(pa.BufferReader(data))
        schema = parquet_file.schema_arrow
    except (pa.ArrowException, OSError, ValueError, TypeError, IndexError, KeyError) as err:
        raise _error("parquet_invalid", name=name, detail=_short(err)) from None
    if len(schema) > limits.max_columns:
        raise _error("too_many_columns", name=name, count=len(schema), limit=limits.max_columns)
    notes: list[str] = []
    kept, dropped, index_columns = [], [], []
    for position, field in enumerate(schema):
        if _INDEX_COLUMN.fullmatch(field.name):
            index_columns.append(field.name)
        elif _usable_arrow_type(field.type):
            kept.append(position)
        else:
            dropped.append(f"{field.name} ({field.type})")
    if not kept:
        raise _error("parquet_all_nested", name=name, columns=_format_list(dropped or index_columns))
    if dropped:
        notes.append(_note("note_parquet_dropped", columns=_format_list(dropped)))
    if index_columns:
        notes.append(_note("note_parquet_index", columns=_format_list(index_columns)))
    _check_cells(name, min(parquet_file.metadata.num_rows, limits.max_rows), len(kept), _MAX_CELLS)
    names = [schema.field(position).name for position in kept]
    try:
        batches = []
        num_rows = 0
        # Reading by name is ambiguous when names repeat; then read everything and pick by position.
        by_name = len(set(schema.names)) == len(schema.names)
        for batch in parquet_file.iter_batches(batch_size=65_536, columns=names if by_name else None):
            if not by_name:
                batch = pa.RecordBatch.from_arrays([batch.column(i) for i in kept], names=names)
            batches.append(batch)
            num_rows += batch.num_rows
            if num_rows > limits.max_rows:
                break
        table = pa.Table.from_batches(batches) if batches else schema.empty_table().select(kept)
    except (pa.ArrowException, OSError, ValueError, TypeError, IndexError, KeyError) as err:
        raise _error("parquet_invalid", name=name, detail=_short(err)) from None
    if table.num_rows > limits.max_rows:
        table = table.slice(0, limits.max_rows)
        notes.append(_note("note_rows_truncated", name=name, limit=limits.max_rows))
    table, conversion_notes = _plain_arrow_columns(table)
    notes.extend(conversion_notes)
    frame = table.to_pandas(date_as_object=False, ignore_metadata=True)
    frame.columns = names
    return _Parsed(frame=frame, file_format="parquet", notes=notes)


def _short(err: BaseException) -> str:
    return str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__


def _usable_arrow_type(arrow_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(arrow_type):
        return _usable_arrow_type(arrow_type.value_type)
    return (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
        or pa.types.is_timestamp(arrow_type)
        or pa.types.is_date(arrow_type)
        or pa.types.is_duration(arrow_type)
        or pa.types.is_decimal(arrow_type)
        or pa.types.is_null(arrow_type)
    )


def _plain_arrow_columns(table: pa.Table) -> tuple[pa.Table, list[str]]:
    """Cast the types pandas would turn into objects or categories into plain numpy-friendly ones."""
    decimals, zoned = [], []
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        arrow_type = field.type
        if pa.types.is_dictionary(arrow_type):
            column = pc.cast(column, arrow_type.value_type)
            arrow_type = arrow_type.value_type
        if pa.types.is_decimal(arrow_type):
            column = pc.cast(column, pa.float64())
            decimals.append(field.name)
        elif pa.types.is_timestamp(arrow_type) and arrow_type.tz is not None:
            # Arrow stores UTC instants; dropping the zone keeps them as UTC wall-clock times.
            column = column.cast(pa.timestamp(arrow_type.unit))
            zoned.append(field.name)
        elif pa.types.is_null(arrow_type):
            column = pc.cast(column, pa.float64())
        elif pa.types.is_float16(arrow_type):
            column = pc.cast(column, pa.float32())
        elif pa.types.is_string_view(arrow_type):
            column = pc.cast(column, pa.large_string())
        columns.append(column)
    notes = []
    if decimals:
        notes.append(_note("note_decimal_to_float", columns=_format_list(decimals)))
    if zoned:
        notes.append(_note("note_timezone", columns=_format_list(zoned)))
    return pa.Table.from_arrays(columns, names=[f"c{i}" for i in range(len(columns))]), notes


def _read_json(data: bytes, name: str, extension: str, limits: TableLimits) -> _Parsed:
    notes: list[str] = []
    if extension == "jsonl":
        records = _parse_json_lines(data, name)
    else:
        try:
            document = json.loads(data)
        except UnicodeDecodeError:
            raise _error("json_encoding", name=name) from None
        except json.JSONDecodeError as err:
            lines_records = _parse_json_lines(data, name, strict=False) if err.msg == "Extra data" else None
            if lines_records is None:
                raise _error("json_invalid", name=name, detail=err.msg, line=err.lineno, column=err.colno) from None
            records = lines_records
            notes.append(_note("note_json_lines", name=name))
        else:
            records = _json_records(document, name, notes)
    if isinstance(records, dict):
        frame = _json_columns_frame(records, name, limits, notes)
    else:
        frame = _json_records_frame(records, name, limits, notes)
    # The json module accepts UTF-8, UTF-16 and UTF-32 and tells them apart the same way.
    return _Parsed(
        frame=frame, file_format="json", notes=notes, encoding=json.detect_encoding(data).replace("-sig", "")
    )


def _parse_json_lines(data: bytes, name: str, *, strict: bool = True) -> list[dict] | None:
    """Records of a JSON Lines file; with `strict=False`, None when the data is not JSON Lines at all."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if not strict:
            return None
        raise _error("json_encoding", name=name) from None
    records = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if not strict and not records:
                return None
            raise _error("json_lines_invalid", name=name, line=line_number, detail=err.msg) from None
        if not isinstance(record, dict):
            if not strict and not records:
                return None
            raise _error("json_lines_invalid", name=name, line=line_number, detail=f"found {_json_kind(record)}")
        records.append(record)
    return records


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object whose values are not all lists"
    if isinstance(value, list):
        return "a list that is not only objects"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a single true/false value"
    if isinstance(value, (int, float)):
        return "a single number"
    return "a single text value"


def _json_records(document: Any, name: str, notes: list[str]) -> list[dict] | dict[str, list]:
    """A list of records, or a dict of equally long columns, from a parsed JSON document."""
    if isinstance(document, list):
        if all(isinstance(record, dict) for record in document):
            return document
        raise _error("json_not_records", name=name, found=_json_kind(document))
    if isinstance(document, dict) and document and all(isinstance(value, list) for value in document.values()):
        if len(document) == 1:
            key, values = next(iter(document.items()))
            if values and all(isinstance(record, dict) for record in values):
                notes.append(_note("note_json_key", key=key, name=name))
                return values
        lengths = {key: len(values) for key, values in document.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"`{key}`: {length:,}" for key, length in list(lengths.items())[:10])
            raise _error("json_column_lengths", name=name, lengths=shown)
        return document
    raise _error("json_not_records", name=name, found=_json_kind(document))


def _json_records_frame(records: list[dict], name: str, limits: TableLimits, notes: list[str]) -> pd.DataFrame:
    if not records:
        raise _error("no_data_rows", name=name)
    keys: dict[str, None] = {}
    for record in records:
        for key in record:
            if key not in keys:
                keys[key] = None
                if len(keys) > limits.max_columns:
                    raise _error("too_many_columns", name=name, count=_count_keys(records), limit=limits.max_columns)
    if len(records) > limits.max_rows:
        records = records[: limits.max_rows]
        notes.append(_note("note_rows_truncated", name=name, limit=limits.max_rows))
    _check_cells(name, len(records), len(keys), _MAX_OBJECT_CELLS)
    columns = {key: [record.get(key) for record in records] for key in keys}
    return _json_frame(columns, notes)


def _json_columns_frame(columns: dict[str, list], name: str, limits: TableLimits, notes: list[str]) -> pd.DataFrame:
    if len(columns) > limits.max_columns:
        raise _error("too_many_columns", name=name, count=len(columns), limit=limits.max_columns)
    num_rows = len(next(iter(columns.values())))
    _check_cells(name, min(num_rows, limits.max_rows), len(columns), _MAX_OBJECT_CELLS)
    if num_rows == 0:
        raise _error("no_data_rows", name=name)
    if num_rows > limits.max_rows:
        columns = {key: values[: limits.max_rows] for key, values in columns.items()}
        notes.append(_note("note_rows_truncated", name=name, limit=limits.max_rows))
    return _json_frame(columns, notes)


def _count_keys(records: list[dict]) -> int:
    return len({key for record in records for key in record})


def _json_frame(columns: dict[str, list], notes: list[str]) -> pd.DataFrame:
    nested = []
    values = []
    for key, column in columns.items():
        if any(isinstance(value, (dict, list)) for value in column):
            nested.append(key)
            column = [
                json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value for value in column
            ]
        values.append(pd.Series(column, dtype=object))
    if nested:
        notes.append(_note("note_json_nested", columns=_format_list(nested)))
    # Build by position so that keys which clean to the same name stay separate columns.
    frame = pd.concat(values, axis=1, ignore_index=True) if values else pd.DataFrame()
    frame = frame.infer_objects()
    frame.columns = list(columns)
    return frame
