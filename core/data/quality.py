"""Data quality checks: what in a table would make training fail, mislead, or produce a model that cheats.

`assess_quality(frame, spec)` returns `Finding`s, most severe first. Each says in one plain sentence what is
wrong, why it matters and what its one-click `Fix` does; `apply_fix(spec, fix)` returns the spec with that fix
applied, after which the finding no longer appears. Errors block training; warnings and info do not.

The checks honour the spec: ignored columns and columns outside `data.features` are not flagged, and a fix
already in the spec (drop_duplicates, class_weight="balanced", a column kind) does not raise its finding again.

Finding kinds and when they appear (thresholds are the module constants below):

    too_few_rows             error    fewer than MIN_ROWS usable rows; says what limits them (the table, the target,
                                      a drop-rows input, drop_duplicates)
    target_not_found         error    the spec's target is not a column of the table
    features_not_found       error    columns in data.features are not in the table
    no_features              error    every feature column is ignored
    target_single_class      error    the target has fewer than two different values
    too_many_classes         error    a classification target with more than MAX_CLASSES classes
    target_not_numeric       error    task "regression" but the target holds text
    target_not_binary        error    task "binary" but the target does not have exactly two values
    target_missing           info     rows without a target value (training leaves them out)
    rare_classes             warning  classes with fewer than RARE_CLASS_ROWS rows
    class_imbalance          warning  largest / smallest class > IMBALANCE_RATIO  (fix: class_weights)
                             info     smallest class < IMBALANCE_SHARE of rows and ratio > 3
    leak                     warning  one column alone predicts the target: held-out accuracy >= LEAK_ACCURACY
                                      removing >= 75% of the errors of always guessing the commonest class, or
                                      |correlation| >= LEAK_CORRELATION, or held-out R² >= LEAK_R2 (regression);
                                      not checked when one target value covers >= 98% of rows  (fix: ignore)
    duplicates_across_split  warning  identical rows expected on both sides of the train/held-out split for at
                                      least max(1, 0.5% of held-out rows)  (fix: drop_duplicates)
    duplicates               info     identical rows (over the columns used)  (fix: drop_duplicates)
    id_like                  warning  an identifier column (profile kind "id")  (fix: ignore)
    free_text                warning  long free text, which LayerLab can only treat as categories  (fix: ignore)
    mixed_types              warning  a text column of mostly numbers with some text  (fix: coerce_numeric)
                             info     a text column of mostly text with some numbers
    numbers_as_text          warning  a column of numbers stored as text  (fix: coerce_numeric)
    infinite_values          warning  infinite (or beyond float32) numbers, which are treated as missing
                                      (fix: drop_missing_rows)
    extreme_values           warning  numbers of magnitude >= EXTREME_MAGNITUDE (fixes: clip_outliers, log_scale),
                                      or only numbers too small for float32 to tell from 0 (fix: ignore)
    high_cardinality         warning  more distinct text values than max_categories, and > 20% of rows fall in
                                      'other'; info when fewer do  (fixes: use_embedding, use_hashing)
    datetime_text            info     dates stored as text, treated as categories  (fix: use_datetime)
    date_order               info     text dates like 03/04/2024 whose day/month order no value decides;
                                      warning when values contradict each other  (fixes: dates_dayfirst,
                                      dates_monthfirst)
    constant                 info     a single value  (fix: ignore)
    near_constant            info     one value in >= NEAR_CONSTANT_SHARE of the rows that have a value  (fix: ignore)
    all_missing              info     no values at all (training leaves the column out)  (fix: ignore)
    mostly_missing           info     more than MOSTLY_MISSING_SHARE of the rows missing  (fix: ignore)
    group_candidate          info     a repeated identifier (customer_id...) whose rows could straddle the split
                                      (fix: group_split)
                             warning  a group ID: a column named like an ID (caseid, order_no, 编号) or counting up
                                      (1, 1, 2, 3, 3...), of whole numbers or codes, with at least GROUP_ID_MIN_VALUES
                                      values shared by several rows each; never offered embedding or hashing
                                      (fixes: ignore, group_split)

Everything runs on exact counts or on seeded samples (`core.data.profiling`), so a million rows take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from core.data.preprocessing import NUMERIC_DATE_PATTERN, date_order
from core.data.profiling import (
    ASSOCIATION_SAMPLE_ROWS,
    SAMPLE_SEED,
    ColumnProfile,
    TableProfile,
    feature_levels,
    infer_task,
    looks_like_group_name,
    looks_like_id_name,
    profile_frame,
    sample_rows,
)
from core.errors import AppError
from core.i18n import CatalogView
from core.spec import ColumnSpec, PreprocessingSpec, RunSpec, Task

Severity = Literal["error", "warning", "info"]
FixAction = Literal[
    "ignore_column",
    "coerce_numeric",
    "drop_duplicates",
    "class_weights",
    "group_split",
    "use_datetime",
    "use_embedding",
    "use_hashing",
    "clip_outliers",
    "log_scale",
    "drop_missing_rows",
    "dates_dayfirst",
    "dates_monthfirst",
]

MIN_ROWS = 20  # as core.data.splitting.MIN_ROWS: fewer rows cannot be split into training, validation and test
MAX_CLASSES = 100  # as core.data.splitting.MAX_CLASSES
RARE_CLASS_ROWS = 3
IMBALANCE_RATIO = 10.0
IMBALANCE_SHARE = 0.10
NEAR_CONSTANT_SHARE = 0.995
MOSTLY_MISSING_SHARE = 0.5
HIGH_CARDINALITY_OTHER_SHARE = 0.2
LEAK_ACCURACY = 0.98
LEAK_ERROR_REDUCTION = 0.75
LEAK_CORRELATION = 0.99
LEAK_R2 = 0.98
LEAK_TRIVIAL_TARGET_SHARE = 0.98
LEAK_LEVELS = 100
STRADDLE_MIN_SHARE = 0.005
GROUP_MIN_ROWS_PER_VALUE = 1.5
# A group ID has this many values at least; an unnamed one counts up with at least GROUP_ID_MIN_COUNTER values,
# each on at most 1 / GROUP_ID_MIN_COUNTER_SHARE rows (ages or years also count up, but with many rows each).
GROUP_ID_MIN_VALUES = 20
GROUP_ID_MIN_COUNTER = 200
GROUP_ID_MIN_COUNTER_SHARE = 0.3
# Codes: letters (or none), then digits: C000123, INV-2024-0017, 2019/00042.
_CODE = r"^[A-Za-z]{0,6}[-_/ ]?\d[\d\-_/]*[A-Za-z]{0,3}$"
# Beyond this size standard scaling squeezes every ordinary value of the column into one point (and whole
# numbers above 2**53 are no longer exact in float64).
EXTREME_MAGNITUDE = 1e15
FLOAT32_TINY = float(np.finfo(np.float32).tiny)
FLOAT32_MAX = float(np.finfo(np.float32).max)

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
# Within a severity, the findings that most often spoil a model come first.
KINDS: tuple[str, ...] = (
    "target_not_found", "features_not_found", "no_features", "too_few_rows", "target_single_class",
    "target_not_numeric", "target_not_binary", "too_many_classes", "leak", "duplicates_across_split", "id_like",
    "class_imbalance", "rare_classes", "mixed_types", "numbers_as_text", "free_text", "infinite_values",
    "extreme_values", "high_cardinality", "date_order", "group_candidate", "datetime_text", "duplicates",
    "target_missing", "constant", "near_constant", "all_missing", "mostly_missing",
)  # fmt: skip

# Every sentence shown to a user, keyed by finding kind (or fix action): the messages "data.quality.<key>" of
# core/locale/*/LC_MESSAGES/data.po, English and Chinese, read in the current language when a finding is made and
# filled with `str.format`. A new sentence: add its id to both data.po files.
MESSAGES = CatalogView("data.quality.")


@dataclass(frozen=True, slots=True)
class Fix:
    """A one-click change to the spec: `apply_fix(spec, fix)`. `label` is the button text."""

    action: FixAction
    column: str | None
    label: str

    def to_dict(self) -> dict:
        return {"action": self.action, "column": self.column, "label": self.label}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in the data. `message`: what, why, and what `fix` (if any) does."""

    kind: str
    column: str | None
    severity: Severity
    message: str
    fix: Fix | None = None
    more_fixes: tuple[Fix, ...] = ()  # other one-click answers to the same finding, after `fix`

    @property
    def fixes(self) -> tuple[Fix, ...]:
        return ((self.fix,) if self.fix is not None else ()) + self.more_fixes

    def to_dict(self) -> dict:
        result = {
            "kind": self.kind,
            "column": self.column,
            "severity": self.severity,
            "message": self.message,
            "fix": None if self.fix is None else self.fix.to_dict(),
        }
        if self.more_fixes:  # only where there are alternatives: the JSON of other findings stays as it was
            result["more_fixes"] = [fix.to_dict() for fix in self.more_fixes]
        return result


