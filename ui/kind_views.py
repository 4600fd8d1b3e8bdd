"""The Data page's views of an image set (kind images) and of a text column (kind text): figures and widgets
only; the profiles come from `core.data.image_profile` and `core.data.text`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.data.image_profile import profile_images
from core.errors import AppError
from core.i18n import Message, t
from core.plain_text import MAX_CHARS, markdown_literal, shorten
from ui.components import show_error
from ui.state import AppState, load_image_table

THUMBNAIL_PX = 56
MAX_CLASSES_SHOWN = 24


def thumbnail(pixels, row: int) -> np.ndarray:
    """One stored image as Streamlit shows it: (H, W) for grey, (H, W, 3) for colour."""
    image = np.asarray(pixels[int(row)])
    return image[..., 0] if image.shape[-1] == 1 else image


def _message(stored: dict) -> str:
    return Message(stored["id"], stored.get("params") or {}).render()


def image_profile(state: AppState, manifest: pd.DataFrame, pixels) -> dict:
    """The image set's profile, computed once per stored set (kept in the session's profile cache)."""
    key = (state.table_key, "images")
    cached = state.memory.profiles.get(key)
    if cached is None:
        cached = profile_images(manifest, pixels).to_dict()
        state.memory.profiles[key] = cached
    return cached


def render_image_set(state: AppState, manifest: pd.DataFrame, pixels, info: dict) -> None:
    profile = image_profile(state, manifest, pixels)
    classes: dict = profile["classes"]
    first, second, third, fourth = st.columns(4)
    first.metric(t("kinds.view.images"), f"{profile['num_images']:,}")
    second.metric(t("kinds.view.classes"), f"{len(classes):,}")
    colour = t("kinds.view.grey") if profile["channels"] == 1 else t("kinds.view.colour")
    third.metric(t("kinds.view.stored_as"), f"{profile['side']}×{profile['side']} · {colour}")
    fourth.metric(t("kinds.view.skipped"), f"{int(info.get('skipped_count', 0)):,}")
    for note in info.get("notes", ()):
        st.info(_message(note), icon=":material/info:")
    summary = "kinds.view.images_summary_table" if info.get("labelled_by") == "table" else "kinds.view.images_summary"
    st.success(t(summary, count=len(classes)))
    st.page_link(page="pages/prepare.py", label=t("data.page.next"), icon=":material/tune:")

    st.subheader(t("kinds.view.per_class"))
    counts = pd.DataFrame({t("kinds.view.class"): list(classes), t("kinds.view.images"): list(classes.values())})
    st.bar_chart(counts, x=t("kinds.view.class"), y=t("kinds.view.images"), horizontal=True)
    if profile["splits"]:
        splits = pd.DataFrame(profile["splits"]).rename_axis(t("kinds.view.class")).reset_index()
        st.caption(t("kinds.view.splits_from_folders"))
        st.dataframe(splits, hide_index=True, width="stretch")

    if profile["imbalanced"]:
        st.warning(t("kinds.view.imbalanced", ratio=f"{profile['imbalance_ratio']:.1f}"), icon=":material/warning:")
        if state.training.class_weight != "balanced":
            if st.button(t("kinds.view.fix_balance"), key="data.images.fix_balance", icon=":material/balance:"):
                state.training = state.training.model_copy(update={"class_weight": "balanced"})
                state.forget_setting_widgets()
                st.rerun()
        else:
            st.caption(t("kinds.view.balance_on"))
    if profile["duplicate_images"]:
        st.warning(
            t("kinds.view.duplicates", count=profile["duplicate_images"], groups=profile["duplicate_groups"]),
            icon=":material/content_copy:",
        )
        for group in profile["cross_class_duplicates"][:5]:
            st.caption(
                t(
                    "kinds.view.duplicate_across",
                    classes=", ".join(markdown_literal(name, 40) for name in group["labels"]),
                    files=", ".join(markdown_literal(name, 60) for name in group["files"][:3]),
                )
            )
        if not state.drop_duplicates:
            if st.button(
                t("kinds.view.fix_duplicates"), key="data.images.fix_duplicates", icon=":material/delete_sweep:"
            ):
                state.drop_duplicates = True
                state.forget_setting_widgets()
                st.rerun()
        else:
            st.caption(t("kinds.view.duplicates_dropped"))

    st.subheader(t("kinds.view.examples"))
    for position, (name, rows) in enumerate(profile["examples"].items()):
        if position >= MAX_CLASSES_SHOWN:
            st.caption(t("kinds.view.more_classes", count=len(classes) - MAX_CLASSES_SHOWN))
            break
        st.markdown(f"**{markdown_literal(name, MAX_CHARS)}** · {classes[name]:,}")
        st.image([thumbnail(pixels, row) for row in rows], width=THUMBNAIL_PX)

    with st.expander(t("kinds.view.sizes_and_modes")):
        sizes = pd.DataFrame(
            {t("kinds.view.size"): list(profile["sizes"]), t("kinds.view.images"): list(profile["sizes"].values())}
        )
        st.dataframe(sizes, hide_index=True)
        modes = pd.DataFrame(
            {t("kinds.view.mode"): list(profile["modes"]), t("kinds.view.images"): list(profile["modes"].values())}
        )
        st.dataframe(modes, hide_index=True)
        st.caption(t("kinds.view.modes_converted"))
    skipped = info.get("skipped") or []
    if skipped:
        with st.expander(t("kinds.view.skipped_files", count=int(info.get("skipped_count", len(skipped))))):
            table = pd.DataFrame(
                {
                    t("kinds.view.file"): [shorten(item["name"], 80) for item in skipped],
                    t("kinds.view.reason"): [_message(item["reason"]) for item in skipped],
                }
            )
            st.dataframe(table, hide_index=True, width="stretch")


def render_text_profiles(texts: dict) -> None:
    """Each free-text column: lengths, vocabulary, share of Chinese/Japanese/Korean characters, telling words."""
    for column, profile in texts.items():
        st.markdown(t("kinds.view.text_column", column=markdown_literal(column, MAX_CHARS)))
        first, second, third = st.columns(3)
        first.metric(t("kinds.view.median_length"), f"{profile['length_quantiles'].get('50%', 0):,.0f}")
        second.metric(t("kinds.view.vocabulary"), f"{profile['vocabulary_size']:,}")
        third.metric(t("kinds.view.cjk_share"), f"{100 * profile['cjk_share']:.0f}%")
        histogram = profile.get("length_histogram") or []
        if histogram:
            lengths = pd.DataFrame(
                {
                    t("kinds.view.length"): [f"{int(start)}–{int(end)}" for start, end, _ in histogram],
                    t("kinds.view.texts"): [int(count) for _, _, count in histogram],
                }
            )
            st.bar_chart(lengths, x=t("kinds.view.length"), y=t("kinds.view.texts"), sort=False)
        telling = profile.get("telling_words") or {}
        if telling:
            st.caption(t("kinds.view.telling_words"))
            columns = st.columns(min(len(telling), 4))
            for slot, (name, words) in zip(columns, list(telling.items())[:4], strict=False):
                slot.markdown(f"**{markdown_literal(name, 40)}**")
                slot.dataframe(pd.DataFrame({t("kinds.view.word"): [str(word) for word, _ in words]}), hide_index=True)


def cached_text_profiles(state: AppState, frame: pd.DataFrame, target: str | None, columns: list[str]) -> dict:
    """Text profiles of these columns (with telling words for the target), once per table and target."""
    from core.data.text import profile_text

    key = (state.table_key, "text", target, tuple(columns))
    cached = state.memory.profiles.get(key)
    if cached is None:
        target_series = frame[target] if target in frame.columns else None
        cached = {column: profile_text(frame[column], target_series).to_dict() for column in columns}
        state.memory.profiles[key] = cached
    return cached


def offer_images_of_table(settings, state: AppState, frame: pd.DataFrame, path_column: str) -> None:
    """A table whose column names image files: upload the zip holding them, pick the label column, and the
    images (labelled from the table) become the current data."""
    with st.container(border=True):
        st.markdown(t("data.images.table.found", column=markdown_literal(path_column, MAX_CHARS)))
        others = [str(c) for c in frame.columns if str(c) != path_column]
        if not others:
            return
        default = state.target if state.target in others else min(others, key=lambda c: frame[c].nunique())
        label = st.selectbox(t("data.images.table.label"), others, index=others.index(default),
                             format_func=shorten, key="data.image_table.label")  # fmt: skip
        upload = st.file_uploader(t("data.images.table.zip"), type=["zip"], key="data.image_table.zip")
        if upload is None:
            return
        marker = (upload.file_id, label)
        if state.memory.loaded_image_table == marker:
            return
        try:
            with st.spinner(t("kinds.view.reading_images")):
                name = t("data.images.table.source", table=state.table_name or "", zip=upload.name)
                load_image_table(settings, state, frame, path_column, label, upload.getvalue(), name)
            state.target = "label"
            state.memory.loaded_image_table = marker
        except AppError as error:
            show_error(error)
            return
        st.rerun()
