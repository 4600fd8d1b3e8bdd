"""The short code a user copies to run a downloaded model outside LayerLab: keras and pandas for a table model,
keras, numpy and Pillow for an image model (image files in), keras, pandas and TensorFlow for a text model (its
vectorizer runs on TensorFlow's string operations)."""

from __future__ import annotations

import json

from core.data.preprocessing import DatetimeColumn, NumericColumn, PreprocessingState
from core.data.splitting import TargetInfo

MODEL_FILE = "model.keras"


def kind_snippet(
    kind: str, preprocessing: str, target: TargetInfo, file_name: str = MODEL_FILE, reading: dict | None = None
) -> str:
    """The snippet for a run of this kind of data; `preprocessing` is the run's preprocessing.json text."""
    if kind == "images":
        return image_snippet(json.loads(preprocessing), target, file_name)
    if kind == "text":
        return text_snippet(json.loads(preprocessing), target, file_name, reading)
    return prediction_snippet(PreprocessingState.from_json(preprocessing), target, file_name, reading)


def image_snippet(preprocessing: dict, target: TargetInfo, file_name: str = MODEL_FILE) -> str:
    """Image files in (any size: the model resizes them), the predicted class and probabilities printed."""
    channels = int(preprocessing.get("channels", 1))
    side = preprocessing.get("image_size", "?")
    mode, axes = ("L", "[None, :, :, None]") if channels == 1 else ("RGB", "[None]")
    colours = "grey (Pillow's mode L)" if channels == 1 else "colour (RGB)"
    return "\n".join(
        [
            "import keras",
            "import numpy as np",
            "from PIL import Image",
            "",
            f"model = keras.saving.load_model({file_name!r})",
            "classes = model.get_layer('label_lookup').get_vocabulary()",
            "",
            f"# One uint8 array (images, height, width, {channels}) of any height and width: the model resizes to",
            f"# {side} x {side} itself. This model reads {colours} images.",
            "for path in ['photo1.jpg', 'photo2.png']:",
            f"    image = np.asarray(Image.open(path).convert({mode!r})){axes}",
            "    outputs = model({'image': image}, training=False)  # training=False: no augmentation",
            "    label = keras.ops.convert_to_numpy(outputs['label'])[0]",
            "    probabilities = keras.ops.convert_to_numpy(outputs['probabilities'])[0]",
            "    print(path, label.decode() if isinstance(label, bytes) else label,",
            "          {name: round(float(p), 3) for name, p in zip(classes, probabilities)})",
            "",
        ]
    )


def text_snippet(
    preprocessing: dict, target: TargetInfo, file_name: str = MODEL_FILE, reading: dict | None = None
) -> str:
    """A table with the text column (and the model's other columns, if it reads any) in, the same rows with the
    predicted class and probabilities out: the text goes in raw, the vocabulary is inside the model."""
    table = preprocessing.get("table")
    state = PreprocessingState.from_json(json.dumps(table)) if table else PreprocessingState(columns=())
    return prediction_snippet(state, target, file_name, reading, text_column=preprocessing["column"])


def _label_lines(target: TargetInfo) -> list[str]:
    return [
        "classes = model.get_layer('label_lookup').get_vocabulary()",
        "probabilities = keras.ops.convert_to_numpy(outputs['probabilities'])",
        "# The model's own label (a binary model applies the decision threshold saved on the Evaluate page).",
        "labels = keras.ops.convert_to_numpy(outputs['label']).reshape(-1)",
        f"rows['predicted_{target.name}'] = [v.decode() if isinstance(v, bytes) else str(v) for v in labels]",
        "for i, name in enumerate(classes):",
        "    rows[f'prob_{name}'] = probabilities[:, i]",
    ]


def prediction_snippet(
    state: PreprocessingState,
    target: TargetInfo,
    file_name: str = MODEL_FILE,
    reading: dict | None = None,
    *,
    text_column: str | None = None,
) -> str:
    """`text_column`: a text run's free-text column, given raw like the other text columns (its vectorizer is
    inside the model and runs on TensorFlow's string operations)."""
    numeric = [c.name for c in state.columns if isinstance(c, NumericColumn)]
    dates = [c.name for c in state.columns if isinstance(c, DatetimeColumn)]
    text = [c.name for c in state.columns if not isinstance(c, NumericColumn | DatetimeColumn)]
    if text_column is not None:
        text.append(text_column)
    lines = [
        "import keras",
        "import pandas as pd",
        "",
        f'model = keras.saving.load_model("{file_name}")',
        f'rows = pd.read_csv("new_rows.csv"{_read_options(reading)})  # the training table\'s columns; no target needed',
        "",
        "# One (rows, 1) array per input column: numbers as float32 (NaN = missing), text as strings.",
        *(
            [f"# {text_column!r} goes in as it is: the vocabulary and the n-grams are inside the model (TensorFlow)."]
            if text_column is not None
            else []
        ),
        f"numeric = {numeric!r}",
        f"text = {text!r}",
        "inputs = {name: pd.to_numeric(rows[name], errors='coerce').to_numpy('float32').reshape(-1, 1) for name in numeric}",
        "inputs |= {name: rows[[name]].fillna('').astype(str).to_numpy(dtype=object) for name in text}",
    ]
    if dates:
        dayfirst = [c.name for c in state.columns if isinstance(c, DatetimeColumn) and c.dayfirst]
        lines += [
            "# Dates as seconds since 1970 (float64); unreadable or missing dates become NaN.",
            f"dates = {dates!r}",
            f"day_first = {dayfirst!r}  # dates written day first: 03/04/2024 is 3 April",
            "for name in dates:",
            "    when = pd.to_datetime(rows[name], errors='coerce', format='mixed', dayfirst=name in day_first, utc=True)",
            "    when = when.dt.tz_localize(None)",
            "    seconds = (when - pd.Timestamp('1970-01-01')).dt.total_seconds()",
            "    inputs[name] = seconds.to_numpy('float64').reshape(-1, 1)",
        ]
    lines += [
        "outputs = model(inputs)",
        "",
    ]
    if target.task == "regression":
        lines += [f"rows['predicted_{target.name}'] = keras.ops.convert_to_numpy(outputs['prediction'])[:, 0]"]
    else:
        lines += _label_lines(target)
    lines += ["print(rows.head())"]
    return "\n".join(lines) + "\n"


def _read_options(reading: dict | None) -> str:
    """read_csv's options for a file read as the run's was (`LoadedTable.reading()`); none for a plain CSV."""
    if not reading or reading.get("format") != "csv":
        return ""
    options = []
    if reading.get("delimiter") not in (None, ","):
        options.append(f"sep={reading['delimiter']!r}")
    if reading.get("decimal") not in (None, "."):
        options.append(f"decimal={reading['decimal']!r}")
    if reading.get("thousands"):
        options.append(f"thousands={reading['thousands']!r}")
    if reading.get("encoding") not in (None, "utf-8", "utf-8-sig"):
        options.append(f"encoding={reading['encoding']!r}")
    return "".join(", " + option for option in options)
