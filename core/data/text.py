"""Free-text columns: telling text from categories, a profile, a TF-IDF baseline, and Keras's TextVectorization.

A column is *text* when it is made of strings that are mostly distinct and long (sentences, reviews), not labels
("yes", "north") or codes. Its settings are `TextSettings`, named after `keras.layers.TextVectorization`'s
arguments; `default_text_settings` picks them from the data (character splitting for Chinese, Japanese and Korean,
where words are not separated by spaces), and `text_vectorizer` builds the layer, adapted on the training texts
only. Everything here but `text_vectorizer` is plain Python, numpy, pandas and scikit-learn: the web server
profiles text without importing Keras.

Tokens are counted the way TextVectorization makes them (`_tokens`): ASCII lower-casing, its punctuation pattern,
whitespace or character splitting, n-grams joined by a space.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from core.errors import DataError
from core.i18n import t

SPLITS = ("whitespace", "character")
STANDARDIZES = ("lower_and_strip_punctuation", "lower")
OUTPUT_MODES = ("int", "tf_idf", "multi_hot")

# is_text_column: free text is mostly distinct …
DISTINCT_SHARE = 0.5
DISTINCT_COUNT = 200
# … and long: a median of this many characters (with at least MIN_WORDS_LONG words on average, so identifiers,
# URLs and hashes are not text), or this many words on average, or CJK text with this median length.
MEDIAN_CHARACTERS = 20
MIN_WORDS_LONG = 2.0
MEAN_WORDS = 3.0
CJK_MEDIAN_CHARACTERS = 8
# Text is written in letters: numbers, dates and amounts stored as strings are not.
LETTER_SHARE = 0.5
# CJK share from which text is split into characters.
CJK_SPLIT_SHARE = 0.3

# Vocabulary caps and sequence lengths of the default settings.
MAX_TOKENS_BAG = 20_000
MAX_TOKENS_SEQUENCE = 20_000
MIN_TOKENS = 3  # TextVectorization's padding and OOV tokens, and one more
SEQUENCE_LENGTH_QUANTILE = 0.95
SEQUENCE_LENGTH_BOUNDS = (16, 400)

# Rows read to count tokens (settings, profile): a seeded sample on bigger tables.
TOKEN_SAMPLE_ROWS = 20_000
SAMPLE_SEED = 0
HISTOGRAM_BINS = 20
QUANTILES = ("min", "25%", "50%", "75%", "95%", "max")
TELLING_WORDS = 10
TELLING_MAX_CLASSES = 20
TELLING_MIN_COUNT = 3  # a token seen fewer times in the column says nothing about a class

# Keras's TextVectorization: its punctuation pattern (standardize="lower_and_strip_punctuation") and tf.strings.lower,
# which lowers ASCII letters only.
_STRIP_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# CJK ideographs (with extensions and compatibility forms), kana, hangul.
_CJK = re.compile(
    "[\u1100-\u11ff\u3040-\u309f\u30a0-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]"
)
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class TextSettings:
    """How a text column becomes numbers: `keras.layers.TextVectorization`'s arguments, under its names.

    max_tokens: vocabulary size, the padding and OOV tokens included.
    output_sequence_length: tokens per text for sequence models (output_mode "int"); None for bags of n-grams.
    ngrams: 1, 2 or 3 (token 1- to n-grams); None means 1.
    split: "whitespace" (words) or "character".
    standardize: "lower_and_strip_punctuation" or "lower".
    output_mode: "int" (a sequence of token indices) or "tf_idf" / "multi_hot" (a bag of n-grams)."""

    max_tokens: int
    output_sequence_length: int | None
    ngrams: int | None
    split: str
    standardize: str
    output_mode: str

    def __post_init__(self) -> None:
        if self.split not in SPLITS or self.standardize not in STANDARDIZES or self.output_mode not in OUTPUT_MODES:
            raise ValueError(f"unknown text setting in {self!r}")
        if self.ngrams not in (None, 1, 2, 3) or self.max_tokens < MIN_TOKENS:
            raise ValueError(f"ngrams or max_tokens out of range in {self!r}")
        if (self.output_sequence_length is None) == (self.output_mode == "int"):
            raise ValueError(f"output_sequence_length goes with output_mode 'int' only: {self!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TextSettings:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TextProfile:
    """What a text column holds. Lengths are in characters; tokens are counted under the default settings."""

    column: str
    rows: int
    missing: int
    length_quantiles: dict  # "min", "25%", "50%", "75%", "95%", "max" → characters
    length_histogram: list  # (bin_start, bin_end, count), about HISTOGRAM_BINS bins
    vocabulary_size: int  # distinct tokens (words, or characters for CJK text) under the default settings
    cjk_share: float
    telling_words: dict  # class → [(token, score)], the tokens most over-represented in that class, best first

    def to_dict(self) -> dict:
        return {
            "column": self.column,
            "rows": self.rows,
            "missing": self.missing,
            "length_quantiles": dict(self.length_quantiles),
            "length_histogram": [list(row) for row in self.length_histogram],
            "vocabulary_size": self.vocabulary_size,
            "cjk_share": self.cjk_share,
            "telling_words": {key: [list(pair) for pair in pairs] for key, pairs in self.telling_words.items()},
        }


# --- detection --------------------------------------------------------------------------------------------------


def _is_string_column(series: pd.Series) -> bool:
    dtype = series.dtype
    return pd.api.types.is_object_dtype(dtype) or (
        pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
    )


def _sample(values: pd.Series, size: int, seed: int = SAMPLE_SEED) -> pd.Series:
    return values if len(values) <= size else values.sample(size, random_state=seed)


def _strings(series: pd.Series) -> pd.Series:
    """The non-missing values that are strings (an object column may hold other things too)."""
    values = series.dropna()
    if pd.api.types.is_object_dtype(values.dtype):
        values = values[values.map(lambda value: isinstance(value, str))]
    return values.astype(str)


def cjk_share(series: pd.Series, sample: int = 2000) -> float:
    """The share of (non-space) characters that are CJK ideographs, kana or hangul, over a seeded sample of the
    column's non-missing values; 0.0 for a column with no text."""
    values = _strings(series)
    if values.empty:
        return 0.0
    joined = _WHITESPACE.sub("", "".join(_sample(values, sample).tolist()))
    return len(_CJK.findall(joined)) / len(joined) if joined else 0.0


