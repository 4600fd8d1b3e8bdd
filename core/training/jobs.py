"""Training jobs in worker processes, outside the web server.

Why processes: Streamlit clears the Keras session and runs a full garbage collection after every script
run, which breaks and slows training in a server thread (see docs/ARCHITECTURE.md). A process also keeps
the server's memory flat, can be given a memory limit, and its crash takes nothing else down.

`JobManager` keeps warm workers (Keras already imported, so the first chart point comes within a couple of
seconds): one for each free slot (up to `warm_workers`), and one spare while runs wait for a slot, so a slot
does not sit idle while a fresh Python imports Keras after each run. No more: each warm worker holds about
800 MiB. Each worker still runs exactly one job and exits, so no state
leaks from one visitor's run into the next.

The queue is fair between owners: runs start round robin over the sessions that have one waiting, so one
visitor who queues many runs cannot push everyone else back. In shared-demo mode each session may have at
most `max_running_per_owner` runs training and `max_queued_per_owner` waiting (`QuotaError` beyond).
"""

from __future__ import annotations

import gc
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

import core.training.run_job  # noqa: F401 - imported now, not after the run id arrives (0.7-6 s under load)
from core.config import load_settings
from core.errors import QuotaError
from core.failures import OUT_OF_MEMORY, PROCESS_ENDED, Failure
from core.i18n import Message, t
from core.run_store import HOST, RunStore
from core.runtime.child import ROOT
from core.runtime.lifetime import die_with_parent, process_memory_mb
from core.shared_mode.limits import check_session_disk
from core.training.run_job import run_job

POLL_INTERVAL_S = 0.1
MEMORY_CHECK_S = 0.5
JANITOR_INTERVAL_S = 600.0
WORKER_NICENESS = 10  # training yields the CPU to the web server, so pages stay responsive under load
_LOG = logging.getLogger("layerlab")


def worker_main(runs_root: str) -> None:
    """Entry point of a worker process (`python -m core.training.jobs RUNS_ROOT`).

    Protocol on the pipes: the worker prints `ready` once Keras is warm, then reads one run id from
    standard input, trains it and exits.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    share_accelerators(load_settings().max_jobs)
    die_with_parent()
    # Keep standard output for the protocol only: whatever a library prints goes to standard error.
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # Warm up at the server's priority, train at a lower one: a spare warming at niceness 10 behind two
    # training runs took longer than a short run, and its slot sat idle until it was ready.
    _warm_up()
    try:
        os.nice(WORKER_NICENESS)
    except OSError:
        pass
    store = RunStore(Path(runs_root))
    settings = load_settings()
    for number in range(1, settings.worker_runs + 1):
        protocol.write("ready\n")  # before the first run: Keras is warm; after one: that run has ended
        protocol.flush()
        run_id = sys.stdin.readline().strip()
        if not run_id:
            _exit_now(0)  # the server went away, or has no more work for this worker
        if settings.shared:
            stop_after(store, run_id, settings.max_run_minutes * 60.0)
        try:
            run_job(store, run_id)
        except BaseException:  # noqa: BLE001 - run_job already recorded the failure in the run directory
            _exit_now(1)
        if number < settings.worker_runs:
            between_runs()
    _exit_now(0)


def share_accelerators(runs_at_once: float) -> None:
    """Let several runs share a GPU: with more than one run at once per GPU (`LAYERLAB_MAX_JOBS` workers on one
    machine, or fractional `LAYERLAB_RAY_GPUS_PER_RUN`), each process takes GPU memory as it needs it instead of
    the backend's default, which gives the first process nearly all of it (jax preallocates 75 %, TensorFlow
    maps the whole card). Measured on an H200 (bench/gpu_two_jobs.py): two jax runs at once finish either way,
    but under preallocation the second one first fails to allocate 50 GiB and retries smaller blocks down to 36
    GiB (out-of-memory lines in the server log), leaving little for a third. An operator's own setting wins.
    Call it before Keras is imported."""
    if runs_at_once > 1:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


def between_runs() -> None:
    """A worker that trains another run (`LAYERLAB_WORKER_RUNS` > 1) drops the last run's graphs and models."""
    import keras  # Keras loads only in workers and helpers, never in the web server (already loaded by the run)

    keras.backend.clear_session()
    gc.collect()


