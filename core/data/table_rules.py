"""The per-value rules that turn a table's raw values into the numbers a LayerLab model reads: the one copy.

Numbers (`numbers`), categories (`category_strings`, `fit_categorical`, `category_positions`,
`encode_positions`), class names (`class_name`, `natural_key`), hash buckets (`hash_buckets`) and dates
(`parse_dates`, `datetime_seconds`, `datetime_parts`, `fit_dates`, `encode_dates`), each fitted statistic a
plain dict or number. This module imports only the standard library, numpy and pandas (and TensorFlow inside
`hash_buckets`, which needs its hash), and its functions refer to nothing outside it, so code that leaves
LayerLab carries it verbatim (`shipped_source`): the generated script (`core.deployment.codegen`) and
preprocess.py in a TFLite/ONNX download (`core.deployment.formats`). `core.data.preprocessing` calls these
functions for training and keeps faster Arrow paths for big tables, which tests hold equal to them; the Keras
graph of `core.deployment.serving_model` is their in-model twin, held equal by the parity tests.
"""

import contextlib
import inspect
import re
import sys
import threading
import warnings

import numpy as np
import pandas as pd

# pandas' default missing-value words: a file read by pandas turns these into missing values, so in a text
# column they count as missing too.
MISSING_TOKENS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip
FLOAT32_MAX = float(np.finfo(np.float32).max)
DATETIME_PARTS = ("year", "month", "day", "weekday", "hour")
EMBEDDING_MAX_CATEGORIES = 10_000
DEFAULT_NUM_BINS = 64
DATE_BLOCK_ROWS = 131_072
# A date written year first (2024-03-01, 2024/03/01): never read day first.
YEAR_FIRST = r"\s*\d{4}[-/.]"
_WARNINGS_LOCK = threading.RLock()


@contextlib.contextmanager
def warnings_ignored():
    """`warnings.catch_warnings()` with every warning ignored, entered by one thread at a time (the filters
    are process-wide: two threads entering and leaving at once could restore each other's filters)."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ------------------------------------------------------------------------------------------------- numbers


def numbers(series):
    """float64 values; text that is not a number, infinities and values beyond float32 become NaN (beyond
    float32's range a value would be inf inside the network, whose inputs are float32)."""
    values = np.array(pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan))
    values[~(np.abs(values) <= FLOAT32_MAX)] = np.nan
    return values


# Full-width digits and signs (１２３，４５６．７８％ from a Chinese or Japanese input method) as ASCII.
FULL_WIDTH_NUMBER_CHARACTERS = str.maketrans("０１２３４５６７８９．，％－＋\u3000", "0123456789.,%-+ ")
FORMATTED_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?|[-+]?\.\d+%?")


def formatted_numbers(series):
    """A text column whose every value is a number written with full-width digits (１２３), thousands
    separators (1,234.5) or a percent sign (12.3% → 0.123) → float64 values (missing stay NaN); None when
    the column is not such (a value is something else, only some values have a percent sign, or nothing
    needs this reading: plain numbers are the reader's job)."""
    if not (pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)):
        return None

    def as_text(values):
        return values.astype("object").map(str).str.translate(FULL_WIDTH_NUMBER_CHARACTERS).str.strip()

    head = series.head(1000).dropna()
    if len(head) and not as_text(head[~head.isin(MISSING_TOKENS)]).str.fullmatch(FORMATTED_NUMBER).all():
        return None  # a text column (the usual case) is told apart by its first rows
    present = series.notna() & ~series.astype("object").isin(MISSING_TOKENS)
    if not present.any():
        return None
    text = as_text(series[present])
    if not text.str.fullmatch(FORMATTED_NUMBER).all():
        return None
    percent = text.str.endswith("%")
    if percent.any() and not percent.all():
        return None
    if not (percent.any() or text.str.contains(",", regex=False).any() or not series[present].equals(text)):
        return None
    parsed = pd.to_numeric(text.str.replace(",", "", regex=False).str.rstrip("%"), errors="coerce")
    values = np.full(len(series), np.nan)
    values[present.to_numpy()] = parsed.to_numpy(dtype="float64", na_value=np.nan) / (100.0 if percent.any() else 1.0)
    return values


