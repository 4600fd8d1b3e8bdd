"""The quality gate offers hashing for many categories and asks for the day/month order of ambiguous dates."""

import numpy as np
import pandas as pd

from core.data.quality import apply_fix, assess_quality
from core.data.splitting import prepare_data
from core.spec import ColumnSpec, DataSpec, PreprocessingSpec, RunSpec


def table(rows: int = 400, dates: list[str] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    days = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 12, rows), unit="D")
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "city": [f"town {i}" for i in rng.integers(0, 300, rows)],
            "when": dates * (rows // len(dates)) if dates else days.strftime("%m/%d/%Y"),  # days <= 12: ambiguous
            "label": rng.choice(["yes", "no"], rows),
        }
    )


def spec(*columns: ColumnSpec) -> RunSpec:
    return RunSpec(data=DataSpec(target="label"), preprocessing=PreprocessingSpec(columns=columns))


def finding(frame: pd.DataFrame, run_spec: RunSpec, kind: str, column: str):
    return next((f for f in assess_quality(frame, run_spec) if f.kind == kind and f.column == column), None)


def test_high_cardinality_offers_embedding_and_hashing_and_hashing_trains_in_fixed_width():
    frame = table()
    many = finding(frame, spec(), "high_cardinality", "city")
    assert [fix.action for fix in many.fixes] == ["use_embedding", "use_hashing"]
    assert "hashing" in many.message
    assert many.to_dict()["more_fixes"][0]["label"] == "Hash 'city' into buckets"
    hashed = apply_fix(spec(), many.more_fixes[0])
    assert hashed.preprocessing.column("city").encoding == "hashing"
    assert finding(frame, hashed, "high_cardinality", "city") is None
    prepared = prepare_data(frame, hashed.data, hashed.preprocessing)
    names = prepared.preprocessing.feature_names
    assert sum(name.startswith("city#bucket") for name in names) == 64
    assert prepared.x_train.shape[1] == len(names)
    block = prepared.x_test[:, [i for i, name in enumerate(names) if name.startswith("city#")]]
    assert np.all(block.sum(axis=1) == 1.0)  # every row, towns never seen in training included, has one bucket


def test_ambiguous_text_dates_ask_for_the_order_once_they_are_dates():
    frame = table()
    as_text = finding(frame, spec(), "datetime_text", "when")
    assert "do not show whether the day or the month comes first" in as_text.message
    dated = apply_fix(spec(), as_text.fix)
    order = finding(frame, dated, "date_order", "when")
    assert order.severity == "info" and "month first" in order.message
    assert [fix.action for fix in order.fixes] == ["dates_dayfirst", "dates_monthfirst"]
    dayfirst = apply_fix(dated, order.fixes[0])
    assert dayfirst.preprocessing.column("when").dayfirst is True
    assert dayfirst.preprocessing.column("when").kind == "datetime"
    assert finding(frame, dayfirst, "date_order", "when") is None
    assert apply_fix(dated, order.fixes[1]).preprocessing.column("when").dayfirst is False
    # The choice reaches training: 01/12/2024 is 1 December read day first, 12 January month first.
    for fixed, months in ((dayfirst, {12}), (apply_fix(dated, order.fixes[1]), {1})):
        one = frame.assign(when="01/12/2024")
        (column,) = [
            c for c in prepare_data(one, fixed.data, fixed.preprocessing).preprocessing.columns if c.name == "when"
        ]
        assert {round(column.centers[1])} == months


def test_dates_that_prove_their_order_raise_nothing_and_contradictions_warn():
    proven = table(dates=["25/04/2024", "03/04/2024"])
    as_text = finding(proven, spec(), "datetime_text", "when")
    assert as_text is not None and "day or the month" not in as_text.message
    assert finding(proven, spec(ColumnSpec(name="when", kind="datetime")), "date_order", "when") is None
    mixed = table(dates=["25/04/2024", "04/25/2024"])
    warning = finding(mixed, spec(ColumnSpec(name="when", kind="datetime")), "date_order", "when")
    assert warning.severity == "warning"
    assert "'25/04/2024'" in warning.message and "'04/25/2024'" in warning.message
