"""Training jobs in worker processes, outside the web server.

Why processes: Streamlit clears the Keras session and runs a full garbage collection after every script
run, which breaks and slows training in a server thread (see docs/ARCHITECTURE.md). A process also keeps
the server's memory flat and survives nothing a crash could take down.

`JobManager` keeps `max_jobs` warm workers (Keras already imported, so the first chart point comes
within a couple of seconds) and a FIFO queue. Each worker runs exactly one job, then exits and is
replaced, so no state leaks from one user's run into the next.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from core.run_store import RunStore

POLL_INTERVAL_S = 0.1


def worker_main(runs_root: str) -> None:
    """Entry point of a worker process (`python -m core.jobs RUNS_ROOT`).

    Protocol on the pipes: the worker prints `ready` once Keras is warm, then reads one run id from
    standard input, trains it and exits.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Keep standard output for the protocol only: whatever a library prints goes to standard error.
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _warm_up()
    protocol.write("ready\n")
    protocol.flush()
    run_id = sys.stdin.readline().strip()
    if not run_id:
        return  # the server went away before giving us work
    from core.training import run_job

    try:
        run_job(RunStore(Path(runs_root)), run_id)
    except BaseException:  # noqa: BLE001 - run_job already recorded the failure in the run directory
        os._exit(1)


def _warm_up() -> None:
    """Import Keras and trace one tiny fit, so the user's first epoch does not pay for it."""
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32"), epochs=1, batch_size=4, verbose=0)
    keras.backend.clear_session()


@dataclass
class _Worker:
    process: subprocess.Popen
    ready: bool = False
    run_id: str | None = None


class JobManager:
    """Runs queued training jobs in at most `max_jobs` worker processes at once.

    Args:
        store: where runs live.
        max_jobs: jobs that train at the same time; the rest wait in order.
    """

    def __init__(self, store: RunStore, *, max_jobs: int = 2):
        self.store = store
        self.max_jobs = max_jobs
        self._lock = threading.Lock()
        self._queue: deque[str] = deque()
        self._workers: list[_Worker] = []
        self._closed = False
        for run_id in store.reconcile():
            self._queue.append(run_id)
        self._thread = threading.Thread(target=self._loop, daemon=True, name="layerlab-jobs")
        with self._lock:
            self._fill_pool()
        self._thread.start()

    def submit(self, run_id: str) -> None:
        self.store.set_status(run_id, "queued", "Waiting for a free training slot.")
        with self._lock:
            self._queue.append(run_id)

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None when the run is not waiting."""
        with self._lock:
            try:
                return list(self._queue).index(run_id) + 1
            except ValueError:
                return None

    def stop(self, run_id: str) -> None:
        """Stop a run: a waiting one is taken off the queue; a training one stops after its current step."""
        with self._lock:
            if run_id in self._queue:
                self._queue.remove(run_id)
                self.store.set_status(run_id, "stopped", "Stopped before training started.", finished_at=time.time())
                return
        self.store.request_stop(run_id)

    def active_jobs(self) -> int:
        with self._lock:
            return sum(1 for worker in self._workers if worker.run_id is not None)

    def shutdown(self, timeout: float = 5.0) -> None:
        self._closed = True
        self._thread.join(timeout=timeout)
        with self._lock:
            for worker in self._workers:
                if worker.run_id is None and worker.process.poll() is None:
                    worker.process.terminate()
            for worker in self._workers:
                try:
                    worker.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    worker.process.kill()

    def _fill_pool(self) -> None:
        while not self._closed and len(self._workers) < self.max_jobs:
            # A fresh interpreter, not multiprocessing: under Streamlit, spawn would re-run the app script
            # as the child's __main__.
            process = subprocess.Popen(
                [sys.executable, "-m", "core.jobs", str(self.store.root)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL if os.environ.get("LAYERLAB_WORKER_LOGS") is None else None,
                text=True,
                cwd=str(Path(__file__).resolve().parent.parent),
                env={**os.environ, "PYTHONPATH": _python_path()},
            )
            self._workers.append(_Worker(process=process))

    def _loop(self) -> None:
        while not self._closed:
            with self._lock:
                self._reap()
                self._fill_pool()
                self._dispatch()
            time.sleep(POLL_INTERVAL_S)

    def _reap(self) -> None:
        alive = []
        for worker in self._workers:
            if worker.process.poll() is None:
                alive.append(worker)
                continue
            if worker.run_id is not None:
                status = self.store.status(worker.run_id)
                # A run continued after this worker finished it is queued again or runs in another worker.
                if status.get("state") == "running" and status.get("pid") in (None, worker.process.pid):
                    self.store.set_status(
                        worker.run_id,
                        "failed",
                        f"The training process ended unexpectedly (exit code {worker.process.returncode}). "
                        "This can happen when the data or the model is too large for the server's memory. "
                        "Try fewer rows, fewer units or a smaller batch size.",
                        finished_at=time.time(),
                    )
        self._workers = alive

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not worker.ready and select.select([worker.process.stdout], [], [], 0)[0]:
                worker.ready = worker.process.stdout.readline().strip() == "ready"
            if worker.ready and worker.run_id is None and self._queue:
                run_id = self._queue.popleft()
                worker.run_id = run_id
                self.store.set_status(run_id, "running", "Starting…", pid=worker.process.pid)
                try:
                    worker.process.stdin.write(run_id + "\n")
                    worker.process.stdin.flush()
                except OSError:
                    pass  # the worker died just now; _reap marks the run failed on the next turn


def _python_path() -> str:
    root = str(Path(__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH")
    return root if not existing else f"{root}{os.pathsep}{existing}"


if __name__ == "__main__":
    worker_main(sys.argv[1])
