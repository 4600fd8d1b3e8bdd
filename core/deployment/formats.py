"""Downloads in other formats: TensorFlow SavedModel, TFLite (float32, float16, dynamic-range int8) and ONNX.

Every format derives from the run's `model.keras` (preprocessing and the saved decision threshold inside), and
every download is one zip with the artifact, a README and the model card. Converters, the TFLite interpreter and
onnxruntime run only in a child process (`python -m core.deployment.formats ...`): a malformed file can crash the TFLite
interpreter natively, and the web server never imports TensorFlow. The parent side (`export_artifact`,
`compare_formats`) needs neither.

What each format carries:

- SavedModel: the whole `.keras` graph, raw columns in (text as strings, numbers as floats, dates as seconds).
- TFLite and ONNX: neither runtime can look up strings with the builtin ops (TF 2.21's Python interpreter has no
  Flex delegate; tf2onnx has no table lookup), so the graph starts right after the string lookups: numbers
  (imputation, clipping, scaling), dates (ONNX; TFLite has no float64, so `preprocess` computes a date's
  parts) and the category encodings stay inside; "text → its position in the vocabulary" is left to
  `preprocess` below, shipped as `preprocess.py` with the vocabularies in `preprocessing.json`.

Per kind of data (the run spec's `data.kind`):

- images: the `.keras` model and the SavedModel take raw uint8 images of any size (the resize is inside).
  TFLite and ONNX take images at the network's size, float32 pixels 0..255: the graph starts right after the
  `Resizing` layer, and `preprocess.py` (core/data/image_rules.py, verbatim) resizes exactly as that layer does.
  TFLite int8 quantises weights and activations, calibrated on 100 of the run's training images.
- text: the vectorizer (standardising, splitting, n-grams, vocabulary lookup) is TensorFlow string ops, which
  neither the TFLite interpreter's builtin ops nor ONNX have: `.keras` and SavedModel only, and the Download page
  says why for the others (`unavailable_reason`) instead of offering a file that cannot hold the model.

    python -m core.deployment.formats build RUN_DIR FORMAT OUT.zip   # one download, as the Download page makes it
    python -m core.deployment.formats compare RUN_DIR                # size, latency per row and test metric per format
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from core.data import image_rules, table_rules
from core.data.portable_reading import read_rows
from core.data.splitting import TargetInfo, class_names, prepare_data
from core.data.table_rules import datetime_seconds, encode_dates, encode_numeric, model_text, numbers
from core.deployment.model_card import model_card
from core.deployment.serving_model import DAYFIRST_LAYER_PREFIX, load_model_file, model_inputs, predict_table
from core.deployment.snippets import kind_snippet
from core.deployment.threshold import load_threshold
from core.errors import AppError
from core.failures import user_error, write_failure_file
from core.i18n import DEFAULT_LANGUAGE, LANGUAGE_ENV, get_language, t
from core.model.building import is_periodic_frequencies
from core.run_store import RunFiles, RunStore, write_atomic
from core.runtime.child import child_error, run_module

FORMATS = ("keras", "savedmodel", "tflite-f32", "tflite-f16", "tflite-int8", "onnx")
FORMAT_LABELS = {
    "keras": "Keras (.keras)",
    "savedmodel": "TensorFlow SavedModel",
    "tflite-f32": "TFLite float32",
    "tflite-f16": "TFLite float16",
    "tflite-int8": "TFLite int8 (dynamic range)",
    "onnx": "ONNX",
}


def _note_id(export_format: str) -> str:
    return "deploy.format_note." + export_format.replace("-", "_")


class _FormatNotes(Mapping[str, str]):
    """Format → its one-line note in the current language (read at lookup time: deploy.format_note.*)."""

    def __getitem__(self, export_format: str) -> str:
        if export_format not in FORMATS:
            raise KeyError(export_format)
        return t(_note_id(export_format))

    def __iter__(self) -> Iterator[str]:
        return iter(FORMATS)

    def __len__(self) -> int:
        return len(FORMATS)


FORMAT_NOTES = _FormatNotes()


def format_note(export_format: str, task: str | None) -> str:
    """FORMAT_NOTES for this run's task: a regression model returns a prediction, not a label."""
    if task == "regression" and export_format == "savedmodel":
        return t("deploy.format_note.savedmodel_regression")
    return FORMAT_NOTES[export_format]


def describe_outputs(run_dir: Path) -> str:
    """What the served model returns, for the README of a download."""
    target = RunFiles(run_dir).target() or {}
    if target.get("task") == "regression":
        if "name" not in target:
            return t("deploy.readme.outputs_regression_unnamed")
        return t("deploy.readme.outputs_regression", target=target["name"])
    classes = [str(name) for name in target.get("classes", [])]
    more = ", …" if len(classes) > 20 else ""
    order = ", ".join(json.dumps(name, ensure_ascii=False) for name in classes[:20]) + more
    return t("deploy.readme.outputs_classes", classes=order)


# TFLite int8 of an image model is calibrated on training images (weights and activations), not dynamic range.
IMAGE_FORMAT_LABELS = {**FORMAT_LABELS, "tflite-int8": "TFLite int8 (full integer)"}
# Formats whose runtime has no operation for the model's preprocessing, per kind of data.
UNAVAILABLE_FORMATS = {"text": ("tflite-f32", "tflite-f16", "tflite-int8", "onnx")}
CALIBRATION_IMAGES = 100  # training images a full-integer TFLite model is calibrated on
SPEC_FILE = "preprocessing.json"  # inside a TFLite/ONNX download: what preprocess.py reads

ARTIFACT_FILES = {
    "keras": "model.keras",
    "savedmodel": "layerlab_model/1/saved_model.pb",
    "tflite-f32": "model.tflite",
    "tflite-f16": "model.tflite",
    "tflite-int8": "model.tflite",
    "onnx": "model.onnx",
}
EXPORT_TIMEOUT_S = 300
_CHILD_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}


# ---------------------------------------------------------------------------------------------------------------
# Parent side: no TensorFlow, safe in the web server.


def run_kind(run_dir: Path) -> str:
    """The run's kind of data (`DataSpec.kind`: table, images or text), read from its spec without parsing it."""
    data = (RunFiles(run_dir).read_json(RunFiles.SPEC, {}) or {}).get("data") or {}
    return str(data.get("kind") or "table")


def unavailable_reason(run_dir: Path, format: str) -> str | None:
    """One sentence saying why `format` cannot hold this run's model, or None when it can."""
    kind = run_kind(run_dir)
    if format not in UNAVAILABLE_FORMATS.get(kind, ()):
        return None
    runtime = "onnx" if format == "onnx" else "tflite"
    return t(f"deploy.kinds.unavailable.{kind}_{runtime}", format=FORMAT_LABELS[format])


def format_label(format: str, kind: str = "table") -> str:
    """The format's name as the Download page and the comparison show it for this kind of data."""
    return (IMAGE_FORMAT_LABELS if kind == "images" else FORMAT_LABELS)[_check_format(format)]


