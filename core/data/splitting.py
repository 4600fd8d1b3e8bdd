"""From a loaded table and a `DataSpec` to checked, split, encoded arrays.

Every split is seeded by `DataSpec.seed`:

* Without a group column, rows go to training / validation / test with `train_test_split`, stratified by
  class for classification when every class has enough rows.
* With a group column, `GroupShuffleSplit` puts every value of that column (a customer, a patient) entirely
  in one of training, validation or test. It counts groups, not rows, so the row shares are approximate, and
  it cannot also stratify by class (a note says so). A row with no group value is a group of its own: a
  missing value says nothing about which entity the row belongs to, and lumping all of them into one
  "missing" group could push a large block of unrelated rows to one side.
* Cross-validation (`cross_validation_folds = k >= 2`) cuts the non-test rows (training + validation, before
  `drop_rows`) into k folds: `GroupKFold` with a group column, else `StratifiedKFold` for classification when
  every class has at least k such rows, else `KFold`; all shuffled with the seed. The test rows never enter
  a fold. `prepare_fold` encodes one fold the way `prepare_data` encodes the main split.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, KFold, StratifiedKFold, train_test_split

from core.data.preprocessing import (
    EncodedRows,
    PreprocessingState,
    category_strings,
    encode_many,
    fit_preprocessing,
    is_numeric_column,
    numeric_values,
    resolve_dayfirst,
)
from core.data.profiling import infer_task
from core.data.quality import too_few_rows_message
from core.data.table_rules import class_name as class_name  # the one class-name rule, re-exported
from core.data.table_rules import is_missing, natural_key
from core.errors import DataError
from core.i18n import Message, t
from core.spec import ColumnSpec, DataSpec, PreprocessingSpec, Task

MAX_CLASSES = 100
MIN_ROWS = 20
MIN_TRAIN_ROWS = 10  # after a group split or dropping rows with missing values


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
        # Each distinct value is named once (class_name), then one vectorised lookup per row.
        codes, uniques = pd.factorize(series)
        lookup = pd.Index(self.classes).get_indexer(pd.Index([class_name(value) for value in uniques], dtype=object))
        return np.append(lookup, -1)[codes].astype("int32")  # a missing value (code -1) → -1

    def to_dict(self) -> dict:
        return {"name": self.name, "task": self.task, "classes": list(self.classes), "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, data: dict) -> TargetInfo:
        return cls(
            name=data["name"], task=data["task"], classes=tuple(data["classes"]), mean=data["mean"], std=data["std"]
        )


@dataclass(frozen=True, slots=True)
class CrossValidationPlan:
    """The k folds of the non-test rows. `folds[i]` = (positions of fold i's training rows, positions of
    its held-out rows) in `rows`. Held-out folds are disjoint and together cover `rows`."""

    rows: pd.DataFrame  # training + validation rows, before drop_rows (a fold drops them from its own training)
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    method: str  # "GroupKFold", "StratifiedKFold" or "KFold"

    @property
    def k(self) -> int:
        return len(self.folds)


class RowSelection:
    """Some rows of a table by position, taken one column at a time when asked: a split of a million-row
    table is not copied as a whole. Offers what preprocessing reads from a frame (`columns`, `len`,
    `selection[name]`); `to_frame()` makes the copy where one is really needed.

    `cache` holds what preprocessing computes once per column of the whole table (the dictionary codes of
    a text column); the selections of one table share it. `release()` empties it."""

    __slots__ = ("cache", "frame", "positions")

    def __init__(self, frame: pd.DataFrame, positions: np.ndarray, cache: dict | None = None):
        self.frame = frame
        self.positions = np.asarray(positions)
        self.cache = {} if cache is None else cache

    @property
    def columns(self) -> pd.Index:
        return self.frame.columns

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, name: str) -> pd.Series:
        return self.frame[name].iloc[self.positions]

    def subset(self, keep: np.ndarray) -> RowSelection:
        return RowSelection(self.frame, self.positions[keep], self.cache)

    def to_frame(self) -> pd.DataFrame:
        return self.frame.iloc[self.positions]

    def release(self) -> None:
        self.cache.clear()


@dataclass(frozen=True)
class PreparedData:
    """The encoded splits. `train`, `validation` and `test` are the raw rows of each split, copied from the
    table on first access only (`*_rows` hold their positions; `len(data.train_rows)` copies nothing).
    `encoded_*` are the encoded rows in compact form; `x_*` expand them to float32 matrices when read."""

    features: tuple[str, ...]
    target: TargetInfo
    preprocessing: PreprocessingState
    train_rows: RowSelection
    validation_rows: RowSelection
    test_rows: RowSelection
    encoded_train: EncodedRows
    y_train: np.ndarray
    encoded_validation: EncodedRows
    y_validation: np.ndarray
    encoded_test: EncodedRows
    y_test: np.ndarray
    notes: tuple[str, ...]
    cross_validation: CrossValidationPlan | None = None
    group_column: str | None = None

    @property
    def num_features(self) -> int:
        return self.encoded_train.width

    # The float32 matrices, expanded from the compact rows on first access. Training does not read these
    # for large tables: it expands a batch at a time (`core.data.feeding`).
    @functools.cached_property
    def x_train(self) -> np.ndarray:
        return self.encoded_train.expand()

    @functools.cached_property
    def x_validation(self) -> np.ndarray:
        return self.encoded_validation.expand()

    @functools.cached_property
    def x_test(self) -> np.ndarray:
        return self.x_validation if self.encoded_test is self.encoded_validation else self.encoded_test.expand()

    @functools.cached_property
    def train(self) -> pd.DataFrame:
        return self.train_rows.to_frame()

    @functools.cached_property
    def validation(self) -> pd.DataFrame:
        return self.validation_rows.to_frame()

    @functools.cached_property
    def test(self) -> pd.DataFrame:
        return self.validation if self.test_rows is self.validation_rows else self.test_rows.to_frame()


class Note(str):
    """A note about how the data was prepared. It is the sentence in the language it was made in (a str, so
    it reads and compares as text), and keeps `message`, its id and parameters: what a run file stores
    (`stored_note`), so a run made in one language reads in another (`note_text`)."""

    message: Message

    def __new__(cls, message_id: str, /, **params) -> Note:
        message = Message(message_id, params)
        note = super().__new__(cls, message.render())
        note.message = message
        return note

    def __reduce__(self):
        return (_note_from_dict, (self.message.to_dict(),))


def _note_from_dict(data: dict) -> Note:
    message = Message.from_dict(data)
    return Note(message.id, **message.params)


def stored_note(note: str) -> str | dict:
    """What a run file keeps of a note: a `Note`'s message as {"id", "params"}; any other text as it is."""
    return note.message.to_dict() if isinstance(note, Note) else note


