import streamlit as st

from core.data.profiling import infer_task, suggest_target
from core.data.reading import ENCODING_CHOICES, TableLimits, encoding_label, list_sheets, load_table
from core.data.samples import SAMPLES
from core.errors import AppError
from core.explanations import METRIC_HELP
from core.plain_text import full_name_help, markdown_format, markdown_literal, shorten
from core.spec import DataSpec
from ui.components import cached_profile, next_step_line, show_error
from ui.profile_view import render_profile
from ui.services import settings, table_store
from ui.spec_fields import choices, help_text, select_kwargs
from ui.state import current_table, current_table_reading, get_state, store_table

state = get_state()
config = settings()
st.title("Data")
what_next = next_step_line("data", "start")

sources = ["Sample data", "Upload a file"]
source = st.radio("Source", sources, index=sources.index(state.data_source), horizontal=True, key="data.source")
state.data_source = source
if source == "Sample data":
    loaded_sample = next((n for n, s in SAMPLES.items() if s.file_name == state.table_name), None)
    names = list(SAMPLES)
    name = st.selectbox("Sample", names, index=names.index(loaded_sample) if loaded_sample else 0, key="data.sample")
    sample = SAMPLES[name]
    st.caption(sample.description)
    clicked = st.button("Load sample", type="primary", key="data.load_sample")
    # The app opens on a sample, so a first-time visitor sees real data without hunting for a file.
    if clicked or state.table_key is None:
        try:
            loaded = load_table(sample.path.read_bytes(), sample.file_name)
            store_table(config, state, loaded.frame, sample.file_name, loaded.notes, loaded.reading())
            state.target = sample.target
        except AppError as error:
            show_error(error)
