"""Runs on disk: `LAYERLAB_HOME/runs/<run_id>/`. The disk is the truth; every file is written atomically.

This module is the only code that opens run files: `RunFiles` names every file of a run folder (one constant
each) and reads and writes them, returning typed records (`RunStatus`, `Progress`, `Failure`) where a shape is
fixed. Everything above takes a `RunFiles` (or a run folder, wrapped in one) instead of joining file names.

Status writes are read-modify-write under an exclusive `flock` on the run's `status.lock`, so the worker and the
web server can both update a run's status without losing a field. Listing reads one index
(`runs/index.jsonl`, appended under `runs/index.lock`) and checks each run's status.json by `stat` only: a run is
read again only when its status changed behind the index's back (or is active and needs a liveness check).

Ownership: a store opened for an owner (shared-demo mode) answers every access by id through `path()`, the
one place that checks the run's owner. Another session's run is "not found", exactly like one that does not
exist, so a run id is no longer a key to someone else's work.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from core.errors import RunBusyError, RunNotFoundError
from core.failures import Failure
from core.i18n import LANGUAGES, Message, get_language, message_ids, t, use_language
from core.spec import RunSpec

ACTIVE_STATES = frozenset({"queued", "running"})
FINAL_STATES = frozenset({"finished", "stopped", "failed"})
# A running job touches its heartbeat every second; this much silence means its process is gone.
HEARTBEAT_TIMEOUT_S = 30.0
DEAD_PROCESS_GRACE_S = 3.0
_RUN_ID = re.compile(r"^[0-9a-f]{24}$")
_NOT_FOUND = "train.run.not_found"  # its message id; run_id= fills it
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
    if isinstance(value, Message):
        return value.to_dict()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"Cannot write {type(value).__name__} as JSON")


def _read_bytes(path: Path) -> bytes:
    """Every read of a run file goes through here (tests count the files a listing opens)."""
    return Path(path).read_bytes()


def read_json(path: Path, default=None):
    try:
        return json.loads(_read_bytes(path).decode("utf-8"))
    except FileNotFoundError:
        return default


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if missing) for the duration of the block."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def elapsed_seconds(status: RunStatus, now: float | None = None) -> float | None:
    """Seconds since the run (or its latest continuation) started, from its status.

    The page computes this on every poll, so it ticks while one long step runs; the worker's own count in
    progress.json only moves at batch ends."""
    started = status.resumed_at or status.started_at
    if started is None:
        return None
    return max(0.0, (time.time() if now is None else now) - float(started))


HOST = socket.gethostname()  # a run records where it trains; its pid means something only on that machine
PENDING_HOST = "ray"  # the host of a run placed on a Ray cluster whose process has not started yet


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
class RunStatus:
    """status.json as a record. `extra` holds the other facts a job records (metrics, notes, device, error...)."""

    state: str
    message: str = ""
    updated_at: float = 0.0
    pid: int | None = None
    started_at: float | None = None
    resumed_at: float | None = None
    finished_at: float | None = None
    failure: Failure | None = None
    extra: dict = field(default_factory=dict)
    # The message as its id and params ({"id", "params"}), rendered when shown; `message` keeps its English
    # text for older readers (runs made before messages were stored have only `message`).
    message_ref: dict | None = None

    _FIELDS = (
        "state", "message", "updated_at", "pid", "started_at", "resumed_at", "finished_at", "failure", "message_ref"
    )  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> RunStatus:
        return cls(
            state=str(data.get("state", "failed")),
            message=str(data.get("message", "")),
            updated_at=float(data.get("updated_at") or 0.0),
            pid=data.get("pid"),
            started_at=data.get("started_at"),
            resumed_at=data.get("resumed_at"),
            finished_at=data.get("finished_at"),
            failure=Failure.from_dict(data.get("failure")),
            extra={k: v for k, v in data.items() if k not in cls._FIELDS},
            message_ref=data.get("message_ref") if isinstance(data.get("message_ref"), dict) else None,
        )

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def device(self) -> str | None:
        return self.extra.get("device")

    @property
    def precision(self) -> str | None:
        return self.extra.get("precision")

    @property
    def metrics(self) -> dict:
        """The test metrics a finished run recorded in its status (empty before)."""
        return self.extra.get("metrics") or {}

    @property
    def diverged(self) -> bool:
        return bool(self.extra.get("diverged"))

    def sentence(self) -> str:
        """What a visitor reads about the run: a failure's sentence from its id and params (in the current
        language), else the stored message from its id and params, else the stored `message` (older runs kept
        only that)."""
        return _sentence(self.failure, self.message, self.message_ref)

    @property
    def notes(self) -> list[str]:
        """The run's notes in the current language (stored as messages, or as text by older runs)."""
        return [stored_text(note) for note in self.extra.get("notes") or []]

    def to_dict(self) -> dict:
        data = dict(self.extra)
        for name in self._FIELDS:
            value = getattr(self, name)
            if value is not None:
                data[name] = value.to_dict() if isinstance(value, Failure) else value
        return data


