"""Show a table profile and its data-quality findings (the figures and widgets only; the logic lives in
`core.data.profiling` and `core.data.quality`)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.data.profiling import ASSOCIATION_EXPLANATION, ColumnProfile, Histogram, TableProfile, TargetProfile
from core.data.quality import Finding, Fix
from core.explanations import CHART_HELP
from core.plain_text import markdown_format, markdown_literal, plotly_literal, shorten

BAR_COLOR = "#1f77b4"
KIND_LABELS = {
    "numeric": "numbers",
    "categorical": "categories",
    "boolean": "true/false",
    "datetime": "dates",
    "text": "free text",
    "id": "identifier",
    "empty": "empty",
}
_SEVERITY_ICONS = {"error": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}


def _kind_label(column: ColumnProfile) -> str:
    label = KIND_LABELS.get(column.kind, column.kind)
    if column.mixed:
        label += " (mixed with text)" if column.kind == "numeric" else " (some numbers)"
    elif column.kind == "numeric" and column.treated_as == "categorical":
        label += " (stored as text)"
    return label


def profile_rows(profile: TableProfile) -> pd.DataFrame:
    """The overview table: one row per column."""
    target = profile.target.name if profile.target is not None else None
    return pd.DataFrame(
        [
            {
                "column": column.name + (" (target)" if column.name == target else ""),
                "kind": _kind_label(column),
                "missing %": round(100 * column.missing_fraction, 1),
                "distinct": column.num_distinct,
                "association with target": column.association,
                "example": column.example,
            }
            for column in profile.columns
        ]
    )


def _layout(figure: go.Figure, x_title: str) -> go.Figure:
    figure.update_layout(
        height=280,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title=plotly_literal(x_title, max_chars=80),
        yaxis_title="rows",
        bargap=0.05,
        showlegend=False,
    )
    return figure


def histogram_figure(histogram: Histogram, x_title: str) -> go.Figure:
    edges = histogram.edges
    # Halves first: near float64's largest number a sum or a difference of edges would overflow to inf.
    centres = [low / 2 + high / 2 for low, high in zip(edges[:-1], edges[1:], strict=True)]
    widths = [high / 2 - low / 2 for low, high in zip(edges[:-1], edges[1:], strict=True)]
    widths = [2 * width for width in widths] if max(widths, default=0.0) < 8e307 else None
    ranges = [f"{low:.4g} to {high:.4g}" for low, high in zip(edges[:-1], edges[1:], strict=True)]
    bar = go.Bar(
        x=centres,
        y=list(histogram.counts),
        width=widths,
        customdata=ranges,
        marker_color=BAR_COLOR,
        hovertemplate="%{customdata}<br>%{y:,} rows<extra></extra>",
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
        hovertemplate="%{customdata}<br>%{y:,} rows<extra></extra>",
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
        return top_values_figure(column.top_values, f"{column.name} (most frequent values)")
    return None


def _render_target(target: TargetProfile, key: str) -> None:
    st.markdown(markdown_format("**Target: {}**", target.name))
    if target.problem:
        st.error(markdown_literal(target.problem), icon=":material/error:")
        return
    if target.class_counts:
        shown = ", ".join(
            f"{markdown_literal(name, 30)}: {count:,} ({share:.0%})" for name, count, share in target.class_shares(5)
        )
        st.caption(f"{target.task} · {target.num_distinct:,} classes · {shown}")
        st.plotly_chart(top_values_figure(target.class_counts, target.name), width="stretch", key=f"{key}.target")
        st.caption(CHART_HELP["target_classes"])
    elif target.histogram is not None:
        st.caption(f"{target.task} · {target.num_distinct:,} distinct values")
        st.plotly_chart(histogram_figure(target.histogram, target.name), width="stretch", key=f"{key}.target")
        st.caption(CHART_HELP["target_histogram"])
    if target.missing_count:
        st.caption(f"{target.missing_count:,} rows have no target value; training leaves them out.")


def render_profile(profile: TableProfile, *, key: str = "profile") -> None:
    """The column overview, a chart of one chosen column, and the target's class balance or histogram."""
    if profile.sampled_rows is not None:
        st.caption(
            f":material/info: Profiled on a sample of {profile.sampled_rows:,} of {profile.num_rows:,} rows "
            "(missing values counted on all rows)."
        )
    st.dataframe(
        profile_rows(profile),
        width="stretch",
        hide_index=True,
        column_config={
            "association with target": st.column_config.ProgressColumn(
                "association with target",
                help=ASSOCIATION_EXPLANATION,
                min_value=0.0,
                max_value=1.0,
                format="%.2f",
            ),
            "missing %": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    free_text = [column.name for column in profile.columns if column.kind == "text"]
    if free_text:
        st.caption(
            ":material/notes: Free text: "
            + ", ".join(markdown_literal(name, 40) for name in free_text)
            + ". LayerLab reads tables for now: until text support lands, a text column is used as categories "
            "(each different text is one), so the Prepare page suggests ignoring it."
        )
    if profile.target is not None and profile.association_rows:
        st.caption(
            "Association with the target: 0 = the column tells nothing about it, 1 = it determines it.",
            help=f"{ASSOCIATION_EXPLANATION} Measured on {profile.association_rows:,} rows.",
        )
    names = [column.name for column in profile.columns]
    if not names:
        return
    left, right = st.columns(2)
    with left:
        chosen = st.selectbox("Show column", names, format_func=shorten, key=f"{key}.column")
        column = profile.columns[names.index(chosen)]
        figure = _column_chart(column)
        if figure is None:
            st.caption("This column has no values to show.")
        else:
            st.plotly_chart(figure, width="stretch", key=f"{key}.chart")
            st.caption(CHART_HELP["histogram" if column.histogram is not None else "top_values"])
        if column.mixed:
            st.caption(
                f"{column.mixed_count:,} values are not numbers, for example: "
                + ", ".join(markdown_literal(value, 40) for value in column.mixed_examples)
            )
    with right:
        if profile.target is not None:
            _render_target(profile.target, key)


def render_findings(findings: list[Finding], *, key: str = "quality") -> Fix | None:
    """Each finding as an error, warning or info box with its one-click fix; returns the fix clicked, if any."""
    if not findings:
        st.success(
            "No problems found: no ID-like, constant or leaking columns, no duplicates, no mixed types.",
            icon=":material/check_circle:",
        )
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
