"""The sidebar's language picker: English by default, Chinese when picked, remembered for the same browser.

(In AppTest the runs after the first do not show app.py's sidebar, so the sidebar is read on first runs only.)"""

import json

from streamlit.testing.v1 import AppTest

import ui.identity
from core.i18n import get_language, t, use_language
from tests.app.test_pages import APP, RUN_TIMEOUT_S

OWNER = "same-browser-language"


def _sidebar_captions(at: AppTest) -> list[str]:
    return [c.value for c in at.sidebar.caption]


def test_english_by_default_and_picking_chinese_sets_the_sessions_language(app_env, monkeypatch):
    monkeypatch.setattr(ui.identity, "browser_identity", lambda: OWNER + "-a")
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="sidebar.language").value == "en"
    assert at.selectbox(key="sidebar.language").options == ["English", "中文"]
    assert t("ui.sidebar.tagline") in _sidebar_captions(at)
    saved = json.loads((app_env / "sessions" / f"{OWNER}-a.json").read_text(encoding="utf-8"))
    assert saved["language"] is None  # the browser's language: nothing chosen yet

    at.selectbox(key="sidebar.language").set_value("zh").run()
    assert not at.exception, at.exception
    assert at.session_state["layerlab"].memory.language == "zh"
    assert get_language() == "en"  # the test's own thread is untouched


def test_a_remembered_choice_comes_back_in_the_same_browser(app_env, monkeypatch):
    monkeypatch.setattr(ui.identity, "browser_identity", lambda: OWNER + "-b")
    sessions = app_env / "sessions"
    sessions.mkdir(exist_ok=True)
    (sessions / f"{OWNER}-b.json").write_text(json.dumps({"table": None, "run": None, "language": "zh"}))
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="sidebar.language").value == "zh"
    with use_language("zh"):
        assert t("ui.sidebar.tagline") in _sidebar_captions(at)
    saved = json.loads((sessions / f"{OWNER}-b.json").read_text(encoding="utf-8"))
    assert saved["language"] == "zh"
