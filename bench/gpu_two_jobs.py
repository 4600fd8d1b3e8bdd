"""Two runs at once on one GPU through the local job manager, as a default server trains them
(`LAYERLAB_MAX_JOBS=2`): do both train? Side by side: the workers' default (each takes GPU memory as it needs
it, `core.training.jobs.share_accelerators`) and the backends' own default forced back
(`XLA_PYTHON_CLIENT_PREALLOCATE=true`: jax gives the first process 75 % of the card).

    KERAS_BACKEND=jax python bench/gpu_two_jobs.py [ROWS]   (on a GPU machine; default 200,000 rows)
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from textbook_speed import make_table  # noqa: E402


def two_runs(label: str, rows: int, epochs: int) -> list[tuple[str, str, str]]:
    from core.run_store import FINAL_STATES, RunStore
    from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
    from core.training.jobs import JobManager

    home = Path(tempfile.mkdtemp(prefix="layerlab-two-jobs-"))
    os.environ["LAYERLAB_HOME"] = str(home)
    store = RunStore(home / "runs")
    manager = JobManager(store, max_jobs=2, warm_workers=0)
    spec = RunSpec(
        data=DataSpec(target="y"),
        model=ModelSpec(layers=tuple(DenseLayer(units=1024, activation="relu") for _ in range(3))),
        training=TrainingSpec(batch_size=1024, epochs=epochs, early_stopping=False),
    )
    frame = make_table(rows, seed=1)
    started = time.monotonic()
    ids = [manager.start(store, spec, frame, source_name=f"wide-{n}.csv") for n in range(2)]
    try:
        while time.monotonic() - started < 240:
            if all(store.status(run_id).state in FINAL_STATES for run_id in ids):
                break
            time.sleep(0.5)
    finally:
        manager.shutdown()
    results = []
    for run_id in ids:
        status = store.status(run_id)
        results.append((status.state, status.sentence()[:160], status.device or ""))
    print(f"\n== {label}: two runs of {rows:,} rows at once, {time.monotonic() - started:.0f} s")
    for state, sentence, device in results:
        print(f"  {state}: {sentence} [{device}]")
    shutil.rmtree(home, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    rows, epochs = (int(argv[0]) if argv else 200_000), 3
    os.environ.pop("XLA_PYTHON_CLIENT_PREALLOCATE", None)
    os.environ.pop("TF_FORCE_GPU_ALLOW_GROWTH", None)
    shared = two_runs("workers' default (memory as needed)", rows, epochs)
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "true"
    os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] = "false"
    forced = two_runs("preallocation forced back on", rows, epochs)
    finished = [sum(state == "finished" for state, _, _ in result) for result in (shared, forced)]
    print(f"\nSUMMARY two-jobs: {finished[0]} of 2 finished with the workers' default, "
          f"{finished[1]} of 2 with preallocation")  # fmt: skip
    return 0 if finished[0] == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