def is_text_column(series: pd.Series) -> bool:
    """Free text rather than a category: strings, mostly distinct (a distinct share >= 0.5 of the non-missing
    values, or more than 200 distinct values), written in letters (numbers and dates stored as strings are not
    text) and long: a median of >= 20 characters with >= 2 words on average (codes, URLs and hashes have no spaces),
    or >= 3 words on average, or CJK text with a median of >= 8 characters."""
    if not _is_string_column(series):
        return False
    present = series.dropna()
    values = _strings(series)
    if values.empty or len(values) < 0.9 * len(present):
        return False
    distinct = values.nunique()
    if distinct / len(values) < DISTINCT_SHARE and distinct <= DISTINCT_COUNT:
        return False
    sample = _sample(values, TOKEN_SAMPLE_ROWS)
    stripped = sample.str.replace(_WHITESPACE.pattern, "", regex=True)
    letters = stripped.str.count(r"[^\W\d_]") / stripped.str.len().clip(lower=1)
    if letters.median() < LETTER_SHARE:
        return False
    median_length = float(sample.str.len().median())
    mean_words = float(sample.str.split().str.len().mean())
    if mean_words >= MEAN_WORDS or (median_length >= MEDIAN_CHARACTERS and mean_words >= MIN_WORDS_LONG):
        return True
    return median_length >= CJK_MEDIAN_CHARACTERS and cjk_share(sample) >= CJK_SPLIT_SHARE


# --- tokens as TextVectorization makes them ---------------------------------------------------------------------


def _tokens(text: str, split: str, standardize: str, ngrams: int | None = None) -> list[str]:
    """One text's tokens as `keras.layers.TextVectorization` makes them: 1- to n-grams joined by a space."""
    text = text.translate(_ASCII_LOWER)
    if standardize == "lower_and_strip_punctuation":
        text = _STRIP_PUNCTUATION.sub("", text)
    units = text.split() if split == "whitespace" else list(text)
    tokens = list(units)
    for width in range(2, (ngrams or 1) + 1):
        tokens += [" ".join(units[i : i + width]) for i in range(len(units) - width + 1)]
    return tokens


