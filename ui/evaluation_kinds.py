"""Evaluate-page pieces for image and text runs: a confusion cell's test images as thumbnails, with an occlusion heat
map of one of them on request, and its texts with the words that pushed each prediction highlighted.

The heat maps and pushes come from `core.evaluation.occlusion` (a child process: the server never imports Keras). They
are kept in this module for every session, keyed by run, model file and input: a session reaches them only through a
run the page has already opened for it (ownership is checked by `RunStore.path`).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.errors import AppError
from core.evaluation.occlusion import HeatMap, TextPushes, run_heat_map, run_word_pushes
from core.i18n import t
from core.plain_text import MAX_CHARS, markdown_literal, plotly_literal, shorten
from core.run_store import RunStore
from ui.components import show_error

MAX_THUMBNAILS = 60
THUMBNAIL_PX = 96
MAX_PUSHED_TEXTS = 20
MAX_LISTED_ROWS = 1000
# A word is highlighted when its push is at least this share of the text's strongest push (and not nothing at all),
# and in bold from the second share on: the colours say which way, the bold which words decided.
HIGHLIGHT_SHARE, BOLD_SHARE, MIN_PUSH = 0.2, 0.6, 1e-4
# Blue (covering raised the probability) → transparent (no change: the image shows through) → red (it dropped).
HEAT_COLOURS = [[0.0, "rgba(33, 102, 172, 0.85)"], [0.5, "rgba(255, 255, 255, 0)"], [1.0, "rgba(178, 24, 43, 0.85)"]]
CACHE_SIZE = 64
_heat_maps: OrderedDict[tuple, HeatMap] = OrderedDict()
_pushes: OrderedDict[tuple, list[TextPushes]] = OrderedDict()


def _remember(cache: OrderedDict, key: tuple, value) -> None:
    cache[key] = value
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)


def _model_stamp(store: RunStore, run_id: str) -> int | None:
    """The model file's modification time: a cached answer describes that model only."""
    path = store.model_path(run_id)
    return path.stat().st_mtime_ns if path is not None else None