def fit_numeric(values, options):
    """From the training rows' `numbers`: fill value, clip bounds, log shift, centre and scale.

    `options`: "missing" (median [also auto and drop_rows: training drops those rows, new rows get the
    median], mean, most_frequent, constant with "fill_value"), "outliers" (none, clip_iqr, clip_zscore) and
    "scaling" (standard [also auto], minmax, robust, log1p [then standardised], none). Needs a finite value.
    """
    finite = values[np.isfinite(values)]
    if options["missing"] == "mean":
        fill = float(finite.mean())
    elif options["missing"] == "most_frequent":
        uniques, counts = np.unique(finite, return_counts=True)
        fill = float(uniques[np.argmax(counts)])
    elif options["missing"] == "constant":
        fill = float(options["fill_value"])
    else:
        fill = float(np.median(finite))
    filled = np.where(np.isnan(values), fill, values)
    clip_low = clip_high = None
    if options["outliers"] == "clip_iqr":  # [Q1 - 1.5 IQR, Q3 + 1.5 IQR]
        q1, q3 = np.percentile(finite, [25, 75])
        clip_low, clip_high = float(q1 - 1.5 * (q3 - q1)), float(q3 + 1.5 * (q3 - q1))
    elif options["outliers"] == "clip_zscore":  # mean ± 3 standard deviations
        mean, std = float(finite.mean()), float(finite.std())
        clip_low, clip_high = mean - 3 * std, mean + 3 * std
    if clip_low is not None:
        filled = np.clip(filled, clip_low, clip_high)
    log_shift = None
    scaling = options["scaling"]
    if scaling == "log1p":  # log(1 + x), shifted so the smallest value is 0, then standardised
        log_shift = min(float(filled.min()), 0.0)
        filled = np.log1p(np.maximum(filled - log_shift, 0.0))
    if scaling == "minmax":
        center, scale = float(filled.min()), float(filled.max() - filled.min())
    elif scaling == "robust":
        q1, median, q3 = np.percentile(filled, [25, 50, 75])
        center, scale = float(median), float(q3 - q1)
    elif scaling == "none":
        center, scale = 0.0, 1.0
    else:  # standard (z-score)
        center, scale = float(filled.mean()), float(filled.std())
    scale = scale if scale > 1e-12 and np.isfinite(scale) else 1.0
    return {
        "fill": fill,
        "center": center,
        "scale": scale,
        "clip_low": clip_low,
        "clip_high": clip_high,
        "log_shift": log_shift,
    }


def encode_numeric(values, fitted):
    """`numbers` → (rows, 1 [+ 1]) float32: missing → fill, clip, log, (x - centre) / scale, in float32 as in
    the exported model [+ a 0/1 "was missing" column when fitted["indicator"]]."""
    values = np.asarray(values).astype("float32")
    missing = np.isnan(values)
    values = np.where(missing, np.float32(fitted["fill"]), values)
    if fitted.get("clip_low") is not None:
        values = np.clip(values, np.float32(fitted["clip_low"]), np.float32(fitted["clip_high"]))
    if fitted.get("log_shift") is not None:
        values = np.log1p(np.maximum(values - np.float32(fitted["log_shift"]), np.float32(0.0)))
    columns = [(values - np.float32(fitted["center"])) / np.float32(fitted["scale"])]
    if fitted.get("indicator"):
        columns.append(missing.astype("float32"))
    return np.stack(columns, axis=1).astype("float32")


# ---------------------------------------------------------------------------------------------- categories


def category_strings(series):
    """Categories as strings, with missing values (and pandas' missing-value words) as None."""
    present = series.notna()
    if pd.api.types.is_string_dtype(series) and not pd.api.types.is_object_dtype(series):
        # Already strings (pandas' str dtype): test and mask in that dtype, convert once at the end.
        return series.astype("object").where(present & ~series.isin(MISSING_TOKENS), None)
    text = series.astype("object").map(str, na_action="ignore")
    return text.where(present & ~text.isin(MISSING_TOKENS), None)


def model_text(series):
    """A text column as the exported model's string input takes it: missing → "", anything else str()."""
    return series.astype("object").where(series.notna(), "").map(str)


def count_categories(series, fill=None):
    """How often each category occurs (missing values counted as `fill` when given, else left out)."""
    text = category_strings(series)
    return (text.fillna(fill) if fill is not None else text).value_counts(dropna=True)


def most_frequent_first(counts, limit=None):
    """The `limit` most frequent values (all when None), ties broken by the value itself so the same data
    always gives the same vocabulary. Only values that can make the cut are sorted (a date-like text column
    can hold hundreds of thousands of distinct values)."""
    if limit is not None and limit < len(counts):
        numbers_ = counts.to_numpy()
        threshold = np.partition(numbers_, len(numbers_) - limit)[len(numbers_) - limit]  # the limit-th largest
        counts = counts[numbers_ >= threshold]
    table = pd.DataFrame({"value": counts.index.astype(str), "count": counts.to_numpy()})
    ordered = table.sort_values(["count", "value"], ascending=[False, True], kind="stable")["value"].tolist()
    return ordered if limit is None else ordered[:limit]


