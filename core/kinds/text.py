"""The `text` kind: a table with a column of free text (reviews, snippets, tickets) and a class to predict.

Keras' `TextVectorization`, adapted on the training texts only, turns each text into numbers: TF-IDF weights
of word (or, for Chinese and Japanese, character) 1–2-grams for a bag-of-n-grams model, or token ids for a
model whose first layer is an Embedding. Training vectorizes one batch at a time; the downloadable model holds
the vectorizer, so it takes raw strings (`model({"review": [["great film"]]})`) and loads in safe mode.
TextVectorization runs on TensorFlow's string ops: this kind trains under the TensorFlow backend.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import make_pipeline

from core.data.preprocessing import PreprocessingState, encode_many, estimate_preprocessing, fit_preprocessing
from core.data.profiling import profile_frame
from core.data.splitting import TargetInfo, class_names, natural_key
from core.data.text import (
    TextSettings,
    cjk_share,
    default_text_settings,
    is_text_column,
    profile_text,
    text_vectorizer,
    tfidf_classifier,
    tfidf_vectorizer,
)
from core.deployment.serving_model import SERVING_MODEL_NAME, label_outputs, preprocessing_graph
from core.errors import DataError
from core.evaluation.metrics import compute_metrics
from core.i18n import Message, t
from core.kinds.base import ModelInput, batch_stream, scored_baseline, stratified_positions

PREDICT_BATCH = 512
MIN_ROWS_PER_CLASS = 2
CJK_SHARE = 0.3


@dataclass(frozen=True)
class TextPreprocessing:
    """The text column's vectorizer and, when the model also reads other columns (a bag of n-grams only), their
    fitted table preprocessing: the network then reads [encoded columns, text weights] side by side."""

    column: str
    settings: TextSettings
    vocabulary_size: int
    vectorizer: Any = None  # the adapted keras TextVectorization (worker only; not in the JSON record)
    table: PreprocessingState | None = None  # the other input columns, fitted on the training rows

    @property
    def columns(self) -> tuple:
        """The table columns (the model-size estimate counts their lookup tables)."""
        return self.table.columns if self.table is not None else ()

    def embeddings(self) -> tuple:
        # The encoded columns come first in the network's input, so their embedding slots keep their positions.
        return self.table.embeddings() if self.table is not None else ()

    @property
    def text_width(self) -> int:
        """Numbers per text the network reads: token ids, or one weight per vocabulary entry."""
        if self.settings.output_mode == "int":
            return int(self.settings.output_sequence_length or 0)
        return self.vocabulary_size

    @property
    def table_width(self) -> int:
        return self.table.num_features if self.table is not None else 0

    @property
    def width(self) -> int:
        return self.table_width + self.text_width

    def to_dict(self) -> dict:
        record = {
            "kind": "text",
            "column": self.column,
            "settings": self.settings.to_dict(),
            "vocabulary_size": self.vocabulary_size,
        }
        if self.table is not None:
            record["table"] = json.loads(self.table.to_json())
        return record

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class PreparedText:
    features: tuple[str, ...]
    target: TargetInfo
    preprocessing: TextPreprocessing
    texts: np.ndarray  # every usable row's text (object array), split by the index arrays
    frame: pd.DataFrame
    train_index: np.ndarray
    validation_index: np.ndarray
    test_index: np.ndarray
    y_train: np.ndarray
    y_validation: np.ndarray
    y_test: np.ndarray
    notes: tuple = ()
    cross_validation: Any = None
    group_column: str | None = None
    encoded: dict = field(default_factory=dict)  # split → EncodedRows of the other input columns (combined models)

    @property
    def num_features(self) -> int:
        return self.preprocessing.width

    def inputs(self, split: str, picked: np.ndarray) -> np.ndarray:
        """The network's input for rows `picked` (positions within `split`): the encoded columns, then the text."""
        text = self.vectorized(getattr(self, f"{split}_index")[picked])
        if split not in self.encoded:
            return text
        table = self.encoded[split].expand(np.asarray(picked))
        return np.concatenate([table, text.astype("float32")], axis=1)

    @property
    def train(self) -> pd.DataFrame:
        return self.frame.iloc[self.train_index]

    @property
    def validation(self) -> pd.DataFrame:
        return self.frame.iloc[self.validation_index]

    @property
    def test(self) -> pd.DataFrame:
        return self.frame.iloc[self.test_index]

    def vectorized(self, index: np.ndarray) -> np.ndarray:
        """The network's input for these rows (TensorFlow string ops, one batch at a time)."""
        output = self.preprocessing.vectorizer(self.texts[np.asarray(index)].reshape(-1, 1).astype(str))
        return np.asarray(output)


