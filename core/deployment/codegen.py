""" "Show code": one standalone Python script that reproduces a finished run without LayerLab.

`generate_script(run_dir)` reads the run's files (spec.json, preprocessing.json, target.json, metrics.json,
meta.json) and writes a script that uses only keras, pandas, numpy and scikit-learn. It repeats what core
does, step by step and in the same order: the same row filtering (`core.data.splitting.prepare_data`), the same
seeded split (the same scikit-learn calls), the same preprocessing *computed from the training rows* by
readable pandas/numpy code (`core.data.preprocessing`), the same network (`core.model.building.build_model`), the
same optimizer, loss, class weights, early stopping and best-weight restore (`core.training.run_job`), and prints
the test metrics (`core.evaluation.metrics.compute_metrics`) as JSON. `tests/unit/test_codegen.py` runs it and
compares with the run.

An image or a text run gets a prediction script instead (`prediction_script`): it loads the model downloaded
from the Download page and predicts image files (read with Pillow, by core/data/image_rules.py's `read_image`,
verbatim) or the text column of a table (read by `read_rows`, verbatim); `tests/unit/test_codegen_kinds.py` runs
both on trained runs in a fresh Python.

Generation never imports Keras (the Download page calls it inside the web server). Layers and optimizers
are table-driven: spec field names are Keras argument names, so each layer becomes
`layers.<KerasClass>(field=value, ...)`. Settings the generator cannot express raise `CodegenError`, which
says which setting and what to do, instead of writing a script that would silently train something else.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from pathlib import Path

from core.data import image_rules, table_rules
from core.data.images import IMAGE_EXTENSIONS
from core.data.portable_reading import read_rows
from core.data.preprocessing import PreprocessingState
from core.data.splitting import TargetInfo
from core.deployment.threshold import load_threshold
from core.errors import AppError
from core.i18n import t
from core.model.building import LAYER_TYPES, derive_head
from core.run_store import RunFiles
from core.spec import parse_spec

# Keras class of each layer kind (spec field names are that class's argument names).
KERAS_LAYERS = LAYER_TYPES
# Spec fields that are not a Keras argument of the same name: how each becomes Keras code.
_DENSE_PENALTIES = ("l1", "l2")

# Keras optimizer class and the TrainingSpec fields it takes (besides learning_rate and gradient clipping).
KERAS_OPTIMIZERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "adam": ("Adam", ()),
    "adamw": ("AdamW", ("weight_decay",)),
    "sgd": ("SGD", ("momentum", "nesterov")),
    "rmsprop": ("RMSprop", ()),
    "adagrad": ("Adagrad", ()),
    "nadam": ("Nadam", ()),
}

# Every spec setting the script reproduces. A setting outside these sets, changed from its default, is
# refused (CodegenError) rather than silently ignored: a new feature in core must be taught here first.
KNOWN_DATA_FIELDS = frozenset(
    {"target", "features", "task", "test_fraction", "validation_fraction", "seed", "group_column",
     "drop_duplicates", "cross_validation_folds"}
)  # fmt: skip
KNOWN_TRAINING_FIELDS = frozenset(
    {"optimizer", "learning_rate", "momentum", "nesterov", "weight_decay", "schedule", "clipnorm", "clipvalue",
     "mixed_precision", "batch_size", "epochs", "early_stopping", "patience", "restore_best_weights",
     "class_weight"}
)  # fmt: skip
KNOWN_SCHEDULES = frozenset({"constant", "step", "exponential", "cosine", "reduce_on_plateau"})
KNOWN_SCHEDULE_FIELDS = frozenset(
    {"kind", "decay_rate", "decay_epochs", "warmup_epochs", "alpha", "patience", "min_learning_rate"}
)
KNOWN_COLUMN_FIELDS = frozenset(
    {"name", "role", "kind", "missing", "fill_value", "missing_indicator", "outliers", "scaling", "encoding",
     "num_bins", "dayfirst", "max_categories", "embedding_dim", "order"}
)  # fmt: skip
KNOWN_ENCODINGS = frozenset({"one_hot", "ordinal", "embedding", "hashing"})
KNOWN_PREPROCESSING_FIELDS = frozenset(
    {"max_categories", "columns", "numeric_embedding", "periodic_frequencies", "periodic_scale", "periodic_dim"}
)
KNOWN_RUN_FIELDS = frozenset({"version", "data", "preprocessing", "model", "training"})


class CodegenError(AppError):
    """The run uses a setting the standalone script cannot reproduce (or the run has no results yet)."""


# ----------------------------------------------------------------------------------------------- entry points


def generate_script(run_dir: Path) -> str:
    """The standalone script of the finished run in `run_dir`.

    Raises:
        CodegenError: the folder is not a finished run, or the run uses a setting the script cannot express.
    """

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CodegenError(t("deploy.codegen.no_folder", folder=repr(run_dir.name)))
    files = RunFiles(run_dir)
    needed = (RunFiles.SPEC, RunFiles.PREPROCESSING, RunFiles.TARGET, RunFiles.METRICS)
    missing = [name for name in needed if not files.exists(name)]
    if missing:
        raise CodegenError(t("deploy.codegen.unfinished", folder=repr(run_dir.name), missing=", ".join(missing)))
    spec = parse_spec(files.spec_text())
    if spec.data.kind in ("images", "text"):
        return prediction_script(run_dir)
    threshold = load_threshold(run_dir)
    try:
        state = PreprocessingState.from_json(files.preprocessing_text())
        target = TargetInfo.from_dict(files.target())
        metrics = files.metrics()
        meta = files.meta()
    except (ValueError, KeyError, TypeError) as error:
        raise CodegenError(
            t("deploy.codegen.unreadable", run=repr(run_dir.name), error=f"{type(error).__name__}: {error}")
        ) from None
    return build_script(
        spec,
        state,
        target,
        source_name=meta.get("source_name") or "data.csv",
        steps_per_execution=int(metrics.get("steps_per_execution") or 1),
        run_id=meta.get("run_id", run_dir.name),
        test_metrics=metrics.get("test"),
        precision=metrics.get("precision") or "float32",
        notes=_run_notes(run_dir, metrics, threshold),
        threshold=threshold,
        reading=meta.get("reading"),
    )


def prediction_script(run_dir: Path) -> str:
    """The standalone prediction script of a finished image or text run: the model downloaded from LayerLab in,
    predictions printed (image files) or written as a table (a CSV with the text column).

    Raises:
        CodegenError: the run's files cannot be read.
    """
    files = RunFiles(Path(run_dir))
    try:
        kind = parse_spec(files.spec_text()).data.kind
        preprocessing = json.loads(files.preprocessing_text())
        target = TargetInfo.from_dict(files.target())
        metrics, meta = files.metrics() or {}, files.meta()
    except (ValueError, KeyError, TypeError) as error:
        raise CodegenError(
            t("deploy.codegen.unreadable", run=repr(Path(run_dir).name), error=f"{type(error).__name__}: {error}")
        ) from None
    run_id = meta.get("run_id", Path(run_dir).name)
    scores = ", ".join(
        f"{name} {value:.4f}" for name, value in (metrics.get("test") or {}).items() if value is not None
    )
    model_file = f"layerlab_{re.sub(r'[^0-9a-f]', '', run_id)[:6]}.keras"
    if kind == "images":
        return _image_script(run_id, model_file, preprocessing, target, scores, meta.get("source_name") or "")
    return _text_script(run_id, model_file, preprocessing, target, scores, meta.get("reading"))


def _image_script(run_id: str, model_file: str, preprocessing: dict, target, scores: str, source: str) -> str:
    channels = int(preprocessing.get("channels", 1))
    side = preprocessing.get("image_size", "?")
    scored = f"\nIn LayerLab this run scored, on its test images:\n    {scores}.\n" if scores else ""
    header = f'''#!/usr/bin/env python
"""LayerLab run {run_id}: predict `{target.name}` for image files with the model downloaded from LayerLab.