def _exit_now(code: int) -> None:
    """Leave without the interpreter's teardown: unloading TensorFlow took 7-14 s on a busy machine, and the
    slot counts as busy until the worker has exited. Everything the run needs is already on disk."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def stop_after(store: RunStore, run_id: str, seconds: float) -> None:
    """The wall-time cap: after `seconds`, the run stops like a Stop click and keeps its best weights."""

    def stop() -> None:
        try:
            store.request_stop(run_id, reason="time_limit")
        except Exception:  # noqa: BLE001 - the run may be gone; nothing to stop then
            pass

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()


def _warm_up() -> None:
    """Import Keras and trace one tiny fit, so the user's first epoch does not pay for it."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32"), epochs=1, batch_size=4, verbose=0)
    keras.backend.clear_session()


@dataclass
class _Worker:
    process: subprocess.Popen
    started_at: float = field(default_factory=time.monotonic)
    ready: bool = False
    ready_at: float | None = None
    run_id: str | None = None
    owner: str | None = None
    killed_for_memory: float | None = None
    peak_memory_mb: float = 0.0
    settings_key: tuple = ()  # the LAYERLAB_* environment it started with (see `_settings_key`)


class JobBackend(Protocol):
    """What the pages, the command line and a search need from a job backend. Two implement it: `JobManager`
    (local worker processes, the default) and `core.training.ray_backend.RayJobManager` (Ray tasks on a cluster,
    chosen by `LAYERLAB_RAY_ADDRESS`). Both keep the queue, its fairness and the quotas here, in the server; the
    run's state, progress, stop request and heartbeat are files in its folder (the run store)."""

    backend: str  # "local" or "ray"
    max_jobs: int  # runs that train at once (local slots, or what the Ray cluster holds)

    def start(self, store: RunStore, spec, table, *, source_name: str, reading: dict | None = None, pixels=None,
              search: str | None = None) -> str: ...  # fmt: skip
    def submit(self, run_id: str) -> None: ...
    def check_quota(self, owner: str | None) -> None: ...
    def stop(self, run_id: str) -> None: ...
    def queue_position(self, run_id: str) -> int | None: ...
    def active_jobs(self) -> int: ...
    def waiting_jobs(self) -> int: ...
    def shutdown(self, timeout: float = 5.0) -> None: ...


