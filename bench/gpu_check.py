"""GPU check: plain Keras vs. LayerLab's `run_job` on an accelerator (meant for KERAS_BACKEND=jax).

Two models on the synthetic table of `bench/textbook_speed.py`:

  textbook: Dense 64 relu -> Dense 64 relu, Adam 0.001, batch 32 (`PRESETS`/`TRAINING_PRESETS["Textbook MLP"]`)
  wide:     3 x Dense 1024 relu, Adam 0.001, batch 1024, on 1,000,000 rows

each (a) as plain Keras (`model.fit`, default steps_per_execution=1, standardised inputs, verbose=0) and
(b) through `core.training.run_job.run_job` in this process. Prints rows/s of both and LayerLab/plain
(target >= 0.9x). With 2+ epochs the ratio uses the epochs after the first (steady state, no compile
time); with 1 epoch it uses the whole `fit`.

Also checks the run's files: on TensorFlow both `model.keras` (serving model with string inputs) and
`network.keras` are written; on JAX `run_job` skips `model.keras` and still writes `network.keras`.

Usually started by `bench/gpu_check.sh`. On a CPU, small:
    KERAS_BACKEND=tensorflow .venv/bin/python bench/gpu_check.py --rows 20000 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BENCH = Path(__file__).resolve().parent
for path in (BENCH.parent, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from textbook_speed import layerlab_run, load_note, make_table, plain_textbook  # noqa: E402

TARGET_RATIO = 0.9


def _speeds(result: dict) -> tuple[float, float | None]:
    """(rows/s over the whole fit, rows/s over the epochs after the first or None)."""
    whole = result["rows"] / result["train_seconds"]
    later = result["epoch_seconds"][1:]
    steady = result["train_rows"] * len(later) / sum(later) if later and sum(later) > 0 else None
    return whole, steady


def check(name: str, frame, units: tuple[int, ...], batch_size: int, epochs: int) -> dict:
    from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec

    spec = RunSpec(
        data=DataSpec(target="y"),
        model=ModelSpec(layers=tuple(DenseLayer(units=n, activation="relu") for n in units)),
        training=TrainingSpec(
            optimizer="adam", learning_rate=0.001, batch_size=batch_size, epochs=epochs, early_stopping=False
        ),
    )
    plain = plain_textbook(
        frame, spec.data, units=units, batch_size=batch_size, epochs=epochs, learning_rate=0.001, seed=spec.data.seed
    )
    root = Path(tempfile.mkdtemp(prefix=f"layerlab-gpu-{name}-"))
    try:
        ours = layerlab_run(frame, spec, root, source_name=f"synthetic-{name}.parquet")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    plain_whole, plain_steady = _speeds(plain)
    ours_whole, ours_steady = _speeds(ours)
    steady = plain_steady is not None and ours_steady is not None
    ratio = (ours_steady / plain_steady) if steady else (ours_whole / plain_whole)
    basis = "epochs 2+" if steady else "whole fit"

    def fmt(value):
        return "-" if value is None else f"{value:,.0f}"

    print(f"\n== {name}: {len(frame):,} rows, units {list(units)}, batch {batch_size}, {epochs} epoch(s)")
    print("| side | fit s | rows/s (whole fit) | rows/s (epochs 2+) | steps_per_execution | test accuracy |")
    print("|---|---|---|---|---|---|")
    print(
        f"| plain Keras | {plain['train_seconds']:.1f} | {fmt(plain_whole)} | {fmt(plain_steady)} | 1 | "
        f"{plain['test_accuracy']:.4f} |"
    )
    print(
        f"| LayerLab run_job | {ours['train_seconds']:.1f} | {fmt(ours_whole)} | {fmt(ours_steady)} | "
        f"{ours['steps_per_execution']} | {ours['test']['accuracy']:.4f} |"
    )
    verdict = "OK" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(f"{name}: LayerLab/plain rows/s ({basis}): {ratio:.2f}x (target >= {TARGET_RATIO}x) {verdict}")
    print(
        f"{name}: whole run_job {ours['run_job_seconds']:.1f}s; model.keras written: {ours['exported_model']}, "
        f"network.keras written: {ours['network_file']}"
    )
    return {
        "name": name,
        "rows": len(frame),
        "units": list(units),
        "batch_size": batch_size,
        "epochs": epochs,
        "plain": {k: v for k, v in plain.items()},
        "layerlab": {k: v for k, v in ours.items()},
        "ratio": ratio,
        "ratio_basis": basis,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="rows of both tables (default 100k / 1M)")
    parser.add_argument("--textbook-rows", type=int, default=100_000)
    parser.add_argument("--wide-rows", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of both models")
    parser.add_argument("--only", choices=("textbook", "wide"), default=None, help="run one of the two")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import keras

    from core.runtime.devices import describe_device, device_info
    from core.training.jobs import _warm_up

    backend = keras.backend.backend()
    device = device_info()
    print(f"keras {keras.__version__}, backend {backend}; device: {describe_device()}", flush=True)
    if backend == "jax" and device.kind != "GPU":
        print("NOTE: jax sees no GPU here, so the numbers below are CPU numbers", flush=True)
    if backend == "jax":
        import jax

        print(f"jax {jax.__version__}; devices: {jax.devices()}", flush=True)
    print(load_note("before"), flush=True)
    _warm_up()

    results = []
    started = time.monotonic()
    if args.only in (None, "textbook"):
        frame = make_table(args.rows or args.textbook_rows, seed=0)
        results.append(check("textbook", frame, (64, 64), 32, args.epochs))
    if args.only in (None, "wide"):
        frame = make_table(args.rows or args.wide_rows, seed=1)
        results.append(check("wide", frame, (1024, 1024, 1024), 1024, args.epochs))

    problems = []
    for result in results:
        files = result["layerlab"]
        expected_model = backend == "tensorflow"
        if files["exported_model"] != expected_model or not files["network_file"]:
            problems.append(
                f"{result['name']}: on {backend} expected model.keras={expected_model} and network.keras=True, "
                f"got {files['exported_model']} and {files['network_file']}"
            )
    print(f"\ntotal {time.monotonic() - started:.0f}s; {load_note('after')}")
    for result in results:
        print(f"SUMMARY {result['name']}: LayerLab/plain {result['ratio']:.2f}x ({result['ratio_basis']})")
    for problem in problems:
        print(f"PROBLEM {problem}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"backend": backend, "device": describe_device(), "device_info": device.to_dict(), "results": results},
                indent=2,
                default=str,
            )
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
