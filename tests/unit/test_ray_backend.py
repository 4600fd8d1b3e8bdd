"""Jobs and searches on a Ray cluster (issue 18), on a local two-node cluster that these tests start and stop.

The cluster: a head node and a second node on this machine (`ray.cluster_utils.Cluster`, Ray's own tool for
multi-node tests on one machine, documented under "Testing Ray programs"), one CPU each, so two runs train at
once, one per node. The second node also carries a custom resource, `second_node`, so one test can place a run
there and then kill that node under it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.run_store import FINAL_STATES, RunStore
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from tests.conftest import make_binary_frame

ray = pytest.importorskip("ray", reason="Ray is the optional extra [ray]; `make test` installs it")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
TINY = ModelSpec(layers=(DenseLayer(units=8),))


def _spec(epochs: int, rows_note: str = "") -> RunSpec:
    return RunSpec(
        data=DataSpec(target="label"),
        model=TINY,
        training=TrainingSpec(epochs=epochs, batch_size=32, early_stopping=False),
    )


def _wait_for(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    # The dashboard serves Ray's state API (ray.util.state), which the tests read to see where tasks ran.
    head = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": True, "dashboard_port": None},
    )
    second = head.add_node(num_cpus=1, resources={"second_node": 1})
    head.wait_for_nodes()
    try:
        yield head, second
    finally:
        if ray.is_initialized():
            ray.shutdown()
        head.shutdown()


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def _tasks_named(name: str) -> list:
    from ray.util.state import list_tasks

    return list_tasks(filters=[("name", "=", name)], detail=True, raise_on_missing_output=False)


def test_the_command_line_trains_on_the_cluster_and_ray_sees_the_task_finish(cluster, tmp_path):
    head, _ = cluster
    data = tmp_path / "table.csv"
    make_binary_frame(300, seed=3).to_csv(data, index=False)
    spec = tmp_path / "spec.json"
    spec.write_text(_spec(epochs=3).model_dump_json())
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "train", str(data), "--target", "label", "--spec", str(spec),
         "--out", str(out), "--backend", "ray"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        # The default, a fresh Ray worker per run (tests/conftest.py lets workers train several runs).
        env={**os.environ, "LAYERLAB_RAY_ADDRESS": head.address, "LAYERLAB_LANG": "en", "LAYERLAB_WORKER_RUNS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["state"] == "finished"
    assert result["epochs_run"] == 3
    assert 0.0 <= result["test"]["accuracy"] <= 1.0
    run_id = Path(result["run_dir"]).name
    assert RunStore(out).status(run_id).extra.get("backend") == "ray"

    ray.init(address=head.address, namespace="layerlab", log_to_driver=False)
    tasks = _wait_for(lambda: [task for task in _tasks_named(f"layerlab-run-{run_id}") if task.state == "FINISHED"],
                      timeout=30)  # fmt: skip
    assert len(tasks) == 1
    assert tasks[0].node_id in {node["NodeID"] for node in ray.nodes()}


def test_two_runs_train_at_once_on_two_nodes_stream_progress_and_stop(cluster, store):
    from core.training.ray_backend import RayJobManager

    head, _ = cluster
    manager = RayJobManager(store, address=head.address, cpus_per_run=1)
    try:
        assert manager.max_jobs == 2  # the cluster's CPUs, one per run
        long_run = store.create_run(_spec(epochs=300), make_binary_frame(2000, seed=1), source_name="long.csv")
        short_run = store.create_run(_spec(epochs=2), make_binary_frame(200, seed=2), source_name="short.csv")
        third = store.create_run(_spec(epochs=2), make_binary_frame(200, seed=4), source_name="waits.csv")
        for run_id in (long_run, short_run, third):
            manager.submit(run_id)
        # Two slots, three runs: two go to the cluster, the third waits in our queue (not in Ray's).
        _wait_for(lambda: manager.active_jobs() == 2, timeout=30)
        assert manager.queue_position(third) == 1

        # Live progress: epochs of the long run appear while it trains on the cluster.
        _wait_for(lambda: len(store.history(long_run)) >= 2, timeout=120)
        assert store.status(long_run).state == "running"
        _wait_for(lambda: store.status(short_run).state in FINAL_STATES, timeout=120)
        assert store.status(short_run).state == "finished"
        _wait_for(lambda: store.status(third).state in FINAL_STATES, timeout=120)
        assert store.status(third).state == "finished"

        manager.stop(long_run)
        _wait_for(lambda: store.status(long_run).state in FINAL_STATES, timeout=60)
        stopped = store.status(long_run)
        assert stopped.state == "stopped"
        assert 2 <= len(store.history(long_run)) < 300
        assert (store.path(long_run) / "model.keras").exists()  # the best weights so far are kept, as locally

        nodes = {task.node_id for run_id in (long_run, short_run)
                 for task in _tasks_named(f"layerlab-run-{run_id}")}  # fmt: skip
        assert len(nodes) == 2, "the two runs that trained at once ran on the two nodes"
    finally:
        manager.shutdown()


def test_a_four_trial_search_trains_its_trials_in_parallel_on_the_cluster(cluster, tmp_path):
    head, _ = cluster
    data = tmp_path / "table.csv"
    make_binary_frame(200, seed=6).to_csv(data, index=False)
    spec = tmp_path / "spec.json"
    spec.write_text(_spec(epochs=3).model_dump_json())
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "tune", str(data), "--target", "label", "--spec", str(spec),
         "--trials", "4", "--parallel", "2", "--out", str(out), "--backend", "ray"],
        capture_output=True, text=True, cwd=ROOT, timeout=400,
        env={**os.environ, "LAYERLAB_RAY_ADDRESS": head.address, "LAYERLAB_LANG": "en"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["search"]["trials"] == 4
    assert 0.0 <= result["test"]["accuracy"] <= 1.0

    runs = RunStore(out)
    spans = []
    for record in runs.list_runs():
        status = runs.status(record.run_id)
        assert status.extra.get("backend") == "ray"
        spans.append((status.started_at, status.finished_at))
    assert len(spans) == 4
    overlapping = sum(1 for a in spans for b in spans if a < b and a[0] < b[1] and b[0] < a[1])
    assert overlapping >= 1, f"no two trials trained at once: {sorted(spans)}"


def test_a_run_on_a_node_that_dies_fails_with_a_clear_message(cluster, store):
    from core.training.ray_backend import RayJobManager

    head, second = cluster
    manager = RayJobManager(store, address=head.address, cpus_per_run=1, resources={"second_node": 1})
    try:
        run_id = store.create_run(_spec(epochs=500), make_binary_frame(3000, seed=5), source_name="doomed.csv")
        manager.submit(run_id)
        _wait_for(lambda: len(store.history(run_id)) >= 1, timeout=120)
        head.remove_node(second, allow_graceful=False)  # the machine goes away under the run

        _wait_for(lambda: store.status(run_id).state in FINAL_STATES, timeout=120)
        status = store.status(run_id)
        assert status.state == "failed"
        assert "cluster machine" in status.sentence()
        assert status.failure.kind == "process_ended"
        assert manager.active_jobs() == 0
    finally:
        manager.shutdown()
        head.add_node(num_cpus=1, resources={"second_node": 1})  # the next test has its two nodes again
        head.wait_for_nodes()
