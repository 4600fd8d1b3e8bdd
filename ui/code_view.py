""" "Show code" on the Download page: the run as a standalone Python script (`core.deployment.codegen`)."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from core.deployment.codegen import generate_script, script_file_name
from core.errors import AppError
from core.i18n import t
from core.plain_text import markdown_literal
from core.run_store import RunFiles


def render_code(run_dir: Path, run_id: str, *, key: str = "download.code") -> None:
    """A "Show code" section: the script that reproduces the run with keras, pandas and scikit-learn only,
    to read here and to download. Generating it reads a few small files of the run; Keras is not imported."""
    st.subheader(t("deploy.code.title"))
    spec = json.loads(RunFiles(Path(run_dir)).spec_text() or "{}")
    kind = spec.get("data", {}).get("kind", "table")
    # Image and text runs get a prediction script (the model file does the reading); tables, the whole run.
    st.write(t("deploy.code.intro" if kind == "table" else f"deploy.code.intro_{kind}"))
    try:
        script = generate_script(Path(run_dir))
    except AppError as error:
        st.info(markdown_literal(error.message), icon=":material/info:")
        return
    file_name = script_file_name(run_id)
    st.download_button(
        t("deploy.code.download", file_name=file_name),
        script,
        file_name,
        "text/x-python",
        icon=":material/code:",
        key=key,
    )
    st.caption(
        t("deploy.code.how_to_run" if kind == "table" else f"deploy.code.how_to_run_{kind}", file_name=file_name)
    )
    with st.expander(t("deploy.code.title"), expanded=False):
        st.code(script, language="python", line_numbers=True)
