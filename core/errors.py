"""Errors a user can cause, with messages that say what happened, what was expected and how to fix it.

Pages catch `AppError` only: anything else is a bug and must surface in tests.
"""

from __future__ import annotations


class AppError(Exception):
    """Base class for every error a user can cause.

    Args:
        message: one or more sentences: what happened, what was expected, how to fix it.
        field: optional name of the spec field or data column the error is about.
    """

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class DataError(AppError):
    """The uploaded table cannot be used as it is (unreadable, empty, wrong target...)."""


class SpecError(AppError):
    """A run specification is invalid (bad field value, contradictory settings)."""


class TrainingError(AppError):
    """Training could not start or could not finish for a reason the user can act on."""


class RunNotFoundError(AppError):
    """A run id does not exist in the run store (or is not visible to this session)."""


class RunBusyError(AppError):
    """The run is queued or training, so it cannot be changed or deleted now."""


class QuotaError(AppError):
    """A session reached one of its quotas (runs waiting, tables kept, disk used) in shared-demo mode."""


class CapError(AppError):
    """A run asks for more than this server's hard caps allow (parameters, epochs, rows, model size)."""


class ModelFileError(AppError):
    """A model file cannot be loaded or used for prediction."""
