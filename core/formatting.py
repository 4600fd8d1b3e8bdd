"""How numbers are shown to users: metrics in one format everywhere (cards, tables, the model card)."""

from __future__ import annotations

import math

_IN_TARGET_UNITS = {"mae", "rmse"}


def format_metric(name: str, value: float | None) -> str:
    """A metric as shown everywhere (cards, tables, model card): MAPE as a percentage, errors in the target's
    units with two decimals, scores with four; `n/a` when undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if name == "mape":
        return f"{value:.1%}"
    if name in _IN_TARGET_UNITS:
        return f"{value:,.2f}"
    return f"{value:.4f}"


def format_metric_spread(name: str, mean: float | None, std: float | None) -> str:
    """A cross-validation mean ± std in the metric's own format."""
    if mean is None:
        return "n/a"
    return f"{format_metric(name, mean)} ± {format_metric(name, std or 0.0)}"
