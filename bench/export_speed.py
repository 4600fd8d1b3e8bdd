"""Rows per second of every download format on 10,000 raw rows, each run the way its user would run it.

Trains one run on `--train-rows` rows of sample_data/adult.csv (the Textbook MLP layers, Dense 64 relu ->
Dense 64 relu, 3 epochs) unless `--run-dir` names a finished run, builds every download with
`core.deployment.formats.export_many` (in a child process, as the Download page does), then predicts `--rows` rows of
adult.csv (target dropped) with each:

  keras        `predict_table` on the unzipped model.keras (raw columns, batches of 8,192)
  savedmodel   `tf.saved_model.load(...).signatures["serving_default"]`, all rows in one call
  tflite-*     the shipped `preprocess` + `tf.lite.Interpreter` signature runner, all rows in one call
  onnx         the shipped `preprocess` + onnxruntime (CPU), all rows in one call

Each format: one warm-up call, then the best of `--repeats` timed calls, text-to-table included (preprocess
and postprocess count). Prints a Markdown table and the load average before and after.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/export_speed.py [--rows 10000 --repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def load_note(when: str) -> str:
    one, five, _ = os.getloadavg()
    warning = "  (WARNING: other work is running; numbers are pessimistic)" if one > 0.5 else ""
    return f"load average {when}: {one:.2f} (1 min), {five:.2f} (5 min){warning}"


def train_run(folder: Path, train_rows: int) -> Path:
    import pandas as pd

    from core.run_store import RunStore
    from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
    from core.training.run_job import run_job

    store = RunStore(folder / "runs")
    frame = pd.read_csv(ROOT / "sample_data" / "adult.csv", nrows=train_rows)
    spec = RunSpec(
        data=DataSpec(target="income"),
        model=ModelSpec(layers=(DenseLayer(units=64), DenseLayer(units=64))),
        training=TrainingSpec(epochs=3),
    )
    run_id = store.create_run(spec, frame, source_name="adult.csv")
    status = run_job(store, run_id)
    if status.state != "finished":
        raise SystemExit(f"training failed: {status['message']}")
    return store.path(run_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", help="a finished run folder (default: train one on adult.csv)")
    parser.add_argument("--train-rows", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import pandas as pd

    from core.deployment.formats import FORMAT_LABELS, FORMATS, export_many, load_runner

    print(load_note("before"))
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-export-") as folder:
        folder = Path(folder)
        run_dir = Path(args.run_dir) if args.run_dir else train_run(folder, args.train_rows)
        started = time.perf_counter()
        zips = export_many(run_dir)
        print(f"built {len(zips)} downloads in {time.perf_counter() - started:.1f} s (one child process)")
        rows = pd.read_csv(ROOT / "sample_data" / "adult.csv", nrows=args.rows).drop(columns=["income"])
        results = []
        for format in FORMATS:
            predict = load_runner(zips[format], folder / "unzipped" / format)
            predict(rows.head(64))
            best = min(_timed(predict, rows) for _ in range(args.repeats))
            size = zips[format].stat().st_size
            results.append((format, len(rows) / best, 1e6 * best / len(rows), size))
    print()
    print(f"| format | rows/s ({args.rows:,} rows) | µs per row | download zip |")
    print("|---|---:|---:|---:|")
    for format, rows_per_second, micro, size in results:
        print(f"| {FORMAT_LABELS[format]} | {rows_per_second:,.0f} | {micro:,.1f} | {size / 1024:,.0f} KB |")
    print()
    print(load_note("after"))


def _timed(predict, rows) -> float:
    started = time.perf_counter()
    predict(rows)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
