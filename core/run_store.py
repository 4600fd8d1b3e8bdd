"""Runs on disk: `LAYERLAB_HOME/runs/<run_id>/`. The disk is the truth; every file is written atomically."""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.errors import RunNotFoundError
from core.spec import RunSpec

ACTIVE_STATES = frozenset({"queued", "running"})
FINAL_STATES = frozenset({"finished", "stopped", "failed"})
# A running job touches its heartbeat every second; this much silence means its process is gone.
HEARTBEAT_TIMEOUT_S = 30.0
_RUN_ID = re.compile(r"^[0-9a-f]{24}$")


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
    """Creates, lists and reads runs under `root` (normally `Settings.runs_dir`)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def create_run(self, spec: RunSpec, table: pd.DataFrame, *, source_name: str, owner: str | None = None) -> str:
        """A new run folder holding the spec and the columns it uses; state `created`."""
        run_id = secrets.token_hex(12)  # 96 random bits: unguessable, so a run id works as a capability
        path = self.root / run_id
        path.mkdir(parents=True)
        columns = list(spec.data.features) or [c for c in table.columns if c != spec.data.target]
        if spec.data.group_column and spec.data.group_column not in columns and spec.data.group_column in table:
            columns.append(spec.data.group_column)  # the split needs it even though it is not an input
        subset = table[[*columns, spec.data.target]]
        write_atomic(path / "data.parquet", to_parquet(subset)[0])
        write_atomic(path / "spec.json", spec.to_json())
        write_json(
            path / "meta.json",
            {"run_id": run_id, "owner": owner, "created_at": time.time(), "source_name": source_name,
             "num_rows": len(subset)},
        )  # fmt: skip
        self.set_status(run_id, "created", "Waiting to start.")
        return run_id

    def path(self, run_id: str) -> Path:
        if not _RUN_ID.match(run_id or "") or not (self.root / run_id).is_dir():
            raise RunNotFoundError(
                f"There is no run {run_id!r}. It may have been deleted. Pick a run from the list or start a new one.",
            )
        return self.root / run_id

    def spec(self, run_id: str) -> RunSpec:
        return RunSpec.model_validate_json((self.path(run_id) / "spec.json").read_text(encoding="utf-8"))

    def meta(self, run_id: str) -> dict:
        return read_json(self.path(run_id) / "meta.json", {})

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
        fresh = time.time() - beat < HEARTBEAT_TIMEOUT_S
        return fresh and process_is_alive(status.get("pid"))

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

    def list_runs(self, *, owner: str | None = None, shared: bool = False) -> list[RunRecord]:
        """Newest first. In shared-demo mode only the runs of `owner` are listed."""
        records = []
        for entry in self.root.iterdir():
            if not _RUN_ID.match(entry.name) or not (entry / "meta.json").exists():
                continue
            record = self.record(entry.name)
            if shared and record.owner != owner:
                continue
            records.append(record)
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    def request_stop(self, run_id: str) -> None:
        write_atomic(self.path(run_id) / "stop", str(time.time()))

    def stop_requested(self, run_id: str) -> bool:
        return (self.root / run_id / "stop").exists()

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
        return pd.read_parquet(self.path(run_id) / "data.parquet")

    def model_path(self, run_id: str) -> Path | None:
        path = self.path(run_id) / "model.keras"
        return path if path.exists() else None

    def reconcile(self) -> list[str]:
        """After a server restart: settle runs whose process is gone; return queued runs to start again."""
        queued = []
        for record in self.list_runs():
            if record.state == "queued":
                queued.append(record.run_id)
        return sorted(queued, key=lambda run_id: self.meta(run_id).get("created_at", 0.0))


def to_parquet(frame: pd.DataFrame) -> tuple[bytes, pd.DataFrame]:
    """The frame as Parquet bytes, and the frame exactly as stored (what a later read gives back).

    Parquet needs one type per column, so a mixed-type text column (numbers and strings) is stored as text.
    """
    import io

    safe = frame.copy()
    for name in safe.columns:
        if safe[name].dtype == object:
            safe[name] = safe[name].map(lambda v: v if v is None or isinstance(v, str) or pd.isna(v) else str(v))
    buffer = io.BytesIO()
    safe.to_parquet(buffer, index=False)
    return buffer.getvalue(), safe
