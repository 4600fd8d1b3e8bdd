"""Show a table profile and its data-quality findings (the figures and widgets only; the logic lives in
`core.data.profiling` and `core.data.quality`)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.data.profiling import ColumnProfile, Histogram, TableProfile, TargetProfile, association_explanation
from core.data.quality import Finding, Fix
from core.explanations import CHART_HELP
from core.i18n import CatalogView, t
from core.plain_text import MAX_CHARS, markdown_literal, plotly_literal, shorten

BAR_COLOR = "#1f77b4"
# What a column holds, by profile kind: the messages "data.profile.kind.<kind>", in the current language.
KIND_LABELS = CatalogView("data.profile.kind.")
_INFO_ICON, _NOTES_ICON = ":material/info:", ":material/notes:"
_SEVERITY_ICONS = {"error": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}


def _kind_label(column: ColumnProfile) -> str:
    label = KIND_LABELS.get(column.kind, column.kind)
    if column.mixed:
        return t(
            "data.profile.kind_mixed_text" if column.kind == "numeric" else "data.profile.kind_some_numbers", kind=label
        )
    if column.kind == "numeric" and column.treated_as == "categorical":
        return t("data.profile.kind_stored_as_text", kind=label)
    return label


def _task_name(task: str | None) -> str:
    return t(f"data.page.task_name.{task}") if task else ""


def profile_rows(profile: TableProfile) -> pd.DataFrame:
    """The overview table: one row per column, its headers in the current language."""
    target = profile.target.name if profile.target is not None else None
    headers = _headers()
    return pd.DataFrame(
        [
            {
                headers["column"]: t("data.profile.target_suffix", name=column.name)
                if column.name == target
                else column.name,
                headers["kind"]: _kind_label(column),
                headers["missing"]: round(100 * column.missing_fraction, 1),
                headers["distinct"]: column.num_distinct,
                headers["association"]: column.association,
                headers["example"]: column.example,
            }
            for column in profile.columns
        ],
        columns=list(headers.values()),
    )


def _headers() -> dict[str, str]:
    """The overview table's column headers, in the current language."""
    return {
        key: t(f"data.profile.header.{key}")
        for key in ("column", "kind", "missing", "distinct", "association", "example")
    }


def _layout(figure: go.Figure, x_title: str) -> go.Figure:
    figure.update_layout(
        height=280,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title=plotly_literal(x_title, max_chars=80),
        yaxis_title=t("data.profile.axis_rows"),
        bargap=0.05,
        showlegend=False,
    )
    return figure


def _hover_rows() -> str:
    """A bar's hover text: its value (customdata) and its row count, the word in the current language."""
    return "%{customdata}<br>%{y:,} " + t("data.profile.hover_rows") + "<extra></extra>"


def histogram_figure(histogram: Histogram, x_title: str) -> go.Figure:
    edges = histogram.edges
    # Halves first: near float64's largest number a sum or a difference of edges would overflow to inf.
    centres = [low / 2 + high / 2 for low, high in zip(edges[:-1], edges[1:], strict=True)]
    widths = [high / 2 - low / 2 for low, high in zip(edges[:-1], edges[1:], strict=True)]
    widths = [2 * width for width in widths] if max(widths, default=0.0) < 8e307 else None
    ranges = [t("data.profile.range", low=low, high=high) for low, high in zip(edges[:-1], edges[1:], strict=True)]
    bar = go.Bar(
        x=centres,
        y=list(histogram.counts),
        width=widths,
        customdata=ranges,
        marker_color=BAR_COLOR,
        hovertemplate=_hover_rows(),
    )
    return _layout(go.Figure(bar), x_title)


def top_values_figure(pairs: tuple[tuple[str, int], ...], x_title: str) -> go.Figure:
    values = [value for value, _ in pairs]
    # The values stay the categories; what Plotly draws (ticks, hover) is their literal, shortened text.
    bar = go.Bar(
        x=values,
        y=[count for _, count in pairs],
        customdata=[plotly_literal(value, max_chars=80) for value in values],
        marker_color=BAR_COLOR,
        hovertemplate=_hover_rows(),
    )
    figure = _layout(go.Figure(bar), x_title)
    figure.update_xaxes(
        type="category", tickmode="array", tickvals=values, ticktext=[plotly_literal(value, 30) for value in values]
    )
    return figure