def _texts(values: Iterable) -> list[str]:
    """Texts as Python strings: missing values become empty texts."""
    return ["" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value) for value in values]


def default_text_settings(series: pd.Series, *, sequence: bool) -> TextSettings:
    """Settings that suit the column: CJK text (a CJK share >= 0.3) is split into characters and only lower-cased
    (the punctuation pattern knows ASCII punctuation only); other text is split at whitespace with punctuation
    stripped. A bag of n-grams (`sequence=False`) uses 1–2-grams (of characters for CJK text, of words otherwise)
    weighted by TF-IDF; a sequence model (`sequence=True`) gets single tokens as indices ("int"), as many per text
    as 95% of the texts have (clamped to 16–400). max_tokens is the vocabulary seen (on a seeded sample of
    20,000 texts for bigger columns), capped at 20,000."""
    values = _sample(_strings(series), TOKEN_SAMPLE_ROWS)
    cjk = cjk_share(values) >= CJK_SPLIT_SHARE
    split = "character" if cjk else "whitespace"
    standardize = "lower" if cjk else "lower_and_strip_punctuation"
    ngrams = None if sequence else 2
    vocabulary: set[str] = set()
    counts = []
    for text in values.tolist():
        tokens = _tokens(text, split, standardize, ngrams)
        vocabulary.update(tokens)
        counts.append(len(tokens))
    cap = MAX_TOKENS_SEQUENCE if sequence else MAX_TOKENS_BAG
    max_tokens = max(MIN_TOKENS, min(cap, len(vocabulary) + 2))
    length = None
    if sequence:
        low, high = SEQUENCE_LENGTH_BOUNDS
        seen = float(np.quantile(counts, SEQUENCE_LENGTH_QUANTILE)) if counts else low
        length = int(min(high, max(low, math.ceil(seen))))
    return TextSettings(
        max_tokens=max_tokens,
        output_sequence_length=length,
        ngrams=ngrams,
        split=split,
        standardize=standardize,
        output_mode="int" if sequence else "tf_idf",
    )


def text_vectorizer(settings: TextSettings, train_texts: Sequence | np.ndarray):
    """A `keras.layers.TextVectorization` with `settings`, adapted on the training texts only (missing values are
    empty texts). It runs on TensorFlow's string ops: TensorFlow must be installed, and a model holding it trains,
    saves and predicts under the TensorFlow backend (other backends can only use it outside the model, in a
    tf.data pipeline). This function is the only TensorFlow-dependent code of this module. Raises DataError
    when TensorFlow is missing."""
    try:
        import keras  # Keras loads only in workers and helpers, never in the web server

        arguments = {
            "max_tokens": settings.max_tokens,
            "standardize": settings.standardize,
            "split": settings.split,
            "ngrams": settings.ngrams,
            "output_mode": settings.output_mode,
            "output_sequence_length": settings.output_sequence_length,
        }
        layer = keras.layers.TextVectorization(**arguments)
    except ImportError:
        raise DataError(t("data.text.needs_tensorflow")) from None
    texts = np.asarray(_texts(np.asarray(train_texts, dtype=object).ravel()), dtype=object)
    layer.adapt(texts)
    vocabulary = layer.get_vocabulary(include_special_tokens=False)
    # Punctuation stripped between two spaces leaves an empty token ("a - b" → "a", "", "b"). Adapted, "" (the
    # mask token) and n-grams around it ("a ", " b") enter the vocabulary, and Keras then refuses to load the
    # saved model ("reserved mask token at unexpected location"). Rebuild the layer without them.
    clean = [token for token in vocabulary if token and token == token.strip() and "  " not in token]
    if len(clean) == len(vocabulary):
        return layer
    if settings.output_mode != "tf_idf":
        return keras.layers.TextVectorization(**arguments, vocabulary=clean)
    # The same inverse document frequencies Keras computes when adapting, over the kept vocabulary.
    counter = keras.layers.TextVectorization(**{**arguments, "output_mode": "multi_hot"}, vocabulary=clean)
    documents = np.zeros(len(clean) + 1)
    for start in range(0, len(texts), 4096):
        documents += np.asarray(counter(texts[start : start + 4096])).sum(axis=0)
    idf_weights = np.log(1 + len(texts) / (1 + documents[1:]))
    return keras.layers.TextVectorization(**arguments, vocabulary=clean, idf_weights=idf_weights)


