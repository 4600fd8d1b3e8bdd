"""How much does running a model as a LayerLab job cost, compared with a plain `model.fit`?

Trains one spec on one table two ways, alternating, for a few rounds:

  (a) plain: `model.fit` in this process on the very arrays a job trains on (`core.data.splitting.prepare_data`
      on the run's stored table), the network from `core.model.building.build_model`, the same optimizer, loss,
      metric, batch size and steps_per_execution, the same validation rows, verbose=0, no callbacks;
  (b) job: `store.create_run` + `JobManager.submit` to a warm worker process, exactly as the app does.
      Its training time is `train_seconds` from the run's metrics.json (the `fit` call alone, callbacks
      included); start-up and end-to-end times are measured here, from submit.

Prints medians over the rounds and the ratio job/plain (target <= 1.10).

    .venv/bin/python bench/overhead.py [--data sample_data/adult.csv --target income --epochs 5 --rounds 3]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `import core` without an installed package
POLL_S = 0.02
FALLBACK_WARM_UP_S = 20.0


def load_note(when: str) -> str:
    """The machine's load average: a measurement taken while other processes use the CPU is not worth much."""
    one, five, _ = os.getloadavg()
    cores = os.cpu_count() or 1
    busy = "  WARNING: the machine is busy with other work; numbers will be noisy" if one > 0.75 * cores else ""
    return f"load average {when}: {one:.2f} (1 min), {five:.2f} (5 min) on {cores} cores{busy}"


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT / "sample_data" / "adult.csv"), help="CSV table")
    parser.add_argument("--target", default="income", help="target column")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="alternating plain/job rounds")
    parser.add_argument(
        "--max-jobs", type=int, default=2, help="warm workers in the JobManager (the app's default is 2)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary LAYERLAB_HOME")
    return parser.parse_args(argv)


def _warm_up_here() -> None:
    """The same tiny fit a worker does before it takes a job, so round 1 of (a) pays no first-use costs."""
    from core.training.jobs import _warm_up

    _warm_up()


def plain_fit(data, spec) -> dict:
    """(a): the network and compile settings a job would use, trained with a bare `model.fit`."""
    import keras

    from core.model.building import build_model, choose_steps_per_execution, derive_head, make_optimizer

    keras.backend.clear_session()
    keras.utils.set_random_seed(spec.data.seed)
    num_classes = len(data.target.classes)
    head = derive_head(data.target.task, num_classes)
    network = build_model(spec.model, data.x_train.shape[1], data.target.task, num_classes)
    batch_size = min(spec.training.batch_size, len(data.x_train))
    steps_per_epoch = math.ceil(len(data.x_train) / batch_size)
    steps_per_execution = choose_steps_per_execution(
        network.count_params(), batch_size, steps_per_epoch, keras.backend.backend()
    )
    network.compile(
        optimizer=make_optimizer(spec.training),
        loss=head.loss,
        metrics=[head.metric],
        steps_per_execution=steps_per_execution,
    )
    started = time.monotonic()
    network.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_validation, data.y_validation),
        batch_size=batch_size,
        epochs=spec.training.epochs,
        shuffle=True,
        verbose=0,
    )
    seconds = time.monotonic() - started
    return {"train_seconds": seconds, "steps_per_execution": steps_per_execution, "batch_size": batch_size}


def wait_pool_ready(manager, timeout: float = 180.0) -> None:
    """Block until every worker has imported Keras and finished its warm-up (and is idle).

    A replacement worker starts right after each job; its warm-up would otherwise steal CPU from the next
    measurement. Reads JobManager internals: fine for a benchmark, not for app code.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with manager._lock:
                workers = list(manager._workers)
                ready = len(workers) == manager.max_jobs and all(w.ready and w.run_id is None for w in workers)
        except AttributeError:  # JobManager's internals changed: fall back to a generous pause
            time.sleep(FALLBACK_WARM_UP_S)
            return
        if ready:
            return
        time.sleep(0.1)
    raise TimeoutError(f"the JobManager's workers were not ready within {timeout:.0f} s")


def job_run(manager, store, spec, table, source_name: str) -> dict:
    """(b): one run through the JobManager; times from submit, polled from the run's files."""
    from core.run_store import FINAL_STATES, read_json

    run_id = store.create_run(spec, table, source_name=source_name)
    run_dir = store.path(run_id)
    wait_pool_ready(manager)
    submitted_wall = time.time()
    submitted = time.monotonic()
    manager.submit(run_id)
    first_progress = first_epoch = None
    while True:
        now = time.monotonic()
        if first_progress is None:
            progress = read_json(run_dir / "progress.json", {}) or {}
            if progress.get("fraction", 0) > 0:
                first_progress = now - submitted
        if first_epoch is None and (run_dir / "history.json").exists():
            first_epoch = now - submitted
        status = read_json(run_dir / "status.json", {}) or {}
        if status.get("state") in FINAL_STATES:
            finished = time.monotonic() - submitted
            break
        if now - submitted > 600:
            raise TimeoutError(f"run {run_id} did not finish within 600 s (state {status.get('state')!r})")
        time.sleep(POLL_S)
    if status["state"] != "finished":
        log = run_dir / "log.txt"
        raise RuntimeError(
            f"run {run_id} ended {status['state']}: {status.get('message')}\n{log.read_text() if log.exists() else ''}"
        )
    metrics = store.metrics(run_id)
    stages = {
        # status.json timestamps are wall-clock (time.time()) values written by the worker
        "submit_to_worker_start": status["started_at"] - submitted_wall,
        "prepare_data_and_compile": status["training_started_at"] - status["started_at"],
        "fit": metrics["train_seconds"],
        "after_fit": status["finished_at"] - status["training_started_at"] - metrics["train_seconds"],
    }
    return {
        "run_id": run_id,
        "train_seconds": metrics["train_seconds"],
        "steps_per_execution": metrics["steps_per_execution"],
        "first_progress": first_progress,
        "first_epoch": first_epoch,
        "finished": finished,
        "stages": stages,
        "test": metrics["test"],
        "epochs_run": metrics["epochs_run"],
    }


