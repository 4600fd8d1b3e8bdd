"""Run a LayerLab module in a child Python process.

The web server never imports Keras or TensorFlow, and a native crash (a malformed model file can segfault
the TFLite interpreter) or an out-of-memory kill in a child cannot take the server down. Every page action
that needs Keras goes through `run_module`, and every failed child becomes a message through `child_error`.

A child reports a failure it understands as a typed record (`core.failures.Failure`: kind, message id, params,
detail) in the file named by `LAYERLAB_FAILURE_FILE`, which `run_module` sets and reads back into
`result.failure`; `child_error` prefers that record and parses stderr only when the child crashed without one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from core import failures
from core.errors import AppError
from core.failures import FAILURE_FILE_ENV, USER_ERROR, Failure, read_failure_file
from core.i18n import t
from core.incidents import incident_message, record_incident

ROOT = Path(__file__).resolve().parents[2]  # the folder that holds core/: child processes import from it

# Children print an `AppError` as "layerlab: <message>" on stderr (`core.cli.main`, `core.deployment.formats.main`,
# `core.deployment.prediction`); a child that ran out of memory prints OUT_OF_MEMORY after that prefix.
MESSAGE_PREFIX = "layerlab: "
OUT_OF_MEMORY = "out of memory"


def run_module(
    module: str,
    arguments: Sequence[str] = (),
    *,
    timeout: float,
    timeout_message: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """`python -m module arguments...` from the repository root; output captured as text.

    Raises `AppError(timeout_message)` when it runs longer than `timeout` seconds (the child is killed).
    The caller reads `returncode` and `stdout`, and turns a failure into an error with `child_error`; the
    child's typed failure record, if it wrote one, is `result.failure` (else None).
    """
    handle, failure_file = tempfile.mkstemp(prefix="layerlab-failure-", suffix=".json")
    os.close(handle)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {}), "PYTHONPATH": str(ROOT)}
    environment[FAILURE_FILE_ENV] = failure_file
    try:
        result = subprocess.run(
            [sys.executable, "-m", module, *arguments],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
            cwd=ROOT,
        )
        result.failure = read_failure_file(failure_file) if result.returncode != 0 else None
        return result
    except subprocess.TimeoutExpired:
        raise AppError(timeout_message) from None
    finally:
        Path(failure_file).unlink(missing_ok=True)


def failure_error(failure: Failure) -> AppError:
    """The error a visitor sees for a typed failure record: its sentence (derived from the message id and
    params), with the record itself on `error.failure` (its `detail` is for the server's log only)."""
    error = AppError(failure.sentence())
    error.failure = failure
    return error


def child_error(
    result: subprocess.CompletedProcess,
    *,
    action: str,
    memory_advice: str | None = None,
    memory_limit_mb: int | None = None,
) -> AppError:
    """The error a visitor sees for a failed child: our own message, a memory message, or an incident.

    Never the child's raw stderr (TensorFlow logs, tracebacks, server paths): when the child did not end with
    one of our messages, the stderr goes to the server's log under an incident id and the message names the id.

    Args:
        result: what `run_module` returned.
        action: what the child did, as the start of a sentence (e.g. "Predicting").
        memory_advice: what to try when it ran out of memory ("Try fewer rows at a time or a smaller model."
            when not given).
        memory_limit_mb: the memory limit the child ran under, if it had one.

    Example:

        result = run_module("core.deployment.threshold", [str(run_dir)], timeout=60, timeout_message="...")
        if result.returncode != 0:
            raise child_error(result, action="Rebuilding the model")
    """
    if memory_advice is None:
        memory_advice = t("train.runtime.memory_advice")
    failure = getattr(result, "failure", None)
    if isinstance(failure, Failure) and failure.kind == USER_ERROR:
        return failure_error(failure)
    if isinstance(failure, Failure) and failure.kind == failures.OUT_OF_MEMORY:
        limit = t("train.runtime.memory_limit", limit_mb=memory_limit_mb) if memory_limit_mb else ""
        params = {"action": action, "limit": limit, "advice": memory_advice}
        return failure_error(Failure(failures.OUT_OF_MEMORY, "app.out_of_memory", params, failure.detail))
    # No record: the child crashed (a signal, an uncaught exception) or is an older one; read its stderr.
    lines = [line.strip() for line in (result.stderr or "").splitlines() if line.strip()]
    ours = [line.removeprefix(MESSAGE_PREFIX) for line in lines if line.startswith(MESSAGE_PREFIX)]
    ours = [line for line in ours if not line.startswith("warning:")]
    last = lines[-1] if lines else ""
    # -9 is SIGKILL: what the kernel's out-of-memory killer (or a container's limit) sends.
    out_of_memory = result.returncode == -9 or (ours and ours[-1].startswith(OUT_OF_MEMORY))
    out_of_memory = out_of_memory or last.startswith("MemoryError")
    # Under an address-space limit (RLIMIT_AS) a failed allocation in native code often ends the child with
    # SIGSEGV or SIGABRT and nothing on stderr: with a limit set, that is reported as running out of memory,
    # and the server's log still gets an incident in case it was a real crash.
    crashed_under_limit = bool(memory_limit_mb) and result.returncode in (-6, -11) and not ours
    if out_of_memory or crashed_under_limit:
        if crashed_under_limit:
            record_incident(
                f"child process ({action}) ended by signal {-result.returncode} under a {memory_limit_mb} MB limit",
                f"stderr:\n{result.stderr or '(empty)'}",
            )
        limit = t("train.runtime.memory_limit", limit_mb=memory_limit_mb) if memory_limit_mb else ""
        return AppError(t("app.out_of_memory", action=action, limit=limit, advice=memory_advice))
    # Exit code 2 is our user-error exit; TensorFlow may still log a line after the message on its way out.
    if ours and (last == MESSAGE_PREFIX + ours[-1] or result.returncode == 2):
        return AppError(ours[-1])
    command = " ".join(str(part) for part in result.args) if isinstance(result.args, list) else str(result.args)
    incident_id = record_incident(
        f"child process ({action})",
        f"command: {command}\nexit code: {result.returncode}\nstderr:\n{result.stderr or '(empty)'}",
    )
    return AppError(incident_message(action, incident_id))
