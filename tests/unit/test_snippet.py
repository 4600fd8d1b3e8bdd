"""The Download page's snippet runs as shown, in a fresh Python with only keras and pandas, and predicts
what the app predicts."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.data.preprocessing import PreprocessingState
from core.data.splitting import TargetInfo
from core.deployment.serving_model import load_model_file, predict_table
from core.deployment.snippets import prediction_snippet
from core.run_store import RunStore
from core.spec import ColumnSpec, DataSpec, PreprocessingSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job


def table(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, rows),
            "tier": rng.choice(["gold", "silver", "bronze"], rows).astype(object),
            "code": rng.choice(["7", "8", "x"], rows).astype(object),
            # Written day first (25/03/2021): the snippet must read these the way training did.
            "signed_up": (pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 900, rows), unit="D")).strftime(
                "%d/%m/%Y"
            ),
        }
    )
    frame.loc[::9, "amount"] = np.nan
    frame.loc[::7, "tier"] = None
    frame["churn"] = np.where(frame["amount"].fillna(20) + (frame["tier"] == "gold") * 30 > 35, "yes", "no")
    return frame


@pytest.mark.slow
@pytest.mark.parametrize("task", ["binary", "regression"])
def test_snippet_predicts_what_the_app_predicts(tmp_path, task):
    frame = table()
    target = "churn" if task == "binary" else "amount_next"
    if task == "regression":
        frame["amount_next"] = frame["amount"].fillna(10) * 1.5 + 3
    spec = RunSpec(
        data=DataSpec(target=target, features=("amount", "tier", "code", "signed_up")),
        preprocessing=PreprocessingSpec(
            columns=(
                ColumnSpec(name="signed_up", kind="datetime", dayfirst=True),
                ColumnSpec(name="code", kind="numeric"),
            )
        ),
        training=TrainingSpec(epochs=2),
    )
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(spec, frame, source_name="t.csv")
    assert run_job(store, run_id).state == "finished"
    run_dir = store.path(run_id)
    if task == "binary":  # a saved decision threshold is built into model.keras; the snippet must keep it
        from core.deployment.threshold import apply_threshold

        apply_threshold(run_dir, 0.7)
    new_rows = frame.drop(columns=[target]).head(25).copy()
    new_rows.loc[0, "tier"] = "platinum"  # unseen category
    new_rows.loc[1, "signed_up"] = None
    new_rows.to_csv(tmp_path / "new_rows.csv", index=False)

    state = PreprocessingState.from_json((run_dir / "preprocessing.json").read_text())
    info = TargetInfo.from_dict(json.loads((run_dir / "target.json").read_text()))
    code = prediction_snippet(state, info, str(run_dir / "model.keras"))
    code += "\nimport sys\nassert 'core' not in sys.modules\nrows.to_json(sys.stdout.buffer, orient='records')\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    shown = pd.DataFrame(json.loads(result.stdout[result.stdout.index("[{") :]))

    app = predict_table(load_model_file(run_dir / "model.keras"), pd.read_csv(tmp_path / "new_rows.csv"))
    if task == "regression":
        np.testing.assert_allclose(shown[f"predicted_{target}"], app["prediction"], atol=1e-4)
    else:
        assert list(shown[f"predicted_{target}"]) == list(app["prediction"])
        assert list(shown[f"predicted_{target}"]) == ["yes" if p >= 0.7 else "no" for p in app["prob_yes"]]
        np.testing.assert_allclose(shown["prob_yes"], app["prob_yes"], atol=1e-6)


def test_the_snippet_reads_new_rows_as_the_run_read_its_file():
    from core.deployment.snippets import _read_options

    reading = {"format": "csv", "encoding": "cp1252", "delimiter": ";", "decimal": ","}
    assert _read_options(reading) == ", sep=';', decimal=',', encoding='cp1252'"
    assert _read_options({"format": "csv", "encoding": "utf-8", "delimiter": ",", "decimal": "."}) == ""
    assert _read_options({"format": "excel"}) == "" and _read_options(None) == ""
