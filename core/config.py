"""Settings read from environment variables (documented in README.md, "Configuration")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import AppError
from core.i18n import t


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AppError(t("deploy.config.not_a_number", name=name, raw=repr(raw), default=default)) from None
    if value < minimum:
        raise AppError(t("deploy.config.too_small", name=name, value=value, minimum=minimum))
    return value


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise AppError(t("deploy.config.not_a_number", name=name, raw=repr(raw), default=default)) from None
    if not value >= 0:  # also refuses nan
        raise AppError(t("deploy.config.too_small", name=name, value=value, minimum=0))
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an operator can configure.

    Attributes:
        home: root folder for runs and uploaded tables (`LAYERLAB_HOME`, default `./.layerlab`).
        shared: shared-demo mode (`LAYERLAB_SHARED=1`): each browser session sees only its own runs.
        max_upload_mb: largest table file accepted (`LAYERLAB_MAX_UPLOAD_MB`, default 200).
        max_jobs: training jobs that run at once; more wait in a queue (`LAYERLAB_MAX_JOBS`, default 2).
        warm_workers: free slots kept warm by a worker that has already imported Keras, about 800 MiB each
            (`LAYERLAB_WARM_WORKERS`, default `max_jobs`; 0: a worker starts when a run is queued, about 4 s).
        worker_runs: runs one worker process trains before it exits (`LAYERLAB_WORKER_RUNS`, default 1: a fresh
            process per run). More saves the Keras import (about 4 s of CPU) per run on a single-user machine;
            shared mode always uses 1, so nothing of one visitor's run stays in the process of the next.
        max_rows: rows kept from a table (`LAYERLAB_MAX_ROWS`, default 2,000,000).
        max_columns: columns accepted in a table (`LAYERLAB_MAX_COLUMNS`, default 1,000).
        max_cell_chars: longest text cell accepted (`LAYERLAB_MAX_CELL_CHARS`, default 10,000).
        max_params: largest network the Model page's pre-flight card accepts without a warning
            (`LAYERLAB_MAX_PARAMS`, default 20,000,000); in shared mode a hard cap on every new run.
        max_epochs: most epochs a run may ask for in shared mode (`LAYERLAB_MAX_EPOCHS`, default 200).
        max_run_minutes: wall time after which a shared-mode run is stopped, keeping its best weights
            (`LAYERLAB_MAX_RUN_MINUTES`, default 30).
        max_model_mb: largest model file a run may write (`LAYERLAB_MAX_MODEL_MB`, default 200 in shared mode).
        worker_memory_mb: memory limit of each training worker process (`LAYERLAB_WORKER_MEMORY_MB`, default
            4096 in shared mode, none otherwise).
        max_running_per_session: runs of one session that train at once (`LAYERLAB_MAX_RUNNING_PER_SESSION`, 1).
        max_queued_per_session: runs of one session waiting for a slot (`LAYERLAB_MAX_QUEUED_PER_SESSION`, 2).
        max_tables_per_session: tables one session keeps (`LAYERLAB_MAX_TABLES_PER_SESSION`, default 5).
        max_session_disk_mb: disk one session may use for tables and runs (`LAYERLAB_MAX_SESSION_DISK_MB`,
            default 1024).
        retention_hours: tables, runs and exports of a session are deleted this long after their last use
            (`LAYERLAB_RETENTION_HOURS`; default 24 in shared mode, 0 = never, the single-user default).
        mlflow_tracking_uri: when set, each run is also logged to this MLflow tracking server or store
            (`LAYERLAB_MLFLOW_TRACKING_URI`, e.g. `http://mlflow:5000` or `file:///srv/mlruns`; needs
            `pip install .[mlflow]`), under the experiment `LAYERLAB_MLFLOW_EXPERIMENT` (default "LayerLab").
        ray_address: when set, training runs are Ray tasks on this cluster instead of local worker processes
            (`LAYERLAB_RAY_ADDRESS`, e.g. `ray://head:10001` or `auto`; needs `pip install .[ray]` and a
            `LAYERLAB_HOME` that every node sees; docs/SCALE.md).
        ray_cpus_per_run, ray_gpus_per_run: what each run declares to Ray (`LAYERLAB_RAY_CPUS_PER_RUN`, default
            1; `LAYERLAB_RAY_GPUS_PER_RUN`, default 0); its memory is `worker_memory_mb`.
        ray_max_jobs: runs in flight on the cluster at once (`LAYERLAB_RAY_MAX_JOBS`; default 0: as many as the
            cluster's CPUs and GPUs hold with the declared resources, followed as nodes join and leave).
        devices_per_run: accelerators one run trains on at once, data-parallel (`LAYERLAB_DEVICES_PER_RUN`;
            default 0: every GPU its process sees; 1: one). `core.runtime.distribution`.
    """

    home: Path
    shared: bool
    max_upload_mb: int
    max_jobs: int
    max_rows: int
    max_columns: int
    max_cell_chars: int
    max_params: int = 20_000_000
    max_epochs: int = 200
    max_run_minutes: int = 30
    max_model_mb: int = 200
    worker_memory_mb: int = 0
    max_running_per_session: int = 1
    max_queued_per_session: int = 2
    max_tables_per_session: int = 5
    max_session_disk_mb: int = 1024
    retention_hours: int = 0
    warm_workers: int | None = None  # None: one per slot
    worker_runs: int = 1
    mlflow_tracking_uri: str = ""
    mlflow_experiment: str = "LayerLab"
    ray_address: str = ""
    ray_cpus_per_run: float = 1.0
    ray_gpus_per_run: float = 0.0
    ray_max_jobs: int = 0
    devices_per_run: int = 0

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def tables_dir(self) -> Path:
        return self.home / "tables"


