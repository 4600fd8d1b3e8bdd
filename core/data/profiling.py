"""Profile a table: what each column holds, how it relates to the target, and what the target looks like.

`profile_frame` is what the Data page and `layerlab profile` show: per column the kind we infer (numeric,
categorical, boolean, datetime, free text, ID-like or empty), missing values, distinct values, a histogram or
the most frequent values, whether a text column mixes numbers and words, and how strongly the column alone is
associated with the target. It must stay fast on big uploads, so everything but the cheap exact counts runs on a
seeded sample (`PROFILE_SAMPLE_ROWS`, `ASSOCIATION_SAMPLE_ROWS`); `TableProfile.sampled_rows` says so.

`infer_task` guesses binary / multiclass / regression from the target's values.

Example:
    >>> import pandas as pd
    >>> profile = profile_frame(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "b"]}), target="y")
    >>> [(c.name, c.kind) for c in profile.columns], profile.target.class_counts
    ([('x', 'numeric'), ('y', 'categorical')], (('a', 2), ('b', 2)))
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.data.parallel import map_columns, warnings_ignored
from core.data.preprocessing import MISSING_TOKENS, is_text_column
from core.errors import AppError, DataError
from core.i18n import t
from core.spec import Task

# Integer-valued targets with at most this many distinct values are treated as classes.
MAX_INTEGER_CLASSES = 20

# Rows profiled (kinds, distinct values, histograms, top values); missing counts always use every row.
PROFILE_SAMPLE_ROWS = 100_000
# Rows used to measure each column's association with the target (and, in core.data.quality, leaks).
ASSOCIATION_SAMPLE_ROWS = 20_000
SAMPLE_SEED = 0
HISTOGRAM_BINS = 20
TOP_VALUES = 10
TARGET_TOP_CLASSES = 50
# Levels per column when measuring association: numbers in quantile bins, text by its most frequent values.
ASSOCIATION_LEVELS = 20

# ID-like: almost every value differs (on at least ID_MIN_ROWS values), or the name says it is an identifier.
ID_DISTINCT_RATIO = 0.95
ID_MIN_ROWS = 50
# Free text: long values made of several words (or CJK sentences), mostly different from one another.
FREE_TEXT_MEAN_CHARS = 30
FREE_TEXT_MEAN_CHARS_CJK = 15
FREE_TEXT_MEAN_WORDS = 4
FREE_TEXT_DISTINCT_RATIO = 0.5
# Text dates: at least this share of a small sample of values parses as a date.
DATETIME_PARSE_SHARE = 0.9
DATETIME_SAMPLE = 200

KINDS: tuple[str, ...] = ("numeric", "categorical", "boolean", "datetime", "text", "id", "empty")


def association_explanation() -> str:
    """What the association column means, in the current language (message "data.profile.association_explanation")."""
    return t("data.profile.association_explanation", levels=ASSOCIATION_LEVELS)


def __getattr__(name: str):
    # ASSOCIATION_EXPLANATION, read in the current language each time the module attribute is looked up.
    if name == "ASSOCIATION_EXPLANATION":
        return association_explanation()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Name words that mark an identifier ("customer_id", "Order ID", "uuid", "row_no", "Unnamed: 0", "编号").
_ID_WORDS = {"id", "ids", "uuid", "guid", "idx", "index", "rowid", "rownum", "key"}
_ID_LAST_WORDS = {"no", "nr", "number", "num", "code"} | _ID_WORDS
_ID_CJK = ("编号", "序号", "学号", "工号", "身份证", "订单号", "流水号", "账号", "单号", "证件号", "卡号", "ID")
_CAMEL_ID = re.compile(r"[a-z](Id|ID|Uuid|UUID|Guid|GUID)$")
# One lowercase word ending in "id" (caseid, personid), except English words that merely end so.
_GLUED_ID = re.compile(r"^[a-z]{2,}id$")
_WORDS_ENDING_IN_ID = {
    "acid", "android", "arid", "avid", "avoid", "covid", "druid", "fluid", "humid", "hybrid", "invalid", "liquid",
    "lucid", "morbid", "paid", "prepaid", "rapid", "rigid", "said", "solid", "squid", "stupid", "thyroid",
    "timid", "unpaid", "valid", "vivid", "void", "overpaid", "underpaid", "postpaid", "pyramid", "splendid",
}  # fmt: skip
_UNNAMED = re.compile(r"^(unnamed(:?\s*\d+)?|#|index|level_\d+)?$", re.IGNORECASE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_DIGIT = re.compile(r"\d")
_TRUE_FALSE = {"true", "false"}


@dataclass(frozen=True, slots=True)
class Histogram:
    """`counts[i]` values lie in [`edges[i]`, `edges[i + 1]`) (the last bin includes its right edge)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """What one column holds.

    Attributes:
        name: the column name.
        kind: what the values look like: numeric, categorical, boolean, datetime, text (free text), id
            (an identifier: almost every value differs) or empty (no values at all).
        dtype: the pandas dtype.
        missing_fraction: share of rows without a value (all rows).
        num_distinct: distinct non-missing values (in the profiled sample).
        example: the first non-missing value, shortened.
        missing_count: rows without a value (all rows).
        treated_as: how LayerLab encodes the column by default: numeric, categorical or datetime.
        top_share: share of the most frequent value among non-missing values (sample).
        distinct_share: distinct values / non-missing values (sample); near 1 for identifiers.
        histogram: numeric columns: counts of the finite values in `HISTOGRAM_BINS` bins (sample).
        top_values: other columns: up to `TOP_VALUES` most frequent values with their counts (sample).
        mixed: a text column where some, but not all, values are numbers.
        numeric_count: values of a text column that are numbers (all rows; 0 when not text).
        mixed_count: values of a mixed column that are not numbers and would become missing as numbers.
        mixed_examples: a few of those values.
        infinite_count: numeric values that are infinite or beyond float32 (all rows); treated as missing.
        association: association with the target in [0, 1] (see `ASSOCIATION_EXPLANATION`), None if unknown.
    """

    name: str
    kind: str
    dtype: str
    missing_fraction: float
    num_distinct: int
    example: str
    missing_count: int = 0
    treated_as: str = "categorical"
    top_share: float = 0.0
    distinct_share: float = 0.0
    histogram: Histogram | None = None
    top_values: tuple[tuple[str, int], ...] = ()
    mixed: bool = False
    numeric_count: int = 0
    mixed_count: int = 0
    mixed_examples: tuple[str, ...] = ()
    infinite_count: int = 0
    association: float | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["top_values"] = [list(pair) for pair in self.top_values]
        data["mixed_examples"] = list(self.mixed_examples)
        if self.histogram is not None:
            data["histogram"] = {"edges": list(self.histogram.edges), "counts": list(self.histogram.counts)}
        return data