def make_fix(action: FixAction, column: str | None = None) -> Fix:
    return Fix(action=action, column=column, label=MESSAGES[f"fix_{action}"].format(column=column))


def _finding(
    kind: str,
    column: str | None,
    severity: Severity,
    fix: Fix | None = None,
    *,
    key: str | None = None,
    more_fixes: tuple[Fix, ...] = (),
    **values,
) -> Finding:
    message = MESSAGES[key or kind].format(column=column, **values)
    return Finding(kind=kind, column=column, severity=severity, message=message, fix=fix, more_fixes=more_fixes)


def has_errors(findings: list[Finding]) -> bool:
    """Whether any finding blocks training."""
    return any(finding.severity == "error" for finding in findings)


def assess_quality(
    frame: pd.DataFrame,
    spec: RunSpec | None = None,
    *,
    target: str | None = None,
    profile: TableProfile | None = None,
) -> list[Finding]:
    """Check a table (against a spec when given) and return findings, errors first.

    Args:
        frame: the table as loaded.
        spec: the run spec; its target, features, ignored columns and applied fixes are honoured.
        target: the target column when there is no spec.
        profile: `profile_frame(frame, target)` if already computed (it is computed otherwise).
    """
    target_name = spec.data.target if spec is not None else target
    names = [str(name) for name in frame.columns]
    if list(frame.columns) != names:
        frame = frame.set_axis(names, axis=1)
    preprocessing = spec.preprocessing if spec is not None else PreprocessingSpec()
    findings: list[Finding] = []
    if target_name is not None and target_name not in names:
        findings.append(_finding("target_not_found", target_name, "error"))
        target_name = None
    if profile is None or profile.num_rows != len(frame) or _target_name(profile) != target_name:
        profile = profile_frame(frame, target_name)
    columns = {column.name: column for column in profile.columns}

    features = _features(names, spec, target_name, findings)
    group_column = spec.data.group_column if spec is not None else None
    # As core.data.splitting.resolve_features: ignored columns and the group column are not inputs.
    features = [name for name in features if preprocessing.column(name).role != "ignore" and name != group_column]
    if not features:
        findings.append(_finding("no_features", None, "error"))

    target_series = frame.iloc[:, names.index(target_name)] if target_name is not None else None
    has_target = _has_target(target_series) if target_series is not None else np.ones(len(frame), dtype=bool)
    usable_rows = int(has_target.sum())
    drop_rows = [name for name in features if preprocessing.column(name).missing == "drop_rows"]
    drop_duplicates = spec is not None and spec.data.drop_duplicates
    message = too_few_rows_message(frame, features, target_name, drop_rows=drop_rows, drop_duplicates=drop_duplicates)
    if message is not None:
        findings.append(Finding(kind="too_few_rows", column=None, severity="error", message=message))

    task: Task | None = None
    if target_series is not None:
        task = _check_target(target_series, has_target, spec, findings)

    for name in features:
        findings.extend(_check_column(frame, columns[name], preprocessing.column(name), preprocessing, spec))

    used = [*features, *([target_name] if target_name is not None else [])]
    if features and (spec is None or not spec.data.drop_duplicates):
        findings.extend(_check_duplicates(frame, used, spec))

    if task is not None and usable_rows >= MIN_ROWS:
        leak_candidates = [columns[name] for name in features if columns[name].kind not in {"id", "text", "empty"}]
        leak_candidates = [column for column in leak_candidates if column.num_distinct > 1]
        # Numbers near float64's limits overflow in squares and differences; such a measure is then not a leak.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            findings.extend(_check_leaks(frame, names, target_name, task, leak_candidates, has_target))

    return sorted(findings, key=lambda finding: (_SEVERITY_ORDER[finding.severity], KINDS.index(finding.kind)))