else:
    upload = st.file_uploader(
        f"Table file (up to {config.max_upload_mb} MB)",
        key="data.upload",
        # Any file is accepted, so a zip or an image gets our message instead of the uploader's small refusal.
        help="Tables: CSV/TSV/TXT, Excel .xlsx, Parquet, JSON records or JSON Lines. Images and text documents "
        "cannot be used yet.",
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
                sheet = st.selectbox("Sheet", sheets, format_func=shorten, key="data.sheet")
        encoding = None
        if not upload.name.lower().endswith((".xlsx", ".parquet")):
            # A sentinel, not None: a selectbox treats None as "nothing chosen" and shows a placeholder.
            choice = st.selectbox(
                "Text encoding",
                ["auto", *ENCODING_CHOICES],
                format_func=lambda c: "detect automatically" if c == "auto" else ENCODING_CHOICES[c],
                key="data.encoding",
                help="If accents or Chinese characters look garbled, pick the encoding the file was saved in.",
            )
            encoding = None if choice == "auto" else choice
        marker = (upload.file_id, sheet, encoding)
        if state.memory.loaded_upload != marker:
            try:
                loaded = load_table(
                    data, upload.name, limits=TableLimits.from_settings(config), sheet=sheet, encoding=encoding
                )
                store_table(config, state, loaded.frame, upload.name, loaded.notes, loaded.reading())
                state.memory.loaded_upload = marker
            except AppError as error:
                show_error(error)
                # Show nothing below that could be mistaken for this file; the earlier table is not lost.
                if state.table_name:
                    st.caption(
                        markdown_format(
                            "The table loaded before, {}, is still the one used on the other pages.", state.table_name
                        )
                    )
                st.stop()
        if encoding is None and state.table_key and state.table_name == upload.name:
            # The guess, so a person whose names look garbled knows what to override above.
            detected = (current_table_reading(state) or {}).get("encoding")
            if detected:
                st.caption(
                    markdown_format(
                        "Text encoding detected: {}. If names or values look garbled, choose the right one above.",
                        encoding_label(detected),
                    )
                )

try:
    frame = current_table(config, state)
except AppError as error:
    show_error(error)
    frame = None
if frame is None:
    st.stop()

st.subheader(
    markdown_literal(state.table_name, max_chars=60) if state.table_name else "Table",
    help=full_name_help(state.table_name or ""),
)
if state.memory.new_table_notice:
    state.memory.new_table_notice = False
    st.info(
        "New table: its settings start from their defaults. The target, feature columns, preparation, model and "
        "training settings chosen for the previous table do not carry over.",
        icon=":material/restart_alt:",
    )
for note in state.table_notes:
    st.info(markdown_literal(note), icon=":material/info:")
left, middle, right = st.columns(3)
left.metric("Rows", f"{len(frame):,}", help=METRIC_HELP["rows"])
middle.metric("Columns", f"{frame.shape[1]:,}", help=METRIC_HELP["columns"])
right.metric("Missing cells", f"{int(frame.isna().sum().sum()):,}", help=METRIC_HELP["missing_cells"])
st.dataframe(frame.head(200), width="stretch", height=260)

kept = table_store().list_tables()
with st.expander(f"Your tables ({len(kept)})"):
    st.caption(
        "Tables you loaded are kept on this server so a refresh or a later visit finds them"
        + (f", for {config.retention_hours} hours after their last use." if config.retention_hours else ".")
    )
    names = {record.key: f"{shorten(record.name)} · {record.num_bytes / 2**20:,.1f} MB" for record in kept}
    chosen = st.selectbox("Table", list(names), format_func=names.get, key="data.kept_choice")
    use, delete = st.columns(2)
    if chosen and use.button(
        "Use this table", key="data.use_kept", width="stretch", disabled=chosen == state.table_key
    ):
        record = next(r for r in kept if r.key == chosen)
        state.start_table(record.key, record.name, record.notes, None)
        st.rerun()
    if chosen and delete.button("Delete this table", icon=":material/delete:", key="data.delete_kept", width="stretch"):
        try:
            table_store().delete(chosen)
        except AppError as error:
            show_error(error)
        else:
            if chosen == state.table_key:
                state.table_key, state.table_name, state.frame_cache = None, None, None
            st.toast("Table deleted. Runs trained on it keep their own copy of its rows.")
            st.rerun()

st.subheader("What to predict")
columns = [str(c) for c in frame.columns]
if state.target not in columns:
    state.target = suggest_target(frame, cached_profile(state, frame, None))
    state.target_guessed = state.target is not None
target = st.selectbox(
    "Target column",
    columns,
    index=columns.index(state.target) if state.target in columns else None,
    format_func=shorten,
    key=state.setting_widget(f"data.target.{state.table_key}"),
    placeholder="Choose the column to predict",
)
if target != state.target:
    state.target, state.task, state.features, state.target_guessed = target, None, None, False
if target is None:
    next_step_line("data", "no_target", what_next)
    st.info(
        "Which column should the model learn to predict? LayerLab could not tell, so choose it above.",
        icon=":material/help:",
    )
    st.subheader("Profile")
    render_profile(cached_profile(state, frame, None))
    st.stop()
next_step_line("data", "ready", what_next)
if state.target_guessed:
    st.info(
        markdown_format(
            "LayerLab guessed **{}** as the column to predict, from its name and values. Is that right? "
            "If not, choose another column above.",
            target,
        ),
        icon=":material/help:",
    )
try:
    inferred = infer_task(frame[target])
except AppError as error:
    show_error(error)
    st.stop()
task_options = choices(DataSpec, "task")
task_labels = {t: f"{t} (inferred)" if t == inferred else t for t in task_options}
chosen_task = st.selectbox(
    "Task",
    **select_kwargs(DataSpec, "task", value=state.task or inferred),
    format_func=task_labels.get,
    key=state.setting_widget(f"data.task.{state.table_key}.{target}"),
)
state.task = None if chosen_task == inferred else chosen_task
candidates = [c for c in columns if c != target]
ignored = state.ignored_columns()
features = st.multiselect(
    "Feature columns (inputs)",
    candidates,
    default=[c for c in (state.features or candidates) if c in candidates and c not in ignored],
    format_func=shorten,
    key=state.setting_widget(f"data.features.{state.table_key}.{target}"),
    help=help_text(DataSpec, "features"),
)
state.choose_features(features, candidates)
still_ignored = [c for c in candidates if c in state.ignored_columns()]
if still_ignored:
    st.caption(
        "Ignored on the Prepare page: "
        + ", ".join(markdown_literal(c, 40) for c in still_ignored)
        + ". Add a column back above to use it again."
    )
if not features:
    st.warning("Select at least one feature column.")
else:
    st.success(markdown_format("Predict **{}** ({}) from {} column(s).", target, chosen_task, len(features)))
    st.page_link("pages/prepare.py", label="Next: check and prepare the columns", icon=":material/tune:")

st.subheader("Profile")
render_profile(cached_profile(state, frame, target))
