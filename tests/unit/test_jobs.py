"""Training jobs in worker processes: a FIFO queue, Stop for waiting runs, and honest failure when a worker dies."""

from __future__ import annotations

import os
import signal
import time

import pytest

from core.run_store import FINAL_STATES, RunStore
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from core.training.jobs import POLL_INTERVAL_S, JobManager
from tests.conftest import make_binary_frame

pytestmark = pytest.mark.slow

TINY = ModelSpec(layers=(DenseLayer(units=8),))


def _spec(epochs: int) -> RunSpec:
    return RunSpec(
        data=DataSpec(target="label"),
        model=TINY,
        training=TrainingSpec(epochs=epochs, batch_size=32, early_stopping=False),
    )


def _wait_for(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture(autouse=True)
def one_run_per_worker(monkeypatch):
    """The default these tests pin (tests/conftest.py raises it for the rest of the suite)."""
    monkeypatch.setenv("LAYERLAB_WORKER_RUNS", "1")


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture
def manager(store):
    jobs = JobManager(store, max_jobs=1)
    try:
        yield jobs
    finally:
        for record in store.list_runs():
            if record.is_active:
                store.request_stop(record.run_id)
        jobs.shutdown()


def test_runs_wait_in_order_and_a_waiting_run_can_be_stopped(store, manager):
    long_frame = make_binary_frame(3000, seed=1)
    short_frame = make_binary_frame(200, seed=2)
    first = store.create_run(_spec(epochs=25), long_frame, source_name="long.csv")
    second = store.create_run(_spec(epochs=2), short_frame, source_name="short.csv")
    third = store.create_run(_spec(epochs=2), short_frame, source_name="short.csv")
    for run_id in (first, second, third):
        manager.submit(run_id)
    assert store.status(second).state == "queued"

    _wait_for(lambda: store.history(first), timeout=60)
    assert store.status(first).state == "running"
    assert manager.queue_position(first) is None
    assert manager.queue_position(second) == 1
    assert manager.queue_position(third) == 2
    assert manager.active_jobs() == 1

    manager.stop(third)
    status = store.status(third)
    assert status.state == "stopped"
    assert "before training started" in status.message
    assert manager.queue_position(third) is None
    assert manager.queue_position(second) == 1

    _wait_for(lambda: store.status(second).state in FINAL_STATES, timeout=120, interval=0.2)
    assert store.status(first).state == "finished"
    assert store.status(second).state == "finished"
    assert store.metrics(first)["epochs_run"] == 25
    assert store.metrics(second)["epochs_run"] == 2
    # The second run started only after the first had finished.
    assert store.status(second).started_at >= store.status(first).finished_at
    assert store.model_path(second) is not None

    # The stopped run never trained.
    assert store.status(third).state == "stopped"
    assert store.history(third) == []
    assert store.model_path(third) is None
    # Each run trained in its own worker process.
    assert store.status(first).pid != store.status(second).pid
    assert store.status(first).pid != os.getpid()


def test_a_killed_worker_fails_its_run_and_the_manager_keeps_serving(store, manager):
    doomed = store.create_run(_spec(epochs=500), make_binary_frame(3000, seed=1), source_name="long.csv")
    manager.submit(doomed)
    _wait_for(lambda: store.history(doomed), timeout=60)
    pid = store.status(doomed).pid
    assert pid != os.getpid()

    os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: store.status(doomed).state == "failed", timeout=10)
    assert "killed by the system" in store.status(doomed).message

    survivor = store.create_run(_spec(epochs=2), make_binary_frame(200, seed=2), source_name="short.csv")
    manager.submit(survivor)
    _wait_for(lambda: store.status(survivor).state in FINAL_STATES, timeout=90, interval=0.2)
    assert store.status(survivor).state == "finished"
    assert store.status(doomed).state == "failed"


def test_a_running_run_stops_when_asked(store, manager):
    run_id = store.create_run(_spec(epochs=500), make_binary_frame(3000, seed=1), source_name="long.csv")
    manager.submit(run_id)
    _wait_for(lambda: store.history(run_id), timeout=60)
    manager.stop(run_id)
    _wait_for(lambda: store.status(run_id).state in FINAL_STATES, timeout=30, interval=0.1)
    status = store.status(run_id)
    assert status.state == "stopped"
    assert store.metrics(run_id)["epochs_run"] < 500
    assert store.model_path(run_id) is not None


def test_a_worker_over_its_memory_limit_fails_its_run_with_that_reason(store):
    jobs = JobManager(store, max_jobs=1, worker_memory_mb=1)  # any trained network is over 1 MB
    try:
        run_id = store.create_run(_spec(epochs=500), make_binary_frame(3000, seed=1), source_name="long.csv")
        jobs.submit(run_id)
        _wait_for(lambda: store.status(run_id).state == "failed", timeout=90, interval=0.1)
        message = store.status(run_id).message
        assert "more memory than this server allows each run (1 MB)" in message
        assert "exit code" not in message
    finally:
        jobs.shutdown()