# --- profile ----------------------------------------------------------------------------------------------------


def _length_histogram(lengths: np.ndarray) -> list[tuple[float, float, int]]:
    if lengths.size == 0:
        return []
    low, high = float(lengths.min()), float(lengths.max())
    bins = max(1, min(HISTOGRAM_BINS, int(high - low) + 1))
    counts, edges = np.histogram(lengths, bins=bins, range=(low, high if high > low else low + 1))
    return [
        (round(float(a), 1), round(float(b), 1), int(c)) for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def _telling_tokens(text: str, cjk: bool) -> set[str]:
    """The tokens a text has, as the telling words count them: words, or for CJK text the character 1–2-grams
    made of letters only (joined without a space, as they are written)."""
    if not cjk:
        return set(_tokens(text, "whitespace", "lower_and_strip_punctuation"))
    characters = list(text.translate(_ASCII_LOWER))
    grams = {c for c in characters if c.isalnum()}
    grams.update(a + b for a, b in pairwise(characters) if a.isalnum() and b.isalnum())
    return grams


def _telling_words(texts: list[str], labels: list[str], cjk: bool) -> dict[str, list[tuple[str, float]]]:
    """Per class, the tokens most over-represented in its texts against the others': the z-score of the log-odds
    ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008), on document counts."""
    documents = [_telling_tokens(text, cjk) for text in texts]
    total: Counter[str] = Counter()
    by_class: dict[str, Counter[str]] = {}
    for label, tokens in zip(labels, documents, strict=True):
        total.update(tokens)
        by_class.setdefault(label, Counter()).update(tokens)
    vocabulary = [token for token, count in total.items() if count >= TELLING_MIN_COUNT]
    if not vocabulary:
        return {label: [] for label in sorted(by_class)}
    all_counts = np.array([total[token] for token in vocabulary], dtype=float)
    prior = all_counts / all_counts.sum() * len(texts)  # α_w: the column's own frequencies, as many as documents
    prior_total = prior.sum()
    result = {}
    for label in sorted(by_class):
        inside = np.array([by_class[label][token] for token in vocabulary], dtype=float)
        outside = all_counts - inside
        n_in, n_out = inside.sum(), outside.sum()
        delta = np.log((inside + prior) / (n_in + prior_total - inside - prior)) - np.log(
            (outside + prior) / (n_out + prior_total - outside - prior)
        )
        z = delta / np.sqrt(1.0 / (inside + prior) + 1.0 / (outside + prior))
        best = [i for i in np.argsort(-z, kind="stable")[:TELLING_WORDS] if z[i] > 0]
        result[label] = [(vocabulary[i], round(float(z[i]), 3)) for i in best]
    return result


def profile_text(series: pd.Series, target: pd.Series | None = None) -> TextProfile:
    """A text column's profile: its lengths in characters (quantiles, histogram), its vocabulary under the default
    settings, its CJK share, and — with a classification target of 2 to 20 classes — the tokens that tell each
    class apart (character 1–2-grams for CJK text). Tokens are counted on a seeded sample of 20,000 rows of a
    bigger column; lengths on every row. `target` is matched to `series` row by row (position, not index)."""
    if target is not None and len(target) != len(series):
        raise ValueError(f"target has {len(target)} rows, the text column {len(series)}")
    series = series.reset_index(drop=True)
    target = None if target is None else target.reset_index(drop=True)
    values = _strings(series)
    lengths = values.str.len().to_numpy(dtype=float)
    if lengths.size:
        points = np.quantile(lengths, [0.0, 0.25, 0.5, 0.75, 0.95, 1.0])
        quantiles = dict(zip(QUANTILES, (round(float(p), 1) for p in points), strict=True))
    else:
        quantiles = dict.fromkeys(QUANTILES, 0.0)
    sample = _sample(values, TOKEN_SAMPLE_ROWS)
    share = cjk_share(sample)
    cjk = share >= CJK_SPLIT_SHARE
    split, standardize = ("character", "lower") if cjk else ("whitespace", "lower_and_strip_punctuation")
    vocabulary: set[str] = set()
    for text in sample.tolist():
        vocabulary.update(_tokens(text, split, standardize))
    telling: dict[str, list[tuple[str, float]]] = {}
    if target is not None:
        labels = target.reindex(sample.index)
        known = labels.notna()
        classes = labels[known].nunique()
        if 2 <= classes <= TELLING_MAX_CLASSES:
            telling = _telling_words(sample[known].tolist(), labels[known].astype(str).tolist(), cjk)
    return TextProfile(
        column=str(series.name),
        rows=len(series),
        missing=int(len(series) - len(values)),
        length_quantiles=quantiles,
        length_histogram=_length_histogram(lengths),
        vocabulary_size=len(vocabulary),
        cjk_share=round(share, 4),
        telling_words=telling,
    )


# --- baseline ---------------------------------------------------------------------------------------------------


def tfidf_vectorizer(*, cjk: bool) -> TfidfVectorizer:
    """The baseline's TF-IDF (unfitted): sublinear term frequencies of the n-grams seen in at least 2 training
    texts: word 1–2-grams (scikit-learn's default tokens, lower-cased), or character 1–2-grams for CJK text."""
    if cjk:
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)


