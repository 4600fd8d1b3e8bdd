"""The run spec: a file reproduces a run exactly, and a bad file says which setting to change and how."""

from __future__ import annotations

import copy
import json

import pydantic
import pytest

from core.errors import SpecError
from core.spec import (
    PRESETS,
    TRAINING_PRESETS,
    BatchNormalizationLayer,
    DataSpec,
    DenseLayer,
    DropoutLayer,
    ModelSpec,
    PreprocessingSpec,
    RunSpec,
    TrainingSpec,
    parse_spec,
)


def _default_spec() -> RunSpec:
    return RunSpec(data=DataSpec(target="label"))


def _default_dict() -> dict:
    return json.loads(_default_spec().to_json())


def _spec_error(payload) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_spec(payload)
    return caught.value


def test_default_spec_round_trips_exactly_through_json():
    spec = _default_spec()
    assert RunSpec.model_validate_json(spec.to_json()) == spec
    assert parse_spec(spec.to_json()) == spec
    assert parse_spec(spec.to_json().encode("utf-8")) == spec
    assert parse_spec(json.loads(spec.to_json())) == spec


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_model_preset_round_trips_exactly(preset):
    spec = RunSpec(data=DataSpec(target="label", features=("a", "b"), task="binary", seed=7), model=PRESETS[preset])
    restored = RunSpec.model_validate_json(spec.to_json())
    assert restored == spec
    assert restored.model.layers == PRESETS[preset].layers


@pytest.mark.parametrize("preset", sorted(TRAINING_PRESETS))
def test_every_training_preset_round_trips_exactly(preset):
    spec = RunSpec(data=DataSpec(target="label"), training=TRAINING_PRESETS[preset])
    assert RunSpec.model_validate_json(spec.to_json()) == spec


def test_a_fully_customised_spec_round_trips_exactly():
    spec = RunSpec(
        data=DataSpec(
            target="price", features=("a", "b", "size"), task="regression", test_fraction=0.25,
            validation_fraction=0.15, seed=123456,
        ),
        preprocessing=PreprocessingSpec(max_categories=7),
        model=ModelSpec(
            layers=(
                DenseLayer(units=33, activation="gelu", l1=0.001, l2=0.0001),
                BatchNormalizationLayer(),
                DropoutLayer(rate=0.125),
                DenseLayer(units=5, activation="tanh"),
            )
        ),
        training=TrainingSpec(
            optimizer="sgd", learning_rate=0.0123, momentum=0.5, batch_size=17, epochs=3, early_stopping=False,
            patience=9, restore_best_weights=False,
        ),
    )  # fmt: skip
    text = spec.to_json()
    assert RunSpec.model_validate_json(text) == spec
    # A float like 0.1 must come back bit for bit, not as 0.10000000000000002.
    assert json.loads(text)["training"]["learning_rate"] == 0.0123


def test_unknown_top_level_field_is_named_with_how_to_fix():
    payload = _default_dict()
    payload["colour"] = "blue"
    error = _spec_error(payload)
    assert error.field == "colour"
    assert "`colour` is not a known setting" in error.message
    assert "Remove it or check its spelling" in error.message


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ("data", ("data",)),
        ("preprocessing", ("preprocessing",)),
        ("model", ("model",)),
        ("training", ("training",)),
        ("dense layer", ("model", "layers", 0)),
    ],
)
def test_extra_fields_are_forbidden_at_every_level(section, path):
    payload = _default_dict()
    node = payload
    for part in path:
        node = node[part]
    node["surprise"] = 1
    error = _spec_error(payload)
    assert "surprise" in error.field
    assert "is not a known setting" in error.message


def test_a_typo_in_a_layer_setting_is_refused_rather_than_ignored():
    payload = _default_dict()
    payload["model"]["layers"][0]["unit"] = 8  # "units" misspelt
    error = _spec_error(payload)
    assert error.field.endswith("unit")
    assert "unit" in error.message


@pytest.mark.parametrize("units", [0, -3, 8193])
def test_out_of_range_units_names_the_field_and_the_limit(units):
    payload = _default_dict()
    payload["model"]["layers"][1]["units"] = units
    error = _spec_error(payload)
    assert error.field.endswith("units")
    assert error.field.startswith("model.layers.1")
    assert "units" in error.message
    assert f"received {units}" in error.message
    assert "greater than or equal to 1" in error.message or "less than or equal to 8192" in error.message
    assert "try again" in error.message


def test_bad_layer_kind_lists_the_kinds_that_exist():
    payload = _default_dict()
    payload["model"]["layers"][0]["kind"] = "convolution"
    error = _spec_error(payload)
    assert error.field.startswith("model.layers.0")
    for kind in ("dense", "dropout", "batch_normalization"):
        assert kind in error.message
    assert "convolution" in error.message


def test_test_fraction_out_of_range_names_the_field():
    payload = _default_dict()
    payload["data"]["test_fraction"] = 0.95
    error = _spec_error(payload)
    assert error.field == "data.test_fraction"
    assert "data.test_fraction" in error.message
    assert "0.95" in error.message


@pytest.mark.parametrize(("test_fraction", "validation_fraction"), [(0.5, 0.4), (0.45, 0.45), (0.8, 0.3)])
def test_holdout_fractions_that_leave_no_training_rows_are_refused(test_fraction, validation_fraction):
    payload = _default_dict()
    payload["data"]["test_fraction"] = test_fraction
    payload["data"]["validation_fraction"] = validation_fraction
    error = _spec_error(payload)
    assert error.field.startswith("data")
    assert "test_fraction" in error.message
    assert "validation_fraction" in error.message
    assert "at least 10% of the rows for training" in error.message
    assert "lower one of them" in error.message


def test_holdout_just_under_the_limit_is_accepted():
    spec = parse_spec({"data": {"target": "y", "test_fraction": 0.5, "validation_fraction": 0.39}})
    assert spec.data.test_fraction + spec.data.validation_fraction < 0.9


def test_target_listed_as_a_feature_is_refused_with_the_column_name():
    payload = _default_dict()
    payload["data"]["features"] = ["x", "label"]
    error = _spec_error(payload)
    assert error.field.startswith("data")
    assert "'label'" in error.message
    assert "cannot also be a feature" in error.message
    assert "remove it from features" in error.message


def test_missing_target_says_it_is_required():
    error = _spec_error({"data": {}})
    assert error.field == "data.target"
    assert "required" in error.message


def test_invalid_json_text_is_a_spec_error_not_a_crash():
    error = _spec_error("{not json")
    assert "not valid" in error.message


def test_every_bad_field_is_reported_at_once():
    payload = _default_dict()
    payload["training"]["epochs"] = 0
    payload["training"]["learning_rate"] = -1
    error = _spec_error(payload)
    assert "training.epochs" in error.message
    assert "training.learning_rate" in error.message


def test_specs_are_frozen():
    spec = _default_spec()
    with pytest.raises(pydantic.ValidationError):
        spec.data = DataSpec(target="other")  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        spec.data.target = "other"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        spec.training.epochs = 5  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        spec.model.layers[0].units = 5  # type: ignore[misc]
    assert spec.data.target == "label"


def test_specs_are_hashable_and_compare_by_value():
    first = _default_spec()
    second = parse_spec(copy.deepcopy(_default_dict()))
    assert first == second
    assert hash(first) == hash(second)
    assert first != RunSpec(data=DataSpec(target="label", seed=1))


def test_output_layer_is_not_configurable():
    payload = _default_dict()
    payload["model"]["output_activation"] = "softmax"
    error = _spec_error(payload)
    assert error.field == "model.output_activation"
