"""The Model page's instant summary matches Keras, and the output layer always fits the task."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.model.building import (
    build_model,
    choose_steps_per_execution,
    count_params,
    derive_head,
    describe_model,
    make_optimizer,
)
from core.spec import (
    PRESETS,
    TRAINING_PRESETS,
    ActivationLayer,
    BatchNormalizationLayer,
    DenseLayer,
    DropoutLayer,
    GaussianNoiseLayer,
    LayerNormalizationLayer,
    ModelSpec,
    TrainingSpec,
)

HEADS = [("binary", 2), ("multiclass", 5), ("regression", 0)]

EXTRA_MODELS = {
    "regularised": ModelSpec(layers=(DenseLayer(units=7, activation="tanh", l1=0.01, l2=0.02), DropoutLayer(rate=0.5))),
    "batch norm first": ModelSpec(layers=(BatchNormalizationLayer(), DenseLayer(units=3))),
    "new tabular kinds": ModelSpec(
        layers=(
            GaussianNoiseLayer(stddev=0.3),
            DenseLayer(units=9, activation="linear", kernel_initializer="he_uniform"),
            LayerNormalizationLayer(),
            ActivationLayer(activation="leaky_relu"),
            DenseLayer(units=5, activation="softplus", kernel_initializer="lecun_normal"),
        )
    ),
}
# Conv, pooling, embedding and recurrent kinds need image or sequence inputs: tests/unit/test_layers.py.
ALL_MODELS = {**PRESETS, **EXTRA_MODELS}


@pytest.mark.parametrize(("task", "num_classes"), HEADS)
@pytest.mark.parametrize("preset", sorted(ALL_MODELS))
def test_described_parameter_counts_match_keras(preset, task, num_classes):
    spec = ALL_MODELS[preset]
    num_inputs = 13
    rows = describe_model(spec, num_inputs, task, num_classes)
    model = build_model(spec, num_inputs, task, num_classes)
    assert count_params(rows) == model.count_params()
    for row in rows[1:]:
        assert row.num_params == model.get_layer(row.name).count_params(), row.name
    assert rows[-1].output_shape == f"(None, {model.output.shape[-1]})"


@pytest.mark.parametrize(("task", "num_classes"), HEADS)
def test_described_rows_follow_the_layers_in_order(task, num_classes):
    spec = PRESETS["Wide with dropout"]
    rows = describe_model(spec, 20, task, num_classes)
    assert [row.layer_type for row in rows] == ["InputLayer", "Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert rows[0].output_shape == "(None, 20)"
    assert rows[1].num_params == (20 + 1) * 256
    assert rows[3].num_params == (256 + 1) * 128


def test_binary_head_is_one_sigmoid_unit_with_binary_crossentropy():
    head = derive_head("binary", 2)
    assert (head.units, head.activation, head.loss) == (1, "sigmoid", "binary_crossentropy")


def test_multiclass_head_is_softmax_over_the_classes_with_sparse_crossentropy():
    head = derive_head("multiclass", 7)
    assert (head.units, head.activation, head.loss) == (7, "softmax", "sparse_categorical_crossentropy")


def test_regression_head_is_linear_with_mean_squared_error():
    head = derive_head("regression")
    assert (head.units, head.activation, head.loss) == (1, "linear", "mean_squared_error")
    assert head.metric == "mae"


@pytest.mark.parametrize(("task", "num_classes"), HEADS)
def test_built_output_layer_matches_the_head(task, num_classes):
    head = derive_head(task, num_classes)
    model = build_model(PRESETS["Balanced (default)"], 4, task, num_classes)
    output = model.get_layer("output")
    assert output.units == head.units
    assert output.activation.__name__ == head.activation
    assert tuple(model.output.shape) == (None, head.units)


@pytest.mark.parametrize(("task", "num_classes"), HEADS)
def test_losses_take_probabilities_never_logits(task, num_classes):
    import keras

    head = derive_head(task, num_classes)
    loss = keras.losses.get(head.loss)
    assert not getattr(loss, "from_logits", False)
    model = build_model(PRESETS["Balanced (default)"], 4, task, num_classes)
    rng = np.random.default_rng(0)
    output = np.asarray(model(rng.normal(size=(16, 4)).astype("float32")))
    if task == "multiclass":
        np.testing.assert_allclose(output.sum(axis=1), 1.0, rtol=1e-5)
        assert np.all(output >= 0)
    elif task == "binary":
        assert np.all((output > 0) & (output < 1))


def test_hidden_layer_settings_reach_keras():
    spec = ModelSpec(layers=(DenseLayer(units=9, activation="elu", l2=0.5), DropoutLayer(rate=0.4)))
    model = build_model(spec, 3, "binary")
    dense = model.get_layer("hidden_1_dense")
    assert dense.units == 9
    assert dense.activation.__name__ == "elu"
    assert dense.kernel_regularizer is not None
    assert float(dense.kernel_regularizer.l2) == pytest.approx(0.5)
    assert model.get_layer("hidden_2_dropout").rate == pytest.approx(0.4)


def test_no_penalty_means_no_regulariser():
    model = build_model(ModelSpec(layers=(DenseLayer(units=4),)), 3, "binary")
    assert model.get_layer("hidden_1_dense").kernel_regularizer is None


@pytest.mark.parametrize(
    ("optimizer", "class_name"), [("adam", "Adam"), ("adamw", "AdamW"), ("sgd", "SGD"), ("rmsprop", "RMSprop")]
)
def test_optimizer_and_learning_rate_reach_keras(optimizer, class_name):
    built = make_optimizer(TrainingSpec(optimizer=optimizer, learning_rate=0.0125, momentum=0.7, weight_decay=0.01))
    assert type(built).__name__ == class_name
    assert float(built.learning_rate) == pytest.approx(0.0125)
    if optimizer == "sgd":
        assert built.momentum == pytest.approx(0.7)
    if optimizer == "adamw":
        assert built.weight_decay == pytest.approx(0.01)


def test_steps_per_execution_is_one_on_torch():
    assert choose_steps_per_execution(1000, 32, 500, "torch") == 1


def test_textbook_mlp_at_batch_32_fuses_at_least_eight_steps():
    spec = PRESETS["Textbook MLP"]
    batch_size = TRAINING_PRESETS["Textbook MLP"].batch_size
    assert batch_size == 32
    num_params = count_params(describe_model(spec, 100, "binary"))
    steps = choose_steps_per_execution(num_params, batch_size, steps_per_epoch=1000, backend="tensorflow")
    assert 8 <= steps <= 32


def test_steps_per_execution_never_exceeds_an_epoch():
    assert choose_steps_per_execution(100, 32, steps_per_epoch=3, backend="tensorflow") == 3
    assert choose_steps_per_execution(100, 32, steps_per_epoch=1, backend="jax") == 1


def test_huge_models_run_one_step_per_call():
    assert choose_steps_per_execution(50_000_000, 1024, steps_per_epoch=1000, backend="tensorflow") == 1


@settings(max_examples=200, deadline=None)
@given(
    num_params=st.integers(0, 10**9),
    batch_size=st.integers(1, 65536),
    steps_per_epoch=st.integers(1, 10**6),
    backend=st.sampled_from(["tensorflow", "jax", "torch"]),
)
def test_steps_per_execution_stays_in_bounds(num_params, batch_size, steps_per_epoch, backend):
    steps = choose_steps_per_execution(num_params, batch_size, steps_per_epoch, backend)
    assert 1 <= steps <= min(32, steps_per_epoch)
    if backend == "torch":
        assert steps == 1
