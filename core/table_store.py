"""Uploaded tables on disk: `LAYERLAB_HOME/tables/<key>.parquet` with `<key>.json` beside it.

Like the run store, a table store opened for an owner (shared-demo mode) only ever finds that owner's
tables: the key is a hash of the owner and the content, so nobody can test whether someone else uploaded a
given table, and `path()` checks the owner written beside the table besides.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.errors import DataError, QuotaError
from core.i18n import t
from core.run_store import read_json, to_parquet, write_atomic, write_json

_KEY = re.compile(r"^[0-9a-f]{64}$")
PIXELS_SUFFIX = ".pixels.npy"
NOT_FOUND = "The table you were working on is no longer on the server (it expired or was deleted). Load it again."


@dataclass(frozen=True, slots=True)
class TableRecord:
    key: str
    name: str
    owner: str | None
    created_at: float
    num_bytes: int
    notes: tuple[str, ...]
    reading: dict | None = None  # how the file was read (`LoadedTable.reading`); runs record it
    kind: str = "table"  # the dataset kind (`DataSpec.kind`) this upload is read as
    image: dict | None = None  # kind images: {"side", "channels", "skipped": [...]} of the stored pixels


class TableStore:
    """Stores and finds tables under `root` (normally `Settings.tables_dir`).

    Args:
        root: the tables folder.
        owner: when set (shared-demo mode), only this owner's tables exist for this store.
        max_tables: tables one owner may keep (checked when one is added; None: no limit).
    """

    def __init__(self, root: Path, *, owner: str | None = None, max_tables: int | None = None):
        self.root = Path(root)
        self.owner = owner
        self.max_tables = max_tables
        self.root.mkdir(parents=True, exist_ok=True)

    def put(
        self,
        frame: pd.DataFrame,
        *,
        name: str,
        notes: tuple[str, ...] = (),
        reading: dict | None = None,
        pixels: Path | None = None,
        image: dict | None = None,
    ) -> tuple[str, pd.DataFrame]:
        """Store a loaded table; returns its key and the frame exactly as stored (what a later read gives).

        An image set (kind images) is its manifest (one row per image) plus `pixels`, the .npy written by
        `core.data.images.read_image_zip`, moved here as `<key>.pixels.npy`; `image` says its geometry."""
        data, stored = to_parquet(frame)
        digest = hashlib.sha256()
        digest.update((self.owner or "").encode("utf-8") + b"\0")
        digest.update(data)
        key = digest.hexdigest()
        path = self.root / f"{key}.parquet"
        if not path.exists():
            if self.owner is not None and self.max_tables is not None:
                kept = self.list_tables()
                if len(kept) >= self.max_tables:
                    raise QuotaError(t("deploy.tables.quota", count=len(kept)))
            write_atomic(path, data)
        num_bytes = len(data)
        if pixels is not None:
            stored_pixels = self.root / f"{key}{PIXELS_SUFFIX}"
            if stored_pixels.exists():
                Path(pixels).unlink(missing_ok=True)
            else:
                os.replace(pixels, stored_pixels)
            num_bytes += stored_pixels.stat().st_size
        write_json(
            self.root / f"{key}.json",
            {"owner": self.owner, "name": name, "notes": list(notes), "created_at": time.time(),
             "num_bytes": num_bytes, "reading": reading, "kind": "images" if pixels is not None else "table",
             "image": image},
        )  # fmt: skip
        return key, stored

    def path(self, key: str | None) -> Path:
        """The table's Parquet file, after checking that it exists and belongs to this store's owner."""
        if not _KEY.match(key or ""):
            raise DataError(NOT_FOUND)
        path = self.root / f"{key}.parquet"
        meta = read_json(self.root / f"{key}.json", None)
        if not path.exists() or meta is None:
            raise DataError(NOT_FOUND)
        if self.owner is not None and meta.get("owner") != self.owner:
            raise DataError(NOT_FOUND)
        return path

    def load(self, key: str) -> pd.DataFrame:
        return pd.read_parquet(self.path(key))

    def pixels_path(self, key: str) -> Path | None:
        """Kind images: the stored pixel array (after `path()`'s owner check); None for a table."""
        self.path(key)
        path = self.root / f"{key}{PIXELS_SUFFIX}"
        return path if path.exists() else None

    def record(self, key: str) -> TableRecord:
        path = self.path(key)
        meta = read_json(self.root / f"{key}.json", {})
        return TableRecord(
            key=key,
            name=str(meta.get("name") or "table"),
            owner=meta.get("owner"),
            created_at=float(meta.get("created_at", 0.0)),
            num_bytes=int(meta.get("num_bytes") or path.stat().st_size),
            notes=tuple(meta.get("notes") or ()),
            reading=meta.get("reading"),
            kind=str(meta.get("kind") or "table"),
            image=meta.get("image"),
        )

    def list_tables(self) -> list[TableRecord]:
        """Newest first; an owner's store lists only that owner's tables."""
        records = []
        for entry in self.root.glob("*.json"):
            key = entry.stem
            if not _KEY.match(key):
                continue
            try:
                records.append(self.record(key))
            except DataError:
                continue
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    def delete(self, key: str) -> None:
        """Delete a table. Runs trained on it keep their own link to its rows."""
        path = self.path(key)
        trash = path.with_name(f".deleted-{secrets.token_hex(4)}.parquet")
        os.replace(path, trash)
        (self.root / f"{key}.json").unlink(missing_ok=True)
        (self.root / f"{key}{PIXELS_SUFFIX}").unlink(missing_ok=True)
        trash.unlink(missing_ok=True)

    def disk_bytes(self) -> int:
        return sum(record.num_bytes for record in self.list_tables())