def main(argv=None) -> int:
    args = _parse_args(argv)
    import keras
    import pandas as pd

    from core.data.splitting import prepare_data
    from core.run_store import RunStore
    from core.spec import DataSpec, RunSpec, TrainingSpec
    from core.training.jobs import JobManager

    home = Path(tempfile.mkdtemp(prefix="layerlab-bench-"))
    os.environ["LAYERLAB_HOME"] = str(home)
    store = RunStore(home / "runs")
    spec = RunSpec(data=DataSpec(target=args.target), training=TrainingSpec(epochs=args.epochs, early_stopping=False))
    source_name = Path(args.data).name
    table = pd.read_csv(args.data)

    # The plain path trains on exactly what a job trains on: the run's stored table, prepared by core.
    reference = store.create_run(spec, table, source_name=source_name)
    data = prepare_data(store.table(reference), spec.data, spec.preprocessing)
    print(
        f"data: {source_name}, target {args.target!r} ({data.target.task}); train/val/test rows "
        f"{len(data.x_train):,}/{len(data.x_validation):,}/{len(data.x_test):,}; {data.x_train.shape[1]} encoded "
        f"features; epochs {args.epochs}, batch {spec.training.batch_size}; keras {keras.__version__} "
        f"({keras.backend.backend()}); {args.rounds} rounds; {args.max_jobs} warm workers",
        flush=True,
    )

    print(load_note("before"), flush=True)
    manager = JobManager(store, max_jobs=args.max_jobs)
    plain_results: list[dict] = []
    job_results: list[dict] = []
    try:
        _warm_up_here()
        wait_pool_ready(manager)
        for round_index in range(args.rounds):
            # Alternate the order (a,b / b,a / ...) so a slow drift of the machine does not favour one side.
            order = ("plain", "job") if round_index % 2 == 0 else ("job", "plain")
            for kind in order:
                if kind == "plain":
                    wait_pool_ready(manager)  # no worker warm-up competing for the CPU
                    result = plain_fit(data, spec)
                    plain_results.append(result)
                    print(
                        f"round {round_index + 1} plain: fit {result['train_seconds']:.2f}s "
                        f"(steps_per_execution {result['steps_per_execution']})",
                        flush=True,
                    )
                else:
                    result = job_run(manager, store, spec, table, source_name)
                    job_results.append(result)
                    stages = ", ".join(f"{k} {v:.2f}s" for k, v in result["stages"].items())
                    print(
                        f"round {round_index + 1} job:   fit {result['train_seconds']:.2f}s "
                        f"(steps_per_execution {result['steps_per_execution']}); submit -> first progress "
                        f"{result['first_progress']:.2f}s, first epoch {result['first_epoch']:.2f}s, finished "
                        f"{result['finished']:.2f}s [{stages}]",
                        flush=True,
                    )
    finally:
        manager.shutdown()
        if args.keep:
            print(f"runs kept in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)

    if (
        plain_results
        and job_results
        and plain_results[0]["steps_per_execution"] != job_results[0]["steps_per_execution"]
    ):
        print("WARNING: plain and job used different steps_per_execution; the comparison is not like for like")
    plain = statistics.median(r["train_seconds"] for r in plain_results)
    job = statistics.median(r["train_seconds"] for r in job_results)
    first_epoch = statistics.median(r["first_epoch"] for r in job_results)
    first_progress = statistics.median(r["first_progress"] for r in job_results)
    finished = statistics.median(r["finished"] for r in job_results)
    rows = len(data.x_train) * args.epochs
    print()
    print(
        f"median fit time: plain {plain:.2f}s ({rows / plain:,.0f} rows/s), job {job:.2f}s ({rows / job:,.0f} rows/s)"
    )
    print(f"job test metrics (last round): {job_results[-1]['test']}")
    ratio = job / plain
    verdict = "OK" if ratio <= 1.10 else "ABOVE TARGET"
    print(f"training wall time ratio (job/plain): {ratio:.2f} (target <= 1.10) {verdict}")
    print(f"job start-up: submit -> first epoch point {first_epoch:.1f}s, submit -> finished {finished:.1f}s")
    print(f"(submit -> first progress point {first_progress:.1f}s)")
    print(load_note("after"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
