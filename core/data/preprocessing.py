"""Turn raw columns into a float matrix, fitted on the training split only.

Per column (`ColumnSpec`, defaults in brackets): numbers get imputation [median] (infinities and values
beyond float32 count as missing), optional clipping of outliers, scaling [standard] and a missing flag;
categories get imputation [most frequent], then one-hot over the most frequent values plus an "other"
slot (so unseen categories at prediction time are tolerated) or an ordinal position; datetimes become
year, month, day, weekday and hour.

The per-value rules (numbers, category strings, hash buckets, dates, fitting and encoding a column from plain
statistics) are `core.data.table_rules`, the one copy that the generated script and the TFLite/ONNX
preprocess.py carry verbatim; this module wraps them in fitted dataclasses and adds Arrow fast paths for big
tables, which tests hold equal to them. `transform` here is plain numpy (fast, backend-independent, used for
training); `core.deployment.serving_model` rebuilds the very same computation from built-in Keras layers
inside the exported model.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.data import table_rules as rules
from core.data.memory import use_returning_arrow_pool
from core.data.parallel import map_columns
from core.data.table_rules import (  # re-exported (`X as X`): the names the rest of core and the tests use
    DATE_BLOCK_ROWS as DATE_BLOCK_ROWS,
)
from core.data.table_rules import DATETIME_PARTS as DATETIME_PARTS
from core.data.table_rules import DEFAULT_NUM_BINS as DEFAULT_NUM_BINS
from core.data.table_rules import EMBEDDING_MAX_CATEGORIES as EMBEDDING_MAX_CATEGORIES
from core.data.table_rules import FLOAT32_MAX as FLOAT32_MAX
from core.data.table_rules import MISSING_TOKENS as MISSING_TOKENS
from core.data.table_rules import YEAR_FIRST as YEAR_FIRST
from core.data.table_rules import category_strings as category_strings
from core.data.table_rules import datetime_parts as datetime_parts
from core.data.table_rules import datetime_seconds as datetime_seconds
from core.data.table_rules import hash_buckets as hash_buckets
from core.data.table_rules import numbers as numeric_values
from core.data.table_rules import parse_dates as parse_dates
from core.data.table_rules import parse_dates_as as _parse_dates
from core.data.table_rules import timestamp_seconds as _seconds
from core.errors import DataError
from core.i18n import t
from core.spec import ColumnSpec, PreprocessingSpec

use_returning_arrow_pool()

DATE_ORDER_SAMPLE = 50_000
# d/m/y or m/d/y at the start of a value (separators / . -); a 4-digit first field (ISO) never matches.
NUMERIC_DATE_PATTERN = r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}(?:\D|$)"
DateOrder = Literal["day_first", "month_first", "ambiguous", "conflicting", "unambiguous"]


@dataclass(frozen=True, slots=True)
class NumericColumn:
    """x → missing? fill → clip → log1p(max(x - log_shift, 0)) → (x - center) / scale [+ missing flag]."""

    name: str
    fill: float
    center: float
    scale: float
    clip_low: float | None = None
    clip_high: float | None = None
    log_shift: float | None = None
    indicator: bool = False
    kind: str = "numeric"
    # The network's periodic features of this column (`PreprocessingSpec.numeric_embedding`); 0 = none.
    periodic_frequencies: int = 0
    periodic_scale: float = 0.0
    periodic_dim: int = 0

    @property
    def width(self) -> int:
        return 1 + int(self.indicator)


@dataclass(frozen=True, slots=True)
class CategoricalColumn:
    """one_hot: slot 0 = other/unseen, slot i+1 = vocabulary[i]. ordinal: position in `vocabulary` / (n - 1),
    unseen = 0.5. Missing values become `fill` (the most frequent value, or a constant)."""

    name: str
    vocabulary: tuple[str, ...]  # one_hot / embedding: most frequent first; ordinal: the user's order
    most_frequent: str | None
    encoding: str = "one_hot"
    fill: str | None = None
    indicator: bool = False
    embedding_dim: int = 0
    num_bins: int = 0  # hashing: the number of buckets
    kind: str = "categorical"

    @property
    def fill_value(self) -> str | None:
        return self.fill if self.fill is not None else self.most_frequent

    @property
    def encoded_width(self) -> int:
        if self.encoding == "hashing":
            return self.num_bins
        return len(self.vocabulary) + 1 if self.encoding == "one_hot" else 1

    @property
    def embedding_input_dim(self) -> int:
        return len(self.vocabulary) + 1

    @property
    def width(self) -> int:
        return self.encoded_width + int(self.indicator)

    def table(self, tokens: list[str]) -> np.ndarray:
        """The encoding of each token (rows) as the exported model's fixed lookup table; row 0 = unseen."""
        rows = np.zeros((1 + len(tokens), self.width), dtype="float32")
        rows[0] = self.encode_values([None], missing=np.array([False]))[0]
        for i, token in enumerate(tokens, start=1):
            missing = token not in self.vocabulary and token in MISSING_TOKENS
            rows[i] = self.encode_values([self.fill_value if missing else token], missing=np.array([missing]))[0]
        return rows

    def encode_values(self, values, missing: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Category strings (None = unseen) → encoded rows; `missing` marks values that were missing.

        `out` (rows, width), when given, is written in place (a slice of the training matrix)."""
        if self.encoding == "hashing":
            with _needs_tensorflow():
                positions = hash_buckets(values, self.num_bins) - 1  # bucket b sits in slot b (no "other" slot)
        else:
            # get_indexer is a vectorised hash lookup: -1 for anything not in the vocabulary (and for None).
            positions = pd.Index(self.vocabulary, dtype=object).get_indexer(pd.Index(values, dtype=object))
        return self.encode_positions(positions, missing, out)

    def encode_positions(self, positions: np.ndarray, missing: np.ndarray, out: np.ndarray | None = None):
        """Vocabulary positions (-1 = other/unseen; hashing: bucket - 1) → encoded rows, as `encode_values`
        (`table_rules.encode_positions`; an embedding's row index is taken out of the matrix and looked up by
        the network, core.model.building.build_model)."""
        return rules.encode_positions(positions, missing, self.fitted(), out)

    def fitted(self) -> dict:
        """The fitted statistics as the plain dict `core.data.table_rules` takes."""
        return {
            "encoding": self.encoding,
            "vocabulary": self.vocabulary,
            "most_frequent": self.most_frequent,
            "fill": self.fill,
            "indicator": self.indicator,
            "embedding_dim": self.embedding_dim,
            "num_bins": self.num_bins,
        }


@dataclass(frozen=True, slots=True)
class DatetimeColumn:
    """Seconds since 1970 → year, month, day, weekday (Monday = 0), hour, each standardised."""

    name: str
    fill_seconds: float
    centers: tuple[float, ...]
    scales: tuple[float, ...]
    indicator: bool = False
    dayfirst: bool = False  # how dates written as text are read: 03/04/2024 = 3 April when True
    kind: str = "datetime"

    @property
    def width(self) -> int:
        return len(DATETIME_PARTS) + int(self.indicator)


ColumnEncoder = NumericColumn | CategoricalColumn | DatetimeColumn


@dataclass(frozen=True, slots=True)
class EmbeddingSlot:
    """One embedded column: its index sits at `position` of the encoded matrix."""

    name: str
    position: int
    input_dim: int
    output_dim: int


@dataclass(frozen=True, slots=True)
class PeriodicSlot:
    """One number column that also reaches the network as periodic features: its scaled value sits at
    `position` of the encoded matrix (`core.model.building` adds the layers)."""

    name: str
    position: int
    frequencies: int
    scale: float
    dim: int


_ENCODERS = {"numeric": NumericColumn, "categorical": CategoricalColumn, "datetime": DatetimeColumn}


@dataclass(frozen=True, slots=True)
class PreprocessingState:
    """What was learned from the training split. Attributes mirror scikit-learn's fitted `*_` attributes."""

    columns: tuple[ColumnEncoder, ...]

    @property
    def num_features(self) -> int:
        return sum(column.width for column in self.columns)

    @property
    def feature_names(self) -> list[str]:
        names = []
        for column in self.columns:
            if isinstance(column, NumericColumn):
                names.append(column.name)
            elif isinstance(column, DatetimeColumn):
                names.extend(f"{column.name}.{part}" for part in DATETIME_PARTS)
            elif column.encoding == "one_hot":
                names.append(f"{column.name}=<other>")
                names.extend(f"{column.name}={value}" for value in column.vocabulary)
            elif column.encoding == "embedding":
                names.append(f"{column.name} (embedding index)")
            elif column.encoding == "hashing":
                names.extend(f"{column.name}#bucket{i}" for i in range(column.num_bins))
            else:
                names.append(f"{column.name} (ordinal)")
            if column.indicator:
                names.append(f"{column.name} is missing")
        return names

    def embeddings(self) -> tuple[EmbeddingSlot, ...]:
        """Where the embedding indices sit in the encoded matrix, for the network builder."""
        slots, position = [], 0
        for column in self.columns:
            if isinstance(column, CategoricalColumn) and column.encoding == "embedding":
                slots.append(EmbeddingSlot(column.name, position, column.embedding_input_dim, column.embedding_dim))
            position += column.width
        return tuple(slots)

    def periodic(self) -> tuple[PeriodicSlot, ...]:
        """Where the scaled values of the number columns with periodic features sit in the encoded matrix."""
        slots, position = [], 0
        for column in self.columns:
            if isinstance(column, NumericColumn) and column.periodic_frequencies > 0:
                slots.append(
                    PeriodicSlot(
                        column.name, position, column.periodic_frequencies, column.periodic_scale, column.periodic_dim
                    )
                )
            position += column.width
        return tuple(slots)

    def to_json(self) -> str:
        return json.dumps({"columns": [asdict(c) for c in self.columns]}, indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> PreprocessingState:
        columns: list[ColumnEncoder] = []
        for item in json.loads(text)["columns"]:
            for key in ("vocabulary", "centers", "scales"):
                if key in item:
                    item[key] = tuple(item[key])
            columns.append(_ENCODERS[item["kind"]](**item))
        return cls(columns=tuple(columns))


def is_numeric_column(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


@contextlib.contextmanager
def _needs_tensorflow():
    """`table_rules.hash_buckets` needs TensorFlow: without it, say so as a DataError."""
    try:
        yield
    except ImportError:
        raise DataError(t("data.preprocess.hashing_needs_tensorflow")) from None


def _arrow_strings(series: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow array behind a pyarrow-backed string column (zero copy), else None."""
    if not pd.api.types.is_string_dtype(series.dtype) or pd.api.types.is_object_dtype(series.dtype):
        return None
    if not hasattr(series.array, "__arrow_array__"):
        return None
    values = pa.chunked_array(series.array.__arrow_array__())
    return values if pa.types.is_string(values.type) or pa.types.is_large_string(values.type) else None


class TextCodes:
    """An Arrow text column, dictionary-encoded once: row i holds `dictionary[indices[i]]`, and index
    `len(dictionary)` stands for null.

    Counting and looking up categories then handles each distinct string once, and picking the training,
    validation or test rows takes integers instead of copying strings.

    Attributes:
        dictionary: the distinct strings (an Arrow array, in order of first appearance).
        indices: per row, in the smallest unsigned type that holds them (one byte for up to 255 values).
        missing: bool per dictionary entry, and a last entry (True) for null: missing as `category_strings`
            sees it (null or one of pandas' NA tokens).
    """

    __slots__ = ("dictionary", "indices", "missing")

    def __init__(self, values: pa.ChunkedArray):
        encoded = pc.dictionary_encode(values).combine_chunks()
        self.dictionary = encoded.dictionary
        null = len(self.dictionary)
        indices = encoded.indices.fill_null(null).to_numpy(zero_copy_only=False)
        self.indices = indices.astype(np.min_scalar_type(null), copy=False)
        tokens = pa.array(MISSING_TOKENS, type=self.dictionary.type)
        is_token = pc.is_in(self.dictionary, value_set=tokens).to_numpy(zero_copy_only=False)
        self.missing = np.append(is_token.astype(bool), True)

    def counts(self, rows: np.ndarray | None = None) -> np.ndarray:
        """How many of the rows (all, or those at `rows`) hold each dictionary entry, and (last) how many
        are null."""
        picked = self.indices if rows is None else self.indices[rows]
        return np.bincount(picked, minlength=len(self.dictionary) + 1)


def text_codes(series: pd.Series) -> TextCodes | None:
    """`TextCodes` of a pyarrow-backed text column, else None."""
    values = _arrow_strings(series)
    return None if values is None else TextCodes(values)


def selection_text_codes(selection, name: str) -> TextCodes | None:
    """`text_codes` of the whole table's column behind a row selection (`core.data.splitting.RowSelection`),
    computed once and kept in the selection's `cache`, which the training, validation and test selections
    of one table share. None for anything else."""
    cache = getattr(selection, "cache", None)
    if cache is None:
        return None
    key = ("text_codes", name)
    if key not in cache:
        cache[key] = text_codes(selection.frame[name])
    return cache[key]


def category_counts(series: pd.Series, fill: str | None = None) -> pd.Series:
    """How often each category occurs (missing values counted as `fill` when given, else left out).

    pyarrow-backed text is counted from its dictionary codes, without making a Python string per row."""
    codes = text_codes(series)
    if codes is None:
        return rules.count_categories(series, fill)
    return _code_counts(codes, None, fill)


def _code_counts(codes: TextCodes, rows: np.ndarray | None, fill: str | None, top: int | None = None) -> pd.Series:
    """`category_counts` of the rows (all, or those at `rows`) of a dictionary-encoded text column.

    With `top`, only the values that can be among the `top` most frequent are returned (every value whose
    count reaches the top-th largest count, ties included), which is all `_fit_categorical` looks at for
    that limit: a column of 700,000 distinct date strings then makes 50 Python strings, not 700,000."""
    numbers = codes.counts(rows)
    num_missing = int(numbers[codes.missing].sum())
    numbers[codes.missing] = 0
    numbers = numbers[:-1]  # the nulls' entry: counted as missing above
    extra = None
    if fill is not None and num_missing:
        at = pc.index(codes.dictionary, fill).as_py()
        if at >= 0 and not codes.missing[at]:
            numbers[at] += num_missing
        else:
            extra = num_missing
    keep = numbers > 0
    if top is not None and top < int(keep.sum()):
        candidates = numbers[keep]
        if extra is not None:
            candidates = np.append(candidates, extra)
        keep &= numbers >= np.partition(candidates, len(candidates) - top)[len(candidates) - top]
    positions = np.flatnonzero(keep)
    values = codes.dictionary.take(pa.array(positions)).to_pylist()
    counts = pd.Series(numbers[positions], index=pd.Index(values, dtype=object), dtype="int64")
    if extra is not None:
        counts[fill] = extra
    return counts


def category_positions(column: CategoricalColumn, series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(positions, missing) of each value as `CategoricalColumn.encode_positions` takes them: the position in
    the vocabulary (-1 = other/unseen) or, for hashing, bucket - 1; missing values take the fill value's."""
    codes = text_codes(series)
    if codes is not None:
        return _code_positions(column, codes)
    with _needs_tensorflow():
        return rules.category_positions(series, column.fitted())


def _code_positions(column: CategoricalColumn, codes: TextCodes) -> tuple[np.ndarray, np.ndarray]:
    """`category_positions` of every row of a dictionary-encoded column: each distinct value is looked up
    once, then one integer take per row."""
    fill = column.fill_value
    if column.encoding == "hashing":
        uniques = np.asarray(codes.dictionary.to_pylist(), dtype=object)
        with _needs_tensorflow():
            lookup = hash_buckets(uniques, column.num_bins) - 1 if len(uniques) else np.zeros(0, dtype="int64")
            fill_position = (hash_buckets([fill], column.num_bins)[0] if fill is not None else 0) - 1
    else:
        vocabulary = pa.array(list(column.vocabulary), type=codes.dictionary.type)
        found = pc.index_in(codes.dictionary, value_set=vocabulary).fill_null(-1)
        lookup = found.to_numpy(zero_copy_only=False).astype("int64")
        fill_position = column.vocabulary.index(fill) if fill is not None and fill in column.vocabulary else -1
    lookup = np.append(lookup, fill_position)  # the last entry: null
    lookup[codes.missing] = fill_position
    return lookup[codes.indices], codes.missing[codes.indices]


def resolve_kind(series: pd.Series, column: ColumnSpec) -> str:
    """numeric, categorical or datetime: the user's choice, else from the column's type."""
    if column.kind != "auto":
        return column.kind
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    return "numeric" if is_numeric_column(series) else "categorical"


def date_order(series: pd.Series) -> DateOrder:
    """How the text dates of a column order day and month: a first number above 12 (25/04/2024) means day
    first, a second one above 12 (04/25/2024) month first; only numbers up to 12 (03/04/2024) is ambiguous.
    Dates that do not start with two such numbers (ISO 2024-04-03, "3 April 2024") are unambiguous."""
    if pd.api.types.is_datetime64_any_dtype(series) or is_numeric_column(series):
        return "unambiguous"
    values = pd.Series(series.dropna().unique())
    if len(values) > DATE_ORDER_SAMPLE:
        values = values.sample(DATE_ORDER_SAMPLE, random_state=0)
    fields = values.astype(str).str.extract(NUMERIC_DATE_PATTERN).dropna()
    if fields.empty:
        return "unambiguous"
    day_first = bool((fields[0].astype(int) > 12).any())
    month_first = bool((fields[1].astype(int) > 12).any())
    if day_first and month_first:
        return "conflicting"
    if day_first or month_first:
        return "day_first" if day_first else "month_first"
    return "ambiguous"


def resolve_dayfirst(series: pd.Series, column: ColumnSpec) -> bool:
    """The user's choice, else day first only when the values prove it (month first otherwise, as pandas)."""
    if column.dayfirst is not None:
        return column.dayfirst
    return date_order(series) == "day_first"


def _guessed_format(series: pd.Series, dayfirst: bool) -> str | None:
    return rules.guessed_date_format(series, dayfirst)


def _fit_numeric(
    name: str, values: np.ndarray, column: ColumnSpec, spec: PreprocessingSpec | None = None
) -> NumericColumn:
    if not np.isfinite(values).any():
        raise DataError(t("data.preprocess.no_numbers", column=repr(name)), field=name)
    if column.missing == "constant":
        try:
            float(column.fill_value)
        except (TypeError, ValueError):
            raise DataError(
                t("data.preprocess.fill_not_number", value=repr(column.fill_value), column=repr(name)),
                field=name,
            ) from None
    options = {
        "missing": column.missing,
        "fill_value": column.fill_value,
        "outliers": column.outliers,
        "scaling": column.scaling,
    }
    periodic = {}
    if spec is not None and spec.numeric_embedding == "periodic":
        periodic = {
            "periodic_frequencies": spec.periodic_frequencies,
            "periodic_scale": spec.periodic_scale,
            "periodic_dim": spec.periodic_dim,
        }
    return NumericColumn(
        name=name, **rules.fit_numeric(values, options), indicator=column.missing_indicator, **periodic
    )


def _fit_categorical(
    name: str, series: pd.Series | None, column: ColumnSpec, max_categories: int, *, counts: pd.Series | None = None
) -> CategoricalColumn:
    options = _category_options(column, max_categories)
    if counts is None:
        counts = category_counts(series, options["fill"])
    fitted = rules.fit_categorical(counts, options)
    return CategoricalColumn(
        name,
        tuple(fitted["vocabulary"]),
        fitted["most_frequent"],
        encoding=fitted["encoding"],
        fill=fitted["fill"],
        indicator=column.missing_indicator,
        embedding_dim=fitted["embedding_dim"],
        num_bins=fitted["num_bins"],
    )


def _category_options(column: ColumnSpec, max_categories: int) -> dict:
    """A category column's settings as the plain dict `table_rules.fit_categorical` takes."""
    limit = column.max_categories or (None if column.encoding == "embedding" else max_categories)
    return {
        "encoding": column.encoding,
        "max_categories": limit,
        "order": tuple(column.order or ()),
        "embedding_dim": column.embedding_dim,
        "num_bins": column.num_bins,
        "fill": str(column.fill_value) if column.missing == "constant" else None,
    }


def _vocabulary_limit(column: ColumnSpec, max_categories: int) -> int:
    """How many of the most frequent values `_fit_categorical` ranks (`table_rules.vocabulary_limit`)."""
    return rules.vocabulary_limit(_category_options(column, max_categories))


def _fit_datetime(name: str, series: pd.Series, column: ColumnSpec, selection=None) -> DatetimeColumn:
    """With `selection` (the row selection `series` comes from), the parsed seconds are kept in its cache
    for encoding the same rows (`_parsed_when_fitted`)."""
    dayfirst = resolve_dayfirst(series, column)
    seconds = datetime_seconds(series, dayfirst=dayfirst)
    if selection is not None:
        selection.cache[("seconds", name)] = (selection.positions, dayfirst, seconds.copy())
    if not np.isfinite(seconds).any():
        raise DataError(t("data.preprocess.no_dates", column=repr(name)), field=name)
    fitted = rules.fit_dates(seconds)
    return DatetimeColumn(
        name=name,
        fill_seconds=fitted["fill_seconds"],
        centers=tuple(fitted["centers"]),
        scales=tuple(fitted["scales"]),
        indicator=column.missing_indicator,
        dayfirst=dayfirst,
    )


def fit_preprocessing(
    train: pd.DataFrame, features: list[str], *, max_categories: int, spec: PreprocessingSpec | None = None
) -> PreprocessingState:
    """Learn imputation values, clip bounds, scales and vocabularies from the training rows only.

    The columns of a big table are fitted on several threads (`core.data.parallel`); the result is the same."""
    spec = spec or PreprocessingSpec(max_categories=max_categories)
    columns = map_columns(
        lambda name: _fit_column(train, name, spec.column(name), max_categories, spec),
        features,
        rows=len(train),
        cost=lambda name: _is_text(train, name),
    )
    return PreprocessingState(columns=tuple(columns))


def _fit_column(
    train, name: str, column: ColumnSpec, max_categories: int, spec: PreprocessingSpec | None = None
) -> ColumnEncoder:
    codes = selection_text_codes(train, name) if column.kind in {"auto", "categorical"} else None
    if codes is not None:
        # Arrow text: count the selected rows' values from the whole column's dictionary codes, without
        # copying their strings.
        fill = str(column.fill_value) if column.missing == "constant" else None
        top = None if column.encoding == "ordinal" else _vocabulary_limit(column, max_categories)
        counts = _code_counts(codes, train.positions, fill, top)
        return _fit_categorical(name, None, column, max_categories, counts=counts)
    series = train[name]
    kind = resolve_kind(series, column)
    if kind == "numeric":
        return _fit_numeric(name, numeric_values(series), column, spec)
    if kind == "datetime":
        selection = train if hasattr(train, "positions") else None  # a row selection (core.data.splitting.RowSelection)
        return _fit_datetime(name, series, column, selection)
    return _fit_categorical(name, series, column, max_categories)


def is_text_column(series: pd.Series) -> bool:
    """Text (or anything else in an object column)."""
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def _is_text(frame, name: str) -> bool:
    """Whether a column (of a table or of the table behind a row selection) holds text: the slower kind to
    fit and encode, started first on the threads."""
    return is_text_column(getattr(frame, "frame", frame)[name])


def transform(state: PreprocessingState, frame: pd.DataFrame) -> np.ndarray:
    """Raw rows → float32 matrix of shape (rows, `state.num_features`)."""
    return encode_rows(state, frame).expand()


class EncodedRows:
    """Encoded rows, kept compact: every input that is not a one-hot or hashing slot sits in the float32
    matrix `dense`, and each one-hot (or hashing) column is the index of its single 1 in `codes`.

    `expand()` gives exactly the float32 matrix `transform` returns. A million rows with 200 one-hot slots
    are 850 MB as that matrix but about 100 MB like this, so training expands one batch at a time
    (`core.data.feeding`) instead of holding the whole matrix.

    Attributes:
        dense: (rows, dense inputs) float32, in matrix order.
        dense_positions: the matrix column of each `dense` column.
        codes: (rows, one-hot columns) unsigned integers: the matrix column that holds each row's 1.
        width: the matrix's number of columns (`PreprocessingState.num_features`).
    """

    __slots__ = ("codes", "dense", "dense_positions", "width")

    def __init__(self, dense: np.ndarray, dense_positions: np.ndarray, codes: np.ndarray, width: int):
        self.dense = dense
        self.dense_positions = np.asarray(dense_positions, dtype="int64")
        self.codes = codes
        self.width = int(width)

    def __len__(self) -> int:
        return len(self.dense)

    @property
    def shape(self) -> tuple[int, int]:
        """The shape of the expanded matrix."""
        return (len(self), self.width)

    @property
    def nbytes(self) -> int:
        return int(self.dense.nbytes + self.codes.nbytes)

    @property
    def expanded_nbytes(self) -> int:
        return len(self) * self.width * 4

    def expand(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """The float32 matrix of all rows, or of the rows at these positions (in that order)."""
        if rows is None:
            rows = slice(0, len(self))
        count = len(range(*rows.indices(len(self)))) if isinstance(rows, slice) else len(rows)
        with small_pages():
            out = np.zeros((count, self.width), dtype="float32")
            for start in range(0, count, _ROW_BLOCK):
                block = out[start : start + _ROW_BLOCK]
                if isinstance(rows, slice):
                    first = (rows.start or 0) + start
                    picked = slice(first, first + len(block))
                else:
                    picked = rows[start : start + _ROW_BLOCK]
                if len(self.dense_positions):
                    block[:, self.dense_positions] = self.dense[picked]
                if self.codes.shape[1]:
                    block[np.arange(len(block))[:, None], self.codes[picked]] = 1.0
        return out


def encode_rows(state: PreprocessingState, frame: pd.DataFrame) -> EncodedRows:
    """Raw rows → `EncodedRows` (the compact form of `transform`'s matrix)."""
    return encode_many(state, [frame])[0]


def encode_many(state: PreprocessingState, frames: list) -> list[EncodedRows]:
    """`encode_rows` of several tables or row selections at once. Selections of one Arrow-backed table
    (the training, validation and test rows) look each category column up once for all of them."""
    for frame in frames:
        missing = [c.name for c in state.columns if c.name not in frame.columns]
        if missing:
            raise DataError(
                t("data.preprocess.missing_columns", columns=", ".join(map(repr, missing))), field=missing[0]
            )
    with small_pages():
        return _encode_many(state, frames)


def _is_one_hot(column: ColumnEncoder) -> bool:
    return isinstance(column, CategoricalColumn) and column.encoding in {"one_hot", "hashing"}


@contextlib.contextmanager
def small_pages():
    """Within the block, numpy does not ask Linux for transparent huge pages on large arrays.

    With THP in "madvise" mode (common, and the case on our machines), numpy's madvise(MADV_HUGEPAGE)
    makes the kernel compact memory for a 2 MiB page at the first touch of each: filling a fresh
    700,000 x 224 float32 matrix took 1.2 s with it and 0.4 s without (`NUMPY_MADVISE_HUGEPAGE=0` does the
    same for a whole process)."""
    setter = getattr(getattr(getattr(np, "_core", None), "multiarray", None), "_set_madvise_hugepage", None)
    if setter is None:
        yield
        return
    previous = setter(False)
    try:
        yield
    finally:
        setter(previous)


def _encode_many(state: PreprocessingState, frames: list) -> list[EncodedRows]:
    code_columns = [column for column in state.columns if _is_one_hot(column)]
    dense_width = state.num_features - sum(column.encoded_width for column in code_columns)
    dense = [np.empty((len(frame), dense_width), dtype="float32") for frame in frames]
    codes = [np.empty((len(frame), len(code_columns)), dtype=_code_dtype(state.num_features)) for frame in frames]
    # Where each column goes: its first matrix column, its first `dense` column and its `codes` column.
    layout: list[tuple[ColumnEncoder, int, int, int]] = []
    dense_positions: list[int] = []
    position = filled = coded = 0
    for column in state.columns:
        layout.append((column, position, filled, coded))
        if _is_one_hot(column):
            coded += 1
            if column.indicator:
                dense_positions.append(position + column.width - 1)
                filled += 1
        else:
            dense_positions.extend(range(position, position + column.width))
            filled += column.width
        position += column.width

    def encode(placed: tuple[ColumnEncoder, int, int, int]) -> None:
        column, position, filled, coded = placed
        if isinstance(column, CategoricalColumn):
            for i, (positions, missing) in enumerate(_category_positions_each(column, frames)):
                if _is_one_hot(column):
                    codes[i][:, coded] = position + 1 + positions  # slot 0 = other/unseen; hashing: bucket b
                    if column.indicator:
                        dense[i][:, filled] = missing
                else:
                    dense[i][:, filled : filled + column.width] = column.encode_positions(positions, missing)
        elif isinstance(column, DatetimeColumn):
            for i, frame in enumerate(frames):
                rows = getattr(frame, "positions", None)  # a selection of rows (core.data.splitting.RowSelection)
                series = frame[column.name] if rows is None else frame.frame[column.name]
                parsed = _parsed_when_fitted(frame, column)
                _dates_into(column, series, rows, dense[i][:, filled : filled + column.width], parsed)
        else:
            for i, values in enumerate(_transformed_each(column, frames)):
                dense[i][:, filled : filled + column.width] = values

    # Each column writes its own slices of `dense` and `codes`, so columns can be encoded at once.
    map_columns(
        encode,
        layout,
        rows=sum(len(frame) for frame in frames),
        cost=lambda placed: isinstance(placed[0], CategoricalColumn),
    )
    placed = np.array(dense_positions, dtype="int64")
    return [EncodedRows(d, placed, c, state.num_features) for d, c in zip(dense, codes, strict=True)]


def _code_dtype(width: int) -> np.dtype:
    return np.dtype("uint16") if width <= np.iinfo(np.uint16).max else np.dtype("int64")


_ROW_BLOCK = 8192


def _category_positions_each(column: CategoricalColumn, frames: list):
    """(positions, missing) of `column` for each frame, as `category_positions` gives them. For row
    selections of an Arrow-backed table, the whole column is looked up once from its dictionary codes
    (shared with fitting), and each selection picks its rows' integers instead of copying strings."""
    whole = None
    for frame in frames:
        codes = selection_text_codes(frame, column.name)
        if codes is None:
            yield category_positions(column, frame[column.name])
            continue
        if whole is None or whole[0] is not codes:
            whole = (codes, *_code_positions(column, codes))
        yield whole[1][frame.positions], whole[2][frame.positions]


def _transformed_each(column: NumericColumn, frames: list):
    """`_transform_column` of a numeric column for each frame. For row selections of one table the column
    is transformed once for the whole table, and each selection takes its rows of the result."""
    whole = None
    for frame in frames:
        rows = getattr(frame, "positions", None)  # a selection of rows (core.data.splitting.RowSelection)
        if rows is None:
            yield _transform_column(column, frame[column.name])
            continue
        if whole is None or whole[0] is not frame.frame:
            whole = (frame.frame, _transform_column(column, frame.frame[column.name]))
        yield whole[1][rows]


def _transform_column(column: ColumnEncoder, series: pd.Series) -> np.ndarray:
    if isinstance(column, NumericColumn):
        # float32 throughout, as in the exported model, so both give the same numbers.
        return rules.encode_numeric(numeric_values(series), asdict(column))
    if isinstance(column, DatetimeColumn):
        out = np.empty((len(series), column.width), dtype="float32")
        _dates_into(column, series, None, out)
        return out
    positions, missing = category_positions(column, series)
    return column.encode_positions(positions, missing)


def _parsed_when_fitted(frame, column: DatetimeColumn) -> np.ndarray | None:
    """The seconds `_fit_datetime` parsed from these very rows (the training rows of a row selection), taken
    out of the selection's cache; None when it did not, or read the day/month order otherwise."""
    rows = getattr(frame, "positions", None)
    kept = None if rows is None else frame.cache.get(("seconds", column.name))
    if kept is None or kept[0] is not rows or kept[1] != column.dayfirst:
        return None
    del frame.cache[("seconds", column.name)]
    return kept[2]


def _dates_into(
    column: DatetimeColumn,
    series: pd.Series,
    rows: np.ndarray | None,
    out: np.ndarray,
    parsed: np.ndarray | None = None,
) -> None:
    """`_transform_column` of a date column, written into `out` (rows, width), which may be a slice of the
    training matrix. `rows`: the positions of a row selection in `series`, else every row.

    It works `DATE_BLOCK_ROWS` rows at a time, so only a block's text is copied and parsed at once, and
    `datetime_parts`'s dozen float64 arrays are a block long. The numbers are those of `datetime_seconds`
    on the selected rows (which parses in the same blocks, with the format guessed from the first value).
    `parsed`: those seconds, when fitting already computed them."""
    count = len(series) if rows is None else len(rows)
    is_date = pd.api.types.is_datetime64_any_dtype(series)
    guessed = None
    if parsed is None and not is_date and count:
        present = series.notna().to_numpy()
        first = np.flatnonzero(present if rows is None else present[rows])[:1]
        guessed = _guessed_format(series.iloc[first if rows is None else rows[first]], column.dayfirst)
    fitted = asdict(column)
    for start in range(0, count, DATE_BLOCK_ROWS):
        block = slice(start, start + DATE_BLOCK_ROWS)
        if parsed is not None:
            seconds = parsed[block]
        else:
            values = series.iloc[block] if rows is None else series.iloc[rows[block]]
            seconds = _seconds(values) if is_date else _seconds(_parse_dates(values, guessed, column.dayfirst))
        rules.encode_dates(seconds, fitted, out[block])


def estimate_preprocessing(frame: pd.DataFrame, features: list[str], spec: PreprocessingSpec) -> PreprocessingState:
    """The encoding fitted on a sample of rows (the Model page's summary; training refits on training rows)."""
    used = [name for name in features if spec.column(name).role != "ignore" and frame[name].notna().any()]
    sample = frame[used].sample(min(len(frame), 5000), random_state=0) if len(frame) else frame[used]
    try:
        return fit_preprocessing(sample, used, max_categories=spec.max_categories, spec=spec)
    except DataError:
        return PreprocessingState(columns=())
