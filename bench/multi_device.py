"""Data-parallel training of one run (`core.runtime.distribution`): one device vs. every device, side by side.

The same run (a 3 x 1024 MLP on the synthetic table of `bench/textbook_speed.py`, batch 1024 per device)
goes through `core.training.run_job.run_job` twice in this process: with `LAYERLAB_DEVICES_PER_RUN=1`, then
with every device this process sees (`LAYERLAB_DEVICES_PER_RUN=0`). Prints rows/s over the epochs after the
first, the speed-up, the rows per step and the test accuracy of both (a step on N devices takes N times the
rows, so the two runs take different numbers of steps: the accuracy shows that nothing broke).

Devices are what the backend sees: GPUs, or on a machine without them CPU devices made on purpose, e.g.
    JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=4 KERAS_BACKEND=jax \\
        python bench/multi_device.py --rows 200000
(which checks the code path; CPU "devices" share the same cores, so no speed-up is expected there).
With one device it says so and exits 0 (`--require` makes that exit 3).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BENCH = Path(__file__).resolve().parent
for path in (BENCH.parent, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from textbook_speed import layerlab_run, load_note, make_table  # noqa: E402


def _steady_rows_per_second(result: dict) -> float:
    later = result["epoch_seconds"][1:] or result["epoch_seconds"]
    return result["train_rows"] * len(later) / max(sum(later), 1e-9)


def run_with(devices: int, frame, spec) -> dict:
    os.environ["LAYERLAB_DEVICES_PER_RUN"] = str(devices)
    root = Path(tempfile.mkdtemp(prefix=f"layerlab-devices-{devices}-"))
    try:
        return layerlab_run(frame, spec, root, source_name="synthetic-wide.parquet")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024, help="rows per device per step")
    parser.add_argument("--require", action="store_true", help="exit 3 when fewer than two devices are visible")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import keras

    from core.runtime.devices import describe_device
    from core.runtime.distribution import data_parallel
    from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec

    plan = data_parallel()
    print(f"keras {keras.__version__}; {describe_device()}; devices for one run: {plan.devices}")
    if keras.backend.backend() == "jax":
        import jax

        print(f"jax {jax.__version__}: {jax.devices()}")
    if not plan.active:
        print("MULTI-DEVICE skipped: this process sees one device (data-parallel training needs two or more)")
        return 3 if args.require else 0
    print(load_note("before"), flush=True)
    spec = RunSpec(
        data=DataSpec(target="y"),
        model=ModelSpec(layers=tuple(DenseLayer(units=1024, activation="relu") for _ in range(3))),
        training=TrainingSpec(
            optimizer="adam", learning_rate=0.001, batch_size=args.batch_size, epochs=args.epochs, early_stopping=False
        ),
    )
    frame = make_table(args.rows, seed=1)
    one = run_with(1, frame, spec)
    every = run_with(0, frame, spec)
    results = []
    print(f"\n== {args.rows:,} rows, 3 x 1024 MLP, batch {args.batch_size} per device, {args.epochs} epochs")
    print(
        "| devices | rows per step | fit s | rows/s (epochs 2+) | steps_per_execution | test accuracy | device line |"
    )
    print("|---|---|---|---|---|---|---|")
    for devices, result in ((1, one), (plan.devices, every)):
        spread = result["data_parallel"] or {}
        speed = _steady_rows_per_second(result)
        results.append({"devices": devices, "rows_per_second": speed, **result})
        print(
            f"| {devices} | {spread.get('batch_per_step', args.batch_size):,} | {result['train_seconds']:.1f} | "
            f"{speed:,.0f} | {result['steps_per_execution']} | {result['test']['accuracy']:.4f} | {result['device']} |"
        )
    ratio = results[1]["rows_per_second"] / results[0]["rows_per_second"]
    print(f"\n{load_note('after')}")
    problems = []
    if (every["data_parallel"] or {}).get("devices") != plan.devices:
        problems.append(f"the run on every device recorded {every['data_parallel']}, expected {plan.devices} devices")
    if one["data_parallel"] is not None:
        problems.append("LAYERLAB_DEVICES_PER_RUN=1 still trained data-parallel")
    if abs(every["test"]["accuracy"] - one["test"]["accuracy"]) > 0.03:
        problems.append(
            f"test accuracy {every['test']['accuracy']:.4f} on {plan.devices} devices vs {one['test']['accuracy']:.4f}"
        )
    print(f"SUMMARY multi-device: {plan.devices} {plan.kind} devices vs 1: {ratio:.2f}x rows/s (epochs 2+)")
    for problem in problems:
        print(f"PROBLEM {problem}")
    if args.json:
        Path(args.json).write_text(json.dumps({"devices": plan.devices, "kind": plan.kind, "ratio": ratio,
                                               "results": results}, indent=2, default=str))  # fmt: skip
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
