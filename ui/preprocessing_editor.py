"""The per-column preprocessing form: one row per column, one cell per choice (a table-like form)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from core.data.preprocessing import resolve_kind
from core.errors import SpecError
from core.i18n import LANGUAGES, t, use_language
from core.spec import ColumnSpec, PreprocessingSpec, format_validation_error
from ui.components import show_error
from ui.spec_fields import choice_label, column_number_kwargs, column_select_kwargs, help_text

AUTO = "auto"
# The form's choice columns: the ColumnSpec fields with the same name (options and help from the spec).
CHOICE_FIELDS = ("role", "kind", "missing", "outliers", "scaling", "encoding")
# The "date order" cell: ColumnSpec.dayfirst → its label ("data.editor.date_order.<auto|day_first|month_first>").
_DATE_ORDER_KEYS = {None: "auto", True: "day_first", False: "month_first"}
DEFAULT = ColumnSpec(name="-")


def date_orders() -> dict[bool | None, str]:
    """ColumnSpec.dayfirst → the label of the "date order" cell, in the current language."""
    return {value: t(f"data.editor.date_order.{key}") for value, key in _DATE_ORDER_KEYS.items()}


def _dayfirst(label: str) -> bool | None:
    """The dayfirst value of a "date order" label in any language (an edit made before switching language)."""
    for language in LANGUAGES:
        with use_language(language):
            for value, shown in date_orders().items():
                if shown == label:
                    return value
    return None


def _rows(frame: pd.DataFrame, columns: list[str], spec: PreprocessingSpec) -> pd.DataFrame:
    rows = []
    for name in columns:
        column = spec.column(name)
        rows.append(
            {
                "column": name,
                "detected": choice_label(ColumnSpec, "kind", resolve_kind(frame[name], ColumnSpec(name=name))),
                "role": column.role,
                "kind": column.kind,
                "missing": column.missing,
                "fill value": "" if column.fill_value is None else str(column.fill_value),
                "missing flag": column.missing_indicator,
                "outliers": column.outliers,
                "scaling": column.scaling,
                "encoding": column.encoding,
                "max categories": column.max_categories,
                "buckets (hashing)": column.num_bins,
                "date order": date_orders()[column.dayfirst],
                "order (ordinal)": ", ".join(column.order),
            }
        )
    return pd.DataFrame(rows)


def _column_spec(row: pd.Series) -> ColumnSpec:
    fill = str(row["fill value"]).strip() if pd.notna(row["fill value"]) else ""
    if fill and row["kind"] != "categorical" and row["detected"] != "categorical":
        try:
            fill = float(fill)
        except ValueError:
            pass
    max_categories = row["max categories"]
    num_bins = row["buckets (hashing)"]
    dayfirst = _dayfirst(row["date order"])
    return ColumnSpec(
        name=row["column"],
        role=row["role"],
        kind=row["kind"],
        missing=row["missing"],
        fill_value=fill if fill != "" else None,
        missing_indicator=bool(row["missing flag"]),
        outliers=row["outliers"],
        scaling=row["scaling"],
        encoding=row["encoding"],
        max_categories=None if pd.isna(max_categories) else int(max_categories),
        num_bins=None if pd.isna(num_bins) else int(num_bins),
        dayfirst=dayfirst,
        order=tuple(part.strip() for part in str(row["order (ordinal)"] or "").split(",") if part.strip()),
    )


def preprocessing_editor(frame: pd.DataFrame, columns: list[str], spec: PreprocessingSpec, *, key: str):
    """Returns the edited PreprocessingSpec (unchanged when an edit is invalid, with the reason shown)."""
    # The table's keys stay English (they are read back below); what a visitor reads is each column's label.
    config = {
        "column": st.column_config.TextColumn(t("data.editor.column"), disabled=True),
        "detected": st.column_config.TextColumn(
            t("data.editor.detected"), disabled=True, help=t("data.editor.detected_help")
        ),
        "fill value": st.column_config.TextColumn(
            t("data.editor.fill_value"), help=help_text(ColumnSpec, "fill_value")
        ),
        "missing flag": st.column_config.CheckboxColumn(
            t("data.editor.missing_flag"), help=help_text(ColumnSpec, "missing_indicator")
        ),
        "max categories": st.column_config.NumberColumn(
            t("data.editor.max_categories"), **column_number_kwargs(ColumnSpec, "max_categories")
        ),
        "buckets (hashing)": st.column_config.NumberColumn(
            t("data.editor.buckets"), **column_number_kwargs(ColumnSpec, "num_bins")
        ),
        "order (ordinal)": st.column_config.TextColumn(
            t("data.editor.order"),
            help=t("data.editor.order_help", help=help_text(ColumnSpec, "order")),
        ),
    }
    for name in CHOICE_FIELDS:
        config[name] = st.column_config.SelectboxColumn(
            t(f"data.editor.choice.{name}"), **column_select_kwargs(ColumnSpec, name), required=True
        )
    config["date order"] = st.column_config.SelectboxColumn(
        t("data.editor.date_order"),
        options=list(date_orders().values()),
        required=True,
        help=help_text(ColumnSpec, "dayfirst"),
    )
    edited = st.data_editor(
        _rows(frame, columns, spec), column_config=config, hide_index=True, width="stretch", key=key
    )
    try:
        chosen = [_column_spec(row) for _, row in edited.iterrows()]
        changed = tuple(c for c in chosen if c.model_dump(exclude={"name"}) != DEFAULT.model_dump(exclude={"name"}))
        return spec.model_copy(update={"columns": PreprocessingSpec(columns=changed).columns})
    except ValidationError as error:
        show_error(SpecError(t("data.editor.invalid", detail=format_validation_error(error))))
        return spec
