"""Plain one-line explanations for the pages other than Evaluate (whose texts live in core.evaluation.metrics).

METRIC_HELP is shown on hover over a metric (what it means, what is good); CHART_HELP as a caption under a chart;
NEXT_STEPS as the first line of a page (what to do here, what comes next), one entry per page and situation.

The sentences are messages of the catalogs (core/locale/*/LC_MESSAGES/data.po, English and Chinese):
METRIC_HELP[k] is "data.explain.metric.<k>", CHART_HELP[k] "data.explain.chart.<k>", NEXT_STEPS[page][k]
"data.explain.next.<page>.<k>", each read in the current language when it is looked up."""

from __future__ import annotations

from core.i18n import CatalogView, t

METRIC_HELP = CatalogView("data.explain.metric.")
CHART_HELP = CatalogView("data.explain.chart.")
NEXT_STEPS = {
    page: CatalogView(f"data.explain.next.{page}.")
    for page in ("data", "prepare", "model", "train", "predict", "download")
}


def next_step(page: str, situation: str) -> str:
    """The first line of a page: what to do here and what comes next."""
    return t(f"data.explain.next.{page}.{situation}")