def note_text(stored: object) -> str:
    """A stored note in the current language: a {"id", "params"} message rendered, a plain string (a run
    made before notes were messages) as it is."""
    if isinstance(stored, dict) and set(stored) == {"id", "params"}:
        return str(Message.from_dict(stored))
    return str(stored)


def _columns(names) -> str:
    return ", ".join(map(repr, names))


def resolve_features(
    frame: pd.DataFrame, spec: DataSpec, preprocessing_spec: PreprocessingSpec | None = None
) -> list[str]:
    """The input columns: the chosen ones (or every column but the target), less ignored columns and the
    group column, which only decides the split."""
    if spec.target not in frame.columns:
        raise DataError(
            t("data.split.target_not_found", column=repr(spec.target), columns=_columns(list(frame.columns)[:10])),
            field="data.target",
        )
    if spec.features:
        unknown = [name for name in spec.features if name not in frame.columns]
        if unknown:
            raise DataError(t("data.split.features_not_found", columns=_columns(unknown)), field="data.features")
        features = list(spec.features)
    else:
        features = [str(name) for name in frame.columns if name != spec.target]
    if preprocessing_spec is not None:
        features = [name for name in features if preprocessing_spec.column(name).role != "ignore"]
    return [name for name in features if name != spec.group_column]


def resolve_task(frame: pd.DataFrame, spec: DataSpec) -> Task:
    target = frame[spec.target]
    inferred = infer_task(target)
    task = spec.task or inferred
    if task == "regression" and not pd.api.types.is_numeric_dtype(target):
        raise DataError(t("data.split.target_not_numeric", column=repr(spec.target)), field="data.task")
    if task == "binary" and target.dropna().nunique() != 2:
        raise DataError(
            t("data.split.target_not_binary", column=repr(spec.target), count=int(target.dropna().nunique())),
            field="data.task",
        )
    return task