def _column_chart(column: ColumnProfile) -> go.Figure | None:
    if column.histogram is not None:
        return histogram_figure(column.histogram, column.name)
    if column.top_values:
        return top_values_figure(column.top_values, t("data.profile.most_frequent", name=column.name))
    return None


def _render_target(target: TargetProfile, key: str) -> None:
    st.markdown(t("data.profile.target", name=markdown_literal(target.name, MAX_CHARS)))
    if target.problem:
        st.error(markdown_literal(target.problem), icon=":material/error:")
        return
    if target.class_counts:
        shown = ", ".join(
            f"{markdown_literal(name, 30)}: {count:,} ({share:.0%})" for name, count, share in target.class_shares(5)
        )
        st.caption(
            t("data.profile.target_classes", task=_task_name(target.task), count=target.num_distinct, shown=shown)
        )
        st.plotly_chart(top_values_figure(target.class_counts, target.name), width="stretch", key=f"{key}.target")
        st.caption(CHART_HELP["target_classes"])
    elif target.histogram is not None:
        st.caption(t("data.profile.target_distinct", task=_task_name(target.task), count=target.num_distinct))
        st.plotly_chart(histogram_figure(target.histogram, target.name), width="stretch", key=f"{key}.target")
        st.caption(CHART_HELP["target_histogram"])
    if target.missing_count:
        st.caption(t("data.profile.target_missing", count=target.missing_count))


def render_profile(profile: TableProfile, *, key: str = "profile") -> None:
    """The column overview, a chart of one chosen column, and the target's class balance or histogram."""
    if profile.sampled_rows is not None:
        st.caption(f"{_INFO_ICON} {t('data.profile.sampled', sampled=profile.sampled_rows, rows=profile.num_rows)}")
    headers = _headers()
    st.dataframe(
        profile_rows(profile),
        width="stretch",
        hide_index=True,
        column_config={
            headers["association"]: st.column_config.ProgressColumn(
                headers["association"],
                help=association_explanation(),
                min_value=0.0,
                max_value=1.0,
                format="%.2f",
            ),
            headers["missing"]: st.column_config.NumberColumn(format="%.1f"),
        },
    )
    free_text = [column.name for column in profile.columns if column.kind == "text"]
    if free_text:
        columns = ", ".join(markdown_literal(name, 40) for name in free_text)
        st.caption(f"{_NOTES_ICON} {t('data.profile.free_text', columns=columns)}")
    if profile.target is not None and profile.association_rows:
        st.caption(
            t("data.profile.association_caption"),
            help=t(
                "data.profile.association_help", explanation=association_explanation(), rows=profile.association_rows
            ),
        )
    names = [column.name for column in profile.columns]
    if not names:
        return
    left, right = st.columns(2)
    with left:
        chosen = st.selectbox(t("data.profile.show_column"), names, format_func=shorten, key=f"{key}.column")
        column = profile.columns[names.index(chosen)]
        figure = _column_chart(column)
        if figure is None:
            st.caption(t("data.profile.no_values"))
        else:
            st.plotly_chart(figure, width="stretch", key=f"{key}.chart")
            st.caption(CHART_HELP["histogram" if column.histogram is not None else "top_values"])
        if column.mixed:
            examples = ", ".join(markdown_literal(value, 40) for value in column.mixed_examples)
            st.caption(t("data.profile.not_numbers", count=column.mixed_count, examples=examples))
    with right:
        if profile.target is not None:
            _render_target(profile.target, key)


def render_findings(findings: list[Finding], *, key: str = "quality") -> Fix | None:
    """Each finding as an error, warning or info box with its one-click fix; returns the fix clicked, if any."""
    if not findings:
        st.success(t("data.profile.no_problems"), icon=":material/check_circle:")
        return None
    clicked = None
    for index, finding in enumerate(findings):
        box = {"error": st.error, "warning": st.warning, "info": st.info}[finding.severity]
        box(markdown_literal(finding.message), icon=_SEVERITY_ICONS[finding.severity])
        fixes = finding.fixes
        buttons = st.columns(len(fixes)) if len(fixes) > 1 else [st.container()] * len(fixes)
        for number, (place, fix) in enumerate(zip(buttons, fixes, strict=True)):
            suffix = "" if number == 0 else f".{fix.action}"
            button_key = f"{key}.fix.{index}.{finding.kind}.{finding.column}{suffix}"
            if place.button(markdown_literal(fix.label), key=button_key, icon=":material/build:"):
                clicked = fix
    return clicked
