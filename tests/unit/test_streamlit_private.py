"""Pins the private Streamlit attribute `ui.streamlit_private` relies on (see its docstring for why)."""

from __future__ import annotations

from importlib.metadata import version

from packaging.version import Version
from streamlit.runtime.pages_manager import PagesManager

from ui.streamlit_private import leave_pages_folder_mode


def test_the_streamlit_release_is_one_whose_pages_folder_mode_we_checked():
    # Checked on 1.67: PagesManager.uses_pages_directory is the class attribute st.navigation clears. A newer
    # release must be checked again (read streamlit/runtime/pages_manager.py) before this range is widened.
    assert Version("1.67") <= Version(version("streamlit")) < Version("1.68")


def test_leaving_the_pages_folder_mode_clears_the_attribute_st_navigation_clears(monkeypatch):
    assert isinstance(PagesManager.__dict__.get("uses_pages_directory"), bool | type(None))
    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)
    assert leave_pages_folder_mode() is True
    assert PagesManager.uses_pages_directory is False
    assert leave_pages_folder_mode() is False