Needs keras (with TensorFlow), numpy and Pillow. The model was trained on {source or "an image zip"}; it takes
images of any size and resizes them to {side} x {side} itself, in {"grey" if channels == 1 else "colour (RGB)"}.
{scored}
Run it next to the model (Download page: "Model (.keras)"), with image files or folders of them:

    python {_script_name(run_id)} photo1.jpg photo2.png more_photos/
    python {_script_name(run_id)} --model path/to/{model_file} photo.jpg

It prints one line of JSON per image: the file, the predicted class and each class's probability.
"""
'''
    body = f'''import argparse
import json
import sys
from pathlib import Path

import keras
import numpy as np
from PIL import Image, ImageOps

MODEL_FILE = {_py(model_file)}  # the model from LayerLab's Download page
CHANNELS = {channels}  # 1: the model reads grey images; 3: colour (RGB)
IMAGE_SUFFIXES = {_py(sorted(IMAGE_EXTENSIONS))}


# ---- How LayerLab's exports read an image (core/data/image_rules.py, copied unchanged) ----

{inspect.getsource(image_rules.read_image).rstrip()}


def image_files(paths):
    """The image files named, and those inside the folders named (sorted), in order."""
    found = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(item for item in path.rglob("*") if item.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(path)
    return found


def main():
    parser = argparse.ArgumentParser(description="Predict image files with a LayerLab image model.")
    parser.add_argument("images", nargs="+", help="image files, or folders of them")
    parser.add_argument("--model", default=MODEL_FILE, help="the .keras file (default: %(default)s)")
    args = parser.parse_args()
    model = keras.saving.load_model(args.model)
    classes = model.get_layer("label_lookup").get_vocabulary()
    unreadable = 0
    for path in image_files(args.images):
        try:
            image = read_image(path, CHANNELS)
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            print(f"{{path}}: not a readable image ({{type(error).__name__}}: {{error}})", file=sys.stderr)
            unreadable += 1
            continue
        # Any height and width: the model resizes. training=False: its augmentation layers stay off.
        outputs = model({{"image": image[None]}}, training=False)
        label = keras.ops.convert_to_numpy(outputs["label"]).reshape(-1)[0]
        probabilities = keras.ops.convert_to_numpy(outputs["probabilities"])[0]
        row = {{
            "file": str(path),
            "prediction": label.decode("utf-8") if isinstance(label, bytes) else str(label),
            "probabilities": {{name: round(float(p), 6) for name, p in zip(classes, probabilities)}},
        }}
        print(json.dumps(row, ensure_ascii=False))
    return 1 if unreadable else 0


if __name__ == "__main__":
    sys.exit(main())
'''
    return header + "\n" + body


def _text_script(run_id: str, model_file: str, preprocessing: dict, target, scores: str, reading) -> str:
    column = preprocessing.get("column", "text")
    others = (preprocessing.get("table") or {}).get("columns", [])
    dayfirst = [item["name"] for item in others if item.get("kind") == "datetime" and item.get("dayfirst")]
    also = (
        f"\nBeside the text it reads the column(s) {', '.join(item['name'] for item in others)}, raw as well.\n"
        if others
        else ""
    )
    read_as = {}
    if reading and reading.get("format") == "csv":
        read_as = {key: reading[key] for key in ("encoding", "delimiter", "decimal", "thousands") if reading.get(key)}
    scored = f"\nIn LayerLab this run scored, on its test rows:\n    {scores}.\n" if scores else ""
    header = f'''#!/usr/bin/env python
"""LayerLab run {run_id}: predict `{target.name}` from the text column `{column}` of a table, with the model
downloaded from LayerLab.

Needs keras with TensorFlow (the model's text vectorizer runs on TensorFlow's string operations), numpy and
pandas. The vocabulary and the n-grams are inside the model: it takes the raw text.
{also}{scored}
Run it next to the model (Download page: "Model (.keras)") with a table (CSV, Excel, Parquet or JSON) that has
the model's columns; the target column is not needed:

    python {_script_name(run_id)} new_rows.csv
    python {_script_name(run_id)} new_rows.csv --model path/to/{model_file} --out predictions.csv

