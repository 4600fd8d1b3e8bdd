"""The model doctor: each check fires on a spec that has the problem, is silent on the default spec, and its
one-click fix makes the finding go away."""

from __future__ import annotations

import pytest

from core.model.doctor import apply_advice, diagnose
from core.spec import (
    ActivationLayer,
    BatchNormalizationLayer,
    DataSpec,
    DenseLayer,
    DropoutLayer,
    ModelSpec,
    RunSpec,
    TrainingSpec,
)

FACTS = {"train_rows": 2000, "num_inputs": 12, "task": "binary"}


def make_spec(*layers, **training) -> RunSpec:
    model = ModelSpec(layers=layers) if layers else ModelSpec()
    return RunSpec(data=DataSpec(target="y"), model=model, training=TrainingSpec(**training))


def kinds(spec: RunSpec, **facts) -> list[str]:
    return [advice.kind for advice in diagnose(spec, **{**FACTS, **facts})]


def fix(spec: RunSpec, kind: str, **facts) -> RunSpec:
    advice = next(a for a in diagnose(spec, **{**FACTS, **facts}) if a.kind == kind)
    assert advice.message.endswith(".") and advice.fix_label
    fixed = apply_advice(spec, advice)
    assert kind not in kinds(fixed, **facts), diagnose(fixed, **{**FACTS, **facts})
    return fixed


def test_default_spec_gets_no_advice():
    assert diagnose(make_spec(), **FACTS) == []


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_default_spec_and_presets_are_silent_for_every_task(task):
    from core.spec import PRESETS

    for preset in PRESETS.values():
        spec = RunSpec(data=DataSpec(target="y"), model=preset)
        assert diagnose(spec, train_rows=5000, num_inputs=20, task=task, num_classes=4) == [], preset


def test_linear_dense_then_dense_is_one_linear_map():
    spec = make_spec(DenseLayer(units=32, activation="linear"), DenseLayer(units=16))
    advice = diagnose(spec, **FACTS)[0]
    assert advice.kind == "linear_stack" and advice.severity == "warning"
    assert "Layer 1 (Dense, 32 units) is linear and feeds layer 2 (Dense)" in advice.message
    fixed = fix(spec, "linear_stack")
    assert fixed.model.layers[0].activation == "relu"


def test_linear_dense_through_batch_norm_gets_an_activation_inserted():
    spec = make_spec(DenseLayer(units=32, activation="linear"), BatchNormalizationLayer(), DenseLayer(units=16))
    fixed = fix(spec, "linear_stack")
    assert [layer.kind for layer in fixed.model.layers] == ["dense", "batch_normalization", "activation", "dense"]
    assert fixed.model.layers[2].activation == "relu"


def test_linear_dense_into_the_output_layer_is_flagged():
    spec = make_spec(DenseLayer(units=8), DenseLayer(units=8, activation="linear"))
    assert "the output layer" in diagnose(spec, **FACTS)[0].message
    fix(spec, "linear_stack")


def test_a_nonlinear_activation_layer_between_dense_layers_is_fine():
    spec = make_spec(DenseLayer(units=8, activation="linear"), ActivationLayer(activation="gelu"), DenseLayer(units=8))
    assert kinds(spec) == []


def test_dropout_of_eighty_percent_or_more():
    spec = make_spec(DenseLayer(units=16), DropoutLayer(rate=0.85))
    advice = diagnose(spec, **FACTS)[0]
    assert advice.kind == "high_dropout"
    assert "85%" in advice.message
    assert fix(spec, "high_dropout").model.layers[1].rate == pytest.approx(0.5)
    assert kinds(make_spec(DenseLayer(units=16), DropoutLayer(rate=0.79))) == []


def test_far_more_parameters_than_training_rows():
    spec = make_spec(DenseLayer(units=512), DenseLayer(units=512))
    advice = next(a for a in diagnose(spec, **{**FACTS, "train_rows": 300}) if a.kind == "too_many_parameters")
    assert "300 training rows" in advice.message
    assert f"{(12 + 1) * 512 + 513 * 512 + 513:,} parameters" in advice.message
    fixed = fix(spec, "too_many_parameters", train_rows=300)
    assert 1 <= fixed.model.layers[0].units < 512


def test_batch_size_larger_than_the_training_rows():
    spec = make_spec(batch_size=512)
    advice = next(a for a in diagnose(spec, **{**FACTS, "train_rows": 200}) if a.kind == "batch_too_large")
    assert "(512)" in advice.message and "200 training rows" in advice.message
    assert fix(spec, "batch_too_large", train_rows=200).training.batch_size == 32