def text_column(frame: pd.DataFrame, data_spec, text_spec) -> str:
    """The column read as text: the one named in the spec, else the first input column detected as free text."""
    if text_spec.column is not None:
        if text_spec.column not in frame.columns:
            raise DataError(t("kinds.text.column_missing", column=repr(text_spec.column)))
        return text_spec.column
    candidates = [c for c in (data_spec.features or frame.columns) if c != data_spec.target and c in frame.columns]
    for name in candidates:
        if is_text_column(frame[name]):
            return str(name)
    raise DataError(t("kinds.text.no_text_column"))


def _settings(series: pd.Series, text_spec, model_spec) -> TextSettings:
    first = model_spec.layers[0] if model_spec is not None and model_spec.layers else None
    sequence = first is not None and first.kind == "embedding"
    chosen = default_text_settings(series, sequence=sequence)
    split = chosen.split if text_spec.split == "auto" else text_spec.split
    standardize = None if text_spec.standardize == "none" else text_spec.standardize
    max_tokens = min(text_spec.max_tokens, chosen.max_tokens) if text_spec.max_tokens == 20000 else text_spec.max_tokens
    if sequence:
        max_tokens = min(max_tokens, first.input_dim)  # token ids must stay inside the Embedding's table
    return TextSettings(
        max_tokens=max_tokens,
        output_sequence_length=(text_spec.output_sequence_length or chosen.output_sequence_length)
        if sequence
        else None,
        ngrams=text_spec.ngrams if text_spec.ngrams is not None else chosen.ngrams,
        split=split,
        standardize=standardize if standardize is not None else chosen.standardize,
        output_mode="int" if sequence else "tf_idf",
    )


def prepare_text(frame: pd.DataFrame, data_spec, preprocessing_spec, model_spec=None) -> PreparedText:
    column = text_column(frame, data_spec, preprocessing_spec.text)
    if data_spec.target not in frame.columns:
        raise DataError(t("kinds.text.no_target", target=repr(data_spec.target)))
    if data_spec.task == "regression":
        raise DataError(t("kinds.text.no_regression"))
    if data_spec.cross_validation_folds:
        raise DataError(t("kinds.text.no_cross_validation"))
    notes: list = []
    others = [str(c) for c in (data_spec.features or frame.columns) if c not in (column, data_spec.target)]
    others = [c for c in others if preprocessing_spec.column(c).role != "ignore" and not is_text_column(frame[c])]
    if others and _sequence(model_spec):
        # Token ids and encoded columns cannot share one input; a bag of n-grams reads both.
        notes.append(Message("kinds.text.other_columns_ignored", {"count": len(others)}).to_dict())
        others = []
    target_values = frame[data_spec.target]
    usable = target_values.notna().to_numpy()
    if data_spec.drop_duplicates:
        usable &= ~frame.duplicated(subset=[column, data_spec.target]).to_numpy()
    frame = frame[usable].reset_index(drop=True)
    labels = class_names(frame[data_spec.target]).to_numpy(dtype=object)
    classes = tuple(sorted(set(labels), key=natural_key))
    if len(classes) < 2:
        raise DataError(t("kinds.text.one_class", classes=", ".join(classes) or "-"))
    counts = {name: int((labels == name).sum()) for name in classes}
    thin = [name for name, count in counts.items() if count < MIN_ROWS_PER_CLASS]
    if thin:
        raise DataError(t("kinds.text.too_few", classes=", ".join(thin), minimum=MIN_ROWS_PER_CLASS))
    task = "binary" if len(classes) == 2 else "multiclass"
    target = TargetInfo(name=data_spec.target, task=task, classes=classes)
    lookup = {name: position for position, name in enumerate(classes)}
    codes = np.array([lookup[value] for value in labels], dtype="int32")
    texts = frame[column].astype("string").fillna("").to_numpy(dtype=object)

    kept, held = stratified_positions(codes, data_spec.test_fraction, data_spec.seed)
    test_index = held
    validation_share = data_spec.validation_fraction / max(1.0 - data_spec.test_fraction, 1e-9)
    kept_rest, held_rest = stratified_positions(codes[kept], validation_share, data_spec.seed + 1)
    train_index, validation_index = kept[kept_rest], kept[held_rest]
    if len(validation_index) == 0 or len(test_index) == 0:
        raise DataError(t("kinds.text.too_small_to_split", count=len(frame)))

    settings = _settings(frame[column].iloc[train_index], preprocessing_spec.text, model_spec)
    vectorizer = text_vectorizer(settings, texts[train_index])
    vocabulary_size = int(vectorizer.vocabulary_size())
    table, encoded = None, {}
    if others:
        splits = {"train": train_index, "validation": validation_index, "test": test_index}
        table = fit_preprocessing(
            frame.iloc[train_index], others, max_categories=preprocessing_spec.max_categories, spec=preprocessing_spec
        )
        rows = encode_many(table, [frame.iloc[index] for index in splits.values()])
        encoded = dict(zip(splits, rows, strict=True))
        notes.append(Message("kinds.text.combined", {"count": len(others)}).to_dict())
    preprocessing = TextPreprocessing(column, settings, vocabulary_size, vectorizer, table)
    return PreparedText(
        features=(column,),
        target=target,
        preprocessing=preprocessing,
        texts=texts,
        frame=frame[[*others, column, data_spec.target]],
        train_index=train_index,
        validation_index=validation_index,
        test_index=test_index,
        y_train=codes[train_index],
        y_validation=codes[validation_index],
        y_test=codes[test_index],
        notes=tuple(notes),
        encoded=encoded,
    )


