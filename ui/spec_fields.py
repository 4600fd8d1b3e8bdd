"""Widget arguments read from the spec's pydantic Fields: bounds, default, step, help text and choices.

A widget that edits a setting of the `RunSpec` never retypes what the spec already says: its bounds come from the
Field's `ge`/`gt`/`le`/`lt` (annotated_types in `FieldInfo.metadata`), its default from `default`, its help from
`description` (in the reader's language: the catalog entry `model.help.<class in lower case>.<field>`, whose
English is the description) and a selectbox's options from the field's `Literal`. An exclusive bound (`gt`, `lt`)
moves inward by one step of the widget (1 for whole numbers; the last shown decimal when a `format` is given). A
page may offer a narrower range than the spec (`lowest`/`highest`), never a wider one: that raises `ValueError` at
once.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from core.i18n import message_ids, t

# Streamlit's own default step for a float number_input/slider: 0.01.
_FLOAT_STEP = 0.01
_DECIMALS = re.compile(r"%[-+ 0#]*\d*\.(\d+)[fe]")


def field_info(model: type[BaseModel], name: str) -> FieldInfo:
    """The Field of `model.name`; a KeyError names the model when there is no such field."""
    try:
        return model.model_fields[name]
    except KeyError:
        raise KeyError(f"{model.__name__} has no field {name!r}") from None


def _plain_type(info: FieldInfo) -> Any:
    """The field's type without `None` (`float | None` → float)."""
    annotation = info.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kept = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(kept) == 1:
            return kept[0]
    return annotation


def help_text(model: type[BaseModel], name: str) -> str | None:
    """The widget's help: the catalog's `model.help.<model>.<field>` in the current language when the catalogs
    have it (every described field of core.spec does: tests/unit/test_model_i18n.py), else the Field's
    description (or title) as written."""
    info = field_info(model, name)
    message_id = f"model.help.{model.__name__.lower()}.{name}"
    if message_id in message_ids():
        return t(message_id)
    return info.description or info.title


def default(model: type[BaseModel], name: str) -> Any:
    """The Field's default (a default_factory is called)."""
    info = field_info(model, name)
    if info.default is not PydanticUndefined:
        return info.default
    if info.default_factory is not None:
        return info.default_factory()
    raise ValueError(f"{model.__name__}.{name} has no default; pass the value to show")


def choices(model: type[BaseModel], name: str) -> tuple:
    """The values a `Literal` field allows, in the spec's order (`None` is not among them)."""
    annotation = _plain_type(field_info(model, name))
    if typing.get_origin(annotation) is not Literal:
        raise TypeError(f"{model.__name__}.{name} is not a Literal field")
    return typing.get_args(annotation)


def _is_int(model: type[BaseModel], name: str) -> bool:
    annotation = _plain_type(field_info(model, name))
    if annotation is int:
        return True
    if annotation is float:
        return False
    raise TypeError(f"{model.__name__}.{name} is not a number field")


def _unit(*, integer: bool, step: float | None, format: str | None) -> float:
    """How far an exclusive bound moves inward: the smallest step the widget shows."""
    if integer:
        return 1
    if format is not None:
        match = _DECIMALS.search(format)
        if match:
            return 10 ** -int(match.group(1))
    return step if step is not None else _FLOAT_STEP


def bounds(
    model: type[BaseModel], name: str, *, step: float | None = None, format: str | None = None
) -> tuple[float | None, float | None]:
    """The inclusive (min, max) a widget may offer for the field; None where the spec sets no bound."""
    integer = _is_int(model, name)
    unit = _unit(integer=integer, step=step, format=format)
    low = high = None
    for item in field_info(model, name).metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Gt):
            low = item.gt + unit
        elif isinstance(item, annotated_types.Le):
            high = item.le
        elif isinstance(item, annotated_types.Lt):
            high = item.lt - unit
    if integer:
        return (None if low is None else int(low), None if high is None else int(high))
    return (None if low is None else round(float(low), 12), None if high is None else round(float(high), 12))


