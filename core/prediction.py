"""Predictions for new rows from a trained run, computed in a separate process.

The web server never imports Keras (see docs/ARCHITECTURE.md): `predict_rows` hands the rows to
`layerlab predict` in a child process with a time limit, so a huge or broken model cannot take the server
down with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from core.errors import AppError, DataError
from core.preprocessing import PreprocessingState
from core.run_store import to_parquet

PREDICT_TIMEOUT_S = 300
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def column_report(state: PreprocessingState, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(missing, extra): input columns the model needs that the table lacks, and columns it will ignore."""
    needed = [column.name for column in state.columns]
    missing = [name for name in needed if name not in frame.columns]
    extra = [str(name) for name in frame.columns if name not in needed]
    return missing, extra


def predict_rows(model_path: Path, frame: pd.DataFrame, *, timeout: float = PREDICT_TIMEOUT_S) -> pd.DataFrame:
    """The rows plus `prediction` (and `prob_<class>` columns), from the model file, in a child process."""
    with tempfile.TemporaryDirectory(prefix="layerlab-predict-") as folder:
        rows, out = Path(folder) / "rows.parquet", Path(folder) / "predictions.parquet"
        rows.write_bytes(to_parquet(frame)[0])
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "2"}
        try:
            result = subprocess.run(
                [sys.executable, "-m", "core.cli", "predict", str(model_path), str(rows), "--out", str(out)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                cwd=root,
            )
        except subprocess.TimeoutExpired:
            raise AppError(
                f"Predicting took longer than {timeout:.0f} seconds and was stopped. Try fewer rows at a time."
            ) from None
        if result.returncode == 2:
            raise DataError(result.stderr.strip().removeprefix("layerlab: "))
        if result.returncode != 0 or not out.exists():
            raise AppError(
                "The prediction process ended unexpectedly (it may have run out of memory). "
                "Try fewer rows at a time; if it keeps happening, this is a bug in LayerLab."
            )
        return pd.read_parquet(out)


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells starting with = + - @ get a leading apostrophe, so a spreadsheet shows them instead of
    running them as formulas (CSV injection). Numbers are left alone."""
    escaped = frame.copy()
    for name in escaped.columns:
        column = escaped[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        text = column.astype("object")
        risky = text.map(lambda v: isinstance(v, str) and v.startswith(_FORMULA_START))
        escaped[name] = text.where(~risky, "'" + text.astype(str))
    return escaped