def _sequence(model_spec) -> bool:
    """True when the first layer is an Embedding: the network reads token ids."""
    return bool(model_spec is not None and model_spec.layers and model_spec.layers[0].kind == "embedding")


def text_batches(
    prepared: PreparedText, split: str, y: np.ndarray, batch_size: int, *, shuffle: bool, multiple_of: int = 1
):
    """(inputs, labels) batches of one split, vectorized a batch at a time (`batch_stream`): a TF-IDF matrix
    of every text at once would take vocabulary × rows × 4 bytes."""
    count = len(getattr(prepared, f"{split}_index"))
    return batch_stream(
        count, batch_size, lambda picked: (prepared.inputs(split, picked), y[picked]), shuffle=shuffle,
        multiple_of=multiple_of,
    )  # fmt: skip


def predict_texts(network, prepared: PreparedText, split: str) -> np.ndarray:
    count = len(getattr(prepared, f"{split}_index"))
    outputs = [
        np.asarray(
            network.predict_on_batch(prepared.inputs(split, np.arange(start, min(start + PREDICT_BATCH, count))))
        )
        for start in range(0, count, PREDICT_BATCH)
    ]
    return np.concatenate(outputs, axis=0) if outputs else np.zeros((0,))


def tfidf_baselines(prepared: PreparedText, seed: int) -> list[dict]:
    """Majority class, and TF-IDF + logistic regression on the same split (word 1–2-grams, or character
    1–2-grams for Chinese and Japanese text): the classic text model a network should match."""
    train = prepared.texts[prepared.train_index].astype(str)
    test = prepared.texts[prepared.test_index].astype(str)
    cjk = prepared.preprocessing.settings.split == "character"
    y_train, y_test, target = prepared.y_train, prepared.y_test, prepared.target
    no_columns = np.zeros((len(train), 1)), np.zeros((len(test), 1))
    tfidf = make_pipeline(tfidf_vectorizer(cjk=cjk), tfidf_classifier(seed))  # timed with its vectorizing
    return [
        scored_baseline("Majority class (dummy)", DummyClassifier(strategy="most_frequent"), no_columns[0], y_train,
                        no_columns[1], y_test, target, compute_metrics),
        scored_baseline("TF-IDF + logistic regression", tfidf, train, y_train, test, y_test, target, compute_metrics),
    ]  # fmt: skip


