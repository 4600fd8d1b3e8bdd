"""The server's Streamlit options (.streamlit/config.toml) that LayerLab's correctness depends on."""

import tomllib
from pathlib import Path

import streamlit.config

CONFIG = Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"


def _options() -> dict:
    parsed = tomllib.loads(CONFIG.read_text())
    return {f"{section}.{name}": value for section, values in parsed.items() for name, value in values.items()}


def test_every_option_is_one_streamlit_knows():
    known = streamlit.config.get_config_options()
    unknown = sorted(name for name in _options() if name not in known)
    assert not unknown, f"Streamlit ignores these options in {CONFIG}: {unknown}"


def test_script_runs_of_one_session_never_overlap():
    # With runner.fastReruns a new run starts while the old one still writes to the session's state object
    # (a stale Data-page run put the previous table's target back); see the comment in config.toml.
    assert _options()["runner.fastReruns"] is False
    assert streamlit.config.get_config_options()["runner.fastReruns"].default_val is True  # still needed