def load_settings() -> Settings:
    """Read settings from the environment (called again each time, so tests can change it)."""
    shared = os.environ.get("LAYERLAB_SHARED", "0").strip().lower() in {"1", "true", "yes", "on"}
    return Settings(
        home=Path(os.environ.get("LAYERLAB_HOME", "./.layerlab")).expanduser().resolve(),
        shared=shared,
        max_upload_mb=_int_env("LAYERLAB_MAX_UPLOAD_MB", 200),
        max_jobs=_int_env("LAYERLAB_MAX_JOBS", 2),
        max_rows=_int_env("LAYERLAB_MAX_ROWS", 2_000_000),
        warm_workers=_int_env("LAYERLAB_WARM_WORKERS", _int_env("LAYERLAB_MAX_JOBS", 2), minimum=0),
        worker_runs=1 if shared else _int_env("LAYERLAB_WORKER_RUNS", 1),
        max_columns=_int_env("LAYERLAB_MAX_COLUMNS", 1_000),
        max_cell_chars=_int_env("LAYERLAB_MAX_CELL_CHARS", 10_000),
        max_params=_int_env("LAYERLAB_MAX_PARAMS", 20_000_000),
        max_epochs=_int_env("LAYERLAB_MAX_EPOCHS", 200),
        max_run_minutes=_int_env("LAYERLAB_MAX_RUN_MINUTES", 30),
        max_model_mb=_int_env("LAYERLAB_MAX_MODEL_MB", 200 if shared else 100_000),
        worker_memory_mb=_int_env("LAYERLAB_WORKER_MEMORY_MB", 4096 if shared else 0, minimum=0),
        max_running_per_session=_int_env("LAYERLAB_MAX_RUNNING_PER_SESSION", 1),
        max_queued_per_session=_int_env("LAYERLAB_MAX_QUEUED_PER_SESSION", 2, minimum=0),
        max_tables_per_session=_int_env("LAYERLAB_MAX_TABLES_PER_SESSION", 5),
        max_session_disk_mb=_int_env("LAYERLAB_MAX_SESSION_DISK_MB", 1024),
        retention_hours=_int_env("LAYERLAB_RETENTION_HOURS", 24 if shared else 0, minimum=0),
        mlflow_tracking_uri=os.environ.get("LAYERLAB_MLFLOW_TRACKING_URI", "").strip(),
        mlflow_experiment=os.environ.get("LAYERLAB_MLFLOW_EXPERIMENT", "").strip() or "LayerLab",
        ray_address=os.environ.get("LAYERLAB_RAY_ADDRESS", "").strip(),
        ray_cpus_per_run=_float_env("LAYERLAB_RAY_CPUS_PER_RUN", 1.0),
        ray_gpus_per_run=_float_env("LAYERLAB_RAY_GPUS_PER_RUN", 0.0),
        ray_max_jobs=_int_env("LAYERLAB_RAY_MAX_JOBS", 0, minimum=0),
        devices_per_run=_int_env("LAYERLAB_DEVICES_PER_RUN", 0, minimum=0),
    )
