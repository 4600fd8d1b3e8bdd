"""A zip of class folders read safely into one uint8 pixel array on disk, and single uploaded images.

    cat/1.png, cat/2.jpg, dog/3.png …                 class = the first folder
    train/cat/1.png, test/cat/2.png …                  class = the second folder, split = train or test
    photos/cat/1.png …                                 one folder around everything is taken off first

The zip is untrusted. Before any member is read, its central directory is checked: the number of entries (even
before Python's zipfile parses them, from the end record), the sum of the unpacked sizes, each member's size
and compression ratio (a zip bomb is refused as a whole), and every name (`..`, absolute paths, backslashes,
drive letters and symbolic links refuse the whole zip: such a zip is hostile). Nothing is ever extracted to
disk: a member's bytes are read into memory, at most `max_member_bytes` + 1 of them.

Images are read in two passes. The first opens headers only (Pillow reads the size and mode, not the pixels) to
choose the stored side (the median of the longer sides, at most `max_side`) and the channels (1 when every
image is grey, else 3). The second decodes each image fully (EXIF rotation, colour modes normalised to "L" or
"RGB", transparency composited on white), resizes it with Pillow's bilinear filter to side × side and writes it
straight into a memory-mapped .npy file, so the memory used does not grow with the number of images.

What could not be used is listed (`SkippedFile`: the name and why), never silently dropped; what the user
should know (one-image classes, empty class folders, resizing) comes back as `notes`. Every sentence is a
message of core/locale/*/LC_MESSAGES/images.po.

Imports: the standard library, numpy, pandas and Pillow only (no Keras, TensorFlow or Streamlit).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import os
import re
import statistics
import struct
import threading
import unicodedata
import uuid
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import DataError
from core.i18n import Message, format_number, t
from core.plain_text import shorten

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
# Archives inside the zip are listed as skipped, never opened.
ARCHIVE_EXTENSIONS = frozenset({".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar"})
# The only decoders Pillow may use: an EPS or PSD renamed .png must not reach its plugin (EPS runs Ghostscript).
# (JPEG's decoder also opens multi-picture JPEGs, as "MPO".)
PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
# Top-level folders that name a split rather than a class (case-insensitive); validation counts as train.
SPLIT_FOLDERS = {"train": "train", "training": "train", "validation": "train", "val": "train", "test": "test"}
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "ehthumbs.db"})
MACOS_FOLDER = "__MACOSX"
MIN_SIDE = 8
# A member this small cannot hurt whatever its compression ratio (the total size is limited apart).
BOMB_FLOOR_BYTES = 2**20
# How many class names a note lists before "…".
LISTED_CLASSES = 10

GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_DECODE_ERRORS = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    struct.error,
    zlib.error,
    NotImplementedError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)
_MEMBER_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError)


@dataclass(frozen=True)
class ImageLimits:
    """What one zip and one image may hold. The member ratio is checked for members over 1 MiB unpacked
    (`BOMB_FLOOR_BYTES`): smaller ones cannot hurt, and the total is limited by `max_total_bytes`."""

    max_entries: int = 200_000  # zip members
    max_total_bytes: int = 4 * 2**30  # sum of uncompressed sizes, from the central directory, before reading
    max_member_bytes: int = 64 * 2**20  # one member, uncompressed (a larger one is skipped, never read)
    max_ratio: float = 200.0  # a member's uncompressed/compressed size ratio (zip bomb)
    max_pixels: int = 40_000_000  # per image (width*height); Pillow's MAX_IMAGE_PIXELS while we read
    max_side: int = 128  # the stored side never exceeds this


@dataclass(frozen=True)
class SkippedFile:
    name: str  # the member's name as the user would see it (decoded)
    reason: Message  # why it was skipped (message id + params)


@dataclass(frozen=True)
class ImageSet:
    manifest: pd.DataFrame  # one row per kept image, in pixel-array order (see read_image_zip)
    pixels_path: Path  # .npy, uint8, shape (n, side, side, channels)
    side: int
    channels: int  # 1 when every kept image is grey, else 3
    skipped: tuple[SkippedFile, ...]
    notes: tuple[Message, ...]
    labelled_by: str = "folders"  # or "table": the classes came from a table's label column (read_image_table)


MANIFEST_COLUMNS = ("file", "label", "split", "width", "height", "mode", "sha1")


# --- Pillow's limits while we read -------------------------------------------------------------------------------

_PILLOW_LOCK = threading.Lock()
_pillow_state = {"depth": 0, "saved": None}


@contextmanager
def _pillow_guard(limits: ImageLimits) -> Iterator[None]:
    """Pillow refuses images over `limits.max_pixels` (DecompressionBombError at twice the limit, the warning
    turned into an error above it) inside the block; its global limit is restored when the last reader leaves.
    Every image is also checked against the limit explicitly, so a concurrent reader cannot weaken it."""
    with _PILLOW_LOCK:
        if _pillow_state["depth"] == 0:
            _pillow_state["saved"] = Image.MAX_IMAGE_PIXELS
        _pillow_state["depth"] += 1
        Image.MAX_IMAGE_PIXELS = limits.max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        with _PILLOW_LOCK:
            _pillow_state["depth"] -= 1
            if _pillow_state["depth"] == 0:
                Image.MAX_IMAGE_PIXELS = _pillow_state["saved"]


# --- sizes and names in messages ---------------------------------------------------------------------------------


def _size(count: int) -> str:
    """Bytes as people read them: 1.0 GB, 64 MB, 1,019 KB, 12 bytes (binary units)."""
    if count >= 2**30:
        return f"{format_number(round(count / 2**30, 1), format='#,##0.0')} GB"
    if count >= 2**20:
        value = count / 2**20
        return f"{format_number(round(value, 1), format='#,##0.0' if value < 10 else '#,##0')} MB"
    if count >= 2**10:
        return f"{format_number(round(count / 2**10), format='#,##0')} KB"
    return f"{count} B"


def _class_list(names: list[str]) -> str:
    shown = ", ".join(f"'{name}'" for name in names[:LISTED_CLASSES])
    return shown + (", …" if len(names) > LISTED_CLASSES else "")


NAME_ENCODINGS = ("utf-8", "gbk")  # tried, strictly, for names written without the UTF-8 flag


def _decoded_names(infos: list[zipfile.ZipInfo]) -> list[str]:
    """The members' names as their author typed them (NFC). A name without the UTF-8 flag was decoded by zipfile
    as CP437; its bytes are tried as UTF-8 (many tools write UTF-8 without the flag), then GBK (Windows in
    Chinese), else the CP437 text stays. One zip is written by one tool, so the first encoding that decodes
    every such name wins for all of them (GBK's 猫 is also valid UTF-8, "è"; its 狗 is not); only when none
    does is each name tried on its own. An Info-ZIP Unicode Path extra field (0x7075) whose checksum matches
    wins over all of them."""
    raws: dict[int, bytes] = {}
    for position, info in enumerate(infos):
        if not info.flag_bits & 0x800:
            try:
                raws[position] = info.filename.encode("cp437")
            except UnicodeEncodeError:
                continue
    chosen = next(
        (encoding for encoding in NAME_ENCODINGS if all(_decodes(raw, encoding) for raw in raws.values())), None
    )
    names = []
    for position, info in enumerate(infos):
        name = info.filename
        raw = raws.get(position)
        if raw is not None:
            name = _unicode_path_field(info.extra, raw) or _decode(raw, chosen) or name
        names.append(unicodedata.normalize("NFC", name))
    return names


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _decode(raw: bytes, encoding: str | None) -> str | None:
    for candidate in (encoding,) if encoding else NAME_ENCODINGS:
        try:
            return raw.decode(candidate)
        except UnicodeDecodeError:
            continue
    return None


def _unicode_path_field(extra: bytes, raw_name: bytes) -> str | None:
    position = 0
    while position + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, position)
        body = extra[position + 4 : position + 4 + length]
        position += 4 + length
        if kind == 0x7075 and len(body) >= 5 and body[0] == 1:
            if struct.unpack_from("<L", body, 1)[0] != zlib.crc32(raw_name):
                return None
            try:
                return body[5:].decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def _unsafe_why(name: str, info: zipfile.ZipInfo) -> Message | None:
    """Why a member's name or kind makes the zip hostile, or None."""
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        return Message("data.images.unsafe.symlink")
    if "\\" in name:
        return Message("data.images.unsafe.backslash")
    if name.startswith("/"):
        return Message("data.images.unsafe.absolute")
    if re.match(r"[A-Za-z]:", name):
        return Message("data.images.unsafe.drive")
    if ".." in name.split("/"):
        return Message("data.images.unsafe.parent")
    return None


# --- the zip: end record, central directory ----------------------------------------------------------------------


def _declared_entries(stream: BinaryIO) -> int | None:
    """The number of entries the zip's end record declares (ZIP64 too), read before zipfile parses the central
    directory into one object per entry; None when there is no end record (zipfile then says it is no zip)."""
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    tail_length = min(size, 22 + 65_535 + 20)
    stream.seek(size - tail_length)
    tail = stream.read(tail_length)
    stream.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    entries = struct.unpack_from("<H", tail, at + 10)[0]
    if entries == 0xFFFF and at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":
        offset = struct.unpack_from("<Q", tail, at - 20 + 8)[0]
        if offset < size:
            stream.seek(offset)
            record = stream.read(56)
            stream.seek(0)
            if len(record) == 56 and record[:4] == b"PK\x06\x06":
                entries = struct.unpack_from("<Q", record, 32)[0]
    return entries


def _too_many_entries(entries: int, limits: ImageLimits) -> DataError:
    return DataError(t("data.images.zip.too_many_entries", entries=entries, limit=limits.max_entries))


def _check_directory(infos: list[zipfile.ZipInfo], names: list[str], limits: ImageLimits) -> None:
    """Refuse the whole zip from its central directory alone: too many entries, a hostile name, too much to
    unpack, a zip bomb. Nothing has been read from any member yet."""
    if len(infos) > limits.max_entries:
        raise _too_many_entries(len(infos), limits)
    for info, name in zip(infos, names, strict=True):
        why = _unsafe_why(name, info)
        if why is not None:
            raise DataError(t("data.images.zip.unsafe", name=name, why=why))
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_bytes:
        raise DataError(t("data.images.zip.too_large_total", size=_size(total), limit=_size(limits.max_total_bytes)))
    for info, name in zip(infos, names, strict=True):
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > BOMB_FLOOR_BYTES and ratio > limits.max_ratio:
            raise DataError(
                t(
                    "data.images.zip.bomb",
                    name=name,
                    size=_size(info.file_size),
                    compressed=_size(info.compress_size),
                    ratio=format_number(round(ratio), format="#,##0"),
                    limit=format_number(limits.max_ratio, format="#,##0.#"),
                )
            )


# --- the layout: which member is which class ---------------------------------------------------------------------


@dataclass
class _Member:
    info: zipfile.ZipInfo
    name: str  # decoded, NFC
    parts: tuple[str, ...]  # the path's parts, empty and "." parts left out


@dataclass
class _Candidate:
    member: _Member
    label: str
    split: str
    width: int = 0
    height: int = 0
    grey: bool = True


@dataclass(frozen=True)
class _Layout:
    wrapper: tuple[str, ...]  # the folders around everything, taken off
    split: bool  # top level = train/test folders

    def place(self, parts: tuple[str, ...], *, is_dir: bool = False) -> tuple[str, str] | None:
        """(label, split) of a path under this layout, or None when it is outside every class folder."""
        if parts[: len(self.wrapper)] != self.wrapper:
            return None
        relative = parts[len(self.wrapper) :]
        folders = relative if is_dir else relative[:-1]
        if self.split:
            if len(folders) < 2 or folders[0].lower() not in SPLIT_FOLDERS:
                return None
            return folders[1], SPLIT_FOLDERS[folders[0].lower()]
        if not folders:
            return None
        return folders[0], ""


def _layout(images: list[_Member]) -> _Layout:
    """Take off single folders around everything (while something stays inside a sub-folder), then see
    whether the top level is train/test folders."""
    depth = 0
    while images:
        firsts = {member.parts[depth] if len(member.parts) > depth + 1 else None for member in images}
        if len(firsts) != 1 or None in firsts:
            break
        (first,) = firsts
        if first.lower() in SPLIT_FOLDERS or not any(len(member.parts) > depth + 2 for member in images):
            break
        depth += 1
    wrapper = images[0].parts[:depth] if images else ()
    tops = {member.parts[depth].lower() for member in images if len(member.parts) > depth + 1}
    split = bool(tops) and tops <= set(SPLIT_FOLDERS) and bool(tops & {"train", "training", "test"})
    return _Layout(wrapper, split)


class _TableLayout:
    """Labels from a table instead of class folders: each image found by its path or by the path's end."""

    wrapper: tuple[str, ...] = ()
    split = False

    def __init__(self, labels: dict[str, tuple[str, str]], images: list[_Member]):
        self.labels = {_table_path(path): placed for path, placed in labels.items()}
        ends: dict[str, tuple[str, ...] | None] = {}
        for member in images:  # every end of every path; an end two images share finds neither
            for start in range(len(member.parts)):
                end = "/".join(member.parts[start:])
                ends[end] = None if end in ends and ends[end] != member.parts else member.parts
        self.found: dict[tuple[str, ...], tuple[str, str]] = {}
        self.missing: list[str] = []
        for path, placed in self.labels.items():
            parts = ends.get(path)
            if parts is None:
                self.missing.append(path)
            else:
                self.found[parts] = placed

    def place(self, parts: tuple[str, ...], *, is_dir: bool = False) -> tuple[str, str] | None:
        return None if is_dir else self.found.get(parts)


def _table_path(path: str) -> str:
    """A path as a table may write it (backslashes, ./, a leading slash) in the zip's form."""
    parts = [part for part in unicodedata.normalize("NFC", str(path)).replace("\\", "/").split("/")
             if part not in ("", ".")]  # fmt: skip
    return "/".join(parts)


def image_path_column(frame: pd.DataFrame) -> str | None:
    """The column of a table that names image files (most of its values end in .png, .jpg, ...), if one does."""
    for column in frame.columns:
        series = frame[column]
        if not (series.dtype == object or pd.api.types.is_string_dtype(series)):
            continue
        sample = series.head(5000).dropna().head(1000).astype(str)  # the Data page asks on every rerun
        if sample.empty:
            continue
        suffixes = sample.map(lambda value: PurePosixPath(value.replace("\\", "/")).suffix.lower())
        if suffixes.isin(IMAGE_EXTENSIONS).mean() >= 0.9:
            return str(column)
    return None


def read_image_table(
    frame: pd.DataFrame,
    path_column: str,
    label_column: str,
    source: str | Path | bytes | BinaryIO,
    pixels_path: Path,
    *,
    side: int | None = None,
    limits: ImageLimits = ImageLimits(),
) -> ImageSet:
    """A table with a column of image paths and a label column, plus the zip that holds the images: read like a
    zip of class folders (the same checks), the classes from the table. Rows whose image is not in the zip, or
    whose label is missing, are listed as skipped; so are images of the zip the table does not name."""
    for column in (path_column, label_column):
        if column not in frame.columns:
            raise DataError(t("data.images.table.no_column", column=shorten(str(column))))
    if path_column == label_column:
        raise DataError(t("data.images.table.same_column"))
    labels: dict[str, tuple[str, str]] = {}
    unlabelled: list[SkippedFile] = []
    for path, label in zip(frame[path_column], frame[label_column], strict=True):
        if pd.isna(path):
            continue
        if pd.isna(label) or str(label).strip() == "":
            unlabelled.append(SkippedFile(str(path), Message("data.images.skip.no_label")))
            continue
        labels[str(path)] = (str(label).strip(), "")
    if not labels:
        raise DataError(
            t("data.images.table.no_rows", path=shorten(str(path_column)), label=shorten(str(label_column)))
        )
    image_set = dataclasses.replace(
        read_image_zip(source, pixels_path, side=side, limits=limits, labels=labels), labelled_by="table"
    )
    if not unlabelled:
        return image_set
    notes = [*image_set.notes, Message("data.images.note.unlabelled_rows", {"count": len(unlabelled)})]
    # An image whose row has no label is listed once, for that reason (not also as "not in the table").
    named = {_table_path(item.name) for item in unlabelled}
    kept = [item for item in image_set.skipped if not (item.reason.id == "data.images.skip.not_in_table" and any(
        item.name == path or item.name.endswith("/" + path) for path in named))]  # fmt: skip
    return dataclasses.replace(image_set, skipped=(*kept, *unlabelled), notes=tuple(notes))


def _is_system(parts: tuple[str, ...]) -> bool:
    return parts[0] == MACOS_FOLDER or any(part.startswith(".") for part in parts) or parts[-1].lower() in SYSTEM_FILES


# --- one image ----------------------------------------------------------------------------------------------------


@functools.cache
def _formats() -> tuple[str, ...]:
    """PILLOW_FORMATS that this Pillow can open (a build without WebP leaves it out instead of failing)."""
    Image.init()
    return tuple(name for name in PILLOW_FORMATS if name in Image.OPEN)


def _open(stream: BinaryIO, limits: ImageLimits) -> Image.Image:
    """Pillow's header read, restricted to our formats; refuses more pixels than the limit before decoding."""
    image = Image.open(stream, formats=_formats())
    width, height = image.size
    if width * height > limits.max_pixels:
        image.close()
        raise _TooManyPixels(width, height)
    return image


class _TooManyPixels(Exception):
    def __init__(self, width: int, height: int):
        super().__init__(width, height)
        self.width = width
        self.height = height


def _reason(error: BaseException, limits: ImageLimits) -> Message:
    """Why an image could not be read, from what Pillow (or zipfile) raised."""
    if isinstance(error, _TooManyPixels):
        return Message(
            "data.images.skip.too_many_pixels",
            {"width": error.width, "height": error.height, "pixels": error.width * error.height,
             "limit": limits.max_pixels},
        )  # fmt: skip
    if isinstance(error, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        found = re.search(r"\((\d+) pixels\)", str(error))
        if found:
            return Message(
                "data.images.skip.too_many_pixels_declared", {"pixels": int(found.group(1)), "limit": limits.max_pixels}
            )
        return Message("data.images.skip.pixel_limit", {"limit": limits.max_pixels})
    if isinstance(error, UnidentifiedImageError):
        return Message("data.images.skip.unreadable")
    if isinstance(error, _UnsupportedMode):
        return Message("data.images.skip.unsupported_mode", {"mode": error.mode})
    if isinstance(error, (OSError, EOFError)) and "truncated" in str(error).lower():
        return Message("data.images.skip.truncated")
    return Message("data.images.skip.corrupt")


class _UnsupportedMode(Exception):
    def __init__(self, mode: str):
        super().__init__(mode)
        self.mode = mode


def _header_is_grey(image: Image.Image) -> bool:
    """Whether the image will be grey after normalisation, from its header (palette included) alone."""
    if image.mode in GREY_MODES:
        return True
    if image.mode in ("P", "PA") and image.palette is not None:
        width = {"RGB": 3, "RGBA": 4}.get(image.palette.mode)
        data = bytes(image.palette.palette or b"")
        if width is None or not data:
            return False
        return all(data[i] == data[i + 1] == data[i + 2] for i in range(0, len(data) - width + 1, width))
    return False


def _on_white(array: np.ndarray) -> np.ndarray:
    """Colour (last axis: channels then alpha) composited on a white background, uint8, rounded."""
    colour = array[..., :-1].astype(np.uint32)
    alpha = array[..., -1:].astype(np.uint32)
    return ((colour * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _scaled_grey(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float grey images scaled to 0..255 (Pillow's own convert would clip)."""
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        scaled = (values.astype(np.uint32) * 255 + 32_767) // 65_535
    else:
        values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if image.mode == "F" and low >= 0 and high <= 1:
            scaled = values * 255
        elif low >= 0 and high <= 255:
            scaled = values
        elif low >= 0 and high <= 65_535 and image.mode == "I":
            scaled = values * 255 / 65_535
        else:
            scaled = (values - low) * 255 / (high - low) if high > low else np.zeros_like(values)
        scaled = np.rint(scaled)
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8))


def _palette_is_grey(image: Image.Image) -> bool:
    palette = image.getpalette() or []
    return bool(palette) and all(palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3))


def _normalised(image: Image.Image) -> Image.Image:
    """The image as "L" (grey) or "RGB": 1-bit and 16-bit/int/float grey to 8-bit grey, transparency on white,
    palettes to RGB (or grey when the palette is), CMYK, YCbCr and the rest to RGB."""
    mode = image.mode
    try:
        if mode in ("L", "RGB"):
            return image
        if mode == "1":
            return image.convert("L")
        if mode.startswith("I;16") or mode in ("I", "F"):
            return _scaled_grey(image)
        if mode in ("LA", "La"):
            return Image.fromarray(_on_white(np.asarray(image.convert("LA")))[..., 0])
        if mode in ("P", "PA"):
            grey = _palette_is_grey(image)
            if mode == "PA" or "transparency" in image.info:
                converted = Image.fromarray(_on_white(np.asarray(image.convert("RGBA"))))
            else:
                converted = image.convert("RGB")
            return converted.convert("L") if grey else converted
        if mode in ("RGBA", "RGBa"):
            return Image.fromarray(_on_white(np.asarray(image.convert("RGBA"))))
        return image.convert("RGB")
    except (ValueError, OSError, KeyError) as error:
        raise _UnsupportedMode(mode) from error


def _decoded(data: bytes, limits: ImageLimits) -> tuple[str, Image.Image]:
    """(original mode, image): opened, fully decoded, EXIF-rotated and normalised (inside _pillow_guard)."""
    with _open(io.BytesIO(data), limits) as image:
        image.load()
        try:
            upright = ImageOps.exif_transpose(image)
        except _DECODE_ERRORS:  # a broken EXIF block: the pixels are fine, keep them as stored
            upright = image.copy()
        return image.mode, _normalised(upright)


def load_image(data: bytes, *, limits: ImageLimits = ImageLimits()) -> Image.Image:
    """One uploaded image, opened safely (our formats only, pixel limit before decoding, fully decoded so a
    truncated file fails here), EXIF-rotated, converted to "L" or "RGB" (transparency composited on white).
    Raises DataError saying why it cannot be used."""
    if not data:
        raise DataError(t("data.images.image.refused", reason=Message("data.images.skip.empty")))
    if len(data) > limits.max_member_bytes:
        reason = Message(
            "data.images.skip.too_large", {"size": _size(len(data)), "limit": _size(limits.max_member_bytes)}
        )
        raise DataError(t("data.images.image.refused", reason=reason))
    with _pillow_guard(limits):
        try:
            return _decoded(data, limits)[1]
        except (*_DECODE_ERRORS, _TooManyPixels, _UnsupportedMode) as error:
            raise DataError(t("data.images.image.refused", reason=_reason(error, limits))) from None


def to_array(image: Image.Image, *, side: int, channels: int) -> np.ndarray:
    """uint8 (side, side, channels): the image normalised, resized as read_image_zip does (bilinear, to exactly
    side × side, only when it is another size), grey repeated into 3 channels or colour made grey as asked."""
    if image.mode not in ("L", "RGB"):
        image = _normalised(image)
    if channels == 1 and image.mode != "L":
        image = image.convert("L")
    if image.size != (side, side):
        image = image.resize((side, side), Image.Resampling.BILINEAR, reducing_gap=None)
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[..., None]
    if channels == 3 and array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return array


def pixels(image_set_or_path: ImageSet | str | os.PathLike) -> np.ndarray:
    """The stored pixels, memory-mapped read-only."""
    path = image_set_or_path.pixels_path if isinstance(image_set_or_path, ImageSet) else image_set_or_path
    return np.load(path, mmap_mode="r")


# --- the zip -------------------------------------------------------------------------------------------------------


@contextmanager
def _opened(source: str | Path | bytes | BinaryIO) -> Iterator[BinaryIO]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        try:
            stream = open(source, "rb")
        except OSError:
            raise DataError(t("data.images.zip.cannot_open", name=Path(source).name)) from None
        with stream:
            yield stream
    else:
        yield source


def read_image_zip(
    source: str | Path | bytes | BinaryIO,
    pixels_path: Path,
    *,
    side: int | None = None,
    limits: ImageLimits = ImageLimits(),
    unlabelled: bool = False,
    labels: dict[str, tuple[str, str]] | None = None,
) -> ImageSet:
    """Read a zip of class folders into `pixels_path` (.npy, uint8 (n, side, side, channels)) and a manifest.

    The manifest has one row per kept image, in pixel-array order (sorted by path): "file" (the member's path as
    its author named it), "label" (class folder), "split" ("train"/"test" from train/test folders, else ""),
    "width", "height" (after EXIF rotation, before resizing), "mode" (Pillow's original mode), "sha1" (of the
    member's bytes). `side` defaults to the median longer side, clamped to [8, limits.max_side].
    `unlabelled` (images to predict): images outside any class folder are kept too, with an empty label.
    `labels` (a table naming the images, `read_image_table`): path → (label, split) instead of class folders;
    a path is the member's, or its end after the folders around it ("cat/1.png" finds "photos/cat/1.png").
    Raises DataError when the zip is hostile, too big, not a zip, or holds no usable image."""
    pixels_path = Path(pixels_path)
    if side is not None and not 1 <= side <= limits.max_side:
        raise DataError(t("data.images.zip.side_out_of_range", side=side, limit=limits.max_side))
    with _opened(source) as stream, _pillow_guard(limits):
        try:
            declared = _declared_entries(stream)
            if declared is not None and declared > limits.max_entries:
                raise _too_many_entries(declared, limits)
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError):
            raise DataError(t("data.images.zip.not_a_zip")) from None
        with archive:
            return _read(archive, pixels_path, side, limits, unlabelled, labels)


def _read(
    archive: zipfile.ZipFile,
    pixels_path: Path,
    side: int | None,
    limits: ImageLimits,
    unlabelled: bool = False,
    labels: dict[str, tuple[str, str]] | None = None,
) -> ImageSet:
    infos = archive.infolist()
    names = _decoded_names(infos)
    _check_directory(infos, names, limits)

    skipped: list[SkippedFile] = []
    members, images, folders = [], [], []
    for info, name in zip(infos, names, strict=True):
        parts = tuple(part for part in name.split("/") if part not in ("", "."))
        if not parts:
            continue
        member = _Member(info, name, parts)
        if _is_system(parts):
            if not info.is_dir():
                skipped.append(SkippedFile(name, Message("data.images.skip.system_file")))
        elif info.is_dir():
            folders.append(member)
        else:
            members.append(member)
            extension = PurePosixPath(parts[-1]).suffix.lower()
            if extension in ARCHIVE_EXTENSIONS:
                skipped.append(SkippedFile(name, Message("data.images.skip.nested_archive")))
            elif extension in IMAGE_EXTENSIONS:
                images.append(member)
            elif extension:
                skipped.append(SkippedFile(name, Message("data.images.skip.not_image", {"extension": extension})))
            else:
                skipped.append(SkippedFile(name, Message("data.images.skip.no_extension")))

    layout = _layout(images)
    if labels is not None:
        layout = _TableLayout(labels, images)
    all_classes: set[str] = set()
    for member in folders:
        placed = layout.place(member.parts, is_dir=True)
        if placed:
            all_classes.add(placed[0])
    for member in members:
        placed = layout.place(member.parts)
        if placed:
            all_classes.add(placed[0])

    candidates: list[_Candidate] = []
    root_files = 0
    for member in sorted(images, key=lambda m: m.parts):
        placed = layout.place(member.parts)
        if placed is None and unlabelled:
            placed = ("", "")
        if placed is None and labels is not None:
            skipped.append(SkippedFile(member.name, Message("data.images.skip.not_in_table")))
            continue
        if placed is None:
            root_files += 1
            skipped.append(SkippedFile(member.name, Message("data.images.skip.outside_class")))
            continue
        reason = _member_reason(member.info, limits)
        if reason is None:
            candidate = _Candidate(member, *placed)
            reason = _read_header(archive, candidate, limits)
            if reason is None:
                candidates.append(candidate)
                continue
        skipped.append(SkippedFile(member.name, reason))

    if isinstance(layout, _TableLayout):
        skipped.extend(SkippedFile(path, Message("data.images.skip.not_in_zip")) for path in layout.missing)
        if not layout.found:
            example = layout.missing[0] if layout.missing else ""
            raise DataError(t("data.images.table.none_found", count=len(layout.labels), example=shorten(example)))
    if not candidates:
        raise _no_images(members, root_files, skipped)
    if side is None:
        longest = statistics.median(max(c.width, c.height) for c in candidates)
        side = int(min(max(round(longest), MIN_SIDE), limits.max_side))
    channels = 1 if all(c.grey for c in candidates) else 3

    pixels_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = pixels_path.with_name(f".{pixels_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        rows, resized, expanded = _write_pixels(archive, candidates, temporary, side, channels, limits, skipped)
        if not rows:
            raise _no_images(members, root_files, skipped)
        os.replace(temporary, pixels_path)
    finally:
        temporary.unlink(missing_ok=True)

    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    manifest = manifest.astype({"width": "int64", "height": "int64"})
    notes = _notes(manifest, all_classes, layout, skipped, root_files, resized, expanded, side)
    return ImageSet(manifest, pixels_path, side, channels, tuple(skipped), tuple(notes))


def _member_reason(info: zipfile.ZipInfo, limits: ImageLimits) -> Message | None:
    """Why a member is not even opened (from the central directory), or None."""
    if info.file_size == 0:
        return Message("data.images.skip.empty")
    if info.file_size > limits.max_member_bytes:
        return Message(
            "data.images.skip.too_large", {"size": _size(info.file_size), "limit": _size(limits.max_member_bytes)}
        )
    if info.flag_bits & 0x1:
        return Message("data.images.skip.encrypted")
    return None


def _read_header(archive: zipfile.ZipFile, candidate: _Candidate, limits: ImageLimits) -> Message | None:
    """First pass: size and mode from the image's header (Pillow reads only what it needs from the stream)."""
    try:
        with archive.open(candidate.member.info) as stream, _open(stream, limits) as image:
            candidate.width, candidate.height = image.size
            candidate.grey = _header_is_grey(image)
    except (zipfile.BadZipFile, RuntimeError):
        return Message("data.images.skip.damaged_member")
    except (*_DECODE_ERRORS, _TooManyPixels) as error:
        return _reason(error, limits)
    return None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ImageLimits) -> bytes:
    with archive.open(info) as stream:
        data = stream.read(limits.max_member_bytes + 1)
    if len(data) > limits.max_member_bytes:
        raise zipfile.BadZipFile("larger than its directory entry says")
    return data


def _write_pixels(
    archive: zipfile.ZipFile,
    candidates: list[_Candidate],
    path: Path,
    side: int,
    channels: int,
    limits: ImageLimits,
    skipped: list[SkippedFile],
) -> tuple[list[tuple], int, int]:
    """Second pass: decode each image and write it into the memory-mapped array, one at a time. Images that
    fail to decode are skipped and the array is shortened to the images kept."""
    shape = (len(candidates), side, side, channels)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    rows: list[tuple] = []
    resized = expanded = 0
    for candidate in candidates:
        member = candidate.member
        try:
            data = _read_member(archive, member.info, limits)
        except _MEMBER_READ_ERRORS:
            skipped.append(SkippedFile(member.name, Message("data.images.skip.damaged_member")))
            continue
        try:
            mode, image = _decoded(data, limits)
        except (*_DECODE_ERRORS, _TooManyPixels, _UnsupportedMode) as error:
            skipped.append(SkippedFile(member.name, _reason(error, limits)))
            continue
        width, height = image.size
        resized += (width, height) != (side, side)
        expanded += channels == 3 and image.mode == "L"
        out[len(rows)] = to_array(image, side=side, channels=channels)
        rows.append(
            (member.name, candidate.label, candidate.split, width, height, mode, hashlib.sha1(data).hexdigest())
        )
    out.flush()
    del out
    if 0 < len(rows) < len(candidates):
        _shorten(path, len(rows))
    return rows, resized, expanded


def _shorten(path: Path, rows: int) -> None:
    """Keep the first `rows` images of the .npy at `path` (copied in blocks, never all in memory)."""
    source = np.load(path, mmap_mode="r")
    shorter = path.with_name(path.name + ".short")
    try:
        target = np.lib.format.open_memmap(shorter, mode="w+", dtype=np.uint8, shape=(rows, *source.shape[1:]))
        block = 4096
        for start in range(0, rows, block):
            target[start : start + block] = source[start : min(start + block, rows)]
        target.flush()
        del target, source
        os.replace(shorter, path)
    finally:
        shorter.unlink(missing_ok=True)


def _no_images(members: list[_Member], root_files: int, skipped: list[SkippedFile]) -> DataError:
    return DataError(t("data.images.zip.no_images", count=len(members), root=root_files, skipped=len(skipped)))


def _notes(
    manifest: pd.DataFrame,
    all_classes: set[str],
    layout: _Layout | _TableLayout,
    skipped: list[SkippedFile],
    root_files: int,
    resized: int,
    expanded: int,
    side: int,
) -> list[Message]:
    notes: list[Message] = []
    if layout.wrapper:
        notes.append(Message("data.images.note.wrapper", {"folder": "/".join(layout.wrapper)}))
    counts = Counter(manifest["label"])
    single = sorted(label for label, count in counts.items() if count == 1)
    if single:
        notes.append(Message("data.images.note.one_image", {"count": len(single), "classes": _class_list(single)}))
    empty = sorted(all_classes - set(counts))
    if empty:
        notes.append(Message("data.images.note.empty_classes", {"count": len(empty), "classes": _class_list(empty)}))
    if root_files:
        notes.append(Message("data.images.note.root_files", {"count": root_files}))
    if skipped and isinstance(layout, _TableLayout):
        notes.append(Message("data.images.note.skipped_table", {"count": len(skipped)}))
    elif skipped:
        notes.append(Message("data.images.note.skipped", {"count": len(skipped)}))
    if resized:
        notes.append(Message("data.images.note.resized", {"count": resized, "side": side}))
    if expanded:
        notes.append(Message("data.images.note.grey_expanded", {"count": expanded}))
    return notes