def too_few_rows_message(
    frame: pd.DataFrame,
    features: list[str],
    target: str | None,
    *,
    drop_rows: list[str] | tuple[str, ...] = (),
    drop_duplicates: bool = False,
) -> str | None:
    """Why fewer than `MIN_ROWS` rows can be used, naming what limits them (too small a table, rows without a
    target, rows without a value in a drop-rows column, duplicates), or None when there are enough.

    Args:
        frame: the table as loaded.
        features: the input columns.
        target: the target column, if any.
        drop_rows: input columns whose rows without a value are left out.
        drop_duplicates: whether identical rows (over the inputs and the target) are dropped.
    """
    total = len(frame)
    if total < MIN_ROWS:
        return MESSAGES["too_few_rows"].format(rows=total, minimum=MIN_ROWS)
    kept = _has_target(frame[target]) if target is not None else np.ones(total, dtype=bool)
    if kept.sum() < MIN_ROWS:
        return MESSAGES["too_few_rows_target"].format(
            rows=int(kept.sum()), total=total, column=target, minimum=MIN_ROWS
        )
    with_target = int(kept.sum())
    for name in drop_rows:
        kept &= _has_value(frame[name])
    if drop_rows and kept.sum() < MIN_ROWS:
        columns = ", ".join(f"'{name}'" for name in drop_rows[:5])
        only = MESSAGES["rows_only_input"].format(column=features[0]) if len(features) == 1 else ""
        return MESSAGES["too_few_rows_drop_rows"].format(
            rows=int(kept.sum()), total=with_target, columns=columns, only=only, minimum=MIN_ROWS
        )
    if drop_duplicates and features:
        used = frame.loc[kept, [*features, *([target] if target is not None else [])]]
        try:
            distinct = int((~used.duplicated()).sum())
        except TypeError:  # unhashable cells (lists, dicts): compare their text
            distinct = int((~used.astype(str).duplicated()).sum())
        if distinct < MIN_ROWS:
            why = ""
            if len(features) == 1:
                valued = int(_has_value(frame.loc[kept, features[0]]).sum())
                why = MESSAGES["rows_duplicates_why"].format(valued=valued, column=features[0])
            return MESSAGES["too_few_rows_duplicates"].format(rows=distinct, total=total, why=why, minimum=MIN_ROWS)
    return None