It writes the rows with `prediction` and a `prob_<class>` column per class (to --out, else to the screen).
"""
'''
    body = f'''import argparse
import contextlib
import csv
import io
import re
import sys
import threading
import warnings
from pathlib import Path

import keras
import numpy as np
import pandas as pd

MODEL_FILE = {_py(model_file)}  # the model from LayerLab's Download page
TEXT_COLUMN = {_py(column)}  # the free text, given raw: TensorFlow's string operations inside the model read it
DAY_FIRST = {_py(dayfirst)}  # date columns written day first (03/04/2024 is 3 April)
READ_AS = {_py(read_as)}  # how LayerLab read the training file (text encoding, separator, decimal mark)


# ---- How LayerLab reads a table file (core/data/table_rules.py and core/data/portable_reading.py, unchanged) ----

{table_rules.shipped_source().rstrip()}


{inspect.getsource(read_rows).rstrip()}


def model_inputs(model, rows):
    """One (rows, 1) array per model input, as LayerLab gives them: text as strings, numbers as float32 (NaN =
    missing: the model fills it in), dates as seconds since 1970 (float64)."""
    inputs = {{}}
    for name, tensor in model.input.items():
        if "string" in str(tensor.dtype):
            inputs[name] = model_text(rows[name]).to_numpy(dtype=object).reshape(-1, 1)
        elif "float64" in str(tensor.dtype):
            inputs[name] = datetime_seconds(rows[name], dayfirst=name in DAY_FIRST).reshape(-1, 1)
        else:
            inputs[name] = pd.to_numeric(rows[name], errors="coerce").to_numpy("float32", na_value=np.nan).reshape(-1, 1)
    return inputs


def main():
    parser = argparse.ArgumentParser(description="Predict the text column of a table with a LayerLab text model.")
    parser.add_argument("table", help="a CSV, Excel, Parquet or JSON file with the column " + repr(TEXT_COLUMN))
    parser.add_argument("--model", default=MODEL_FILE, help="the .keras file (default: %(default)s)")
    parser.add_argument("--out", help="write the predictions to this CSV file instead of the screen")
    args = parser.parse_args()
    rows = read_rows(args.table, READ_AS)
    model = keras.saving.load_model(args.model)
    missing = [name for name in model.input if name not in rows.columns]
    if missing:
        sys.exit(f"The table has no column(s) {{missing}}; the model reads them. Columns: {{list(rows.columns)}}")
    outputs = model(model_inputs(model, rows))
    labels = keras.ops.convert_to_numpy(outputs["label"]).reshape(-1)
    rows["prediction"] = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in labels]
    probabilities = keras.ops.convert_to_numpy(outputs["probabilities"])
    for position, name in enumerate(model.get_layer("label_lookup").get_vocabulary()):
        rows[f"prob_{{name}}"] = probabilities[:, position]
    if args.out:
        rows.to_csv(args.out, index=False, encoding="utf-8-sig")
    else:
        print(rows.to_csv(index=False))


if __name__ == "__main__":
    main()
'''
    return header + "\n" + body


def _run_notes(run_dir: Path, metrics: dict, threshold: float = 0.5) -> tuple[str, ...]:
    """Why the script's scores may differ from the run's, in sentences for the script's docstring."""
    notes = []
    if threshold != 0.5 and metrics.get("task") == "binary":
        notes.append(
            f"You saved a decision threshold of {threshold:g} on the Evaluate page and the script uses it (THRESHOLD); "
            "the scores above were computed at 0.5, so accuracy, precision, recall and F1 will differ."
        )
    status = RunFiles(run_dir).status()
    if status is not None and status.state == "stopped":
        notes.append(
            f"You stopped this run after {metrics.get('epochs_run')} epochs; the script trains every epoch "
            "(lower EPOCHS to match)."
        )
    for continued in metrics.get("continued", []):
        notes.append(
            f"This run was continued from epoch {continued.get('from_epoch')} to {continued.get('to_epoch')}; "
            "the script reproduces its first training only."
        )
    if metrics.get("precision") == "mixed_float16":
        notes.append(
            "LayerLab trained this run on a GPU in mixed precision; on a CPU the script's scores differ a little."
        )
    return tuple(notes)


def build_script(
    spec,
    state,
    target,
    *,
    source_name: str,
    steps_per_execution: int = 1,
    run_id: str = "",
    test_metrics: dict | None = None,
    precision: str = "float32",
    notes: tuple[str, ...] = (),
    threshold: float = 0.5,
    reading: dict | None = None,
) -> str:
    """The script for a spec and what its run learned about the columns (kinds, encodings) and the target.

    `precision` is the run's compute precision ("mixed_float16" when LayerLab trained on a GPU with mixed
    precision); `notes` are sentences for the script's docstring (why its scores may differ from the run's);
    `threshold` is a binary run's decision threshold (the probability at which the second class is predicted);
    `reading` is how the run's file was read (`LoadedTable.reading()`), which the script's `read_table` repeats.
    """
    check_supported(spec, state)
    data, training = spec.data, spec.training
    features = [column.name for column in state.columns]
    task = target.task
    parts = [
        _header(run_id, source_name, test_metrics, notes).strip("\n") + "\n\n" + _imports(spec, state),
        _settings(spec, state, target, features, source_name, steps_per_execution, threshold, reading),
        _helpers(state, target, spec),
        _main(spec, state, target, training, data, precision),
    ]
    script = "\n\n\n".join(part.strip("\n") for part in parts) + "\n"
    if task not in {"binary", "multiclass", "regression"}:  # pragma: no cover - Task is a Literal
        raise CodegenError(t("deploy.codegen.unknown_task", task=repr(task)))
    return script


def check_supported(spec, state) -> None:
    """Raise `CodegenError` for any setting the script would not reproduce faithfully."""
    problems: list[str] = []

    def changed(model, known: frozenset, where: str) -> None:
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            if name not in known and value != field.get_default(call_default_factory=True):
                problems.append(f"`{where}.{name}` = {value!r}")  # setting names stay as written

    changed(spec, KNOWN_RUN_FIELDS, "spec")
    changed(spec.data, KNOWN_DATA_FIELDS, "data")
    changed(spec.training, KNOWN_TRAINING_FIELDS, "training")
    changed(spec.preprocessing, KNOWN_PREPROCESSING_FIELDS, "preprocessing")
    changed(spec.model, frozenset({"layers"}), "model")
    for column in spec.preprocessing.columns:
        changed(column, KNOWN_COLUMN_FIELDS, f"preprocessing.columns[{column.name!r}]")
    schedule = getattr(spec.training, "schedule", None)
    if schedule is not None:
        changed(schedule, KNOWN_SCHEDULE_FIELDS, "training.schedule")
    if schedule is not None and schedule.kind not in KNOWN_SCHEDULES:
        problems.append(t("deploy.codegen.problem.schedule", schedule=repr(schedule.kind)))
    if spec.training.optimizer not in KERAS_OPTIMIZERS:
        problems.append(t("deploy.codegen.problem.optimizer", optimizer=repr(spec.training.optimizer)))
    for position, layer in enumerate(spec.model.layers, start=1):
        if layer.kind not in KERAS_LAYERS:
            problems.append(t("deploy.codegen.problem.layer", position=position, kind=repr(layer.kind)))
        inner = getattr(layer, "layer", None)
        if inner is not None and getattr(inner, "kind", None) not in KERAS_LAYERS:
            problems.append(
                t("deploy.codegen.problem.inner_layer", position=position, kind=repr(getattr(inner, "kind", inner)))
            )
    for column in state.columns:
        if column.kind == "categorical" and column.encoding not in KNOWN_ENCODINGS:
            problems.append(
                t("deploy.codegen.problem.encoding", encoding=repr(column.encoding), column=repr(column.name))
            )
        if column.kind not in {"numeric", "categorical", "datetime"}:
            problems.append(t("deploy.codegen.problem.column", kind=repr(column.kind), column=repr(column.name)))
    if problems:
        raise CodegenError(
            t("deploy.codegen.unsupported", problems=t("deploy.codegen.problem_separator").join(problems))
        )


