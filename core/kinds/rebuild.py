"""Rebuild a run's `model.keras` from its network, its preprocessing and the saved decision threshold, for every
dataset kind (a child process of `core.deployment.threshold.apply_threshold`; needs Keras).

    python -m core.kinds.rebuild RUN_DIR

A table's preprocessing is read back from preprocessing.json. An image or text run's preprocessing lives in Keras
layers (a text vectorizer's vocabulary is not in the record): it is prepared again from the run's data, with the
same seeded split and fit as when the run trained, so the rebuilt model reads raw inputs exactly as before.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.data.preprocessing import PreprocessingState
from core.data.splitting import TargetInfo
from core.deployment.serving_model import build_serving_model, save_model_atomic
from core.deployment.threshold import load_threshold
from core.kinds import dataset_kind
from core.run_store import RunFiles, RunStore


def rebuild_model(run_dir: Path) -> None:
    """network.keras + preprocessing + target.json + the saved threshold → model.keras."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    run_dir = Path(run_dir)
    files = RunFiles(run_dir)
    network = keras.saving.load_model(files.path(RunFiles.NETWORK), safe_mode=True, compile=False)
    target = TargetInfo.from_dict(files.target())
    threshold = load_threshold(run_dir)
    record = json.loads(files.preprocessing_text() or "{}")
    if record.get("kind") in {"images", "text"}:
        store = RunStore(run_dir.parent)
        spec = store.spec(run_dir.name)
        kind = dataset_kind(spec.data.kind)
        prepared = kind.prepare(kind.load(store, run_dir.name), spec.data, spec.preprocessing, model_spec=spec.model)
        model = kind.serving_model(network, prepared.preprocessing, target, threshold=threshold)
    else:
        model = build_serving_model(network, PreprocessingState.from_json(files.preprocessing_text()), target,
                                    threshold=threshold)  # fmt: skip
    save_model_atomic(model, files.path(RunFiles.MODEL))


if __name__ == "__main__":
    rebuild_model(Path(sys.argv[1]))
