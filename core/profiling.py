"""Per-column profile of a table and inference of the task from the target column."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import DataError
from core.spec import Task

# Integer-valued targets with at most this many distinct values are treated as classes.
MAX_INTEGER_CLASSES = 20


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    name: str
    kind: str  # "numeric" | "categorical" | "boolean" | "datetime" | "empty"
    dtype: str
    missing_fraction: float
    num_distinct: int
    example: str


def column_kind(series: pd.Series) -> str:
    """How LayerLab treats a column: `numeric` columns are scaled, everything else is categorical."""
    if series.notna().sum() == 0:
        return "empty"
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    return "categorical"


def profile_table(frame: pd.DataFrame) -> list[ColumnProfile]:
    """One `ColumnProfile` per column, in table order."""
    profiles = []
    num_rows = max(len(frame), 1)
    for name in frame.columns:
        series = frame[name]
        non_missing = series.dropna()
        profiles.append(
            ColumnProfile(
                name=str(name),
                kind=column_kind(series),
                dtype=str(series.dtype),
                missing_fraction=float(series.isna().sum()) / num_rows,
                num_distinct=int(non_missing.nunique()),
                example=str(non_missing.iloc[0])[:40] if len(non_missing) else "",
            )
        )
    return profiles


def infer_task(target: pd.Series) -> Task:
    """Guess binary / multiclass / regression from the target's values.

    Two distinct values is binary; text, booleans, or integers with few distinct values are classes;
    anything else numeric is regression.
    """
    values = target.dropna()
    num_distinct = int(values.nunique())
    if num_distinct < 2:
        shown = f"only the value {values.iloc[0]!r}" if num_distinct == 1 else "no values at all"
        raise DataError(
            f"The target column {target.name!r} has {shown}, so there is nothing to learn. "
            "Expected at least two different values. Pick another target column or upload more varied data.",
            field=str(target.name),
        )
    if num_distinct == 2:
        return "binary"
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "multiclass"
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    finite = numbers[np.isfinite(numbers)]
    is_integer_valued = bool(np.all(np.equal(np.mod(finite, 1), 0)))
    if is_integer_valued and num_distinct <= MAX_INTEGER_CLASSES:
        return "multiclass"
    return "regression"
