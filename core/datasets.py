"""From a loaded table and a `DataSpec` to checked, split, encoded arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from core.errors import DataError
from core.preprocessing import PreprocessingState, fit_preprocessing, numeric_values, transform
from core.profiling import infer_task
from core.spec import DataSpec, PreprocessingSpec, Task

MAX_CLASSES = 100
MIN_ROWS = 20


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """How the target is encoded for training and decoded for the user."""

    name: str
    task: Task
    classes: tuple[str, ...] = ()  # classification: index → class name as shown to the user
    mean: float = 0.0  # regression: the network predicts (y - mean) / std
    std: float = 1.0

    def encode(self, series: pd.Series) -> np.ndarray:
        if self.task == "regression":
            return ((numeric_values(series) - self.mean) / self.std).astype("float32")
        index = {name: i for i, name in enumerate(self.classes)}
        return series.map(lambda value: index[class_name(value)]).to_numpy(dtype="int32")

    def to_dict(self) -> dict:
        return {"name": self.name, "task": self.task, "classes": list(self.classes), "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, data: dict) -> TargetInfo:
        return cls(
            name=data["name"], task=data["task"], classes=tuple(data["classes"]), mean=data["mean"], std=data["std"]
        )


@dataclass(frozen=True, slots=True)
class PreparedData:
    features: tuple[str, ...]
    target: TargetInfo
    preprocessing: PreprocessingState
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    x_train: np.ndarray
    y_train: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    notes: tuple[str, ...]


def resolve_features(frame: pd.DataFrame, spec: DataSpec) -> list[str]:
    if spec.target not in frame.columns:
        raise DataError(
            f"The target column {spec.target!r} is not in the table. "
            f"Expected one of: {', '.join(map(repr, list(frame.columns)[:10]))}. Pick the target again on the Data page.",
            field="data.target",
        )
    if spec.features:
        unknown = [name for name in spec.features if name not in frame.columns]
        if unknown:
            raise DataError(
                f"The feature column(s) {', '.join(map(repr, unknown))} are not in the table. "
                "Select features from the table's columns on the Data page.",
                field="data.features",
            )
        return list(spec.features)
    return [str(name) for name in frame.columns if name != spec.target]


def resolve_task(frame: pd.DataFrame, spec: DataSpec) -> Task:
    target = frame[spec.target]
    inferred = infer_task(target)
    task = spec.task or inferred
    if task == "regression" and not pd.api.types.is_numeric_dtype(target):
        raise DataError(
            f"The target {spec.target!r} holds text, so it cannot be a regression target. "
            "Expected numbers. Choose the task 'binary' or 'multiclass', or pick a numeric target.",
            field="data.task",
        )
    if task == "binary" and target.dropna().nunique() != 2:
        raise DataError(
            f"The task is 'binary' but the target {spec.target!r} has {target.dropna().nunique()} different values. "
            "Expected exactly two. Choose 'multiclass' (or 'regression' for numbers).",
            field="data.task",
        )
    return task


def prepare_data(frame: pd.DataFrame, data_spec: DataSpec, preprocessing_spec: PreprocessingSpec) -> PreparedData:
    """Check the table against the spec, split it, fit preprocessing on the training rows, encode.

    Raises:
        DataError: with every problem the user must fix before training.
    """
    notes: list[str] = []
    features = resolve_features(frame, data_spec)
    frame = frame[[*features, data_spec.target]]
    has_target = frame[data_spec.target].notna()
    if pd.api.types.is_numeric_dtype(frame[data_spec.target]):
        has_target &= np.isfinite(numeric_values(frame[data_spec.target]))
    if not has_target.all():
        notes.append(f"{int((~has_target).sum()):,} rows without a target value were left out.")
        frame = frame[has_target]
    empty = [name for name in features if frame[name].notna().sum() == 0]
    if empty:
        notes.append(f"Columns with no values were left out: {', '.join(empty)}.")
        features = [name for name in features if name not in empty]
    if not features:
        raise DataError(
            "No input columns are left to learn from. Expected at least one feature column with values. "
            "Select feature columns on the Data page.",
            field="data.features",
        )
    if len(frame) < MIN_ROWS:
        raise DataError(
            f"The table has {len(frame)} usable rows; LayerLab needs at least {MIN_ROWS} to split them into "
            "training, validation and test rows. Upload more rows.",
            field="data",
        )
    task = resolve_task(frame, data_spec)
    target_series = frame[data_spec.target]
    stratify = None
    if task == "regression":
        values = numeric_values(target_series)
        target = TargetInfo(name=data_spec.target, task=task)
    else:
        labels = target_series.map(class_name)
        counts = labels.value_counts()
        if len(counts) > MAX_CLASSES:
            raise DataError(
                f"The target {data_spec.target!r} has {len(counts):,} different values; classification supports "
                f"up to {MAX_CLASSES} classes. If it is a number to predict, choose the task 'regression'; "
                "otherwise pick another target or group rare values.",
                field="data.target",
            )
        if counts.min() >= 3:
            stratify = labels
        else:
            rare = ", ".join(repr(name) for name in counts[counts < 3].index[:5])
            notes.append(f"Some classes have fewer than 3 rows ({rare}), so the split is not stratified.")
        classes = sorted(counts.index, key=_natural_key)
        target = TargetInfo(name=data_spec.target, task=task, classes=tuple(classes))
    if stratify is not None and not _can_stratify(len(frame), stratify.nunique(), data_spec):
        notes.append(
            f"There are too many classes ({stratify.nunique()}) for the validation and test rows to hold one of "
            "each, so the split is not stratified. Use more rows or larger validation/test fractions."
        )
        stratify = None
    train, validation, test = _split(frame, data_spec, stratify)
    if task == "regression":
        values = numeric_values(train[data_spec.target])
        std = float(values.std())
        target = TargetInfo(name=data_spec.target, task=task, mean=float(values.mean()), std=std if std > 0 else 1.0)
    state = fit_preprocessing(train, features, max_categories=preprocessing_spec.max_categories)
    return PreparedData(
        features=tuple(features),
        target=target,
        preprocessing=state,
        train=train,
        validation=validation,
        test=test,
        x_train=transform(state, train),
        y_train=target.encode(train[data_spec.target]),
        x_validation=transform(state, validation),
        y_validation=target.encode(validation[data_spec.target]),
        x_test=transform(state, test),
        y_test=target.encode(test[data_spec.target]),
        notes=tuple(notes),
    )


def class_name(value) -> str:
    """How a class is named to the user: integer-valued floats (pandas' reading of an int column with a gap)
    keep their integer name, so labels 0/1 do not become "0.0"/"1.0"."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _can_stratify(num_rows: int, num_classes: int, spec: DataSpec) -> bool:
    """scikit-learn needs at least one row per class on each side of each stratified cut."""
    smallest_part = min(spec.test_fraction, spec.validation_fraction, 1 - spec.test_fraction - spec.validation_fraction)
    return int(num_rows * smallest_part) >= num_classes


def _split(frame: pd.DataFrame, spec: DataSpec, stratify: pd.Series | None):
    holdout = spec.test_fraction + spec.validation_fraction
    train, rest = train_test_split(frame, test_size=holdout, random_state=spec.seed, stratify=stratify)
    validation, test = train_test_split(
        rest,
        test_size=spec.test_fraction / holdout,
        random_state=spec.seed,
        stratify=None if stratify is None else stratify.loc[rest.index],
    )
    return train, validation, test


def _natural_key(name: str) -> tuple:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)
