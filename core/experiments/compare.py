"""Two to five runs side by side: their metrics with the best marked, their curves, what differs in their specs
(in words: "learning rate 0.001 → 0.01", "+1 Dense layer") and, for classification, how each class fared."""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.errors import AppError, RunNotFoundError
from core.evaluation.metrics import METRIC_LABELS
from core.experiments.history import HistoryRow, history_row, short_layer
from core.i18n import CatalogView, t
from core.run_store import RunFiles, RunStore
from core.spec import parse_spec

MIN_RUNS, MAX_RUNS = 2, 5
# Higher is better for these; lower for the rest (errors and losses).
HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "r2"}
METRIC_ORDER = ("accuracy", "f1", "precision", "recall", "roc_auc", "r2", "mae", "rmse", "mape")
# Settings that describe bookkeeping, not the network or how it learned.
_IGNORED = {"version"}
# Names of the common settings ("experiments.setting.<path>"); any other path is shown in words.
SETTING_NAMES = CatalogView("experiments.setting.")


def metric_name(name: str) -> str:
    """A metric as the Evaluate page names it."""
    return METRIC_LABELS[name] if name in METRIC_LABELS else name


class CompareError(AppError):
    """Runs that cannot be compared (too few, too many, or not found)."""


@dataclass(frozen=True, slots=True)
class Comparison:
    rows: list[HistoryRow]  # in the order asked; the first is the reference the others are described against
    metrics: pd.DataFrame  # index: metric names; columns: run ids; NaN where a run has no such metric
    best: dict[str, str]  # metric -> run id of the best value (ties: the first)
    differences: dict[str, list[str]]  # run id (not the first) -> sentences of what differs from the first
    curves: dict[str, list[dict]]  # run id -> per-epoch history rows (loss, val_loss, metrics)
    per_class: pd.DataFrame | None  # classification: index class; columns run ids; recall on the test rows


def _flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        flat: dict[str, object] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _setting_name(path: str) -> str:
    """The name a person reads for a spec path: a catalog label for the common ones, else the path in words."""
    if path in SETTING_NAMES:
        return SETTING_NAMES[path]
    parts = [part for part in path.split(".") if part not in {"data", "training", "preprocessing"}]
    return " · ".join(part.replace("_", " ") for part in parts) or path


def _shown(value) -> str:
    if value is None:
        return t("experiments.diff.none")
    if isinstance(value, bool):
        return t("experiments.diff.on") if value else t("experiments.diff.off")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_shown(item) for item in value) if value else t("experiments.diff.none")
    return str(value)