def _has_value(series: pd.Series) -> np.ndarray:
    """Rows with a value as training sees it: not missing, and a finite number in numeric columns."""
    return _has_target(series)


def _target_name(profile: TableProfile) -> str | None:
    return None if profile.target is None else profile.target.name


def _features(names: list[str], spec: RunSpec | None, target: str | None, findings: list[Finding]) -> list[str]:
    if spec is not None and spec.data.features:
        unknown = [name for name in spec.data.features if name not in names]
        if unknown:
            shown = ", ".join(f"'{name}'" for name in unknown[:10])
            findings.append(_finding("features_not_found", unknown[0], "error", columns=shown))
        return [name for name in spec.data.features if name in names and name != target]
    return [name for name in names if name != target]


def _has_target(series: pd.Series) -> np.ndarray:
    present = series.notna().to_numpy().copy()
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numbers = series.to_numpy(dtype="float64", na_value=np.nan)
        present &= np.isfinite(numbers)
    return present


def _class_labels(series: pd.Series) -> pd.Series:
    """Class names as training shows them: integer-valued floats keep their integer name."""
    if series.dtype.kind == "f":
        return series.map(lambda value: str(int(value)) if float(value).is_integer() else str(value))
    return series.astype(str)


def _check_target(series: pd.Series, has_target: np.ndarray, spec: RunSpec | None, findings: list[Finding]):
    name = str(series.name)
    missing = int((~has_target).sum())
    if missing:
        findings.append(_finding("target_missing", name, "info", count=missing, share=missing / max(len(series), 1)))
    present = series[has_target]
    try:
        inferred = infer_task(present.rename(name))
    except AppError:
        inferred = None
    if inferred is None:
        distinct = present.astype(str).unique()
        shown = (
            MESSAGES["shown_one_value"].format(value=distinct[0]) if len(distinct) == 1 else MESSAGES["shown_no_values"]
        )
        findings.append(_finding("target_single_class", name, "error", shown=shown))
        return None
    task = spec.data.task if spec is not None and spec.data.task else inferred
    is_number = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if task == "regression":
        if not is_number:
            findings.append(_finding("target_not_numeric", name, "error"))
            return None
        return task
    labels = _class_labels(present)
    counts = labels.value_counts(sort=True)
    if task == "binary" and len(counts) != 2:
        findings.append(_finding("target_not_binary", name, "error", count=len(counts)))
        return None
    if len(counts) > MAX_CLASSES:
        findings.append(_finding("too_many_classes", name, "error", count=len(counts), limit=MAX_CLASSES))
        return None
    rare = counts[counts < RARE_CLASS_ROWS]
    if len(rare):
        examples = ", ".join(f"'{label}': {count}" for label, count in list(rare.items())[:5])
        findings.append(
            _finding(
                "rare_classes",
                name,
                "warning",
                count=len(rare),
                minimum=RARE_CLASS_ROWS,
                examples=examples,
            )
        )
    balanced = spec is not None and spec.training.class_weight == "balanced"
    largest, smallest = counts.iloc[0], counts.iloc[-1]
    ratio = largest / smallest
    share = smallest / counts.sum()
    severity: Severity | None = None
    if ratio > IMBALANCE_RATIO:
        severity = "warning"
    elif share < IMBALANCE_SHARE and ratio > 3:
        severity = "info"
    if severity is not None and not balanced:
        findings.append(
            _finding(
                "class_imbalance",
                name,
                severity,
                make_fix("class_weights"),
                largest=counts.index[0],
                largest_count=int(largest),
                smallest=counts.index[-1],
                smallest_count=int(smallest),
                smallest_share=float(share),
            )
        )
    return task


