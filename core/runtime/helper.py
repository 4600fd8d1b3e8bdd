"""A warm helper process for the page actions that need Keras on models our own training wrote.

Why: a fresh Python for every click pays the TensorFlow import (5–6 s on an idle machine, close to a minute
beside a training run) before doing milliseconds of work. The helper (`python -m core.runtime.helper_server`) imports Keras
once and keeps the last few run models loaded, so predicting a row costs about what it costs in any warm
Python. The web server itself still never imports Keras.

Only models of our runs come here. An uploaded `.keras` file is untrusted and keeps using the fresh,
memory-limited child of `core.deployment.prediction.predict_rows(check=True)`: it never enters a long-lived process.
The helper runs niced, dies with the server (PR_SET_PDEATHSIG), and is killed and started again when a request
runs past its time limit or the process grows past `LAYERLAB_HELPER_MEMORY_MB` of resident memory.

Protocol, one JSON object per line: the helper prints {"ready": true, "pid": ...} once Keras is imported, then
answers each request line with any number of {"progress": fraction, "label": ...} lines and one final line:
{"ok": true, ...}; or {"ok": false, "error_type": "SpecError", "message": ...} for our own errors;
{"ok": false, "out_of_memory": true, ...}; or {"ok": false, "detail": "<traceback>"} for anything else. Every
line after "ready" carries the "id" of the request it answers.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from core import errors
from core.errors import AppError
from core.failures import OUT_OF_MEMORY, PROCESS_ENDED, USER_ERROR, Failure, internal_error
from core.i18n import Message, message_ids, t
from core.incidents import record_incident
from core.runtime.child import ROOT, failure_error
from core.runtime.lifetime import process_memory_mb

MODEL_CACHE_SIZE = 4
MEMORY_MB_DEFAULT = 4096
MEMORY_CHECK_S = 0.25
HELPER_NICENESS = 10


def encode_rows(frame) -> dict:
    """A few rows as JSON-native columns, for the request line: {"names", "kinds", "values"}.

    Cheaper than any binary format for the rows of a click (about 0.2 ms for one row of 13 columns, against
    ~2.5 ms each way for Arrow IPC in base64, which was most of what the helper added to a one-row prediction).
    Text and numbers travel as themselves (missing values as null, NaN as NaN); date-times as nanoseconds since
    1970 in UTC (`kind` "datetime"), so a zone-aware value keeps its instant; any other object as its text, as
    `run_store.to_parquet` stores mixed columns. `model_inputs` reads every column by the model's input type,
    so this keeps what a prediction needs.
    """

    names, kinds, values = [], [], []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            if getattr(column.dt, "tz", None) is not None:
                column = column.dt.tz_convert("UTC").dt.tz_localize(None)
            nanoseconds = column.astype("datetime64[ns]").astype("int64").tolist()
            kinds.append("datetime")
            values.append(
                [None if missing else value for value, missing in zip(nanoseconds, column.isna(), strict=True)]
            )
        else:
            kinds.append("value")
            # `tolist` gives Python numbers for numeric columns (NaN stays NaN): only objects need a look.
            listed = column.tolist()
            plain = type(column.dtype).__module__ == "numpy" and column.dtype.kind in "fiub"  # not pandas' Int64
            values.append(listed if plain else [_json_native(value) for value in listed])
        names.append(str(name))
    return {"names": names, "kinds": kinds, "values": values}


def _json_native(value):

    if value is None or isinstance(value, str | bool | int | float):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
        if isinstance(value, str | bool | int | float):
            return value
    return str(value)


def decode_rows(payload: dict):
    """The frame `encode_rows` sent (the helper's side)."""

    columns = {}
    for name, kind, values in zip(payload["names"], payload["kinds"], payload["values"], strict=True):
        if kind == "datetime":
            columns[name] = pd.to_datetime(pd.Series(values, dtype="Int64"), unit="ns")
        else:
            columns[name] = values  # pandas infers the type (numbers with nulls become float with NaN)
    return pd.DataFrame(columns)


def encode_predictions(predicted, inputs) -> dict:
    """Only the columns `predict_table` added to the rows (the client has the rows): {name: values}."""
    given = set(inputs.columns)
    added = [name for name in predicted.columns if name not in given]
    return {name: [_json_native(value) for value in predicted[name].tolist()] for name in added}


def attach_predictions(frame, columns: dict):
    """`frame` plus the prediction columns `encode_predictions` sent, as `predict_table` returns them (the
    probabilities and a regression's values as float32, the label as text)."""

    result = frame.copy()
    for name, values in columns.items():
        text = name == "prediction" and any(isinstance(value, str) for value in values)
        result[name] = values if text else np.asarray(values, dtype="float32")
    return result


# PR_SET_PDEATHSIG fires when the *thread* that started the child ends, and Streamlit runs each script run in a
# thread of its own: the helper is therefore always started from this one long-lived thread.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="layerlab-helper-spawner")
_EOF = None


def memory_limit_mb() -> int:
    raw = os.environ.get("LAYERLAB_HELPER_MEMORY_MB", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else MEMORY_MB_DEFAULT


class WarmHelper:
    """The server's handle on one helper process: requests one at a time, restarts when needed.

    Args:
        memory_mb: resident memory above which the helper is killed during a request (and restarted by the
            next one); the request fails with a memory message.

    Example:

        answer = warm_helper().request(
            {"action": "predict", "model_path": str(path), "rows": rows, "out": out},
            action="Predicting", timeout=300, timeout_message="Predicting took too long.",
        )
    """

    def __init__(self, *, memory_mb: int | None = None):
        self.memory_mb = memory_mb or memory_limit_mb()
        self.num_starts = 0
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._lines: queue.Queue = queue.Queue()
        self._ready = False
        self._number = 0  # the id of the latest request

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self) -> None:
        """Start the helper now (it imports Keras in the background) unless it runs already."""
        with self._lock:
            self._ensure_started()

    def request(
        self,
        payload: dict,
        *,
        action: str,
        timeout: float,
        timeout_message: str,
        on_progress: Callable[[float, str], None] | None = None,
        memory_advice: str | None = None,
    ) -> dict:
        """Send one request and return the helper's final answer (`{"ok": true, ...}`).

        Raises:
            AppError: our own error from the helper (as its class: `SpecError`, `DataError`, ...); the
                `timeout_message` when it ran longer than `timeout` seconds (start-up included); a memory
                message when the helper outgrew `memory_mb`; an incident message for anything else. Every
                error but our own carries a typed record on `error.failure` (`helper.timeout`, `helper.busy`,
                `helper.out_of_memory`, `app.out_of_memory`, `helper.crashed`, `app.internal_error`).
        """
        if memory_advice is None:
            memory_advice = t("train.runtime.memory_advice")
        deadline = time.monotonic() + timeout
        # One request at a time; a request waiting behind others still keeps to its own time limit.
        if not self._lock.acquire(timeout=timeout):
            detail = f"waited {timeout:g} s for the helper's lock"
            raise failure_error(Failure(USER_ERROR, "helper.busy", {"text": timeout_message}, detail))
        try:
            self._ensure_started()
            try:
                while not self._ready:
                    message = self._next(deadline, action, timeout_message, memory_advice)
                    self._ready = bool(message.get("ready"))
                self._number += 1
                self._process.stdin.write(json.dumps({**payload, "id": self._number}) + "\n")
                self._process.stdin.flush()
            except OSError:
                raise self._ended(action, memory_advice) from None
            while True:
                message = self._next(deadline, action, timeout_message, memory_advice)
                if message.get("id") != self._number:
                    continue  # the rest of an earlier request whose caller stopped listening (a rerun, say)
                if "progress" in message:
                    if on_progress is not None:
                        on_progress(float(message["progress"]), str(message.get("label", "")))
                    continue
                return self._result(message, action, memory_advice)
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _ensure_started(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._stop()
        lines: queue.Queue = queue.Queue()
        environment = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "LAYERLAB_SERVER_PID": str(os.getpid()),
        }
        # A fresh interpreter, not multiprocessing (under Streamlit, spawn would re-run the app script).
        # Standard error (library logs, tracebacks) goes to the server's log, as for training workers.
        process = _SPAWNER.submit(
            subprocess.Popen,
            [sys.executable, "-m", "core.runtime.helper_server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            cwd=str(ROOT),
            env=environment,
        ).result()
        threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
        self._process, self._lines, self._ready = process, lines, False
        self.num_starts += 1

    def _stop(self) -> None:
        process, self._process, self._ready = self._process, None, False
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def _next(self, deadline: float, action: str, timeout_message: str, memory_advice: str) -> dict:
        """The helper's next message, watching the time limit, its memory and whether it still lives."""

        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._stop()
                detail = f"the warm helper ran past its time limit during the request ({action})"
                raise failure_error(Failure(USER_ERROR, "helper.timeout", {"text": timeout_message}, detail))
            try:
                line = self._lines.get(timeout=min(MEMORY_CHECK_S, remaining))
            except queue.Empty:
                used = process_memory_mb(self._process.pid) if self._process is not None else None
                if used is not None and used > self.memory_mb:
                    self._stop()
                    params = {"action": action, "limit_mb": self.memory_mb, "advice": memory_advice}
                    detail = f"the warm helper used {used:.0f} MB of resident memory (limit {self.memory_mb} MB)"
                    raise failure_error(Failure(OUT_OF_MEMORY, "helper.out_of_memory", params, detail)) from None
                continue
            if line is _EOF:
                raise self._ended(action, memory_advice)
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue  # not ours (a library that wrote to the real standard output): skip it

    def _ended(self, action: str, memory_advice: str) -> AppError:
        process = self._process
        code = process.wait() if process is not None else None
        self._stop()
        detail = f"the warm helper process ended (exit code {code}) during the request"
        if code == -signal.SIGKILL:  # what the kernel's out-of-memory killer (or a container's limit) sends
            params = {"action": action, "limit": "", "advice": memory_advice}
            return failure_error(Failure(OUT_OF_MEMORY, "app.out_of_memory", params, detail))
        incident_id = record_incident(f"warm helper ({action})", detail)
        params = {"action": action, "incident_id": incident_id}
        return failure_error(Failure(PROCESS_ENDED, "helper.crashed", params, detail))

    def _result(self, message: dict, action: str, memory_advice: str) -> dict:
        if message.get("ok"):
            return message
        if message.get("error_type"):
            error_class = getattr(errors, message["error_type"], AppError)
            if not (isinstance(error_class, type) and issubclass(error_class, AppError)):
                error_class = AppError
            text = message.get("message", "")
            stored = message.get("message_ref")
            if isinstance(stored, dict) and isinstance(stored.get("id"), str) and stored["id"] in message_ids():
                text = str(Message.from_dict(stored))  # in this request's language, not the helper's
            raise error_class(text)
        if message.get("out_of_memory"):
            self._stop()  # what it allocated may still be held: start clean
            params = {"action": action, "limit": "", "advice": memory_advice}
            detail = "the warm helper reported MemoryError"
            raise failure_error(Failure(OUT_OF_MEMORY, "app.out_of_memory", params, detail))
        details = str(message.get("detail") or "(no detail)")
        incident_id = record_incident(f"warm helper ({action})", details)
        last_line = details.strip().splitlines()[-1] if details.strip() else details
        advice = Message("train.incident.try_again")
        raise failure_error(internal_error(action, incident_id, advice=advice, detail=last_line))


def _read_lines(stream, lines: queue.Queue) -> None:
    try:
        for line in stream:
            lines.put(line)
    except (OSError, ValueError):
        pass
    lines.put(_EOF)


_HELPER: WarmHelper | None = None
_HELPER_LOCK = threading.Lock()


def warm_helper() -> WarmHelper:
    """The one helper of this server process (started on first use, or by server.py at start-up)."""
    global _HELPER
    with _HELPER_LOCK:
        if _HELPER is None:
            _HELPER = WarmHelper()
            atexit.register(_HELPER.close)
        return _HELPER


def shutdown_helper() -> None:
    with _HELPER_LOCK:
        helper = _HELPER
    if helper is not None:
        helper.close()
