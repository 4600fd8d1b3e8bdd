"""Periodic features of number columns (`PreprocessingSpec.numeric_embedding="periodic"`): where they sit, what
the Model page says about them, that a network learns with them what it cannot learn without, and that the
model file still loads without LayerLab. The exports in every format are checked in test_exporters.py (its
binary run uses them)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.data.preprocessing import fit_preprocessing
from core.deployment.codegen import check_supported, generate_script
from core.deployment.serving_model import load_model_file, predict_table
from core.experiments.search import SearchSpace, suggest, trial_spec
from core.model.building import build_model, count_params, describe_model
from core.run_store import RunStore
from core.spec import ColumnSpec, DataSpec, DenseLayer, ModelSpec, PreprocessingSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job

PERIODIC = PreprocessingSpec(numeric_embedding="periodic", periodic_frequencies=8, periodic_dim=4)


def stripes(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """The class flips every half unit of `x` (ten stripes): a number that matters in steps."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 5, rows)
    noise = rng.normal(size=rows)
    label = np.where(np.floor(2 * x) % 2 == 0, "even", "odd")
    return pd.DataFrame({"x": x, "noise": noise, "shop": rng.choice(["a", "b", "c"], rows), "label": label})


def test_periodic_slots_sit_on_the_number_columns_and_the_summary_matches_keras():
    frame = stripes(500)
    features = ["shop", "x", "noise"]
    plain = fit_preprocessing(frame, features, max_categories=50, spec=PreprocessingSpec())
    assert plain.periodic() == ()
    state = fit_preprocessing(frame, features, max_categories=50, spec=PERIODIC)
    assert state.num_features == plain.num_features  # the encoded rows do not change: the network adds the features
    slots = state.periodic()
    assert [(slot.name, slot.position) for slot in slots] == [("x", 4), ("noise", 5)]  # after shop's 4 one-hot slots
    assert {(slot.frequencies, slot.dim) for slot in slots} == {(8, 4)}
    model = ModelSpec(layers=(DenseLayer(units=5),))
    rows = describe_model(model, state.num_features, "binary", 0, periodic=slots)
    network = build_model(model, state.num_features, "binary", 0, periodic=slots)
    assert count_params(rows) == network.count_params()
    for row in rows[1:]:
        assert row.num_params == network.get_layer(row.name).count_params(), row.name
    assert rows[1].details == "periodic features of 'x': 8 learned frequencies"
    # The hidden layer reads the 6 encoded values and 4 outputs per number column.
    assert network.get_layer("hidden_1_dense").kernel.shape == (6 + 2 * 4, 5)


def _accuracy(store: RunStore, frame: pd.DataFrame, preprocessing: PreprocessingSpec) -> tuple[str, float]:
    spec = RunSpec(
        data=DataSpec(target="label", seed=1),
        preprocessing=preprocessing,
        model=ModelSpec(layers=(DenseLayer(units=32), DenseLayer(units=32))),
        training=TrainingSpec(epochs=25, batch_size=64, learning_rate=0.003, early_stopping=False),
    )
    run_id = store.create_run(spec, frame, source_name="stripes.csv")
    assert run_job(store, run_id).state == "finished"
    return run_id, store.metrics(run_id)["test"]["accuracy"]


