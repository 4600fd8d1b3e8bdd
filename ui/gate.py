"""What stands before the pages: an optional access code and an optional organisation sign-in (OIDC).

`app.py` calls `require_login()` then `require_access(owner)` before the chosen page runs; each either
returns (the visitor may go on) or draws its small form and stops the run.
"""

from __future__ import annotations

import os

import streamlit as st
from streamlit.errors import StreamlitAPIException, StreamlitAuthError

from core.i18n import t
from core.plain_text import markdown_literal
from core.shared_mode.access import access_gate
from ui.streamlit_private import leave_pages_folder_mode

REQUIRE_LOGIN_VARIABLE = "LAYERLAB_REQUIRE_LOGIN"
LOCAL_CLIENT = "local"


def client_key() -> str:
    """The key failed attempts are counted under: the visitor's IP address.

    Streamlit reports no address for a connection from this machine; that is a local visitor or a reverse
    proxy on the same host. Such a proxy appends the address it saw as the last `X-Forwarded-For` entry (an
    earlier entry can be made up by the client, the last one cannot), so that entry tells visitors apart.
    """
    address = st.context.ip_address
    if isinstance(address, str) and address:  # AppTest's stand-in client reports a mock, not a string
        return address
    forwarded = st.context.headers.get("X-Forwarded-For")
    if isinstance(forwarded, str) and forwarded.split(",")[-1].strip():
        return forwarded.split(",")[-1].strip()
    return LOCAL_CLIENT


def _stop_before_pages() -> None:
    # Streamlit starts an app that has a `pages/` folder in its legacy folder mode, in which a page's URL
    # runs that file alone, without app.py and so without this gate; it leaves the mode only once a run
    # calls st.navigation, which a run stopped here never reaches. (Calling st.navigation here instead
    # would greet a bookmarked /train with "Page not found".)
    leave_pages_folder_mode()
    st.stop()


def require_access(owner: str) -> None:
    """Ask for the access code unless none is configured or this owner id has already typed it.

    Args:
        owner: the server-issued identity of this browser (`ui.identity.session_owner()`); a visitor who
            typed the right code is not asked again from the same browser until the pass expires.
    """
    gate = access_gate()
    if gate is None or gate.has_passed(owner):
        return
    st.title(t("deploy.gate.title"))
    st.write(t("deploy.gate.intro"))
    with st.form("gate.form", clear_on_submit=True, enter_to_submit=True):
        typed = st.text_input(t("deploy.gate.code"), type="password", key="gate.code")
        submitted = st.form_submit_button(t("deploy.gate.continue"), type="primary", key="gate.submit")
    if submitted:
        attempt = gate.attempt(client=client_key(), owner=owner, typed=typed)
        if attempt.outcome == "allowed":
            st.rerun()
        if attempt.outcome == "wrong":
            if attempt.retry_after_s:
                st.error(t("deploy.gate.wrong_and_wait", seconds=attempt.retry_after_s))
            else:
                st.error(t("deploy.gate.wrong"))
        else:
            st.error(t("deploy.gate.too_many", seconds=attempt.retry_after_s))
    _stop_before_pages()


def login_configured() -> bool:
    """Whether `.streamlit/secrets.toml` has an `[auth]` section (Streamlit's built-in OIDC sign-in)."""
    try:
        return "auth" in st.secrets
    except (StreamlitAPIException, FileNotFoundError):  # no secrets file, or one that does not parse
        return False


def login_required() -> bool:
    """Whether the organiser made sign-in mandatory (`LAYERLAB_REQUIRE_LOGIN=1`)."""
    return os.environ.get(REQUIRE_LOGIN_VARIABLE, "0").strip().lower() in {"1", "true", "yes", "on"}


def _start_login() -> None:
    try:
        st.login()
    except StreamlitAuthError as error:
        # Said to the organiser who configured it (a missing key, or Authlib not installed), never a secret.
        st.error(t("deploy.gate.login_broken", error=markdown_literal(error)))


def require_login() -> None:
    """Sign-in through the organisation's OIDC provider when `.streamlit/secrets.toml` configures it.

    With `LAYERLAB_REQUIRE_LOGIN=1` a visitor who is not signed in sees only a "Sign in" button; without it
    sign-in is offered in the sidebar. A signed-in user gets a "Sign out" button in the sidebar. If sign-in
    is required but `[auth]` is missing, nobody gets in: the organiser asked for it, so failing open would
    be wrong.
    """
    configured = login_configured()
    required = login_required()
    if not configured:
        if required:
            st.title(t("deploy.gate.title"))
            st.error(t("deploy.gate.login_missing", variable=REQUIRE_LOGIN_VARIABLE))
            _stop_before_pages()
        return
    if st.user.get("is_logged_in", False):
        with st.sidebar:
            name = st.user.get("name") or st.user.get("email")
            if name:
                st.caption(t("deploy.gate.signed_in", name=markdown_literal(name)))
            if st.button(t("deploy.gate.sign_out"), key="gate.sign_out", icon=":material/logout:"):
                st.logout()
        return
    if not required:
        with st.sidebar:
            if st.button(t("deploy.gate.sign_in"), key="gate.sign_in", icon=":material/login:"):
                _start_login()
        return
    st.title(t("deploy.gate.title"))
    st.write(t("deploy.gate.sign_in_intro"))
    if st.button(t("deploy.gate.sign_in"), key="gate.sign_in", type="primary", icon=":material/login:"):
        _start_login()
    _stop_before_pages()