def _check_column(
    frame: pd.DataFrame,
    column: ColumnProfile,
    choice: ColumnSpec,
    preprocessing: PreprocessingSpec,
    spec: RunSpec | None,
) -> list[Finding]:
    name = column.name
    ignore = make_fix("ignore_column", name)
    if column.kind == "empty":
        return [_finding("all_missing", name, "info", ignore)]
    found: list[Finding] = []
    if column.missing_fraction > MOSTLY_MISSING_SHARE:
        found.append(_finding("mostly_missing", name, "info", ignore, share=column.missing_fraction))
    if column.kind == "id" and choice.kind == "auto":
        return [*found, _finding("id_like", name, "warning", ignore, reason=_id_reason(column))]
    top_value = column.top_values[0][0] if column.top_values else column.example
    if column.num_distinct == 1:
        return [*found, _finding("constant", name, "info", ignore, value=top_value[:40])]
    if column.top_share >= NEAR_CONSTANT_SHARE:
        found.append(_finding("near_constant", name, "info", ignore, value=top_value[:40], share=column.top_share))
    kind = choice.kind if choice.kind != "auto" else column.treated_as
    if column.mixed and choice.kind == "auto" and kind == "categorical":
        if column.kind == "numeric":
            examples = ", ".join(f"'{value}'" for value in column.mixed_examples[:3])
            found.append(
                _finding(
                    "mixed_types",
                    name,
                    "warning",
                    make_fix("coerce_numeric", name),
                    count=column.mixed_count,
                    examples=examples,
                )
            )
        else:
            found.append(_finding("mixed_types", name, "info", key="mixed_text", numbers=column.numeric_count))
    elif column.kind == "numeric" and column.numeric_count and choice.kind == "auto" and kind == "categorical":
        found.append(
            _finding(
                "numbers_as_text",
                name,
                "warning",
                make_fix("coerce_numeric", name),
                distinct=column.num_distinct,
            )
        )
    if kind == "numeric" and column.infinite_count and choice.missing != "drop_rows":
        found.append(
            _finding(
                "infinite_values", name, "warning", make_fix("drop_missing_rows", name), count=column.infinite_count
            )
        )
    if kind == "numeric" and column.histogram is not None:
        found.extend(_check_extremes(frame[name], name, choice))
    if column.kind == "text" and choice.kind == "auto":
        found.append(_finding("free_text", name, "warning", ignore, words=_mean_words(frame[name])))
        return found
    if column.kind == "datetime" and kind == "categorical" and choice.kind == "auto":
        example = _ambiguous_date_example(frame[name]) if choice.dayfirst is None else None
        if example is None:
            found.append(_finding("datetime_text", name, "info", make_fix("use_datetime", name)))
        else:
            fix = make_fix("use_datetime", name)
            found.append(_finding("datetime_text", name, "info", fix, key="datetime_text_ambiguous", example=example))
        return found
    if kind == "datetime" and choice.dayfirst is None:
        found.extend(_check_date_order(frame[name], name))
    covered = column.kind == "numeric" and choice.kind == "auto"  # by mixed_types / numbers_as_text
    if choice.kind == "auto" and choice.encoding == "auto" and _is_group_id(frame[name], column):
        # An embedding or hashing of an ID only helps the model memorise rows: never offer them for one.
        fixes = (ignore, make_fix("group_split", name)) if spec is None or spec.data.group_column is None else (ignore,)
        per_value = 1.0 / column.distinct_share
        group = _finding("group_candidate", name, "warning", fixes[0], key="group_id", more_fixes=fixes[1:],
                         distinct=column.num_distinct, per_value=per_value)  # fmt: skip
        return [*found, group]
    if kind == "categorical" and choice.encoding not in {"ordinal", "embedding", "hashing"} and not covered:
        limit = choice.max_categories or preprocessing.max_categories
        if column.num_distinct > limit:
            other_share = _other_share(frame[name], limit)
            severity: Severity = "warning" if other_share > HIGH_CARDINALITY_OTHER_SHARE else "info"
            found.append(
                _finding(
                    "high_cardinality",
                    name,
                    severity,
                    make_fix("use_embedding", name),
                    more_fixes=(make_fix("use_hashing", name),),
                    distinct=column.num_distinct,
                    limit=limit,
                    other_share=other_share,
                )
            )
    if (
        (spec is None or spec.data.group_column is None)
        and looks_like_group_name(name)
        and column.kind in {"categorical", "numeric"}
        and not column.mixed
    ):
        # A yes/no column named like a group ('union_member') is no identifier: it needs many values.
        if column.num_distinct >= GROUP_ID_MIN_VALUES and column.distinct_share * GROUP_MIN_ROWS_PER_VALUE <= 1.0:
            found.append(
                _finding(
                    "group_candidate",
                    name,
                    "info",
                    make_fix("group_split", name),
                    per_value=1.0 / column.distinct_share,
                )
            )
    return found