def kind_format_note(format: str, task: str | None, kind: str = "table") -> str:
    """`format_note` for this kind of data: what an image or text model's download takes."""
    if kind in ("images", "text") and format != "keras" and format not in UNAVAILABLE_FORMATS.get(kind, ()):
        return t(f"deploy.kinds.format_note.{kind}_{format.replace('-', '_')}")
    return format_note(format, task)


def export_path(run_dir: Path, format: str) -> Path:
    """Where the zip of `format` is cached inside the run directory."""
    language = get_language()  # the README and model card inside are written in it
    suffix = "" if language == DEFAULT_LANGUAGE else f".{language}"
    return RunFiles(run_dir).export_path(f"{_check_format(format)}{suffix}.zip")


def download_name(run_dir: Path, format: str) -> str:
    """The file name a user gets, e.g. `layerlab_2c09de_tflite-int8.zip`."""
    return f"layerlab_{Path(run_dir).name[:6]}_{_check_format(format)}.zip"


def export_artifact(run_dir: Path, format: str, *, timeout: float = EXPORT_TIMEOUT_S) -> Path:
    """The zip for `format` (artifact, README, model card...), built in a child process and cached.

    A cached zip is reused while it is newer than the run's `model.keras` (a new decision threshold rebuilds
    that file, and so every export made from it).

    Raises:
        AppError: bad format, a run without `model.keras`, a column the format cannot carry, or a converter
            that failed, crashed or ran out of time.
    """
    run_dir = Path(run_dir)
    path = export_path(run_dir, format)
    model = _require_model(run_dir)
    _check_available(run_dir, format)
    if _fresh(path, model):
        return path
    _check_columns(run_dir, format)  # before paying for a child process and TensorFlow
    _run_child(
        ["build", str(run_dir), format, str(path)],
        timeout=timeout,
        what=t("deploy.export.what", format=FORMAT_LABELS[format]),
    )
    return path


def cached_export(run_dir: Path, format: str) -> Path | None:
    """The zip of `format` if it was built from the run's current model.keras, else None."""
    path = export_path(run_dir, format)
    model = RunFiles(run_dir).path(RunFiles.MODEL)
    return path if model.exists() and _fresh(path, model) else None


def export_many(
    run_dir: Path, formats: tuple[str, ...] | None = None, *, timeout: float = 3 * EXPORT_TIMEOUT_S
) -> dict:
    """Several zips in one child process (TensorFlow is imported once); returns format → path.

    `formats`: every format this run's model fits in when None."""
    run_dir = Path(run_dir)
    _require_model(run_dir)
    if formats is None:
        formats = available_formats(run_dir)
    for format in formats:
        _check_available(run_dir, format)
    missing = [format for format in formats if cached_export(run_dir, _check_format(format)) is None]
    if missing:
        _run_child(["build-many", str(run_dir), *missing], timeout=timeout, what=t("deploy.export.what_many"))
    return {format: export_path(run_dir, format) for format in formats}


def available_formats(run_dir: Path) -> tuple[str, ...]:
    """The formats that can hold this run's model, in FORMATS order."""
    return tuple(format for format in FORMATS if unavailable_reason(run_dir, format) is None)


def compare_formats(run_dir: Path, *, timeout: float = 2 * EXPORT_TIMEOUT_S) -> list[dict]:
    """One row per format: file size, latency per row and the test metric, measured in a child process.

    Builds (and caches) the TFLite zips on the way. Rows: format, label, size_bytes, latency_us_per_row,
    metric (name), value (on the run's test rows, as the format's user would compute it).
    """
    run_dir = Path(run_dir)
    model = _require_model(run_dir)
    _check_available(run_dir, "tflite-f32")  # the comparison is of TFLite formats
    cached = RunFiles(run_dir).comparison_path()
    if _fresh(cached, model):
        return RunFiles(run_dir).comparison()["rows"]
    _run_child(["compare", str(run_dir)], timeout=timeout, what=t("deploy.export.what_comparison"))
    return RunFiles(run_dir).comparison()["rows"]


def cached_comparison(run_dir: Path) -> list[dict] | None:
    """The comparison rows if they were measured on the run's current model.keras, else None."""
    files = RunFiles(run_dir)
    cached, model = files.comparison_path(), files.path(RunFiles.MODEL)
    return files.comparison()["rows"] if model.exists() and _fresh(cached, model) else None


def comparison_table(rows: list[dict]) -> pd.DataFrame:
    """The comparison as the page shows it: format, file size, latency per row, test metric."""
    metric = rows[0]["metric"] if rows else t("deploy.comparison.metric")
    return pd.DataFrame(
        {
            t("deploy.comparison.format"): [row["label"] for row in rows],
            t("deploy.comparison.size"): [round(row["size_bytes"] / 1024, 1) for row in rows],
            t("deploy.comparison.latency"): [round(row["latency_us_per_row"], 1) for row in rows],
            t("deploy.comparison.test_metric", metric=metric): [round(row["value"], 4) for row in rows],
        }
    )


def _check_available(run_dir: Path, format: str) -> None:
    reason = unavailable_reason(run_dir, _check_format(format))
    if reason is not None:
        raise AppError(reason)


def _check_columns(run_dir: Path, format: str) -> None:
    """Refuse, with a message, columns a format cannot carry (the child checks the model itself too)."""
    if not (format.startswith("tflite") or format == "onnx"):
        return
    columns = (RunFiles(run_dir).preprocessing() or {}).get("columns", [])
    hashed = [column["name"] for column in columns if column.get("encoding") == "hashing"]
    if hashed:
        raise _hashing_error(hashed[0])


def _hashing_error(column: str) -> AppError:
    return AppError(t("deploy.export.hashing", column=repr(column)), field=column)


_NUMERIC_STATISTICS = ("fill", "clip_low", "clip_high", "log_shift", "center", "scale")
FLOAT16_MAX = 65504.0


def _beyond_float16(column: dict) -> bool:
    return any(
        isinstance(column.get(key), int | float) and abs(column[key]) > FLOAT16_MAX for key in _NUMERIC_STATISTICS
    )


def _dates_error(dates: list[str]) -> AppError:
    return AppError(t("deploy.export.only_dates", column=repr(dates[0])), field=dates[0])


def _check_format(format: str) -> str:
    if format not in FORMATS:
        raise AppError(t("deploy.export.unknown_format", format=repr(format), formats=", ".join(FORMATS)))
    return format


def _require_model(run_dir: Path) -> Path:
    model = RunFiles(run_dir).path(RunFiles.MODEL)
    if not run_dir.is_dir() or not RunFiles(run_dir).exists(RunFiles.SPEC):
        raise AppError(t("deploy.export.not_a_run", folder=repr(run_dir.name)))
    if not model.exists():
        raise AppError(t("deploy.export.no_model", run=repr(run_dir.name)))
    return model


def _fresh(path: Path, model: Path) -> bool:
    return path.exists() and path.stat().st_mtime >= model.stat().st_mtime


