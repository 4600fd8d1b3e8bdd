"""High-cardinality categories as learned embeddings: trained, summarised, exported and reloaded."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.data.preprocessing import fit_preprocessing, transform
from core.data.quality import apply_fix, assess_quality
from core.deployment.serving_model import load_model_file, predict_table
from core.model.building import build_model, count_params, describe_model
from core.run_store import RunStore
from core.spec import ColumnSpec, DataSpec, PreprocessingSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job


def shops(rows: int = 3000, num_shops: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shop = rng.integers(0, num_shops, rows)
    quality = rng.normal(size=num_shops)  # each shop has its own effect: only an embedding/one-hot can learn it
    spend = rng.normal(size=rows)
    label = np.where(quality[shop] + 0.5 * spend + rng.normal(0, 0.5, rows) > 0, "returns", "leaves")
    return pd.DataFrame({"shop": [f"shop-{i}" for i in shop], "spend": spend, "label": label})


def embedding_spec(**training) -> RunSpec:
    return RunSpec(
        data=DataSpec(target="label"),
        preprocessing=PreprocessingSpec(columns=(ColumnSpec(name="shop", encoding="embedding"),)),
        training=TrainingSpec(**training),
    )


def test_embedding_column_is_one_index_and_the_summary_matches_keras():
    frame = shops()
    spec = embedding_spec()
    state = fit_preprocessing(frame, ["shop", "spend"], max_categories=50, spec=spec.preprocessing)
    (slot,) = state.embeddings()
    assert state.num_features == 2 and slot.position == 0
    assert slot.input_dim == 301  # 300 shops + "other"
    matrix = transform(state, pd.DataFrame({"shop": ["shop-7", "never-seen", None], "spend": [0.0, 0.0, 0.0]}))
    assert matrix[1, 0] == 0.0  # unseen → the "other" row
    assert matrix[0, 0] == state.columns[0].vocabulary.index("shop-7") + 1
    rows = describe_model(spec.model, state.num_features, "binary", 0, state.embeddings())
    network = build_model(spec.model, state.num_features, "binary", 0, state.embeddings())
    assert count_params(rows) == network.count_params()
    assert any(row.layer_type == "Embedding" for row in rows)


def test_quality_gate_offers_an_embedding_for_many_categories():
    frame = shops()
    spec = RunSpec(data=DataSpec(target="label"))
    finding = next(f for f in assess_quality(frame, spec) if f.kind == "high_cardinality")
    assert finding.fix.action == "use_embedding"
    fixed = apply_fix(spec, finding.fix)
    assert fixed.preprocessing.column("shop").encoding == "embedding"
    assert "high_cardinality" not in {f.kind for f in assess_quality(frame, fixed)}


@pytest.mark.slow
def test_embedding_run_learns_exports_and_reloads_without_layerlab(tmp_path):
    frame = shops()
    store = RunStore(tmp_path / "runs")
    embedded = store.create_run(embedding_spec(epochs=15), frame, source_name="shops.csv")
    assert run_job(store, embedded).state == "finished"
    accuracy = store.metrics(embedded)["test"]["accuracy"]
    assert accuracy > 0.7  # the shop effect was learned (spend alone gives about 0.6)

    rows = frame.drop(columns=["label"]).head(20).copy()
    rows.loc[0, "shop"] = "brand-new-shop"
    rows.loc[1, "shop"] = None
    app = predict_table(load_model_file(store.model_path(embedded)), rows)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    script = f"""
import json, sys
import keras, numpy as np, pandas as pd
model = keras.saving.load_model({str(store.model_path(embedded))!r})
rows = pd.read_csv({str(tmp_path / "rows.csv")!r})
out = model({{"shop": rows[["shop"]].fillna("").astype(str).to_numpy(dtype=object),
              "spend": rows[["spend"]].astype("float32").to_numpy()}})
assert "core" not in sys.modules
print(json.dumps(keras.ops.convert_to_numpy(out["probabilities"]).tolist()))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    fresh = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(fresh[:, 1], app["prob_returns"], atol=1e-5)
