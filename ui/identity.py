"""This browser's identity: issued and signed by the server, never taken from the URL.

server.py sets the signed `layerlab_id` cookie on the first page load; the page reads it back through
`st.context.cookies`. A signed-in user (Streamlit's OIDC login, when configured) is identified by their
account instead, so their runs follow them. A missing or forged cookie gets a fresh identity of its own
for this browser session: never an error, never someone else's work.
"""

from __future__ import annotations

import secrets

import streamlit as st

from core.config import load_settings as settings
from core.shared_mode.identity import COOKIE_NAME, load_secret, owner_for_user, verify_identity


def _signed_in_subject() -> str | None:
    try:
        if not st.user.is_logged_in:
            return None
        subject = st.user.get("sub") or st.user.get("email")
    except Exception:  # noqa: BLE001 - authentication is not configured on this server
        return None
    return str(subject) if subject else None


def browser_identity() -> str | None:
    """The identity in this browser's signed cookie (None without one); download links are bound to it."""
    try:
        cookie = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # noqa: BLE001 - no request context (tests, bare script runs)
        return None
    return verify_identity(load_secret(settings().home), cookie)


def new_session_owner() -> str:
    """The owner id for a new browser session: the signed-in account's, else the browser's signed cookie's,
    else a fresh one. Computed once per session; ui/state.py keeps it in the session's state object."""
    secret = load_secret(settings().home)
    subject = _signed_in_subject()
    if subject is not None:
        return owner_for_user(secret, subject)
    return browser_identity() or secrets.token_urlsafe(18)