def prepare_data(frame: pd.DataFrame, data_spec: DataSpec, preprocessing_spec: PreprocessingSpec) -> PreparedData:
    """Check the table against the spec, split it, fit preprocessing on the training rows, encode.

    Raises:
        DataError: with every problem the user must fix before training.
    """
    notes: list[str] = []
    features = resolve_features(frame, data_spec, preprocessing_spec)
    group_column = data_spec.group_column
    if group_column is not None:
        if group_column not in frame.columns:
            raise DataError(
                t("data.split.group_not_found", column=repr(group_column), columns=_columns(list(frame.columns)[:10])),
                field="data.group_column",
            )
        if group_column in data_spec.features:
            notes.append(Note("data.split.note_group_not_input", column=repr(group_column)))
    frame = frame[[*features, data_spec.target, *([group_column] if group_column else [])]]
    loaded = frame
    has_target = frame[data_spec.target].notna()
    if pd.api.types.is_numeric_dtype(frame[data_spec.target]):
        has_target &= np.isfinite(numeric_values(frame[data_spec.target]))
    if not has_target.all():
        notes.append(Note("data.split.note_no_target", count=int((~has_target).sum())))
        frame = frame[has_target]
    empty = [name for name in features if frame[name].notna().sum() == 0]
    if empty:
        notes.append(Note("data.split.note_empty_columns", columns=", ".join(empty)))
        features = [name for name in features if name not in empty]
    if not features:
        raise DataError(t("data.split.no_features"), field="data.features")
    if data_spec.drop_duplicates:
        duplicated = _duplicated(frame[[*features, data_spec.target]])
        if duplicated.any():
            notes.append(Note("data.split.note_duplicates", count=int(duplicated.sum())))
            frame = frame[~duplicated.to_numpy()]
    if len(frame) < MIN_ROWS:
        message = too_few_rows_message(
            loaded, features, data_spec.target, drop_duplicates=data_spec.drop_duplicates
        ) or t("data.quality.too_few_rows", rows=len(frame), minimum=MIN_ROWS)
        raise DataError(message, field="data")
    task = resolve_task(frame, data_spec)
    labels: np.ndarray | None = None
    label_codes: np.ndarray | None = None
    if task == "regression":
        target = TargetInfo(name=data_spec.target, task=task)  # mean and std come from the training rows
    else:
        # Each row's class as a code (in order of first appearance), without a Python string per row.
        label_codes, class_list = _class_codes(frame[data_spec.target])
        if len(class_list) > MAX_CLASSES:
            raise DataError(
                t(
                    "data.split.too_many_classes",
                    column=repr(data_spec.target),
                    count=len(class_list),
                    limit=MAX_CLASSES,
                ),
                field="data.target",
            )
        labels = np.asarray(class_list, dtype=object)[label_codes]  # class names (shared strings)
        target = TargetInfo(name=data_spec.target, task=task, classes=tuple(sorted(class_list, key=natural_key)))

    groups: np.ndarray | None = None
    if group_column is None:
        stratify = _stratify_labels(label_codes, class_list if label_codes is not None else (), data_spec, notes)
        train_pos, validation_pos, test_pos = _split(len(frame), data_spec, stratify, notes)
    else:
        groups = _group_ids(frame[group_column])
        num_groups = len(np.unique(groups))
        if num_groups < 3:
            raise DataError(
                t("data.split.too_few_groups", column=repr(group_column), count=num_groups),
                field="data.group_column",
            )
        no_group = int(category_strings(frame[group_column]).isna().sum())
        if no_group:
            notes.append(Note("data.split.note_no_group", count=no_group, column=repr(group_column)))
        train_pos, validation_pos, test_pos = _group_split(groups, data_spec)
        if len(train_pos) < MIN_TRAIN_ROWS:
            raise DataError(
                t(
                    "data.split.group_few_training_rows",
                    column=repr(group_column),
                    rows=len(train_pos),
                    minimum=MIN_TRAIN_ROWS,
                ),
                field="data.group_column",
            )
        notes.append(
            Note(
                "data.split.note_group_split_classes" if labels is not None else "data.split.note_group_split",
                column=repr(group_column),
                groups=num_groups,
                train=len(train_pos),
                validation=len(validation_pos),
                test=len(test_pos),
            )
        )

    plan = None
    if data_spec.cross_validation_folds >= 2:
        non_test = np.concatenate([train_pos, validation_pos])
        plan = _plan_cross_validation(
            frame.iloc[non_test],
            groups=None if groups is None else groups[non_test],
            labels=None if labels is None else labels[non_test],
            data_spec=data_spec,
            features=features,
            preprocessing_spec=preprocessing_spec,
            notes=notes,
        )
    shared: dict = {}
    prepared = _encode(
        RowSelection(frame, train_pos, shared),
        RowSelection(frame, validation_pos, shared),
        RowSelection(frame, test_pos, shared),
        features=features,
        target=target,
        preprocessing_spec=preprocessing_spec,
        notes=notes,
    )
    return dataclasses.replace(prepared, cross_validation=plan, group_column=group_column)


