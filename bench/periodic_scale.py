"""How much does the spread of the periodic features' starting frequencies matter? An experiment for issue 17.

On the rows LayerLab's default spec prepares (`core.data.splitting.prepare_data` with
`PreprocessingSpec(numeric_embedding="periodic", periodic_scale=S)`: the same split, scaling and one-hot columns a
run trains on), one network built by the app's own `core.model.building.build_model` is trained once per spread
S, side by side in one process: by default the network of the best Adult trial of an earlier search (Dense 80 ->
40 relu, dropout 0.43 after each, Adam 4.1e-4, batch 64, early stopping on validation loss with patience 4 and
the best weights kept). Prints the lowest validation loss and the test score (accuracy, or R² for regression)
per spread. Not a timed test: each fit takes 15-30 s on 2 cores.

    .venv/bin/python bench/periodic_scale.py                                  # Adult, 0.1 1 10 30
    .venv/bin/python bench/periodic_scale.py --data diamonds --target price --units 151 --dropout 0.11 \\
        --learning-rate 0.00069 --scales 0.1 3 30
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


def fit(frame: pd.DataFrame, target: str, scale: float, args) -> tuple[float, float, int, float]:
    """(lowest validation loss, test score, epochs, seconds) of one network with this spread."""
    import keras

    from core.data.splitting import prepare_data
    from core.model.building import build_model
    from core.spec import DataSpec, DenseLayer, DropoutLayer, ModelSpec, PreprocessingSpec, RunSpec

    spec = RunSpec(data=DataSpec(target=target), preprocessing=PreprocessingSpec(numeric_embedding="periodic",
                                                                                 periodic_scale=scale))  # fmt: skip
    prepared = prepare_data(frame, spec.data, spec.preprocessing)
    task = prepared.target.task
    layers = []
    for index in range(args.layers):  # the search's rule: each layer half the one before (at most a quarter)
        layers.append(DenseLayer(units=max(1, args.units >> min(index, 2))))
        if args.dropout:
            layers.append(DropoutLayer(rate=args.dropout))
    state = prepared.preprocessing
    keras.utils.set_random_seed(args.seed)
    network = build_model(ModelSpec(layers=layers), prepared.num_features, task, len(prepared.target.classes),
                          state.embeddings(), periodic=state.periodic())  # fmt: skip
    loss = {"binary": "binary_crossentropy", "regression": "mse"}[task]
    network.compile(keras.optimizers.Adam(args.learning_rate), loss)
    stop = keras.callbacks.EarlyStopping("val_loss", patience=4, restore_best_weights=True)
    started = time.monotonic()
    history = network.fit(prepared.x_train, prepared.y_train, batch_size=64, epochs=80, verbose=0, callbacks=[stop],
                          validation_data=(prepared.x_validation, prepared.y_validation))  # fmt: skip
    seconds = time.monotonic() - started
    predicted = network.predict(prepared.x_test, batch_size=4096, verbose=0).ravel()
    truth = prepared.y_test.ravel().astype("float64")
    if task == "binary":
        score = float(((predicted > 0.5) == truth).mean())
    else:
        score = float(1 - ((predicted - truth) ** 2).sum() / ((truth - truth.mean()) ** 2).sum())
    return min(history.history["val_loss"]), score, len(history.history["loss"]), seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="adult", help="a table in sample_data/ (adult, diamonds)")
    parser.add_argument("--target", default="income")
    parser.add_argument("--scales", type=float, nargs="+", default=[0.1, 1.0, 10.0, 30.0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--units", type=int, default=80)
    parser.add_argument("--dropout", type=float, default=0.43)
    parser.add_argument("--learning-rate", type=float, default=4.1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    frame = pd.read_csv(ROOT / "sample_data" / f"{args.data}.csv")
    print("\n| periodic_scale | lowest validation loss | test score | epochs | seconds |\n|---|---|---|---|---|")
    scores = []
    for scale in args.scales:
        loss, score, epochs, seconds = fit(frame, args.target, scale, args)
        scores.append(score)
        print(f"| {scale:g} | {loss:.4f} | {score:.4f} | {epochs} | {seconds:.0f} |", flush=True)
    print(f"\nbest spread on the test rows: {args.scales[int(np.argmax(scores))]:g} (for reading only: the search "
          "chooses on validation loss)")  # fmt: skip
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