def _run_child(arguments: list[str], *, timeout: float, what: str) -> str:
    result = run_module(
        "core.deployment.formats",
        arguments,
        timeout=timeout,
        timeout_message=t("deploy.export.timeout", what=what, seconds=f"{timeout:.0f}"),
        env={**_CHILD_ENV, LANGUAGE_ENV: get_language()},  # the README and model card in the visitor's language
    )
    if result.returncode != 0:
        raise child_error(result, action=what, memory_advice=t("deploy.export.memory_advice"))
    return result.stdout


# ---------------------------------------------------------------------------------------------------------------
# What a user of a TFLite or ONNX download runs. These two functions are copied verbatim into the zip as
# preprocess.py (numpy and pandas only), after core/data/table_rules.py and `read_rows`, also verbatim; LayerLab's
# own checks call the same code.


def preprocess(frame, spec):
    """A table of raw rows → the dict of arrays the TFLite/ONNX model takes (one array per input).

    `spec` is the downloaded preprocessing.json (as a dict). Numbers go in as float32 (NaN = missing: the model
    fills, clips and scales them itself), a category as its position in the column's vocabulary (0 = a value
    not seen in training; a missing value is ""), a date as float64 seconds since 1970 (ONNX) or, for TFLite,
    which has no float64, as its scaled parts: year, month, day, weekday, hour (+ a missing flag). In a
    float16 model, a number whose statistics float16 cannot hold goes in already scaled (+ its missing flag).
    """

    missing = [item["column"] for item in spec["inputs"] if item["column"] not in frame.columns]
    if missing:
        raise ValueError(f"The table lacks the column(s) {missing}; expected all of the model's input columns.")
    arrays = {}
    for item in spec["inputs"]:
        column = frame[item["column"]]
        if item["kind"] == "category":
            positions = {token: index for index, token in enumerate(item["vocabulary"])}
            values = model_text(column).map(positions).fillna(0).to_numpy(dtype="int64")
        elif item["kind"] == "datetime":
            values = datetime_seconds(column, item["dayfirst"])
        elif item["kind"] == "date_parts":  # year, month, day, weekday, hour, scaled (TFLite has no float64)
            arrays[item["input"]] = encode_dates(datetime_seconds(column, item["dayfirst"]), item)
            continue
        elif item["kind"] == "numeric_scaled":  # statistics beyond float16's range: scaled here, in float32
            arrays[item["input"]] = encode_numeric(numbers(column), item)
            continue
        else:
            # Infinities and numbers beyond float32 count as missing, like NaN (the model fills them).
            values = numbers(column).astype("float32")
        arrays[item["input"]] = np.asarray(values).reshape(-1, 1)
    return arrays


def postprocess(outputs, spec):
    """The model's outputs (dict of arrays) → a table: `prediction`, plus `prob_<class>` for classification."""

    if spec["task"] == "regression":
        return pd.DataFrame({"prediction": np.asarray(outputs["prediction"], dtype="float64").reshape(-1)})
    probabilities = np.asarray(outputs["probabilities"], dtype="float64")
    if spec["task"] == "binary":
        index = (probabilities[:, 1] >= spec["threshold"]).astype(int)
    else:
        index = probabilities.argmax(axis=1)
    result = pd.DataFrame({"prediction": [spec["classes"][i] for i in index]})
    for position, name in enumerate(spec["classes"]):
        result[f"prob_{name}"] = probabilities[:, position]
    return result


# ---------------------------------------------------------------------------------------------------------------
# Child side: TensorFlow. Nothing below runs in the web server.


def build_zip(run_dir: Path, format: str, out: Path) -> dict:
    """Convert the run's model to `format` and write the download zip to `out` (atomically)."""

    run_dir, out = Path(run_dir), Path(out)
    _check_available(run_dir, format)
    images = run_kind(run_dir) == "images"
    model = _load_run_model(run_dir)
    card = model_card(run_dir)
    with tempfile.TemporaryDirectory(prefix="layerlab-export-") as folder:
        folder = Path(folder)
        files: dict[str, Path] = {}
        if format == "keras":
            files[ARTIFACT_FILES["keras"]] = RunFiles(run_dir).path(RunFiles.MODEL)
        elif format == "savedmodel":
            export_saved_model(model, folder / "layerlab_model" / "1")
            files["layerlab_model"] = folder / "layerlab_model"
            (folder / "serving.json").write_text(json.dumps(serving_spec(model, run_dir), indent=2) + "\n")
            files["serving.json"] = folder / "serving.json"
        else:
            if images:
                spec = image_tensor_spec(model, run_dir)
                numeric = image_numeric_model(model)
                source = image_preprocess_source()
            else:
                spec = tensor_spec(model, run_dir, float64=format == "onnx", float16=format == "tflite-f16")
                numeric = numeric_model(model, spec)
                source = preprocess_source()
            if format == "onnx":
                artifact = convert_onnx(numeric, folder / "model.onnx")
            else:
                calibration = representative_images(run_dir, spec) if images and format == "tflite-int8" else None
                artifact = folder / "model.tflite"
                artifact.write_bytes(convert_tflite(numeric, format.removeprefix("tflite-"), calibration))
            files[artifact.name] = artifact
            (folder / SPEC_FILE).write_text(json.dumps({**spec, "format": format}, indent=2) + "\n")
            (folder / "preprocess.py").write_text(source)
            files[SPEC_FILE] = folder / SPEC_FILE
            files["preprocess.py"] = folder / "preprocess.py"
        (folder / "MODEL_CARD.md").write_text(card, encoding="utf-8")
        (folder / "README.md").write_text(readme(format, model, run_dir), encoding="utf-8")
        files["MODEL_CARD.md"] = folder / "MODEL_CARD.md"
        files["README.md"] = folder / "README.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = folder / "download.zip"
        with zipfile.ZipFile(staging, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, path in files.items():
                if path.is_dir():
                    for item in sorted(path.rglob("*")):
                        if item.is_file():
                            archive.write(item, f"{name}/{item.relative_to(path).as_posix()}")
                else:
                    archive.write(path, name)
        write_atomic(out, staging.read_bytes())
    return {"format": format, "path": str(out), "size_bytes": out.stat().st_size}


def _load_run_model(run_dir: Path):

    return load_model_file(RunFiles(run_dir).path(RunFiles.MODEL))


def export_saved_model(model, folder: Path) -> None:
    """A SavedModel whose `serving_default` signature takes the raw columns (TF Serving's layout: name/1/);
    an image model's takes raw uint8 images of any size, (images, height, width, channels)."""
    names = input_names(model)
    _save_signature(
        model,
        folder,
        {names[column]: (column, _dtype(tensor)) for column, tensor in model.input.items()},
        shapes={names[column]: (None, *tensor.shape[1:]) for column, tensor in model.input.items()},
    )


def _save_signature(model, folder: Path, inputs: dict[str, tuple[str, str]], shapes: dict | None = None) -> None:
    """Save `model` with one `serving_default` signature; `inputs`: signature name → (model input key, dtype);
    `shapes`: signature name → its shape, (None, 1) (one column) unless given."""
    import tensorflow as tf  # TensorFlow loads only in workers and helpers, never in the web server

    shapes = shapes or {}
    specs = {
        name: tf.TensorSpec(shapes.get(name, (None, 1)), getattr(tf, dtype), name=name)
        for name, (_, dtype) in inputs.items()
    }

    class Serving(tf.Module):
        def __init__(self, keras_model):
            super().__init__()
            self.model = keras_model
            # Every piece of state the graph reads, random seeds of Dropout and augmentation layers included
            # (`variables`, unlike `weights`, lists them): an untracked one makes tf.saved_model.save refuse.
            self.state = [variable.value for variable in keras_model.variables]

        @tf.function(input_signature=[specs])
        def serve(self, arguments):
            outputs = self.model({key: arguments[name] for name, (key, _) in inputs.items()}, training=False)
            return dict(outputs)

    module = Serving(model)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})