def prepare_fold(prepared: PreparedData, fold: int, preprocessing_spec: PreprocessingSpec) -> PreparedData:
    """Fold `fold` (0-based) of `prepared.cross_validation`, encoded exactly like the main split.

    The fold's training rows lose their rows with a missing value in a `drop_rows` column; preprocessing (and a
    regression target's mean and std) is re-fitted on what is left. `validation` and `test` are both the
    held-out fold: it drives early stopping and is what the fold's model is scored on. The main test split
    is not used. The classes are those of the whole table, so every fold encodes labels the same way.
    """
    plan = prepared.cross_validation
    if plan is None:
        raise ValueError("prepare_fold needs data prepared with cross_validation_folds >= 2")
    train_pos, held_out_pos = plan.folds[fold]
    shared: dict = {}
    held_out = RowSelection(plan.rows, held_out_pos, shared)
    fold_data = _encode(
        RowSelection(plan.rows, train_pos, shared),
        held_out,
        held_out,
        features=list(prepared.features),
        target=prepared.target,
        preprocessing_spec=preprocessing_spec,
        notes=[],
    )
    return dataclasses.replace(fold_data, group_column=prepared.group_column)


def class_names(series: pd.Series) -> pd.Series:
    """`class_name` of every value, computed once per distinct value (a dict lookup per row)."""
    names = {value: class_name(value) for value in series.dropna().unique()}
    return series.map(names)


def drop_rows_columns(features: list[str] | tuple[str, ...], preprocessing_spec: PreprocessingSpec) -> list[str]:
    """Features whose rows with a missing value are left out of training (`missing == "drop_rows"`)."""
    return [name for name in features if preprocessing_spec.column(name).missing == "drop_rows"]


def _encode(
    train: RowSelection,
    validation: RowSelection,
    test: RowSelection,
    *,
    features: list[str],
    target: TargetInfo,
    preprocessing_spec: PreprocessingSpec,
    notes: list[str],
) -> PreparedData:
    """Drop training rows for drop_rows columns, fit target scaling and preprocessing on the training rows,
    encode all three parts. `test` may be `validation` itself (a cross-validation fold): encoded once."""
    dropped = _drop_rows_mask(train, features, preprocessing_spec)
    if dropped.any():
        columns = ", ".join(map(repr, drop_rows_columns(features, preprocessing_spec)))
        train = train.subset(~dropped)
        if len(train) < MIN_TRAIN_ROWS:
            raise DataError(
                t("data.split.drop_rows_too_few", columns=columns, rows=len(train), minimum=MIN_TRAIN_ROWS),
                field="preprocessing.columns",
            )
        notes.append(Note("data.split.note_drop_rows", count=int(dropped.sum()), columns=columns))
    if target.task == "regression":
        values = numeric_values(train[target.name])
        std = float(values.std())
        target = TargetInfo(name=target.name, task=target.task, mean=float(values.mean()), std=std if std > 0 else 1.0)
    state = fit_preprocessing(
        train, features, max_categories=preprocessing_spec.max_categories, spec=preprocessing_spec
    )
    same = test is validation
    parts = [train, validation, *([] if same else [test])]
    encoded_train, encoded_validation, *encoded_test = encode_many(state, parts)
    y_train, y_validation, *y_test = _encoded_targets(target, parts)
    train.release()
    return PreparedData(
        features=tuple(features),
        target=target,
        preprocessing=state,
        train_rows=train,
        validation_rows=validation,
        test_rows=test,
        encoded_train=encoded_train,
        y_train=y_train,
        encoded_validation=encoded_validation,
        y_validation=y_validation,
        encoded_test=encoded_validation if same else encoded_test[0],
        y_test=y_validation if same else y_test[0],
        notes=tuple(notes),
    )


