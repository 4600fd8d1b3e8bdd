"""Predict page: one typed-in row, the saved threshold, and model files uploaded back (bad ones refused)."""

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.deployment.threshold import apply_threshold, save_threshold
from core.plain_text import markdown_literal
from tests.conftest import make_binary_frame, train_small_run

pytestmark = pytest.mark.slow  # each test trains a small run first

APP = str(Path(__file__).resolve().parents[2] / "app.py")
BAD_INPUTS = Path(__file__).resolve().parents[3] / "shared" / "bad_inputs"


def model_files() -> list[str]:
    manifest = BAD_INPUTS / "MANIFEST.json"
    if not manifest.exists():
        return []
    return [entry["file"] for entry in json.loads(manifest.read_text()) if entry["file"].startswith("models/")]


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.info] + [e.value for e in at.error]
    parts += [e.value for e in at.success] + [e.value for e in at.warning] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def _train(app_home):
    frame = make_binary_frame(200)
    store, run_id = train_small_run(app_home / "runs", frame, source_name="binary.csv")
    return store, run_id, frame


@pytest.fixture(scope="module")
def binary_run(app_home):
    return _train(app_home)


def open_predict(run_id: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    if run_id:
        at.query_params["run"] = run_id
    at.switch_page("pages/predict.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_one_typed_row_gets_a_label_and_probabilities(app_env, binary_run):
    store, run_id, _ = binary_run
    at = open_predict(run_id)
    at.radio(key="predict.mode").set_value("row").run()
    assert not at.exception, at.exception
    form = f"predict.row.{run_id}"
    labels = {
        widget.label: widget
        for widget in list(at.number_input) + list(at.selectbox)
        if str(widget.key).startswith(form)
    }
    assert set(labels) == {"x1", "x2", "noise", "colour"}
    assert labels["colour"].options[-1] == "(missing)" and set(labels["colour"].options[:3]) == {"red", "green", "blue"}
    labels["x1"].set_value(3.0)
    labels["x2"].set_value(9.0)
    labels["colour"].set_value("red")
    at.button(key=f"FormSubmitter:{form}-Predict this row").click().run()
    assert not at.exception, at.exception
    prediction = next(m for m in at.metric if m.label == "Prediction")
    assert prediction.value == "yes"  # far on the "yes" side: 2 x1 + (x2 - 5) + 1 > 0.2
    probabilities = at.dataframe[-1].value
    assert set(probabilities["class"]) == {"no", "yes"}
    assert probabilities["probability"].sum() == pytest.approx(1.0, abs=1e-5)


def test_predictions_use_the_threshold_built_into_the_model(app_env, app_home):
    store, run_id, frame = _train(app_home)  # its own run: the threshold changes its model file
    run_dir = store.path(run_id)
    assert "at least **0.50**" in texts(open_predict(run_id))

    save_threshold(run_dir, 0.7)  # saved, but the model file not rebuilt (as after continuing training)
    at = open_predict(run_id)
    assert "at least **0.50**" in texts(at)
    assert any("saved on the Evaluate page is 0.70" in w.value for w in at.warning)

    apply_threshold(run_dir, 0.9)
    at = open_predict(run_id)
    assert "at least **0.90**" in texts(at) and not at.warning
    rows = frame.drop(columns=["label"]).head(60)
    at.file_uploader(key="predict.upload").set_value(("rows.csv", rows.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception, at.exception
    result = next(d.value for d in at.dataframe if "prob_yes" in d.value.columns)
    expected = ["yes" if p >= np.float32(0.9) else "no" for p in result["prob_yes"].astype("float32")]
    assert result["prediction"].tolist() == expected
    assert "yes" in expected and (result["prob_yes"] >= 0.5).sum() > expected.count("yes")


@pytest.mark.skipif(not model_files(), reason="../shared/bad_inputs is not present")
def test_bad_model_files_are_refused_and_a_good_one_still_predicts(app_env, binary_run, tmp_path):
    store, run_id, frame = binary_run
    at = open_predict()
    at.radio(key="predict.source").set_value("upload").run()
    for name in model_files():
        path = BAD_INPUTS / name
        at.file_uploader(key="predict.model_upload").set_value(
            (path.name, path.read_bytes(), "application/octet-stream")
        )
        at.run()
        assert not at.exception, f"{name}: {at.exception}"
        errors = [e.value for e in at.error]
        assert errors and markdown_literal(path.name) in errors[0], f"{name}: {errors}"
        assert not at.success
    good = (store.path(run_id) / "model.keras").read_bytes()
    at.file_uploader(key="predict.model_upload").set_value(("my_model.keras", good, "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    assert any("a LayerLab binary model" in s.value for s in at.success)
    rows = frame.drop(columns=["label"]).head(7).to_csv(index=False).encode()
    at.file_uploader(key="predict.model_rows").set_value(("rows.csv", rows, "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert "Predicted 7 rows." in texts(at)
