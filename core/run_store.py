"""Runs on disk: `LAYERLAB_HOME/runs/<run_id>/`. The disk is the truth; every file is written atomically.

Ownership: a store opened for an owner (shared-demo mode) answers every access by id through `path()`, the
one place that checks the run's owner. Another session's run is "not found", exactly like one that does not
exist, so a run id is no longer a key to someone else's work.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from core.errors import RunBusyError, RunNotFoundError
from core.spec import RunSpec

ACTIVE_STATES = frozenset({"queued", "running"})
FINAL_STATES = frozenset({"finished", "stopped", "failed"})
# A running job touches its heartbeat every second; this much silence means its process is gone.
HEARTBEAT_TIMEOUT_S = 30.0
DEAD_PROCESS_GRACE_S = 3.0
_RUN_ID = re.compile(r"^[0-9a-f]{24}$")
_NOT_FOUND = "There is no run {run_id!r}. It may have been deleted. Pick a run from the list or start a new one."
# Owners never change once a run exists: remembered per folder so `path()` reads meta.json once per run.
_OWNERS: dict[Path, str | None] = {}


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write to a temporary file in the same folder, then rename over `path`: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(raw)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, payload) -> None:
    write_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False, default=_json_default))


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"Cannot write {type(value).__name__} as JSON")


def read_json(path: Path, default=None):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def elapsed_seconds(status: dict, now: float | None = None) -> float | None:
    """Seconds since the run (or its latest continuation) started, from its status.json.

    The page computes this on every poll, so it ticks while one long step runs; the worker's own count in
    progress.json only moves at batch ends."""
    started = status.get("resumed_at") or status.get("started_at")
    if started is None:
        return None
    return max(0.0, (time.time() if now is None else now) - float(started))


def process_is_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    path: Path
    owner: str | None
    created_at: float
    source_name: str
    state: str
    message: str

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


class RunStore:
    """Creates, lists and reads runs under `root` (normally `Settings.runs_dir`).

    Args:
        root: the runs folder.
        owner: when set (shared-demo mode), only this owner's runs exist for this store: listing, reading,
            writing, stopping and deleting another owner's run raise `RunNotFoundError`. None (single-user
            mode, workers, the command line) sees every run.
        caps: `core.shared_mode.limits.RunCaps` checked by `create_run` before anything is written (shared-demo mode).
    """

    def __init__(self, root: Path, *, owner: str | None = None, caps=None):
        self.root = Path(root)
        self.owner = owner
        self.caps = caps
        self._grace = True
        self.root.mkdir(parents=True, exist_ok=True)

    def create_run(
        self,
        spec: RunSpec,
        table: pd.DataFrame | Path,
        *,
        source_name: str,
        owner: str | None = None,
        reading: dict | None = None,
    ) -> str:
        """A new run folder holding the spec, its data and its meta; state `created`.

        `table` is a frame (its used columns are written) or the path of a stored table's Parquet file, which
        the run references through a hard link instead of a copy (a copy only across file systems); the
        columns the run uses are listed in meta.json. `reading` is how the source file was read
        (`LoadedTable.reading()`: format, encoding, delimiter, decimal mark), kept for the generated script.
        """
        owner = self.owner if self.owner is not None else owner
        if self.caps is not None:
            self.caps.check(spec, table)
        run_id = secrets.token_hex(12)  # 96 random bits: unguessable
        path = self.root / run_id
        path.mkdir(parents=True)
        if isinstance(table, pd.DataFrame):
            available = [str(c) for c in table.columns]
        else:
            available = list(pq.read_schema(table).names)
        columns = list(spec.data.features) or [c for c in available if c != spec.data.target]
        if spec.data.group_column and spec.data.group_column not in columns and spec.data.group_column in available:
            columns.append(spec.data.group_column)  # the split needs it even though it is not an input
        used = [*columns, spec.data.target]
        if isinstance(table, pd.DataFrame):
            subset = table[used]
            write_atomic(path / "data.parquet", to_parquet(subset)[0])
            num_rows = len(subset)
        else:
            _link_or_copy(Path(table), path / "data.parquet")

            num_rows = pq.read_metadata(table).num_rows
        write_atomic(path / "spec.json", spec.to_json())
        write_json(
            path / "meta.json",
            {"run_id": run_id, "owner": owner, "created_at": time.time(), "source_name": source_name,
             "num_rows": num_rows, "columns": used, "reading": reading},
        )  # fmt: skip
        _OWNERS[path] = owner
        self.set_status(run_id, "created", "Waiting to start.")
        return run_id

    def path(self, run_id: str) -> Path:
        """The run's folder, after checking that it exists and, for an owner's store, that it is theirs."""
        if not _RUN_ID.match(run_id or "") or not (self.root / run_id).is_dir():
            raise RunNotFoundError(_NOT_FOUND.format(run_id=run_id))
        path = self.root / run_id
        if self.owner is not None and self._owner_of(path) != self.owner:
            raise RunNotFoundError(_NOT_FOUND.format(run_id=run_id))
        return path

    def _owner_of(self, path: Path) -> str | None:
        if path not in _OWNERS:
            _OWNERS[path] = read_json(path / "meta.json", {}).get("owner")
        return _OWNERS[path]

    def owner_of(self, run_id: str) -> str | None:
        return self._owner_of(self.path(run_id))

    def delete_run(self, run_id: str) -> None:
        """Delete a run that is not training (stop it first); its files go at once."""
        path = self.path(run_id)
        if self.status(run_id).get("state") in ACTIVE_STATES:
            raise RunBusyError(
                "This run is still queued or training. Stop it first, then delete it.",
            )
        _OWNERS.pop(path, None)
        trash = path.with_name(f".deleted-{run_id}-{secrets.token_hex(4)}")
        os.replace(path, trash)  # gone from listings at once; the files follow
        shutil.rmtree(trash, ignore_errors=True)

    def disk_bytes(self, *, owner: str | None) -> int:
        """Bytes the runs of `owner` hold on disk (hard-linked data counted once, as the disk does)."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for entry in self._run_folders():
            if self._owner_of(entry) != owner:
                continue
            total += _folder_bytes(entry, seen)
        return total

    def _run_folders(self) -> list[Path]:
        try:
            entries = list(self.root.iterdir())
        except FileNotFoundError:
            return []
        return [e for e in entries if _RUN_ID.match(e.name) and (e / "meta.json").exists()]

    def spec(self, run_id: str) -> RunSpec:
        return RunSpec.model_validate_json((self.path(run_id) / "spec.json").read_text(encoding="utf-8"))

    def meta(self, run_id: str) -> dict:
        return read_json(self.path(run_id) / "meta.json", {})

    def update_meta(self, run_id: str, **values) -> None:
        """Add facts about how a run came to be (e.g. `coach_fix`); owner, columns and row counts stay."""
        fixed = {"run_id", "owner", "created_at", "num_rows", "columns"}
        if fixed & set(values):
            raise ValueError(f"meta.json keys {sorted(fixed & set(values))} are written once, by create_run.")
        write_json(self.path(run_id) / "meta.json", {**self.meta(run_id), **values})

    def set_status(self, run_id: str, state: str, message: str = "", **extra) -> None:
        path = self.path(run_id) / "status.json"
        status = read_json(path, {})
        status.update(extra)
        status.update({"state": state, "message": message, "updated_at": time.time()})
        write_json(path, status)

    def status(self, run_id: str) -> dict:
        """The run's status; a `running` run whose process is gone is marked failed here, once and for all."""
        path = self.path(run_id)
        status = read_json(path / "status.json", {"state": "failed", "message": "The run's status file is missing."})
        if status.get("state") == "running" and not self._job_alive(path, status):
            message = (
                "The training process ended unexpectedly (the server restarted or the process crashed). "
                "Start the run again from the Train page."
            )
            self.set_status(run_id, "failed", message)
            status = read_json(path / "status.json")
        return status

    def _job_alive(self, path: Path, status: dict) -> bool:
        try:
            beat = (path / "heartbeat").stat().st_mtime
        except FileNotFoundError:
            beat = status.get("updated_at", 0.0)
        age = time.time() - beat
        if age >= HEARTBEAT_TIMEOUT_S:
            return False
        pid = status.get("pid")
        # A process that just died is left to its job manager for a few seconds: it knows why (the memory
        # limit, a kill) and says so; a reader here would only know that it ended.
        grace = self._grace and pid is not None and age < DEAD_PROCESS_GRACE_S
        return grace or process_is_alive(pid)

    def record(self, run_id: str) -> RunRecord:
        meta = self.meta(run_id)
        status = self.status(run_id)
        return RunRecord(
            run_id=run_id,
            path=self.path(run_id),
            owner=meta.get("owner"),
            created_at=meta.get("created_at", 0.0),
            source_name=meta.get("source_name", ""),
            state=status.get("state", "failed"),
            message=status.get("message", ""),
        )

    def list_runs(self) -> list[RunRecord]:
        """Newest first; an owner's store lists only that owner's runs."""
        records = []
        for entry in self._run_folders():
            if self.owner is not None and self._owner_of(entry) != self.owner:
                continue
            try:
                records.append(self.record(entry.name))
            except RunNotFoundError:
                continue  # deleted meanwhile
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    def request_stop(self, run_id: str, *, reason: str = "user") -> None:
        """Ask a training run to stop after its current step; `reason` is "user" or "time_limit"."""
        write_atomic(self.path(run_id) / "stop", reason)

    def stop_requested(self, run_id: str) -> bool:
        return (self.path(run_id) / "stop").exists()

    def stop_reason(self, run_id: str) -> str | None:
        try:
            reason = (self.path(run_id) / "stop").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return reason if reason in {"user", "time_limit"} else "user"

    def progress(self, run_id: str) -> dict:
        return read_json(self.path(run_id) / "progress.json", {})

    def history(self, run_id: str) -> list[dict]:
        return read_json(self.path(run_id) / "history.json", [])

    def metrics(self, run_id: str) -> dict | None:
        return read_json(self.path(run_id) / "metrics.json")

    def predictions(self, run_id: str) -> pd.DataFrame | None:
        path = self.path(run_id) / "predictions.parquet"
        return pd.read_parquet(path) if path.exists() else None

    def table(self, run_id: str) -> pd.DataFrame:
        """The run's rows: the columns it uses (a referenced stored table may hold more)."""

        path = self.path(run_id) / "data.parquet"
        columns = self.meta(run_id).get("columns")
        if columns is not None:
            # A column gone from the file (a hand-edited folder) is left for the run's own checks to name.
            present = set(pq.read_schema(path).names)
            columns = [name for name in columns if name in present]
        return pd.read_parquet(path, columns=columns)

    def target(self, run_id: str) -> dict | None:
        """The run's target (`target.json`: name, task, classes), once training has prepared the data."""
        return read_json(self.path(run_id) / "target.json")

    def preprocessing_json(self, run_id: str) -> str | None:
        """The fitted preprocessing (`preprocessing.json`) as text, for `PreprocessingState.from_json`."""
        path = self.path(run_id) / "preprocessing.json"
        return path.read_text(encoding="utf-8") if path.exists() else None

    def model_path(self, run_id: str) -> Path | None:
        path = self.path(run_id) / "model.keras"
        return path if path.exists() else None

    def reconcile(self) -> list[str]:
        """After a server restart: settle runs whose process is gone; return queued runs to start again.

        No job manager is left to explain a death, so a dead process is settled at once, without the grace."""
        queued = []
        self._grace = False
        try:
            records = self.list_runs()
        finally:
            self._grace = True
        for record in records:
            if record.state == "queued":
                queued.append(record.run_id)
        return sorted(queued, key=lambda run_id: self.meta(run_id).get("created_at", 0.0))


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)


def _folder_bytes(folder: Path, seen: set[tuple[int, int]]) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                info = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            key = (info.st_dev, info.st_ino)
            if key not in seen:
                seen.add(key)
                total += info.st_blocks * 512
    return total


def to_parquet(frame: pd.DataFrame) -> tuple[bytes, pd.DataFrame]:
    """The frame as Parquet bytes, and the frame exactly as stored (what a later read gives back).

    Parquet needs one type per column, so a mixed-type text column (numbers and strings) is stored as text.
    """

    safe = frame.copy()
    for name in safe.columns:
        if safe[name].dtype == object:
            safe[name] = safe[name].map(lambda v: v if v is None or isinstance(v, str) or pd.isna(v) else str(v))
    buffer = io.BytesIO()
    safe.to_parquet(buffer, index=False)
    return buffer.getvalue(), safe
