"""The model card of a run: one Markdown page that travels with every download.

Data and columns, preprocessing, architecture, training settings, test metrics next to the baselines, intended
use and limitations in plain words, and the library versions. Read from the run directory only (no Keras), so
the Download page can show it in the web server.
"""

from __future__ import annotations

import datetime
import json
import platform
import zipfile
from importlib import metadata
from pathlib import Path

from core.formatting import format_metric, format_metric_spread
from core.run_store import RunFiles

LIBRARIES = ("keras", "tensorflow", "numpy", "pandas", "scikit-learn", "onnx", "onnxruntime", "tf2onnx")
_LAYER_ARGUMENTS = ("units", "activation", "rate", "input_dim", "output_dim", "epsilon", "momentum")


def model_card(run_dir: Path) -> str:
    """The Markdown model card of a finished run."""
    run_dir = Path(run_dir)
    files = RunFiles(run_dir)
    spec = files.read_json(RunFiles.SPEC, {})
    meta = files.read_json(RunFiles.META, {})
    metrics = files.metrics() or {}
    target = files.target() or {}
    preprocessing = files.preprocessing() or {}
    task = target.get("task", metrics.get("task", "?"))
    source = meta.get("source_name", "an uploaded table")
    counts = metrics.get("num_rows", {})
    created = meta.get("created_at")
    when = datetime.datetime.fromtimestamp(created, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC") if created else "?"
    lines = [
        f"# Model card: predicting `{target.get('name', '?')}` ({task})",
        "",
        f"LayerLab run `{run_dir.name}`, trained {when}.",
        "",
        *_data_section(source, meta, counts, target, preprocessing),
        *_preprocessing_section(preprocessing),
        *_architecture_section(run_dir, metrics, task, target),
        *_training_section(spec, metrics),
        *_metrics_section(metrics),
        *_limitations_section(source, counts, target, task, preprocessing, metrics),
        *_versions_section(),
    ]
    return "\n".join(lines)


def _data_section(source, meta, counts, target, preprocessing) -> list[str]:
    columns = preprocessing.get("columns", [])
    lines = ["## Data and columns", ""]
    total = meta.get("num_rows")
    lines.append(
        f"Trained on `{source}`"
        + (f" ({total:,} rows)" if total else "")
        + (
            f": {counts.get('train', 0):,} training, {counts.get('validation', 0):,} validation and "
            f"{counts.get('test', 0):,} test rows (the test rows were never used for training or early stopping)."
            if counts
            else "."
        )
    )
    lines.append("")
    lines.append(f"Target: `{target.get('name', '?')}`, task: {target.get('task', '?')}.")
    if target.get("classes"):
        lines.append(f"Classes: {', '.join(f'`{name}`' for name in target['classes'])}.")
    if target.get("task") == "regression":
        lines.append(
            f"Training target mean {target.get('mean', 0):,.4g}, standard deviation {target.get('std', 0):,.4g}."
        )
    lines += ["", f"{len(columns)} input column(s):", "", "| Column | Kind |", "|---|---|"]
    lines += [f"| `{column.get('name')}` | {column.get('kind')} |" for column in columns]
    return [*lines, ""]


def _preprocessing_section(preprocessing) -> list[str]:
    lines = [
        "## Preprocessing",
        "",
        "Learned from the training rows only; the `.keras` and SavedModel downloads apply it inside the model.",
        "",
    ]
    for column in preprocessing.get("columns", []):
        lines.append(f"- `{column.get('name')}`: {_describe_column(column)}")
    return [*lines, ""]


def _describe_column(column: dict) -> str:
    kind = column.get("kind")
    flag = "; plus a 0/1 missing flag" if column.get("indicator") else ""
    if kind == "numeric":
        parts = [f"missing → {column.get('fill', 0):.6g}"]
        if column.get("clip_low") is not None:
            parts.append(f"clipped to [{column['clip_low']:.6g}, {column['clip_high']:.6g}]")
        if column.get("log_shift") is not None:
            parts.append("log1p")
        parts.append(f"(x − {column.get('center', 0):.6g}) / {column.get('scale', 1):.6g}")
        return "number; " + ", ".join(parts) + flag
    if kind == "datetime":
        return "date → year, month, day, weekday, hour, each scaled; missing dates → the training median" + flag
    encoding = column.get("encoding", "one_hot")
    if encoding == "hashing":
        return f"category; hashed into {column.get('num_bins', 0)} buckets" + flag
    vocabulary = column.get("vocabulary", [])
    shown = ", ".join(f"`{value}`" for value in vocabulary[:8]) + (", …" if len(vocabulary) > 8 else "")
    how = {"one_hot": "one-hot", "ordinal": "ordinal (in this order)", "embedding": "learned embedding"}.get(
        encoding, encoding
    )
    if encoding == "embedding" and column.get("embedding_dim"):
        how += f" of {column['embedding_dim']} numbers"
    missing = f"missing → `{column.get('fill') or column.get('most_frequent')}`"
    return f"category, {len(vocabulary)} known values ({shown}); {how}; unseen values share one slot; {missing}{flag}"


def _architecture_section(run_dir: Path, metrics: dict, task: str, target: dict) -> list[str]:
    lines = ["## Architecture", "", "| # | Layer | Settings |", "|---|---|---|"]
    for position, (name, settings) in enumerate(_network_layers(run_dir), start=1):
        lines.append(f"| {position} | {name} | {settings} |")
    head = {
        "binary": "1 sigmoid unit, binary cross-entropy",
        "multiclass": f"{len(target.get('classes', []))} softmax units, sparse categorical cross-entropy",
        "regression": "1 linear unit on the standardised target, mean squared error",
    }.get(task, "derived from the task")
    lines += ["", f"Output layer and loss derived from the task: {head}."]
    if metrics.get("num_params"):
        lines.append(f"Parameters: {metrics['num_params']:,}.")
    if task == "binary":
        threshold = RunFiles(run_dir).decision().get("threshold", 0.5)
        classes = target.get("classes", ["?", "?"])
        lines.append(
            f"Decision threshold: `{classes[-1]}` is predicted when its probability is at least {threshold:g}."
        )
    return [*lines, ""]


def _network_layers(run_dir: Path) -> list[tuple[str, str]]:
    """(class, settings) per layer, read from network.keras's config without loading Keras."""
    try:
        with zipfile.ZipFile(RunFiles(run_dir).path(RunFiles.NETWORK)) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return []
    layers = []
    for layer in config.get("config", {}).get("layers", []):
        settings = layer.get("config", {})
        if layer.get("class_name") == "InputLayer":
            shape = settings.get("batch_shape", [None, "?"])
            layers.append(("Input", f"{shape[-1]} numbers per row"))
            continue
        shown = [f"{key}={settings[key]}" for key in _LAYER_ARGUMENTS if settings.get(key) not in (None, "")]
        layers.append((f"{layer.get('class_name')} `{settings.get('name', '')}`", ", ".join(shown) or "—"))
    return layers


def _training_section(spec: dict, metrics: dict) -> list[str]:
    training, data = spec.get("training", {}), spec.get("data", {})
    lines = ["## Training settings", ""]
    lines.append(
        f"Optimizer {training.get('optimizer', '?')} (learning rate {training.get('learning_rate', '?')}), "
        f"batch size {training.get('batch_size', '?')}, up to {training.get('epochs', '?')} epochs; "
        f"ran {metrics.get('epochs_run', '?')}, kept the weights of epoch {metrics.get('best_epoch', '?')}."
    )
    if training.get("early_stopping"):
        lines.append(f"Early stopping on the validation loss (patience {training.get('patience', '?')}).")
    lines.append(
        f"Split: {data.get('test_fraction', '?')} test, {data.get('validation_fraction', '?')} validation, "
        f"seed {data.get('seed', '?')}"
        + (f", grouped by `{data['group_column']}`" if data.get("group_column") else "")
        + (
            f"; class weights: {training.get('class_weight')}"
            if training.get("class_weight") not in (None, "none")
            else ""
        )
        + "."
    )
    return [*lines, ""]


def _metrics_section(metrics: dict) -> list[str]:
    test = metrics.get("test", {})
    if not test:
        return ["## Test metrics", "", "No test metrics were recorded for this run.", ""]
    names = list(test)
    lines = [
        "## Test metrics against baselines",
        "",
        "Scored on the same held-out test rows; the baselines were fitted on the same training rows.",
        "",
        "| Model | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
        "| **This network** | " + " | ".join(_number(name, test.get(name)) for name in names) + " |",
    ]
    for baseline in metrics.get("baselines", []):
        scores = baseline.get("test", {})
        lines.append(
            f"| {baseline.get('name')} | " + " | ".join(_number(name, scores.get(name)) for name in names) + " |"
        )
    if metrics.get("baseline_summary"):
        lines += ["", metrics["baseline_summary"]]
    cross = metrics.get("cross_validation")
    if isinstance(cross, dict) and cross.get("mean"):
        shown = ", ".join(
            f"{name} {format_metric_spread(name, value, cross.get('std', {}).get(name))}"
            for name, value in cross["mean"].items()
        )
        lines += ["", f"Cross-validation over {cross.get('folds', '?')} folds: {shown}."]
    return [*lines, ""]


def _number(name: str, value) -> str:

    return "—" if value is None else format_metric(name, value)


def _limitations_section(source, counts, target, task, preprocessing, metrics) -> list[str]:
    rows = sum(counts.values()) if counts else None
    columns = [column.get("name") for column in preprocessing.get("columns", [])]
    lines = [
        "## Intended use and limitations",
        "",
        f"Intended use: predicting `{target.get('name', '?')}` for new rows that look like the rows of `{source}`"
        + (f" ({rows:,} rows)" if rows else "")
        + ", with the same columns and the same meaning of each value.",
        "",
        "Limitations:",
        f"- Trained on {counts.get('train', '?'):,} rows of `{source}` only. Not validated on data from another "
        "source, another period or another population; check it on your own labelled rows first."
        if counts
        else f"- Trained on `{source}` only; not validated on data from another source.",
        f"- It sees only these columns: {', '.join(f'`{name}`' for name in columns)}. A value never seen in "
        "training falls into a shared 'unseen' slot, and numbers far outside the training range are extrapolated.",
        "- The test score above is an estimate from one split; small test sets make it noisy.",
        "- Not checked for fairness across groups of people, and not suited to decisions about people without "
        "such a check and a human in the loop.",
    ]
    if task != "regression":
        lines.append(
            "- Probabilities come from the network's output and are not guaranteed to be calibrated "
            "(the Evaluate page shows a calibration curve)."
        )
    if metrics.get("baselines"):
        lines.append("- Compare it with the baselines above: a simpler model may be as good and easier to explain.")
    return [*lines, ""]


def _versions_section() -> list[str]:
    lines = ["## Library versions", "", f"- Python {platform.python_version()}"]
    for name in LIBRARIES:
        try:
            lines.append(f"- {name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return [*lines, ""]