# ------------------------------------------------------------------------------------------------ script parts


def _header(run_id: str, source_name: str, test_metrics: dict | None, notes: tuple[str, ...] = ()) -> str:
    shown = ""
    if test_metrics:
        numbers = ", ".join(f"{name} {value:.4f}" for name, value in test_metrics.items() if value is not None)
        shown = f"\nIn LayerLab this run scored, on its test rows:\n    {numbers}.\n"
    for note in notes:
        shown += "\n" + "\n".join(_wrap_text(note, 110)) + "\n"
    run = f" {run_id}" if run_id else ""
    return f'''
#!/usr/bin/env python
"""LayerLab run{run} as a standalone script: keras, pandas, numpy and scikit-learn only.

It repeats what LayerLab did, in the same order: keep the usable rows, split them with the same seed, learn
the preprocessing (fill values, scales, categories) from the training rows only, build the same network,
train it with the same settings, and print the scores on the test rows as JSON.
{shown}
Run it with the table you trained on:

    python {_script_name(run_id)} {source_name}

The same table, seed, Keras backend and package versions give the same scores (a GPU may differ slightly).
"""
'''


def _wrap_text(text: str, width: int) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*lines, current] if current else lines


def _script_name(run_id: str) -> str:
    return f"layerlab_{run_id[:6]}.py" if run_id else "layerlab_run.py"


def _imports(spec, state) -> str:
    lines = [
        "import argparse",
        "import contextlib",
        "import csv",
        "import io",
        "import json",
        "import math",
        "import re",
        "import threading",
        "import warnings",
        "from pathlib import Path",
        "",
        "import keras",
        "import numpy as np",
        "import pandas as pd",
        "from keras import layers",
        "from sklearn import metrics",
    ]
    splitters = ["train_test_split"] if spec.data.group_column is None else ["GroupShuffleSplit"]
    lines.append(f"from sklearn.model_selection import {', '.join(splitters)}")
    if spec.training.class_weight == "balanced":
        lines.append("from sklearn.utils.class_weight import compute_class_weight")
    return "\n".join(lines)


def _settings(
    spec,
    state,
    target,
    features: list[str],
    source_name: str,
    steps_per_execution: int,
    threshold: float = 0.5,
    reading: dict | None = None,
) -> str:
    data, training = spec.data, spec.training
    read_as = {}
    if reading and reading.get("format") == "csv":
        read_as = {key: reading[key] for key in ("encoding", "delimiter", "decimal", "thousands") if reading.get(key)}
    lines = [
        "# ---- The run's settings (LayerLab's run spec) ----",
        f"DATA_FILE = {_py(source_name)}  # the table the run was trained on",
        f"READ_AS = {_py(read_as)}  # how LayerLab read that file (text encoding, separator, decimal mark)",
        f"TARGET = {_py(target.name)}",
        f"TASK = {_py(target.task)}  # binary, multiclass or regression",
        f"FEATURES = {_list(features)}",
    ]
    if data.group_column is not None:
        lines.append(f"GROUP_COLUMN = {_py(data.group_column)}  # rows sharing a value stay on one side of the split")
    lines += [
        f"SEED = {data.seed}",
        f"TEST_FRACTION = {data.test_fraction!r}",
        f"VALIDATION_FRACTION = {data.validation_fraction!r}",
        f"DROP_DUPLICATES = {data.drop_duplicates!r}",
        "",
        "# How each input column becomes numbers (LayerLab's Prepare page).",
        "COLUMNS = {",
    ]
    for column in state.columns:
        lines.append(_wrapped(f"    {_py(column.name)}: {{", _column_options(spec, column), "},", indent=8))
    lines += [
        "}",
        "",
        f"BATCH_SIZE = {training.batch_size}",
        f"EPOCHS = {training.epochs}",
        f"EARLY_STOPPING = {training.early_stopping!r}  # stop when the validation loss stops improving",
        f"PATIENCE = {training.patience}",
        f"RESTORE_BEST_WEIGHTS = {training.restore_best_weights!r}  # keep the epoch with the lowest validation loss",
        f"CLASS_WEIGHT = {_py(training.class_weight)}",
        f"STEPS_PER_EXECUTION = {steps_per_execution}  # batches per compiled call: speed only, same result",
    ]
    if target.task == "binary":
        positive = target.classes[1] if len(target.classes) > 1 else "the second class"
        lines += [
            f"# {_py(positive)} is predicted when its probability is at least THRESHOLD (the Evaluate page's decision",
            "# threshold; accuracy, precision, recall and F1 depend on it, ROC AUC does not).",
            f"THRESHOLD = {threshold!r}",
        ]
    if data.cross_validation_folds:
        lines.append(
            f"# LayerLab also trained {data.cross_validation_folds} cross-validation models for the mean ± std of "
            "the scores; this script reproduces the main model only."
        )
    return "\n".join(lines)


def _column_options(spec, column) -> list[str]:
    chosen = spec.preprocessing.column(column.name)
    options: dict = {"kind": column.kind}
    if column.kind == "numeric":
        scaling = "standard" if chosen.scaling == "auto" else chosen.scaling
        missing = "median" if chosen.missing == "auto" else chosen.missing
        options |= {"missing": missing}
        if missing == "constant":
            options["fill_value"] = chosen.fill_value
        options |= {"outliers": chosen.outliers, "scaling": scaling}
    elif column.kind == "categorical":
        options["encoding"] = column.encoding
        options["missing"] = "constant" if chosen.missing == "constant" else (
            "drop_rows" if chosen.missing == "drop_rows" else "most_frequent"
        )  # fmt: skip
        if chosen.missing == "constant":
            options["fill_value"] = str(chosen.fill_value)
        if column.encoding == "one_hot":
            options["max_categories"] = chosen.max_categories or spec.preprocessing.max_categories
        elif column.encoding == "ordinal":
            options["order"] = list(chosen.order)
        elif column.encoding == "embedding":
            options["max_categories"] = chosen.max_categories
            options["embedding_dim"] = chosen.embedding_dim
        elif column.encoding == "hashing":
            options["num_bins"] = getattr(column, "num_bins", 0)
    else:
        options["missing"] = "drop_rows" if chosen.missing == "drop_rows" else "median"
        options["dayfirst"] = bool(getattr(column, "dayfirst", False))
    options["missing_indicator"] = bool(column.indicator)
    return [f"{_py(key)}: {_py(value)}" for key, value in options.items()]