def _check_extremes(series: pd.Series, name: str, choice: ColumnSpec) -> list[Finding]:
    """Finite numbers a model cannot use as they are: huge ones (which squash the rest when scaled), or a
    column of numbers too small for float32 (the exported model's inputs), which become 0."""
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    sizes = np.abs(numbers[np.isfinite(numbers)])
    sizes = sizes[sizes <= FLOAT32_MAX]  # larger ones are treated as missing: infinite_values says so
    huge = sizes[sizes >= EXTREME_MAGNITUDE]
    if len(huge) and choice.outliers == "none" and choice.scaling != "log1p":
        example = f"{float(huge.max()):.3g}"
        if float(np.median(sizes)) < EXTREME_MAGNITUDE:
            fixes = (make_fix("clip_outliers", name), make_fix("log_scale", name))
            key = "extreme_values"
        elif np.all(np.mod(sizes, 1) == 0):
            fixes = (make_fix("ignore_column", name), make_fix("log_scale", name))
            key = "extreme_values_whole"
        else:
            return []  # all of one huge size: scaling handles it
        return [
            _finding(
                "extreme_values",
                name,
                "warning",
                fixes[0],
                key=key,
                more_fixes=fixes[1:],
                count=len(huge),
                example=example,
            )
        ]
    nonzero = sizes[sizes > 0]
    if len(nonzero) and float(nonzero.max()) < FLOAT32_TINY:
        example = f"{float(nonzero.max()):.3g}"
        return [
            _finding(
                "extreme_values",
                name,
                "warning",
                make_fix("ignore_column", name),
                key="extreme_values_tiny",
                example=example,
            )
        ]
    return []


def _is_group_id(series: pd.Series, column: ColumnProfile) -> bool:
    """Whole numbers or codes shared by several rows each (caseid 1, 1, 2, 3, 3...), with at least
    GROUP_ID_MIN_VALUES values, named like an identifier or counting up one by one. City names or prices are not."""
    if column.kind not in {"numeric", "categorical"} or column.mixed or column.num_distinct < GROUP_ID_MIN_VALUES:
        return False
    if column.distinct_share * GROUP_MIN_ROWS_PER_VALUE > 1.0:
        return False
    values = pd.Series(series.dropna().unique()[:2000])
    if column.histogram is not None:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if not np.all(np.isfinite(numbers)) or not np.all(np.mod(numbers, 1) == 0):
            return False
        if looks_like_id_name(column.name) or looks_like_group_name(column.name):
            return True
        counts_up = float(numbers.max() - numbers.min()) + 1 <= 1.05 * len(numbers)
        return (
            counts_up
            and column.num_distinct >= GROUP_ID_MIN_COUNTER
            and column.distinct_share >= GROUP_ID_MIN_COUNTER_SHARE
        )
    named = looks_like_id_name(column.name) or looks_like_group_name(column.name)
    return named and float(values.astype(str).str.strip().str.match(_CODE).mean()) >= 0.9


def _ambiguous_date_example(series: pd.Series) -> str | None:
    """A value like 03/04/2024 when the column's day/month order is undecided (or mixed), else None."""
    if date_order(series) not in {"ambiguous", "conflicting"}:
        return None
    text = pd.Series(series.dropna().unique()).astype(str)
    return str(text[text.str.extract(NUMERIC_DATE_PATTERN)[0].notna()].iloc[0])[:40]


def _check_date_order(series: pd.Series, name: str) -> list[Finding]:
    """Text dates whose day/month order the values do not decide (or contradict): the user chooses."""
    order = date_order(series)
    if order not in {"ambiguous", "conflicting"}:
        return []
    fixes = (make_fix("dates_dayfirst", name), make_fix("dates_monthfirst", name))
    text = pd.Series(series.dropna().unique()).astype(str)
    fields = text.str.extract(NUMERIC_DATE_PATTERN)
    if order == "ambiguous":
        example = text[fields[0].notna()].iloc[0]
        return [_finding("date_order", name, "info", fixes[0], more_fixes=fixes[1:], example=example[:40])]
    first, second = fields[0].astype(float), fields[1].astype(float)
    return [
        _finding(
            "date_order", name, "warning", fixes[0], key="date_order_conflicting", more_fixes=fixes[1:],
            day_example=text[first > 12].iloc[0][:40], month_example=text[second > 12].iloc[0][:40],
        )
    ]  # fmt: skip


def _id_reason(column: ColumnProfile) -> str:
    if looks_like_id_name(column.name):
        return MESSAGES["id_reason_name"].format(share=column.distinct_share)
    if column.histogram is not None:
        return MESSAGES["id_reason_counter"]
    return MESSAGES["id_reason_unique"].format(share=column.distinct_share)


def _mean_words(series: pd.Series) -> float:
    text = series.dropna().head(2000).astype(str)
    return float(text.str.split().str.len().mean()) if len(text) else 0.0


def _other_share(series: pd.Series, limit: int) -> float:
    counts = series.dropna().value_counts(sort=True)
    total = counts.sum()
    return float(counts.iloc[limit:].sum() / total) if total else 0.0