@dataclass(frozen=True, slots=True)
class TargetProfile:
    """The column to predict.

    Attributes:
        name: the target column.
        task: binary, multiclass or regression as inferred from the values; None when nothing can be learned
            (fewer than two distinct values), with the reason in `problem`.
        missing_count: rows without a target value (all rows); training leaves them out.
        num_distinct: distinct target values (all rows).
        class_counts: classification: (class, rows) for the `TARGET_TOP_CLASSES` most frequent classes,
            most frequent first (all rows).
        histogram: regression: histogram of the finite target values (sample).
        problem: why no task could be inferred.
        labelled_count: rows with a target value (all rows); class shares are over these, not over the
            shown classes only.
    """

    name: str
    task: Task | None
    missing_count: int
    num_distinct: int
    class_counts: tuple[tuple[str, int], ...] = ()
    histogram: Histogram | None = None
    problem: str | None = None
    labelled_count: int = 0

    def class_shares(self, top: int) -> list[tuple[str, int, float]]:
        """(class, rows, share of all labelled rows) for the `top` most frequent classes, then one
        ("other classes", rows, share) entry for the rest when there are more classes."""
        total = max(self.labelled_count, sum(count for _, count in self.class_counts), 1)
        shown = [(name, count, count / total) for name, count in self.class_counts[:top]]
        if self.num_distinct > len(shown):
            rest = total - sum(count for _, count, _ in shown)
            others = self.num_distinct - len(shown)
            shown.append((f"{others:,} other classes", rest, rest / total))
        return shown

    def to_dict(self) -> dict:
        data = asdict(self)
        data["class_counts"] = [list(pair) for pair in self.class_counts]
        if self.histogram is not None:
            data["histogram"] = {"edges": list(self.histogram.edges), "counts": list(self.histogram.counts)}
        return data