def input_names(model) -> dict[str, str]:
    """Column → a name every runtime accepts as an input name ([A-Za-z0-9_], unique, not starting with a digit)."""
    names: dict[str, str] = {}
    for column in model.input:
        name = re.sub(r"[^A-Za-z0-9_]", "_", column) or "column"
        if name[0].isdigit():
            name = f"c_{name}"
        base, counter = name, 1
        while name in names.values():
            counter += 1
            name = f"{base}_{counter}"
        names[column] = name
    return names


def serving_spec(model, run_dir: Path) -> dict:
    """serving.json of a SavedModel download: column → signature input name and type, outputs, classes."""

    target = TargetInfo.from_dict(RunFiles(run_dir).target())
    names = input_names(model)
    layer_names = {layer.name for layer in model.layers}
    inputs = {}
    for column, tensor in model.input.items():
        inputs[column] = {"input": names[column], "dtype": _dtype(tensor)}
        if _dtype(tensor) == "uint8":  # an image model: (images, height, width, channels), any height and width
            inputs[column]["shape"] = [None, None, None, int(tensor.shape[-1])]
        if _dtype(tensor) == "float64":
            inputs[column]["dayfirst"] = DAYFIRST_LAYER_PREFIX + str(tensor.name) in layer_names
    spec = {"signature": "serving_default", "inputs": inputs, "task": target.task}
    spec["outputs"] = ["prediction"] if target.task == "regression" else ["label", "probabilities"]
    if target.task != "regression":
        spec["classes"] = list(target.classes)
    return spec


def tensor_spec(model, run_dir: Path, *, float64: bool = True, float16: bool = False) -> dict:
    """The preprocessing.json of a TFLite/ONNX download: inputs in order, vocabularies, classes, threshold.

    `float64=False` (TFLite): a date column goes in as its scaled parts (year, month, day, weekday, hour and
    the missing flag) computed by `preprocess`, since the seconds-to-parts arithmetic needs float64.
    `float16=True` (TFLite float16 stores every constant in 16 bits): a number whose fill value, clip bounds,
    shift or scaling is beyond float16's ±65,504, or that has periodic features, goes in already scaled by
    `preprocess` (see `_split_frequencies` for the frequencies themselves).
    """

    target = TargetInfo.from_dict(RunFiles(run_dir).target())
    names = input_names(model)
    layer_names = {layer.name for layer in model.layers}
    statistics = RunFiles(run_dir).preprocessing()
    fitted = {column["name"]: column for column in statistics.get("columns", [])}
    inputs = []
    for column, tensor in model.input.items():
        item = {"column": column, "input": names[column]}
        kind = _dtype(tensor)
        if kind == "string":
            lookup = _string_lookup_of(model, tensor, column)
            item |= {"kind": "category", "dtype": "int64", "vocabulary": list(lookup.get_vocabulary())}
        elif kind == "float64":
            dayfirst = DAYFIRST_LAYER_PREFIX + str(tensor.name) in layer_names
            item |= {"kind": "datetime", "dtype": "float64", "dayfirst": dayfirst}
            if not float64:
                date = fitted[column]
                item |= {"kind": "date_parts", "dtype": "float32", "width": 5 + bool(date.get("indicator"))}
                item |= {key: date.get(key) for key in ("fill_seconds", "centers", "scales", "indicator")}
        else:
            item |= {"kind": "numeric", "dtype": "float32"}
            number = fitted.get(column, {})
            # A column with periodic features goes in scaled too: a float16 mean or scale would move its
            # standardised value slightly, and a high frequency turns that into a different phase.
            if float16 and (_beyond_float16(number) or number.get("periodic_frequencies")):
                item |= {"kind": "numeric_scaled", "width": 1 + bool(number.get("indicator"))}
                item |= {key: number.get(key) for key in (*_NUMERIC_STATISTICS, "indicator")}
        inputs.append(item)
    spec = {
        "task": target.task,
        "target": target.name,
        "inputs": inputs,
        "outputs": ["prediction"] if target.task == "regression" else ["probabilities"],
        "in_graph": "missing-value filling, clipping, log and scaling of numbers; category encodings"
        + ("; date parts" if float64 else ""),
        "statistics": statistics,
        # How LayerLab read the run's file (`LoadedTable.reading()`): `read_rows` reads new rows the same way.
        "reading": RunFiles(run_dir).meta().get("reading"),
    }
    if target.task != "regression":
        spec["classes"] = list(target.classes)
    if target.task == "binary":
        spec["threshold"] = _threshold(run_dir)
    return spec


def _threshold(run_dir: Path) -> float:

    return load_threshold(run_dir)


def _dtype(tensor) -> str:
    text = str(tensor.dtype)
    return next((kind for kind in ("string", "float64", "int64", "uint8") if kind in text), "float32")


def _string_lookup_of(model, tensor, column: str):
    """The one StringLookup that reads this text input; anything else (hashing...) has no TFLite/ONNX twin."""
    from keras import layers  # Keras loads only in workers and helpers, never in the web server

    readers = [layer for layer in model.layers if any(node_input is tensor for node_input in _inputs_of(layer))]
    if len(readers) == 1 and isinstance(readers[0], layers.StringLookup) and not readers[0].invert:
        return readers[0]
    raise _hashing_error(column)


def _inputs_of(layer) -> list:
    found = []
    for node in layer._inbound_nodes:  # Keras keeps no public list of the tensors a layer was called on
        found.extend(node.input_tensors)
    return found


def numeric_model(model, spec: dict):
    """The serving graph from right after its string lookups to the probabilities (or the prediction).

    Inputs: one (rows, 1) tensor per column, named as in `spec`: float32 numbers, float64 dates and int64
    vocabulary positions. The label is left to `postprocess` (the inverted string lookup is a table op too).
    """
    import keras  # Keras loads only in workers and helpers, never in the web server

    cut = {}
    for item in spec["inputs"]:
        tensor = model.input[item["column"]]
        if item["kind"] == "category":
            tensor = _string_lookup_of(model, tensor, item["column"]).output
        elif item["kind"] in {"date_parts", "numeric_scaled"}:
            tensor = _encoded_column(model, spec, item["column"])
        cut[item["input"]] = tensor
    outputs = {name: model.output[name] for name in spec["outputs"]}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="When providing `inputs` as a dict")
        inner = keras.Model(cut, outputs, name="layerlab_inner")
        fresh = {name: keras.Input(shape=(cut[name].shape[-1],), dtype=cut[name].dtype, name=name) for name in cut}
        return keras.Model(fresh, inner(fresh), name="layerlab_numeric")


