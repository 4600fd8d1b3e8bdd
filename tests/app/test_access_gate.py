"""The access code and sign-in gates as a visitor meets them (AppTest)."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.shared_mode.access import reset_access_gate

APP = str(Path(__file__).resolve().parents[2] / "app.py")
# A guard against a hung script, not a speed bound: with the suite on two processes, a page's first run in a
# fresh process (imports, the sample table) can take well over 30 s on a loaded 2-core machine.
RUN_TIMEOUT_S = 300
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-long-random-string",
    "client_id": "layerlab",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "https://login.example.org/.well-known/openid-configuration",
}


def gated_page(owner: str = "visitor-1") -> None:
    import streamlit as st

    from ui.gate import require_access, require_login

    require_login()
    require_access(owner)
    st.markdown("The page itself")


def new_gated_page(owner: str = "visitor-1") -> AppTest:
    return AppTest.from_function(gated_page, kwargs={"owner": owner}, default_timeout=RUN_TIMEOUT_S)


def shown(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [t.value for t in at.title]
    return "\n".join(str(part) for part in parts)


def type_code(at: AppTest, code: str) -> AppTest:
    at.text_input(key="gate.code").input(code)
    return at.button(key="gate.submit").click().run()


@pytest.fixture
def access_code(app_env, monkeypatch):
    monkeypatch.setenv("LAYERLAB_ACCESS_CODE", "orchid-42")
    reset_access_gate()
    yield "orchid-42"
    reset_access_gate()


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)


def test_the_app_shows_only_the_gate_then_the_data_page_after_the_right_code(access_code):
    at = new_app().run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["LayerLab"]
    assert "Data" not in [t.value for t in at.title]
    assert not at.radio and not at.file_uploader

    type_code(at, "not-it")
    assert "That is not the access code" in shown(at)
    assert [t.value for t in at.title] == ["LayerLab"]

    type_code(at, access_code)
    assert not at.exception, at.exception
    assert "Data" in [t.value for t in at.title]
    assert "gate.code" not in [w.key for w in at.text_input]


def test_the_app_throttles_the_sixth_attempt_after_five_wrong_codes(access_code):
    at = new_app().run()
    for _ in range(5):
        type_code(at, "guess")
    type_code(at, access_code)
    assert re.search(r"Too many attempts; try again in (2\d|30) seconds\.", shown(at))  # 30 s, less the time taken
    assert "Data" not in [t.value for t in at.title]


def test_without_a_code_the_app_opens_on_the_data_page(app_env, monkeypatch):
    monkeypatch.delenv("LAYERLAB_ACCESS_CODE", raising=False)
    at = new_app().run()
    assert not at.exception, at.exception
    assert "Data" in [t.value for t in at.title]
    assert "gate.code" not in [w.key for w in at.text_input]


def test_without_a_code_the_gate_never_appears(app_env, monkeypatch):
    monkeypatch.delenv("LAYERLAB_ACCESS_CODE", raising=False)
    at = new_gated_page().run()
    assert not at.exception, at.exception
    assert "The page itself" in shown(at)
    assert not at.text_input


def test_the_gate_hides_the_page_until_the_right_code(access_code):
    at = new_gated_page().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "LayerLab"
    assert "organiser" in shown(at)
    assert at.text_input(key="gate.code").proto.type == at.text_input(key="gate.code").proto.PASSWORD
    assert "The page itself" not in shown(at)

    type_code(at, "orchid-41")
    assert "That is not the access code" in shown(at)
    assert "orchid" not in shown(at)
    assert "The page itself" not in shown(at)

    type_code(at, access_code)
    assert not at.exception, at.exception
    assert "The page itself" in shown(at)
    assert not at.text_input


def test_a_visitor_who_typed_the_code_is_not_asked_again(access_code):
    type_code(new_gated_page(owner="visitor-2").run(), access_code)
    again = new_gated_page(owner="visitor-2").run()  # a reload: a new session, the same browser identity
    assert "The page itself" in shown(again)
    other = new_gated_page(owner="visitor-3").run()
    assert "The page itself" not in shown(other)


def test_five_wrong_codes_throttle_the_sixth_attempt_even_if_right(access_code):
    at = new_gated_page().run()
    for _ in range(5):
        type_code(at, "guess")
    assert re.search(r"Too many attempts; try again in (2\d|30) seconds\.", shown(at))  # 30 s, less the time taken
    type_code(at, access_code)
    assert re.search(r"Too many attempts; try again in (2\d|30) seconds\.", shown(at))  # 30 s, less the time taken
    assert "That is not the access code" not in shown(at)
    assert "The page itself" not in shown(at)


def test_required_sign_in_shows_only_a_sign_in_button(app_env, monkeypatch):
    monkeypatch.delenv("LAYERLAB_ACCESS_CODE", raising=False)
    monkeypatch.setenv("LAYERLAB_REQUIRE_LOGIN", "1")
    at = new_gated_page()
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception, at.exception
    assert at.button(key="gate.sign_in").label == "Sign in"
    assert "The page itself" not in shown(at)


def test_a_signed_in_user_sees_the_page_and_a_sign_out_button(app_env, monkeypatch):
    monkeypatch.delenv("LAYERLAB_ACCESS_CODE", raising=False)
    monkeypatch.setenv("LAYERLAB_REQUIRE_LOGIN", "1")
    at = new_gated_page()
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "name": "Ada Lovelace", "sub": "1815", "iss": "https://login.example.org"}
    at.run()
    assert not at.exception, at.exception
    assert "The page itself" in shown(at)
    assert at.sidebar.button(key="gate.sign_out").label == "Sign out"
    assert "Signed in as Ada Lovelace" in [c.value for c in at.sidebar.caption]


def test_optional_sign_in_is_offered_in_the_sidebar(app_env, monkeypatch):
    monkeypatch.delenv("LAYERLAB_ACCESS_CODE", raising=False)
    monkeypatch.delenv("LAYERLAB_REQUIRE_LOGIN", raising=False)
    at = new_gated_page()
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.run()
    assert "The page itself" in shown(at)
    assert at.sidebar.button(key="gate.sign_in").label == "Sign in"


def test_required_sign_in_without_auth_settings_lets_nobody_in(app_env, monkeypatch):
    monkeypatch.delenv("LAYERLAB_ACCESS_CODE", raising=False)
    monkeypatch.setenv("LAYERLAB_REQUIRE_LOGIN", "1")
    at = new_gated_page().run()
    assert not at.exception, at.exception
    assert "no `[auth]` section" in shown(at)
    assert "The page itself" not in shown(at)


def test_without_auth_settings_sign_in_is_never_offered(app_env, monkeypatch):
    monkeypatch.delenv("LAYERLAB_ACCESS_CODE", raising=False)
    monkeypatch.delenv("LAYERLAB_REQUIRE_LOGIN", raising=False)
    at = new_gated_page().run()
    assert "The page itself" in shown(at)
    assert not at.button
