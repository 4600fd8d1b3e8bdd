""" "Show code" on the Download page: the run as a standalone Python script (`core.deployment.codegen`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.deployment.codegen import generate_script, script_file_name
from core.errors import AppError
from core.plain_text import markdown_literal


def render_code(run_dir: Path, run_id: str, *, key: str = "download.code") -> None:
    """A "Show code" section: the script that reproduces the run with keras, pandas and scikit-learn only,
    to read here and to download. Generating it reads a few small files of the run; Keras is not imported."""
    st.subheader("Show code")
    st.write(
        "The whole run as one Python script that needs only keras, pandas, numpy and scikit-learn: the same "
        "rows, split, preprocessing (learned from the training rows), network and training. Run it next to "
        "your table and it prints the same test scores."
    )
    try:
        script = generate_script(Path(run_dir))
    except AppError as error:
        st.info(markdown_literal(error.message), icon=":material/info:")
        return
    file_name = script_file_name(run_id)
    st.download_button(
        f"Script ({file_name})",
        script,
        file_name,
        "text/x-python",
        icon=":material/code:",
        key=key,
    )
    st.caption(
        f"`python {file_name} your_table.csv` prints the test scores as JSON. `layerlab code RUN_DIR` prints it too."
    )
    with st.expander("Show code", expanded=False):
        st.code(script, language="python", line_numbers=True)