@pytest.mark.slow
def test_periodic_features_learn_a_striped_number_and_the_model_reloads_without_layerlab(tmp_path):
    frame = stripes()
    store = RunStore(tmp_path / "runs")
    _, plain = _accuracy(store, frame, PreprocessingSpec())
    run_id, periodic = _accuracy(store, frame, PERIODIC.model_copy(update={"periodic_scale": 0.5}))
    assert periodic >= 0.9, (plain, periodic)  # ten stripes are learned
    assert periodic - plain >= 0.1, (plain, periodic)  # which two Dense layers on the value alone do not manage

    rows = frame.drop(columns=["label"]).head(20)
    app = predict_table(load_model_file(store.model_path(run_id)), rows)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    script = f"""
import json, sys
import keras, numpy as np, pandas as pd
model = keras.saving.load_model({str(store.model_path(run_id))!r})
rows = pd.read_csv({str(tmp_path / "rows.csv")!r})
out = model({{"x": rows[["x"]].astype("float32").to_numpy(), "noise": rows[["noise"]].astype("float32").to_numpy(),
              "shop": rows[["shop"]].astype(str).to_numpy(dtype=object)}})
assert "core" not in sys.modules
print(json.dumps(keras.ops.convert_to_numpy(out["probabilities"]).tolist()))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    fresh = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(fresh[:, 1], app["prob_odd"], atol=1e-5)


def test_the_search_tries_periodic_features_on_tables_only():
    import optuna

    table = RunSpec(data=DataSpec(target="label"))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        params = suggest(trial, SearchSpace(), table)
        seen.add(params["numeric_embedding"])
        preprocessing = trial_spec(table, SearchSpace(), params).preprocessing
        assert preprocessing.numeric_embedding == params["numeric_embedding"]
        # With periodic features the trial also draws how widely their frequencies spread; without, it does not.
        if params["numeric_embedding"] == "periodic":
            assert 0.1 <= params["periodic_scale"] <= 100 and preprocessing.periodic_scale == params["periodic_scale"]
        else:
            assert "periodic_scale" not in params and preprocessing.periodic_scale == PreprocessingSpec().periodic_scale
        study.tell(trial, 0.0)
    assert seen == {"none", "periodic"}
    narrow = SearchSpace(periodic_scale=(20.0, 40.0))
    scales = [suggest(study.ask(), narrow, table).get("periodic_scale") for _ in range(12)]
    assert all(20 <= scale <= 40 for scale in scales if scale is not None) and any(scales)
    with pytest.raises(ValueError, match="periodic_scale"):
        SearchSpace(periodic_scale=(0.001, 1.0))  # below what the spec allows
    unticked = suggest(study.ask(), SearchSpace(vary_numeric_embedding=False), table)
    assert "numeric_embedding" not in unticked
    images = RunSpec(data=DataSpec(kind="images", target="label"))
    assert "numeric_embedding" not in suggest(study.ask(), SearchSpace(), images)


@pytest.mark.slow
def test_the_training_script_rebuilds_the_periodic_features(tmp_path):
    from tests.unit.test_codegen import _run_script, _train

    frame = stripes(1500)
    spec = RunSpec(
        data=DataSpec(target="label"),
        preprocessing=PERIODIC.model_copy(update={"periodic_scale": 0.5}),
        model=ModelSpec(layers=(DenseLayer(units=16),)),
        training=TrainingSpec(epochs=8, batch_size=64, learning_rate=0.003),
    )
    state = fit_preprocessing(frame, ["x", "noise", "shop"], max_categories=50, spec=spec.preprocessing)
    check_supported(spec, state)  # not refused any more
    run_dir = _train(tmp_path, frame, spec, "stripes.csv")
    script = generate_script(run_dir)
    assert "periodic_{number}_frequencies" in script and "keras.ops.sin(phases)" in script
    result = _run_script(script, tmp_path)
    expected = json.loads((run_dir / "metrics.json").read_text())
    assert abs(result["test"]["accuracy"] - expected["test"]["accuracy"]) <= 0.02, (result["test"], expected["test"])


def test_a_spec_with_periodic_settings_out_of_bounds_is_refused():
    with pytest.raises(ValueError):
        PreprocessingSpec(numeric_embedding="periodic", periodic_frequencies=0)
    with pytest.raises(ValueError):
        PreprocessingSpec(numeric_embedding="sometimes")
    assert PreprocessingSpec(numeric_embedding="periodic", periodic_scale=100).periodic_scale == 100
    with pytest.raises(ValueError):
        PreprocessingSpec(numeric_embedding="periodic", periodic_scale=101)
    assert ColumnSpec(name="x").kind == "auto"  # per-column settings are unchanged


def test_under_mixed_precision_the_frequencies_compute_in_float32():
    """A GPU run computes in float16, but a phase of a few thousand radians (a spread a search may choose) is
    held by float16 only to the nearest 2 or 4: the frequencies and the output stay in float32."""
    import keras

    from core.data.splitting import prepare_data
    from core.training.run_job import _build_network

    spec = RunSpec(
        data=DataSpec(target="label"),
        preprocessing=PERIODIC.model_copy(update={"periodic_scale": 75.0}),
        model=ModelSpec(layers=(DenseLayer(units=8),)),
    )
    data = prepare_data(stripes(300), spec.data, spec.preprocessing)
    network = _build_network(spec, data, "mixed_float16")
    frequencies = [layer for layer in network.layers if layer.name.endswith("_frequencies")]
    assert len(frequencies) == 2  # x and noise
    assert {layer.dtype_policy.compute_dtype for layer in frequencies} == {"float32"}
    assert network.get_layer("hidden_1_dense").dtype_policy.compute_dtype == "float16"
    assert network.get_layer("output").dtype_policy.compute_dtype == "float32"
    # The phases the network computes are the float32 product, not a float16 one.
    rows = data.x_train[:64]
    phases = keras.Model(network.input, frequencies[0].output)(rows)
    column = data.preprocessing.periodic()[0].position  # the first periodic_N_frequencies reads this column
    exact = rows[:, [column]] @ np.asarray(frequencies[0].kernel.numpy(), "float32")
    assert keras.backend.standardize_dtype(phases.dtype) == "float32" and np.allclose(
        np.asarray(phases), exact, rtol=1e-5, atol=1e-3
    )