def vocabulary_limit(options):
    """How many of the most frequent values `fit_categorical` ranks (ordinal and hashing need only the most
    frequent value, the default fill)."""
    limits = {"embedding": options.get("max_categories") or EMBEDDING_MAX_CATEGORIES, "ordinal": 1, "hashing": 1}
    return limits.get(options["encoding"], options.get("max_categories"))


def fit_categorical(counts, options):
    """From the training rows' category counts (`count_categories` with the constant fill, if any): the kept
    categories and the fill value.

    `options`: "encoding" (one_hot over the "max_categories" most frequent values, ties by name, plus an
    "other" slot; ordinal in the user's "order"; embedding: every value seen at least twice, up to
    "max_categories" or 10,000, into a table of "embedding_dim" columns [0: from the count]; hashing into
    "num_bins" buckets [0: 64]) and "fill" (the constant fill value, or None for the most frequent value).
    """
    encoding, fill = options["encoding"], options.get("fill")
    ordered = most_frequent_first(counts, vocabulary_limit(options))
    most_frequent = ordered[0] if ordered else None
    fitted = {"encoding": encoding, "fill": fill, "embedding_dim": 0, "num_bins": 0}
    if encoding == "ordinal":  # the user's order; unknown values sit in the middle
        vocabulary = list(options["order"])
        if most_frequent not in vocabulary:
            known = counts[counts.index.isin(vocabulary)]
            most_frequent = next(iter(most_frequent_first(known, 1)), None)
    elif encoding == "embedding":
        limit = options.get("max_categories") or EMBEDDING_MAX_CATEGORIES
        vocabulary = [value for value in ordered[:limit] if counts[value] >= 2] or ordered[:1]
        fitted["embedding_dim"] = options.get("embedding_dim") or int(
            min(32, max(2, round(1.6 * (len(vocabulary) + 1) ** 0.56)))
        )
    elif encoding == "hashing":  # no vocabulary: any value, seen or not, lands in its bucket
        vocabulary = []
        fitted["num_bins"] = options.get("num_bins") or DEFAULT_NUM_BINS
    else:  # one_hot (also auto)
        vocabulary = ordered[: options["max_categories"]]
        fitted["encoding"] = "one_hot"
    fitted["vocabulary"] = vocabulary
    fitted["most_frequent"] = most_frequent
    return fitted


def fill_category(fitted):
    """The value a missing category becomes: the constant fill, else the most frequent training value."""
    return fitted["fill"] if fitted.get("fill") is not None else fitted.get("most_frequent")


def encoded_width(fitted):
    """How many matrix columns a fitted category column's encoding takes (without the missing flag)."""
    if fitted["encoding"] == "hashing":
        return fitted["num_bins"]
    return len(fitted["vocabulary"]) + 1 if fitted["encoding"] == "one_hot" else 1


def category_positions(series, fitted):
    """(positions, missing) of each value: its position in the vocabulary (-1 = other/unseen) or, for
    hashing, bucket - 1; a missing value takes the fill value's."""
    text = category_strings(series)
    missing = text.isna().to_numpy()
    fill = fill_category(fitted)
    if fill is not None:
        text = text.fillna(fill)
    values = text.to_numpy(dtype=object)
    if fitted["encoding"] == "hashing":
        return hash_buckets(values, fitted["num_bins"]) - 1, missing  # bucket b goes to slot b
    return pd.Index(list(fitted["vocabulary"]), dtype=object).get_indexer(pd.Index(values, dtype=object)), missing


def encode_positions(positions, missing, fitted, out=None):
    """Positions (`category_positions`) → (rows, width) float32. one_hot: slot 0 = other/unseen, slot i + 1 =
    vocabulary[i]; hashing: one-hot over the buckets; ordinal: position / (n - 1), unseen 0.5; embedding:
    the row of the learned table (0 = other), as an exact float. [+ the missing flag when
    fitted["indicator"]]. `out`, when given, is written in place."""
    width = encoded_width(fitted) + int(bool(fitted.get("indicator")))
    if out is None:
        out = np.zeros((len(positions), width), dtype="float32")
    else:
        out[:] = 0.0
    encoding = fitted["encoding"]
    if encoding in ("one_hot", "hashing"):
        out[np.arange(len(positions)), positions + 1] = 1.0
    elif encoding == "embedding":
        out[:, 0] = positions + 1
    else:
        span = max(len(fitted["vocabulary"]) - 1, 1)
        out[:, 0] = np.where(positions >= 0, positions / span, 0.5)
    if fitted.get("indicator"):
        out[:, -1] = missing.astype("float32")
    return out