@dataclass(frozen=True, slots=True)
class Progress:
    """progress.json as a record: where a training job is (written at most 4 times a second)."""

    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    steps_per_epoch: int = 0
    fraction: float = 0.0
    elapsed_s: float | None = None
    eta_s: float | None = None
    updated_at: float | None = None
    phase: str = ""  # "cross_validation" while the folds train
    fold: int = 0
    folds: int = 0
    extra: dict = field(default_factory=dict)

    _FIELDS = (
        "epoch",
        "epochs",
        "batch",
        "steps_per_epoch",
        "fraction",
        "elapsed_s",
        "eta_s",
        "updated_at",
        "phase",
        "fold",
        "folds",
    )

    @property
    def started(self) -> bool:
        """Whether the job has written any progress yet."""
        return self.epochs > 0

    @classmethod
    def from_dict(cls, data: dict) -> Progress:
        known = {k: data[k] for k in cls._FIELDS if data.get(k) is not None}
        return cls(**known, extra={k: v for k, v in data.items() if k not in cls._FIELDS})

    def to_dict(self) -> dict:
        return {**{name: getattr(self, name) for name in self._FIELDS}, **self.extra}


class RunFiles:
    """One run folder: the name of every file it holds, and the only code that reads or writes them.

    Consumers get paths only for files a library writes or loads itself (Keras models, Parquet tables,
    export zips); everything else is read and written through the methods here, atomically."""

    SPEC = "spec.json"
    META = "meta.json"
    DATA = "data.parquet"
    PIXELS = "pixels.npy"  # kind images: uint8 (images, side, side, channels), read memory-mapped
    STATUS = "status.json"
    STATUS_LOCK = "status.lock"
    PROGRESS = "progress.json"
    HISTORY = "history.json"
    HEARTBEAT = "heartbeat"
    STOP = "stop"
    LOG = "log.txt"
    METRICS = "metrics.json"
    CROSS_VALIDATION = "cross_validation.json"
    PREDICTIONS = "predictions.parquet"
    TEST_ROWS = "test_rows.parquet"
    TARGET = "target.json"
    PREPROCESSING = "preprocessing.json"
    MODEL = "model.keras"
    NETWORK = "network.keras"
    CHECKPOINT = "checkpoint.keras"
    CHECKPOINT_INFO = "checkpoint.json"
    RESUME = "resume.json"
    SCORE_TEST = "score_test.json"  # a search trial's test scores asked for (core.training.run_job)
    DECISION = "decision.json"
    IMPORTANCE = "importance.json"
    EXPORTS = "exports"
    COMPARISON = "comparison.json"  # inside exports/

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"RunFiles({str(self.folder)!r})"

    # -- generic, by constant name --------------------------------------------------------------------
    def path(self, name: str) -> Path:
        """The path of one of this class's files (for a library that opens it itself: Keras, pandas)."""
        return self.folder / name

    def exists(self, name: str) -> bool:
        return (self.folder / name).is_file()

    def remove(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)

    def read_json(self, name: str, default=None):
        return read_json(self.folder / name, default)

    def write_json(self, name: str, payload) -> None:
        write_json(self.folder / name, payload)

    def read_text(self, name: str) -> str | None:
        try:
            return _read_bytes(self.folder / name).decode("utf-8")
        except FileNotFoundError:
            return None

    def write_text(self, name: str, text: str) -> None:
        write_atomic(self.folder / name, text)

    def write_bytes(self, name: str, data: bytes) -> None:
        write_atomic(self.folder / name, data)

    def append_text(self, name: str, text: str) -> None:
        with open(self.folder / name, "a", encoding="utf-8") as stream:
            stream.write(text)

    def mtime(self, name: str) -> float | None:
        try:
            return (self.folder / name).stat().st_mtime
        except FileNotFoundError:
            return None

    # -- status: read-modify-write under the run's lock -----------------------------------------------
    def status_dict(self) -> dict | None:
        return self.read_json(self.STATUS)

    def status(self) -> RunStatus | None:
        data = self.status_dict()
        return None if data is None else RunStatus.from_dict(data)

    def update_status(
        self, state: str | None = None, message: str | Message | None = None, *, only_if=None, **fields
    ) -> dict:
        """Merge `fields` (and `state`/`message` when given) into status.json under the run's lock; returns it.

        A `Message` is stored as its id and params (`message_ref`, rendered when shown) and its English text
        (`message`); a plain string replaces both. Notes (`notes=`) may hold Messages: stored the same way.

        A `failure` field may be a `Failure`. Two processes updating different fields lose neither update.
        `only_if(current_status)` returning False leaves the file as it is (and returns it)."""
        if isinstance(fields.get("failure"), Failure):
            fields["failure"] = fields["failure"].to_dict()
        if isinstance(fields.get("notes"), (list, tuple)):
            fields["notes"] = [stored_message(note) for note in fields["notes"]]
        try:
            with _flock(self.folder / self.STATUS_LOCK):
                status = self.status_dict() or {}
                if only_if is not None and not only_if(status):
                    return status
                status.update(fields)
                if state is not None:
                    status["state"] = state
                if isinstance(message, Message):
                    status["message"] = english(message)
                    status["message_ref"] = message.to_dict()
                elif message is not None:
                    status["message"] = message
                    status.pop("message_ref", None)
                status["updated_at"] = time.time()
                self.write_json(self.STATUS, status)
        except FileNotFoundError:
            raise RunNotFoundError(t(_NOT_FOUND, run_id=repr(self.folder.name))) from None
        return status

    # -- the job's live files --------------------------------------------------------------------------
    def progress(self) -> Progress:
        return Progress.from_dict(self.read_json(self.PROGRESS, {}) or {})

    def write_progress(self, values: dict) -> None:
        self.write_json(self.PROGRESS, values)

    def history(self) -> list[dict]:
        return self.read_json(self.HISTORY, []) or []

    def write_history(self, rows: list[dict]) -> None:
        self.write_json(self.HISTORY, rows)

    def touch_heartbeat(self) -> None:
        (self.folder / self.HEARTBEAT).touch()

    def heartbeat_at(self) -> float | None:
        return self.mtime(self.HEARTBEAT)

    def request_stop(self, reason: str) -> None:
        write_atomic(self.folder / self.STOP, reason)

    def stop_requested(self) -> bool:
        return (self.folder / self.STOP).exists()

    def stop_reason(self) -> str | None:
        reason = self.read_text(self.STOP)
        if reason is None:
            return None
        reason = reason.strip()
        return reason if reason in {"user", "time_limit", "pruned"} else "user"

    def clear_for_resume(self) -> None:
        """A continued run starts without the old stop request or heartbeat (which would make it look dead)."""
        self.remove(self.STOP)
        self.remove(self.HEARTBEAT)

    # -- results ---------------------------------------------------------------------------------------
    def metrics(self) -> dict | None:
        return self.read_json(self.METRICS)

    def write_metrics(self, metrics: dict) -> None:
        self.write_json(self.METRICS, metrics)

    def target(self) -> dict | None:
        return self.read_json(self.TARGET)

    def preprocessing_text(self) -> str | None:
        return self.read_text(self.PREPROCESSING)

    def preprocessing(self) -> dict | None:
        return self.read_json(self.PREPROCESSING)

    def spec_text(self) -> str | None:
        return self.read_text(self.SPEC)

    def meta(self) -> dict:
        return self.read_json(self.META, {}) or {}

    def read_parquet(self, name: str) -> pd.DataFrame | None:
        path = self.folder / name
        return pd.read_parquet(path) if path.exists() else None

    def predictions(self) -> pd.DataFrame | None:
        return self.read_parquet(self.PREDICTIONS)

    def model_file(self) -> Path | None:
        """The serving model (`model.keras`), or None before training saved it."""
        path = self.folder / self.MODEL
        return path if path.is_file() else None

    def decision(self) -> dict:
        return self.read_json(self.DECISION, {}) or {}

    def importance(self) -> dict | None:
        return self.read_json(self.IMPORTANCE)

    def write_importance(self, payload: dict) -> None:
        self.write_json(self.IMPORTANCE, payload)

    def exports_folder(self) -> Path:
        return self.folder / self.EXPORTS

    def export_path(self, file_name: str) -> Path:
        return self.folder / self.EXPORTS / file_name

    def comparison(self) -> dict | None:
        return read_json(self.folder / self.EXPORTS / self.COMPARISON)

    def write_comparison(self, payload: dict) -> None:
        write_json(self.folder / self.EXPORTS / self.COMPARISON, payload)

    def comparison_path(self) -> Path:
        return self.folder / self.EXPORTS / self.COMPARISON