class JobManager:
    """Runs queued training jobs in at most `max_jobs` worker processes at once.

    Args:
        store: where runs live (a store for every owner).
        max_jobs: jobs that train at the same time; the rest wait, round robin between owners.
        max_running_per_owner: runs of one owner that may train at once (None: no limit).
        max_queued_per_owner: runs of one owner that may wait (None: no limit).
        worker_memory_mb: a worker whose resident memory passes this is killed and its run fails with a
            message saying so (0: no limit).
        janitor: called every `JANITOR_INTERVAL_S` on the manager's thread (expiry of old sessions' data).
        warm_workers: free slots kept warm before any run waits (default: every slot); 0 starts a worker
            when a run is queued (its first epoch then waits for Python to import Keras, about 4 s).
    """

    backend = "local"

    def __init__(
        self,
        store: RunStore,
        *,
        max_jobs: int = 2,
        max_running_per_owner: int | None = None,
        max_queued_per_owner: int | None = None,
        worker_memory_mb: int = 0,
        janitor=None,
        warm_workers: int | None = None,
    ):
        self.store = store
        self.max_jobs = max_jobs
        self.warm_workers = max_jobs if warm_workers is None else max(0, warm_workers)
        self.max_running_per_owner = max_running_per_owner
        self.max_queued_per_owner = max_queued_per_owner
        self.worker_memory_mb = worker_memory_mb
        self._janitor = janitor
        self._next_janitor = time.monotonic() + 5.0
        self._lock = threading.RLock()
        self._queues: dict[str | None, deque[str]] = {}
        self._turns: deque[str | None] = deque()  # owners with waiting runs, in the order they get a turn
        self._workers: list[_Worker] = []
        self._closed = False
        self._next_memory_check = 0.0
        self.idle_gaps_s: list[float] = []  # how long a free slot waited for a warm worker while runs queued
        self._slot_free_since: float | None = None
        for run_id in store.reconcile():
            self._enqueue(run_id)
        with self._lock:
            self._fill_pool()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="layerlab-jobs")
        self._thread.start()

    def start(self, store: RunStore, spec, table, *, source_name: str, reading: dict | None = None, pixels=None,
              search: str | None = None) -> str:  # fmt: skip
        """Create a run in `store` (its owner's view, with the caps) and queue it; one call per Train click.

        Everything is checked before anything is written: the owner's quota of runs and of disk
        (`QuotaError`), then the hard caps (`CapError`, in `create_run`).
        """

        owner = store.owner
        with self._lock:
            self.check_quota(owner)
        check_session_disk(load_settings(), owner)
        run_id = store.create_run(spec, table, source_name=source_name, owner=owner, reading=reading, pixels=pixels,
                                  search=search)  # fmt: skip
        try:
            self.submit(run_id)
        except QuotaError:
            store.delete_run(run_id)  # another click got the last place meanwhile
            raise
        return run_id

    def check_quota(self, owner: str | None) -> None:
        """Raise `QuotaError` when `owner` already has the most runs training and waiting."""
        if self.max_queued_per_owner is None or self.max_running_per_owner is None:
            return
        with self._lock:
            running = self._running(owner)
            waiting = len(self._queues.get(owner, ()))
        if running + waiting >= self.max_running_per_owner + self.max_queued_per_owner:
            raise QuotaError(t("train.jobs.quota", running=running, waiting=waiting))

    def submit(self, run_id: str) -> None:
        """Queue a run; raises `QuotaError` when its owner already has the most runs allowed."""
        with self._lock:
            owner = self.store.owner_of(run_id)
            self.check_quota(owner)
            self.store.set_status(run_id, "queued", Message("train.status.queued"))
            self._enqueue(run_id, owner=owner)

    def _enqueue(self, run_id: str, *, owner: str | None = None) -> None:
        with self._lock:
            if owner is None:
                owner = self.store.owner_of(run_id)
            queue = self._queues.setdefault(owner, deque())
            if run_id in queue:
                return
            queue.append(run_id)
            if owner not in self._turns:
                self._turns.append(owner)

    def _running(self, owner: str | None) -> int:
        return sum(1 for worker in self._workers if worker.run_id is not None and worker.owner == owner)

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None when the run is not waiting."""
        with self._lock:
            order = self._planned_order()
        try:
            return order.index(run_id) + 1
        except ValueError:
            return None

    def _planned_order(self) -> list[str]:
        """The order in which the waiting runs will start: one per owner per turn."""
        queues = {owner: list(queue) for owner, queue in self._queues.items()}
        turns = list(self._turns)
        order: list[str] = []
        while turns:
            for owner in list(turns):
                waiting = queues.get(owner)
                if waiting:
                    order.append(waiting.pop(0))
                if not waiting:
                    turns.remove(owner)
        return order

    def stop(self, run_id: str) -> None:
        """Stop a run: a waiting one is taken off the queue; a training one stops after its current step."""
        with self._lock:
            for owner, queue in self._queues.items():
                if run_id in queue:
                    queue.remove(run_id)
                    if not queue and owner in self._turns:
                        self._turns.remove(owner)
                    self.store.set_status(
                        run_id, "stopped", Message("train.status.stopped_before_start"), finished_at=time.time()
                    )
                    return
        self.store.request_stop(run_id)

    def active_jobs(self) -> int:
        with self._lock:
            return sum(1 for worker in self._workers if worker.run_id is not None)

    def waiting_jobs(self) -> int:
        with self._lock:
            return sum(len(queue) for queue in self._queues.values())

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every worker. A run cut off here fails with a message; its checkpoint lets it continue."""
        with self._lock:
            self._closed = True
        self._thread.join(timeout=timeout)
        with self._lock:
            for worker in self._workers:
                if worker.process.poll() is None:
                    worker.process.terminate()
            for worker in self._workers:
                try:
                    worker.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    worker.process.wait()
                if worker.run_id is not None:
                    self._settle(worker, Failure(PROCESS_ENDED, "training.server_shutdown", {}, "server shutdown"))
            self._workers = []

    def _fill_pool(self) -> None:
        """Keep a worker warm (or warming) for each free slot, up to `warm_workers` unless runs wait, plus one
        spare while more runs wait than slots are free."""
        training = sum(1 for worker in self._workers if worker.run_id is not None)
        idle = len(self._workers) - training
        free = max(0, self.max_jobs - training)
        waiting = sum(len(queue) for queue in self._queues.values())
        wanted = min(free, max(self.warm_workers, waiting)) + (1 if waiting > free else 0)
        while not self._closed and idle < wanted:
            # A fresh interpreter, not multiprocessing: under Streamlit, spawn would re-run the app script
            # as the child's __main__. The worker's stderr (library logs, tracebacks) goes to the server log.
            process = subprocess.Popen(
                [sys.executable, "-m", "core.training.jobs", str(self.store.root)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,
                text=True,
                cwd=str(ROOT),
                env={
                    **os.environ,
                    "PYTHONPATH": _python_path(),
                    "TF_CPP_MIN_LOG_LEVEL": "2",
                    "LAYERLAB_SERVER_PID": str(os.getpid()),
                },
            )
            self._workers.append(_Worker(process=process, settings_key=_settings_key()))
            idle += 1

    def _loop(self) -> None:
        while not self._closed:
            try:
                with self._lock:
                    if self._closed:
                        break
                    self._reap()
                    self._fill_pool()
                    self._dispatch()
                    self._check_memory()
                self._run_janitor()
            except Exception:  # noqa: BLE001 - the manager must outlive any one bad run folder
                _LOG.exception("layerlab: the job manager's loop failed once; it goes on")
            time.sleep(POLL_INTERVAL_S)

    def _run_janitor(self) -> None:
        if self._janitor is None or time.monotonic() < self._next_janitor:
            return
        self._next_janitor = time.monotonic() + JANITOR_INTERVAL_S
        try:
            self._janitor()
        except Exception:  # noqa: BLE001 - expiry retries on the next turn
            _LOG.exception("layerlab: the janitor failed; it retries later")

    def _check_memory(self) -> None:
        if not self.worker_memory_mb or time.monotonic() < self._next_memory_check:
            return
        self._next_memory_check = time.monotonic() + MEMORY_CHECK_S
        for worker in self._workers:
            if worker.run_id is None or worker.killed_for_memory is not None:
                continue
            used = process_memory_mb(worker.process.pid)
            if used is None:
                continue
            worker.peak_memory_mb = max(worker.peak_memory_mb, used)
            if used > self.worker_memory_mb:
                worker.killed_for_memory = used
                worker.process.kill()

    def _settle(self, worker: _Worker, failure: Failure) -> None:
        status = self.store.status(worker.run_id)
        # A run continued after this worker finished it is queued again or runs in another worker.
        if status.state == "running" and status.pid in (None, worker.process.pid):
            self.store.fail(worker.run_id, failure, finished_at=time.time(), error="worker_ended")

    def _reap(self) -> None:
        alive = []
        for worker in self._workers:
            if worker.process.poll() is None:
                alive.append(worker)
                continue
            if worker.run_id is not None:
                self._settle(worker, self._ended_failure(worker))
        self._workers = alive

    def _ended_failure(self, worker: _Worker) -> Failure:
        code = worker.process.returncode
        detail = f"worker pid {worker.process.pid} exit code {code}, peak {worker.peak_memory_mb:.0f} MB"
        if worker.killed_for_memory is not None:
            return Failure(OUT_OF_MEMORY, "training.out_of_memory", {"limit_mb": self.worker_memory_mb}, detail)
        if code == -signal.SIGKILL:
            return Failure(OUT_OF_MEMORY, "training.killed", {}, detail)
        return Failure(PROCESS_ENDED, "training.worker_ended", {"code": code}, detail)

    def _next_run(self) -> tuple[str, str | None] | None:
        """The next run to start: round robin over owners, skipping owners at their running limit."""
        for _ in range(len(self._turns)):
            owner = self._turns[0]
            self._turns.rotate(-1)
            queue = self._queues.get(owner)
            if not queue:
                self._turns.remove(owner)
                continue
            if self.max_running_per_owner is not None and self._running(owner) >= self.max_running_per_owner:
                continue
            run_id = queue.popleft()
            if not queue:
                self._turns.remove(owner)
                del self._queues[owner]
            return run_id, owner
        return None

    def _dispatch(self) -> None:
        for worker in self._workers:
            if worker.ready and worker.run_id is None:
                continue
            if select.select([worker.process.stdout], [], [], 0)[0]:
                line = worker.process.stdout.readline().strip()
                if worker.run_id is not None and line == "ready":  # its run ended; it takes another
                    self._settle(worker, Failure(PROCESS_ENDED, "training.process_ended", {}, "run_job returned"))
                    worker.run_id = worker.owner = None
                worker.ready = line == "ready"
                worker.ready_at = time.monotonic()
        busy = sum(1 for worker in self._workers if worker.run_id is not None)
        waiting = any(self._queues.values())
        if busy < self.max_jobs and waiting:
            if self._slot_free_since is None:
                self._slot_free_since = time.monotonic()
        else:
            self._slot_free_since = None
        current = _settings_key()
        for worker in self._workers:
            if busy >= self.max_jobs:
                break
            if not worker.ready or worker.run_id is not None:
                continue
            if worker.settings_key != current:
                # Settings changed since this idle worker started (it read them then): a fresh one takes the run.
                worker.ready = False
                worker.process.terminate()
                continue
            chosen = self._next_run()
            if chosen is None:
                break
            run_id, owner = chosen
            if self._slot_free_since is not None:
                self.idle_gaps_s.append(time.monotonic() - self._slot_free_since)
                self._slot_free_since = None
            try:
                state = self.store.status(run_id).state
            except Exception:  # noqa: BLE001 - deleted or expired while waiting
                continue
            if state != "queued":
                continue  # stopped while waiting
            worker.run_id, worker.owner = run_id, owner
            busy += 1
            self.store.set_status(
                run_id, "running", Message("train.status.starting"), pid=worker.process.pid, host=HOST, backend="local"
            )
            try:
                worker.process.stdin.write(run_id + "\n")
                worker.process.stdin.flush()
            except OSError:
                pass  # the worker died just now; _reap marks the run failed on the next turn


def _settings_key() -> tuple:
    """The environment a worker reads its settings from. A worker that trains several runs
    (`LAYERLAB_WORKER_RUNS`) keeps what it started with, so a change retires it (operators do not change a
    running server's environment; tests do)."""
    return tuple(sorted((key, value) for key, value in os.environ.items() if key.startswith(("LAYERLAB_", "KERAS_"))))


def _python_path() -> str:
    root = str(ROOT)
    existing = os.environ.get("PYTHONPATH")
    return root if not existing else f"{root}{os.pathsep}{existing}"


if __name__ == "__main__":
    worker_main(sys.argv[1])
