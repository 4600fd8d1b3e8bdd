"""A one-row form generated from a run's training columns: numbers, category pickers and dates."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from core.data.preprocessing import CategoricalColumn, DatetimeColumn, NumericColumn, PreprocessingState
from core.i18n import t
from core.plain_text import full_name_help, markdown_literal, shorten

MISSING_CHOICE = "(missing)"  # the option's value; shown as t("deploy.row.missing")


def _date_default(seconds: float) -> dt.date:
    try:
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).date()
    except (OverflowError, OSError, ValueError):
        return dt.date(2000, 1, 1)


def _choice_label(choice: str) -> str:
    return t("deploy.row.missing") if choice == MISSING_CHOICE else shorten(choice)


def single_row_form(state: PreprocessingState, *, key: str) -> pd.DataFrame | None:
    """One input per training column, prefilled with what the model uses for a missing value (the training
    median, or the most frequent category). Returns the row as a one-row table when submitted."""
    values: dict[str, object] = {}
    with st.form(key):
        columns = st.columns(3)
        for position, column in enumerate(state.columns):
            place = columns[position % 3]
            widget_key = f"{key}.{position}"
            label = markdown_literal(column.name, max_chars=40)
            full_name = full_name_help(column.name, max_chars=40)
            if isinstance(column, NumericColumn):
                median = t("deploy.row.median")
                values[column.name] = place.number_input(
                    label,
                    value=float(column.fill),
                    key=widget_key,
                    help=f"{full_name}: {median}" if full_name else median,
                )
            elif isinstance(column, DatetimeColumn):
                values[column.name] = pd.Timestamp(
                    place.date_input(label, value=_date_default(column.fill_seconds), key=widget_key, help=full_name)
                )
            elif isinstance(column, CategoricalColumn):
                options = list(column.vocabulary) + [MISSING_CHOICE]
                default = column.fill_value if column.fill_value in column.vocabulary else options[0]
                chosen = place.selectbox(
                    label,
                    options,
                    index=options.index(default),
                    format_func=_choice_label,
                    key=widget_key,
                    help=full_name,
                )
                values[column.name] = None if chosen == MISSING_CHOICE else chosen
        submitted = st.form_submit_button(t("deploy.row.submit"), type="primary", icon=":material/play_arrow:")
    if not submitted:
        return None
    return pd.DataFrame([values], columns=[column.name for column in state.columns])
