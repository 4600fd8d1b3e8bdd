"""Typed failure records: what went wrong in a worker or a child process, as data rather than stderr text.

A `Failure` names a stable, dotted `message_id` (e.g. "training.out_of_memory") and its `params`; the sentence a
visitor reads is derived from those when it is shown (`Failure.sentence()`, in the current language: core/i18n.py).
`detail` is for the server's log (a traceback, an exit code, an incident id's context) and is never shown to
visitors. Runs keep their failure in status.json (`RunStatus.failure`); child processes write one to the file
named by `FAILURE_FILE_ENV` (`core.runtime.child`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from core.i18n import Message, message_ids

# Kinds: who can act on it.
USER_ERROR = "user_error"  # an AppError: the visitor can fix the input or the settings
INTERNAL = "internal"  # a bug or an unexpected library failure: an incident id for the operator
OUT_OF_MEMORY = "out_of_memory"
PROCESS_ENDED = "process_ended"  # the process died (killed, crashed) without saying why
KINDS = frozenset({USER_ERROR, INTERNAL, OUT_OF_MEMORY, PROCESS_ENDED})

# The environment variable that tells a child process where to write its failure record (JSON).
FAILURE_FILE_ENV = "LAYERLAB_FAILURE_FILE"

# The sentences live in the message catalogs (core/locale/*/LC_MESSAGES/core.po, ids "app.*", "training.*" and
# "helper.*"); params fill their braces. "app.error"'s `{text}` carries an AppError's own sentence.


@dataclass(frozen=True, slots=True)
class Failure:
    kind: str
    message_id: str
    params: dict = field(default_factory=dict)
    detail: str = ""  # for the server's log only

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Failure kind must be one of {sorted(KINDS)}; received {self.kind!r}.")
        if self.message_id not in message_ids():
            raise ValueError(f"Unknown failure message id {self.message_id!r}; add it to core/locale/*/core.po.")

    def sentence(self) -> str:
        """The visitor-facing sentence in the current language, derived from the id and the params."""
        return self.message().render()

    def message(self) -> Message:
        """The id and params as a Message; a param stored as {"id", "params"} is a nested message."""
        return Message.from_dict({"id": self.message_id, "params": dict(self.params)})

    def to_dict(self) -> dict:
        return {"kind": self.kind, "message_id": self.message_id, "params": dict(self.params), "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict | None) -> Failure | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                kind=str(data["kind"]),
                message_id=str(data["message_id"]),
                params=dict(data.get("params") or {}),
                detail=str(data.get("detail") or ""),
            )
        except (KeyError, TypeError, ValueError):
            return None


def user_error(text: str, *, detail: str = "") -> Failure:
    """An AppError's message as a failure. A message made by `core.i18n.t` is kept as its id and parameters, so
    the run reads in the language of whoever opens it; other text is kept as it is."""
    ref = getattr(text, "ref", None)
    if isinstance(ref, Message):
        stored = ref.to_dict()
        try:
            json.dumps(stored)
        except (TypeError, ValueError):  # a parameter that is not JSON (a path, an array): keep the sentence
            stored = None
        if stored is not None:
            return Failure(USER_ERROR, "app.error", {"text": stored}, detail)
    return Failure(USER_ERROR, "app.error", {"text": str(text)}, detail)


def internal_error(what_failed: str | Message, incident_id: str, *, advice: str | Message, detail: str = "") -> Failure:
    """`what_failed` and `advice` are best Messages (kept as {"id", "params"}, read in the visitor's language)."""
    params = {
        "what_failed": what_failed.to_dict() if isinstance(what_failed, Message) else what_failed,
        "incident_id": incident_id,
        "advice": advice.to_dict() if isinstance(advice, Message) else advice,
    }
    return Failure(INTERNAL, "app.internal_error", params, detail)


def write_failure_file(failure: Failure, path: str | os.PathLike | None = None) -> bool:
    """Write `failure` to the file the parent named in `FAILURE_FILE_ENV` (or `path`); False when none was named.

    The parent creates the file's folder; this is a plain write because only the parent reads it, after the
    child has exited."""
    target = path or os.environ.get(FAILURE_FILE_ENV)
    if not target:
        return False
    with open(target, "w", encoding="utf-8") as stream:
        json.dump(failure.to_dict(), stream, ensure_ascii=False)
    return True


def read_failure_file(path: str | os.PathLike) -> Failure | None:
    try:
        with open(path, encoding="utf-8") as stream:
            return Failure.from_dict(json.load(stream))
    except (OSError, ValueError):
        return None