@dataclass(frozen=True, slots=True)
class TableProfile:
    """A whole table. `sampled_rows` is the number of rows profiled when that is fewer than `num_rows`
    (show "Profiled on a sample of N of M rows"), else None."""

    num_rows: int
    num_columns: int
    sampled_rows: int | None
    columns: list[ColumnProfile]
    target: TargetProfile | None
    association_rows: int = 0

    def column(self, name: str) -> ColumnProfile | None:
        return next((column for column in self.columns if column.name == name), None)

    def to_dict(self) -> dict:
        return {
            "rows": self.num_rows,
            "columns": self.num_columns,
            "sampled_rows": self.sampled_rows,
            "association_rows": self.association_rows,
            "profile": [column.to_dict() for column in self.columns],
            "target": None if self.target is None else self.target.to_dict(),
        }


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


def treated_as(series: pd.Series) -> str:
    """How preprocessing encodes a column left at kind "auto": numeric, datetime or categorical."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return "numeric"
    return "categorical"


def _name_words(name: str) -> list[str]:
    return [word for word in re.split(r"[^0-9a-z]+", name.lower()) if word]


def looks_like_id_name(name: str) -> bool:
    """Whether a column name says it is an identifier (id, uuid, customer_id, CustomerID, Unnamed: 0, 编号...)."""
    name = str(name).strip()
    if _UNNAMED.match(name) or _CAMEL_ID.search(name) or any(mark in name for mark in _ID_CJK):
        return True
    words = _name_words(name)
    if len(words) == 1 and _GLUED_ID.match(words[0]) and words[0] not in _WORDS_ENDING_IN_ID:
        return True
    return bool(words) and (words[0] in _ID_WORDS or words[-1] in _ID_LAST_WORDS)


def looks_like_group_name(name: str) -> bool:
    """Whether a column name says it identifies an entity that has several rows (customer_id, patient, 用户ID)."""
    name = str(name).strip()
    if _UNNAMED.match(name):
        return False
    words = _name_words(name)
    entity = {"customer", "client", "user", "patient", "subject", "member", "account", "household", "session"}
    # An entity word names the entity itself only when nothing but an identifier word follows it:
    # customer, patient_no, user_name; not session_minutes or household_size (measurements of one).
    naming = {"id", "no", "nr", "number", "num", "key", "code", "name", "ref"}
    return (
        bool(_CAMEL_ID.search(name))
        or any(word in {"id", "uuid", "guid"} for word in words)
        or any(word in entity and set(words[i + 1 :]) <= naming for i, word in enumerate(words))
        or any(mark in name for mark in ("客户", "用户", "患者", "病人", "会员", "账号", "ID"))
    )


def sample_rows(frame: pd.DataFrame, limit: int, seed: int = SAMPLE_SEED) -> pd.DataFrame:
    """At most `limit` rows, chosen at random with a fixed seed, in table order (the frame itself when it is
    small enough). Taking rows in order is faster than in random order: a 100,000-row sample of a
    million-row table's text columns took 0.07 s instead of 0.11 s."""
    if len(frame) <= limit:
        return frame
    return frame.take(np.sort(np.random.default_rng(seed).choice(len(frame), size=limit, replace=False)))


def profile_table(frame: pd.DataFrame) -> list[ColumnProfile]:
    """One `ColumnProfile` per column, in table order."""
    return profile_frame(frame).columns


def profile_frame(frame: pd.DataFrame, target: str | None = None) -> TableProfile:
    """Profile every column of `frame` and, when given, the `target` column and each column's association with it.

    Missing, infinite and number-in-text counts use every row; the rest uses a seeded sample of at most
    `PROFILE_SAMPLE_ROWS` rows (association: `ASSOCIATION_SAMPLE_ROWS`).
    """
    num_rows = len(frame)
    sample = sample_rows(frame, PROFILE_SAMPLE_ROWS)
    columns = map_columns(
        lambda i: _profile_column(frame.iloc[:, i], sample.iloc[:, i]), range(frame.shape[1]), rows=num_rows
    )
    names = [str(name) for name in frame.columns]
    target_profile = None
    association_rows = 0
    if target is not None and target in names:
        position = names.index(target)
        target_profile = _profile_target(frame.iloc[:, position], sample.iloc[:, position], columns[position])
        if target_profile.task is not None:
            small = sample_rows(sample, ASSOCIATION_SAMPLE_ROWS)
            association_rows = len(small)
            target_codes = target_levels(small.iloc[:, position], target_profile.task)
            updated = []
            for i, column in enumerate(columns):
                if i != position and column.kind != "empty":
                    codes = feature_levels(small.iloc[:, i], column, ASSOCIATION_LEVELS)
                    column = _replace(column, association=round(association(codes, target_codes), 4))
                updated.append(column)
            columns = updated
    return TableProfile(
        num_rows=num_rows,
        num_columns=frame.shape[1],
        sampled_rows=len(sample) if len(sample) < num_rows else None,
        columns=columns,
        target=target_profile,
        association_rows=association_rows,
    )


