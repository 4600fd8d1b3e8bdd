"""The Predict and Download pages in Chinese (catalog domain "deploy"): labels, notes, the model card."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui.language
from core import i18n
from tests.conftest import make_binary_frame, train_small_run

pytestmark = pytest.mark.slow  # trains a small run first

APP = str(Path(__file__).resolve().parents[2] / "app.py")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def chinese_run(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    monkeypatch.setenv("LAYERLAB_SHARED", "0")
    monkeypatch.setenv("LAYERLAB_MAX_JOBS", "1")
    store, run_id = train_small_run(home / "runs", make_binary_frame(), source_name="orders.csv", epochs=2)
    # A switched-to page runs without app.py (which sets a script run's language): make Chinese the default of
    # every thread, as LAYERLAB_LANG=zh does for a process, and the browser's language on app.py's first run.
    monkeypatch.setattr(i18n, "_DEFAULT_FROM_ENVIRONMENT", "zh")
    monkeypatch.setattr(ui.language, "browser_language", lambda: "zh")
    return run_id


def _page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_the_predict_page_speaks_chinese(chinese_run):
    at = _page("pages/predict.py")
    assert at.title[0].value == "预测"
    source = at.radio(key="predict.source")
    assert source.label == "模型"
    assert source.options == ["在这里训练的一次运行", "从 LayerLab 下载的 .keras 文件"]
    mode = at.radio(key="predict.mode")
    assert mode.label == "数据行" and mode.options == ["上传一个数据文件", "手动输入一行"]
    assert any("概率不低于 **0.50** 时预测为" in c.value for c in at.caption)
    assert at.file_uploader(key="predict.upload").label == "要预测的数据"
    mode.set_value("row").run()
    assert not at.exception, at.exception
    assert any(b.label == "预测这一行" for b in at.button)
    shown = "\n".join(str(x.value) for x in [*at.markdown, *at.caption, *at.warning, *at.info])
    for english in ("Upload new rows", "Needed columns", "decision threshold", "Predict this row"):
        assert english not in shown, english


def test_the_download_page_speaks_chinese_and_its_model_card_too(chinese_run):
    at = _page("pages/download.py")
    assert at.title[0].value == "下载"
    subheaders = [h.value for h in at.subheader]
    assert {"其他格式", "模型卡片", "查看代码"} <= set(subheaders), subheaders
    assert "Other formats" not in subheaders and "Model card" not in subheaders
    assert at.button(key="download.prepare.onnx").label == "生成"
    assert at.button(key="download.compare").label == "测量各个格式"
    assert any(c.value.startswith("# 模型卡片：预测") for c in at.code)  # the card in the page's language
    assert any("keras.saving.load_model" in c.value for c in at.code)  # code stays code