def layer_differences(before: list[dict], after: list[dict]) -> list[str]:
    """ "+1 Dense layer (Dense 32)", "layer 2: Dense 64 → Dense 128", "−1 Dropout layer (Dropout 0.2)"."""
    old = [short_layer(layer) for layer in before]
    new = [short_layer(layer) for layer in after]
    kinds_old = [label.split(" ")[0] for label in old]
    kinds_new = [label.split(" ")[0] for label in new]
    sentences = []
    matcher = difflib.SequenceMatcher(a=kinds_old, b=kinds_new, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            for offset in range(a1 - a0):
                if old[a0 + offset] != new[b0 + offset]:
                    sentences.append(
                        t("experiments.diff.layer_changed", position=b0 + offset + 1,
                          before=old[a0 + offset], after=new[b0 + offset])
                    )  # fmt: skip
            continue
        for label in old[a0:a1]:
            sentences.append(t("experiments.diff.layer_removed", kind=label.split(" ")[0], layer=label))
        for label in new[b0:b1]:
            sentences.append(t("experiments.diff.layer_added", kind=label.split(" ")[0], layer=label))
    return sentences


def spec_differences(before: dict, after: dict) -> list[str]:
    """What changed from one stored spec (JSON) to another, in words; the layers first."""
    sentences = layer_differences(
        list((before.get("model") or {}).get("layers") or []), list((after.get("model") or {}).get("layers") or [])
    )
    strip = lambda spec: {k: v for k, v in spec.items() if k not in _IGNORED}  # noqa: E731
    flat_before = _flatten({k: v for k, v in strip(before).items() if k != "model"})
    flat_after = _flatten({k: v for k, v in strip(after).items() if k != "model"})
    model_before = {k: v for k, v in (before.get("model") or {}).items() if k != "layers"}
    model_after = {k: v for k, v in (after.get("model") or {}).items() if k != "layers"}
    flat_before.update(_flatten(model_before, "model"))
    flat_after.update(_flatten(model_after, "model"))
    for path in sorted(set(flat_before) | set(flat_after)):
        old, new = flat_before.get(path), flat_after.get(path)
        if old == new:
            continue
        sentences.append(t("experiments.diff.setting", name=_setting_name(path), before=_shown(old), after=_shown(new)))
    return sentences


def _stored_spec(text: str | None) -> dict:
    """A run's spec with every default filled in, so a setting added after the run was made (stored without
    it) is not reported as changed; the stored JSON as it is when it no longer parses."""
    try:
        return parse_spec(text or "{}").model_dump(mode="json")
    except AppError:
        return json.loads(text or "{}")


def _per_class_recall(store: RunStore, run_id: str) -> pd.Series | None:
    predictions = store.predictions(run_id)
    if predictions is None or "actual" not in predictions or "predicted" not in predictions:
        return None
    if pd.api.types.is_float_dtype(predictions["actual"]):
        return None  # regression
    actual = predictions["actual"].astype(str)
    hit = actual == predictions["predicted"].astype(str)
    return hit.groupby(actual).mean()


def compare(store: RunStore, run_ids: list[str]) -> Comparison:
    """Compare 2-5 runs of the store's owner (another owner's run is "not found")."""
    return compare_runs([(store, run_id) for run_id in dict.fromkeys(run_ids)])


def compare_folders(folders: list[Path]) -> Comparison:
    """Compare run folders wherever they are (the command line: folders that `layerlab train --out` wrote)."""
    runs = []
    for folder in folders:
        folder = Path(folder).resolve()
        if not (folder / RunFiles.META).is_file():
            raise RunNotFoundError(t("experiments.compare.not_a_run", folder=str(folder)))
        runs.append((RunStore(folder.parent), folder.name))
    return compare_runs(runs)


def compare_runs(runs: list[tuple[RunStore, str]]) -> Comparison:
    """Compare 2-5 runs, each read through its own store (which checks its owner)."""
    if not MIN_RUNS <= len(runs) <= MAX_RUNS:
        raise CompareError(t("experiments.compare.count", count=len(runs), low=MIN_RUNS, high=MAX_RUNS))
    stores = dict((run_id, store) for store, run_id in runs)
    if len(stores) < len(runs):
        raise CompareError(t("experiments.compare.count", count=len(stores), low=MIN_RUNS, high=MAX_RUNS))
    run_ids = [run_id for _, run_id in runs]
    rows = [history_row(store.record(run_id)) for store, run_id in runs]
    specs = {run_id: _stored_spec(store.files(run_id).spec_text()) for store, run_id in runs}

    metrics: dict[str, dict[str, float]] = {}
    for row in rows:
        for name, value in (row.record.details.get("metrics") or {}).items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                metrics.setdefault(name, {})[row.run_id] = float(value)
    names = [n for n in METRIC_ORDER if n in metrics] + sorted(n for n in metrics if n not in METRIC_ORDER)
    table = pd.DataFrame({run_id: [metrics[n].get(run_id, math.nan) for n in names] for run_id in run_ids},
                         index=names)  # fmt: skip
    best = {}
    for name in names:
        values = metrics[name]
        if len(values) < 2:
            continue  # nothing to beat
        pick = max if name in HIGHER_IS_BETTER else min
        target = pick(values.values())
        best[name] = next(run_id for run_id in run_ids if values.get(run_id) == target)

    first = run_ids[0]
    differences = {run_id: spec_differences(specs[first], specs[run_id]) for run_id in run_ids[1:]}
    curves = {run_id: stores[run_id].history(run_id) for run_id in run_ids}

    recalls = {run_id: _per_class_recall(stores[run_id], run_id) for run_id in run_ids}
    per_class = None
    if all(recall is not None for recall in recalls.values()):
        per_class = pd.DataFrame(recalls)
    return Comparison(rows, table, best, differences, curves, per_class)