def _replace(profile: ColumnProfile, **changes) -> ColumnProfile:
    data = {name: getattr(profile, name) for name in ColumnProfile.__dataclass_fields__}
    data.update(changes)
    return ColumnProfile(**data)


def _hashable(series: pd.Series) -> pd.Series:
    """The series itself, or its values as text when some of them (lists, dicts) cannot be counted."""
    if series.dtype != object:
        return series
    try:
        series.nunique()
    except TypeError:
        return series.map(lambda value: value if _is_hashable(value) else str(value))
    return series


def _is_hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _profile_column(full: pd.Series, sample: pd.Series) -> ColumnProfile:
    name = str(full.name)
    num_rows = max(len(full), 1)
    missing_count = int(full.isna().sum())
    sample = _hashable(sample)
    values = sample.dropna()
    base = {
        "name": name,
        "dtype": str(full.dtype),
        "missing_fraction": missing_count / num_rows,
        "missing_count": missing_count,
        "treated_as": treated_as(full),
    }
    if values.empty:
        return ColumnProfile(kind="empty", num_distinct=0, example="", **base)
    counts = values.value_counts(sort=True)
    base["num_distinct"] = int(len(counts))
    base["top_share"] = float(counts.iloc[0]) / len(values)
    base["distinct_share"] = len(counts) / len(values)
    base["example"] = str(values.iloc[0])[:40]
    if pd.api.types.is_bool_dtype(full):
        return ColumnProfile(kind="boolean", top_values=_top_values(counts), **base)
    if pd.api.types.is_datetime64_any_dtype(full):
        return ColumnProfile(kind="datetime", top_values=_top_values(counts), **base)
    if pd.api.types.is_numeric_dtype(full):
        numbers = _float_values(values)
        infinite = _infinite_count(full)
        kind = "id" if _numbers_look_like_ids(name, numbers, len(counts)) else "numeric"
        return ColumnProfile(kind=kind, histogram=_histogram(numbers), infinite_count=infinite, **base)
    if not is_text_column(full):  # categoricals, periods, intervals...
        return ColumnProfile(kind="categorical", top_values=_top_values(counts), **base)
    return _profile_text(full, values, counts, base)


def _profile_text(full: pd.Series, values: pd.Series, counts: pd.Series, base: dict) -> ColumnProfile:
    name = base["name"]
    num_distinct = len(counts)
    top_values = _top_values(counts)
    if num_distinct <= 6 and all(_is_true_false(value) for value in counts.index):
        return ColumnProfile(kind="boolean", top_values=top_values, **base)
    strings = values.astype(str) if values.dtype == object else values
    # Numbers written as text: a quick look first, then every row for the exact count of what does not parse.
    # Codes with leading zeros ("007", "02134") are labels, not amounts.
    probe = pd.to_numeric(values.head(2000), errors="coerce")
    if float(strings.head(2000).str.match(r"\s*0\d").mean()) > 0.1:
        probe = probe.iloc[:0]
    numeric_count = mixed_count = infinite_count = 0
    mixed_examples: tuple[str, ...] = ()
    if probe.notna().any():
        present = full.dropna()
        parsed = pd.to_numeric(present, errors="coerce")
        numeric_count = int(parsed.notna().sum())
        infinite_count = _infinite_count(parsed)
        failing = present[parsed.isna()]
        failing = failing[~failing.astype(str).str.strip().isin(MISSING_TOKENS)]
        mixed_count = len(failing)
        if numeric_count and mixed_count:
            mixed_examples = tuple(str(v)[:20] for v in pd.unique(failing.astype(str))[:5])
    text = {"top_values": top_values, "numeric_count": numeric_count, "infinite_count": infinite_count}
    if numeric_count and mixed_count:
        share = numeric_count / (numeric_count + mixed_count)
        kind = "numeric" if share >= 0.5 else "categorical"
        numbers = _float_values(pd.to_numeric(values, errors="coerce").dropna())
        histogram = _histogram(numbers) if kind == "numeric" else None
        return ColumnProfile(
            kind=kind,
            histogram=histogram,
            mixed=True,
            mixed_count=mixed_count,
            mixed_examples=mixed_examples,
            **text,
            **base,
        )
    if numeric_count and not mixed_count:
        numbers = _float_values(pd.to_numeric(values, errors="coerce"))
        kind = "id" if _numbers_look_like_ids(name, numbers, num_distinct) else "numeric"
        return ColumnProfile(kind=kind, histogram=_histogram(numbers), **text, **base)
    distinct_ratio = num_distinct / len(values)
    if _looks_like_dates(strings):
        return ColumnProfile(kind="datetime", **text, **base)
    if _looks_like_free_text(strings, distinct_ratio):
        return ColumnProfile(kind="text", **text, **base)
    if _looks_like_ids(name, len(values), distinct_ratio):
        return ColumnProfile(kind="id", **text, **base)
    return ColumnProfile(kind="categorical", **text, **base)


