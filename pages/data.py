import streamlit as st

from core.data.images import image_path_column
from core.data.profiling import infer_task, suggest_target
from core.data.reading import ENCODING_CHOICES, TableLimits, encoding_label, list_sheets, load_table
from core.data.samples import SAMPLES
from core.data.text import is_text_column
from core.errors import AppError
from core.explanations import METRIC_HELP
from core.i18n import t
from core.kinds.text import looks_like_text
from core.plain_text import MAX_CHARS, full_name_help, markdown_literal, shorten
from core.spec import DataSpec, TextSpec
from ui.components import cached_profile, next_step_line, show_error
from ui.kind_views import cached_text_profiles, offer_images_of_table, render_image_set, render_text_profiles
from ui.profile_view import render_profile
from ui.services import settings, table_store
from ui.spec_fields import choices, help_text, select_kwargs
from ui.state import (
    current_image_info,
    current_pixels,
    current_table,
    current_table_reading,
    get_state,
    load_image_zip,
    store_table,
)


def _md(message_id: str, /, **values) -> str:
    """A message whose values (names from the user's table) are shown character for character."""
    return t(message_id, **{name: markdown_literal(value, MAX_CHARS) for name, value in values.items()})


def _task_name(task: str) -> str:
    return t(f"data.page.task_name.{task}")


state = get_state()
config = settings()
st.title(t("data.page.title"))
what_next = next_step_line("data", "start")

# The options are stable keys (kept in the session); what the visitor reads is their label.
sources = ["Sample data", "Upload a file"]
source_labels = {"Sample data": t("data.page.source_sample"), "Upload a file": t("data.page.source_upload")}
source = st.radio(
    t("data.page.source"),
    sources,
    index=sources.index(state.data_source),
    format_func=source_labels.get,
    horizontal=True,
    key="data.source",
)
state.data_source = source
if source == "Sample data":
    loaded_sample = next((n for n, s in SAMPLES.items() if s.file_name == state.table_name), None)
    names = list(SAMPLES)
    name = st.selectbox(
        t("data.page.sample"),
        names,
        index=names.index(loaded_sample) if loaded_sample else 0,
        # Labels worked out now, in this run's language (a lambda would be called later, outside it, by tests).
        format_func={n: s.title for n, s in SAMPLES.items()}.get,
        key="data.sample",
    )
    sample = SAMPLES[name]
    st.caption(sample.description)
    clicked = st.button(t("data.page.load_sample"), type="primary", key="data.load_sample")
    # The app opens on a sample, so a first-time visitor sees real data without hunting for a file.
    if clicked or state.table_key is None:
        try:
            if sample.kind == "images":
                with st.spinner(t("kinds.view.reading_images")):
                    load_image_zip(config, state, sample.path, sample.file_name)
            else:
                loaded = load_table(sample.path.read_bytes(), sample.file_name)
                store_table(config, state, loaded.frame, sample.file_name, loaded.notes, loaded.reading())
                state.set_kind(sample.kind)
            state.target = sample.target
        except AppError as error:
            show_error(error)
