"""The short code a user copies to run a downloaded model outside LayerLab (keras and pandas only)."""

from __future__ import annotations

from core.data.preprocessing import DatetimeColumn, NumericColumn, PreprocessingState
from core.data.splitting import TargetInfo


def prediction_snippet(
    state: PreprocessingState, target: TargetInfo, file_name: str = "model.keras", reading: dict | None = None
) -> str:
    numeric = [c.name for c in state.columns if isinstance(c, NumericColumn)]
    dates = [c.name for c in state.columns if isinstance(c, DatetimeColumn)]
    text = [c.name for c in state.columns if not isinstance(c, NumericColumn | DatetimeColumn)]
    lines = [
        "import keras",
        "import pandas as pd",
        "",
        f'model = keras.saving.load_model("{file_name}")',
        f'rows = pd.read_csv("new_rows.csv"{_read_options(reading)})  # the training table\'s columns; no target needed',
        "",
        "# One (rows, 1) array per input column: numbers as float32 (NaN = missing), text as strings.",
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
        lines += [
            "classes = model.get_layer('label_lookup').get_vocabulary()",
            "probabilities = keras.ops.convert_to_numpy(outputs['probabilities'])",
            "# The model's own label (a binary model applies the decision threshold saved on the Evaluate page).",
            "labels = keras.ops.convert_to_numpy(outputs['label']).reshape(-1)",
            f"rows['predicted_{target.name}'] = [v.decode() if isinstance(v, bytes) else str(v) for v in labels]",
            "for i, name in enumerate(classes):",
            "    rows[f'prob_{name}'] = probabilities[:, i]",
        ]
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
