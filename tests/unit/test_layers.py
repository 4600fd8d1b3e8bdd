"""Every layer kind: built by Keras, described without Keras (same shapes and parameters), clear shape errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import SpecError
from core.model.building import build_model, count_params, describe_model, infer_shapes
from core.spec import (
    LAYER_KINDS,
    PRESETS,
    ActivationLayer,
    BatchNormalizationLayer,
    BidirectionalLayer,
    Conv1DLayer,
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    EmbeddingLayer,
    FlattenLayer,
    GaussianNoiseLayer,
    GlobalAveragePooling1DLayer,
    GlobalAveragePooling2DLayer,
    GRULayer,
    LayerNormalizationLayer,
    LSTMLayer,
    MaxPooling1DLayer,
    MaxPooling2DLayer,
    ModelSpec,
    RunSpec,
    parse_spec,
)

# (name, layers, input shape without the batch axis, input kind)
STACKS = [
    (
        "tabular toolbox",
        (
            DenseLayer(units=32, activation="leaky_relu", kernel_initializer="he_normal", l2=0.01),
            LayerNormalizationLayer(),
            GaussianNoiseLayer(stddev=0.2),
            DenseLayer(units=16, activation="linear"),
            BatchNormalizationLayer(),
            ActivationLayer(activation="softplus"),
            DropoutLayer(rate=0.3),
        ),
        (11,),
        "tabular",
    ),
    (
        "time series conv",
        (
            Conv1DLayer(filters=8, kernel_size=5, strides=2, padding="valid"),
            MaxPooling1DLayer(pool_size=2),
            Conv1DLayer(filters=4, kernel_size=3, padding="same", activation="gelu"),
            LayerNormalizationLayer(),
            GlobalAveragePooling1DLayer(),
            DenseLayer(units=6),
        ),
        (40, 3),
        "sequence",
    ),
    (
        "image conv",
        (
            Conv2DLayer(filters=6, kernel_size=3),
            BatchNormalizationLayer(),
            MaxPooling2DLayer(pool_size=2),
            Conv2DLayer(filters=5, kernel_size=3, strides=2, padding="same"),
            FlattenLayer(),
            DenseLayer(units=10),
        ),
        (16, 16, 1),
        "image",
    ),
    (
        "image global pooling",
        (Conv2DLayer(filters=4, kernel_size=5, activation="elu"), GlobalAveragePooling2DLayer()),
        (12, 10, 3),
        "image",
    ),
    (
        "text recurrent",
        (
            EmbeddingLayer(input_dim=50, output_dim=8),
            BidirectionalLayer(layer=LSTMLayer(units=5, return_sequences=True)),
            GRULayer(units=7, return_sequences=True),
            LSTMLayer(units=4),
            DenseLayer(units=3, activation="tanh"),
        ),
        (12,),
        "tokens",
    ),
    (
        "text gru bidirectional",
        (
            EmbeddingLayer(input_dim=20, output_dim=4),
            DenseLayer(units=6),
            BidirectionalLayer(layer=GRULayer(units=3)),
        ),
        (9,),
        "tokens",
    ),
    ("sequence flatten", (LSTMLayer(units=3, return_sequences=True), FlattenLayer()), (6, 2), "sequence"),
]


def test_the_stacks_cover_every_layer_kind():
    used = set()
    for _, layers, _, _ in STACKS:
        for layer in layers:
            used.add(layer.kind)
            if isinstance(layer, BidirectionalLayer):
                used.add(layer.layer.kind)
    assert used == set(LAYER_KINDS)


def test_every_spec_layer_kind_has_one_registry_entry():
    from core.model.layers import LAYER_REGISTRY

    assert set(LAYER_REGISTRY) == set(LAYER_KINDS)


def test_layer_kinds_are_looked_up_not_tested_one_by_one():
    """No isinstance chains over layer specs in the model code: each kind's rules live in LAYER_REGISTRY."""
    import ast
    from pathlib import Path

    spec_classes = {cls.__name__ for cls in LAYER_KINDS.values()}
    model_code = Path(__file__).resolve().parents[2] / "core" / "model"
    found = []
    for path in [model_code / "building.py", model_code / "layers.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                if names & spec_classes:
                    found.append(f"{path.name}:{node.lineno}")
    assert not found, found


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize(("name", "layers", "input_shape", "input_kind"), STACKS, ids=[s[0] for s in STACKS])
def test_analytic_shapes_and_parameters_equal_keras(name, layers, input_shape, input_kind, task):
    spec = ModelSpec(layers=layers)
    num_classes = 4 if task == "multiclass" else 0
    kwargs = {"input_shape": input_shape, "input_kind": input_kind}
    rows = describe_model(spec, input_shape[0], task, num_classes, **kwargs)
    model = build_model(spec, input_shape[0], task, num_classes, **kwargs)
    assert count_params(rows) == model.count_params()
    assert rows[0].output_shape == "(" + ", ".join(["None", *map(str, input_shape)]) + ")"
    for row in rows[1:]:
        layer = model.get_layer(row.name)
        assert row.num_params == layer.count_params(), row.name
        shown = "(" + ", ".join("None" if size is None else str(size) for size in layer.output.shape) + ")"
        assert row.output_shape == shown, row.name
    assert [row.layer_type for row in rows[1:-1]] == [type(model.get_layer(r.name)).__name__ for r in rows[1:-1]]


def test_every_tabular_stack_trains_one_step_and_predicts():
    _, layers, input_shape, _ = STACKS[0]
    model = build_model(ModelSpec(layers=layers), input_shape[0], "binary")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, input_shape[0])).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    dense = model.get_layer("hidden_1_dense")
    assert dense.activation.__name__ == "leaky_relu"
    assert type(dense.kernel_initializer).__name__ == "HeNormal"
    assert model.get_layer("hidden_3_gaussian_noise").stddev == pytest.approx(0.2)


