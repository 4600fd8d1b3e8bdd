"""The visitor's language: the sidebar picker, its default from the browser, and remembering the choice.

The default is the browser's language (`st.context.locale`, i.e. navigator.language, else the Accept-Language
header); a choice made in the sidebar is kept in the session's state (`SessionMemory.language`) and in the
owner's session file (`LAYERLAB_HOME/sessions/<owner>.json`, written by `ui.state.sync_query_params`), so a
refresh or a later visit in the same browser keeps it. The language is put into `core.i18n`'s context variable
at the start of every script run (app.py) and of every fragment run (`fragment` below): a fragment that
reruns on its own runs in a fresh thread, without the language of the script run that drew it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st

from core.i18n import LANGUAGES, language_from_locale, set_language, t
from ui.state import get_state

LANGUAGE_KEY = "sidebar.language"  # the picker's widget key


def browser_language() -> str:
    """The LayerLab language for this browser (English when it tells us nothing we offer)."""
    try:
        tag = st.context.locale or st.context.headers.get("Accept-Language")
    except Exception:  # noqa: BLE001 - no request context (bare script runs)
        tag = None
    return language_from_locale(tag)


def session_language() -> str:
    """The language of this session: the one chosen (or remembered), else the browser's."""
    chosen = get_state().memory.language
    return chosen if chosen in LANGUAGES else browser_language()


def apply_browser_language() -> str:
    """Use the browser's language before the session's state exists (the sign-in and access-code gates)."""
    language = browser_language()
    set_language(language)
    return language


def choose_language() -> str:
    """Set this script run's language and draw the sidebar picker; returns the language code."""
    memory = get_state().memory
    # Only a choice made in the picker is remembered; until then the browser decides on every visit.
    language = memory.language if memory.language in LANGUAGES else browser_language()
    set_language(language)
    with st.sidebar:
        st.selectbox(
            t("ui.sidebar.language"),
            options=list(LANGUAGES),
            index=list(LANGUAGES).index(language),
            format_func=LANGUAGES.__getitem__,
            key=LANGUAGE_KEY,
            on_change=_picked,
            args=(memory,),
            help=t("ui.sidebar.language_help"),
        )
    return language


def _picked(memory) -> None:
    # Runs before the script reruns, so the whole rerun is drawn in the new language.
    chosen = st.session_state[LANGUAGE_KEY]  # the picker's own value, set before this callback runs
    if chosen in LANGUAGES:
        memory.language = chosen


def fragment(func: Callable | None = None, *, run_every=None):
    """`st.fragment` whose every run, including the ones it makes on its own, is in the session's language.
    Use it instead of `st.fragment` in pages/ and ui/."""

    def wrap(body: Callable) -> Callable:
        @functools.wraps(body)
        def in_language(*args, **kwargs):
            set_language(session_language())
            return body(*args, **kwargs)

        return st.fragment(in_language, run_every=run_every)

    return wrap(func) if func is not None else wrap