def _is_true_false(value) -> bool:
    return isinstance(value, bool | np.bool_) or (isinstance(value, str) and value.strip().lower() in _TRUE_FALSE)


def _top_values(counts: pd.Series) -> tuple[tuple[str, int], ...]:
    return tuple((_label(value), int(count)) for value, count in counts.head(TOP_VALUES).items())


def _label(value) -> str:
    """A value as shown to the user: integer-valued floats keep their integer name ("1", not "1.0")."""
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _float_values(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values):
        values = values.astype("int8")
    return np.asarray(values.to_numpy(dtype="float64", na_value=np.nan), dtype="float64")


def _infinite_count(series: pd.Series) -> int:
    if pd.api.types.is_integer_dtype(series) or pd.api.types.is_bool_dtype(series):
        return 0
    numbers = _float_values(series)
    finite_limit = float(np.finfo(np.float32).max)
    return int(np.count_nonzero(np.abs(numbers[~np.isnan(numbers)]) > finite_limit))


def _histogram(numbers: np.ndarray) -> Histogram | None:
    finite = numbers[np.isfinite(numbers)]
    if finite.size == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    is_integer = bool(np.all(np.mod(finite, 1) == 0))
    # Beyond 2**52 whole numbers are no longer 1 apart in float64, so "one bar per number" has no edges.
    if is_integer and high - low < HISTOGRAM_BINS and max(abs(low), abs(high)) < 2.0**52:
        # One bar per whole number, centred on it.
        edges = np.arange(low - 0.5, high + 1.0, 1.0)
    elif low == high:
        edges = np.array([low - 0.5, high + 0.5])
    else:
        edges = _equal_width_edges(finite)
        if edges is None:
            edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1), method="lower"))
    counts, edges = np.histogram(finite, bins=edges)
    return Histogram(edges=tuple(float(e) for e in edges), counts=tuple(int(c) for c in counts))


def _equal_width_edges(finite: np.ndarray) -> np.ndarray | None:
    """`HISTOGRAM_BINS` equal-width bin edges, or None when float64 cannot hold them: a range wider than
    float64's largest number (-1.8e308 to 1.8e308), or bins narrower than its resolution (denormals)."""
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            edges = np.histogram_bin_edges(finite, bins=HISTOGRAM_BINS)
        except ValueError:
            return None
    return edges if np.all(np.isfinite(edges)) and np.all(edges[1:] > edges[:-1]) else None


def _numbers_look_like_ids(name: str, numbers: np.ndarray, num_distinct: int) -> bool:
    """Whole numbers that are (almost) all different, and either named like an ID or counting rows up by one."""
    finite = numbers[np.isfinite(numbers)]
    if finite.size == 0 or not np.all(np.mod(finite, 1) == 0):
        return False
    ratio = num_distinct / finite.size
    if looks_like_id_name(name):
        return ratio > ID_DISTINCT_RATIO and finite.size >= 10
    if ratio <= ID_DISTINCT_RATIO or finite.size < ID_MIN_ROWS:
        return False
    # A row counter: consecutive whole numbers (in any order), like 0..n-1 or 1001..1000+n.
    span = float(finite.max() - finite.min()) + 1
    return span <= 1.05 * num_distinct


