"""Permutation importance: a column the model ignores costs nothing, one it relies on costs a lot."""

import numpy as np
import pytest

from core.evaluation.importance import Importance, model_importance, permutation_importance
from core.run_store import RunStore
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job
from tests.conftest import make_regression_frame


def accuracy(y, p):
    return float(np.mean(y == p))


def test_an_ignored_column_has_zero_importance_and_a_used_one_a_large_drop():
    rng = np.random.default_rng(0)
    inputs = {"used": rng.normal(size=400), "ignored": rng.normal(size=400)}
    truth = inputs["used"] > 0
    baseline, columns = permutation_importance(lambda x: x["used"] > 0, inputs, truth, accuracy, n_repeats=4)
    assert baseline == 1.0
    assert [column.column for column in columns] == ["used", "ignored"]
    assert columns[0].mean == pytest.approx(0.5, abs=0.08) and columns[0].std > 0
    assert columns[1].mean == 0.0 and columns[1].std == 0.0


def test_the_same_seed_gives_the_same_numbers_and_another_seed_others():
    rng = np.random.default_rng(1)
    inputs = {"a": rng.normal(size=200), "b": rng.normal(size=200)}
    truth = inputs["a"] + inputs["b"] > 0

    def predict(x):
        return x["a"] + 0.5 * x["b"] > 0

    first = permutation_importance(predict, inputs, truth, accuracy, seed=3)
    again = permutation_importance(predict, inputs, truth, accuracy, seed=3)
    other = permutation_importance(predict, inputs, truth, accuracy, seed=4)
    assert first == again
    assert first != other


def test_the_input_columns_are_not_changed():
    inputs = {"a": np.arange(50.0)}
    permutation_importance(lambda x: x["a"], inputs, np.arange(50.0), lambda y, p: -float(np.abs(y - p).sum()))
    assert inputs["a"].tolist() == list(range(50))


def test_zero_repeats_is_refused():
    with pytest.raises(ValueError, match="n_repeats"):
        permutation_importance(lambda x: x["a"], {"a": np.zeros(3)}, np.zeros(3), accuracy, n_repeats=0)


@pytest.mark.slow
def test_through_a_trained_model_the_informative_columns_matter_most(tmp_path):
    import keras

    frame = make_regression_frame(400).assign(noise=lambda f: np.random.default_rng(5).normal(size=len(f)))
    store = RunStore(tmp_path / "runs")
    spec = RunSpec(
        data=DataSpec(target="price"),
        model=ModelSpec(layers=(DenseLayer(units=16),)),
        training=TrainingSpec(epochs=30, learning_rate=0.02),
    )
    run_id = store.create_run(spec, frame, source_name="r.csv")
    assert run_job(store, run_id).state == "finished"
    from core.data.splitting import TargetInfo
    from core.run_store import read_json

    model = keras.saving.load_model(store.path(run_id) / "model.keras", safe_mode=True)
    target = TargetInfo.from_dict(read_json(store.path(run_id) / "target.json"))
    result = model_importance(model, frame.head(300), target, max_rows=200, n_repeats=3)
    by_name = {column.column: column.mean for column in result.columns}
    assert result.metric == "r2" and result.num_rows == 200 and result.num_rows_total == 300
    assert result.baseline > 0.8
    # price = 30 a + 5 b + 20 [large]: a and b are the ones the model relies on; noise is not in the formula.
    assert by_name["a"] > 0.5 and by_name["b"] > 0.2
    assert abs(by_name["noise"]) < 0.05 < by_name["b"]
    assert Importance.from_dict(result.to_dict()) == result