def _encoded_column(model, spec: dict, column: str):
    """The encoded tensor of one column: its input to the `layerlab_features` concatenation (columns in the
    order of the fitted preprocessing)."""
    order = [item["name"] for item in spec["statistics"]["columns"]]
    try:
        features = model.get_layer("layerlab_features")
    except ValueError:
        raise _dates_error([column]) from None  # a date as the only column: no concatenation to cut at
    return _inputs_of(features)[order.index(column)]


def image_tensor_spec(model, run_dir: Path) -> dict:
    """The preprocessing.json of an image model's TFLite/ONNX download: the image size and channels the model
    takes, how `preprocess` resizes to it, classes and threshold."""

    target = TargetInfo.from_dict(RunFiles(run_dir).target())
    side = int(model.get_layer("resize").get_config()["height"])
    channels = int(model.input["image"].shape[-1])
    spec = {
        "kind": "images",
        "task": target.task,
        "target": target.name,
        "image_size": side,
        "channels": channels,
        "inputs": [{"input": "image", "dtype": "float32", "shape": [None, side, side, channels]}],
        "outputs": ["probabilities"],
        "resize": "bilinear, half-pixel centres, no antialiasing (as the .keras model's Resizing layer)",
        "in_graph": "pixel rescaling (0..255 to 0..1) and the network",
        "classes": list(target.classes),
    }
    if target.task == "binary":
        spec["threshold"] = _threshold(run_dir)
    return spec


def image_numeric_model(model):
    """An image model from right after its `Resizing` layer to the probabilities: float32 pixels (0..255) at the
    network's size in (`{"image": (images, side, side, channels)}`), so TFLite and ONNX get a fixed shape."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    cut = model.get_layer("resize").output
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="When providing `inputs` as a dict")
        inner = keras.Model(cut, model.output["probabilities"], name="layerlab_inner")
        fresh = keras.Input(shape=tuple(cut.shape[1:]), dtype="float32", name="image")
        # training=False is recorded in the graph: augmentation layers stay out of every trace (ONNX's too).
        return keras.Model({"image": fresh}, {"probabilities": inner(fresh, training=False)}, name="layerlab_numeric")


def representative_images(run_dir: Path, spec: dict, count: int = CALIBRATION_IMAGES) -> list[dict]:
    """`count` of the run's images, none of its test images, as the TFLite model's inputs (one image each):
    what a full-integer conversion measures the range of every activation on."""

    files = RunFiles(run_dir)
    path = files.path(RunFiles.PIXELS)
    if not path.exists():
        raise AppError(t("deploy.kinds.export.no_pixels", run=repr(Path(run_dir).name)))
    pixels = np.load(path, mmap_mode="r")
    held_out = files.read_parquet(RunFiles.TEST_ROWS)
    tested = set() if held_out is None else set(held_out["pixel_row"].astype("int64").tolist())
    candidates = np.array([row for row in range(len(pixels)) if row not in tested], dtype="int64")
    chosen = np.sort(np.random.default_rng(0).permutation(candidates)[:count])
    return [image_rules.image_inputs(np.asarray(pixels[row : row + 1]), spec) for row in chosen]


def convert_tflite(numeric, precision: str, representative: list[dict] | None = None) -> bytes:
    """float32, float16 (weights stored as float16) or int8: dynamic-range quantised weights, or, given
    `representative` inputs (dicts of arrays, one example each), weights and activations in int8 calibrated on
    them, with float32 inputs and outputs kept so the model is called the same way."""
    import tensorflow as tf  # TensorFlow loads only in workers and helpers, never in the web server
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )  # TensorFlow loads only in workers and helpers, never in the web server

    # `from_keras_model` does not take Keras 3 models in TF 2.21, and a plain SavedModel keeps the weights as
    # resource variables that the Python interpreter reads uninitialised (NaN after the first row): freeze them,
    # and wrap the frozen function so the signature's output keeps its name.
    specs = {
        name: tf.TensorSpec((None, *tensor.shape[1:]), _dtype(tensor), name=name)
        for name, tensor in numeric.input.items()
    }
    output = next(iter(numeric.output))
    with _split_frequencies(numeric) if precision == "f16" else contextlib.nullcontext():
        frozen = convert_variables_to_constants_v2(
            tf.function(
                lambda inputs: numeric(inputs, training=False)[output], input_signature=[specs]
            ).get_concrete_function()
        )

    @tf.function(input_signature=[specs])
    def serve(inputs):
        return {output: tf.nest.flatten(frozen(**inputs))[0]}

    with tempfile.TemporaryDirectory(prefix="layerlab-tflite-") as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf.saved_model.save(tf.Module(), folder, signatures={"serving_default": serve.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if precision in {"f16", "int8"}:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision == "f16":
            converter.target_spec.supported_types = [tf.float16]
        if precision == "int8" and representative:
            converter.representative_dataset = lambda: iter(representative)
        return converter.convert()


@contextlib.contextmanager
def _split_frequencies(model):
    """While a float16 TFLite model is traced, each periodic feature's frequencies (`periodic_N_frequencies`, a
    Dense without bias) multiply as `x @ high + x @ low`: `high` is the kernel rounded to float16, `low` the
    rest. TFLite's float16 option stores every constant in 16 bits; a frequency of 470 (a spread of 75, which the
    search may choose) would lose about 0.2 radians of phase per standardised unit, enough to move the
    probabilities by several points, while `high` is exact in float16 and `low` is small, so its rounding costs
    nothing that matters. The same sum as the one kernel, in float32; the layers are put back afterwards."""
    from keras import ops  # Keras loads only in workers and helpers, never in the web server

    def layers(parent):
        for layer in getattr(parent, "layers", ()):
            yield layer
            yield from layers(layer)

    patched = []
    for layer in layers(model):
        if is_periodic_frequencies(layer.name) and hasattr(layer, "kernel"):
            kernel = np.asarray(layer.kernel.numpy(), dtype="float32")
            high = kernel.astype("float16").astype("float32")
            low = kernel - high

            def call(inputs, *args, high=high, low=low, **kwargs):
                return ops.matmul(inputs, high) + ops.matmul(inputs, low)

            layer.call = call  # on this instance only, for this trace
            patched.append(layer)
    try:
        yield
    finally:
        for layer in patched:
            del layer.call


def convert_onnx(numeric, path: Path) -> Path:
    """tf2onnx through Keras's own exporter; input names are the Keras input names (see `input_names`)."""
    _nan_safe_select()
    numeric(
        {name: np.zeros((1, *tensor.shape[1:]), _dtype(tensor)) for name, tensor in numeric.input.items()}
    )  # Keras exports only called models
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        numeric.export(str(path), format="onnx", verbose=False)
    return path


