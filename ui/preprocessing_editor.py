"""The per-column preprocessing form: one row per column, one cell per choice (a table-like form)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from core.data.preprocessing import resolve_kind
from core.errors import SpecError
from core.spec import ColumnSpec, PreprocessingSpec, format_validation_error
from ui.components import show_error
from ui.spec_fields import column_number_kwargs, column_select_kwargs, help_text

AUTO = "auto"
# The form's choice columns: the ColumnSpec fields with the same name (options and help from the spec).
CHOICE_FIELDS = ("role", "kind", "missing", "outliers", "scaling", "encoding")
DATE_ORDERS = {None: "auto", True: "day first", False: "month first"}
DEFAULT = ColumnSpec(name="-")


def _rows(frame: pd.DataFrame, columns: list[str], spec: PreprocessingSpec) -> pd.DataFrame:
    rows = []
    for name in columns:
        column = spec.column(name)
        rows.append(
            {
                "column": name,
                "detected": resolve_kind(frame[name], ColumnSpec(name=name)),
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
                "date order": DATE_ORDERS[column.dayfirst],
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
    dayfirst = {label: value for value, label in DATE_ORDERS.items()}[row["date order"]]
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
    config = {
        "column": st.column_config.TextColumn("column", disabled=True),
        "detected": st.column_config.TextColumn("detected", disabled=True, help="What 'auto' means for this column."),
        "fill value": st.column_config.TextColumn("fill value", help=help_text(ColumnSpec, "fill_value")),
        "missing flag": st.column_config.CheckboxColumn(
            "missing flag", help=help_text(ColumnSpec, "missing_indicator")
        ),
        "max categories": st.column_config.NumberColumn(
            "max categories", **column_number_kwargs(ColumnSpec, "max_categories")
        ),
        "buckets (hashing)": st.column_config.NumberColumn(
            "buckets (hashing)", **column_number_kwargs(ColumnSpec, "num_bins")
        ),
        "order (ordinal)": st.column_config.TextColumn(
            "order (ordinal)",
            help=f"{help_text(ColumnSpec, 'order')} Categories from lowest to highest, separated by commas.",
        ),
    }
    for name in CHOICE_FIELDS:
        config[name] = st.column_config.SelectboxColumn(name, **column_select_kwargs(ColumnSpec, name), required=True)
    config["date order"] = st.column_config.SelectboxColumn(
        "date order", options=list(DATE_ORDERS.values()), required=True, help=help_text(ColumnSpec, "dayfirst")
    )
    edited = st.data_editor(
        _rows(frame, columns, spec), column_config=config, hide_index=True, width="stretch", key=key
    )
    try:
        chosen = [_column_spec(row) for _, row in edited.iterrows()]
        changed = tuple(c for c in chosen if c.model_dump(exclude={"name"}) != DEFAULT.model_dump(exclude={"name"}))
        return PreprocessingSpec(max_categories=spec.max_categories, columns=changed)
    except ValidationError as error:
        show_error(SpecError("That preprocessing choice cannot be used: " + format_validation_error(error)))
        return spec
