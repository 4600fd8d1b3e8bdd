"""The model card of a run: one Markdown page that travels with every download.

Data and columns, preprocessing, architecture, training settings, test metrics next to the baselines, intended
use and limitations in plain words, and the library versions. Read from the run directory only (no Keras), so
the Download page can show it in the web server. An image run's card says what image the model takes (any size,
resized inside; channels; augmentation while training only), a text run's which column it reads and how.
"""

from __future__ import annotations

import datetime
import json
import platform
import zipfile
from importlib import metadata
from pathlib import Path

from core.formatting import format_metric, format_metric_spread
from core.i18n import Message, message_ids, t
from core.run_store import RunFiles

LIBRARIES = ("keras", "tensorflow", "numpy", "pandas", "scikit-learn", "onnx", "onnxruntime", "tf2onnx")
_LAYER_ARGUMENTS = ("units", "activation", "rate", "input_dim", "output_dim", "epsilon", "momentum")


def _term(prefix: str, value) -> str:
    """A task or column kind in the current language ("binary" → "二分类"); unknown values as they are."""
    key = f"{prefix}.{value}"
    return t(key) if key in message_ids() else str(value)


def _stored_text(value) -> str:
    """A sentence a run file kept: a Message dict (rendered now) or, in older runs, plain text."""
    if isinstance(value, dict) and set(value) == {"id", "params"}:
        return str(Message.from_dict(value))
    return str(value)