def encode_categorical(series, fitted):
    """A category column → its encoded (rows, width) float32 block (`category_positions`, `encode_positions`)."""
    positions, missing = category_positions(series, fitted)
    return encode_positions(positions, missing, fitted)


def hash_buckets(values, num_bins):
    """Bucket (0..num_bins-1) of each category string, exactly as Keras' `Hashing(num_bins)` layer computes
    it in the exported model: FarmHash64 of the UTF-8 bytes modulo num_bins (Keras' own layer computes it).
    Each distinct value is hashed once; None gets bucket 0."""
    import keras  # heavy: only the hashing encoding needs it, in workers and in the generated script

    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    if len(uniques) == 0:
        return np.zeros(len(codes), dtype="int64")
    unique_buckets = keras.layers.Hashing(num_bins=num_bins)(np.asarray(uniques, dtype=object).astype(str))
    return np.concatenate([np.asarray(unique_buckets, dtype="int64").reshape(-1), [0]])[codes]


# ------------------------------------------------------------------------------------------------- classes


def class_name(value):
    """How a class is named: integer-valued floats (pandas' reading of an int column with a gap) keep their
    integer name, so labels 0/1 do not become "0.0"/"1.0"."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def natural_key(name):
    """Classes in order: numbers by value first, then text."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


# --------------------------------------------------------------------------------------------------- dates


def guessed_date_format(series, dayfirst=False):
    """The format of the column's first text value (pandas' guess), or None."""
    with warnings_ignored():
        first = series.first_valid_index()
        if first is None or not (pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)):
            return None
        text = str(series.loc[first])
        # Day first only decides d/m/y text: with dayfirst=True pandas guesses %Y-%d-%m for 2024-03-01.
        return pd.tseries.api.guess_datetime_format(text, dayfirst=dayfirst and not re.match(YEAR_FIRST, text))


def parse_mixed(series, dayfirst=False):
    """Each value on its own (format="mixed"). Values that start with a 4-digit year (ISO 8601) are never
    read day first: pandas would read 2024-03-06T08:00 as 3 June when dayfirst=True."""
    parsed = pd.to_datetime(series, errors="coerce", format="mixed", dayfirst=dayfirst, utc=True)
    if dayfirst:
        year_first = series.astype("object").map(lambda v: bool(re.match(YEAR_FIRST, str(v))), na_action="ignore")
        year_first = year_first.fillna(False).to_numpy(dtype=bool)
        if year_first.any():
            parsed[year_first] = pd.to_datetime(series[year_first], errors="coerce", format="mixed", utc=True)
    return parsed


def parse_dates_as(series, guessed, dayfirst=False):
    """Text → UTC timestamps in the format `guessed` (None: each value on its own); values in another format
    are parsed one by one with the same day/month order."""
    with warnings_ignored():  # "could not infer format" and dayfirst hints: handled here
        if guessed is None:
            return parse_mixed(series, dayfirst)
        parsed = pd.to_datetime(series, errors="coerce", format=guessed, utc=True)
        rest = parsed.isna().to_numpy() & series.notna().to_numpy()
        if rest.any():
            parsed[rest] = parse_mixed(series[rest], dayfirst)
        return parsed


def parse_dates(series, dayfirst=False):
    """Text → zone-aware UTC timestamps (NaT when unreadable). The format is guessed once from the first
    value and applied to every row (fast, and one reading of day and month for the whole column)."""
    return parse_dates_as(series, guessed_date_format(series, dayfirst), dayfirst)


def timestamp_seconds(values):
    """Timestamps → seconds since 1970-01-01 (UTC for zone-aware values) as float64; NaT → NaN."""
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    seconds = (values - pd.Timestamp("1970-01-01")).dt.total_seconds()
    return np.array(seconds.to_numpy(dtype="float64", na_value=np.nan))