def _nan_safe_select() -> None:
    """tf2onnx turns `where(missing, fill, x)` into `fill * missing + x * (1 - missing)` unless the condition is
    a bare IsNaN, and NaN * 0 is NaN: every missing value would come out as NaN. Force ONNX's `Where`."""
    from tf2onnx import constants  # heavy, and only for an ONNX export (in a child process)
    from tf2onnx.handler import tf_op  # heavy, and only for an ONNX export (in a child process)
    from tf2onnx.onnx_opset.controlflow import Select  # heavy, and only for an ONNX export (in a child process)

    def select(ctx, node, **kwargs):
        node.set_attr("handles_nan", True)
        Select.version_9(ctx, node, **kwargs)

    tf_op.register_handler(select, 9, ["Select", "SelectV2"], constants.ONNX_DOMAIN, {})


def preprocess_source() -> str:
    """preprocess.py of a TFLite/ONNX download: LayerLab's table rules (core/data/table_rules.py), its file
    reader (`read_rows`) and the two functions above, all verbatim, and a usage example."""
    header = '''"""Turn raw rows into the inputs of a LayerLab TFLite/ONNX model, and its outputs into predictions.

Needs numpy and pandas. Usage (see README.md):

    import json
    from preprocess import preprocess, postprocess, read_rows
    spec = json.load(open("preprocessing.json", encoding="utf-8"))
    rows = read_rows("new_rows.csv", spec["reading"])  # read as LayerLab read the training file
    inputs = preprocess(rows, spec)
    outputs = ...  # run the model on `inputs` (README.md shows TFLite and onnxruntime)
    table = postprocess(outputs, spec)

The code below is LayerLab's own, copied unchanged: the rules that turn values into numbers
(core/data/table_rules.py), how it reads a table file (read_rows) and the model's inputs and outputs.
"""

import contextlib
import csv
import io
import re
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
'''
    return "\n\n".join(
        [
            header.rstrip("\n") + "\n",
            table_rules.shipped_source().rstrip("\n") + "\n",
            inspect.getsource(read_rows).rstrip("\n") + "\n",
            inspect.getsource(preprocess).rstrip("\n") + "\n",
            inspect.getsource(postprocess),
        ]
    )


def image_preprocess_source() -> str:
    """preprocess.py of an image model's TFLite/ONNX download: core/data/image_rules.py's functions and
    `postprocess`, verbatim, and a usage example."""
    header = '''"""Turn image files into the inputs of a LayerLab TFLite/ONNX image model, and its outputs into predictions.

Needs numpy and Pillow (and pandas for the table of predictions). Usage (see README.md):

    import json
    from preprocess import read_image, preprocess, postprocess
    spec = json.load(open("preprocessing.json", encoding="utf-8"))
    images = [read_image(path, spec["channels"]) for path in ["photo1.jpg", "photo2.png"]]
    inputs = preprocess(images, spec)  # resized to the model's size, as the .keras model resizes them
    outputs = ...  # run the model on `inputs` (README.md shows TFLite and onnxruntime)
    table = postprocess(outputs, spec)

The code below is LayerLab's own, copied unchanged: reading an image, fitting its channels, resizing it
exactly as the .keras model's Resizing layer does (core/data/image_rules.py) and the model's outputs.
"""

import numpy as np
import pandas as pd
from PIL import Image, ImageOps
'''
    return "\n\n".join(
        [
            header.rstrip("\n") + "\n",
            image_rules.shipped_source().rstrip("\n") + "\n",
            "preprocess = image_inputs  # the name the README and the table downloads use\n",
            inspect.getsource(postprocess),
        ]
    )


def readme(format: str, model, run_dir: Path) -> str:
    """README.md of a download: what is inside and the few lines that use it."""
    kind = run_kind(run_dir)
    if kind == "images":
        return image_readme(format, model, run_dir)
    names = input_names(model)
    lines = [
        t("deploy.readme.title", format=FORMAT_LABELS[format]),
        "",
        t("deploy.readme.card"),
        "",
    ]
    if format == "keras" and kind == "text":
        files = RunFiles(run_dir)
        snippet = kind_snippet(
            "text",
            files.preprocessing_text(),
            TargetInfo.from_dict(files.target()),
            ARTIFACT_FILES["keras"],
            files.meta().get("reading"),
        )
        lines += [
            t("deploy.kinds.readme.text_keras", column=RunFiles(run_dir).preprocessing()["column"]),
            describe_outputs(run_dir),
            t("deploy.kinds.readme.text_needs"),
            "",
            "```python",
            snippet.rstrip("\n"),
            "```",
        ]
    elif format == "keras":
        lines += [
            t("deploy.readme.keras_inputs"),
            describe_outputs(run_dir),
            t("deploy.readme.keras_needs"),
            "",
            "```python",
            "import keras",
            'model = keras.saving.load_model("model.keras")',
            "outputs = model(inputs)",
            "```",
        ]
    elif format == "savedmodel":
        example = _example_request(model, run_dir)
        lines += [
            t("deploy.readme.savedmodel_intro"),
            "",
            "```bash",
            'docker run -p 8501:8501 -v "$PWD/layerlab_model:/models/layerlab_model" \\',
            "  -e MODEL_NAME=layerlab_model tensorflow/serving",
            'curl -d \'{"inputs": ' + json.dumps(example).replace("'", "'\\''") + "}' \\",
            "  http://localhost:8501/v1/models/layerlab_model:predict",
            "```",
            "",
            t("deploy.readme.savedmodel_example"),
            "",
            t("deploy.readme.savedmodel_python"),
            "",
            describe_outputs(run_dir),
        ]
    else:
        run = (
            [
                "from ai_edge_litert.interpreter import Interpreter  # or: from tensorflow.lite import Interpreter",
                'runner = Interpreter(model_path="model.tflite").get_signature_runner()',
                "outputs = runner(**inputs)",
            ]
            if format.startswith("tflite")
            else [
                "import onnxruntime",
                'session = onnxruntime.InferenceSession("model.onnx")',
                "names = [output.name for output in session.get_outputs()]",
                "outputs = dict(zip(names, session.run(None, inputs)))",
            ]
        )
        lines += [
            t("deploy.readme.preprocess_intro"),
            "",
            "```python",
            "import json",
            "from preprocess import preprocess, postprocess, read_rows",
            'spec = json.load(open("preprocessing.json", encoding="utf-8"))',
            '# spec["reading"]: how LayerLab read the training file (encoding, separator, decimal mark)',
            'rows = read_rows("new_rows.csv", spec["reading"])',
            "inputs = preprocess(rows, spec)",
            *run,
            "table = postprocess(outputs, spec)  # prediction (+ prob_<class> columns)",
            "```",
        ]
    lines += ["", t("deploy.readme.inputs_heading"), "", t("deploy.readme.inputs_header"), "|---|---|---|"]
    kinds = {
        "string": t("deploy.readme.kind_text"),
        "float64": t("deploy.readme.kind_date"),
        "float32": t("deploy.readme.kind_number"),
    }
    for column, tensor in model.input.items():
        lines.append(f"| `{column}` | `{names[column]}` | {kinds.get(_dtype(tensor), _dtype(tensor))} |")
    return "\n".join([*lines, ""])