def test_token_model_takes_integer_ids():
    _, layers, input_shape, _ = STACKS[4]
    model = build_model(
        ModelSpec(layers=layers), input_shape[0], "multiclass", 3, input_shape=input_shape, input_kind="tokens"
    )
    ids = np.random.default_rng(1).integers(0, 50, size=(4, input_shape[0]))
    out = np.asarray(model(ids))
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_lstm_after_dense_on_a_table_names_both_layers():
    spec = ModelSpec(layers=(DenseLayer(units=32), DenseLayer(units=64), LSTMLayer(units=8)))
    with pytest.raises(SpecError) as error:
        describe_model(spec, 13, "binary")
    message = str(error.value)
    assert "Layer 3 (LSTM, 8 units) needs a sequence input (batch, steps, features)" in message
    assert "layer 2 (Dense, 64 units) outputs (None, 64)" in message
    assert "Remove the LSTM" in message


def test_conv_as_first_layer_on_a_table_names_the_input():
    spec = ModelSpec(layers=(Conv1DLayer(filters=8),))
    with pytest.raises(SpecError) as error:
        describe_model(spec, 13, "binary")
    assert "Layer 1 (Conv1D, 8 filters of 3) needs a sequence input" in str(error.value)
    assert "the input (13 encoded table columns) outputs (None, 13)" in str(error.value)


def test_builder_raises_the_same_clear_error_instead_of_a_keras_traceback():
    spec = ModelSpec(layers=(DenseLayer(units=4), Conv2DLayer(filters=2)))
    with pytest.raises(SpecError, match=r"Layer 2 \(Conv2D, 2 filters of 3\) needs an image input"):
        build_model(spec, 5, "regression")


def test_recurrent_layer_without_return_sequences_suggests_turning_it_on():
    spec = ModelSpec(layers=(LSTMLayer(units=4), GRULayer(units=3)))
    with pytest.raises(SpecError) as error:
        infer_shapes(spec, (10, 2), input_kind="sequence")
    assert "layer 1 (LSTM, 4 units) outputs (None, 4)" in str(error.value)
    assert "Turn on return_sequences in layer 1" in str(error.value)


def test_a_sequence_left_at_the_end_needs_flattening():
    spec = ModelSpec(layers=(Conv1DLayer(filters=3),))
    with pytest.raises(SpecError) as error:
        describe_model(spec, 8, "binary", input_shape=(8, 2), input_kind="sequence")
    assert "The output layer needs a flat input (batch, features) but layer 1 (Conv1D, 3 filters of 3)" in str(
        error.value
    )
    assert "(None, 6, 3)" in str(error.value)
    assert "Flatten" in str(error.value)


def test_a_kernel_longer_than_the_sequence_is_refused():
    spec = ModelSpec(layers=(MaxPooling1DLayer(pool_size=4), Conv1DLayer(filters=2, kernel_size=5), FlattenLayer()))
    with pytest.raises(SpecError, match=r"Layer 2 .* needs at least 5 steps but layer 1 \(MaxPooling1D, pool 4\)"):
        infer_shapes(spec, (12, 1), input_kind="sequence")


def test_embedding_layer_on_a_table_points_to_the_prepare_page():
    spec = ModelSpec(layers=(EmbeddingLayer(), FlattenLayer()))
    with pytest.raises(SpecError, match="Prepare page"):
        describe_model(spec, 6, "binary")


def test_old_spec_json_parses_with_the_new_defaults():
    old = {
        "version": 1,
        "data": {"target": "y"},
        "model": {
            "layers": [
                {"kind": "dense", "units": 8, "activation": "relu", "l1": 0.0, "l2": 0.001},
                {"kind": "dropout", "rate": 0.2},
                {"kind": "batch_normalization"},
            ]
        },
    }
    spec = parse_spec(json.dumps(old))
    assert spec.model.layers[0].kernel_initializer == "glorot_uniform"
    assert spec.model.layers[0].l2 == pytest.approx(0.001)
    assert RunSpec.model_validate_json(spec.to_json()) == spec


def test_new_layer_kinds_round_trip_through_json():
    _, layers, _, _ = STACKS[4]
    spec = RunSpec(data={"target": "y"}, model=ModelSpec(layers=layers))
    restored = parse_spec(spec.to_json())
    assert restored.model.layers == layers
    assert restored.model.layers[1].layer.return_sequences is True


def test_unknown_activation_is_refused_with_the_field_named():
    with pytest.raises(SpecError, match="model.layers.0"):
        parse_spec({"data": {"target": "y"}, "model": {"layers": [{"kind": "activation", "activation": "mish"}]}})


def test_presets_describe_without_errors():
    for preset in PRESETS.values():
        assert count_params(describe_model(preset, 10, "binary")) > 0
