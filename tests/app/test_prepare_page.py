"""The Prepare page: the quality gate's one-click fixes and the per-column form change what is trained."""

import json

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from core.plain_text import markdown_literal
from tests.app.test_pages import APP, RUN_TIMEOUT_S, texts, wait_for_run


def upload(at: AppTest, frame: pd.DataFrame, name: str = "leaky.csv") -> None:
    at.run()
    at.radio(key="data.source").set_value("Upload a file").run()
    at.file_uploader(key="data.upload").set_value((name, frame.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception, at.exception


def leaky_frame(rows: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    x = rng.normal(size=rows)
    label = np.where(x + rng.normal(0, 1, rows) > 0, "yes", "no")
    return pd.DataFrame({"x": x, "noise": rng.normal(size=rows), "outcome_code": label, "label": label})


def test_leak_is_flagged_and_one_click_ignores_the_column_for_training(app_env):
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    upload(at, leaky_frame())
    at.switch_page("pages/prepare.py").run()
    assert not at.exception, at.exception
    warnings = " ".join(w.value for w in at.warning)
    shown = markdown_literal("outcome_code")  # messages are Markdown with the names escaped
    assert shown in warnings
    fix = next(b for b in at.button if shown in str(b.label) and "Ignore" in str(b.label))
    fix.click().run()
    assert not at.exception, at.exception
    assert shown not in " ".join(w.value for w in at.warning)
    spec = at.session_state["layerlab"].run_spec()
    assert spec.preprocessing.column("outcome_code").role == "ignore"

    at.switch_page("pages/train.py").run()
    at.number_input(key="train.epochs").set_value(2)
    at.button(key="train.start").click().run()
    assert wait_for_run(at) == "finished"
    run_id = at.session_state["layerlab"].run_id
    from ui.services import run_store

    assert "outcome_code" not in run_store().metrics(run_id)["features"]
    assert run_store().metrics(run_id)["test"]["accuracy"] < 0.95  # the honest score, not the leaked one


def test_column_form_choices_reach_the_spec(app_env):
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    upload(at, leaky_frame(), "plain.csv")
    at.switch_page("pages/prepare.py").run()
    assert not at.exception, at.exception
    assert "Columns" in [h.value for h in at.subheader]
    at.checkbox(key="prepare.drop_duplicates").check().run()
    at.number_input(key="prepare.folds").set_value(3).run()
    spec = at.session_state["layerlab"].run_spec()
    assert spec.data.drop_duplicates is True
    assert spec.data.cross_validation_folds == 3
    assert "fitted on the training rows only" in texts(at)


def test_a_clean_table_gets_one_all_clear(app_env):
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    rng = np.random.default_rng(2)
    x = rng.normal(size=300)
    frame = pd.DataFrame(
        {"x": x, "y": rng.normal(size=300), "label": np.where(x + rng.normal(0, 1, 300) > 0, "a", "b")}
    )
    upload(at, frame, "clean.csv")
    at.switch_page("pages/prepare.py").run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [
        "No problems found: no ID-like, constant or leaking columns, no duplicates, no mixed types."
    ]
    assert not at.warning and not at.error


def test_periodic_features_of_the_number_columns_reach_the_spec_and_the_model_summary(app_env):
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    upload(at, leaky_frame())
    at.switch_page("pages/prepare.py").run()
    choice = next(s for s in at.selectbox if s.label == "Number columns into the network")
    assert choice.value == "none" and choice.options == [
        "one standardised value each",
        "also periodic features (learned)",
    ]
    choice.set_value("periodic").run()
    assert not at.exception, at.exception
    frequencies = next(n for n in at.number_input if n.label == "Frequencies per column")
    assert (frequencies.value, frequencies.min, frequencies.max) == (24, 1, 64)  # the spec's Field
    frequencies.set_value(6).run()
    preprocessing = at.session_state["layerlab"].run_spec().preprocessing
    assert (preprocessing.numeric_embedding, preprocessing.periodic_frequencies) == ("periodic", 6)

    at.switch_page("pages/model.py").run()
    assert not at.exception, at.exception
    summary = next(f.value for f in at.dataframe if "periodic_1_frequencies" in set(f.value.iloc[:, 0]))
    rows = summary.set_index(summary.columns[0])
    # One branch per number column (x and noise): 6 frequencies, then 16 outputs from sin and cos (2 × 6 + 1) × 16.
    assert rows.loc["periodic_1_frequencies", "params"] == 6 and rows.loc["periodic_1", "params"] == 208
    assert "periodic_2" in rows.index and "periodic_3" not in rows.index
    # The diagram draws the side branches as one box, not as a chain of twelve.
    charts = " ".join(
        note.get("text", "")
        for chart in at.get("plotly_chart")
        for note in json.loads(chart.proto.spec)["layout"].get("annotations", [])
    )
    assert "Periodic features</b> · 2 number columns: 6 frequencies → 16 each" in charts
    assert "periodic_1" not in charts