def _encoded_targets(target: TargetInfo, parts: list[RowSelection]) -> list[np.ndarray]:
    """`target.encode` of each part's target values. Parts of one table: the whole target column is encoded
    once and each part takes its rows (no copy of a million class names)."""
    tables = {id(part.frame) for part in parts}
    if len(tables) != 1:
        return [target.encode(part[target.name]) for part in parts]
    whole = target.encode(parts[0].frame[target.name])
    return [whole[part.positions] for part in parts]


def _drop_rows_mask(frame: pd.DataFrame, features, preprocessing_spec: PreprocessingSpec) -> np.ndarray:
    """True for the rows with a missing value in any drop_rows column."""
    mask = np.zeros(len(frame), dtype=bool)
    for name in drop_rows_columns(features, preprocessing_spec):
        mask |= _missing_mask(frame[name], preprocessing_spec.column(name))
    return mask


def _missing_mask(series: pd.Series, column: ColumnSpec) -> np.ndarray:
    """Missing as preprocessing sees it: NaN/inf/unparseable numbers, NA tokens in text, unreadable dates."""
    kind = column.kind
    if kind == "auto":
        if pd.api.types.is_datetime64_any_dtype(series):
            kind = "datetime"
        else:
            kind = "numeric" if is_numeric_column(series) else "categorical"
    dayfirst = resolve_dayfirst(series, column) if kind == "datetime" else False
    return is_missing(series, kind, dayfirst)


def _duplicated(frame: pd.DataFrame) -> pd.Series:
    """Rows equal to an earlier row in every column (missing equals missing)."""
    try:
        return frame.duplicated(keep="first")
    except TypeError:  # unhashable cells (lists, dicts): compare their text
        return frame.astype(str).duplicated(keep="first")


def _class_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(code of each row, class names): the codes `pd.factorize(class_names(series))` gives, computed from
    the distinct values, so a million rows make no million strings. Rows must have a value."""
    codes, uniques = pd.factorize(series)
    name_codes, names = pd.factorize(pd.Index([class_name(value) for value in uniques], dtype=object))
    return name_codes[codes], list(names)


def _stratify_labels(label_codes: np.ndarray | None, class_list, spec: DataSpec, notes: list[str]) -> np.ndarray | None:
    """The class codes to stratify the split by, or None (regression, or too few rows per class: noted)."""
    if label_codes is None:
        return None
    per_class = np.bincount(label_codes, minlength=len(class_list))
    # As value_counts orders them: most rows first, ties in order of first appearance.
    counts = pd.Series(per_class, index=pd.Index(class_list, dtype=object)).sort_values(ascending=False, kind="stable")
    if counts.min() < 3:
        rare = ", ".join(repr(name) for name in counts[counts < 3].index[:5])
        notes.append(Note("data.split.note_rare_classes", classes=rare))
        return None
    if not _can_stratify(len(label_codes), len(counts), spec):
        notes.append(Note("data.split.note_too_many_classes", count=len(counts)))
        return None
    # Integer codes: scikit-learn sorts Python strings row by row, several times slower on big tables.
    return label_codes


def _can_stratify(num_rows: int, num_classes: int, spec: DataSpec) -> bool:
    """scikit-learn needs at least one row per class on each side of each stratified cut."""
    smallest_part = min(spec.test_fraction, spec.validation_fraction, 1 - spec.test_fraction - spec.validation_fraction)
    return int(num_rows * smallest_part) >= num_classes


def _split(
    num_rows: int, spec: DataSpec, stratify: np.ndarray | None, notes: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions of training, validation and test (the same rows `train_test_split` on the frame gives)."""
    positions = np.arange(num_rows)
    holdout = spec.test_fraction + spec.validation_fraction
    train, rest = _cut(positions, holdout, spec.seed, stratify)
    rest_labels = None if stratify is None else stratify[rest]
    if rest_labels is not None and _fewest_present(rest_labels) < 2:
        # A class with 3-5 rows can leave a single row to cut between validation and test; scikit-learn
        # refuses to stratify that cut, so it is random (the first cut stayed stratified).
        rest_labels = None
        if notes is not None:
            notes.append(Note("data.split.note_cut_not_stratified"))
    validation, test = _cut(rest, spec.test_fraction / holdout, spec.seed, rest_labels)
    return train, validation, test


