"""Pages driven through Streamlit's AppTest: what a user sees after each click."""

import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.config import load_settings
from core.errors import AppError
from core.run_store import FINAL_STATES, RunStore

PAGES = [
    "pages/data.py",
    "pages/prepare.py",
    "pages/model.py",
    "pages/train.py",
    "pages/evaluate.py",
    "pages/predict.py",
    "pages/download.py",
]
# A guard against a hung script, not a speed bound: with the suite on two processes, a page's first run in a
# fresh process (imports, the sample table) can take well over 30 s on a loaded 2-core machine.
RUN_TIMEOUT_S = 300
APP = str(Path(__file__).resolve().parents[2] / "app.py")


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.info] + [e.value for e in at.error]
    parts += [e.value for e in at.success] + [e.value for e in at.warning] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_empty_state(app_env, monkeypatch, page):
    # Other page tests leave runs in the shared test home; a shared-demo session lists only its own runs,
    # so this new session starts with none, as a first-time visitor does.
    monkeypatch.setenv("LAYERLAB_SHARED", "1")
    at = new_app()
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    if page != "pages/data.py":
        assert "Data page" in texts(at) or "No finished run" in texts(at) or "No runs yet" in texts(at)


def load_sample(at: AppTest, name: str) -> None:
    at.run()
    at.radio(key="data.source").set_value("Sample data").run()
    at.selectbox(key="data.sample").set_value(name).run()
    at.button(key="data.load_sample").click().run()
    assert not at.exception, at.exception


def wait_for_run(at: AppTest, timeout: float = 120.0) -> str:
    """Rerun the page until the run is no longer active (AppTest never fires run_every).

    While the session's run trains, this waits on its status file rather than rerunning the page: each rerun of
    the Train page draws its charts in this process, CPU the run's worker needs on two cores. The page is then
    read as the user sees it: the state it shows is what counts."""
    deadline = time.monotonic() + timeout
    run_id = getattr(at.session_state["layerlab"], "run_id", None) if "layerlab" in at.session_state else None
    if run_id:
        store = RunStore(load_settings().runs_dir)
        while time.monotonic() < deadline:
            try:
                if store.status(run_id).state in FINAL_STATES:
                    break
            except AppError:
                break  # not readable here (another owner's view): read the page instead
            time.sleep(0.2)
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        shown = texts(at)
        for state in ("finished", "stopped", "failed"):
            if f" {state}]" in shown:
                return state
        time.sleep(0.5)
    raise AssertionError(f"run did not end in {timeout} s; page shows: {texts(at)[:500]}")


def test_sample_loads_with_profile_and_inferred_task(app_env):
    at = new_app()
    load_sample(at, "Wine cultivars")
    assert at.metric[0].value == "178"  # rows
    target_box = next(s for s in at.selectbox if str(s.key).startswith("data.target."))
    assert target_box.value == "cultivar"
    task_box = next(s for s in at.selectbox if str(s.key).startswith("data.task."))
    assert task_box.format_func(task_box.value) == "multiclass (inferred)"
    assert "Predict **cultivar** (multiclass) from 13 column(s)." in texts(at)


def test_model_page_updates_parameter_count_when_a_layer_is_added(app_env):
    at = new_app()
    load_sample(at, "Wine cultivars")
    at.switch_page("pages/model.py").run()
    # 13 inputs → 64 → 64 → 3 classes.
    expected = (13 + 1) * 64 + (64 + 1) * 64 + (64 + 1) * 3
    assert at.metric[0].value == f"{expected:,}"
    at.button(key="model.add.dropout").click().run()
    assert at.metric[0].value == f"{expected:,}"  # dropout adds no parameters
    at.button(key="model.add.dense").click().run()
    assert at.metric[0].value == f"{(13 + 1) * 64 + (64 + 1) * 64 + (64 + 1) * 64 + (64 + 1) * 3:,}"
    assert "softmax" in texts(at)


def test_upload_train_two_epochs_then_evaluate_shows_metrics(app_env, tmp_path):
    rng = pd.Series(range(400))
    frame = pd.DataFrame(
        {
            "amount": (rng * 7 % 100).astype(float),
            "channel": ["web", "shop", "phone", None][0:1] * 100 + ["shop"] * 100 + ["phone"] * 100 + [None] * 100,
            "label": ["yes" if (i * 7 % 100) > 50 else "no" for i in range(400)],
        }
    )
    at = new_app()
    at.run()
    at.radio(key="data.source").set_value("Upload a file").run()
    at.file_uploader(key="data.upload").set_value(("orders.csv", frame.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert at.metric[0].value == "400"
    assert "Predict **label** (binary)" in texts(at)

    at.switch_page("pages/train.py").run()
    at.number_input(key="train.epochs").set_value(2)
    at.toggle(key="train.early_stopping").set_value(False)
    at.button(key="train.start").click().run()
    assert not at.exception, at.exception
    assert wait_for_run(at) == "finished"
    assert "Finished all 2 epochs." in texts(at)

    at.switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception
    labels = {m.label: m.value for m in at.metric}
    assert set(labels) >= {"Accuracy", "Precision (macro)", "Recall (macro)", "F1 (macro)", "ROC AUC"}
    assert 0.0 <= float(labels["Accuracy"]) <= 1.0
    assert "Against simple models on the same split" in [h.value for h in at.subheader]
    slider = next(s for s in at.slider if str(s.key).startswith("evaluate.threshold"))
    recall_at = {}
    for threshold in (0.2, 0.8):
        slider.set_value(threshold).run()
        recall_at[threshold] = next(m.value for m in at.metric if m.label == "Recall of 'yes'")
    assert float(recall_at[0.2]) >= float(recall_at[0.8])
    assert any(i.value.startswith("Your network") for i in at.info)

    at.switch_page("pages/download.py").run()
    assert not at.exception, at.exception
    assert any("keras.saving.load_model" in c.value for c in at.code)

    at.switch_page("pages/predict.py").run()
    new_rows = frame.drop(columns=["label"]).head(5).assign(note=["=cmd()", "ok", "@x", "-", "fine"])
    at.file_uploader(key="predict.upload").set_value(("new.csv", new_rows.to_csv(index=False).encode(), "text/csv"))
    at.run(timeout=300)
    assert not at.exception, at.exception
    assert "Predicted 5 rows." in texts(at)
    assert "note" in " ".join(i.value for i in at.info)  # the extra column is reported


def test_bad_file_shows_message_not_traceback(app_env):
    at = new_app()
    at.run()
    at.radio(key="data.source").set_value("Upload a file").run()
    at.file_uploader(key="data.upload").set_value(("empty.csv", b"", "text/csv"))
    at.run()
    assert not at.exception
    assert any("empty" in e.value for e in at.error)


def test_evaluate_shows_regression_and_multiclass_details(app_env):
    for sample, expected in (("Wine cultivars", "Per class"), ("Diamond prices", "Predicted vs actual")):
        at = new_app()
        load_sample(at, sample)
        at.switch_page("pages/train.py").run()
        at.number_input(key="train.epochs").set_value(2)
        at.button(key="train.start").click().run()
        assert wait_for_run(at) == "finished"
        at.switch_page("pages/evaluate.py").run()
        assert not at.exception, at.exception
        assert expected in [h.value for h in at.subheader]
        if sample == "Diamond prices":
            assert {"MAE", "RMSE", "R²", "MAPE"} <= {m.label for m in at.metric}
