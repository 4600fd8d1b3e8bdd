"""Jobs per minute on a Ray cluster of one node vs two nodes on this machine, side by side in one run (issue 18).

For each cluster size (a head node alone; the head plus a second node), `ray.cluster_utils.Cluster` starts a
local cluster whose nodes declare `--cpus-per-node` CPUs each, and LayerLab's Ray job backend
(`core.training.ray_backend.RayJobManager`, exactly what the app uses with `LAYERLAB_RAY_ADDRESS` set) trains
`--runs` runs of a bundled sample with its default spec, all submitted at once, one CPU per run. Measured:
wall time from the first submit to the last finish, jobs per minute, and each run's seconds from its start on
the node to its end (so runs per hour per busy CPU).

Then the default run of each bundled table sample, one at a time on the one-node cluster: seconds per run, the
figure docs/SCALE.md extrapolates from.

    .venv/bin/python bench/scale.py                       # wine x 8 runs, then the table samples
    .venv/bin/python bench/scale.py --sample adult --runs 4 --no-samples

On a 2-core machine two one-CPU nodes are the most that fit: the two-node figure is then the same machine's two
cores, so the ratio says how well the backend fills a second node, not what a second machine adds. Record the
output in docs/PERFORMANCE.md with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _default_run(sample_name: str):
    import pandas as pd

    from core.data.samples import SAMPLES
    from core.spec import DataSpec, RunSpec, default_model

    sample = next(sample for sample in SAMPLES.values() if sample.key == sample_name)
    frame = pd.read_csv(sample.path)
    return RunSpec(data=DataSpec(target=sample.target), model=default_model("table")), frame, sample.file_name


def _batch(nodes: int, cpus: int, sample: str, runs: int, folder: Path) -> dict:
    import ray
    from ray.cluster_utils import Cluster

    from core.run_store import FINAL_STATES, RunStore
    from core.training.ray_backend import RayJobManager

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus, "include_dashboard": False})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=cpus)
    cluster.wait_for_nodes()
    store = RunStore(folder / f"{nodes}-nodes")
    manager = RayJobManager(store, address=cluster.address, cpus_per_run=1)
    try:
        spec, frame, source = _default_run(sample)
        ids = [store.create_run(spec, frame, source_name=source) for _ in range(runs)]
        started = time.monotonic()
        for run_id in ids:
            manager.submit(run_id)
        while not all(store.status(run_id).state in FINAL_STATES for run_id in ids):
            time.sleep(0.2)
        wall = time.monotonic() - started
        statuses = [store.status(run_id) for run_id in ids]
    finally:
        manager.shutdown()
        ray.shutdown()
        cluster.shutdown()
    durations = [s.finished_at - s.started_at for s in statuses if s.finished_at and s.started_at]
    return {
        "nodes": nodes,
        "slots": manager.max_jobs,
        "completed": sum(s.state == "finished" for s in statuses),
        "wall_s": wall,
        "jobs_per_min": 60.0 * runs / wall,
        "run_s_median": statistics.median(durations) if durations else float("nan"),
    }


def _samples(cpus: int, folder: Path) -> list[tuple[str, float, str]]:
    import ray
    from ray.cluster_utils import Cluster

    from core.data.samples import SAMPLES
    from core.run_store import FINAL_STATES, RunStore
    from core.training.ray_backend import RayJobManager

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus, "include_dashboard": False})
    store = RunStore(folder / "samples")
    manager = RayJobManager(store, address=cluster.address, cpus_per_run=1, max_jobs=1)
    rows = []
    try:
        for sample in SAMPLES.values():
            if sample.kind != "table":
                continue
            spec, frame, source = _default_run(sample.key)
            run_id = store.create_run(spec, frame, source_name=source)
            manager.submit(run_id)
            while (status := store.status(run_id)).state not in FINAL_STATES:
                time.sleep(0.2)
            rows.append((sample.key, status.finished_at - status.started_at, status.state))
    finally:
        manager.shutdown()
        ray.shutdown()
        cluster.shutdown()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", default="wine", help="bundled sample trained in the batches (default wine)")
    parser.add_argument("--runs", type=int, default=8, help="runs in each batch (default 8)")
    parser.add_argument("--cpus-per-node", type=int, default=1, help="CPUs each node declares (default 1)")
    parser.add_argument("--no-samples", action="store_true", help="skip the per-sample run times")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-scale-") as scratch:
        folder = Path(scratch)
        one = _batch(1, args.cpus_per_node, args.sample, args.runs, folder)
        print(one, flush=True)
        two = _batch(2, args.cpus_per_node, args.sample, args.runs, folder)
        print(two, flush=True)
        print("\n| nodes | slots | runs completed | wall (s) | jobs/min | median run (s) |\n|---|---|---|---|---|---|")
        for row in (one, two):
            print(f"| {row['nodes']} | {row['slots']} | {row['completed']}/{args.runs} | {row['wall_s']:.1f} "
                  f"| {row['jobs_per_min']:.2f} | {row['run_s_median']:.1f} |")  # fmt: skip
        print(f"\ntwo nodes / one node, jobs per minute: {two['jobs_per_min'] / one['jobs_per_min']:.2f}x")
        if not args.no_samples:
            print("\n| sample (default spec, one node, one CPU) | run (s) | runs per hour per CPU | state |")
            print("|---|---|---|---|")
            for name, seconds, state in _samples(args.cpus_per_node, folder):
                print(f"| {name} | {seconds:.1f} | {3600 / seconds:.0f} | {state} |")
    print(f"\nload average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