def _looks_like_ids(name: str, num_values: int, distinct_ratio: float) -> bool:
    if looks_like_id_name(name) and num_values >= 10 and distinct_ratio > ID_DISTINCT_RATIO:
        return True
    return num_values >= ID_MIN_ROWS and distinct_ratio > ID_DISTINCT_RATIO


def _looks_like_free_text(strings: pd.Series, distinct_ratio: float) -> bool:
    if distinct_ratio <= FREE_TEXT_DISTINCT_RATIO:
        return False
    head = strings.head(2000)
    mean_chars = float(head.str.len().mean())
    if mean_chars > FREE_TEXT_MEAN_CHARS and float(head.str.count(r"\s+").mean()) + 1 >= FREE_TEXT_MEAN_WORDS:
        return True
    return mean_chars > FREE_TEXT_MEAN_CHARS_CJK and float(head.str.count(_CJK.pattern).mean()) > mean_chars / 2


def _looks_like_dates(strings: pd.Series) -> bool:
    """At least 90% of a small sample parses as dates, and the values have digits (so "March" or "1" do not)."""
    head = strings.head(DATETIME_SAMPLE)
    lengths = head.str.len()
    plausible = (lengths >= 6) & (lengths <= 40) & head.str.contains(_DIGIT.pattern, regex=True)
    if plausible.mean() < DATETIME_PARSE_SHARE:
        return False
    with warnings_ignored():
        try:
            parsed = pd.to_datetime(head.astype(object), format="mixed", errors="coerce", utc=True)
        except (ValueError, TypeError, OverflowError):
            return False
    return float(parsed.notna().mean()) >= DATETIME_PARSE_SHARE


def _profile_target(full: pd.Series, sample: pd.Series, column: ColumnProfile) -> TargetProfile:
    name = str(full.name)
    missing_count = int(full.isna().sum())
    try:
        task: Task | None = infer_task(full)
        problem = None
    except AppError as error:
        task, problem = None, error.message
    present = _hashable(full).dropna()
    if task is None or task != "regression":
        labels = present.map(_label) if present.dtype.kind == "f" else present.astype(str)
        counts = labels.value_counts(sort=True)
        class_counts = tuple((str(k), int(v)) for k, v in counts.head(TARGET_TOP_CLASSES).items())
        return TargetProfile(
            name=name,
            task=task,
            missing_count=missing_count,
            num_distinct=int(len(counts)),
            class_counts=class_counts,
            problem=problem,
            labelled_count=len(labels),
        )
    return TargetProfile(
        name=name,
        task=task,
        missing_count=missing_count,
        num_distinct=int(present.nunique()),
        histogram=column.histogram or _histogram(_float_values(sample.dropna())),
        labelled_count=len(present),
    )


def _codes_from_values(series: pd.Series, max_levels: int) -> np.ndarray:
    """Integer codes of the `max_levels` most frequent values; 0 = missing, 1 = any other value."""
    codes, _ = pd.factorize(_hashable(series), use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0]) if (codes >= 0).any() else np.zeros(0, dtype="int64")
    kept = np.argsort(-counts, kind="stable")[:max_levels]
    mapping = np.ones(len(counts) + 1, dtype="int64")  # index 0 ← code -1 (missing)
    mapping[0] = 0
    mapping[kept + 1] = np.arange(2, len(kept) + 2)
    return mapping[codes + 1]


def _codes_from_numbers(numbers: np.ndarray, max_levels: int) -> np.ndarray:
    """Equal-count bins of the finite numbers, coded from 1; 0 = missing or infinite."""
    finite = np.isfinite(numbers)
    codes = np.zeros(len(numbers), dtype="int64")
    if not finite.any():
        return codes
    distinct = np.unique(numbers[finite])
    if len(distinct) <= max_levels:
        codes[finite] = np.searchsorted(distinct, numbers[finite]) + 1
        return codes
    edges = np.unique(np.quantile(numbers[finite], np.linspace(0, 1, max_levels + 1)[1:-1]))
    codes[finite] = np.searchsorted(edges, numbers[finite], side="right") + 1
    return codes


def feature_levels(series: pd.Series, profile: ColumnProfile, max_levels: int) -> np.ndarray:
    """A column as small integer levels for association and leak checks: numbers (also numbers written as
    text) in equal-count bins, anything else as its most frequent values; missing values are a level of their own."""
    if profile.histogram is not None:
        return _codes_from_numbers(_float_values(pd.to_numeric(series, errors="coerce")), max_levels)
    return _codes_from_values(series, max_levels)