def _cut(
    positions: np.ndarray, test_size: float, seed: int, labels: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """`train_test_split(positions, test_size=test_size, random_state=seed, stratify=labels)`.

    scikit-learn's public splitter, not a copy of its internals (an earlier copy through the private
    `_approximate_mode` saved 0.25 s on a million rows, not worth a private API)."""
    return train_test_split(positions, test_size=test_size, random_state=seed, stratify=labels)


def _fewest_present(codes: np.ndarray) -> int:
    counts = np.bincount(codes)
    return int(counts[counts > 0].min())


def _group_ids(series: pd.Series) -> np.ndarray:
    """One integer per group value; every row without a value gets an id of its own."""
    codes = np.array(pd.factorize(category_strings(series))[0], dtype="int64")
    missing = codes < 0
    codes[missing] = codes.max(initial=-1) + 1 + np.arange(int(missing.sum()))
    return codes


def _group_split(groups: np.ndarray, spec: DataSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions of training, validation and test with no group on two sides (needs >= 3 groups).

    The fractions apply to the number of groups; each side gets at least one group."""
    num_groups = len(np.unique(groups))
    holdout = spec.test_fraction + spec.validation_fraction
    holdout_groups = min(max(round(num_groups * holdout), 2), num_groups - 1)
    positions = np.arange(len(groups))
    first = GroupShuffleSplit(n_splits=1, test_size=holdout_groups, random_state=spec.seed)
    train, rest = next(first.split(positions, groups=groups))
    rest_groups = groups[rest]
    test_groups = min(max(round(holdout_groups * spec.test_fraction / holdout), 1), holdout_groups - 1)
    second = GroupShuffleSplit(n_splits=1, test_size=test_groups, random_state=spec.seed)
    validation, test = next(second.split(rest, groups=rest_groups))
    return train, rest[validation], rest[test]


def _plan_cross_validation(
    rows: pd.DataFrame,
    *,
    groups: np.ndarray | None,
    labels: np.ndarray | None,
    data_spec: DataSpec,
    features: list[str],
    preprocessing_spec: PreprocessingSpec,
    notes: list[str],
) -> CrossValidationPlan:
    """k seeded folds of the non-test rows; refuses up front what would fail later in a fold."""
    k = data_spec.cross_validation_folds
    positions = np.arange(len(rows))
    if groups is not None:
        num_groups = len(np.unique(groups))
        if num_groups < k:
            raise DataError(
                t("data.split.cv_few_groups", folds=k, column=repr(data_spec.group_column), groups=num_groups),
                field="data.cross_validation_folds",
            )
        method = "GroupKFold"
        splits = GroupKFold(n_splits=k, shuffle=True, random_state=data_spec.seed).split(positions, groups=groups)
    else:
        if len(rows) < k:
            raise DataError(t("data.split.cv_few_rows", folds=k, rows=len(rows)), field="data.cross_validation_folds")
        if labels is not None and pd.Series(labels).value_counts().min() >= k:
            method = "StratifiedKFold"
            splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=data_spec.seed).split(positions, labels)
        else:
            if labels is not None:
                notes.append(Note("data.split.note_cv_not_stratified", folds=k))
            method = "KFold"
            splits = KFold(n_splits=k, shuffle=True, random_state=data_spec.seed).split(positions)
    folds = tuple((np.asarray(train), np.asarray(held_out)) for train, held_out in splits)
    dropped = _drop_rows_mask(rows, features, preprocessing_spec)
    fewest = min(int((~dropped[train]).sum()) for train, _ in folds)
    if fewest < MIN_TRAIN_ROWS:
        raise DataError(
            t("data.split.cv_fold_too_small", folds=k, rows=fewest, minimum=MIN_TRAIN_ROWS),
            field="data.cross_validation_folds",
        )
    return CrossValidationPlan(rows=rows, folds=folds, method=method)
