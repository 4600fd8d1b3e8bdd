"""Which encoding of number columns closes the Adult gap to gradient boosting? An experiment for issue 17.

On the rows LayerLab's default spec prepares (`core.data.splitting.prepare_data`: the same split, scaling and
one-hot columns a run trains on), side by side in one process:

* gradient boosting (scikit-learn's HistGradientBoosting, defaults) on the same encoded matrix, fitted on the
  training and validation rows;
* a plain MLP (Dense 256 relu, Dense 256 relu, AdamW 0.001, batch 256, early stopping on validation loss with
  patience 6 and the best weights kept) on the encoded rows;
* the same MLP with each number column also given as a piecewise-linear encoding (PLE: quantile bins of the
  training rows, "how far into each bin"; Gorishniy et al. 2022, "On Embeddings for Numerical Features in
  Tabular Deep Learning") built from a frozen Dense and ReLU(max_value=1);
* the same MLP with each number column also given as periodic features (PLR: sin and cos of learned
  frequencies, then Dense relu per column; same paper).

Every extra input is made of built-in Keras layers and `keras.ops`, as the app's network would be. Prints
validation and test accuracy per variant and seed, then the mean test accuracy per variant. Not a timed
test: each fit takes 10-30 s on 2 cores.

    .venv/bin/python bench/numeric_embeddings.py                   # seeds 0 and 1
    .venv/bin/python bench/numeric_embeddings.py --seeds 0 --dropout 0.3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def load(path: Path, target: str):
    from core.data.preprocessing import NumericColumn
    from core.data.splitting import prepare_data
    from core.spec import DataSpec, RunSpec

    spec = RunSpec(data=DataSpec(target=target))
    prepared = prepare_data(pd.read_csv(path), spec.data, spec.preprocessing)
    numeric, position = [], 0
    for column in prepared.preprocessing.columns:
        if isinstance(column, NumericColumn):
            numeric.append(position)  # the scaled value; a missing-value flag, if any, follows it
        position += column.width
    return prepared, numeric


def gradient_boosting(prepared, seed: int) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(random_state=seed)
    model.fit(
        np.vstack([prepared.x_train, prepared.x_validation]), np.concatenate([prepared.y_train, prepared.y_validation])
    )
    return float((model.predict(prepared.x_test) == prepared.y_test).mean())


def mlp(prepared, numeric: list[int], variant: str, *, seed: int, bins: int, frequencies: int, sigma: float,
        dropout: float) -> tuple[float, float, int, float]:  # fmt: skip
    """(validation accuracy, test accuracy, epochs, seconds) of one fit."""
    import keras
    from keras import ops

    keras.utils.set_random_seed(seed)
    x_train = prepared.x_train
    inputs = keras.Input((x_train.shape[1],), name="inputs")
    parts = [inputs]
    for number, column in enumerate(numeric, start=1):
        value = ops.take(inputs, [column], axis=1)
        if variant == "ple":
            edges = np.unique(np.quantile(x_train[:, column], np.linspace(0, 1, bins + 1)))
            if len(edges) < 3:
                continue  # a column with one or two values gains nothing from bins
            widths = np.diff(edges)
            dense = keras.layers.Dense(len(widths), trainable=False, name=f"ple_{number}")
            encoded = dense(value)
            dense.set_weights([(1.0 / widths)[None, :].astype("float32"), (-edges[:-1] / widths).astype("float32")])
            parts.append(keras.layers.ReLU(max_value=1.0, name=f"ple_{number}_clip")(encoded))
        elif variant == "plr":
            initializer = keras.initializers.RandomNormal(0.0, sigma, seed=seed + number)
            phases = keras.layers.Dense(frequencies, use_bias=False, kernel_initializer=initializer)(value)
            phases = phases * (2 * np.pi)
            periodic = keras.layers.Concatenate()([ops.sin(phases), ops.cos(phases)])
            parts.append(keras.layers.Dense(16, activation="relu", name=f"plr_{number}")(periodic))
    x = parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)
    for units in (256, 256):
        x = keras.layers.Dense(units, activation="relu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.AdamW(1e-3, weight_decay=1e-4), "binary_crossentropy", metrics=["accuracy"])
    started = time.monotonic()
    stop = keras.callbacks.EarlyStopping("val_loss", patience=6, restore_best_weights=True)
    history = model.fit(x_train, prepared.y_train, validation_data=(prepared.x_validation, prepared.y_validation),
                        batch_size=256, epochs=60, verbose=0, callbacks=[stop])  # fmt: skip
    validation = model.evaluate(prepared.x_validation, prepared.y_validation, verbose=0)[1]
    test = model.evaluate(prepared.x_test, prepared.y_test, verbose=0)[1]
    return validation, test, len(history.history["loss"]), time.monotonic() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT / "sample_data" / "adult.csv"))
    parser.add_argument("--target", default="income")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variants", nargs="+", default=["plain", "ple", "plr"], choices=["plain", "ple", "plr"])
    parser.add_argument("--bins", type=int, default=32, help="PLE: quantile bins per number column")
    parser.add_argument("--frequencies", type=int, default=24, help="PLR: learned frequencies per number column")
    parser.add_argument("--sigma", type=float, default=0.1, help="PLR: spread of the initial frequencies")
    parser.add_argument("--dropout", type=float, default=0.3)
    args = parser.parse_args(argv)

    print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    prepared, numeric = load(Path(args.data), args.target)
    print(f"{len(prepared.y_train):,} training, {len(prepared.y_validation):,} validation, "
          f"{len(prepared.y_test):,} test rows; {prepared.num_features} encoded columns, number columns at {numeric}")  # fmt: skip
    boosting = gradient_boosting(prepared, seed=0)
    print(f"gradient boosting: test accuracy {boosting:.4f}", flush=True)
    scores: dict[str, list[float]] = {}
    for variant in args.variants:
        for seed in args.seeds:
            validation, test, epochs, seconds = mlp(
                prepared, numeric, variant, seed=seed, bins=args.bins, frequencies=args.frequencies,
                sigma=args.sigma, dropout=args.dropout,
            )  # fmt: skip
            scores.setdefault(variant, []).append(test)
            print(f"{variant} seed {seed}: validation {validation:.4f} test {test:.4f} ({epochs} epochs, {seconds:.0f} s)",
                  flush=True)  # fmt: skip
    print(f"\n| variant | mean test accuracy | points below gradient boosting ({boosting:.4f}) |\n|---|---|---|")
    for variant, values in scores.items():
        print(f"| {variant} | {np.mean(values):.4f} | {100 * (boosting - np.mean(values)):.2f} |")
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
