"""Turn raw columns into a float matrix, fitted on the training split only.

Numbers: median imputation (infinities count as missing), then standardisation.
Categories: most-frequent imputation, then one-hot over the most frequent values plus one
out-of-vocabulary slot, so unseen categories at prediction time are tolerated.

`transform` here is plain numpy (fast, backend-independent, used for training); `core.export`
rebuilds the very same computation from built-in Keras layers inside the exported model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.errors import DataError

# pandas' default NA strings: a file read by pandas turns these into missing values, so the exported
# model treats them as missing too.
MISSING_TOKENS: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True, slots=True)
class NumericColumn:
    name: str
    median: float
    mean: float
    std: float
    kind: str = "numeric"


@dataclass(frozen=True, slots=True)
class CategoricalColumn:
    name: str
    vocabulary: tuple[str, ...]  # most frequent first; index i+1 in the one-hot (slot 0 = other/unseen)
    most_frequent: str | None
    kind: str = "categorical"

    @property
    def width(self) -> int:
        return len(self.vocabulary) + 1


ColumnEncoder = NumericColumn | CategoricalColumn


@dataclass(frozen=True, slots=True)
class PreprocessingState:
    """What was learned from the training split. Attributes mirror scikit-learn's fitted `*_` attributes."""

    columns: tuple[ColumnEncoder, ...]

    @property
    def num_features(self) -> int:
        return sum(1 if isinstance(c, NumericColumn) else c.width for c in self.columns)

    @property
    def feature_names(self) -> list[str]:
        names = []
        for column in self.columns:
            if isinstance(column, NumericColumn):
                names.append(column.name)
            else:
                names.append(f"{column.name}=<other>")
                names.extend(f"{column.name}={value}" for value in column.vocabulary)
        return names

    def to_json(self) -> str:
        return json.dumps({"columns": [asdict(c) for c in self.columns]}, indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> PreprocessingState:
        columns: list[ColumnEncoder] = []
        for item in json.loads(text)["columns"]:
            if item["kind"] == "numeric":
                columns.append(NumericColumn(**item))
            else:
                item["vocabulary"] = tuple(item["vocabulary"])
                columns.append(CategoricalColumn(**item))
        return cls(columns=tuple(columns))


def is_numeric_column(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def numeric_values(series: pd.Series) -> np.ndarray:
    """float64 values with infinities and anything unparseable as NaN."""
    values = np.array(pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan))
    # Beyond float32's range a value would become inf inside the network (and in the exported model, whose
    # inputs are float32): treat it as missing, like infinities.
    values[~(np.abs(values) <= FLOAT32_MAX)] = np.nan
    return values


def category_strings(series: pd.Series) -> pd.Series:
    """Categories as strings, with missing values (and pandas' NA tokens) as None."""
    text = series.astype("object").where(series.notna(), None)
    text = text.map(lambda value: None if value is None else str(value))
    return text.where(~text.isin(MISSING_TOKENS), None)


def fit_preprocessing(train: pd.DataFrame, features: list[str], *, max_categories: int) -> PreprocessingState:
    """Learn imputation values, scales and vocabularies from the training rows only."""
    columns: list[ColumnEncoder] = []
    for name in features:
        series = train[name]
        if is_numeric_column(series):
            values = numeric_values(series)
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                raise DataError(
                    f"The column {name!r} has no usable numbers in the training rows. "
                    "Expected at least one finite value. Deselect it on the Data page.",
                    field=name,
                )
            median = float(np.median(finite))
            filled = np.where(np.isnan(values), median, values)
            std = float(filled.std())
            columns.append(
                NumericColumn(name=name, median=median, mean=float(filled.mean()), std=std if std > 1e-12 else 1.0)
            )
        else:
            counts = category_strings(series).value_counts(dropna=True)
            # Ties broken by the value itself so the same data always gives the same vocabulary.
            ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            vocabulary = tuple(value for value, _ in ordered[:max_categories])
            columns.append(
                CategoricalColumn(name=name, vocabulary=vocabulary, most_frequent=vocabulary[0] if vocabulary else None)
            )
    return PreprocessingState(columns=tuple(columns))


def transform(state: PreprocessingState, frame: pd.DataFrame) -> np.ndarray:
    """Raw rows → float32 matrix of shape (rows, `state.num_features`)."""
    missing = [c.name for c in state.columns if c.name not in frame.columns]
    if missing:
        raise DataError(
            f"The table lacks the column(s) {', '.join(map(repr, missing))} that the model was trained on. "
            "Add them (empty values are allowed) and try again.",
            field=missing[0],
        )
    blocks = []
    for column in state.columns:
        series = frame[column.name]
        if isinstance(column, NumericColumn):
            values = numeric_values(series).astype("float32")
            values = np.where(np.isnan(values), np.float32(column.median), values)
            std = np.float32(column.std)
            blocks.append(((values - np.float32(column.mean)) / std).reshape(-1, 1))
        else:
            text = category_strings(series)
            if column.most_frequent is not None:
                text = text.fillna(column.most_frequent)
            index = {value: i + 1 for i, value in enumerate(column.vocabulary)}
            positions = text.map(index).fillna(0).to_numpy(dtype="int64")
            one_hot = np.zeros((len(frame), column.width), dtype="float32")
            one_hot[np.arange(len(frame)), positions] = 1.0
            blocks.append(one_hot)
    if not blocks:
        return np.zeros((len(frame), 0), dtype="float32")
    return np.concatenate(blocks, axis=1).astype("float32", copy=False)