def run_files(run_dir: Path | str | RunFiles) -> RunFiles:
    """A `RunFiles` for a run folder that already passed `RunStore.path()`'s check (or is one already)."""
    return run_dir if isinstance(run_dir, RunFiles) else RunFiles(run_dir)


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    path: Path
    owner: str | None
    created_at: float
    source_name: str
    state: str
    message: str
    failure: Failure | None = None
    message_ref: dict | None = None
    # What the run history lists (`run_details`): kind, task, layers, main metrics, times, the user's name,
    # note and star. Kept in the index, so listing a thousand runs reads no run's files.
    details: dict = field(default_factory=dict)

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    def sentence(self) -> str:
        """As `RunStatus.sentence`: the failure's sentence from its id, else the stored message."""
        return _sentence(self.failure, self.message, self.message_ref)


def _sentence(failure: Failure | None, message: str, message_ref: dict | None = None) -> str:
    """The one place a run's visitor-facing sentence is chosen: `Failure.sentence()` when there is a record,
    else the stored message rendered in the current language, else the stored text."""
    if failure is not None:
        return failure.sentence()
    if message_ref is not None:
        return stored_text(message_ref, fallback=message)
    return message


def stored_message(value) -> object:
    """What a run file keeps of a sentence: a `Message` (or an object carrying one as `.message`, like a data
    note) as {"id", "params"}; plain text as it is."""
    if isinstance(value, Message):
        return value.to_dict()
    if isinstance(getattr(value, "message", None), Message):
        return value.message.to_dict()
    return value