def datetime_seconds(series, dayfirst=False):
    """Seconds since 1970-01-01 (UTC for zone-aware values) as float64; unreadable dates become NaN.

    Text is parsed `DATE_BLOCK_ROWS` rows at a time with the format guessed from the whole column's first
    value (the same result as one call, without a Python string per row of a million-row column at once)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return timestamp_seconds(series)
    guessed = guessed_date_format(series, dayfirst)
    if len(series) <= DATE_BLOCK_ROWS:
        return timestamp_seconds(parse_dates_as(series, guessed, dayfirst))
    seconds = np.empty(len(series), dtype="float64")
    for start in range(0, len(series), DATE_BLOCK_ROWS):
        block = series.iloc[start : start + DATE_BLOCK_ROWS]
        seconds[start : start + len(block)] = timestamp_seconds(parse_dates_as(block, guessed, dayfirst))
    return seconds


def datetime_parts(seconds):
    """(rows, 5) float64: year, month, day, weekday (Monday = 0), hour — the arithmetic the exported model
    repeats."""
    days = np.floor(seconds / 86400.0)
    hour = np.floor((seconds - days * 86400.0) / 3600.0)
    weekday = np.mod(days + 3.0, 7.0)  # 1970-01-01 was a Thursday (Monday = 0)
    # Howard Hinnant's civil_from_days, in floats so the Keras graph can do the same.
    z = days + 719468.0
    era = np.floor(z / 146097.0)
    doe = z - era * 146097.0
    yoe = np.floor((doe - np.floor(doe / 1460.0) + np.floor(doe / 36524.0) - np.floor(doe / 146096.0)) / 365.0)
    doy = doe - (365.0 * yoe + np.floor(yoe / 4.0) - np.floor(yoe / 100.0))
    mp = np.floor((5.0 * doy + 2.0) / 153.0)
    day = doy - np.floor((153.0 * mp + 2.0) / 5.0) + 1.0
    month = np.where(mp < 10.0, mp + 3.0, mp - 9.0)
    year = yoe + era * 400.0 + (month <= 2.0)
    return np.stack([year, month, day, weekday, hour], axis=1)


def fit_dates(seconds):
    """From the training rows' `datetime_seconds` (with a finite value): the median date (the fill) and the
    mean and standard deviation of each part, in blocks of rows (`datetime_parts` makes a dozen float64
    arrays of its input's size). `seconds` is filled in place."""
    fill = float(np.median(seconds[np.isfinite(seconds)]))
    seconds[np.isnan(seconds)] = fill
    blocks = [slice(start, start + DATE_BLOCK_ROWS) for start in range(0, len(seconds), DATE_BLOCK_ROWS)]
    means = sum(datetime_parts(seconds[block]).sum(axis=0) for block in blocks) / len(seconds)
    squares = sum(((datetime_parts(seconds[block]) - means) ** 2).sum(axis=0) for block in blocks)
    stds = np.sqrt(squares / len(seconds))
    return {
        "fill_seconds": fill,
        "centers": [float(v) for v in means],
        "scales": [float(v) if v > 1e-12 else 1.0 for v in stds],
    }


def encode_dates(seconds, fitted, out=None):
    """Seconds → (rows, 5 [+ 1]) float32: missing → fill_seconds, `datetime_parts`, each part standardised
    [+ the missing flag when fitted["indicator"]]. `out`, when given, is written in place."""
    missing = np.isnan(seconds)
    if out is None:
        out = np.empty((len(seconds), len(DATETIME_PARTS) + int(bool(fitted.get("indicator")))), dtype="float32")
    filled = np.where(missing, fitted["fill_seconds"], seconds)
    parts = datetime_parts(filled)
    out[:, : len(DATETIME_PARTS)] = (parts - np.array(fitted["centers"])) / np.array(fitted["scales"])
    if fitted.get("indicator"):
        out[:, -1] = missing
    return out


def is_missing(series, kind, dayfirst=False):
    """Missing as a column's preprocessing sees it (rows with one are dropped for missing = "drop_rows")."""
    if kind == "numeric":
        return np.isnan(numbers(series))
    if kind == "datetime":
        return np.isnan(datetime_seconds(series, dayfirst))
    return category_strings(series).isna().to_numpy()


# ------------------------------------------------------------------------------------------- shipping this

SHIPPED_IMPORTS = (
    "import contextlib",
    "import re",
    "import threading",
    "import warnings",
    "import numpy as np",
    "import pandas as pd",
)


def shipped_source():
    """This module's code without its docstring, imports and this function: what code that leaves LayerLab
    carries verbatim, after its own imports of contextlib, re, threading, warnings, numpy as np and pandas as
    pd (`SHIPPED_IMPORTS`)."""
    lines = inspect.getsource(sys.modules[__name__]).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# pandas' default missing-value words"))
    end = next(i for i, line in enumerate(lines) if line.startswith("# ---") and "shipping this" in line)
    return "\n".join(lines[start:end]).rstrip("\n") + "\n"
