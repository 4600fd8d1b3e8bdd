"""Internal errors, recorded for the operator under a short id the visitor can quote.

A visitor of a shared server must never see tracebacks, TensorFlow logs or server paths: they mean nothing to
them and tell strangers how the server is laid out. `record_incident` writes the details to the server's log
(the "layerlab" logger, which reaches stderr at ERROR even when nobody configured logging) and to
`LAYERLAB_HOME/logs/incidents.log`; the page shows `incident_message`, which names the id.

Example:

    incident_id = record_incident("export of run 3f2a", stderr)
    raise AppError(incident_message("The ONNX export", incident_id))
"""

from __future__ import annotations

import logging
import secrets
import time

from core.config import load_settings
from core.i18n import t

logger = logging.getLogger("layerlab")


def record_incident(context: str, detail: str) -> str:
    """Log `detail` under a new incident id and return the id (8 hex characters).

    Args:
        context: what was running, for the operator (e.g. "training run 3f2a").
        detail: everything the operator needs: a traceback, a child process's stderr.

    Never raises: recording must not replace the error it reports.
    """
    incident_id = secrets.token_hex(4)
    logger.error("incident %s in %s:\n%s", incident_id, context, detail)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %z")
    try:
        folder = load_settings().home / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "incidents.log", "a", encoding="utf-8") as log:
            log.write(f"{stamp} incident {incident_id} in {context}:\n{detail.rstrip()}\n\n")
    except Exception:  # a full disk or a bad LAYERLAB_HOME: the logger above already has it
        logger.exception("incident %s could not be written to incidents.log", incident_id)
    return incident_id


def incident_message(what_failed: str, incident_id: str, *, advice: str | None = None) -> str:
    """The sentence a visitor sees for an internal error: what failed, that it is not their fault, the id.

    Args:
        what_failed: the action, as the start of a sentence (e.g. "Rebuilding the model").
        incident_id: the id `record_incident` returned.
        advice: what the visitor can try ("Try again in a moment." when not given).

    In the current language: the same sentence as the stored `app.internal_error` failure (core.failures)."""
    return t(
        "app.internal_error",
        what_failed=what_failed,
        incident_id=incident_id,
        advice=advice if advice is not None else t("train.incident.try_again"),
    )