def target_levels(series: pd.Series, task: Task) -> np.ndarray:
    """The target as integer levels: classes (up to 100), or 10 equal-count bins of a numeric target."""
    if task == "regression":
        return _codes_from_numbers(_float_values(pd.to_numeric(series, errors="coerce")), 10)
    return _codes_from_values(series, 100)


def entropy(codes: np.ndarray) -> float:
    counts = np.bincount(codes)
    p = counts[counts > 0] / max(len(codes), 1)
    return float(-(p * np.log(p)).sum())


def association(x: np.ndarray, y: np.ndarray) -> float:
    """I(X; Y) / H(Y) on rows where the target is known, with the chance level (k_x - 1)(k_y - 1) / 2n
    subtracted so small samples and many levels do not look associated: 0 = independent, 1 = X determines Y."""
    known = y > 0
    x, y = x[known], y[known]
    n = len(y)
    if n < 2:
        return 0.0
    _, x = np.unique(x, return_inverse=True)
    _, y = np.unique(y, return_inverse=True)
    kx, ky = int(x.max()) + 1, int(y.max()) + 1
    h_y = entropy(y)
    if h_y <= 0:
        return 0.0
    joint = np.bincount(x * ky + y, minlength=kx * ky).reshape(kx, ky) / n
    px, py = joint.sum(axis=1, keepdims=True), joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    mutual = float((joint[nonzero] * np.log(joint[nonzero] / (px @ py)[nonzero])).sum())
    mutual -= (kx - 1) * (ky - 1) / (2 * n)
    return float(min(max(mutual / h_y, 0.0), 1.0))


def infer_task(target: pd.Series) -> Task:
    """Guess binary / multiclass / regression from the target's values.

    Two distinct values is binary; text, booleans, or integers with few distinct values are classes;
    anything else numeric is regression.
    """
    values = target.dropna()
    num_distinct = int(values.nunique())
    if num_distinct < 2:
        shown = (
            t("data.profile.target_one_value", value=repr(values.iloc[0]))
            if num_distinct == 1
            else t("data.profile.target_no_values")
        )
        raise DataError(
            t("data.profile.target_single_value", column=repr(target.name), shown=shown), field=str(target.name)
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


# What tables call the column to predict: a whole name, or the last word of one (income_class, is_churn; not
# a lone y, which as a last word is more often a coordinate).
TARGET_NAMES = frozenset(
    {"target", "label", "labels", "class", "y", "outcome", "result", "price", "income", "churn", "churned",
     "survived", "species", "quality", "diagnosis"}
)  # fmt: skip
TARGET_NAMES_CJK = ("目标", "标签", "类别", "结果")
LIKELY_TARGET_MAX_CLASSES = 10


def suggest_target(frame: pd.DataFrame, profile: TableProfile | None = None) -> str | None:
    """The column a table most likely asks to predict, or None when nothing makes it clear.

    A column named like a target (target, label, class, y, outcome, price, churn, 标签...) wins, the last one if
    several do; otherwise the last column, when it holds 2 to 10 different values. An ID-like, free-text or
    empty column, or one with a single value, is never suggested: a page asks instead of guessing wrong.

    Args:
        frame: the table.
        profile: its profile, when already computed (`profile_frame(frame)`).

    Example:
        >>> suggest_target(pd.DataFrame({"churn": ["no", "yes", "no"], "age": [30.5, 41.2, 52.9]}))
        'churn'
    """
    profile = profile or profile_frame(frame)
    usable = [c for c in profile.columns if c.kind not in {"id", "text", "empty"} and c.num_distinct >= 2]
    exact = [c.name for c in usable if str(c.name).strip().lower() in TARGET_NAMES]
    partial = [
        c.name
        for c in usable
        if (_name_words(str(c.name)) or [""])[-1] in TARGET_NAMES - {"y"}  # not "$y$", "pos_y"
        or any(mark in str(c.name) for mark in TARGET_NAMES_CJK)
    ]
    if exact or partial:
        return (exact or partial)[-1]
    last = profile.columns[-1] if profile.columns else None
    if last is not None and any(c is last for c in usable) and last.num_distinct <= LIKELY_TARGET_MAX_CLASSES:
        return last.name
    return None