def stored_text(value, *, fallback: str | None = None) -> str:
    """A sentence kept in a run file, in the current language: a stored {"id", "params"} message rendered
    (an id this version does not know shows `fallback`, or the id); plain text (older runs) as it is."""
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        message = Message.from_dict(value)
        if message.id not in message_ids():
            return fallback if fallback is not None else message.id
        return message.render()
    return str(value)


def run_language(meta: dict) -> str | None:
    """The language the run was started in (meta.json's "language"), for the text a worker cannot keep as a
    message (another module's error sentence); None for older runs."""
    language = meta.get("language")
    return language if language in LANGUAGES else None


def english(message: Message) -> str:
    """A message's English text: what status files keep in `message` next to its id, for older readers."""
    with use_language("en"):
        return message.render()


INDEX_FILE = "index.jsonl"  # in the runs folder: one JSON line per run change, the last line per run wins
INDEX_LOCK = "index.lock"


# What a user may write about a run in meta.json (the History page): kept apart from the facts create_run wrote.
USER_META_KEYS = ("name", "note", "starred")
# meta.json (and metrics.json): a search trial trained without looking at its test rows (core.training.run_job).
TEST_HELD_BACK = "test_held_back"


def run_details(files: RunFiles, meta: dict, status: dict) -> dict:
    """The facts the run history shows, from raw JSON (no spec parsing): read when the index refreshes a run."""
    spec = files.read_json(RunFiles.SPEC, default={}) or {}
    data = spec.get("data") or {}
    metrics = status.get("metrics") or {}
    task = data.get("task")
    if task is None and status.get("state") in {"finished", "stopped"}:
        task = (files.metrics() or {}).get("task")
    return {
        "kind": data.get("kind", "table"),
        "task": task,
        "layers": list((spec.get("model") or {}).get("layers") or []),
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        "started_at": status.get("started_at"),
        "finished_at": status.get("finished_at"),
        "search": meta.get("search"),
        TEST_HELD_BACK: bool(meta.get(TEST_HELD_BACK)),
        **{key: meta.get(key) for key in USER_META_KEYS},
    }


