"""The "Textbook MLP" on a synthetic table: plain Keras written the textbook way vs. LayerLab's defaults.

Table: `--rows` rows (default 100,000) x 20 standard-normal numeric features, seeded; the binary target
is a nonlinear function of 14 of them (sine, products, a square, tanh) plus Gaussian noise, cut at its
median, so the classes are balanced and the best possible test accuracy is about 0.93.

  (a) plain: `keras.Sequential` Dense 64 relu -> Dense 64 relu -> Dense 1 sigmoid, Adam(0.001),
      binary cross-entropy, `model.fit(x, y, batch_size=32, epochs=N, validation_data=...)` with the
      default steps_per_execution=1, verbose=0. Preprocessing: standardisation with the training rows'
      mean and std, nothing else. Same 70/10/20 split (same seed, stratified) as LayerLab makes.
  (b) LayerLab: `core.training.run_job.run_job` in this process on a RunStore in a temporary folder, with the
      model `PRESETS["Textbook MLP"]` and training `TRAINING_PRESETS["Textbook MLP"]` (LayerLab then picks
      its own steps_per_execution, adds its progress callback, exports the model, ...).

Rows/s = training rows x epochs / seconds of the `fit` call (validation each epoch included on both sides).

    .venv/bin/python bench/textbook_speed.py [--rows 100000 --epochs 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `import core` without an installed package (e.g. on a GPU machine)

NUM_FEATURES = 20
NOISE = 0.4  # std of the Gaussian noise added to the score; sets the best reachable accuracy (~0.93)


def load_note(when: str) -> str:
    """The machine's load average: a measurement taken while other processes use the CPU is not worth much."""
    one, five, _ = os.getloadavg()
    cores = os.cpu_count() or 1
    busy = "  WARNING: the machine is busy with other work; numbers will be noisy" if one > 0.75 * cores else ""
    return f"load average {when}: {one:.2f} (1 min), {five:.2f} (5 min) on {cores} cores{busy}"


def make_table(rows: int, seed: int = 0):
    """A seeded synthetic binary-classification table: columns f00..f19 (float32) and `y` (0/1)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, NUM_FEATURES)).astype("float32")
    score = (
        np.sin(2.0 * x[:, 0])
        + x[:, 1] * x[:, 2]
        + 0.5 * (x[:, 3] ** 2 - 1.0)
        + np.tanh(2.0 * (x[:, 4] - x[:, 5]))
        + 0.5 * x[:, 6]
        - 0.5 * x[:, 7] * x[:, 8]
        + 0.3 * x[:, 9:14].sum(axis=1)
    )  # f14..f19 carry no signal
    score = score + rng.normal(0.0, NOISE, size=rows)
    y = (score > np.median(score)).astype("int64")
    frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(NUM_FEATURES)])
    frame["y"] = y
    return frame


def split_like_layerlab(frame, data_spec):
    """The same train/validation/test rows `core.data.splitting.prepare_data` makes (same calls, same seed)."""
    from sklearn.model_selection import train_test_split

    stratify = frame[data_spec.target].map(str)
    holdout = data_spec.test_fraction + data_spec.validation_fraction
    train, rest = train_test_split(frame, test_size=holdout, random_state=data_spec.seed, stratify=stratify)
    validation, test = train_test_split(
        rest,
        test_size=data_spec.test_fraction / holdout,
        random_state=data_spec.seed,
        stratify=stratify.loc[rest.index],
    )
    return train, validation, test


def _epoch_timer():
    """Records each epoch's seconds (validation included, as LayerLab's history does). Epoch hooks only:
    a batch hook would make Keras sync every step and slow the plain side down."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []
            self._started = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.monotonic() - self._started)

    return EpochTimer()


def plain_textbook(frame, data_spec, *, units=(64, 64), batch_size=32, epochs=10, learning_rate=1e-3, seed=42):
    """(a): plain Keras as in a tutorial. Returns fit seconds, rows trained, per-epoch seconds, test accuracy."""
    import keras
    import numpy as np

    train, validation, test = split_like_layerlab(frame, data_spec)
    features = [c for c in frame.columns if c != data_spec.target]

    x_train = train[features].to_numpy("float32")
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0

    def scale(part):
        return ((part[features].to_numpy("float32") - mean) / std).astype("float32")

    x_train = scale(train)
    x_validation, x_test = scale(validation), scale(test)
    y_train = train[data_spec.target].to_numpy("float32")
    y_validation = validation[data_spec.target].to_numpy("float32")
    y_test = test[data_spec.target].to_numpy("float32")

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((len(features),))]
        + [keras.layers.Dense(n, activation="relu") for n in units]
        + [keras.layers.Dense(1, activation="sigmoid")]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )  # steps_per_execution left at its default, 1
    timer = _epoch_timer()
    started = time.monotonic()
    model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=(x_validation, y_validation),
        callbacks=[timer],
        verbose=0,
    )
    seconds = time.monotonic() - started
    probabilities = model.predict(x_test, batch_size=4096, verbose=0).reshape(-1)
    accuracy = float(np.mean((probabilities > 0.5) == (y_test > 0.5)))
    return {
        "train_seconds": seconds,
        "rows": len(x_train) * epochs,
        "train_rows": len(x_train),
        "epoch_seconds": timer.seconds,
        "test_accuracy": accuracy,
        "test_rows": len(x_test),
    }