def image_readme(format: str, model, run_dir: Path) -> str:
    """README.md of an image model's download."""
    side = int(model.get_layer("resize").get_config()["height"])
    channels = int(model.input["image"].shape[-1])
    sizes = {"side": side, "channels": channels}
    mode = "L" if channels == 1 else "RGB"
    picture = (
        f'image = np.asarray(Image.open("photo.jpg").convert("{mode}"))'
        + ("[None, :, :, None]" if channels == 1 else "[None]")
        + f"  # uint8 (1, height, width, {channels})"
    )
    lines = [t("deploy.readme.title", format=IMAGE_FORMAT_LABELS[format]), "", t("deploy.readme.card"), ""]
    if format == "keras":
        lines += [
            t("deploy.kinds.readme.images_keras", **sizes),
            describe_outputs(run_dir),
            t("deploy.kinds.readme.images_needs"),
            "",
            "```python",
            "import keras",
            "import numpy as np",
            "from PIL import Image",
            "",
            'model = keras.saving.load_model("model.keras")',
            picture,
            'outputs = model({"image": image}, training=False)  # training=False: no augmentation when predicting',
            'print(outputs["label"], outputs["probabilities"])',
            "```",
        ]
    elif format == "savedmodel":
        lines += [
            t("deploy.kinds.readme.images_savedmodel", **sizes),
            "",
            "```bash",
            'docker run -p 8501:8501 -v "$PWD/layerlab_model:/models/layerlab_model" \\',
            "  -e MODEL_NAME=layerlab_model tensorflow/serving",
            "```",
            "",
            "```python",
            "import numpy as np",
            "import tensorflow as tf",
            "from PIL import Image",
            "",
            'serve = tf.saved_model.load("layerlab_model/1").signatures["serving_default"]',
            picture,
            "outputs = serve(image=tf.constant(image))",
            "```",
            "",
            describe_outputs(run_dir),
        ]
    else:
        run = (
            [
                "from ai_edge_litert.interpreter import Interpreter  # or: from tensorflow.lite import Interpreter",
                'runner = Interpreter(model_path="model.tflite").get_signature_runner()',
                "outputs = runner(**inputs)",
            ]
            if format.startswith("tflite")
            else [
                "import onnxruntime",
                'session = onnxruntime.InferenceSession("model.onnx")',
                "names = [output.name for output in session.get_outputs()]",
                "outputs = dict(zip(names, session.run(None, inputs)))",
            ]
        )
        lines += [
            t("deploy.kinds.readme.images_fixed", **sizes),
            "",
            "```python",
            "import json",
            "from preprocess import read_image, preprocess, postprocess",
            'spec = json.load(open("preprocessing.json", encoding="utf-8"))',
            'images = [read_image(path, spec["channels"]) for path in ["photo1.jpg", "photo2.png"]]',
            'inputs = preprocess(images, spec)  # {"image": float32 (images, side, side, channels)}',
            *run,
            "table = postprocess(outputs, spec)  # prediction + prob_<class> columns",
            "```",
        ]
        if format == "tflite-int8":
            lines += ["", t("deploy.kinds.readme.images_int8", count=CALIBRATION_IMAGES)]
    return "\n".join([*lines, ""])


def _example_request(model, run_dir: Path) -> dict:
    """One real row of the training table as TF Serving's columnar JSON (`{"input": [[value]]}`)."""

    names = input_names(model)
    frame = RunFiles(run_dir).read_parquet(RunFiles.DATA).head(200)
    arrays = model_inputs(model, frame)
    complete = np.ones(len(frame), dtype=bool)
    for values in arrays.values():
        if values.dtype != object:
            complete &= np.isfinite(values[:, 0])
    row = int(np.argmax(complete)) if complete.any() else 0
    example = {}
    for column, values in arrays.items():
        value = values[row, 0]
        example[names[column]] = [
            [str(value) if values.dtype == object else (float(value) if np.isfinite(value) else 0.0)]
        ]
    return example


# ---------------------------------------------------------------------------------------------------------------
# Running a download as its user would: for the comparison table, the benchmark and the tests.


def load_runner(zip_path: Path, folder: Path):
    """Unzip a download into `folder` and return `predict(frame) -> table` that runs it like its user would."""
    zip_path, folder = Path(zip_path), Path(folder)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    if (folder / "model.keras").exists():
        model = load_model_file(folder / "model.keras")
        return lambda frame: _from_keras_table(predict_table(model, frame), frame)
    if (folder / "layerlab_model").exists():
        import tensorflow as tf  # TensorFlow loads only in workers and helpers, never in the web server

        signature = tf.saved_model.load(str(folder / "layerlab_model" / "1")).signatures["serving_default"]
        serving = json.loads((folder / "serving.json").read_text())
        return lambda frame: _savedmodel_predict(signature, serving, frame)
    spec = json.loads((folder / "preprocessing.json").read_text())
    if (folder / "model.tflite").exists():
        import tensorflow as tf  # TensorFlow loads only in workers and helpers, never in the web server

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runner = tf.lite.Interpreter(model_path=str(folder / "model.tflite")).get_signature_runner()
        return lambda frame: postprocess(runner(**preprocess(frame, spec)), spec)
    import onnxruntime  # heavy, and only for checking an ONNX export (in a child process)

    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    wanted = [item.name for item in session.get_inputs()]

    def run_onnx(frame):
        inputs = preprocess(frame, spec)
        return postprocess(
            dict(zip(names, session.run(None, {name: inputs[name] for name in wanted}), strict=True)), spec
        )

    return run_onnx


def load_image_runner(zip_path: Path, folder: Path):
    """Unzip an image model's download into `folder` and return `predict(images) -> table` that runs it like its
    user would; `images` is uint8 (n, height, width, channels), any height and width."""
    zip_path, folder = Path(zip_path), Path(folder)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    if (folder / ARTIFACT_FILES["keras"]).exists():
        import keras  # Keras loads only in workers and helpers, never in the web server

        model = load_model_file(folder / ARTIFACT_FILES["keras"])
        classes = list(model.get_layer("label_lookup").get_vocabulary())

        def run_keras(images):
            outputs = model({"image": images}, training=False)  # no augmentation while predicting
            outputs = {key: keras.ops.convert_to_numpy(value) for key, value in outputs.items()}
            return _labelled_table(outputs, classes)

        return run_keras
    if (folder / "layerlab_model").exists():
        import tensorflow as tf  # TensorFlow loads only in workers and helpers, never in the web server

        signature = tf.saved_model.load(str(folder / "layerlab_model" / "1")).signatures["serving_default"]
        classes = json.loads((folder / "serving.json").read_text())["classes"]
        return lambda images: _labelled_table(
            {key: value.numpy() for key, value in signature(image=tf.constant(images)).items()}, classes
        )
    spec = json.loads((folder / SPEC_FILE).read_text())
    if (folder / "model.tflite").exists():
        import tensorflow as tf  # TensorFlow loads only in workers and helpers, never in the web server

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runner = tf.lite.Interpreter(model_path=str(folder / "model.tflite")).get_signature_runner()
        return lambda images: postprocess(runner(**image_rules.image_inputs(images, spec)), spec)
    import onnxruntime  # heavy, and only for checking an ONNX export (in a child process)

    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return lambda images: postprocess(
        dict(zip(names, session.run(None, image_rules.image_inputs(images, spec)), strict=True)), spec
    )


