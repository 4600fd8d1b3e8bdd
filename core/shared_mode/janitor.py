"""Expiry: a shared demo forgets every session's tables, runs and exports after `LAYERLAB_RETENTION_HOURS`.

Each item goes that long after its last change (a run's last status update, a table's last load), so work
in progress is never cut off. The janitor also clears what interrupted writes and killed children leave
behind: half-written temporary files, folders moved aside for deletion, and old `layerlab-*` temporary
folders. The job manager calls it every few minutes; it is safe to call from several processes.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.config import Settings
from core.run_store import RunFiles, RunStore

ORPHAN_AGE_S = 3600.0  # a temporary file this old belongs to no write still in progress
_LOG = logging.getLogger("layerlab")
_TEMPORARY = re.compile(r"^\..*\.tmp$|^\.deleted-")


@dataclass(frozen=True, slots=True)
class Sweep:
    runs_deleted: int = 0
    tables_deleted: int = 0
    sessions_deleted: int = 0
    orphans_deleted: int = 0


def sweep(settings: Settings, *, now: float | None = None) -> Sweep:
    """Delete what has expired and what was orphaned; returns the counts."""
    now = time.time() if now is None else now
    runs = tables = sessions = 0
    if settings.retention_hours > 0:
        horizon = now - settings.retention_hours * 3600.0
        runs = _expire_runs(settings.runs_dir, horizon)
        tables = _expire_files(settings.tables_dir, "*.json", horizon, companions=(".parquet", ".pixels.npy"))
        sessions = _expire_files(settings.home / "sessions", "*.json", horizon)
    orphans = 0
    for folder in (settings.runs_dir, settings.tables_dir, settings.home / "sessions"):
        orphans += _remove_orphans(folder, now)
    orphans += _remove_old_temporary_folders(now)
    result = Sweep(runs, tables, sessions, orphans)
    if any((runs, tables, sessions, orphans)):
        _LOG.info("layerlab janitor: %s", result)
    return result


def janitor_for(settings: Settings) -> Callable[[], Sweep]:
    return lambda: sweep(settings)


def _last_change(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _expire_runs(runs_dir: Path, horizon: float) -> int:
    if not runs_dir.is_dir():
        return 0
    store = RunStore(runs_dir)
    deleted = 0
    for entry in store._run_folders():
        files = RunFiles(entry)
        status = files.status()
        if status is not None and status.is_active:
            continue
        last = max(files.mtime(RunFiles.STATUS) or 0.0, files.mtime(RunFiles.META) or 0.0)
        if last >= horizon:
            continue
        try:
            store.delete_run(entry.name)
            deleted += 1
        except Exception:  # noqa: BLE001 - a run changed meanwhile; the next sweep looks again
            continue
    return deleted


def _expire_files(folder: Path, pattern: str, horizon: float, *, companions: tuple[str, ...] = ()) -> int:
    if not folder.is_dir():
        return 0
    deleted = 0
    for meta in folder.glob(pattern):
        if _last_change(meta) >= horizon:
            continue
        for suffix in companions:
            meta.with_suffix(suffix).unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        deleted += 1
    return deleted


def _remove_orphans(folder: Path, now: float) -> int:
    if not folder.is_dir():
        return 0
    removed = 0
    for root, directories, files in os.walk(folder):
        for name in [*files, *directories]:
            if not _TEMPORARY.match(name):
                continue
            path = Path(root) / name
            if now - _last_change(path) < ORPHAN_AGE_S and not name.startswith(".deleted-"):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                directories[:] = [d for d in directories if d != name]
            else:
                path.unlink(missing_ok=True)
            removed += 1
    return removed


def _remove_old_temporary_folders(now: float) -> int:
    removed = 0
    root = Path(tempfile.gettempdir())
    try:
        entries = list(root.glob("layerlab-*"))
    except OSError:
        return 0
    for entry in entries:
        if entry.is_dir() and now - _last_change(entry) > ORPHAN_AGE_S:
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed
