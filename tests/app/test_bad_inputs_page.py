"""Every table file in ../shared/bad_inputs ends on the Data page as a loaded table or a clear message."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.test_pages import APP, RUN_TIMEOUT_S

BAD_INPUTS = Path(__file__).resolve().parents[3] / "shared" / "bad_inputs"
TABLE_SUFFIXES = {".csv", ".xlsx", ".parquet", ".json"}


def manifest_files() -> list[str]:
    if not (BAD_INPUTS / "MANIFEST.json").exists():
        return []
    entries = json.loads((BAD_INPUTS / "MANIFEST.json").read_text())
    return [e["file"] for e in entries if Path(e["file"]).suffix in TABLE_SUFFIXES]


@pytest.mark.skipif(not manifest_files(), reason="../shared/bad_inputs is not present")
@pytest.mark.parametrize("name", manifest_files())
def test_bad_input_file_gives_table_or_clear_message(app_env, name):
    path = BAD_INPUTS / name
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    at.run()
    at.radio(key="data.source").set_value("Upload a file").run()
    at.file_uploader(key="data.upload").set_value((path.name, path.read_bytes(), "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    loaded = bool(at.metric) and at.metric[0].label == "Rows"
    assert loaded or errors, f"{name}: neither a table nor a message"
    for message in errors:
        assert "Traceback" not in message
        assert len(message) > 40, f"{name}: message too terse to act on: {message!r}"
    if "root:" in str(path.read_bytes()) or name.endswith("xxe_external_entity.xlsx"):
        page_text = " ".join(str(getattr(e, "value", "")) for e in at.main)
        assert "root:x:0:0" not in page_text


def test_numeric_extremes_upload_shows_profile_and_findings_not_a_traceback(app_env):
    from tests.unit.test_quality_issue13 import numeric_extremes_csv

    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    at.run()
    at.radio(key="data.source").set_value("Upload a file").run()
    at.file_uploader(key="data.upload").set_value(("25_numeric_extremes.csv", numeric_extremes_csv(), "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert at.metric[0].label == "Rows" and at.metric[0].value == "80"
    for column in ("float_max", "big_int", "denormal"):  # their histograms span float64's whole range
        at.selectbox(key="profile.column").set_value(column).run()
        assert not at.exception, at.exception
    at.switch_page("pages/prepare.py").run()
    assert not at.exception, at.exception
    shown = " ".join(str(e.value) for e in [*at.warning, *at.error, *at.info])
    assert "Too many bins" not in shown
    assert "infinite (or too large) values" in shown and "too small to tell from 0" in shown
