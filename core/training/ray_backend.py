"""The second job backend: training runs as Ray tasks on a cluster (`LAYERLAB_RAY_ADDRESS`).

What stays exactly as with local worker processes (`core.training.jobs.JobManager`, which this class extends):
the fair queue between owners, the shared-mode quotas, queue positions, Stop (a file in the run's folder that
the run reads after each step), live progress (the run writes its history to its folder), and liveness (the run
touches a heartbeat file). All of that goes through the run store, so the cluster's nodes and the web server
must see the same `LAYERLAB_HOME` (a shared filesystem path; docs/SCALE.md).

What changes: instead of keeping warm worker processes here, each run becomes one Ray task with declared
resources (CPUs, GPUs, memory), so the cluster places it on a node with room. `max_calls` is
`LAYERLAB_WORKER_RUNS`, 1 by default and always in shared mode: each run gets a fresh worker process, as locally
(nothing of one visitor's run leaks into the next); `max_retries=0`, because a
run that died with its node must say so, not silently start again from its first epoch. A task that ends with
an error from Ray itself (its node or worker died) settles its run as failed with a message saying so.

The web server imports `ray` (the client) but never Keras: the task's body imports the training code on the
node. Ray is an optional extra (`pip install .[ray]`); it is imported only when the backend is chosen.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.config import Settings, load_settings
from core.errors import AppError
from core.failures import OUT_OF_MEMORY, PROCESS_ENDED, Failure
from core.i18n import Message, t
from core.run_store import PENDING_HOST, RunStore
from core.runtime.lifetime import process_memory_mb
from core.training.jobs import MEMORY_CHECK_S, JobManager, between_runs, share_accelerators, stop_after
from core.training.run_job import run_job

_LOG = logging.getLogger("layerlab")
CAPACITY_CHECK_S = 5.0
PENDING_BEAT_S = 2.0
# Settings the server was started with that a run reads on its node (limits, shared mode, MLflow, language).
_FORWARDED_PREFIXES = ("LAYERLAB_", "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")


def run_on_node(runs_root: str, run_id: str, env: dict[str, str]) -> dict:
    """The body of a Ray task: train one run on whichever node Ray placed it, with the server's settings."""
    os.environ.update(env)  # the server's settings: load_settings reads them below
    store = RunStore(Path(runs_root))
    settings = load_settings()
    if 0 < settings.ray_gpus_per_run < 1:  # several runs share each GPU of the node
        share_accelerators(1 / settings.ray_gpus_per_run)
    if settings.shared:
        stop_after(store, run_id, settings.max_run_minutes * 60.0)
    done = threading.Event()
    if settings.worker_memory_mb:
        _watch_memory(store, run_id, settings.worker_memory_mb, done)
    where = {"host": socket.gethostname(), "pid": os.getpid()}
    try:
        run_job(store, run_id)
    except Exception:  # noqa: BLE001 - run_job has recorded the failure in the run's folder already
        return {**where, "ok": False}
    finally:
        done.set()
        if settings.worker_runs > 1:
            between_runs()  # this Ray worker may train the next run (max_calls = LAYERLAB_WORKER_RUNS)
    return {**where, "ok": True}


def _watch_memory(store: RunStore, run_id: str, limit_mb: int, done: threading.Event) -> None:
    """The memory limit of a local worker, kept on the node: Ray's `memory` only reserves room when it places a
    task, so the task itself watches its resident memory until `done`, and over the limit fails its run with the
    same message as a local worker and leaves."""

    def watch() -> None:
        while not done.wait(MEMORY_CHECK_S):
            used = process_memory_mb(os.getpid())
            if used is not None and used > limit_mb and not done.is_set():
                detail = f"ray task pid {os.getpid()} at {used:.0f} MB"
                failure = Failure(OUT_OF_MEMORY, "training.out_of_memory", {"limit_mb": limit_mb}, detail)
                store.fail(run_id, failure, finished_at=time.time(), error="worker_ended")
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="layerlab-memory").start()


@dataclass
class _Task:
    """One run in flight on the cluster (`_workers` holds these, as it holds processes locally)."""

    ref: object  # ray.ObjectRef
    run_id: str
    owner: str | None
    started_at: float = field(default_factory=time.monotonic)
    started: bool = False  # the run's own process has written its status (and beats its heartbeat)


