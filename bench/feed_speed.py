"""What does expanding one-hot columns a batch at a time cost training? Whole matrices vs. batch streams.

`core.data.feeding` feeds Keras whole float32 matrices for small tables and, above `LAYERLAB_TRAIN_MATRIX_MB`,
batch streams that expand the compact rows (`EncodedRows`) just before the network sees them. This script
trains the same network on the same prepared rows both ways, each in a fresh process, and prints the
seconds per epoch and the peak memory of each, side by side:

  (a) arrays:  LAYERLAB_TRAIN_MATRIX_MB=100000 (the whole matrices, Keras' own array input)
  (b) stream:  LAYERLAB_TRAIN_MATRIX_MB=0      (tf.data on TensorFlow: gather + one-hot in the graph)

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/feed_speed.py [--csv /tmp/big.csv] [--rows 300000] [--epochs 2]

Without --csv it writes the table of `bench/data_scale.py` (--rows rows). The first epoch includes
tracing; the script reports the fastest later epoch and the first one separately.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _child(csv: str, epochs: int, batch_size: int) -> dict:
    import resource

    import keras
    import numpy as np

    import core.data.reading as tables
    import core.data.splitting as datasets
    from core.data.feeding import feeds_in_batches, fit_data
    from core.model.building import build_model, derive_head
    from core.spec import DataSpec, DenseLayer, ModelSpec, PreprocessingSpec

    def rss_mib() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    base = rss_mib()
    frame = tables.load_table_file(csv).frame
    prepared = datasets.prepare_data(frame, DataSpec(target="label"), PreprocessingSpec())
    keras.utils.set_random_seed(0)
    head = derive_head(prepared.target.task, len(prepared.target.classes))
    model = build_model(
        ModelSpec(layers=(DenseLayer(units=64), DenseLayer(units=64))),
        prepared.num_features,
        prepared.target.task,
        len(prepared.target.classes),
    )
    model.compile(optimizer="adam", loss=head.loss, metrics=[head.metric])
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.started)

    history = model.fit(**fit_data(prepared, batch_size), epochs=epochs, callbacks=[Timer()], verbose=0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "stream": feeds_in_batches(prepared.encoded_train, prepared.encoded_validation),
        "epoch_s": times,
        "val_loss": [float(v) for v in history.history["val_loss"]],
        "peak_above_start_mib": peak - base,
        "rows": len(prepared.y_train),
        "inputs": prepared.num_features,
        "finite": bool(np.all([np.all(np.isfinite(w)) for w in model.get_weights()])),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", help="the table to train on (target column 'label')")
    parser.add_argument("--rows", type=int, default=300_000, help="rows of the generated table (without --csv)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.epochs, args.batch_size)))
        return 0
    sys.path.insert(0, str(ROOT))
    folder = tempfile.mkdtemp(prefix="layerlab-feed-")
    csv = args.csv
    if csv is None:
        from bench.data_scale import generate_csv

        csv = os.path.join(folder, "table.csv")
        generate_csv(Path(csv), args.rows)
    results = {}
    for label, limit in (("arrays", "100000"), ("stream", "0")):
        env = {**os.environ, "LAYERLAB_TRAIN_MATRIX_MB": limit, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
        command = [sys.executable, __file__, "--child", csv, "--epochs", str(args.epochs)]
        command += ["--batch-size", str(args.batch_size)]
        completed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            print(completed.stderr[-3000:])
            return 1
        results[label] = json.loads(completed.stdout.strip().splitlines()[-1])
    arrays, stream = results["arrays"], results["stream"]
    print(f"table: {csv}; {arrays['rows']:,} training rows, {arrays['inputs']} inputs, batch {args.batch_size}")
    for label, result in results.items():
        later = min(result["epoch_s"][1:]) if len(result["epoch_s"]) > 1 else float("nan")
        print(
            f"  {label:7s} fed in batches: {result['stream']!s:5s} first epoch {result['epoch_s'][0]:6.2f} s, "
            f"later epochs {later:6.2f} s, peak {result['peak_above_start_mib']:6.0f} MiB above start, "
            f"val_loss {result['val_loss'][-1]:.4f}, weights finite: {result['finite']}"
        )
    ratio = min(stream["epoch_s"][1:] or stream["epoch_s"]) / min(arrays["epoch_s"][1:] or arrays["epoch_s"])
    memory = stream["peak_above_start_mib"] / arrays["peak_above_start_mib"]
    print(f"stream / arrays: epoch time {ratio:.2f}x, peak memory {memory:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
