"""Issue 13: numbers at float64's limits, ID and group-ID columns, class shares, and what limits a table's rows."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from core.data.profiling import profile_frame
from core.data.quality import apply_fix, assess_quality, has_errors
from core.data.reading import load_table_file
from core.spec import DataSpec, RunSpec

FLOAT64_MAX = "1.7976931348623157e308"


def numeric_extremes_csv(num_rows: int = 80) -> bytes:
    """A `25_numeric_extremes`-style table: whole numbers beyond int64, denormals, float64's largest number
    (both signs), one such number among ordinary ones, ordinary numbers and a 0/1 target."""
    lines = ["big_int,denormal,float_max,one_huge,huge_outlier,normal,y"]
    for i in range(num_rows):
        big = str(2**64 + i) if i % 3 else str(-(2**63) - 5 - i)
        denormal = "5e-324" if i % 2 else "2.2250738585072014e-308"
        float_max = FLOAT64_MAX if i % 2 else "-" + FLOAT64_MAX
        one_huge = FLOAT64_MAX if i == 0 else str(i)
        outlier = "1e30" if i % 20 == 0 else str(i % 7)
        lines.append(f"{big},{denormal},{float_max},{one_huge},{outlier},{i * 0.25},{(i // 2) % 2}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def extremes(tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("extremes") / "25_numeric_extremes.csv"
    path.write_bytes(numeric_extremes_csv())
    return load_table_file(path).frame


@pytest.mark.parametrize("target", ["y", "normal", "one_huge", "float_max", "denormal", "big_int"])
def test_numeric_extremes_profile_without_error_or_overflow(extremes, target):
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # an overflow or 0/0 would surface
        profile = profile_frame(extremes, target)
    for column in profile.columns:
        if column.histogram is not None:
            edges = np.array(column.histogram.edges)
            assert np.all(np.isfinite(edges)) and np.all(edges[1:] >= edges[:-1]), column
            assert sum(column.histogram.counts) > 0


def test_numeric_extremes_get_findings_with_clip_drop_and_log_fixes(extremes):
    spec = RunSpec(data=DataSpec(target="y"))
    findings = assess_quality(extremes, spec)
    by_column = {(f.kind, f.column): f for f in findings}
    assert {fix.action for fix in by_column["infinite_values", "float_max"].fixes} == {"drop_missing_rows"}
    assert {fix.action for fix in by_column["infinite_values", "one_huge"].fixes} == {"drop_missing_rows"}
    outlier = by_column["extreme_values", "huge_outlier"]
    assert [fix.action for fix in outlier.fixes] == ["clip_outliers", "log_scale"]
    assert "1e+30" in outlier.message
    assert {fix.action for fix in by_column["extreme_values", "big_int"].fixes} == {"ignore_column", "log_scale"}
    assert "1.84e+19" in by_column["extreme_values", "big_int"].message
    assert "too small to tell from 0" in by_column["extreme_values", "denormal"].message
    assert ("extreme_values", "normal") not in by_column
    for finding in findings:
        if finding.kind in {"extreme_values", "infinite_values"}:
            for fix in finding.fixes:
                fixed = apply_fix(spec, fix)
                assert (finding.kind, finding.column) not in {
                    (f.kind, f.column) for f in assess_quality(extremes, fixed)
                }


def test_ordinary_large_numbers_are_not_extreme():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"population": rng.integers(1_000, 2_000_000_000, 300), "y": rng.integers(0, 2, 300)})
    assert not [f for f in assess_quality(frame, target="y") if f.kind == "extreme_values"]


def test_numeric_extremes_regression_target_gives_findings_not_errors(extremes):
    spec = RunSpec(data=DataSpec(target="one_huge", features=("normal", "huge_outlier")))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        findings = assess_quality(extremes, spec)
    assert not has_errors(findings)


def test_numeric_extremes_csv_reads_as_numbers():
    frame = pd.read_csv(io.BytesIO(numeric_extremes_csv()))
    assert frame["float_max"].abs().max() == float(FLOAT64_MAX)


def test_class_shares_are_over_all_labelled_rows_with_an_other_classes_remainder():
    # 60 classes: 5 of 100 rows each, then 55 of 10 rows each (1,050 labelled rows), and 50 unlabelled rows.
    labels = [f"big{i}" for i in range(5) for _ in range(100)] + [f"small{i}" for i in range(55) for _ in range(10)]
    frame = pd.DataFrame({"x": np.arange(1100.0), "kind": labels + [None] * 50})
    target = profile_frame(frame, "kind").target
    assert target.labelled_count == 1050
    shares = target.class_shares(5)
    assert [name for name, _, _ in shares[:5]] == [f"big{i}" for i in range(5)]
    assert all(share == pytest.approx(100 / 1050) for _, _, share in shares[:5])
    assert shares[5] == ("55 other classes", 550, pytest.approx(550 / 1050))
    assert sum(share for _, _, share in shares) == pytest.approx(1.0)


def test_class_shares_of_few_classes_have_no_remainder():
    target = profile_frame(pd.DataFrame({"x": range(4), "y": ["a", "b", "a", "a"]}), "y").target
    assert target.class_shares(5) == [("a", 3, 0.75), ("b", 1, 0.25)]


def _one_sparse_input(num_rows: int = 5000) -> pd.DataFrame:
    """5,000 rows; 'x' has a value in 4 of them, 'other' in all; a 0/1 target."""
    rng = np.random.default_rng(0)
    x = np.full(num_rows, np.nan)
    x[[10, 20, 30, 40]] = [1.0, 2.0, 3.0, 4.0]
    return pd.DataFrame({"x": x, "other": rng.normal(size=num_rows), "y": rng.integers(0, 2, num_rows)})


def _too_few_rows(frame: pd.DataFrame, spec: RunSpec) -> str:
    return next(f.message for f in assess_quality(frame, spec) if f.kind == "too_few_rows")


def test_drop_duplicates_with_one_sparse_input_left_names_that_input():
    from core.data.splitting import prepare_data
    from core.errors import DataError

    frame = _one_sparse_input()
    spec = RunSpec(data=DataSpec(target="y", features=("x",), drop_duplicates=True))
    message = _too_few_rows(frame, spec)
    assert "only 4 rows have a value in 'x' (the only input left)" in message
    assert "5,000" in message and "duplicate" in message
    with pytest.raises(DataError) as raised:
        prepare_data(frame, spec.data, spec.preprocessing)
    assert raised.value.message == message


def test_drop_rows_on_the_only_sparse_input_names_that_input():
    from core.spec import ColumnSpec, PreprocessingSpec

    frame = _one_sparse_input()
    preprocessing = PreprocessingSpec(columns=(ColumnSpec(name="x", missing="drop_rows"),))
    spec = RunSpec(data=DataSpec(target="y", features=("x",)), preprocessing=preprocessing)
    message = _too_few_rows(frame, spec)
    assert "only 4 of the 5,000 rows with a target have a value in 'x' ('x' is the only input left)" in message
    assert "Fill the missing values" in message


def test_missing_targets_are_named_as_the_limit():
    frame = _one_sparse_input()
    frame["y"] = frame["x"]
    message = _too_few_rows(frame, RunSpec(data=DataSpec(target="y", features=("other",))))
    assert "only 4 of its 5,000 rows have a value in the target 'y'" in message


def test_a_sparse_input_alone_is_not_too_few_rows():
    spec = RunSpec(data=DataSpec(target="y", features=("x",)))  # missing values are filled in
    assert "too_few_rows" not in {f.kind for f in assess_quality(_one_sparse_input(), spec)}


def road_crashes(num_cases: int = 300, seed: int = 0) -> pd.DataFrame:
    """One row per vehicle in a crash: caseid repeats 1-3 times (vehicles of one crash), vehicle_no is the
    vehicle's registration code, city a place name with many values, and the target the driver's injury."""
    rng = np.random.default_rng(seed)
    per_case = rng.integers(1, 4, num_cases)
    caseid = np.repeat(np.arange(2019000, 2019000 + num_cases), per_case)
    rows = len(caseid)
    cities = [f"{a}{b}" for a in ("North", "South", "East", "West", "Port", "Lake") for b in ("ham", "ford", "ton", "by", "wick", "field", "bury", "mouth", "stead", "worth")]  # fmt: skip
    return pd.DataFrame(
        {
            "caseid": caseid,
            "vehicle_no": [f"V{number:06d}" for number in rng.permutation(900_000)[:rows]],
            "city": rng.choice(cities, rows),
            "speed": rng.normal(50, 15, rows).round(),
            "age": rng.integers(18, 90, rows),
            "injured": rng.choice(["none", "slight", "serious"], rows),
        }
    )


def test_road_crash_ids_are_called_ids_and_city_is_not():
    frame = road_crashes()
    spec = RunSpec(data=DataSpec(target="injured"))
    findings = assess_quality(frame, spec)
    by_column = {f.column: f for f in findings if f.column is not None}
    case = by_column["caseid"]
    assert case.severity == "warning" and "identifier that several rows share" in case.message
    assert [fix.action for fix in case.fixes] == ["ignore_column", "group_split"]
    assert by_column["vehicle_no"].kind == "id_like"
    assert [fix.action for fix in by_column["vehicle_no"].fixes] == ["ignore_column"]
    offered = {(f.column, fix.action) for f in findings for fix in f.fixes}
    for column in ("caseid", "vehicle_no"):
        assert not {(column, "use_embedding"), (column, "use_hashing")} & offered, findings
    assert by_column["city"].kind == "high_cardinality"
    assert {"city", "speed", "age"}.isdisjoint({f.column for f in findings if f.kind in {"id_like", "group_candidate"}})


def test_group_split_fix_makes_caseid_the_group_column_and_not_an_input():
    frame = road_crashes()
    spec = RunSpec(data=DataSpec(target="injured"))
    case = next(f for f in assess_quality(frame, spec) if f.column == "caseid")
    fixed = apply_fix(spec, case.fixes[1])
    assert fixed.data.group_column == "caseid"
    assert fixed.preprocessing.column("caseid").role == "ignore"
    assert "caseid" not in {f.column for f in assess_quality(frame, fixed)}
    ignored = apply_fix(spec, case.fixes[0])
    assert ignored.data.group_column is None and "caseid" not in {f.column for f in assess_quality(frame, ignored)}


@pytest.mark.parametrize("name", ["caseid", "CaseID", "case_no", "order_id", "编号"])
def test_group_id_names_are_recognised(name):
    frame = road_crashes().rename(columns={"caseid": name})
    assert any(f.column == name and f.kind == "group_candidate" for f in assess_quality(frame, target="injured"))


def test_an_unnamed_counter_shared_by_rows_is_a_group_id_but_age_is_not():
    frame = road_crashes(num_cases=600).rename(columns={"caseid": "ref"})
    flagged = {f.column for f in assess_quality(frame, target="injured") if f.kind == "group_candidate"}
    assert "ref" in flagged and "age" not in flagged


def test_a_yes_no_column_named_like_a_group_is_not_a_group_id():
    """'union_member' (2 values, 1,000 rows each) was offered as the split's group column in a browser walk."""
    import numpy as np
    import pandas as pd

    from core.data.quality import assess_quality
    from core.spec import DataSpec, RunSpec

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "union_member": rng.choice(["yes", "no"], 2000),
            "hours": rng.normal(40, 5, 2000),
            "wage": rng.normal(20, 3, 2000),
        }
    )
    findings = assess_quality(frame, RunSpec(data=DataSpec(target="wage")))
    assert not [f for f in findings if f.column == "union_member" and f.kind == "group_candidate"], findings
