"""The run history: every run of a store (in shared mode, of one session) as rows to sort, filter and annotate.

Rows come from the run index (`RunStore.list_runs`), so a thousand runs are listed without opening their
folders. A user's name, note and star live in meta.json beside the facts `create_run` wrote.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass

from core.errors import AppError
from core.evaluation.baselines import MAIN_METRIC
from core.i18n import t
from core.model.layers import layer_kind
from core.run_store import TEST_HELD_BACK, RunRecord, RunStore
from core.spec import ModelSpec

MAX_NAME_CHARS = 80
MAX_NOTE_CHARS = 2000
# The metric a row shows for runs whose task is not recorded yet (queued, or failed before the split).
_FALLBACK_METRICS = ("accuracy", "r2")


@dataclass(frozen=True, slots=True)
class HistoryRow:
    run_id: str
    created_at: float
    source_name: str
    kind: str
    task: str | None
    layers: tuple[str, ...]  # short labels in the current language: "Dense 64", "Dropout 0.2"
    metric_name: str | None  # "accuracy" or "r2" (the task's main test metric)
    metric: float | None
    duration_s: float | None
    state: str
    name: str
    note: str
    starred: bool
    held_back: bool  # a search trial whose test score waits until it is chosen (core.training.run_job)
    record: RunRecord

    @property
    def model(self) -> str:
        return " → ".join(self.layers) if self.layers else t("experiments.history.no_hidden_layers")

    @property
    def title(self) -> str:
        """The user's name for the run, else its source and short id."""
        return self.name or f"{self.source_name} · {self.run_id[:6]}"


def short_layer(layer: dict) -> str:
    """ "Dense 64": the Keras class and its main setting, from a layer's spec as stored (a dict)."""
    return _short_layer(json.dumps(layer, sort_keys=True))


@functools.lru_cache(maxsize=4096)  # the Runs page labels every run's layers on each rerun: parse each once
def _short_layer(layer_json: str) -> str:
    layer = json.loads(layer_json)
    try:
        parsed = ModelSpec.model_validate({"layers": [layer]}).layers[0]
        kind = layer_kind(parsed)
    except (ValueError, KeyError):
        return str(layer.get("kind", "?"))
    main = next((getattr(parsed, name) for name in ("units", "filters", "rate") if hasattr(parsed, name)), None)
    return kind.keras_class if main is None else f"{kind.keras_class} {main:g}"


def main_metric(task: str | None, metrics: dict) -> tuple[str | None, float | None]:
    names = (MAIN_METRIC[task],) if task in MAIN_METRIC else _FALLBACK_METRICS
    for name in names:
        value = metrics.get(name)
        if isinstance(value, (int, float)) and math.isfinite(value):
            return name, float(value)
    return (names[0] if task in MAIN_METRIC else None), None


def history_row(record: RunRecord) -> HistoryRow:
    details = record.details or {}
    metrics = details.get("metrics") or {}
    task = details.get("task")
    metric_name, metric = main_metric(task, metrics)
    started, finished = details.get("started_at"), details.get("finished_at")
    duration = finished - started if isinstance(started, (int, float)) and isinstance(finished, (int, float)) else None
    return HistoryRow(
        run_id=record.run_id,
        created_at=record.created_at,
        source_name=record.source_name,
        kind=details.get("kind") or "table",
        task=task,
        layers=tuple(short_layer(layer) for layer in details.get("layers") or () if isinstance(layer, dict)),
        metric_name=metric_name,
        metric=metric,
        duration_s=None if duration is None or duration < 0 else duration,
        state=record.state,
        name=str(details.get("name") or ""),
        note=str(details.get("note") or ""),
        starred=bool(details.get("starred")),
        held_back=bool(details.get(TEST_HELD_BACK)),
        record=record,
    )


def history(store: RunStore) -> list[HistoryRow]:
    """Every run the store's owner may see, newest first."""
    return [history_row(record) for record in store.list_runs()]


SORT_KEYS = ("newest", "oldest", "best", "name")


def sort_rows(rows: list[HistoryRow], by: str = "newest") -> list[HistoryRow]:
    """Newest or oldest first, best main metric first (runs without one last), or by name; starred runs lead."""
    if by not in SORT_KEYS:
        raise ValueError(f"sort key {by!r}: expected one of {SORT_KEYS}")
    if by == "best":
        ordered = sorted(rows, key=lambda r: (r.metric is None, -(r.metric or 0.0), -r.created_at))
    elif by == "name":
        ordered = sorted(rows, key=lambda r: (r.title.casefold(), -r.created_at))
    else:
        ordered = sorted(rows, key=lambda r: r.created_at, reverse=by == "newest")
    return sorted(ordered, key=lambda r: not r.starred)  # stable: starred first, each group in the chosen order


def filter_rows(
    rows: list[HistoryRow],
    *,
    text: str = "",
    states: set[str] | None = None,
    tasks: set[str] | None = None,
    starred_only: bool = False,
) -> list[HistoryRow]:
    """Rows whose name, note, table or model holds `text` (any case), in the chosen states and tasks."""
    needle = text.strip().casefold()
    kept = []
    for row in rows:
        if states and row.state not in states:
            continue
        if tasks and (row.task or "") not in tasks:
            continue
        if starred_only and not row.starred:
            continue
        haystack = " ".join((row.name, row.note, row.source_name, row.model, row.run_id)).casefold()
        if needle and needle not in haystack:
            continue
        kept.append(row)
    return kept


class AnnotationError(AppError):
    """A name or note the history cannot keep."""


def annotate(store: RunStore, run_id: str, *, name: str | None = None, note: str | None = None,
             starred: bool | None = None) -> None:  # fmt: skip
    """Rename, note or star a run (its owner's store checks the id)."""
    values = {}
    if name is not None:
        name = " ".join(name.split())
        if len(name) > MAX_NAME_CHARS:
            raise AnnotationError(t("experiments.history.name_too_long", limit=MAX_NAME_CHARS, length=len(name)))
        values["name"] = name
    if note is not None:
        note = note.strip()
        if len(note) > MAX_NOTE_CHARS:
            raise AnnotationError(t("experiments.history.note_too_long", limit=MAX_NOTE_CHARS, length=len(note)))
        values["note"] = note
    if starred is not None:
        values["starred"] = bool(starred)
    if values:
        store.update_meta(run_id, **values)