def enlarged(image: np.ndarray, pixels: int = THUMBNAIL_PX) -> np.ndarray:
    """A stored image as Streamlit shows it, enlarged by whole pixels so a 28-pixel digit stays sharp: (H, W) for
    grey, (H, W, 3) for colour."""
    image = np.asarray(image)
    factor = max(1, pixels // max(image.shape[:2]))
    image = image.repeat(factor, axis=0).repeat(factor, axis=1)
    return image[..., 0] if image.shape[-1] == 1 else image


def _read_images(pixels, rows: np.ndarray) -> np.ndarray:
    """Some images of the memory-mapped array, read in disk order and given back in `rows` order."""
    order = np.argsort(rows, kind="stable")
    images = np.empty((len(rows), *pixels.shape[1:]), dtype="uint8")
    images[order] = pixels[rows[order]]
    return images


def image_cell(store: RunStore, run_id: str, cell: pd.DataFrame, predicted: str) -> None:
    """A confusion cell of an image run: its test images (the first 60) captioned with the probability of the
    predicted class, then a heat map of where the network looked in one of them."""
    if cell.empty:
        return
    pixels = store.pixels(run_id)
    if pixels is None:
        st.info(t("evaluate.kinds.images.no_pixels"))
        return
    shown = cell.head(MAX_THUMBNAILS)
    rows = shown["pixel_row"].to_numpy(dtype="int64")
    probabilities = shown[f"P({predicted})"].to_numpy(dtype="float64")
    files = shown["file"].astype(str).tolist() if "file" in shown.columns else [""] * len(shown)
    captions = [
        # The file's own name (its folders are the split and the class, the same for the whole cell).
        t(
            "evaluate.kinds.images.caption",
            probability=f"{probability:.2f}",
            file=markdown_literal(name.rsplit("/", 1)[-1], 18),
        )
        for probability, name in zip(probabilities, files, strict=True)
    ]
    images = _read_images(pixels, rows)
    st.image([enlarged(image) for image in images], caption=captions, width=THUMBNAIL_PX, output_format="PNG")
    if len(cell) > MAX_THUMBNAILS:
        st.caption(t("evaluate.kinds.images.first", shown=MAX_THUMBNAILS, count=len(cell)))
    heat_map_section(store, run_id, rows, files, probabilities, predicted)


def heat_map_section(
    store: RunStore, run_id: str, rows: np.ndarray, files: list[str], probabilities: np.ndarray, predicted: str
) -> None:
    st.markdown(t("evaluate.kinds.images.heat_title", predicted=markdown_literal(predicted, MAX_CHARS)))
    labels = {
        int(row): t("evaluate.kinds.images.option", number=position + 1, file=shorten(name, 40),
                    probability=f"{probability:.2f}")
        for position, (row, name, probability) in enumerate(zip(rows, files, probabilities, strict=True))
    }  # fmt: skip
    chosen = st.selectbox(
        t("evaluate.kinds.images.pick"), list(labels), format_func=labels.get, key=f"evaluate.kinds.image.{run_id}"
    )
    if chosen is None:
        return
    key = (run_id, _model_stamp(store, run_id), int(chosen), predicted)
    heat = _heat_maps.get(key)
    if heat is None:
        if not st.button(
            t("evaluate.kinds.images.compute"),
            key=f"evaluate.kinds.heat.{run_id}",
            icon=":material/visibility:",
            help=t("evaluate.kinds.images.compute_help"),
        ):
            return
        with st.spinner(t("evaluate.kinds.images.computing")):
            try:
                heat = run_heat_map(store.path(run_id), int(chosen), predicted)
            except AppError as error:
                show_error(error)
                return
        _remember(_heat_maps, key, heat)
    image = np.asarray(store.pixels(run_id)[int(chosen)])
    st.plotly_chart(heat_map_figure(image, heat), width="stretch", key=f"evaluate.kinds.heat_chart.{run_id}")
    st.caption(
        t(
            "evaluate.kinds.images.heat_caption",
            predicted=markdown_literal(predicted, MAX_CHARS),
            probability=f"{heat.probability:.2f}",
            patch=heat.patch,
        )
    )


def heat_map_figure(image: np.ndarray, heat: HeatMap) -> go.Figure:
    """The image, and beside it the same image under the drops: red where covering it lowered the predicted class's
    probability (the network used that part), blue where it raised it."""
    image = np.asarray(image, dtype="uint8")
    colour = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(t("evaluate.kinds.images.chart_image"), t("evaluate.kinds.images.chart_heat")),
        horizontal_spacing=0.06,
    )
    figure.add_trace(go.Image(z=colour, hoverinfo="skip"), row=1, col=1)
    figure.add_trace(go.Image(z=colour, opacity=0.6, hoverinfo="skip"), row=1, col=2)
    centre = (heat.patch - 1) / 2
    limit = float(np.abs(heat.drops).max()) or 1e-6
    figure.add_trace(
        go.Heatmap(
            z=heat.drops.tolist(),
            x=[column + centre for column in heat.columns],
            y=[row + centre for row in heat.rows],
            colorscale=HEAT_COLOURS,
            zmin=-limit,
            zmax=limit,
            colorbar={"title": {"text": t("evaluate.kinds.images.colorbar")}, "thickness": 12, "tickformat": ".2g"},
            hovertemplate=t(
                "evaluate.kinds.images.heat_hover",
                predicted=plotly_literal(heat.class_name, 30),
                drop="%{z:.3f}",
            )
            + "<extra></extra>",
        ),
        row=1,
        col=2,
    )
    figure.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    figure.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed")
    figure.update_yaxes(scaleanchor="x", row=1, col=1)
    figure.update_yaxes(scaleanchor="x2", row=1, col=2)
    figure.update_layout(height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def text_cell(store: RunStore, run_id: str, cell: pd.DataFrame, predicted: str, column: str) -> None:
    """A confusion cell of a text run: its texts as plain text, the first 20 with the words that pushed the
    prediction highlighted (on request: it runs the model once per word), the rest in a table."""
    if cell.empty:
        return
    probability_column = f"P({predicted})"
    first = cell.head(MAX_PUSHED_TEXTS)
    texts = first[column].astype("string").fillna("").astype(str).tolist()
    highlight = st.toggle(
        t("evaluate.kinds.text.highlight", count=len(first)),
        key=f"evaluate.kinds.highlight.{run_id}",
        help=t("evaluate.kinds.text.highlight_help"),
    )
    pushes = None
    if highlight:
        key = (run_id, _model_stamp(store, run_id), predicted, tuple(texts))
        pushes = _pushes.get(key)
        if pushes is None:
            with st.spinner(t("evaluate.kinds.text.computing", count=len(texts))):
                try:
                    pushes = run_word_pushes(store.path(run_id), texts, [predicted] * len(texts))
                except AppError as error:
                    show_error(error)
                else:
                    _remember(_pushes, key, pushes)
        if pushes is not None:
            st.caption(t("evaluate.kinds.text.legend", predicted=markdown_literal(predicted, MAX_CHARS)))
    for position, (text, probability) in enumerate(zip(texts, first[probability_column], strict=True)):
        body = highlighted(pushes[position]) if pushes is not None else markdown_literal(text)
        st.markdown(t("evaluate.kinds.text.item", probability=f"{probability:.2f}", text=body))
    rest = cell.iloc[MAX_PUSHED_TEXTS:]
    if not rest.empty:
        st.caption(t("evaluate.kinds.text.more", count=len(rest)))
        st.dataframe(rest.head(MAX_LISTED_ROWS), hide_index=True, width="stretch", key=f"evaluate.cell_rows.{run_id}")
        if len(rest) > MAX_LISTED_ROWS:
            st.caption(t("evaluate.confusion.first_rows"))


def _style(push: float | None, strongest: float) -> tuple[str, bool] | None:
    if push is None or abs(push) < max(MIN_PUSH, HIGHLIGHT_SHARE * strongest):
        return None
    return ("red" if push > 0 else "blue", abs(push) >= BOLD_SHARE * strongest)


def _literal(text: str) -> str:
    """`markdown_literal` of one part, safe beside a `:colour[…]` directive: a closing colon is escaped (a colon right
    before a directive breaks it) and so is an opening brace (right after one it would read as its attributes)."""
    literal = markdown_literal(text)
    if literal.endswith(":") and (len(literal) - len(literal[:-1].rstrip("\\")) - 1) % 2 == 0:
        literal = literal[:-1] + "\\:"
    return "\\" + literal if literal.startswith("{") else literal


def highlighted(pushes: TextPushes) -> str:
    """The text as Streamlit Markdown: each run of words that pushed toward the class on a red background, against
    it on a blue one, the strongest in bold; every part made literal first, so the user's Markdown and HTML show as
    typed."""
    # Every run of spaces and line breaks shows as one space: a line break could end the Markdown paragraph.
    pieces = [" " if piece.isspace() else piece for piece in pushes.pieces]
    strongest = max((abs(push) for push in pushes.pushes if push is not None), default=0.0)
    styles = [_style(push, strongest) for push in pushes.pushes]
    for position, piece in enumerate(pieces):
        # Spaces between two words of the same colour join their highlight.
        if piece == " " and 0 < position < len(styles) - 1 and styles[position - 1] == styles[position + 1]:
            styles[position] = styles[position - 1]
    parts: list[str] = []
    start = 0
    for position in range(1, len(styles) + 1):
        if position < len(styles) and styles[position] == styles[start]:
            continue
        text = "".join(pieces[start:position])
        style = styles[start]
        if style is None:
            # Spaces before the words stay spaces (markdown_literal writes them as entities for a line's start).
            words = text.lstrip(" ")
            parts.append((" " if len(words) < len(text) and parts else "") + (_literal(words) if words else ""))
        else:
            colour, bold = style
            inner = f"**{_literal(text)}**" if bold else _literal(text)
            parts.append(f":{colour}-background[{inner}]")
        start = position
    return "".join(parts)
