"""Settings read from environment variables (documented in README.md, "Configuration")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import AppError


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AppError(
            f"The environment variable {name} is {raw!r}, expected a whole number. "
            f"Unset it to use the default ({default})."
        ) from None
    if value < minimum:
        raise AppError(f"The environment variable {name} is {value}, expected at least {minimum}.")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an operator can configure.

    Attributes:
        home: root folder for runs and uploaded tables (`LAYERLAB_HOME`, default `./.layerlab`).
        shared: shared-demo mode (`LAYERLAB_SHARED=1`): each browser session sees only its own runs.
        max_upload_mb: largest table file accepted (`LAYERLAB_MAX_UPLOAD_MB`, default 200).
        max_jobs: training jobs that run at once; more wait in a queue (`LAYERLAB_MAX_JOBS`, default 2).
        max_rows: rows kept from a table (`LAYERLAB_MAX_ROWS`, default 2,000,000).
        max_columns: columns accepted in a table (`LAYERLAB_MAX_COLUMNS`, default 1,000).
        max_cell_chars: longest text cell accepted (`LAYERLAB_MAX_CELL_CHARS`, default 10,000).
        max_params: largest network the Model page's pre-flight card accepts without a warning
            (`LAYERLAB_MAX_PARAMS`, default 20,000,000).
    """

    home: Path
    shared: bool
    max_upload_mb: int
    max_jobs: int
    max_rows: int
    max_columns: int
    max_cell_chars: int
    max_params: int = 20_000_000

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def tables_dir(self) -> Path:
        return self.home / "tables"


def load_settings() -> Settings:
    """Read settings from the environment (called again each time, so tests can change it)."""
    return Settings(
        home=Path(os.environ.get("LAYERLAB_HOME", "./.layerlab")).expanduser().resolve(),
        shared=os.environ.get("LAYERLAB_SHARED", "0").strip().lower() in {"1", "true", "yes", "on"},
        max_upload_mb=_int_env("LAYERLAB_MAX_UPLOAD_MB", 200),
        max_jobs=_int_env("LAYERLAB_MAX_JOBS", 2),
        max_rows=_int_env("LAYERLAB_MAX_ROWS", 2_000_000),
        max_columns=_int_env("LAYERLAB_MAX_COLUMNS", 1_000),
        max_cell_chars=_int_env("LAYERLAB_MAX_CELL_CHARS", 10_000),
        max_params=_int_env("LAYERLAB_MAX_PARAMS", 20_000_000),
    )
