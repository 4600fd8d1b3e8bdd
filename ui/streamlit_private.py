"""The one place LayerLab touches a private part of Streamlit, pinned by tests/unit/test_streamlit_private.py.

Why: the app keeps its thin page scripts in `pages/` and routes them with `st.navigation` in app.py. Streamlit
starts such an app in its legacy `pages/` folder mode and leaves it only once some session has run
`st.navigation`. Until then a browser asking for a page's URL (a bookmark, or a refresh after a restart:
`/train?run=…`) gets that file run on its own, without app.py's setup and access gate, beside an automatic
sidebar listing "app", "data", "download"… Streamlit has no public switch for the mode; `st.navigation`
itself clears the class attribute below, which is what this does earlier. The pinned test fails on a
Streamlit release that moves or renames it, before a visitor would notice.
"""

from __future__ import annotations

from streamlit.runtime.pages_manager import PagesManager


def leave_pages_folder_mode() -> bool:
    """Switch Streamlit's legacy `pages/` folder mode off (for every session); True if it was on."""
    if not PagesManager.uses_pages_directory:
        return False
    PagesManager.uses_pages_directory = False
    return True