def _labelled_table(outputs: dict, classes: list[str]) -> pd.DataFrame:
    """A model's own label and probabilities as `postprocess` lays them out: prediction, prob_<class>..."""
    labels = outputs["label"].reshape(-1)
    result = pd.DataFrame({"prediction": [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in labels]})
    for position, name in enumerate(classes):
        result[f"prob_{name}"] = outputs["probabilities"][:, position].astype("float64")
    return result


def _from_keras_table(result: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    return result.drop(columns=list(frame.columns)).reset_index(drop=True)


def _savedmodel_predict(signature, serving: dict, frame: pd.DataFrame) -> pd.DataFrame:
    import tensorflow as tf  # TensorFlow loads only in workers and helpers, never in the web server

    arguments = {}
    for column, item in serving["inputs"].items():
        values = frame[column]
        if item["dtype"] == "string":
            array = model_text(values).to_numpy(dtype=object)
        elif item["dtype"] == "float64":
            array = datetime_seconds(values, dayfirst=item.get("dayfirst", False))
        else:
            array = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float32", na_value=np.nan)
        arguments[item["input"]] = tf.constant(array.reshape(-1, 1))
    outputs = {key: value.numpy() for key, value in signature(**arguments).items()}
    if "prediction" in outputs:
        return pd.DataFrame({"prediction": outputs["prediction"].reshape(-1).astype("float64")})
    result = pd.DataFrame({"prediction": [v.decode("utf-8") for v in outputs["label"].reshape(-1)]})
    for position, name in enumerate(serving["classes"]):
        result[f"prob_{name}"] = outputs["probabilities"][:, position].astype("float64")
    return result


def compare(run_dir: Path) -> list[dict]:
    """Build the downloads that are missing, run each on the run's test rows, write exports/comparison.json."""

    run_dir = Path(run_dir)
    _check_available(run_dir, "tflite-f32")
    if run_kind(run_dir) == "images":
        return _compare_images(run_dir)
    spec = RunStore(run_dir.parent).spec(run_dir.name)
    table = RunFiles(run_dir).read_parquet(RunFiles.DATA)
    test = prepare_data(table, spec.data, spec.preprocessing).test
    target = RunFiles(run_dir).target()
    rows = []
    for format in ("keras", "tflite-f32", "tflite-f16", "tflite-int8"):
        path = export_path(run_dir, format)
        if not _fresh(path, RunFiles(run_dir).path(RunFiles.MODEL)):
            build_zip(run_dir, format, path)
        with tempfile.TemporaryDirectory(prefix="layerlab-compare-") as folder:
            predict = load_runner(path, Path(folder))
            artifact = Path(folder) / ARTIFACT_FILES[format]
            predict(test.head(8))  # warm-up: the first call builds the graph or allocates tensors
            started = time.perf_counter()
            result = predict(test)
            seconds = time.perf_counter() - started
            size = artifact.stat().st_size if artifact.is_file() else _folder_size(artifact.parent.parent)
        name, value = test_metric(target, test[target["name"]], result)
        rows.append(
            {
                "format": format,
                "label": FORMAT_LABELS[format],
                "size_bytes": size,
                "latency_us_per_row": 1e6 * seconds / max(len(test), 1),
                "metric": name,
                "value": value,
            }
        )
    RunFiles(run_dir).write_comparison({"rows": rows, "test_rows": len(test)})
    return rows


def _compare_images(run_dir: Path) -> list[dict]:
    """`compare` for an image run: each format on the run's test images, as stored (the models resize them)."""
    files = RunFiles(run_dir)
    test = files.read_parquet(RunFiles.TEST_ROWS)
    if test is None or not files.path(RunFiles.PIXELS).exists():
        raise AppError(t("deploy.kinds.export.no_pixels", run=repr(Path(run_dir).name)))
    pixels = np.load(files.path(RunFiles.PIXELS), mmap_mode="r")
    rows = test["pixel_row"].to_numpy(dtype="int64")
    images = np.asarray(pixels[np.sort(rows)])[np.argsort(np.argsort(rows))]  # read in disk order, kept in test order
    target = files.target()
    truth = test[target["name"]].astype(str)
    results = []
    for format in ("keras", "tflite-f32", "tflite-f16", "tflite-int8"):
        path = export_path(run_dir, format)
        if not _fresh(path, files.path(RunFiles.MODEL)):
            build_zip(run_dir, format, path)
        with tempfile.TemporaryDirectory(prefix="layerlab-compare-") as folder:
            predict = load_image_runner(path, Path(folder))
            artifact = Path(folder) / ARTIFACT_FILES[format]
            predict(images[:8])  # warm-up: the first call builds the graph or allocates tensors
            started = time.perf_counter()
            result = predict(images)
            seconds = time.perf_counter() - started
            size = artifact.stat().st_size
        name, value = test_metric(target, truth, result)
        results.append(
            {
                "format": format,
                "label": IMAGE_FORMAT_LABELS[format],
                "size_bytes": size,
                "latency_us_per_row": 1e6 * seconds / max(len(images), 1),
                "metric": name,
                "value": value,
            }
        )
    files.write_comparison({"rows": results, "test_rows": len(images)})
    return results


def _folder_size(folder: Path) -> int:
    return sum(item.stat().st_size for item in folder.rglob("*") if item.is_file())


def test_metric(target: dict, truth: pd.Series, result: pd.DataFrame) -> tuple[str, float]:
    """Accuracy for classification, R² for regression: the number the comparison table shows."""
    if target["task"] == "regression":
        actual = pd.to_numeric(truth, errors="coerce").to_numpy(dtype="float64")
        predicted = result["prediction"].to_numpy(dtype="float64")
        residual = np.sum((actual - predicted) ** 2)
        total = np.sum((actual - actual.mean()) ** 2)
        return "R²", float(1.0 - residual / total) if total > 0 else 0.0

    return "accuracy", float(np.mean(class_names(truth).to_numpy() == result["prediction"].to_numpy()))


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    try:
        if arguments[:1] == ["build"] and len(arguments) == 4:
            print(json.dumps(build_zip(Path(arguments[1]), arguments[2], Path(arguments[3]))))
        elif arguments[:1] == ["build-many"] and len(arguments) >= 3:
            for format in arguments[2:]:
                print(json.dumps(build_zip(Path(arguments[1]), format, export_path(Path(arguments[1]), format))))
        elif arguments[:1] == ["compare"] and len(arguments) == 2:
            print(json.dumps(compare(Path(arguments[1]))))
        else:
            print(
                "usage: python -m core.deployment.formats build RUN_DIR FORMAT OUT.zip | compare RUN_DIR",
                file=sys.stderr,
            )
            return 64
    except AppError as error:
        print(f"layerlab: {error.message}", file=sys.stderr)
        write_failure_file(user_error(error.message, detail=type(error).__name__))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