def test_a_spare_worker_warms_only_while_a_run_waits_for_the_busy_slot(store, manager):
    run_id = store.create_run(_spec(epochs=500), make_binary_frame(3000, seed=1), source_name="long.csv")
    manager.submit(run_id)
    _wait_for(lambda: store.history(run_id), timeout=60)

    def idle():
        with manager._lock:
            return [worker for worker in manager._workers if worker.run_id is None]

    # The one slot is busy and nothing waits: no worker (about 800 MiB) idles beside it.
    time.sleep(3 * POLL_INTERVAL_S)
    assert idle() == []
    waiting = store.create_run(_spec(epochs=2), make_binary_frame(200, seed=2), source_name="short.csv")
    manager.submit(waiting)
    # The waiting run will not wait for a fresh Python to import Keras: its worker warms now.
    _wait_for(lambda: len(idle()) == 1, timeout=10)
    spare = idle()[0]
    _wait_for(lambda: spare.ready, timeout=60)
    assert len(idle()) == 1
    manager.stop(run_id)
    _wait_for(lambda: store.status(waiting).state in FINAL_STATES, timeout=90, interval=0.2)
    assert store.status(waiting).state == "finished"
    assert store.status(waiting).pid == spare.process.pid  # the warm spare took it


def test_shutdown_stops_training_workers_and_a_restart_resumes_queued_runs(store):
    first = JobManager(store, max_jobs=1)
    long_run = store.create_run(_spec(epochs=500), make_binary_frame(3000, seed=1), source_name="long.csv")
    waiting = store.create_run(_spec(epochs=2), make_binary_frame(200, seed=2), source_name="short.csv")
    first.submit(long_run)
    first.submit(waiting)
    _wait_for(lambda: store.history(long_run), timeout=60)
    pids = [worker.process.pid for worker in first._workers]
    first.shutdown()
    assert all(not _alive(pid) for pid in pids)  # no orphan keeps training
    assert store.status(long_run).state == "failed"
    assert "shut down" in store.status(long_run).message
    assert store.status(waiting).state == "queued"

    second = JobManager(RunStore(store.root), max_jobs=1)  # a new server process on the same folder
    try:
        _wait_for(lambda: store.status(waiting).state in FINAL_STATES, timeout=120, interval=0.2)
        assert store.status(waiting).state == "finished"
    finally:
        second.shutdown()


def test_workers_die_with_a_server_that_is_killed(tmp_path):
    """Even a SIGKILLed server leaves no worker behind (Linux's parent-death signal)."""
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "from core.training.jobs import POLL_INTERVAL_S, JobManager\n"
        "from core.run_store import RunStore\n"
        f"m = JobManager(RunStore({str(tmp_path / 'runs')!r}), max_jobs=2)\n"
        "print(' '.join(str(w.process.pid) for w in m._workers), flush=True)\n"
        "time.sleep(600)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(pid) for pid in server.stdout.readline().split()]
    assert len(pids) == 2
    time.sleep(1.0)  # let the workers reach their prctl call
    server.kill()
    server.wait()
    _wait_for(lambda: all(not _alive(pid) for pid in pids), timeout=30, interval=0.2)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stream:
            return stream.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_free_slots_are_kept_warm_unless_told_not_to(store):
    default = JobManager(store, max_jobs=2)
    try:
        assert len(default._workers) == 2  # one warming per free slot: the first Train click starts at once
    finally:
        default.shutdown()

    lazy = JobManager(store, max_jobs=2, warm_workers=0)  # LAYERLAB_WARM_WORKERS=0: no idle worker's memory
    try:
        time.sleep(3 * POLL_INTERVAL_S)
        assert lazy._workers == []
        run_id = store.create_run(_spec(epochs=2), make_binary_frame(200, seed=2), source_name="short.csv")
        lazy.submit(run_id)
        _wait_for(lambda: store.status(run_id).state in FINAL_STATES, timeout=90, interval=0.2)
        assert store.status(run_id).state == "finished"
        _wait_for(lambda: lazy._workers == [], timeout=10)  # its worker ran one job and ended; none replaces it
    finally:
        lazy.shutdown()


def test_a_worker_may_train_several_runs_one_after_another_then_exits(store, monkeypatch):
    """LAYERLAB_WORKER_RUNS=2 on a single-user machine: the second run skips the Keras import of a new process."""
    monkeypatch.setenv("LAYERLAB_WORKER_RUNS", "2")
    jobs = JobManager(store, max_jobs=1, warm_workers=0)
    try:
        frame = make_binary_frame(200, seed=3)
        first, second, third = (store.create_run(_spec(epochs=2), frame, source_name="s.csv") for _ in range(3))
        jobs.submit(first)
        _wait_for(lambda: store.status(first).state in FINAL_STATES, timeout=120, interval=0.2)
        jobs.submit(second)
        _wait_for(lambda: store.status(second).state in FINAL_STATES, timeout=120, interval=0.2)
        jobs.submit(third)
        _wait_for(lambda: store.status(third).state in FINAL_STATES, timeout=120, interval=0.2)
        statuses = [store.status(run_id) for run_id in (first, second, third)]
        assert [status.state for status in statuses] == ["finished"] * 3
        assert statuses[0].pid == statuses[1].pid  # the same process trained both
        assert statuses[2].pid != statuses[1].pid  # after two runs it left; a fresh one took the third
        assert store.history(second) and len(store.history(second)) == 2
    finally:
        jobs.shutdown()


def test_workers_that_share_a_gpu_take_its_memory_as_they_need_it(monkeypatch):
    """Before Keras loads in a worker: one run per GPU keeps the backend's default; several at once take memory
    as needed (bench/gpu_two_jobs.py measured why on an H200); an operator's own setting wins."""
    from core.training.jobs import share_accelerators

    for name in ("XLA_PYTHON_CLIENT_PREALLOCATE", "TF_FORCE_GPU_ALLOW_GROWTH"):
        monkeypatch.delenv(name, raising=False)
    share_accelerators(1)
    assert "XLA_PYTHON_CLIENT_PREALLOCATE" not in os.environ and "TF_FORCE_GPU_ALLOW_GROWTH" not in os.environ
    share_accelerators(2)
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" and os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "true")
    share_accelerators(4)
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"
