"""How numbers are shown to users: metrics in one format everywhere (cards, tables, the model card)."""

from __future__ import annotations

import math

from core.i18n import format_number, format_share, t

_IN_TARGET_UNITS = {"mae", "rmse"}


def format_metric(name: str, value: float | None) -> str:
    """A metric as shown everywhere (cards, tables, model card): MAPE as a percentage, errors in the target's
    units with two decimals, scores with four; `n/a` when undefined. Grouping and decimal marks follow the
    current language (English: "1,234.57", "12.3%", "0.8123")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return not_available()
    if name == "mape":
        return format_share(value, format="#,##0.0%")
    if name in _IN_TARGET_UNITS:
        return format_number(value, format="#,##0.00")
    return format_number(value, format="0.0000")


def not_available() -> str:
    """What an undefined value shows ("n/a")."""
    return t("evaluate.format.not_available")


def format_metric_spread(name: str, mean: float | None, std: float | None) -> str:
    """A cross-validation mean ± std in the metric's own format."""
    if mean is None:
        return not_available()
    return f"{format_metric(name, mean)} ± {format_metric(name, std or 0.0)}"
