"""`assess_quality` and `apply_fix`: every problem a real table brings is named once, with a fix that works."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.profiling import profile_frame, suggest_target
from core.data.quality import KINDS, MESSAGES, Finding, Fix, apply_fix, assess_quality, has_errors, make_fix
from core.data.reading import load_table_file
from core.data.samples import SAMPLE_DIR
from core.errors import AppError, DataError
from core.spec import ColumnSpec, DataSpec, PreprocessingSpec, RunSpec, TrainingSpec
from tests.conftest import make_regression_frame

BAD_INPUTS = Path(__file__).resolve().parents[3] / "shared" / "bad_inputs"
TABLE_SUFFIXES = {".csv", ".xlsx", ".parquet", ".json"}


def clean_frame(num_rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Honest, tidy data: two useful numbers, a noise column, a small category, a balanced text target."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=num_rows)
    x2 = rng.uniform(0, 10, size=num_rows)
    colour = rng.choice(["red", "green", "blue"], size=num_rows).astype(object)
    score = x1 + 0.2 * (x2 - 5) + np.where(colour == "red", 0.5, 0.0) + rng.normal(scale=0.8, size=num_rows)
    label = np.where(score > 0.1, "yes", "no").astype(object)
    return pd.DataFrame({"x1": x1, "x2": x2, "noise": rng.normal(size=num_rows), "colour": colour, "label": label})


def spec_for(target: str = "label", **data) -> RunSpec:
    return RunSpec(data=DataSpec(target=target, **data))


def kinds_of(findings: list[Finding]) -> set[tuple[str, str | None]]:
    return {(finding.kind, finding.column) for finding in findings}


def with_column(name: str, values) -> pd.DataFrame:
    frame = clean_frame()
    frame.insert(0, name, values)
    return frame


def _label_copy(noise: float, seed: int = 1) -> np.ndarray:
    frame = clean_frame()
    copy = (frame["label"] == "yes").to_numpy().astype(int)
    flipped = np.random.default_rng(seed).choice(len(copy), int(noise * len(copy)), replace=False)
    copy[flipped] = 1 - copy[flipped]
    return copy


def _duplicated(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[:120]], ignore_index=True)


def _imbalanced(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["label"] = np.where(np.arange(len(frame)) % 25 == 0, "fraud", "ok")
    return frame


# (finding kind, expected column, severity, frame builder); each frame is a clean frame with one problem.
CRAFTED = {
    "id_like": ("customer", "warning", lambda: with_column("customer", [f"C{i:06d}" for i in range(400)])),
    "id_like_counter": ("Unnamed: 0", "warning", lambda: with_column("Unnamed: 0", np.arange(400))),
    "constant": ("country", "info", lambda: with_column("country", ["US"] * 400)),
    "near_constant": ("country", "info", lambda: with_column("country", ["US"] * 399 + ["FR"])),
    "leak": ("paid", "warning", lambda: with_column("paid", _label_copy(0.01))),
    "duplicates": (None, "info", lambda: pd.concat([clean_frame(), clean_frame().iloc[:2]], ignore_index=True)),
    "duplicates_across_split": (None, "warning", lambda: _duplicated(clean_frame())),
    "class_imbalance": ("label", "warning", lambda: _imbalanced(clean_frame())),
    "high_cardinality": ("city", "warning", lambda: with_column("city", [f"city{i % 120}" for i in range(400)])),
    "mixed_types": (
        "height",
        "warning",
        lambda: with_column("height", pd.Series([str(i) for i in range(390)] + ["?", "-"] * 5, dtype=object)),
    ),
    "numbers_as_text": ("rooms", "warning", lambda: with_column("rooms", pd.Series([str(i % 6) for i in range(400)]))),
    "all_missing": ("notes", "info", lambda: with_column("notes", [np.nan] * 400)),
    "mostly_missing": ("bonus", "info", lambda: with_column("bonus", [np.nan] * 300 + list(np.linspace(0, 1, 100)))),
    "infinite_values": (
        "ratio",
        "warning",
        lambda: with_column("ratio", np.r_[np.inf, -np.inf, np.random.default_rng(5).normal(size=398)]),
    ),
    "free_text": (
        "review",
        "warning",
        lambda: with_column("review", [f"the room number {i} was clean and the staff friendly" for i in range(400)]),
    ),
    "datetime_text": (
        "visited",
        "info",
        lambda: with_column("visited", pd.date_range("2022-01-01", periods=400, freq="11h").strftime("%d/%m/%Y %H:%M")),
    ),
    # 100 shared codes: an ID a model would only memorise (a warning); fewer values stay an info.
    "group_candidate": ("patient_id", "warning", lambda: with_column("patient_id", [f"P{i // 4}" for i in range(400)])),
}


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DIR / "adult.csv")


def test_clean_frame_has_no_findings():
    assert assess_quality(clean_frame(), spec_for()) == []


def test_adult_has_no_errors_or_warnings(adult):
    # No wall-clock bound here: CI machines are shared (its speed is measured in bench/, not asserted).
    findings = assess_quality(adult, spec_for("income"))
    assert not [f for f in findings if f.severity != "info"], findings


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_each_problem_is_found_on_a_crafted_frame(case):
    column, severity, build = CRAFTED[case]
    kind = case.removesuffix("_counter")
    findings = assess_quality(build(), spec_for())
    matching = [f for f in findings if f.kind == kind and f.column == column]
    assert len(matching) == 1, findings
    assert matching[0].severity == severity
    assert not has_errors(findings)
    # The problem is one: the other crafted findings do not fire on it by accident.
    assert not [f for f in findings if f.severity == "error"]


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_fix_makes_the_finding_go_away(case):
    column, _, build = CRAFTED[case]
    kind = case.removesuffix("_counter")
    frame = build()
    spec = spec_for()
    finding = next(f for f in assess_quality(frame, spec) if f.kind == kind and f.column == column)
    if finding.fix is None:
        assert kind == "infinite_values"  # nothing to click: infinities are treated as missing
        return
    fixed = apply_fix(spec, finding.fix)
    assert fixed != spec
    assert (kind, column) not in kinds_of(assess_quality(frame, fixed))


def test_leak_flags_a_noisy_copy_of_the_target_but_not_honest_features():
    frame = clean_frame()
    frame["paid"] = _label_copy(0.01)
    frame["paid_text"] = np.where(_label_copy(0.005, seed=2) == 1, "paid", "open")
    frame["honest"] = (frame["x1"] > 0).astype(int)  # strong, but far from perfect
    leaks = {f.column for f in assess_quality(frame, spec_for()) if f.kind == "leak"}
    assert leaks == {"paid", "paid_text"}
    frame["paid"] = _label_copy(0.08)  # 92%: a strong feature, not a copy
    assert "paid" not in {f.column for f in assess_quality(frame, spec_for()) if f.kind == "leak"}


def test_leak_on_a_threshold_of_a_number():
    frame = clean_frame()
    frame["days_overdue"] = np.where(frame["label"] == "yes", 30.0, 0.0) + np.random.default_rng(0).uniform(
        0, 20, len(frame)
    )
    leak = [f for f in assess_quality(frame, spec_for()) if f.kind == "leak"]
    assert [f.column for f in leak] == ["days_overdue"]
    assert "'days_overdue' alone predicts 'label'" in leak[0].message


def test_leak_in_regression_by_correlation_and_by_groups():
    frame = make_regression_frame(400)
    rng = np.random.default_rng(0)
    frame["price_with_tax"] = frame["price"] * 1.2 + rng.normal(scale=0.01 * frame["price"].std(), size=400)
    frame["price_band"] = pd.qcut(frame["price"], 200, labels=False).astype(str)
    leaks = {f.column: f.message for f in assess_quality(frame, spec_for("price")) if f.kind == "leak"}
    assert set(leaks) == {"price_with_tax", "price_band"}
    assert "correlation +1.000" in leaks["price_with_tax"]


def test_no_leak_is_claimed_for_a_near_constant_target():
    frame = clean_frame(1000)
    frame["label"] = np.where(np.arange(1000) < 990, "ok", "rare")
    frame["copy"] = frame["label"]
    assert "leak" not in {f.kind for f in assess_quality(frame, spec_for())}


def test_duplicates_say_how_many_would_straddle_the_split():
    frame = _duplicated(clean_frame())
    finding = next(f for f in assess_quality(frame, spec_for()) if f.kind == "duplicates_across_split")
    # 120 pairs, 30% held out: 2 * 120 * 0.3 * 0.7 = 50.4 held-out rows with a copy in training.
    assert "120 rows" in finding.message and "about 50 of the 156 validation and test rows" in finding.message
    assert finding.fix == make_fix("drop_duplicates")
    grouped = spec_for(group_column="colour")
    assert "duplicates_across_split" not in {f.kind for f in assess_quality(frame, grouped)}


def test_duplicates_count_only_the_columns_used():
    frame = _duplicated(clean_frame())
    frame["row"] = np.arange(len(frame)) * 7  # makes every row distinct, but is not a feature
    spec = spec_for(features=("x1", "x2", "noise", "colour"))
    assert "duplicates_across_split" in {f.kind for f in assess_quality(frame, spec)}


def test_imbalance_is_info_when_mild_and_gone_with_class_weights():
    frame = clean_frame(1000)
    frame["label"] = np.where(np.arange(1000) % 12 == 0, "yes", "no")  # 8.3%: ratio 11 → warning
    assert next(f for f in assess_quality(frame, spec_for()) if f.kind == "class_imbalance").severity == "warning"
    frame["label"] = np.where(np.arange(1000) % 20 == 0, "c", np.where(np.arange(1000) % 2 == 0, "a", "b"))
    finding = next(f for f in assess_quality(frame, spec_for()) if f.kind == "class_imbalance")
    assert finding.severity == "info" and "'c' only 50 (5.0%)" in finding.message
    balanced = RunSpec(data=DataSpec(target="label"), training=TrainingSpec(class_weight="balanced"))
    assert "class_imbalance" not in {f.kind for f in assess_quality(frame, balanced)}


def test_high_cardinality_follows_the_category_limits():
    frame = with_column("city", [f"city{i % 60}" for i in range(400)])
    finding = next(f for f in assess_quality(frame, spec_for()) if f.kind == "high_cardinality")
    assert finding.severity == "info" and "only the 50 most frequent" in finding.message
    raised = RunSpec(data=DataSpec(target="label"), preprocessing=PreprocessingSpec(max_categories=100))
    assert "high_cardinality" not in {f.kind for f in assess_quality(frame, raised)}
    per_column = RunSpec(
        data=DataSpec(target="label"),
        preprocessing=PreprocessingSpec(columns=(ColumnSpec(name="city", max_categories=10),)),
    )
    per_column_finding = next(f for f in assess_quality(frame, per_column) if f.kind == "high_cardinality")
    assert "only the 10 most frequent" in per_column_finding.message


def test_mixed_types_message_counts_the_values_that_fail():
    frame = with_column("height", pd.Series([str(i) for i in range(390)] + ["?", "-"] * 5, dtype=object))
    finding = next(f for f in assess_quality(frame, spec_for()) if f.kind == "mixed_types")
    assert "10 of its values are not numbers" in finding.message and "'?'" in finding.message
    assert finding.fix == Fix("coerce_numeric", "height", "Treat 'height' as numeric")


def test_target_problems_are_errors_that_block_training():
    frame = clean_frame()
    single = frame.assign(label="yes")
    assert ("target_single_class", "label") in kinds_of(assess_quality(single, spec_for()))
    assert has_errors(assess_quality(single, spec_for()))
    tiny = frame.iloc[:12]
    assert ("too_few_rows", None) in kinds_of(assess_quality(tiny, spec_for()))
    many = frame.assign(label=[f"class {i}" for i in range(400)])
    assert ("too_many_classes", "label") in kinds_of(assess_quality(many, spec_for()))
    assert ("target_not_found", "price") in kinds_of(assess_quality(frame, spec_for("price")))
    text_regression = spec_for(task="regression")
    assert ("target_not_numeric", "label") in kinds_of(assess_quality(frame, text_regression))
    ignored_everything = RunSpec(
        data=DataSpec(target="label", features=("x1",)),
        preprocessing=PreprocessingSpec(columns=(ColumnSpec(name="x1", role="ignore"),)),
    )
    assert ("no_features", None) in kinds_of(assess_quality(frame, ignored_everything))


def test_target_missing_values_and_rare_classes():
    frame = clean_frame()
    frame.loc[:9, "label"] = None
    frame.loc[10, "label"] = "maybe"
    findings = {f.kind: f for f in assess_quality(frame, spec_for())}
    assert findings["target_missing"].severity == "info" and "10 rows (2.5%)" in findings["target_missing"].message
    assert findings["rare_classes"].severity == "warning" and "'maybe': 1" in findings["rare_classes"].message
    assert not has_errors(list(findings.values()))


def test_regression_target_with_missing_and_infinite_values():
    frame = make_regression_frame(200)
    frame.loc[:4, "price"] = np.nan
    frame.loc[5, "price"] = np.inf
    finding = next(f for f in assess_quality(frame, spec_for("price")) if f.kind == "target_missing")
    assert finding.message.startswith("6 rows")


def test_spec_choices_are_honoured():
    frame = with_column("customer", [f"C{i:06d}" for i in range(400)])
    assert ("id_like", "customer") in kinds_of(assess_quality(frame, spec_for()))
    not_a_feature = spec_for(features=("x1", "x2", "colour"))
    assert ("id_like", "customer") not in kinds_of(assess_quality(frame, not_a_feature))
    ignored = RunSpec(
        data=DataSpec(target="label"),
        preprocessing=PreprocessingSpec(columns=(ColumnSpec(name="customer", role="ignore"),)),
    )
    assert ("id_like", "customer") not in kinds_of(assess_quality(frame, ignored))
    duplicated = _duplicated(clean_frame())
    assert not {"duplicates", "duplicates_across_split"} & {
        f.kind for f in assess_quality(duplicated, spec_for(drop_duplicates=True))
    }


def test_target_keyword_works_without_a_spec_and_profile_is_reused():
    frame = with_column("customer", [f"C{i:06d}" for i in range(400)])
    profile = profile_frame(frame, "label")
    assert kinds_of(assess_quality(frame, target="label", profile=profile)) == kinds_of(
        assess_quality(frame, spec_for())
    )
    # Without a target only the columns are checked.
    assert ("id_like", "customer") in kinds_of(assess_quality(frame))


def test_apply_fix_keeps_other_column_choices_and_drops_explicit_features():
    spec = RunSpec(
        data=DataSpec(target="label", features=("x1", "x2", "colour")),
        preprocessing=PreprocessingSpec(columns=(ColumnSpec(name="x2", scaling="minmax"),)),
    )
    ignored = apply_fix(spec, make_fix("ignore_column", "x2"))
    assert ignored.data.features == ("x1", "colour")
    assert ignored.preprocessing.column("x2").role == "ignore"
    assert ignored.preprocessing.column("x2").scaling == "minmax"
    assert spec.preprocessing.column("x2").role == "feature"  # the original is untouched
    coerced = apply_fix(ignored, make_fix("coerce_numeric", "colour"))
    assert coerced.preprocessing.column("colour").kind == "numeric"
    assert len(coerced.preprocessing.columns) == 2
    assert apply_fix(spec, make_fix("drop_duplicates")).data.drop_duplicates is True
    assert apply_fix(spec, make_fix("class_weights")).training.class_weight == "balanced"
    assert apply_fix(spec, make_fix("group_split", "colour")).data.group_column == "colour"
    assert apply_fix(spec, make_fix("use_datetime", "x1")).preprocessing.column("x1").kind == "datetime"
    last = RunSpec(data=DataSpec(target="label", features=("x1",)))
    assert apply_fix(last, make_fix("ignore_column", "x1")).data.features == ("x1",)  # never "all columns"


def test_messages_are_complete_sentences_from_the_catalogue():
    frames = [build() for _, _, build in CRAFTED.values()]
    findings = [f for frame in frames for f in assess_quality(frame, spec_for())]
    assert {f.kind for f in findings} <= set(KINDS)
    for finding in findings:
        assert "{" not in finding.message and finding.message.endswith((".", ")")), finding.message
        if finding.fix is not None:
            assert finding.fix.label and "{" not in finding.fix.label
    fields = {name for text in MESSAGES.values() for _, name, _, _ in string.Formatter().parse(text) if name}
    assert "column" in fields


def test_findings_are_sorted_errors_first():
    frame = with_column("customer", [f"C{i:06d}" for i in range(400)]).assign(label="same")
    severities = [f.severity for f in assess_quality(frame, spec_for())]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)
    assert severities[0] == "error"


def test_a_million_rows_take_seconds():
    rng = np.random.default_rng(0)
    num_rows = 1_000_000
    columns = {f"x{i}": rng.normal(size=num_rows) for i in range(16)}
    columns["city"] = pd.Series(rng.choice(["north", "south", "east", "west"], num_rows), dtype="str")
    columns["count"] = rng.integers(0, 30, num_rows)
    columns["id"] = np.arange(num_rows)
    columns["label"] = np.where(columns["x0"] + rng.normal(size=num_rows) > 0, "yes", "no")
    frame = pd.DataFrame(columns)
    findings = assess_quality(frame, spec_for())  # its speed is measured in bench/data_scale.py
    assert kinds_of(findings) == {("id_like", "id")}


def bad_input_files() -> list[str]:
    manifest = BAD_INPUTS / "MANIFEST.json"
    if not manifest.exists():
        return []
    return [e["file"] for e in json.loads(manifest.read_text()) if Path(e["file"]).suffix in TABLE_SUFFIXES]


@pytest.mark.skipif(not bad_input_files(), reason="../shared/bad_inputs is not present")
def test_every_loadable_bad_input_is_assessed_without_an_exception():
    assessed = {}
    for name in bad_input_files():
        try:
            frame = load_table_file(BAD_INPUTS / name).frame
        except DataError:
            continue
        # The Data page's default target, the last column, and none: profile and gate raise nothing but AppError.
        for target in {suggest_target(frame), str(frame.columns[-1]), None}:
            try:
                profile = profile_frame(frame, target)
                findings = assess_quality(frame, target=target, profile=profile)
            except AppError:
                continue
            assert all(isinstance(f, Finding) for f in findings)
        assessed[Path(name).name] = kinds_of(assess_quality(frame, target=str(frame.columns[-1])))
    expected = {
        "05_single_class_target.csv": "target_single_class",
        "06_all_nan_feature.csv": "all_missing",
        "08_10000_classes.csv": "too_many_classes",
        "17_inf_nan_tokens.csv": "mixed_types",
        "26_constant_features.csv": "constant",
        "27_id_like_column.csv": "id_like",
    }
    for file_name, kind in expected.items():
        if file_name in assessed:
            assert kind in {k for k, _ in assessed[file_name]}, (file_name, assessed[file_name])


def test_a_measurement_of_an_entity_is_not_taken_for_the_entity():
    from core.data.profiling import looks_like_group_name

    for name in ("customer", "patient_no", "user_name", "session_id", "account number", "CustomerID", "用户ID"):
        assert looks_like_group_name(name), name
    # A duration or a size of a session/household repeats too, but does not say who the row belongs to.
    for name in ("session_minutes", "household_size", "member_since", "customer_age", "price"):
        assert not looks_like_group_name(name), name