def build_text_serving_model(network, preprocessing: TextPreprocessing, target: TargetInfo, *, threshold: float):
    """Raw strings in (`{column: (rows, 1) strings}`), label and probabilities out; the vectorizer inside."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    name = preprocessing.column.replace("/", "_")
    raw = keras.Input(shape=(1,), dtype="string", name=name)
    vectorized = preprocessing.vectorizer(raw)
    if len(vectorized.shape) == 3:  # a bag of n-grams of a (rows, 1) input: (rows, 1, vocabulary) → (rows, vocabulary)
        vectorized = keras.layers.Reshape((vectorized.shape[-1],), name="text_weights")(vectorized)
    inputs = {preprocessing.column: raw}
    features = vectorized
    if preprocessing.table is not None:
        # The other columns, raw, through the same Keras preprocessing graph as a table model's.
        table_inputs, encoded = preprocessing_graph(preprocessing.table)
        inputs = {**table_inputs, preprocessing.column: raw}
        features = keras.layers.Concatenate(name="columns_and_text")([encoded, keras.ops.cast(vectorized, "float32")])
    output = network(features)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="When providing `inputs` as a dict")
        return keras.Model(inputs, label_outputs(output, target, threshold=threshold), name=SERVING_MODEL_NAME)


@dataclass(frozen=True)
class TextTableProfile:
    """A table profile plus, for each free-text column, its text profile."""

    table: Any
    texts: dict

    def __getattr__(self, name):
        return getattr(self.table, name)

    def to_dict(self) -> dict:
        return {**self.table.to_dict(), "kind": "text", "text_columns": self.texts}


class TextKind:
    """A table whose input is a column of free text."""

    name = "text"

    def load(self, store, run_id: str):
        return store.table(run_id)

    def profile(self, source, target: str | None):
        texts = {}
        target_series = source[target] if target is not None and target in source.columns else None
        for name in source.columns:
            if name != target and is_text_column(source[name]):
                texts[str(name)] = profile_text(source[name], target_series).to_dict()
        return TextTableProfile(profile_frame(source, target), texts)

    def prepare(self, source, data_spec, preprocessing_spec, model_spec=None):
        return prepare_text(source, data_spec, preprocessing_spec, model_spec)

    def prepare_fold(self, prepared, fold: int, preprocessing_spec):
        raise DataError(t("kinds.text.no_cross_validation"))

    def model_input(self, prepared) -> ModelInput:
        width = prepared.preprocessing.width
        if prepared.preprocessing.settings.output_mode == "int":
            return ModelInput(num_inputs=width, input_shape=(width,), input_kind="tokens")
        return ModelInput(num_inputs=width, embeddings=prepared.preprocessing.embeddings())

    def preview_input(self, source, spec, info: dict | None = None) -> ModelInput:
        column = text_column(source, spec.data, spec.preprocessing.text)
        settings = _settings(source[column], spec.preprocessing.text, spec.model)
        if settings.output_mode == "int":
            width = int(settings.output_sequence_length or 0)
            return ModelInput(num_inputs=width, input_shape=(width,), input_kind="tokens")
        others = [
            str(c)
            for c in (spec.data.features or source.columns)
            if c not in (column, spec.data.target)
            and spec.preprocessing.column(str(c)).role != "ignore"
            and not is_text_column(source[c])
        ]
        if not others:
            return ModelInput(num_inputs=settings.max_tokens)
        estimated = estimate_preprocessing(source, others, spec.preprocessing)
        return ModelInput(num_inputs=estimated.num_features + settings.max_tokens, embeddings=estimated.embeddings())

    def fit_arguments(self, prepared, batch_size: int, *, multiple_of: int = 1) -> dict[str, Any]:
        even = {"multiple_of": multiple_of}
        return {
            "x": text_batches(prepared, "train", prepared.y_train, batch_size, shuffle=True, **even),
            "validation_data": text_batches(
                prepared, "validation", prepared.y_validation, batch_size, shuffle=False, **even
            ),
            "shuffle": False,
        }

    def predict(self, network, prepared, split: str) -> np.ndarray:
        return predict_texts(network, prepared, split)

    def baselines(self, prepared, seed: int) -> list[dict]:
        return tfidf_baselines(prepared, seed)

    def held_out_rows(self, prepared):
        return prepared.frame.iloc[prepared.test_index]  # the text and the other input columns, as uploaded

    def preprocessing_record(self, prepared) -> str:
        return prepared.preprocessing.to_json()

    def serving_model(self, network, prepared_preprocessing, target, *, threshold: float = 0.5):
        return build_text_serving_model(network, prepared_preprocessing, target, threshold=threshold)


def looks_like_text(frame: pd.DataFrame, target: str | None) -> bool:
    """True when an input column of this table is free text (the CLI and the Data page then offer kind text)."""
    return any(is_text_column(frame[name]) for name in frame.columns if name != target)


__all__ = ["TextKind", "cjk_share", "looks_like_text"]