else:
    upload = st.file_uploader(
        t("data.page.upload", mb=config.max_upload_mb),
        key="data.upload",
        # Any file is accepted, so a zip or an image gets our message instead of the uploader's small refusal.
        help=t("data.page.upload_help"),
    )
    if upload is not None:
        data = upload.getvalue()
        sheet = None
        if upload.name.lower().endswith(".xlsx"):
            try:
                sheets = list_sheets(data, filename=upload.name)
            except AppError:
                sheets = []  # loading the file below says what is wrong with it, in one message
            if len(sheets) > 1:
                sheet = st.selectbox(t("data.page.sheet"), sheets, format_func=shorten, key="data.sheet")
        encoding = None
        if not upload.name.lower().endswith((".xlsx", ".parquet", ".zip")):
            # A sentinel, not None: a selectbox treats None as "nothing chosen" and shows a placeholder.
            choice = st.selectbox(
                t("data.page.encoding"),
                ["auto", *ENCODING_CHOICES],
                format_func={"auto": t("data.page.encoding_auto"), **ENCODING_CHOICES}.get,
                key="data.encoding",
                help=t("data.page.encoding_help"),
            )
            encoding = None if choice == "auto" else choice
        marker = (upload.file_id, sheet, encoding)
        if state.memory.loaded_upload != marker:
            try:
                if upload.name.lower().endswith(".zip"):  # a zip of class folders: an image set
                    with st.spinner(t("kinds.view.reading_images")):
                        load_image_zip(config, state, data, upload.name)
                else:
                    loaded = load_table(
                        data, upload.name, limits=TableLimits.from_settings(config), sheet=sheet, encoding=encoding
                    )
                    store_table(config, state, loaded.frame, upload.name, loaded.notes, loaded.reading())
                    if looks_like_text(loaded.frame, None):
                        state.set_kind("text")
                state.memory.loaded_upload = marker
            except AppError as error:
                show_error(error)
                # Show nothing below that could be mistaken for this file; the earlier table is not lost.
                if state.table_name:
                    st.caption(_md("data.page.earlier_table_kept", name=state.table_name))
                st.stop()
        if encoding is None and state.table_key and state.table_name == upload.name:
            # The guess, so a person whose names look garbled knows what to override above.
            detected = (current_table_reading(state) or {}).get("encoding")
            if detected:
                st.caption(_md("data.page.encoding_detected", encoding=encoding_label(detected)))

try:
    frame = current_table(config, state)
except AppError as error:
    show_error(error)
    frame = None
if frame is None:
    st.stop()

st.subheader(
    markdown_literal(state.table_name, max_chars=60) if state.table_name else t("data.page.table"),
    help=full_name_help(state.table_name or ""),
)
if state.memory.new_table_notice:
    state.memory.new_table_notice = False
    st.info(t("data.page.new_table"), icon=":material/restart_alt:")
for note in state.table_notes:
    st.info(markdown_literal(note), icon=":material/info:")
if state.kind == "images":
    render_image_set(state, frame, current_pixels(state), current_image_info(state))
    st.stop()
left, middle, right = st.columns(3)
left.metric(t("data.page.rows"), f"{len(frame):,}", help=METRIC_HELP["rows"])
middle.metric(t("data.page.columns"), f"{frame.shape[1]:,}", help=METRIC_HELP["columns"])
right.metric(t("data.page.missing_cells"), f"{int(frame.isna().sum().sum()):,}", help=METRIC_HELP["missing_cells"])
st.dataframe(frame.head(200), width="stretch", height=260)
image_column = image_path_column(frame)
if image_column is not None:
    offer_images_of_table(config, state, frame, image_column)

kept = table_store().list_tables()
with st.expander(t("data.page.your_tables", count=len(kept))):
    st.caption(
        t("data.page.tables_kept_for", hours=config.retention_hours)
        if config.retention_hours
        else t("data.page.tables_kept")
    )
    names = {record.key: f"{shorten(record.name)} · {record.num_bytes / 2**20:,.1f} MB" for record in kept}
    chosen = st.selectbox(t("data.page.table"), list(names), format_func=names.get, key="data.kept_choice")
    use, delete = st.columns(2)
    if chosen and use.button(
        t("data.page.use_table"), key="data.use_kept", width="stretch", disabled=chosen == state.table_key
    ):
        record = next(r for r in kept if r.key == chosen)
        state.start_table(record.key, record.name, record.notes, None, kind=record.kind)
        st.rerun()
    if chosen and delete.button(
        t("data.page.delete_table"), icon=":material/delete:", key="data.delete_kept", width="stretch"
    ):
        try:
            table_store().delete(chosen)
        except AppError as error:
            show_error(error)
        else:
            if chosen == state.table_key:
                state.table_key, state.table_name, state.frame_cache = None, None, None
            st.toast(t("data.page.table_deleted"))
            st.rerun()

st.subheader(t("data.page.what_to_predict"))
columns = [str(c) for c in frame.columns]
text_columns = [c for c in columns if is_text_column(frame[c])]
if text_columns:
    read_as = st.radio(
        t("kinds.view.read_as"),
        ["text", "table"],
        index=0 if state.kind == "text" else 1,
        format_func={"text": t("kinds.view.read_as.text"), "table": t("kinds.view.read_as.table")}.get,
        horizontal=True,
        key=state.setting_widget(f"data.read_as.{state.table_key}"),
    )
    state.set_kind(read_as)