def _wrapped(opening: str, items: list[str], closing: str, *, indent: int, width: int = 116) -> str:
    """`opening` items `closing` on one line when it fits, else items packed into lines of `width`."""
    one_line = opening + ", ".join(items) + closing
    if len(one_line) <= width:
        return one_line
    lines, current = [opening], " " * indent
    for item in items:
        if current.strip() and len(current) + len(item) + 2 > width:
            lines.append(current.rstrip())
            current = " " * indent
        current += item + ", "
    lines.append(current.rstrip())
    lines.append(" " * (len(opening) - len(opening.lstrip())) + closing)
    return "\n".join(lines)


def _list(names: list[str]) -> str:
    text = _py(list(names))
    if len(text) <= 100:
        return text
    return "[\n" + "".join(f"    {_py(name)},\n" for name in names) + "]"


_COMMON_HELPERS = '''
# ---- Helpers: LayerLab's own code, verbatim ----
# How each value becomes numbers (LayerLab's core/data/table_rules.py, copied unchanged: the same rules LayerLab
# trains with and that its exported models repeat).

{TABLE_RULES}


# How LayerLab reads a table file (core/data/portable_reading.py, copied unchanged).

{READ_ROWS}


def read_table(path):
    """The table, read the way LayerLab read the run's file (READ_AS; see read_rows above)."""
    return read_rows(path, READ_AS)
'''

_PIPELINE_HELPERS = '''
# ---- Step 4: the preprocessing, from the rules above ----


def fit_column(series, options):
    """From the training rows: one column's statistics (plain numbers and lists)."""
    if options["kind"] == "numeric":
        fitted = fit_numeric(numbers(series), options)
    elif options["kind"] == "datetime":
        fitted = fit_dates(datetime_seconds(series, options["dayfirst"]))
    else:
        fill = options.get("fill_value") if options["missing"] == "constant" else None
        fitted = fit_categorical(count_categories(series, fill), {**options, "fill": fill})
    fitted["indicator"] = options["missing_indicator"]
    return fitted


def encode_column(series, fitted, options):
    """One column -> its float32 block of the matrix."""
    if options["kind"] == "numeric":
        return encode_numeric(numbers(series), fitted)
    if options["kind"] == "datetime":
        return encode_dates(datetime_seconds(series, options["dayfirst"]), fitted)
    return encode_categorical(series, fitted)


def fit_preprocessing(train):
    """Learn every column's statistics from the training rows only."""
    return {name: fit_column(train[name], options) for name, options in COLUMNS.items()}


def transform(frame, fitted):
    """Raw rows -> the float32 matrix the network reads (columns in FEATURES order)."""
    blocks = [encode_column(frame[name], fitted[name], options) for name, options in COLUMNS.items()]
    return np.concatenate(blocks, axis=1).astype("float32")
'''

_METRIC_HELPERS = {
    "regression": """
def test_metrics(y_true, y_pred):
    nonzero = np.abs(y_true) > 1e-12
    scores = {
        "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
        "rmse": float(math.sqrt(metrics.mean_squared_error(y_true, y_pred))),
        "r2": float(metrics.r2_score(y_true, y_pred)),
        "mape": None,
    }
    if nonzero.any():  # left out: rows whose actual value is 0
        scores["mape"] = float(np.mean(np.abs((y_true[nonzero] - y_pred[nonzero]) / y_true[nonzero])))
    return scores
""",
    "classification": """
def test_metrics(y_true, probabilities, num_classes):
    {PREDICTED}
    labels = list(range(num_classes))
    scores = {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "precision": float(metrics.precision_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)),
        "recall": float(metrics.recall_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)),
        "f1": float(metrics.f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)),
        "roc_auc": None,
    }
    present = np.unique(y_true)
    if len(present) >= 2:
        if TASK == "binary":
            scores["roc_auc"] = float(metrics.roc_auc_score(y_true, probabilities[:, 1]))
        elif len(present) == num_classes:
            scores["roc_auc"] = float(
                metrics.roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro")
            )
    return scores
""",
}

_KEEP_BEST = '''
class KeepBestWeights(keras.callbacks.Callback):
    """Remembers the weights of the epoch with the lowest validation loss, and stops training when the loss
    explodes (not a number, infinite, or 1000 times the first batch's loss: a learning rate far too high)."""

    async_safe = True  # only reads numbers: Keras may call it without waiting for the device

    def on_train_begin(self, logs=None):
        self.best_loss, self.best_weights, self.diverged, self.first_loss = math.inf, None, False, None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if self.first_loss is None and math.isfinite(loss):
            self.first_loss = abs(loss)
        exploding = self.first_loss is not None and loss > 1e3 * max(self.first_loss, 1e-3)
        if not math.isfinite(loss) or exploding:
            self.diverged = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if logs.get("loss") is not None and not math.isfinite(float(logs["loss"])):
            self.diverged = True
            self.model.stop_training = True
        loss = logs.get("val_loss")
        if loss is not None and math.isfinite(float(loss)) and float(loss) < self.best_loss and not self.diverged:
            self.best_loss, self.best_weights = float(loss), self.model.get_weights()
'''


def _helpers(state, target, spec) -> str:
    common = _COMMON_HELPERS.replace("{READ_ROWS}", inspect.getsource(read_rows).rstrip("\n"))
    parts = [common.replace("{TABLE_RULES}", table_rules.shipped_source().rstrip("\n")), _PIPELINE_HELPERS]
    if target.task == "regression":
        parts.append(_METRIC_HELPERS["regression"])
    else:
        predicted = (
            'y_pred = (probabilities[:, 1] >= np.float32(THRESHOLD)).astype("int64")  # the second class at P >= it'
            if target.task == "binary"
            else "y_pred = probabilities.argmax(axis=1)  # the most probable class"
        )
        parts.append(_METRIC_HELPERS["classification"].replace("{PREDICTED}", predicted))
    parts.append(_KEEP_BEST)
    return "\n\n\n".join(part.strip("\n") for part in parts)


# ----------------------------------------------------------------------------------------------------- main()


