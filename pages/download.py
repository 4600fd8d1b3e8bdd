import streamlit as st

from core.data.splitting import TargetInfo
from core.deployment.formats import (
    FORMATS,
    cached_comparison,
    cached_export,
    compare_formats,
    comparison_table,
    download_name,
    export_artifact,
    format_label,
    kind_format_note,
    run_kind,
    unavailable_reason,
)
from core.deployment.model_card import model_card
from core.deployment.snippets import kind_snippet
from core.errors import AppError
from core.i18n import t
from core.plain_text import markdown_literal
from core.run_store import RunFiles
from core.shared_mode.downloads import download_url
from ui.code_view import render_code
from ui.components import next_step_line, require_finished_run
from ui.identity import browser_identity
from ui.services import run_store
from ui.state import get_state, session_owner

state = get_state()
store = run_store()
owner = session_owner()
browser = browser_identity()  # links work only in this browser
st.title(t("deploy.download.title"))
what_next = next_step_line("download", "no_run")
record = require_finished_run(store, state, key="download.run")
kind = run_kind(record.path)
intro_help = {"images": "deploy.kinds.download.intro_help_images", "text": "deploy.kinds.download.intro_help_text"}
st.markdown(t("deploy.download.intro"), help=t(intro_help.get(kind, "deploy.download.intro_help")))
next_step_line("download", "ready", what_next)

model_path = store.model_path(record.run_id)
spec_text = store.files(record.run_id).spec_text()
stem = f"layerlab_{record.run_id[:6]}"
left, right = st.columns(2)
if model_path is None:
    left.warning(t("deploy.download.no_model"))
else:
    left.link_button(
        t("deploy.download.model", size=f"{model_path.stat().st_size / 1024:,.0f}"),
        download_url(owner, record.run_id, RunFiles.MODEL, file_name=f"{stem}.keras", browser=browser),
        icon=":material/download:",
        type="primary",
        key="download.model",
        width="stretch",
    )
right.download_button(
    t("deploy.download.spec"),
    spec_text,
    f"{stem}_spec.json",
    "application/json",
    icon=":material/download:",
    key="download.spec",
    width="stretch",
)

target_info = store.target(record.run_id)
preprocessing_text = store.preprocessing_json(record.run_id)
if target_info is not None and preprocessing_text is not None:
    target = TargetInfo.from_dict(target_info)
    python_heading = {"images": "deploy.kinds.download.python_images", "text": "deploy.kinds.download.python_text"}
    st.subheader(t(python_heading.get(kind, "deploy.download.python")))
    reading = store.meta(record.run_id).get("reading")
    st.code(kind_snippet(kind, preprocessing_text, target, f"{stem}.keras", reading), language="python")
    st.caption(t("deploy.kinds.download.cli_images") if kind == "images" else t("deploy.download.cli"))
with st.expander(t("deploy.download.spec_expander")):
    st.code(spec_text, language="json")

if model_path is not None:
    st.subheader(t("deploy.download.formats"))
    st.caption(t("deploy.download.formats_caption"))
    task = (target_info or {}).get("task")
    for export_format in FORMATS:
        name, action = st.columns([3, 1])
        label = format_label(export_format, kind)
        reason = unavailable_reason(record.path, export_format)
        if reason is not None:  # this format cannot hold the model: say why, offer nothing
            name.markdown(f"**{label}** — {reason}")
            continue
        name.markdown(f"**{label}** — {kind_format_note(export_format, task, kind)}")
        ready = cached_export(record.path, export_format)
        if ready is None and action.button(
            t("deploy.download.prepare"), key=f"download.prepare.{export_format}", width="stretch"
        ):
            try:
                with st.spinner(t("deploy.download.converting", format=label)):
                    ready = export_artifact(record.path, export_format)
            except AppError as error:
                name.error(markdown_literal(error.message))
        if ready is not None:
            action.link_button(
                t("deploy.download.zip", size=f"{ready.stat().st_size / 1024:,.0f}"),
                download_url(
                    owner,
                    record.run_id,
                    ready.relative_to(record.path).as_posix(),
                    file_name=download_name(record.path, export_format),
                    browser=browser,
                ),
                icon=":material/download:",
                key=f"download.export.{export_format}",
                width="stretch",
            )

    st.subheader(t("deploy.download.quantization"))
    quantization = {"images": "deploy.kinds.download.quantization_images", "text": "deploy.kinds.download.no_tflite"}
    st.caption(t(quantization.get(kind, "deploy.download.quantization_caption")))
    comparison = cached_comparison(record.path) if kind != "text" else None
    if kind != "text" and comparison is None and st.button(t("deploy.download.measure"), key="download.compare"):
        try:
            with st.spinner(t("deploy.download.measuring")):
                comparison = compare_formats(record.path)
        except AppError as error:
            st.error(markdown_literal(error.message))
    if comparison is not None:
        st.dataframe(comparison_table(comparison), hide_index=True, key="download.comparison")

    st.subheader(t("deploy.download.card"))
    card = model_card(record.path)
    st.download_button(
        t("deploy.download.card_button"),
        card,
        f"{stem}_MODEL_CARD.md",
        "text/markdown",
        icon=":material/download:",
        key="download.card",
    )
    with st.expander(t("deploy.download.card_read")):
        # Shown as source: the card quotes column, class and file names as the user typed them.
        st.code(card, language="markdown", wrap_lines=True)

render_code(record.path, record.run_id)  # "Show code": the run as a standalone script