def layerlab_run(frame, spec, root: Path, source_name: str = "synthetic.parquet") -> dict:
    """(b): `core.training.run_job.run_job` in this process. Returns its metrics plus the whole call's wall time."""
    from core.run_store import RunStore
    from core.training.run_job import run_job

    store = RunStore(root)
    run_id = store.create_run(spec, frame, source_name=source_name)
    started = time.monotonic()
    status = run_job(store, run_id)
    wall = time.monotonic() - started
    if status.state != "finished":
        raise RuntimeError(f"LayerLab run ended {status['state']}: {status.get('message')}")
    metrics = store.metrics(run_id)
    return {
        "train_seconds": metrics["train_seconds"],
        "rows": metrics["num_rows"]["train"] * metrics["epochs_run"],
        "train_rows": metrics["num_rows"]["train"],
        "epoch_seconds": [row["seconds"] for row in store.history(run_id)],
        "test": metrics["test"],
        "test_rows": metrics["num_rows"]["test"],
        "steps_per_execution": metrics["steps_per_execution"],
        "run_job_seconds": wall,
        "exported_model": (store.path(run_id) / "model.keras").exists(),
        "network_file": (store.path(run_id) / "network.keras").exists(),
        "data_parallel": metrics.get("data_parallel"),
        "device": status.device,
    }


def textbook_spec(target: str, epochs: int):
    from core.spec import PRESETS, TRAINING_PRESETS, DataSpec, RunSpec, TrainingSpec

    training = TrainingSpec(**{**TRAINING_PRESETS["Textbook MLP"].model_dump(), "epochs": epochs})
    return RunSpec(data=DataSpec(target=target), model=PRESETS["Textbook MLP"], training=training)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic table")
    args = parser.parse_args(argv)

    import keras

    from core.training.jobs import _warm_up

    frame = make_table(args.rows, args.seed)
    spec = textbook_spec("y", args.epochs)
    preset = spec.training
    print(
        f"synthetic table {args.rows:,} x {NUM_FEATURES} (+ target y, {frame['y'].mean():.2f} positive); "
        f"Textbook MLP {[layer.units for layer in spec.model.layers]} relu, {preset.optimizer} "
        f"{preset.learning_rate:g}, batch {preset.batch_size}, {preset.epochs} epochs; keras {keras.__version__} "
        f"({keras.backend.backend()})",
        flush=True,
    )
    print(load_note("before"), flush=True)
    _warm_up()  # first-use costs (graph machinery, thread pools) paid before either side is timed

    plain = plain_textbook(
        frame,
        spec.data,
        units=tuple(layer.units for layer in spec.model.layers),
        batch_size=preset.batch_size,
        epochs=preset.epochs,
        learning_rate=preset.learning_rate,
        seed=spec.data.seed,
    )
    plain_speed = plain["rows"] / plain["train_seconds"]
    print(
        f"plain Keras: fit {plain['train_seconds']:.1f}s, {plain_speed:,.0f} rows/s (steps_per_execution 1), "
        f"test accuracy {plain['test_accuracy']:.4f}",
        flush=True,
    )

    root = Path(tempfile.mkdtemp(prefix="layerlab-textbook-"))
    try:
        ours = layerlab_run(frame, spec, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ours_speed = ours["rows"] / ours["train_seconds"]
    print(
        f"LayerLab:    fit {ours['train_seconds']:.1f}s, {ours_speed:,.0f} rows/s (steps_per_execution "
        f"{ours['steps_per_execution']}), test accuracy {ours['test']['accuracy']:.4f}; whole run_job "
        f"{ours['run_job_seconds']:.1f}s",
        flush=True,
    )
    print()
    print("| side | fit s | rows/s | test accuracy |")
    print("|---|---|---|---|")
    print(
        f"| plain Keras (textbook) | {plain['train_seconds']:.1f} | {plain_speed:,.0f} | {plain['test_accuracy']:.4f} |"
    )
    print(f"| LayerLab run_job | {ours['train_seconds']:.1f} | {ours_speed:,.0f} | {ours['test']['accuracy']:.4f} |")
    print()
    print(f"speed ratio (LayerLab/plain): {ours_speed / plain_speed:.2f}x")
    print(f"test accuracy: plain {plain['test_accuracy']:.4f}, LayerLab {ours['test']['accuracy']:.4f}")
    print(load_note("after"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