def _stamp(folder: Path) -> list[int] | None:
    """status.json's and meta.json's modification times and sizes (directory metadata, no open): what the
    index checks, so a file changed behind its back (by hand, by an older version) is read again."""
    stamp = []
    for name in (RunFiles.STATUS, RunFiles.META):
        try:
            info = (folder / name).stat()
        except FileNotFoundError:
            return None
        stamp += [info.st_mtime_ns, info.st_size]
    return stamp


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
        pixels: Path | None = None,
        search: str | None = None,
    ) -> str:
        """A new run folder holding the spec, its data and its meta; state `created`.

        `table` is a frame (its used columns are written) or the path of a stored table's Parquet file, which
        the run references through a hard link instead of a copy (a copy only across file systems); the
        columns the run uses are listed in meta.json. `reading` is how the source file was read
        (`LoadedTable.reading()`: format, encoding, delimiter, decimal mark), kept for the generated script.
        `pixels` (kind images): the image set's pixel array, hard-linked like the table.
        `search`: the search whose trial this run is; its test rows are held back until it is chosen.
        """
        owner = self.owner if self.owner is not None else owner
        if self.caps is not None:
            pixels_shape = np.load(pixels, mmap_mode="r").shape if pixels is not None else None
            self.caps.check(spec, table, pixels_shape=pixels_shape)
        run_id = secrets.token_hex(12)  # 96 random bits: unguessable
        path = self.root / run_id
        path.mkdir(parents=True)
        files = RunFiles(path)
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
            files.write_bytes(RunFiles.DATA, to_parquet(subset)[0])
            num_rows = len(subset)
        else:
            _link_or_copy(Path(table), files.path(RunFiles.DATA))

            num_rows = pq.read_metadata(table).num_rows
        if pixels is not None:
            _link_or_copy(Path(pixels), files.path(RunFiles.PIXELS))
        files.write_text(RunFiles.SPEC, spec.to_json())
        files.write_json(
            RunFiles.META,
            {"run_id": run_id, "owner": owner, "created_at": time.time(), "source_name": source_name,
             "num_rows": num_rows, "columns": used, "reading": reading, "language": get_language(),
             **({"search": search, TEST_HELD_BACK: True} if search else {})},
        )  # fmt: skip
        _OWNERS[path] = owner
        self.set_status(run_id, "created", Message("train.status.created"))
        return run_id

    def path(self, run_id: str) -> Path:
        """The run's folder, after checking that it exists and, for an owner's store, that it is theirs."""
        if not _RUN_ID.match(run_id or "") or not (self.root / run_id).is_dir():
            raise RunNotFoundError(t(_NOT_FOUND, run_id=repr(run_id)))
        path = self.root / run_id
        if self.owner is not None and self._owner_of(path) != self.owner:
            raise RunNotFoundError(t(_NOT_FOUND, run_id=repr(run_id)))
        return path

    def files(self, run_id: str) -> RunFiles:
        """The run's files, after `path()`'s check."""
        return RunFiles(self.path(run_id))

    def _owner_of(self, path: Path) -> str | None:
        if path not in _OWNERS:
            _OWNERS[path] = RunFiles(path).meta().get("owner")
        return _OWNERS[path]

    def owner_of(self, run_id: str) -> str | None:
        return self._owner_of(self.path(run_id))

    def delete_run(self, run_id: str) -> None:
        """Delete a run that is not training (stop it first); its files go at once."""
        path = self.path(run_id)
        if self.status(run_id).is_active:
            raise RunBusyError(t("train.run.busy_delete"))
        _OWNERS.pop(path, None)
        trash = path.with_name(f".deleted-{run_id}-{secrets.token_hex(4)}")
        os.replace(path, trash)  # gone from listings at once; the files follow
        self._append_index([{"run_id": run_id, "deleted": True}])
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
        return [e for e in entries if _RUN_ID.match(e.name) and (e / RunFiles.META).exists()]

    def spec(self, run_id: str) -> RunSpec:
        return RunSpec.model_validate_json(self.files(run_id).spec_text() or "")

    def meta(self, run_id: str) -> dict:
        return self.files(run_id).meta()

    def update_meta(self, run_id: str, **values) -> None:
        """Add facts about how a run came to be (e.g. `coach_fix`); owner, columns and row counts stay."""
        fixed = {"run_id", "owner", "created_at", "num_rows", "columns"}
        if fixed & set(values):
            raise ValueError(f"meta.json keys {sorted(fixed & set(values))} are written once, by create_run.")
        files = self.files(run_id)
        meta = {**files.meta(), **values}
        files.write_json(RunFiles.META, meta)
        self._append_index([self._index_line(files, meta=meta)])

    def set_status(self, run_id: str, state: str, message: str | Message = "", **extra) -> None:
        """Set the state and message (and any other fields) under the run's lock; other fields are kept.

        `message` is best a `Message` (shown in the reader's language). `failure` may be a
        `core.failures.Failure`; its sentence is the message when `message` is empty."""
        failure = extra.get("failure")
        if isinstance(failure, Failure) and not message:
            message = english(failure.message())
        self.update_status(run_id, state=state, message=message, **extra)

    def update_status(
        self, run_id: str, *, state: str | None = None, message: str | Message | None = None, **fields
    ) -> None:
        """Merge fields into the run's status under its lock, and note the change in the index."""
        files = self.files(run_id)
        status = files.update_status(state, message, **fields)
        self._append_index([self._index_line(files, status=status)])

    def status(self, run_id: str) -> RunStatus:
        """The run's status; a `running` run whose process is gone is marked failed here, once and for all."""
        return RunStatus.from_dict(self._status_dict(run_id))

    def _status_dict(self, run_id: str) -> dict:
        files = self.files(run_id)
        status = files.status_dict()
        if status is None:
            missing = Message("train.run.status_missing")
            status = {"state": "failed", "message": english(missing), "message_ref": missing.to_dict()}
        if status.get("state") == "running" and not self._job_alive(files, status):
            ended = Failure("process_ended", "training.process_ended", {}, "no heartbeat and no process")
            seen = status.get("updated_at")
            # Only if nobody changed it meanwhile (a job manager with a better reason, a restarted job).
            status = files.update_status(
                "failed",
                english(ended.message()),
                failure=ended.to_dict(),
                only_if=lambda now: now.get("updated_at") == seen,
            )
            self._append_index([self._index_line(files, status=status)])
        return status

    def fail(self, run_id: str, failure: Failure, **extra) -> None:
        """Mark a run failed with a typed failure record; its English sentence goes to `message` as well."""
        self.set_status(run_id, "failed", english(failure.message()), failure=failure, **extra)

    def _job_alive(self, files: RunFiles, status: dict) -> bool:
        beat = files.heartbeat_at()
        if beat is None:
            beat = status.get("updated_at", 0.0)
        age = time.time() - beat
        if age >= HEARTBEAT_TIMEOUT_S:
            return False
        pid = status.get("pid")
        if status.get("host") not in (None, HOST):
            return True  # on another node of a cluster (core/training/ray_backend.py): its heartbeat is the sign
        # A process that just died is left to its job manager for a few seconds: it knows why (the memory
        # limit, a kill) and says so; a reader here would only know that it ended.
        grace = self._grace and pid is not None and age < DEAD_PROCESS_GRACE_S
        return grace or process_is_alive(pid)

    def record(self, run_id: str) -> RunRecord:
        meta = self.meta(run_id)
        status = self.status(run_id)
        files = self.files(run_id)
        return RunRecord(
            details=run_details(files, meta, status.to_dict()),
            run_id=run_id,
            path=self.path(run_id),
            owner=meta.get("owner"),
            created_at=meta.get("created_at", 0.0),
            source_name=meta.get("source_name", ""),
            state=status.state,
            message=status.message,
            failure=status.failure,
            message_ref=status.message_ref,
        )

    # -- the index: listing without reading every run --------------------------------------------------
    def _index_line(self, files: RunFiles, *, status: dict | None = None, meta: dict | None = None) -> dict:
        """One run's index entry; reads meta.json (and status.json when not given)."""
        meta = files.meta() if meta is None else meta
        status = (files.status_dict() or {}) if status is None else status
        return {
            "run_id": files.folder.name,
            "owner": meta.get("owner"),
            "created_at": meta.get("created_at", 0.0),
            "source_name": meta.get("source_name", ""),
            "state": status.get("state", "failed"),
            "message": status.get("message", ""),
            "message_ref": status.get("message_ref"),
            "failure": status.get("failure"),
            "details": run_details(files, meta, status),
            "stamp": _stamp(files.folder),
        }

    def _append_index(self, lines: list[dict]) -> None:
        if not lines:
            return
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        with _flock(self.root / INDEX_LOCK), open(self.root / INDEX_FILE, "a", encoding="utf-8") as stream:
            stream.write(text)

    def _read_index(self) -> tuple[dict[str, dict], int]:
        """The index's entries by run id (the last line per run wins) and its number of lines."""
        try:
            raw = _read_bytes(self.root / INDEX_FILE).decode("utf-8")
        except FileNotFoundError:
            return {}, 0
        entries: dict[str, dict] = {}
        lines = raw.splitlines()
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line being appended right now
            if entry.get("deleted"):
                entries.pop(entry.get("run_id"), None)
            elif isinstance(entry.get("run_id"), str):
                entries[entry["run_id"]] = entry
        return entries, len(lines)

    def _compact_index(self, entries: dict[str, dict]) -> None:
        with _flock(self.root / INDEX_LOCK):
            # Any stale entry left here is caught by its stamp on the next listing and read again.
            current, _ = self._read_index()
            merged = {k: v for k, v in {**current, **entries}.items() if (self.root / k).is_dir()}
            text = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in merged.values())
            write_atomic(self.root / INDEX_FILE, text)

    def list_runs(self) -> list[RunRecord]:
        """Newest first; an owner's store lists only that owner's runs.

        Reads the index once and `stat`s each run's status.json; only runs whose status changed without the
        index knowing are read, and only active runs get a liveness check."""
        entries, lines = self._read_index()
        try:
            names = [name for name in os.listdir(self.root) if _RUN_ID.match(name)]
        except FileNotFoundError:
            return []
        fresh = []
        records = []
        for name in names:
            folder = self.root / name
            entry = entries.get(name)
            if entry is None or entry.get("stamp") != _stamp(folder) or "details" not in entry:
                if not (folder / RunFiles.META).exists():
                    continue  # being created, or not a run
                try:
                    entry = self._index_line(RunFiles(folder))
                except (FileNotFoundError, NotADirectoryError):
                    continue  # deleted meanwhile
                fresh.append(entry)
            _OWNERS.setdefault(folder, entry.get("owner"))
            if self.owner is not None and entry.get("owner") != self.owner:
                continue
            state, message = entry.get("state", "failed"), entry.get("message", "")
            failure = Failure.from_dict(entry.get("failure"))
            message_ref = entry.get("message_ref") if isinstance(entry.get("message_ref"), dict) else None
            if state in ACTIVE_STATES:
                try:
                    status = self.status(name)
                except RunNotFoundError:
                    continue  # deleted meanwhile
                state, message, failure = status.state, status.message, status.failure
                message_ref = status.message_ref
            records.append(
                RunRecord(
                    run_id=name,
                    path=folder,
                    owner=entry.get("owner"),
                    created_at=entry.get("created_at", 0.0),
                    source_name=entry.get("source_name", ""),
                    state=state,
                    message=message,
                    failure=failure,
                    message_ref=message_ref,
                    details=entry.get("details") or {},
                )
            )
        if lines > 2 * len(names) + 64:
            self._compact_index({**entries, **{entry["run_id"]: entry for entry in fresh}})
        else:
            self._append_index(fresh)
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    def request_stop(self, run_id: str, *, reason: str = "user") -> None:
        """Ask a training run to stop after its current step; `reason` is "user", "time_limit" or "pruned" (a
        search stopped a poor trial)."""
        self.files(run_id).request_stop(reason)

    def stop_requested(self, run_id: str) -> bool:
        return self.files(run_id).stop_requested()

    def stop_reason(self, run_id: str) -> str | None:
        return self.files(run_id).stop_reason()

    def progress(self, run_id: str) -> Progress:
        return self.files(run_id).progress()

    def history(self, run_id: str) -> list[dict]:
        return self.files(run_id).history()

    def metrics(self, run_id: str) -> dict | None:
        return self.files(run_id).metrics()

    def predictions(self, run_id: str) -> pd.DataFrame | None:
        return self.files(run_id).predictions()

    def table(self, run_id: str) -> pd.DataFrame:
        """The run's rows: the columns it uses (a referenced stored table may hold more)."""

        path = self.files(run_id).path(RunFiles.DATA)
        columns = self.meta(run_id).get("columns")
        if columns is not None:
            # A column gone from the file (a hand-edited folder) is left for the run's own checks to name.
            present = set(pq.read_schema(path).names)
            columns = [name for name in columns if name in present]
        return pd.read_parquet(path, columns=columns)

    def pixels(self, run_id: str) -> np.ndarray | None:
        """Kind images: the run's pixel array, memory-mapped (a batch is read from disk when it is used)."""
        path = self.files(run_id).path(RunFiles.PIXELS)
        return np.load(path, mmap_mode="r") if path.exists() else None

    def target(self, run_id: str) -> dict | None:
        """The run's target (`target.json`: name, task, classes), once training has prepared the data."""
        return self.files(run_id).target()

    def preprocessing_json(self, run_id: str) -> str | None:
        """The fitted preprocessing (`preprocessing.json`) as text, for `PreprocessingState.from_json`."""
        return self.files(run_id).preprocessing_text()

    def model_path(self, run_id: str) -> Path | None:
        return self.files(run_id).model_file()

    def reconcile(self) -> list[str]:
        """After a server restart: settle runs whose process is gone; return queued runs to start again.

        No job manager is left to explain a death, so a dead process is settled at once, without the grace."""
        self._grace = False
        try:
            records = self.list_runs()
        finally:
            self._grace = True
        queued = [record for record in records if record.state == "queued"]
        return [record.run_id for record in sorted(queued, key=lambda record: record.created_at)]


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
