"""The Train page and its live run view in Chinese (catalog domain "train"), for a run trained in English."""

import json
import re

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

import ui.identity
from core import i18n
from core.i18n import Message, use_language
from core.run_store import RunStore, write_json
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from tests.app.test_pages import APP, RUN_TIMEOUT_S, texts

OWNER = "train-page-language"
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def test_the_train_page_and_a_run_trained_in_english_read_in_chinese(app_env, monkeypatch):
    store = RunStore(app_env / "runs")
    rng = np.random.default_rng(3)
    x = rng.normal(size=120)
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=120), "label": np.where(x > 0, "yes", "no")})
    spec = RunSpec(
        data=DataSpec(target="label"),
        model=ModelSpec(layers=(DenseLayer(units=4),)),
        training=TrainingSpec(epochs=2, batch_size=32, learning_rate=0.5, early_stopping=False),
    )
    with use_language("en"):  # what a worker writes: the English text and the message's id and params
        run_id = store.create_run(spec, frame, source_name="small.csv")
        write_json(
            store.path(run_id) / "history.json",
            [{"epoch": 1, "loss": 0.7, "val_loss": 0.7}, {"epoch": 2, "loss": 900.0, "val_loss": 950.0}],
        )
        finished = Message("train.final.finished", {"continued": "", "best": "", "epochs": 2})
        store.set_status(run_id, "finished", finished, device="CPU (tensorflow backend)")
    assert store.status(run_id).message == "Finished all 2 epochs."

    monkeypatch.setattr(ui.identity, "browser_identity", lambda: OWNER)
    sessions = app_env / "sessions"
    sessions.mkdir(exist_ok=True)
    (sessions / f"{OWNER}.json").write_text(json.dumps({"table": None, "run": None, "language": "zh"}))
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S).run()
    assert not at.exception, at.exception
    at.session_state["layerlab"].run_id = run_id
    # A switched-to page runs here without app.py, which sets the language of a script run: make Chinese the
    # default of every thread instead (as LAYERLAB_LANG=zh does for a process).
    monkeypatch.setattr(i18n, "_DEFAULT_FROM_ENVIRONMENT", "zh")
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception

    assert at.title[0].value == "训练"
    assert "运行" in [s.value for s in at.subheader]
    shown = texts(at)
    assert "全部 2 轮训练完成。" in shown  # the status line, rendered from the stored id and params
    assert "设备：CPU（tensorflow 后端）" in shown
    assert "训练教练" in shown  # the coach's heading and its finding
    assert "训练发散了" in shown
    assert at.button(key=f"train.coach.{run_id}.divergence").label.startswith("用这个修改开始新的运行：")
    for english in ("Finished all", "Training coach", "Training diverged", "Device:", "Done. See"):
        assert english not in shown, english
    assert all(CHINESE.search(b.label) for b in at.button if str(b.key).startswith("train.")), [
        b.label for b in at.button
    ]
