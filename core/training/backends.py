"""The job backend of this server process: local worker processes (`core.training.jobs.JobManager`, the default)
or Ray tasks on a cluster (`core.training.ray_backend.RayJobManager`, when `LAYERLAB_RAY_ADDRESS` is set).
Importing this module does not import Ray: the Ray backend loads it only when it connects."""

from __future__ import annotations

import threading

from core.config import Settings
from core.run_store import RunStore
from core.shared_mode.janitor import janitor_for
from core.training.jobs import JobBackend, JobManager
from core.training.ray_backend import ray_manager

_MANAGERS: dict[str, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def job_manager_for(settings: Settings) -> JobBackend:
    """The one job manager of this process for `settings.runs_dir` (started by server.py at start-up, or on
    first use), with the shared-demo quotas and the janitor when they apply."""
    key = str(settings.runs_dir)
    with _MANAGERS_LOCK:
        manager = _MANAGERS.get(key)
        if manager is None or manager._closed:
            shared = settings.shared
            if settings.ray_address:
                manager = ray_manager(settings, RunStore(settings.runs_dir), janitor=janitor_for(settings))
            else:
                manager = JobManager(
                    RunStore(settings.runs_dir),
                    max_jobs=settings.max_jobs,
                    max_running_per_owner=settings.max_running_per_session if shared else None,
                    max_queued_per_owner=settings.max_queued_per_session if shared else None,
                    worker_memory_mb=settings.worker_memory_mb,
                    janitor=janitor_for(settings),
                    warm_workers=settings.warm_workers,
                )
            _MANAGERS[key] = manager
        # Quotas follow the settings in force (tests and operators may change them without a restart).
        manager.max_running_per_owner = settings.max_running_per_session if settings.shared else None
        manager.max_queued_per_owner = settings.max_queued_per_session if settings.shared else None
        manager.worker_memory_mb = settings.worker_memory_mb
        return manager


def shutdown_managers() -> None:
    with _MANAGERS_LOCK:
        managers = list(_MANAGERS.values())
        _MANAGERS.clear()
    for manager in managers:
        manager.shutdown()