def model_card(run_dir: Path) -> str:
    """The Markdown model card of a finished run, in the current language."""
    run_dir = Path(run_dir)
    files = RunFiles(run_dir)
    spec = files.read_json(RunFiles.SPEC, {})
    meta = files.read_json(RunFiles.META, {})
    metrics = files.metrics() or {}
    target = files.target() or {}
    preprocessing = files.preprocessing() or {}
    task = target.get("task", metrics.get("task", "?"))
    kind = (spec.get("data") or {}).get("kind") or "table"
    source = meta.get("source_name") or t("deploy.card.uploaded_table")
    counts = metrics.get("num_rows", {})
    created = meta.get("created_at")
    when = datetime.datetime.fromtimestamp(created, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC") if created else "?"
    lines = [
        t("deploy.card.title", target=target.get("name", "?"), task=_term("deploy.task", task)),
        "",
        t("deploy.card.trained", run=run_dir.name, when=when),
        "",
        *_data_section(source, meta, counts, target, preprocessing, kind),
        *_preprocessing_section(preprocessing, kind),
        *_architecture_section(run_dir, metrics, task, target),
        *_training_section(spec, metrics),
        *_metrics_section(metrics),
        *_limitations_section(source, counts, target, task, preprocessing, metrics, kind),
        *_versions_section(),
    ]
    return "\n".join(lines)


def _data_section(source, meta, counts, target, preprocessing, kind: str = "table") -> list[str]:
    columns = preprocessing.get("columns", [])
    lines = [t("deploy.card.data.heading"), ""]
    total = meta.get("num_rows")
    trained = t("deploy.card.data.trained_on", source=source)
    if total and kind == "images":
        trained = t("deploy.kinds.card.trained_on_images", source=source, count=total)
    elif total:
        trained = t("deploy.card.data.trained_on_rows", source=source, count=total)
    if counts and kind == "images":
        lines.append(
            t(
                "deploy.kinds.card.images_split",
                trained=trained,
                train=counts.get("train", 0),
                validation=counts.get("validation", 0),
                test=counts.get("test", 0),
            )
        )
    elif counts:
        lines.append(
            t(
                "deploy.card.data.split",
                trained=trained,
                train=counts.get("train", 0),
                validation=counts.get("validation", 0),
                test=counts.get("test", 0),
            )
        )
    else:
        lines.append(t("deploy.card.sentence", text=trained))
    lines.append("")
    lines.append(
        t("deploy.card.data.target", target=target.get("name", "?"), task=_term("deploy.task", target.get("task", "?")))
    )
    if target.get("classes"):
        separator = t("deploy.list_separator")
        lines.append(t("deploy.card.data.classes", classes=separator.join(f"`{name}`" for name in target["classes"])))
    if target.get("task") == "regression":
        lines.append(
            t(
                "deploy.card.data.target_stats",
                mean=f"{target.get('mean', 0):,.4g}",
                std=f"{target.get('std', 0):,.4g}",
            )
        )
    if kind == "images":
        return [*lines, "", _image_input(preprocessing), ""]
    if kind == "text":
        columns = (preprocessing.get("table") or {}).get("columns", [])
        column = preprocessing.get("column", "?")
        if not columns:
            return [*lines, "", t("deploy.kinds.card.text_input", column=column), ""]
        lines += ["", t("deploy.kinds.card.text_input_with", column=column, count=len(columns))]
    lines += [
        "",
        t("deploy.card.data.columns", count=len(columns)),
        "",
        t("deploy.card.data.table_header"),
        "|---|---|",
    ]
    lines += [f"| `{column.get('name')}` | {_term('deploy.card.kind', column.get('kind'))} |" for column in columns]
    return [*lines, ""]


def _image_input(preprocessing: dict) -> str:
    """What an image model takes, in one sentence (any size, resized inside to the network's size)."""
    channels = int(preprocessing.get("channels", 1))
    return t(
        "deploy.kinds.card.image_input",
        side=preprocessing.get("image_size", "?"),
        colours=t("deploy.kinds.card.grey") if channels == 1 else t("deploy.kinds.card.colour"),
    )


def _preprocessing_section(preprocessing, kind: str = "table") -> list[str]:
    if kind == "images":
        return _image_preprocessing_section(preprocessing)
    if kind == "text":
        return _text_preprocessing_section(preprocessing)
    lines = [t("deploy.card.preprocessing.heading"), "", t("deploy.card.preprocessing.intro"), ""]
    for column in preprocessing.get("columns", []):
        lines.append("- " + t("deploy.card.column.line", name=column.get("name"), description=_describe_column(column)))
    return [*lines, ""]


def _image_preprocessing_section(preprocessing: dict) -> list[str]:
    side = preprocessing.get("image_size", "?")
    lines = [
        t("deploy.card.preprocessing.heading"),
        "",
        "- " + t("deploy.kinds.card.resize", side=side),
        "- " + t("deploy.kinds.card.rescale"),
    ]
    augmentation = preprocessing.get("augmentation") or []
    if augmentation:
        shown = ", ".join(
            f"{item.get('layer')}({', '.join(f'{key}={value}' for key, value in item.items() if key != 'layer')})"
            for item in augmentation
        )
        lines.append("- " + t("deploy.kinds.card.augmentation", layers=shown))
    else:
        lines.append("- " + t("deploy.kinds.card.no_augmentation"))
    return [*lines, ""]


def _text_preprocessing_section(preprocessing: dict) -> list[str]:
    settings = preprocessing.get("settings", {})
    tokens = settings.get("split") or "whitespace"
    what = (
        t("deploy.kinds.card.token_ids", length=settings.get("output_sequence_length") or "?")
        if settings.get("output_mode") == "int"
        else t("deploy.kinds.card.tf_idf")
    )
    line = t(
        "deploy.kinds.card.vectorizer",
        column=preprocessing.get("column", "?"),
        standardize=settings.get("standardize") or "none",
        split=t("deploy.kinds.card.split_characters") if tokens == "character" else t("deploy.kinds.card.split_words"),
        ngrams=settings.get("ngrams") or 1,
        vocabulary=preprocessing.get("vocabulary_size", 0),
        what=what,
    )
    lines = [t("deploy.card.preprocessing.heading"), "", t("deploy.kinds.card.text_intro"), "", "- " + line]
    for column in (preprocessing.get("table") or {}).get("columns", []):
        lines.append("- " + t("deploy.card.column.line", name=column.get("name"), description=_describe_column(column)))
    return [*lines, ""]


def _describe_column(column: dict) -> str:
    kind = column.get("kind")
    flag = t("deploy.card.column.flag") if column.get("indicator") else ""
    separator = t("deploy.card.column.parts_separator")
    if kind == "numeric":
        parts = [t("deploy.card.column.fill", fill=f"{column.get('fill', 0):.6g}")]
        if column.get("clip_low") is not None:
            parts.append(
                t("deploy.card.column.clipped", low=f"{column['clip_low']:.6g}", high=f"{column['clip_high']:.6g}")
            )
        if column.get("log_shift") is not None:
            parts.append("log1p")
        parts.append(f"(x − {column.get('center', 0):.6g}) / {column.get('scale', 1):.6g}")
        return t("deploy.card.column.numeric", parts=separator.join(parts)) + flag
    if kind == "datetime":
        return t("deploy.card.column.datetime") + flag
    encoding = column.get("encoding", "one_hot")
    if encoding == "hashing":
        return t("deploy.card.column.hashed", bins=column.get("num_bins", 0)) + flag
    vocabulary = column.get("vocabulary", [])
    shown = ", ".join(f"`{value}`" for value in vocabulary[:8]) + (", …" if len(vocabulary) > 8 else "")
    how = _term("deploy.card.encoding", encoding)
    if encoding == "embedding" and column.get("embedding_dim"):
        how = t("deploy.card.encoding.embedding_size", size=column["embedding_dim"])
    missing = t("deploy.card.column.fill", fill=f"`{column.get('fill') or column.get('most_frequent')}`")
    return t("deploy.card.column.category", count=len(vocabulary), shown=shown, how=how, missing=missing) + flag


def _architecture_section(run_dir: Path, metrics: dict, task: str, target: dict) -> list[str]:
    lines = [t("deploy.card.architecture.heading"), "", t("deploy.card.architecture.table_header"), "|---|---|---|"]
    for position, (name, settings) in enumerate(_network_layers(run_dir), start=1):
        lines.append(f"| {position} | {name} | {settings} |")
    head = (
        t(f"deploy.card.head.{task}", count=len(target.get("classes", [])))
        if task in ("binary", "multiclass", "regression")
        else t("deploy.card.head.unknown")
    )
    lines += ["", t("deploy.card.architecture.head", head=head)]
    if metrics.get("num_params"):
        lines.append(t("deploy.card.architecture.params", count=metrics["num_params"]))
    if task == "binary":
        threshold = RunFiles(run_dir).decision().get("threshold", 0.5)
        classes = target.get("classes", ["?", "?"])
        lines.append(t("deploy.card.architecture.threshold", label=classes[-1], threshold=f"{threshold:g}"))
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
            if len(shape) == 4:  # an image: (batch, height, width, channels)
                size = {"height": shape[1], "width": shape[2], "channels": shape[3]}
                layers.append(("Input", t("deploy.kinds.card.input_pixels", **size)))
            else:
                layers.append(("Input", t("deploy.card.architecture.input", count=shape[-1])))
            continue
        shown = [f"{key}={settings[key]}" for key in _LAYER_ARGUMENTS if settings.get(key) not in (None, "")]
        layers.append((f"{layer.get('class_name')} `{settings.get('name', '')}`", ", ".join(shown) or "—"))
    return layers


def _training_section(spec: dict, metrics: dict) -> list[str]:
    training, data = spec.get("training", {}), spec.get("data", {})
    lines = [t("deploy.card.training.heading"), ""]
    lines.append(
        t(
            "deploy.card.training.settings",
            optimizer=training.get("optimizer", "?"),
            learning_rate=training.get("learning_rate", "?"),
            batch_size=training.get("batch_size", "?"),
            epochs=training.get("epochs", "?"),
            epochs_run=metrics.get("epochs_run", "?"),
            best_epoch=metrics.get("best_epoch", "?"),
        )
    )
    if training.get("early_stopping"):
        lines.append(t("deploy.card.training.early_stopping", patience=training.get("patience", "?")))
    lines.append(
        t(
            "deploy.card.training.split",
            test=data.get("test_fraction", "?"),
            validation=data.get("validation_fraction", "?"),
            seed=data.get("seed", "?"),
        )
        + (t("deploy.card.training.grouped", column=data["group_column"]) if data.get("group_column") else "")
        + (
            t("deploy.card.training.class_weights", weights=training.get("class_weight"))
            if training.get("class_weight") not in (None, "none")
            else ""
        )
        + t("deploy.card.full_stop")
    )
    return [*lines, ""]


def _metrics_section(metrics: dict) -> list[str]:
    test = metrics.get("test", {})
    if not test:
        return [t("deploy.card.metrics.heading_plain"), "", t("deploy.card.metrics.none"), ""]
    names = list(test)
    lines = [
        t("deploy.card.metrics.heading"),
        "",
        t("deploy.card.metrics.intro"),
        "",
        f"| {t('deploy.card.metrics.model')} | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
        f"| **{t('deploy.card.metrics.this_network')}** | "
        + " | ".join(_number(name, test.get(name)) for name in names)
        + " |",
    ]
    for baseline in metrics.get("baselines", []):
        scores = baseline.get("test", {})
        lines.append(
            f"| {_stored_text(baseline.get('name'))} | "
            + " | ".join(_number(name, scores.get(name)) for name in names)
            + " |"
        )
    if metrics.get("baseline_summary"):
        lines += ["", _stored_text(metrics["baseline_summary"])]
    cross = metrics.get("cross_validation")
    if isinstance(cross, dict) and cross.get("mean"):
        shown = ", ".join(
            f"{name} {format_metric_spread(name, value, cross.get('std', {}).get(name))}"
            for name, value in cross["mean"].items()
        )
        lines += ["", t("deploy.card.metrics.cross_validation", folds=cross.get("folds", "?"), scores=shown)]
    return [*lines, ""]


def _number(name: str, value) -> str:

    return "—" if value is None else format_metric(name, value)


def _limitations_section(source, counts, target, task, preprocessing, metrics, kind: str = "table") -> list[str]:
    rows = sum(counts.values()) if counts else None
    table = (preprocessing.get("table") or {}) if kind == "text" else preprocessing
    columns = [column.get("name") for column in table.get("columns", [])]
    images = kind == "images"
    name = target.get("name", "?")
    if rows and images:
        use = t("deploy.kinds.card.images_use", target=name, source=source, count=rows)
    elif rows:
        use = t("deploy.card.limits.use_rows", target=name, source=source, count=rows)
    else:
        use = t("deploy.card.limits.use", target=name, source=source)
    trained = t("deploy.card.limits.trained", source=source)
    if counts and images:
        trained = t("deploy.kinds.card.images_trained", count=counts.get("train", "?"), source=source)
    elif counts:
        trained = t("deploy.card.limits.trained_rows", count=counts.get("train", "?"), source=source)
    if images:
        sees = t("deploy.kinds.card.images_sees", side=preprocessing.get("image_size", "?"))
    elif kind == "text":
        sees = t(
            "deploy.kinds.card.text_sees",
            column=preprocessing.get("column", "?"),
            vocabulary=preprocessing.get("vocabulary_size", 0),
        )
        if columns:
            sees += " " + t("deploy.kinds.card.text_sees_columns", columns=", ".join(f"`{n}`" for n in columns))
    else:
        sees = t("deploy.card.limits.columns", columns=t("deploy.list_separator").join(f"`{n}`" for n in columns))
    lines = [
        t("deploy.card.limits.heading"),
        "",
        use,
        "",
        t("deploy.card.limits.title"),
        "- " + trained,
        "- " + sees,
        "- " + t("deploy.card.limits.one_split"),
        "- " + t("deploy.card.limits.fairness"),
    ]
    if task != "regression":
        lines.append("- " + t("deploy.card.limits.calibration"))
    if metrics.get("baselines"):
        lines.append("- " + t("deploy.card.limits.baselines"))
    return [*lines, ""]


def _versions_section() -> list[str]:
    lines = [t("deploy.card.versions.heading"), "", f"- Python {platform.python_version()}"]
    for name in LIBRARIES:
        try:
            lines.append(f"- {name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return [*lines, ""]
