"""The Prepare page's settings for images (size, augmentation) and text (how the text becomes tokens): widgets
drawn from `core.spec.ImageSpec`, `AugmentationSpec` and `TextSpec` (bounds, choices and help)."""

from __future__ import annotations

import streamlit as st

from core.i18n import t
from core.spec import AugmentationSpec, ImageSpec, TextSpec
from ui.spec_fields import help_text, number_kwargs, select_kwargs, slider_kwargs
from ui.state import AppState

FLIP_LABELS = ("none", "horizontal", "vertical", "horizontal_and_vertical")  # labels: kinds.settings.flip.<value>
SPLIT_LABELS = ("auto", "whitespace", "character")  # labels: kinds.settings.split.<value>


def image_settings(state: AppState, stored_side: int) -> None:
    images = state.preprocessing.images
    st.subheader(t("kinds.settings.image_size"))
    left, right = st.columns([1, 2])
    from_data = left.toggle(
        t("kinds.settings.size_from_data", side=stored_side),
        images.image_size is None,
        key=state.setting_widget(f"prepare.images.from_data.{state.table_key}"),
        help=help_text(ImageSpec, "image_size"),
    )
    size = None
    if not from_data:
        size = int(
            right.number_input(
                t("kinds.settings.side"),
                **number_kwargs(ImageSpec, "image_size", value=images.image_size or stored_side, step=4),
                key=state.setting_widget(f"prepare.images.side.{state.table_key}"),
            )
        )
    st.subheader(t("kinds.settings.augmentation"))
    st.caption(t("kinds.settings.augmentation_caption"))
    augmentation = images.augmentation
    first, second = st.columns(2)
    flip = first.selectbox(
        t("kinds.settings.flip"),
        **select_kwargs(AugmentationSpec, "flip", value=augmentation.flip),
        format_func={value: t(f"kinds.settings.flip.{value}") for value in FLIP_LABELS}.get,
        key=state.setting_widget(f"prepare.images.flip.{state.table_key}"),
    )
    rotation = first.slider(
        t("kinds.settings.rotation"),
        **slider_kwargs(AugmentationSpec, "rotation", value=augmentation.rotation, step=0.05),
        key=state.setting_widget(f"prepare.images.rotation.{state.table_key}"),
    )
    zoom = second.slider(
        t("kinds.settings.zoom"),
        **slider_kwargs(AugmentationSpec, "zoom", value=augmentation.zoom, step=0.05),
        key=state.setting_widget(f"prepare.images.zoom.{state.table_key}"),
    )
    contrast = second.slider(
        t("kinds.settings.contrast"),
        **slider_kwargs(AugmentationSpec, "contrast", value=augmentation.contrast, step=0.05),
        key=state.setting_widget(f"prepare.images.contrast.{state.table_key}"),
    )
    edited = ImageSpec(
        image_size=size,
        augmentation=AugmentationSpec(flip=flip, rotation=float(rotation), zoom=float(zoom), contrast=float(contrast)),
    )
    if edited != images:
        state.preprocessing = state.preprocessing.model_copy(update={"images": edited})


def text_settings(state: AppState) -> None:
    text = state.preprocessing.text
    st.subheader(t("kinds.settings.tokens"))
    st.caption(t("kinds.settings.tokens_caption"))
    first, second, third = st.columns(3)
    split = first.selectbox(
        t("kinds.settings.split"),
        **select_kwargs(TextSpec, "split", value=text.split),
        format_func={value: t(f"kinds.settings.split.{value}") for value in SPLIT_LABELS}.get,
        key=state.setting_widget(f"prepare.text.split.{state.table_key}"),
    )
    max_tokens = first.number_input(
        t("kinds.settings.max_tokens"),
        **number_kwargs(TextSpec, "max_tokens", value=text.max_tokens, step=1000),
        key=state.setting_widget(f"prepare.text.max_tokens.{state.table_key}"),
    )
    ngrams_auto = second.toggle(
        t("kinds.settings.ngrams_auto"),
        text.ngrams is None,
        key=state.setting_widget(f"prepare.text.ngrams_auto.{state.table_key}"),
        help=help_text(TextSpec, "ngrams"),
    )
    ngrams = None
    if not ngrams_auto:
        ngrams = int(
            second.number_input(
                t("kinds.settings.ngrams"),
                **number_kwargs(TextSpec, "ngrams", value=text.ngrams or 2),
                key=state.setting_widget(f"prepare.text.ngrams.{state.table_key}"),
            )
        )
    length_auto = third.toggle(
        t("kinds.settings.length_auto"),
        text.output_sequence_length is None,
        key=state.setting_widget(f"prepare.text.length_auto.{state.table_key}"),
        help=help_text(TextSpec, "output_sequence_length"),
    )
    length = None
    if not length_auto:
        length = int(
            third.number_input(
                t("kinds.settings.length"),
                **number_kwargs(TextSpec, "output_sequence_length", value=text.output_sequence_length or 100),
                key=state.setting_widget(f"prepare.text.length.{state.table_key}"),
            )
        )
    standardize = st.selectbox(
        t("kinds.settings.standardize"),
        **select_kwargs(TextSpec, "standardize", value=text.standardize),
        format_func={
            value: t(f"kinds.settings.standardize.{value}")
            for value in ("lower_and_strip_punctuation", "lower", "strip_punctuation", "none")
        }.get,
        key=state.setting_widget(f"prepare.text.standardize.{state.table_key}"),
    )
    edited = text.model_copy(
        update={
            "split": split,
            "max_tokens": int(max_tokens),
            "ngrams": ngrams,
            "output_sequence_length": length,
            "standardize": standardize,
        }
    )
    if edited != text:
        state.preprocessing = state.preprocessing.model_copy(update={"text": edited})