def _check_duplicates(frame: pd.DataFrame, used: list[str], spec: RunSpec | None) -> list[Finding]:
    subset = frame[used]
    try:
        hashes = pd.util.hash_pandas_object(subset, index=False)
    except TypeError:
        hashes = pd.util.hash_pandas_object(subset.astype(str), index=False)
    sizes = hashes.value_counts()
    sizes = sizes[sizes > 1].to_numpy(dtype="float64")
    count = int((sizes - 1).sum())
    if count == 0:
        return []
    rows = len(frame)
    holdout_fraction = (spec.data.test_fraction + spec.data.validation_fraction) if spec is not None else 0.3
    # A row lands in the held-out part with probability h; it has a copy in training when not all of its
    # k - 1 twins are held out too.
    expected = float((sizes * holdout_fraction * (1.0 - holdout_fraction ** (sizes - 1))).sum())
    holdout = int(round(rows * holdout_fraction))
    fix = make_fix("drop_duplicates")
    grouped = spec is not None and spec.data.group_column is not None
    if not grouped and expected >= max(1.0, STRADDLE_MIN_SHARE * holdout):
        return [
            _finding(
                "duplicates_across_split",
                None,
                "warning",
                fix,
                count=count,
                share=count / rows,
                expected=int(round(expected)),
                holdout=holdout,
            )
        ]
    return [_finding("duplicates", None, "info", fix, count=count, share=count / rows)]