@pytest.mark.parametrize(
    ("optimizer", "rate", "expected"),
    [("adam", 0.5, 0.001), ("adam", 1e-7, 0.001), ("sgd", 3.0, 0.01), ("rmsprop", 0.2, 0.001)],
)
def test_learning_rate_outside_the_optimizers_range(optimizer, rate, expected):
    spec = make_spec(optimizer=optimizer, learning_rate=rate)
    assert "learning_rate" in kinds(spec)
    assert fix(spec, "learning_rate").training.learning_rate == pytest.approx(expected)


def test_sgd_at_a_rate_adam_would_not_like_is_fine():
    assert kinds(make_spec(optimizer="sgd", learning_rate=0.1)) == []


def test_an_optimizer_the_doctor_does_not_know_uses_a_default_range():
    spec = make_spec(learning_rate=5.0)
    unknown = spec.model_copy(update={"training": spec.training.model_copy(update={"optimizer": "lion"})})
    advice = next(a for a in diagnose(unknown, **FACTS) if a.kind == "learning_rate")
    assert "lion" in advice.message
    assert "learning_rate" not in kinds(apply_advice(unknown, advice))


def test_three_stacked_tanh_or_sigmoid_layers():
    spec = make_spec(
        DenseLayer(units=16, activation="tanh"),
        DropoutLayer(rate=0.1),
        DenseLayer(units=16, activation="sigmoid"),
        DenseLayer(units=16, activation="linear"),
        ActivationLayer(activation="tanh"),
    )
    advice = next(a for a in diagnose(spec, **FACTS) if a.kind == "saturating_stack")
    assert "Layers 1, 3, 5 stack 3 sigmoid/tanh activations" in advice.message
    fixed = fix(spec, "saturating_stack")
    assert {fixed.model.layers[i].activation for i in (0, 2, 4)} == {"relu"}
    two = make_spec(DenseLayer(units=16, activation="tanh"), DenseLayer(units=16, activation="tanh"))
    assert kinds(two) == []


def test_batch_norm_right_after_dropout_is_swapped():
    spec = make_spec(DenseLayer(units=16), DropoutLayer(rate=0.3), BatchNormalizationLayer(), DenseLayer(units=8))
    advice = next(a for a in diagnose(spec, **FACTS) if a.kind == "batch_norm_after_dropout")
    assert advice.severity == "info"
    fixed = fix(spec, "batch_norm_after_dropout")
    assert [layer.kind for layer in fixed.model.layers] == ["dense", "batch_normalization", "dropout", "dense"]


def test_selu_without_lecun_normal():
    spec = make_spec(DenseLayer(units=16, activation="selu"))
    assert fix(spec, "selu_initializer").model.layers[0].kernel_initializer == "lecun_normal"


def test_warnings_come_before_information_and_nothing_else_changes():
    spec = make_spec(DropoutLayer(rate=0.3), BatchNormalizationLayer(), DenseLayer(units=8), learning_rate=0.5)
    findings = diagnose(spec, **FACTS)
    assert [a.severity for a in findings] == ["warning", "info"]
    fixed = apply_advice(spec, findings[0])
    assert fixed.model == spec.model and fixed.data == spec.data


def test_a_stack_that_does_not_fit_together_does_not_crash_the_doctor():
    from core.spec import LSTMLayer

    spec = make_spec(DenseLayer(units=8), LSTMLayer(units=4), learning_rate=0.5)
    assert kinds(spec) == ["learning_rate"]


def test_findings_have_unique_keys_for_their_buttons():
    spec = make_spec(
        DenseLayer(units=8, activation="linear"),
        BatchNormalizationLayer(),
        DenseLayer(units=8, activation="linear"),
        DenseLayer(units=8),
    )
    findings = diagnose(spec, **FACTS)
    assert [a.kind for a in findings] == ["linear_stack", "linear_stack"]
    assert len({a.key for a in findings}) == 2


def test_a_full_stack_gets_relu_instead_of_one_more_layer():
    filler = tuple(DenseLayer(units=4) for _ in range(61))
    spec = make_spec(DenseLayer(units=8, activation="linear"), BatchNormalizationLayer(), DenseLayer(units=8), *filler)
    fixed = fix(spec, "linear_stack")
    assert len(fixed.model.layers) == 64
    assert fixed.model.layers[0].activation == "relu"