def _py(value) -> str:
    """A Python literal in the style of the rest of the script (double-quoted strings)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        items = ", ".join(_py(item) for item in value)
        return f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(key)}: {_py(item)}" for key, item in value.items()) + "}"
    return repr(value)


def layer_expression(layer, name: str | None = None) -> str:
    """Keras code that builds one hidden layer of the spec: `layers.Dense(units=64, activation="relu", ...)`."""
    kind = layer.kind
    if kind not in KERAS_LAYERS:
        raise CodegenError(t("deploy.codegen.layer", kind=repr(kind), known=", ".join(sorted(KERAS_LAYERS))))
    arguments: list[str] = []
    for field in type(layer).model_fields:
        if field == "kind" or field in (_DENSE_PENALTIES if kind == "dense" else ()):
            continue
        value = getattr(layer, field)
        if hasattr(value, "kind") and hasattr(type(value), "model_fields"):  # a wrapped layer (Bidirectional)
            arguments.append(f"{field}={layer_expression(value)}")
        else:
            arguments.append(f"{field}={_py(value)}")
    if kind == "dense":
        l1, l2 = getattr(layer, "l1", 0.0), getattr(layer, "l2", 0.0)
        if l1 or l2:
            arguments.append(f"kernel_regularizer=keras.regularizers.L1L2(l1={l1!r}, l2={l2!r})")
    if name is not None:
        arguments.append(f"name={_py(name)}")
    return f"layers.{KERAS_LAYERS[kind]}({', '.join(arguments)})"


def _split_arguments(text: str) -> list[str]:
    """Top-level comma-separated parts of an argument list (commas inside brackets or strings stay)."""
    parts, depth, current, quote = [], 0, "", None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def optimizer_code(training) -> list[str]:
    """Lines (indented for main()) that set `optimizer` (and `schedule_callbacks`) for a TrainingSpec."""
    if training.optimizer not in KERAS_OPTIMIZERS:
        raise CodegenError(
            t("deploy.codegen.optimizer", optimizer=repr(training.optimizer), known=", ".join(sorted(KERAS_OPTIMIZERS)))
        )
    class_name, extra_fields = KERAS_OPTIMIZERS[training.optimizer]
    schedule = getattr(training, "schedule", None)
    kind = schedule.kind if schedule is not None else "constant"
    code = []
    if kind in {"step", "exponential", "cosine"}:  # schedules count optimizer steps
        code.append("    steps_per_epoch = math.ceil(len(x_train) / batch_size)")
    rate = repr(training.learning_rate)
    if kind in {"step", "exponential"}:
        code += [
            f"    # {kind} decay: the rate is multiplied by {schedule.decay_rate:g} every {schedule.decay_epochs} epochs"
            + (" (in steps)." if kind == "step" else " (smoothly)."),
            "    learning_rate = keras.optimizers.schedules.ExponentialDecay(",
            f"        {rate}, {schedule.decay_epochs} * steps_per_epoch, {schedule.decay_rate!r}, "
            f"staircase={kind == 'step'}",
            "    )",
        ]
    elif kind == "cosine":
        code += [
            "    # Cosine decay"
            + (f" after {schedule.warmup_epochs} epochs of linear warm-up." if schedule.warmup_epochs else "."),
            f"    warmup = {schedule.warmup_epochs} * steps_per_epoch",
            f"    decay = max((EPOCHS - {schedule.warmup_epochs}) * steps_per_epoch, 1)",
        ]
        if schedule.warmup_epochs:
            code += [
                "    learning_rate = keras.optimizers.schedules.CosineDecay(",
                f"        0.0, decay, alpha={schedule.alpha!r}, warmup_target={rate}, warmup_steps=warmup",
                "    )",
            ]
        else:
            code.append(
                f"    learning_rate = keras.optimizers.schedules.CosineDecay({rate}, decay, alpha={schedule.alpha!r})"
            )
    else:
        code.append(f"    learning_rate = {rate}")
    arguments = ["learning_rate=learning_rate"]
    arguments += [f"{field}={getattr(training, field)!r}" for field in extra_fields]
    for field in ("clipnorm", "clipvalue"):
        value = getattr(training, field, None)
        if value is not None:
            arguments.append(f"{field}={_py(value)}")
    code.append(f"    optimizer = keras.optimizers.{class_name}({', '.join(arguments)})")
    if kind == "reduce_on_plateau":
        code += [
            "    # Reduce on plateau: multiply the rate when the validation loss stalls.",
            "    schedule_callbacks = [",
            "        keras.callbacks.ReduceLROnPlateau(",
            f'            monitor="val_loss", factor={schedule.decay_rate!r}, patience={schedule.patience}, '
            f"min_lr={schedule.min_learning_rate!r}, verbose=0",
            "        )",
            "    ]",
        ]
    else:
        code.append("    schedule_callbacks = []")
    return code


def _main(spec, state, target, training, data, precision: str = "float32") -> str:
    classification = target.task != "regression"
    blocks = [
        _load_rows_code(data),
        _class_labels_code() if classification else "",
        _split_code(data, classification),
        _target_code(classification),
        _network_code(spec, state, target, precision),
        _training_code(training, target),
        _evaluation_code(target),
        _entry_code(),
    ]
    return "\n\n\n".join(block.strip("\n") for block in blocks if block)


def _load_rows_code(data) -> str:
    group = " + [GROUP_COLUMN]" if data.group_column else ""
    return f'''
def load_rows(path):
    """Step 1. The rows LayerLab learns from: the chosen columns, rows that have a target value (and, if
    asked, no exact duplicates)."""
    frame = read_table(path)
    frame = frame[FEATURES + [TARGET]{group}]
    has_target = frame[TARGET].notna()
    if pd.api.types.is_numeric_dtype(frame[TARGET]):
        has_target &= np.isfinite(numbers(frame[TARGET]))
    frame = frame[has_target]
    if DROP_DUPLICATES:  # identical in every input column and the target
        try:
            duplicated = frame[FEATURES + [TARGET]].duplicated(keep="first")
        except TypeError:
            duplicated = frame[FEATURES + [TARGET]].astype(str).duplicated(keep="first")
        frame = frame[~duplicated.to_numpy()]
    return frame
'''


def _class_labels_code() -> str:
    return '''
def class_labels(frame):
    """Each row's class name, and the classes in order (the network's output i is classes[i])."""
    names = {value: class_name(value) for value in frame[TARGET].dropna().unique()}
    labels = frame[TARGET].map(names)
    return labels, sorted(labels.value_counts().index, key=natural_key)
'''


def _split_code(data, classification: bool) -> str:
    head = '''
def split_rows(frame):
    """Step 2. Training, validation and test rows, seeded. Training rows with a missing value in a
    "drop_rows" column are then left out of training (validation and test rows keep them)."""
'''
    if data.group_column is None:
        if classification:
            body = """
    # Stratified by class when every class has 3+ rows and each part can hold one row of each class.
    labels, classes = class_labels(frame)
    counts = labels.value_counts()
    smallest = min(TEST_FRACTION, VALIDATION_FRACTION, 1 - TEST_FRACTION - VALIDATION_FRACTION)
    stratify = None
    if counts.min() >= 3 and int(len(frame) * smallest) >= len(classes):
        stratify = pd.factorize(labels.to_numpy(dtype=object))[0]
