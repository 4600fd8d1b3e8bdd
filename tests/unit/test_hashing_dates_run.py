"""A whole run with a hashed column and day-first text dates: the downloaded model predicts what the app does."""

import json

import numpy as np
import pandas as pd
import pytest

from core.data.preprocessing import PreprocessingState, transform
from core.data.splitting import TargetInfo
from core.deployment.serving_model import load_model_file, predict_table
from core.evaluation.metrics import probabilities_from_output
from core.run_store import RunStore
from core.spec import ColumnSpec, DataSpec, DenseLayer, ModelSpec, PreprocessingSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job

pytestmark = pytest.mark.slow


def frame(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    days = pd.to_datetime("2023-01-01") + pd.to_timedelta(rng.integers(0, 600, rows), unit="D")
    x = rng.normal(size=rows)
    return pd.DataFrame(
        {
            "x": x,
            "shop": [f"shop {i}" for i in rng.integers(0, 150, rows)],
            "when": days.strftime("%d/%m/%Y"),  # day first: 13/01/2023 and later prove it
            "label": np.where(x + (days.month.to_numpy() > 6) + rng.normal(0, 0.5, rows) > 0.5, "yes", "no"),
        }
    )


def test_hashing_and_day_first_dates_survive_a_run_and_the_download(tmp_path):
    import keras

    store = RunStore(tmp_path / "runs")
    spec = RunSpec(
        data=DataSpec(target="label"),
        preprocessing=PreprocessingSpec(
            columns=(ColumnSpec(name="shop", encoding="hashing", num_bins=16), ColumnSpec(name="when", kind="datetime"))
        ),
        model=ModelSpec(layers=(DenseLayer(units=8),)),
        training=TrainingSpec(epochs=2, batch_size=32),
    )
    run_id = store.create_run(spec, frame(), source_name="shops.csv")
    assert run_job(store, run_id).state == "finished"
    run_dir = store.path(run_id)
    state = PreprocessingState.from_json((run_dir / "preprocessing.json").read_text(encoding="utf-8"))
    shop, when = state.columns[1], state.columns[2]
    assert (shop.encoding, shop.num_bins, when.dayfirst) == ("hashing", 16, True)

    rows = pd.DataFrame(
        {
            "x": [0.1, -1.0, 2.0, 0.0],
            "shop": ["shop 3", "a new shop", "", None],
            "when": ["03/04/2024", "25/12/2023", "", "junk"],
        }
    )
    model = load_model_file(run_dir / "model.keras")
    predicted = predict_table(model, rows)
    target = TargetInfo.from_dict(json.loads((run_dir / "target.json").read_text(encoding="utf-8")))
    network = keras.saving.load_model(run_dir / "network.keras")
    app = probabilities_from_output(network.predict(transform(state, rows), verbose=0), target)
    np.testing.assert_allclose(predicted[[f"prob_{c}" for c in target.classes]].to_numpy(), app, atol=1e-5)
    # Read month first, 03/04/2024 would be March 4: a different input, so (almost surely) another output.
    month_first = rows.assign(when=["04/03/2024", "12/25/2023", "", "junk"])
    assert not np.allclose(transform(state, rows), transform(state, month_first))