class RayJobManager(JobManager):
    """`JobManager` whose runs are Ray tasks (see the module docstring).

    Args:
        store: where runs live; a path every node of the cluster sees.
        address: the cluster (`ray://host:10001`, `host:6379` or `auto`).
        cpus_per_run, gpus_per_run, memory_mb_per_run: the resources each run declares, so Ray places it.
        resources: custom resources each run also declares (e.g. `{"layerlab": 1}` to train only on the nodes
            an operator started with that resource).
        worker_runs: runs one Ray worker process trains before it exits (Ray's `max_calls`); None: the
            settings' `LAYERLAB_WORKER_RUNS` (1, a fresh process per run; always 1 in shared mode).
        max_jobs: runs in flight at once; None: as many as the cluster's free resources hold (checked every
            few seconds, so nodes that join or leave change it).
        Other arguments as `JobManager`.
    """

    def __init__(
        self,
        store: RunStore,
        *,
        address: str,
        cpus_per_run: float = 1.0,
        gpus_per_run: float = 0.0,
        memory_mb_per_run: int = 0,
        resources: dict[str, float] | None = None,
        worker_runs: int | None = None,
        max_jobs: int | None = None,
        max_running_per_owner: int | None = None,
        max_queued_per_owner: int | None = None,
        janitor=None,
    ):
        self.address = address
        self.cpus_per_run = cpus_per_run
        self.gpus_per_run = gpus_per_run
        self.memory_mb_per_run = memory_mb_per_run
        self._fixed_max_jobs = max_jobs
        self._next_capacity_check = 0.0
        self._next_pending_beat = 0.0
        self._ray = _connect(address)
        self.resources = dict(resources or {})
        worker_runs = load_settings().worker_runs if worker_runs is None else worker_runs
        options = {"num_cpus": cpus_per_run, "num_gpus": gpus_per_run, "max_retries": 0, "max_calls": worker_runs}
        if memory_mb_per_run:
            options["memory"] = memory_mb_per_run * 1024 * 1024
        if self.resources:
            options["resources"] = self.resources
        self._remote = self._ray.remote(**options)(run_on_node)
        super().__init__(
            store,
            max_jobs=max_jobs or self._capacity(),
            max_running_per_owner=max_running_per_owner,
            max_queued_per_owner=max_queued_per_owner,
            janitor=janitor,
            warm_workers=0,
        )

    backend = "ray"

    # -- what differs from local processes ---------------------------------------------------------------
    def _fill_pool(self) -> None:
        """Nothing to keep warm here: Ray starts a worker on the node it chooses."""

    def _check_memory(self) -> None:
        """Memory is watched on the node, by the task itself (`_watch_memory`); here the slots follow the cluster's
        size, every `CAPACITY_CHECK_S`, unless `max_jobs` was given."""
        if self._fixed_max_jobs is None and time.monotonic() >= self._next_capacity_check:
            self._next_capacity_check = time.monotonic() + CAPACITY_CHECK_S
            try:
                self.max_jobs = self._capacity()
            except Exception:  # noqa: BLE001 - the cluster may be restarting; keep the last known capacity
                _LOG.warning("layerlab: could not read the Ray cluster's resources; keeping %d slots", self.max_jobs)

    def _capacity(self) -> int:
        """Runs the cluster holds at once with the declared resources (at least 1, so work waits, not fails)."""
        total = self._ray.cluster_resources()
        fits = [int(total.get("CPU", 0) // self.cpus_per_run)] if self.cpus_per_run else []
        if self.gpus_per_run:
            fits.append(int(total.get("GPU", 0) // self.gpus_per_run))
        fits += [int(total.get(name, 0) // amount) for name, amount in self.resources.items() if amount]
        return max(1, min(fits) if fits else 1)

    def _dispatch(self) -> None:
        busy = len(self._workers)
        while busy < self.max_jobs:
            chosen = self._next_run()
            if chosen is None:
                return
            run_id, owner = chosen
            try:
                state = self.store.status(run_id).state
            except Exception:  # noqa: BLE001 - deleted or expired while waiting
                continue
            if state != "queued":
                continue  # stopped while waiting
            # host "ray": placed on the cluster, not yet started; its liveness is the heartbeat, which this manager
            # touches until the run's own process takes over (`_keep_pending_alive`).
            self.store.set_status(
                run_id, "running", Message("train.status.starting"), pid=None, host=PENDING_HOST, backend="ray"
            )
            self.store.files(run_id).touch_heartbeat()
            env = {key: value for key, value in os.environ.items() if key.startswith(_FORWARDED_PREFIXES)}
            ref = self._remote.options(name=f"layerlab-run-{run_id}").remote(
                str(self.store.root.resolve()), run_id, env
            )
            self._workers.append(_Task(ref=ref, run_id=run_id, owner=owner))
            busy += 1

    def _keep_pending_alive(self) -> None:
        """A task waits for a worker on its node (and for Keras to load) before the run writes its own heartbeat."""
        if time.monotonic() < self._next_pending_beat:
            return
        self._next_pending_beat = time.monotonic() + PENDING_BEAT_S
        for task in self._workers:
            if task.started:
                continue
            try:
                task.started = self.store.status(task.run_id).extra.get("host") != PENDING_HOST
                if not task.started:
                    self.store.files(task.run_id).touch_heartbeat()
            except Exception:  # noqa: BLE001 - deleted meanwhile; its task ends on its own
                task.started = True

    def _reap(self) -> None:
        if not self._workers:
            return
        self._keep_pending_alive()
        refs = [task.ref for task in self._workers]
        done, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        if not done:
            return
        finished = {id(ref) for ref in done}
        alive = []
        for task in self._workers:
            if id(task.ref) not in finished:
                alive.append(task)
                continue
            try:
                self._ray.get(task.ref, timeout=0)
            except Exception as error:  # noqa: BLE001 - Ray's own failure: the node or the worker died
                self._settle_task(task, error)
        self._workers = alive

    def _settle_task(self, task: _Task, error: BaseException) -> None:
        if task.run_id in (other.run_id for other in self._workers if other is not task):
            return  # continued meanwhile in another task
        status = self.store.status(task.run_id)
        if status.state not in ("running", "queued") or self._is_waiting(task.run_id):
            return
        detail = f"ray task failed: {type(error).__name__}: {str(error)[:500]}"
        if type(error).__name__ == "OutOfMemoryError":  # Ray's memory monitor killed it: its node ran out
            failure = Failure(OUT_OF_MEMORY, "training.killed", {}, detail)
        else:
            failure = Failure(PROCESS_ENDED, "training.node_lost", {}, detail)
        self.store.fail(task.run_id, failure, finished_at=time.time(), error="worker_ended")

    def _is_waiting(self, run_id: str) -> bool:
        return any(run_id in queue for queue in self._queues.values())

    def _running(self, owner: str | None) -> int:
        return sum(1 for task in self._workers if task.owner == owner)

    def active_jobs(self) -> int:
        with self._lock:
            return len(self._workers)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel the tasks in flight (their runs fail as after a server restart); the cluster stays up."""
        with self._lock:
            self._closed = True
        self._thread.join(timeout=timeout)
        with self._lock:
            for task in self._workers:
                try:
                    self._ray.cancel(task.ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or its node is gone
                    pass
                self._settle_task(task, RuntimeError("server shutdown"))
            self._workers = []


def _connect(address: str):
    """Ray, connected to `address` once per process."""
    try:
        import ray  # optional extra [ray]: imported only by a server or command that chose the Ray backend
    except ImportError:
        raise AppError(t("train.ray.not_installed")) from None
    if not ray.is_initialized():
        try:
            ray.init(
                address=address,
                namespace="layerlab",
                log_to_driver=False,
                logging_level=logging.WARNING,
                configure_logging=False,
            )
        except Exception as error:  # noqa: BLE001 - ConnectionError and Ray's own errors alike
            raise AppError(t("train.ray.no_cluster", address=address, reason=str(error)[:300])) from None
    return ray


def ray_manager(settings: Settings, store: RunStore, *, janitor=None) -> RayJobManager:
    """The Ray job manager for `settings` (address and per-run resources from the environment)."""
    shared = settings.shared
    return RayJobManager(
        store,
        address=settings.ray_address,
        cpus_per_run=settings.ray_cpus_per_run,
        gpus_per_run=settings.ray_gpus_per_run,
        memory_mb_per_run=settings.worker_memory_mb,
        max_jobs=settings.ray_max_jobs or None,
        max_running_per_owner=settings.max_running_per_session if shared else None,
        max_queued_per_owner=settings.max_queued_per_session if shared else None,
        janitor=janitor,
    )