def _check_leaks(
    frame: pd.DataFrame,
    names: list[str],
    target: str,
    task: Task,
    candidates: list[ColumnProfile],
    has_target: np.ndarray,
) -> list[Finding]:
    if not candidates:
        return []
    rows = frame[has_target]
    sample = sample_rows(rows, ASSOCIATION_SAMPLE_ROWS, seed=SAMPLE_SEED)
    y_series = sample.iloc[:, names.index(target)]
    rng = np.random.default_rng(SAMPLE_SEED)
    folds = rng.permutation(len(sample)) % 2
    found = []
    if task == "regression":
        y = y_series.to_numpy(dtype="float64", na_value=np.nan)
        values, counts = np.unique(y, return_counts=True)
        if counts.max() / len(y) >= LEAK_TRIVIAL_TARGET_SHARE or float(np.std(y)) == 0.0:
            return []
        for column in candidates:
            x_series = sample[column.name]
            if column.histogram is not None:
                x = pd.to_numeric(x_series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
                correlation = _max_correlation(x, y)
                if abs(correlation) >= LEAK_CORRELATION:
                    found.append(_leak(column.name, target, "leak_correlation", correlation=correlation))
                    continue
            r2 = _crossfit_r2(feature_levels(x_series, column, LEAK_LEVELS), y, folds)
            if r2 >= LEAK_R2:
                found.append(_leak(column.name, target, "leak_regression", r2=r2))
        return found
    y = pd.factorize(_class_labels(y_series))[0]
    baseline = np.bincount(y).max() / len(y)
    if baseline >= LEAK_TRIVIAL_TARGET_SHARE:
        return []
    for column in candidates:
        x_series = sample[column.name]
        accuracy = _crossfit_mode_accuracy(feature_levels(x_series, column, LEAK_LEVELS), y, folds)
        if column.histogram is not None and y.max() == 1:
            x = pd.to_numeric(x_series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            accuracy = max(accuracy, _stump_accuracy(x, y))
        if accuracy >= LEAK_ACCURACY and (1 - accuracy) <= (1 - LEAK_ERROR_REDUCTION) * (1 - baseline):
            found.append(_leak(column.name, target, "leak_classification", accuracy=accuracy))
    return found


def _leak(column: str, target: str, key: str, **values) -> Finding:
    return _finding("leak", column, "warning", make_fix("ignore_column", column), key=key, target=target, **values)


def _crossfit_mode_accuracy(x: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """Accuracy of predicting y by the most common y of x's level, learned on one half, scored on the other."""
    kx, ky = int(x.max()) + 1, int(y.max()) + 1
    correct = 0
    for fold in (0, 1):
        train, test = folds != fold, folds == fold
        table = np.bincount(x[train] * ky + y[train], minlength=kx * ky).reshape(kx, ky)
        fallback = int(np.bincount(y[train], minlength=ky).argmax()) if train.any() else 0
        mode = np.where(table.sum(axis=1) > 0, table.argmax(axis=1), fallback)
        correct += int((mode[x[test]] == y[test]).sum())
    return correct / len(y)


def _crossfit_r2(x: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """R² of predicting y by the mean y of x's level, learned on one half, scored on the other."""
    finite = np.isfinite(y)
    x, y, folds = x[finite], y[finite], folds[finite]
    if len(y) < 4:
        return 0.0
    kx = int(x.max()) + 1
    residual = 0.0
    for fold in (0, 1):
        train, test = folds != fold, folds == fold
        sums = np.bincount(x[train], weights=y[train], minlength=kx)
        counts = np.bincount(x[train], minlength=kx)
        fallback = float(y[train].mean()) if train.any() else 0.0
        means = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
        residual += float(((y[test] - means[x[test]]) ** 2).sum())
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - residual / total if total > 0 else 0.0


def _max_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """The Pearson or Spearman correlation with the larger size (0 when it cannot be computed)."""
    both = np.isfinite(x) & np.isfinite(y)
    if both.sum() < MIN_ROWS:
        return 0.0
    x, y = x[both], y[both]
    if np.std(x) == 0 or np.std(y) == 0:
        return 0.0
    pearson = float(np.corrcoef(x, y)[0, 1])
    ranks_x = pd.Series(x).rank().to_numpy()
    ranks_y = pd.Series(y).rank().to_numpy()
    spearman = float(np.corrcoef(ranks_x, ranks_y)[0, 1])
    best = max((pearson, spearman), key=lambda value: abs(value) if np.isfinite(value) else -1.0)
    return best if np.isfinite(best) else 0.0


def _stump_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """Best accuracy of one threshold on x for a 0/1 target; rows without a number get their own majority."""
    finite = np.isfinite(x)
    missing_y = y[~finite]
    correct_missing = int(max(missing_y.sum(), len(missing_y) - missing_y.sum())) if len(missing_y) else 0
    x, y = x[finite], y[finite]
    n = len(y)
    if n == 0:
        return correct_missing / max(len(missing_y), 1)
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    ones_left = np.concatenate([[0], np.cumsum(ys)])  # ones among the first i rows, i = 0..n
    total_ones = int(ones_left[-1])
    # Cut only between different values (and before the first / after the last row).
    cuts = np.concatenate([[0], np.nonzero(xs[1:] != xs[:-1])[0] + 1, [n]])
    left = cuts
    ones = ones_left[cuts]
    zeros_left_ones_right = (left - ones) + (total_ones - ones)
    ones_left_zeros_right = ones + (n - left) - (total_ones - ones)
    best = int(max(zeros_left_ones_right.max(), ones_left_zeros_right.max()))
    return (best + correct_missing) / (n + len(missing_y))


def apply_fix(spec: RunSpec, fix: Fix) -> RunSpec:
    """The spec with `fix` applied; the finding it answers no longer appears for that spec.

    ignore_column: the column gets role "ignore" and leaves an explicit `data.features` list (unless it is the
    last one there, which would turn the list into "every column"). coerce_numeric / use_datetime: the column's
    kind becomes numeric / datetime. drop_duplicates: `data.drop_duplicates`. class_weights:
    `training.class_weight = "balanced"`. group_split: `data.group_column`.
    """
    data = spec.model_dump(mode="json")
    if fix.action == "ignore_column":
        _set_column(data, fix.column, role="ignore")
        features = data["data"]["features"]
        if fix.column in features and len(features) > 1:
            data["data"]["features"] = [name for name in features if name != fix.column]
    elif fix.action == "coerce_numeric":
        _set_column(data, fix.column, kind="numeric")
    elif fix.action == "use_datetime":
        _set_column(data, fix.column, kind="datetime")
    elif fix.action == "use_embedding":
        _set_column(data, fix.column, encoding="embedding")
    elif fix.action == "use_hashing":
        _set_column(data, fix.column, encoding="hashing")
    elif fix.action == "clip_outliers":
        _set_column(data, fix.column, outliers="clip_iqr")
    elif fix.action == "log_scale":
        _set_column(data, fix.column, scaling="log1p")
    elif fix.action == "drop_missing_rows":
        _set_column(data, fix.column, missing="drop_rows")
    elif fix.action in {"dates_dayfirst", "dates_monthfirst"}:
        _set_column(data, fix.column, dayfirst=fix.action == "dates_dayfirst")
    elif fix.action == "drop_duplicates":
        data["data"]["drop_duplicates"] = True
    elif fix.action == "class_weights":
        data["training"]["class_weight"] = "balanced"
    elif fix.action == "group_split":
        data["data"]["group_column"] = fix.column
        # It decides the split now, not an input (as core.data.splitting does); say so in the spec as well.
        _set_column(data, fix.column, role="ignore")
        features = data["data"]["features"]
        if fix.column in features and len(features) > 1:
            data["data"]["features"] = [name for name in features if name != fix.column]
    else:
        raise ValueError(f"unknown fix action {fix.action!r}")
    return RunSpec.model_validate(data)


def _set_column(data: dict, name: str | None, **changes) -> None:
    if name is None:
        raise ValueError("this fix needs a column name")
    columns = data["preprocessing"]["columns"]
    for index, column in enumerate(columns):
        if column["name"] == name:
            updated = {**column, **changes}
            if changes.get("kind") in {"numeric", "datetime"} and updated.get("encoding") == "ordinal":
                updated["encoding"] = "auto"  # an order of categories means nothing for numbers or dates
            columns[index] = updated
            return
    columns.append({**ColumnSpec(name=name).model_dump(), **changes})