def tfidf_classifier(seed: int = 0) -> LogisticRegression:
    """The baseline's logistic regression (unfitted): C=4, multinomial for more than two classes. newton-cg
    reaches the same optimum as the default lbfgs, 10–50× faster on sparse TF-IDF matrices."""
    return LogisticRegression(max_iter=1000, C=4.0, solver="newton-cg", random_state=seed)


def tfidf_baseline(train_texts, y_train, test_texts, y_test, *, cjk: bool, seed: int = 0) -> dict:
    """The classic text baseline, fitted on the training texts and scored on the test texts: `tfidf_vectorizer`
    (word 1–2-grams, or character 1–2-grams for CJK text) and `tfidf_classifier` (a logistic regression).
    Classification only: raises DataError when the training labels have fewer than two classes or no n-gram is
    in two training texts.

    Returns {"accuracy", "majority_accuracy", "name_id", "detail_id", "features", "train_rows", "test_rows",
    "seconds"}; name_id and detail_id are message ids (the model's name, what it reads)."""
    started = time.perf_counter()
    y_train = np.asarray(y_train, dtype=object).ravel()
    y_test = np.asarray(y_test, dtype=object).ravel()
    classes, counts = np.unique(y_train.astype(str), return_counts=True)
    if len(classes) < 2:
        raise DataError(t("data.text.baseline_needs_classes", classes=len(classes)))
    vectorizer = tfidf_vectorizer(cjk=cjk)
    try:
        train_matrix = vectorizer.fit_transform(_texts(np.asarray(train_texts, dtype=object).ravel()))
    except ValueError:  # "empty vocabulary": no n-gram is in two training texts
        raise DataError(t("data.text.baseline_no_vocabulary", rows=len(y_train))) from None
    model = tfidf_classifier(seed)
    model.fit(train_matrix, y_train.astype(str))
    predicted = model.predict(vectorizer.transform(_texts(np.asarray(test_texts, dtype=object).ravel())))
    truth = y_test.astype(str)
    majority = classes[int(np.argmax(counts))]
    return {
        "accuracy": float(np.mean(predicted == truth)) if truth.size else float("nan"),
        "majority_accuracy": float(np.mean(truth == majority)) if truth.size else float("nan"),
        "name_id": "data.text.baseline_name",
        "detail_id": "data.text.baseline_characters" if cjk else "data.text.baseline_words",
        "features": int(train_matrix.shape[1]),
        "train_rows": int(train_matrix.shape[0]),
        "test_rows": int(truth.size),
        "seconds": round(time.perf_counter() - started, 3),
    }