elif state.kind == "text":
    state.set_kind("table")
if state.target not in columns:
    state.target = suggest_target(frame, cached_profile(state, frame, None))
    state.target_guessed = state.target is not None
target = st.selectbox(
    t("data.page.target"),
    columns,
    index=columns.index(state.target) if state.target in columns else None,
    format_func=shorten,
    key=state.setting_widget(f"data.target.{state.table_key}"),
    placeholder=t("data.page.target_placeholder"),
)
if target != state.target:
    state.target, state.task, state.features, state.target_guessed = target, None, None, False
if target is None:
    next_step_line("data", "no_target", what_next)
    st.info(t("data.page.no_target"), icon=":material/help:")
    st.subheader(t("data.page.profile"))
    render_profile(cached_profile(state, frame, None))
    st.stop()
next_step_line("data", "ready", what_next)
if state.target_guessed:
    st.info(_md("data.page.target_guessed", target=target), icon=":material/help:")
try:
    inferred = infer_task(frame[target])
except AppError as error:
    show_error(error)
    st.stop()
task_options = choices(DataSpec, "task")
task_labels = {
    task: t("data.page.task_inferred", task=_task_name(task)) if task == inferred else _task_name(task)
    for task in task_options
}
chosen_task = st.selectbox(
    t("data.page.task"),
    **select_kwargs(DataSpec, "task", value=state.task or inferred),
    format_func=task_labels.get,
    key=state.setting_widget(f"data.task.{state.table_key}.{target}"),
)
state.task = None if chosen_task == inferred else chosen_task
candidates = [c for c in columns if c != target]
ignored = state.ignored_columns()
features = st.multiselect(
    t("data.page.features"),
    candidates,
    default=[c for c in (state.features or candidates) if c in candidates and c not in ignored],
    format_func=shorten,
    key=state.setting_widget(f"data.features.{state.table_key}.{target}"),
    help=help_text(DataSpec, "features"),
)
state.choose_features(features, candidates)
still_ignored = [c for c in candidates if c in state.ignored_columns()]
if still_ignored:
    st.caption(t("data.page.ignored_columns", columns=", ".join(markdown_literal(c, 40) for c in still_ignored)))
if state.kind == "text":
    chosen_text = state.preprocessing.text.column
    options = [c for c in text_columns if c != target] or [c for c in candidates]
    text_column = st.selectbox(
        t("kinds.view.text_input"),
        options,
        index=options.index(chosen_text) if chosen_text in options else 0,
        format_func=shorten,
        key=state.setting_widget(f"data.text_column.{state.table_key}.{target}"),
        help=help_text(TextSpec, "column"),
    )
    if text_column != chosen_text:
        text = state.preprocessing.text.model_copy(update={"column": text_column})
        state.preprocessing = state.preprocessing.model_copy(update={"text": text})
    st.info(_md("kinds.view.text_detected", column=text_column), icon=":material/notes:")
    st.success(
        t(
            "kinds.view.text_summary",
            target=markdown_literal(target, MAX_CHARS),
            column=markdown_literal(text_column, MAX_CHARS),
        )
    )
    st.page_link(page="pages/prepare.py", label=t("data.page.next"), icon=":material/tune:")
    st.subheader(t("data.page.profile"))
    render_text_profiles(cached_text_profiles(state, frame, target, [text_column]))
    st.stop()  # the table profile below reads a text column as categories, which a text model does not
elif not features:
    st.warning(t("data.page.no_features"))
else:
    st.success(
        t(
            "data.page.summary",
            count=len(features),
            target=markdown_literal(target, MAX_CHARS),
            task=markdown_literal(_task_name(chosen_task)),
        )
    )
    st.page_link(page="pages/prepare.py", label=t("data.page.next"), icon=":material/tune:")

st.subheader(t("data.page.profile"))
render_profile(cached_profile(state, frame, target))
