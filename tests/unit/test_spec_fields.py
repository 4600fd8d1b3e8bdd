"""ui/spec_fields.py: widget bounds, defaults, steps, help and choices read from the spec's pydantic Fields."""

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from core.spec import ColumnSpec, DataSpec, DenseLayer, DropoutLayer, ScheduleSpec, TrainingSpec
from ui.spec_fields import (
    allowed,
    bounds,
    choices,
    column_number_kwargs,
    column_select_kwargs,
    default,
    help_text,
    number_kwargs,
    select_kwargs,
)


class Toy(BaseModel):
    count: int = Field(default=3, ge=1, le=10, description="How many.")
    open_count: int = Field(default=5, gt=0, lt=10, description="Open interval.")
    share: float = Field(default=0.5, gt=0.0, lt=1.0, description="A share.")
    limit: float | None = Field(default=None, gt=0.0, le=100.0, description="Off when empty.")
    stepped: float = Field(default=0.5, ge=0.0, le=2.0, multiple_of=0.25, title="Stepped")
    colour: Literal["red", "green", "blue"] = Field(default="green", description="A colour.")
    maybe: Literal["a", "b"] | None = Field(default=None)
    free: float = Field(default=1.0)
    name: str = Field(default="x")


def test_inclusive_bounds_default_and_help():
    assert number_kwargs(Toy, "count") == {"min_value": 1, "max_value": 10, "value": 3, "help": "How many."}


def test_exclusive_int_bounds_move_inward_by_one():
    assert bounds(Toy, "open_count") == (1, 9)


def test_exclusive_float_bounds_move_inward_by_step_or_shown_decimal():
    assert bounds(Toy, "share", step=0.05) == (0.05, 0.95)
    assert bounds(Toy, "share", step=0.05, format="%.3f") == (0.001, 0.999)
    assert bounds(Toy, "share") == (0.01, 0.99)  # Streamlit's default float step


def test_optional_number_field_keeps_its_bounds_and_empty_default():
    kwargs = number_kwargs(Toy, "limit", format="%.2f")
    assert (kwargs["min_value"], kwargs["max_value"], kwargs["value"]) == (0.01, 100.0, None)
    assert kwargs["format"] == "%.2f"


def test_multiple_of_is_the_default_step_and_title_the_help_without_description():
    kwargs = number_kwargs(Toy, "stepped")
    assert kwargs["step"] == 0.25
    assert kwargs["help"] == "Stepped"


def test_unbounded_field_gives_none_bounds():
    assert number_kwargs(Toy, "free")["min_value"] is None
    assert number_kwargs(Toy, "free")["max_value"] is None


def test_value_overrides_default_and_types_follow_the_field():
    kwargs = number_kwargs(Toy, "count", value=7.0)
    assert kwargs["value"] == 7 and isinstance(kwargs["value"], int)
    assert isinstance(number_kwargs(Toy, "share", value=1)["value"], float)


def test_a_page_may_narrow_the_range_but_never_widen_it():
    kwargs = number_kwargs(Toy, "share", value=0.2, step=0.05, lowest=0.1, highest=0.4)
    assert (kwargs["min_value"], kwargs["max_value"]) == (0.1, 0.4)
    with pytest.raises(ValueError, match="outside"):
        number_kwargs(Toy, "share", highest=1.0)  # lt=1.0: 1.0 itself is not allowed
    with pytest.raises(ValueError, match="outside"):
        number_kwargs(Toy, "count", lowest=0)


def test_range_stretches_to_show_a_valid_value_outside_the_narrowed_range():
    kwargs = number_kwargs(Toy, "share", value=0.6, step=0.05, highest=0.4)
    assert kwargs["max_value"] == 0.6


def test_allowed_reads_every_constraint():
    assert allowed(Toy, "share", 0.5)
    assert not allowed(Toy, "share", 0.0)
    assert not allowed(Toy, "share", 1.0)
    assert allowed(Toy, "count", 10) and not allowed(Toy, "count", 11)


def test_choices_and_selectbox_kwargs_come_from_the_literal():
    assert choices(Toy, "colour") == ("red", "green", "blue")
    assert select_kwargs(Toy, "colour") == {"options": ["red", "green", "blue"], "index": 1, "help": "A colour."}
    assert select_kwargs(Toy, "colour", value="blue")["index"] == 2
    assert choices(Toy, "maybe") == ("a", "b")  # Optional[Literal]: None is not an option
    with pytest.raises(TypeError):
        choices(Toy, "name")


def test_non_number_and_unknown_fields_are_refused():
    with pytest.raises(TypeError):
        bounds(Toy, "name")
    with pytest.raises(KeyError, match="Toy has no field 'nope'"):
        number_kwargs(Toy, "nope")


def test_column_config_kwargs_have_no_value():
    assert column_number_kwargs(Toy, "count") == {"min_value": 1, "max_value": 10, "step": 1, "help": "How many."}
    kwargs = column_select_kwargs(Toy, "colour")
    assert {k: v for k, v in kwargs.items() if k != "format_func"} == {
        "options": ["red", "green", "blue"],
        "help": "A colour.",
    }
    assert [kwargs["format_func"](value) for value in kwargs["options"]] == ["red", "green", "blue"]  # no labels: as is


# --- the real spec ----------------------------------------------------------------------------------------------


def test_real_spec_fields():
    assert number_kwargs(DenseLayer, "units", step=8) == {
        "min_value": 1,
        "max_value": 8192,
        "value": 64,
        "step": 8,
        "help": "Number of neurons.",
    }
    assert bounds(DropoutLayer, "rate", step=0.05) == (0.0, 0.95)
    assert bounds(ScheduleSpec, "decay_rate", format="%.2f") == (0.01, 0.99)
    assert bounds(TrainingSpec, "clipnorm", format="%.3f") == (0.001, 1000.0)
    assert number_kwargs(DataSpec, "seed")["max_value"] == 2**31 - 1
    assert column_number_kwargs(ColumnSpec, "num_bins")["min_value"] == 2
    assert choices(DataSpec, "task") == ("binary", "multiclass", "regression")
    assert default(TrainingSpec, "epochs") == 20
    assert help_text(TrainingSpec, "learning_rate") == TrainingSpec.model_fields["learning_rate"].description


@pytest.mark.parametrize(
    ("model", "name", "options"),
    [(DenseLayer, "units", {"step": 8}), (DropoutLayer, "rate", {"step": 0.05}), (TrainingSpec, "momentum", {})],
)
def test_every_value_a_widget_offers_at_its_ends_is_valid(model, name, options):
    low, high = bounds(model, name, **options)
    for value in (low, high):
        model(**{name: value})  # no ValidationError