def allowed(model: type[BaseModel], name: str, value: float) -> bool:
    """Whether the Field's bounds admit `value`."""
    for item in field_info(model, name).metadata:
        if isinstance(item, annotated_types.Ge) and not value >= item.ge:
            return False
        if isinstance(item, annotated_types.Gt) and not value > item.gt:
            return False
        if isinstance(item, annotated_types.Le) and not value <= item.le:
            return False
        if isinstance(item, annotated_types.Lt) and not value < item.lt:
            return False
    return True


def _multiple_of(model: type[BaseModel], name: str) -> float | None:
    for item in field_info(model, name).metadata:
        if isinstance(item, annotated_types.MultipleOf):
            return item.multiple_of
    return None


def number_kwargs(
    model: type[BaseModel],
    name: str,
    *,
    value: Any = None,
    step: float | None = None,
    format: str | None = None,
    lowest: float | None = None,
    highest: float | None = None,
) -> dict[str, Any]:
    """`min_value`, `max_value`, `value`, `step`, `help` (and `format`) for `st.number_input` or `st.slider`.

    `value` is the setting being edited (default: the Field's default). `lowest`/`highest` narrow the range the
    page offers; they must lie inside the spec's. The range stretches to include `value` when a valid spec (an
    imported one) holds a value outside the narrower range, so the widget never rejects the spec it shows."""
    integer = _is_int(model, name)
    step = step if step is not None else _multiple_of(model, name)
    low, high = bounds(model, name, step=step, format=format)
    for label, wanted in (("lowest", lowest), ("highest", highest)):
        if wanted is not None and not allowed(model, name, wanted):
            raise ValueError(f"{label}={wanted} is outside the range that the spec allows for {model.__name__}.{name}")
    low = lowest if lowest is not None else low
    high = highest if highest is not None else high
    if value is None:
        value = default(model, name)
    if value is not None:
        value = int(value) if integer else float(value)
        low = value if low is not None and value < low else low
        high = value if high is not None and value > high else high
    kwargs: dict[str, Any] = {"min_value": low, "max_value": high, "value": value, "help": help_text(model, name)}
    if step is not None:
        kwargs["step"] = int(step) if integer else float(step)
    if format is not None:
        kwargs["format"] = format
    return kwargs


slider_kwargs = number_kwargs


def column_number_kwargs(model: type[BaseModel], name: str) -> dict[str, Any]:
    """`min_value`, `max_value`, `step` and `help` for a `st.column_config.NumberColumn` editing the field."""
    kwargs = number_kwargs(model, name, value=None)
    kwargs.pop("value")
    kwargs.setdefault("step", 1 if _is_int(model, name) else None)
    return {key: item for key, item in kwargs.items() if item is not None}


def select_kwargs(model: type[BaseModel], name: str, *, value: Any = None) -> dict[str, Any]:
    """`options`, `index` and `help` for `st.selectbox` over a Literal field (value: the current choice)."""
    options = list(choices(model, name))
    if value is None:
        value = default(model, name)
    return {
        "options": options,
        "index": options.index(value) if value in options else 0,
        "help": help_text(model, name),
    }


def column_select_kwargs(model: type[BaseModel], name: str) -> dict[str, Any]:
    """`options`, their labels and `help` for a `st.column_config.SelectboxColumn` over a Literal field."""
    return {
        "options": list(choices(model, name)),
        "format_func": choice_labeller(model, name),
        "help": help_text(model, name),
    }


def choice_label(model: type[BaseModel], name: str, value: Any) -> str:
    """How a choice of a Literal field reads in the current language ("spec.choice.<model>.<field>.<value>" in
    the catalogs); the value itself when the catalogs have no label for it."""
    message_id = f"spec.choice.{model.__name__.lower()}.{name}.{value}"
    return t(message_id) if message_id in message_ids() else str(value)


def choice_labeller(model: type[BaseModel], name: str):
    """A `format_func` for the choices of one field: the labels are made now, in this script run's language
    (AppTest and Streamlit may call it later, from another thread)."""
    labels = {value: choice_label(model, name, value) for value in choices(model, name)}
    return lambda value: labels.get(value, str(value))
