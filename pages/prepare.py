import streamlit as st
from pydantic import ValidationError

from core.data.quality import apply_fix, assess_quality
from core.errors import AppError, SpecError
from core.i18n import t
from core.plain_text import shorten
from core.spec import DataSpec, PreprocessingSpec, format_validation_error
from ui.components import cached_profile, next_step_line, require_table, show_error
from ui.kind_settings import image_settings, text_settings
from ui.preprocessing_editor import preprocessing_editor
from ui.profile_view import render_findings
from ui.spec_fields import choice_labeller, help_text, number_kwargs, select_kwargs, slider_kwargs
from ui.state import current_image_info, get_state

SPLIT_FRACTION_UI_MAX = 0.4
state = get_state()
st.title(t("data.prepare.title"))
what_next = next_step_line("prepare", "ready")
frame = require_table(state)
if frame is None:
    next_step_line("prepare", "no_table", what_next)
    st.stop()

if state.kind != "table":
    # Images and text: checked when read (the Data page lists what was skipped); no table columns to prepare.
    if state.kind == "images":
        image_settings(state, int(current_image_info(state).get("side") or 28))
    else:
        text_settings(state)
    st.subheader(t("data.prepare.splits"))
    left, middle = st.columns(2)
    state.validation_fraction = left.slider(
        t("data.prepare.validation_fraction"),
        **slider_kwargs(
            DataSpec, "validation_fraction", value=state.validation_fraction, step=0.05, highest=SPLIT_FRACTION_UI_MAX
        ),
        key="prepare.validation_fraction",
    )
    state.test_fraction = left.slider(
        t("data.prepare.test_fraction"),
        **slider_kwargs(DataSpec, "test_fraction", value=state.test_fraction, step=0.05, highest=SPLIT_FRACTION_UI_MAX),
        key="prepare.test_fraction",
    )
    if state.kind == "images":
        middle.caption(t("kinds.settings.split_caption"))
    state.drop_duplicates = middle.checkbox(
        t("data.prepare.drop_duplicates"), state.drop_duplicates, key="prepare.drop_duplicates",
        help=help_text(DataSpec, "drop_duplicates"),
    )  # fmt: skip
    if state.kind == "images":  # one network per fold; text does not offer it yet (docs/IMAGES_AND_TEXT.md)
        folds = middle.number_input(
            t("data.prepare.folds"),
            **number_kwargs(DataSpec, "cross_validation_folds", value=state.cross_validation_folds),
            key="prepare.folds",
        )
        state.cross_validation_folds = 0 if folds == 1 else int(folds)
    else:
        state.cross_validation_folds = 0
    st.page_link(page="pages/model.py", label=t("data.prepare.next"), icon=":material/layers:")
    st.stop()

st.subheader(t("data.prepare.quality"))
try:
    spec = state.run_spec()
    findings = assess_quality(frame, spec, profile=cached_profile(state, frame, state.target))
except ValidationError as error:
    show_error(SpecError(t("data.prepare.invalid_settings", detail=format_validation_error(error))))
    st.stop()
except AppError as error:
    show_error(error)
    st.stop()
fix = render_findings(findings)
if fix is not None:
    state.apply_spec(apply_fix(spec, fix))
    st.rerun()

st.subheader(t("data.prepare.columns"))
st.caption(t("data.prepare.columns_caption"))
with st.expander(t("data.prepare.more")):
    st.caption(t("data.prepare.more_caption"))
features = state.features or [c for c in frame.columns if c != state.target]
edited = preprocessing_editor(
    frame, features, state.preprocessing, key=state.setting_widget(f"prepare.columns.{state.table_key}.{state.target}")
)
if edited != state.preprocessing:
    state.preprocessing = edited
    st.rerun()

# How the number columns reach the network: one value each, or also periodic features (a learned input layer).
preprocessing = state.preprocessing
widget = f"{state.table_key}.{state.target}"
numbers_left, numbers_middle, numbers_right, numbers_last = st.columns([1.4, 1, 1, 1])
numeric_embedding = numbers_left.selectbox(
    t("data.prepare.numeric_embedding"),
    **select_kwargs(PreprocessingSpec, "numeric_embedding", value=preprocessing.numeric_embedding),
    format_func=choice_labeller(PreprocessingSpec, "numeric_embedding"),
    key=state.setting_widget(f"prepare.numeric_embedding.{widget}"),
)
periodic = {}
if numeric_embedding == "periodic":
    for column, name in zip(
        (numbers_middle, numbers_right, numbers_last),
        ("periodic_frequencies", "periodic_scale", "periodic_dim"),
        strict=True,
    ):
        periodic[name] = column.number_input(
            t(f"data.prepare.{name}"),
            **number_kwargs(
                PreprocessingSpec,
                name,
                value=getattr(preprocessing, name),
                **({"step": 0.01, "format": "%.3f"} if name == "periodic_scale" else {}),
            ),
            key=state.setting_widget(f"prepare.{name}.{widget}"),
        )
try:
    chosen = PreprocessingSpec.model_validate(
        {**preprocessing.model_dump(), "numeric_embedding": numeric_embedding, **periodic}
    )
except ValidationError as error:
    show_error(SpecError(t("train.page.bad_settings", problem=format_validation_error(error))))
else:
    if chosen != preprocessing:
        state.preprocessing = chosen

st.subheader(t("data.prepare.splits"))
left, middle, right = st.columns(3)
# Each fraction is offered up to SPLIT_FRACTION_UI_MAX, so the two together always leave rows to train on
# (the spec rejects test + validation >= 0.9, and an invalid spec would hide these sliders behind its error).
state.validation_fraction = left.slider(
    t("data.prepare.validation_fraction"),
    **slider_kwargs(
        DataSpec, "validation_fraction", value=state.validation_fraction, step=0.05, highest=SPLIT_FRACTION_UI_MAX
    ),
    key="prepare.validation_fraction",
)
state.test_fraction = left.slider(
    t("data.prepare.test_fraction"),
    **slider_kwargs(DataSpec, "test_fraction", value=state.test_fraction, step=0.05, highest=SPLIT_FRACTION_UI_MAX),
    key="prepare.test_fraction",
)
group_options = [None] + [c for c in frame.columns if c != state.target]
state.group_column = middle.selectbox(
    t("data.prepare.group_column"),
    group_options,
    index=group_options.index(state.group_column) if state.group_column in group_options else 0,
    format_func={c: t("data.prepare.group_none") if c is None else shorten(c) for c in group_options}.get,
    key="prepare.group_column",
    help=help_text(DataSpec, "group_column"),
)
state.drop_duplicates = middle.checkbox(
    t("data.prepare.drop_duplicates"), state.drop_duplicates, key="prepare.drop_duplicates",
    help=help_text(DataSpec, "drop_duplicates"),
)  # fmt: skip
folds = right.number_input(
    t("data.prepare.folds"),
    **number_kwargs(DataSpec, "cross_validation_folds", value=state.cross_validation_folds),
    key="prepare.folds",
)
state.cross_validation_folds = 0 if folds == 1 else int(folds)
st.page_link(page="pages/model.py", label=t("data.prepare.next"), icon=":material/layers:")
