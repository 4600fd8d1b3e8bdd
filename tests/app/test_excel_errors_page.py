"""Issue 13, point 11: a broken workbook is one message on the Data page, naming the uploaded file."""

from streamlit.testing.v1 import AppTest

from tests.app.test_pages import APP, RUN_TIMEOUT_S


def test_a_broken_workbook_is_one_error_box_with_its_own_name(app_env):
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    at.run()
    at.radio(key="data.source").set_value("Upload a file").run()
    at.file_uploader(key="data.upload").set_value(("sales.xlsx", b"PK\x03\x04 not really a workbook", "text/plain"))
    at.run()
    assert not at.exception, at.exception
    assert len(at.error) == 1, [e.value for e in at.error]
    assert "sales.xlsx" in at.error[0].value