"""
        else:
            body = "\n    stratify = None\n"
        body += """    positions = np.arange(len(frame))
    holdout = TEST_FRACTION + VALIDATION_FRACTION
    train_pos, rest = train_test_split(positions, test_size=holdout, random_state=SEED, stratify=stratify)
    validation_pos, test_pos = train_test_split(
        rest,
        test_size=TEST_FRACTION / holdout,
        random_state=SEED,
        stratify=None if stratify is None else stratify[rest],
    )
"""
    else:
        body = """
    # By group: each value of GROUP_COLUMN is entirely in one part; a row without one is a group of its own.
    # The fractions count groups, not rows.
    groups = np.array(pd.factorize(category_strings(frame[GROUP_COLUMN]))[0], dtype="int64")
    no_group = groups < 0
    groups[no_group] = groups.max(initial=-1) + 1 + np.arange(int(no_group.sum()))
    num_groups = len(np.unique(groups))
    holdout = TEST_FRACTION + VALIDATION_FRACTION
    holdout_groups = min(max(round(num_groups * holdout), 2), num_groups - 1)
    first = GroupShuffleSplit(n_splits=1, test_size=holdout_groups, random_state=SEED)
    train_pos, rest = next(first.split(np.arange(len(groups)), groups=groups))
    test_groups = min(max(round(holdout_groups * TEST_FRACTION / holdout), 1), holdout_groups - 1)
    second = GroupShuffleSplit(n_splits=1, test_size=test_groups, random_state=SEED)
    validation_in_rest, test_in_rest = next(second.split(rest, groups=groups[rest]))
    validation_pos, test_pos = rest[validation_in_rest], rest[test_in_rest]
"""
    tail = """    train, validation, test = frame.iloc[train_pos], frame.iloc[validation_pos], frame.iloc[test_pos]
    dropped = np.zeros(len(train), dtype=bool)
    for name, options in COLUMNS.items():
        if options["missing"] == "drop_rows":
            dropped |= is_missing(train[name], options["kind"], options.get("dayfirst", False))
    return train[~dropped], validation, test
"""
    return head.strip("\n") + "\n" + body.lstrip("\n") + tail


def _target_code(classification: bool) -> str:
    if classification:
        return '''
def encode_target(frame, parts):
    """Step 3. The target as class indices (0 = the first class in order)."""
    _, classes = class_labels(frame)
    index = {name: i for i, name in enumerate(classes)}
    ys = [class_labels(part)[0].map(index).to_numpy(dtype="int32") for part in parts]
    return ys, {"classes": classes}
'''
    return '''
def encode_target(frame, parts):
    """Step 3. The network predicts (y - mean) / std, with the mean and std of the training rows."""
    values = numbers(parts[0][TARGET])
    mean, std = float(values.mean()), float(values.std())
    std = std if std > 0 else 1.0
    ys = [((numbers(part[TARGET]) - mean) / std).astype("float32") for part in parts]
    return ys, {"mean": mean, "std": std}
'''


def _network_code(spec, state, target, precision: str = "float32") -> str:

    head = derive_head(target.task, len(target.classes))
    embedded = any(column.kind == "categorical" and column.encoding == "embedding" for column in state.columns)
    code = [
        "def build_network(num_inputs, fitted):",
        '    """Step 5. The hidden layers of the spec, then an output layer that follows from the task."""',
        '    inputs = keras.Input(shape=(num_inputs,), name="inputs")',
    ]
    if embedded:
        code += [
            "    # An embedded column holds a category's row number: take it out of the matrix, look it up in its own",
            "    # learned table, and join the vectors to the other inputs.",
            "    slots, position = [], 0",
            "    for name, options in COLUMNS.items():",
            '        if options["kind"] == "categorical" and options["encoding"] == "embedding":',
            '            slots.append((position, len(fitted[name]["vocabulary"]) + 1, fitted[name]["embedding_dim"]))',
            "        position += matrix_width(options, fitted[name])",
            "    embedded = {slot[0] for slot in slots}",
            "    plain = [i for i in range(num_inputs) if i not in embedded]",
            "    parts = [keras.ops.take(inputs, plain, axis=1)] if plain else []",
            "    for number, (position, input_dim, output_dim) in enumerate(slots, start=1):",
            '        rows = keras.ops.cast(keras.ops.take(inputs, [position], axis=1), "int32")',
            '        vectors = layers.Embedding(input_dim, output_dim, name=f"embedding_{number}")(rows)',
            '        parts.append(layers.Reshape((output_dim,), name=f"embedding_{number}_flat")(vectors))',
            '    x = parts[0] if len(parts) == 1 else layers.Concatenate(name="embedded_inputs")(parts)',
        ]
    else:
        code.append("    x = inputs")
    periodic = spec.preprocessing.numeric_embedding == "periodic"
    if periodic:
        preprocessing = spec.preprocessing
        spread = 2 * math.pi * preprocessing.periodic_scale
        code += [
            "    # Periodic features: each number column's scaled value also goes through learned frequencies (a Dense",
            "    # layer without bias), their sine and cosine, and a Dense relu layer; joined to the other inputs.",
            "    parts, position, number = [x], 0, 0",
            "    for name, options in COLUMNS.items():",
            '        if options["kind"] == "numeric":',
            "            number += 1",
            "            value = keras.ops.take(inputs, [position], axis=1)",
            f"            starting = keras.initializers.RandomNormal(stddev={spread!r})",
            f"            phases = layers.Dense({preprocessing.periodic_frequencies}, use_bias=False, "
            'kernel_initializer=starting, name=f"periodic_{number}_frequencies")(value)',
            "            both = [keras.ops.sin(phases), keras.ops.cos(phases)]",
            '            features = layers.Concatenate(name=f"periodic_{number}_sin_cos")(both)',
            f"            parts.append(layers.Dense({preprocessing.periodic_dim}, "
            'activation="relu", name=f"periodic_{number}")(features))',
            "        position += matrix_width(options, fitted[name])",
            '    x = layers.Concatenate(name="periodic_inputs")(parts)',
        ]
    for position, layer in enumerate(spec.model.layers, start=1):
        call = layer_expression(layer, f"hidden_{position}_{layer.kind}")
        line = f"    x = {call}(x)"
        if len(line) > 116:
            keras_class, _, rest = call.partition("(")
            line = _wrapped(f"    x = {keras_class}(", _split_arguments(rest[:-1]), ")(x)", indent=8)
        code.append(line)
    code += [
        f"    # {target.task}: {head.units} {head.activation} unit{'s' if head.units > 1 else ''}",
        f'    outputs = layers.Dense({head.units}, activation={_py(head.activation)}, name="output")(x)',
        '    return keras.Model(inputs, outputs, name="layerlab_network")',
    ]
    if precision == "mixed_float16":
        code = [
            "def build_network(num_inputs, fitted):",
            '    """Step 5, as LayerLab ran it on a GPU: the hidden layers compute in float16 (mixed precision),',
            '    the output layer in float32 (a float16 sigmoid or softmax loses the small probabilities)."""',
            "    previous = keras.config.dtype_policy()",
            '    keras.config.set_dtype_policy("mixed_float16")',
            "    try:",
            "        model = build_float32_network(num_inputs, fitted)",
            "    finally:",
            "        keras.config.set_dtype_policy(previous)",
            '    model.get_layer("output").dtype_policy = "float32"',
            *(
                [
                    "    for layer in model.layers:  # and the periodic phases (float16 holds large ones only to 2 or 4)",
                    '        if layer.name.endswith("_frequencies"):',
                    '            layer.dtype_policy = "float32"',
                ]
                if periodic
                else []
            ),
            "    return model",
            "",
            "",
            *(line.replace("def build_network(", "def build_float32_network(", 1) for line in code),
        ]
    if embedded or periodic:
        code = [
            "def matrix_width(options, fitted):",
            '    """How many matrix columns a column takes (as `transform` writes them)."""',
            '    extra = int(options["missing_indicator"])',
            '    if options["kind"] == "numeric":',
            "        return 1 + extra",
            '    if options["kind"] == "datetime":',
            "        return 5 + extra",
            '    if fitted["encoding"] == "one_hot":',
            '        return len(fitted["vocabulary"]) + 1 + extra',
            '    if fitted["encoding"] == "hashing":',
            '        return fitted["num_bins"] + extra',
            "    return 1 + extra",
            "",
            "",
            *code,
        ]
    return "\n".join(code)


