"""Training's sentences through the catalogs (domain "train"): a run keeps message ids and params in its files,
so one trained in English reads in Chinese after switching, and the other way round; older runs that kept only
English text still show it."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from core.errors import CapError, RunNotFoundError
from core.i18n import Message, use_language
from core.run_store import RunStatus, RunStore, stored_text
from core.runtime.devices import DeviceInfo, device_text, format_device
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from core.training.coach import coach
from core.training.run_job import run_job
from tests.conftest import make_regression_frame

CHINESE = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_WORDS = re.compile(r"\b(?:epochs?|Finished|Stopped|Balanced|classification|weights)\b")


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def _spec() -> RunSpec:
    # Balanced class weights on a regression target: the run adds a note saying they were not used.
    training = TrainingSpec(epochs=2, batch_size=32, early_stopping=False, class_weight="balanced")
    return RunSpec(data=DataSpec(target="price"), model=ModelSpec(layers=(DenseLayer(units=4),)), training=training)


def _train(store: RunStore, language: str) -> str:
    frame: pd.DataFrame = make_regression_frame(120)
    with use_language(language):
        run_id = store.create_run(_spec(), frame, source_name="table.csv")
        assert run_job(store, run_id).state == "finished"
    return run_id


def test_a_run_trained_in_english_reads_in_chinese_and_the_other_way_round(store):
    english_run, chinese_run = _train(store, "en"), _train(store, "zh")
    # The language the run was started in: the worker writes other modules' error text in it.
    assert (store.meta(english_run)["language"], store.meta(chinese_run)["language"]) == ("en", "zh")
    for run_id in (english_run, chinese_run):
        status = store.status(run_id)
        assert status.message == "Finished all 2 epochs."  # the English text, for older readers
        assert status.message_ref == {"id": "train.final.finished", "params": status.message_ref["params"]}
        with use_language("zh"):
            assert status.sentence() == "全部 2 轮训练完成。"
            assert store.record(run_id).sentence() == "全部 2 轮训练完成。"
            notes = status.notes
            assert "平衡类别权重只适用于分类，所以这个目标列没有使用它。" in notes
            assert all(not ENGLISH_WORDS.search(note) for note in notes if CHINESE.search(note)), notes
            assert [r.sentence() for r in store.list_runs() if r.run_id == run_id] == ["全部 2 轮训练完成。"]
        with use_language("en"):
            assert status.sentence() == "Finished all 2 epochs."
            assert (
                "Balanced class weights apply to classification only, so they were not used for this target."
                in status.notes
            )
            assert not any(CHINESE.search(note) for note in status.notes)


def test_status_messages_render_at_display_time_and_old_runs_keep_their_text():
    stored = RunStatus.from_dict(
        {"state": "running", "message": "Preparing data…", "message_ref": Message("train.status.preparing").to_dict()}
    )
    old = RunStatus.from_dict({"state": "finished", "message": "Finished all 3 epochs.", "notes": ["An old note."]})
    summary = Message(
        "train.final.with_cross_validation",
        {
            "summary": Message(
                "train.final.early_stopping",
                {
                    "continued": Message("train.final.continued", {"epoch": 3}),
                    "epochs_run": 5,
                    "epochs": 9,
                    "best": Message("train.final.kept_best", {"epoch": 4}),
                },
            ),  # fmt: skip
            "cross_validation": Message("train.final.cross_validation_stopped", {"done": 1, "folds": 3}),
        },
    )
    finished = RunStatus.from_dict({"state": "finished", "message": "", "message_ref": summary.to_dict()})
    with use_language("zh"):
        assert stored.sentence() == "正在准备数据…"
        assert old.sentence() == "Finished all 3 epochs." and old.notes == ["An old note."]
        assert finished.sentence() == (
            "从第 3 轮继续。早停在第 5 轮（共 9 轮）后结束了训练。保留了第 4 轮的权重（验证损失最低）。"
            "你在完成 1 折（共 3 折）后停止了交叉验证。"
        )
    with use_language("en"):
        assert finished.sentence() == (
            "Continued from epoch 3. Early stopping ended training after 5 of 9 epochs. Kept the weights of epoch 4 "
            "(lowest validation loss). Cross-validation stopped by you after 1 of 3 folds."
        )
    # An id this version does not know shows the English text that was stored with it.
    assert stored_text({"id": "train.gone", "params": {}}, fallback="Kept text") == "Kept text"


def test_errors_coach_and_device_lines_in_chinese(store):
    with use_language("zh"), pytest.raises(RunNotFoundError) as caught:
        store.status("nope")
    assert CHINESE.search(caught.value.message) and "There is no run" not in caught.value.message

    history = [{"epoch": 1, "loss": 0.7, "val_loss": 0.7}, {"epoch": 2, "loss": 900.0, "val_loss": 950.0}]
    spec = RunSpec(data=DataSpec(target="y"), training=TrainingSpec(learning_rate=0.5))
    with use_language("zh"):
        (finding,) = [f for f in coach(history, spec, state="finished") if f.kind == "divergence"]
        assert finding.message.startswith("训练发散了：损失在第 2 轮暴涨。")
        assert finding.fix_label == "把学习率调低到 0.05"
    with use_language("en"):
        (finding,) = [f for f in coach(history, spec, state="finished") if f.kind == "divergence"]
        assert finding.message.startswith("Training diverged: the loss exploded in epoch 2.")

    gpu = format_device(DeviceInfo(backend="jax", kind="GPU", name="NVIDIA H200", memory_bytes=150 * 2**30, count=2))
    assert gpu == "GPU: NVIDIA H200, 150.0 GiB (1 of 2 used) (jax backend)"  # stored in English: code reads it
    with use_language("zh"):
        assert device_text(gpu) == "GPU：NVIDIA H200, 150.0 GiB（共 2 块，使用其中 1 块）（jax 后端）"
        assert device_text("CPU (tensorflow backend)") == "CPU（tensorflow 后端）"
    with use_language("en"):
        assert device_text(gpu) == gpu


def test_shared_server_caps_in_chinese(monkeypatch, tmp_path):
    from core.config import load_settings
    from core.shared_mode.limits import RunCaps, describe_caps

    monkeypatch.setenv("LAYERLAB_HOME", str(tmp_path))
    monkeypatch.setenv("LAYERLAB_SHARED", "1")
    settings = load_settings()
    caps = RunCaps.from_settings(settings)
    spec = RunSpec(data=DataSpec(target="price"), training=TrainingSpec(epochs=caps.max_epochs + 1))
    with use_language("zh"):
        lines = [line for line in describe_caps(settings) if line]
        assert lines and all(CHINESE.search(line) for line in lines)
        with pytest.raises(CapError) as caught:
            caps.check(spec, make_regression_frame(50))
    assert caught.value.message.startswith("这个运行超出了这台共享服务器的限制：")
    assert "larger than" not in caught.value.message