def _training_code(training, target) -> str:

    classification = target.task != "regression"
    head = derive_head(target.task, max(len(target.classes), 2))
    code = [
        "def train_network(model, x_train, y_train, x_validation, y_validation, verbose=False):",
        '    """Step 6. Compile and fit; keep the weights of the best validation epoch as LayerLab does."""',
        "    batch_size = min(BATCH_SIZE, len(x_train))",
    ]
    code += optimizer_code(training)
    code += [
        "    # The loss follows from the task"
        + ("; no loss takes logits: the output layer gives probabilities." if classification else "."),
        "    model.compile(",
        "        optimizer=optimizer,",
        f"        loss={_py(head.loss)},",
        f"        metrics=[{_py(head.metric)}],",
        "        steps_per_execution=STEPS_PER_EXECUTION,",
        "    )",
        "    keep_best = KeepBestWeights()",
        "    callbacks = [keep_best, *schedule_callbacks]",
        "    if EARLY_STOPPING:",
        '        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE))',
        "    class_weight = None",
    ]
    if training.class_weight == "balanced" and classification:
        code += [
            '    if CLASS_WEIGHT == "balanced":  # n_rows / (n_classes * class_count), from the training rows',
            "        present = np.unique(y_train)",
            '        weights = compute_class_weight("balanced", classes=present, y=y_train)',
            "        class_weight = {int(i): float(w) for i, w in zip(present, weights, strict=True)}",
        ]
    code += [
        "    model.fit(",
        "        x_train,",
        "        y_train,",
        "        validation_data=(x_validation, y_validation),",
        "        batch_size=batch_size,",
        "        epochs=EPOCHS,",
        "        callbacks=callbacks,",
        "        class_weight=class_weight,",
        "        shuffle=True,",
        "        verbose=2 if verbose else 0,",
        "    )",
        "    restore = keep_best.diverged or (EARLY_STOPPING and RESTORE_BEST_WEIGHTS)",
        "    if keep_best.best_weights is not None and restore:",
        "        model.set_weights(keep_best.best_weights)",
        "    return model",
    ]
    return "\n".join(code)


def _evaluation_code(target) -> str:
    if target.task == "regression":
        body = """
    y_true = y_test.astype("float64") * target["std"] + target["mean"]
    y_pred = output.reshape(-1) * target["std"] + target["mean"]
    return test_metrics(y_true, y_pred)
"""
    else:
        body = """
    probabilities = np.stack([1 - output[:, 0], output[:, 0]], axis=1) if TASK == "binary" else output
    return test_metrics(y_test.astype("int64"), probabilities, len(target["classes"]))
"""
    return (
        '''
def evaluate(model, x_test, y_test, target):
    """Step 7. Scores on the test rows, which training and early stopping never saw."""
    output = np.asarray(model.predict(x_test, batch_size=4096, verbose=0), dtype="float64")
'''.strip("\n")
        + "\n"
        + body.lstrip("\n")
    )


def _entry_code() -> str:
    return """
def main():
    parser = argparse.ArgumentParser(description="Reproduce a LayerLab run with plain Keras.")
    parser.add_argument("data", nargs="?", default=DATA_FILE, help=f"the table (default: {DATA_FILE})")
    parser.add_argument("--verbose", action="store_true", help="print one line per epoch")
    args = parser.parse_args()
    # One seed for Python, numpy and the backend: the same starting weights and batch order as in LayerLab.
    keras.utils.set_random_seed(SEED)
    frame = load_rows(args.data)
    train, validation, test = split_rows(frame)
    (y_train, y_validation, y_test), target = encode_target(frame, (train, validation, test))
    # Step 4. Preprocessing: statistics from the training rows only, applied to all three parts.
    fitted = fit_preprocessing(train)
    x_train, x_validation, x_test = (transform(part, fitted) for part in (train, validation, test))
    model = build_network(x_train.shape[1], fitted)
    train_network(model, x_train, y_train, x_validation, y_validation, verbose=args.verbose)
    scores = evaluate(model, x_test, y_test, target)
    rows = {"train": len(train), "validation": len(validation), "test": len(test)}
    print(json.dumps({"task": TASK, "target": TARGET, "test": scores, "rows": rows}))


if __name__ == "__main__":
    main()
"""


def script_file_name(run_id: str) -> str:
    """The file name the Download page offers for the script."""
    return _script_name(re.sub(r"[^0-9a-f]", "", run_id))


__all__ = [
    "CodegenError",
    "KERAS_LAYERS",
    "KERAS_OPTIMIZERS",
    "build_script",
    "check_supported",
    "generate_script",
    "layer_expression",
    "optimizer_code",
    "script_file_name",
]
