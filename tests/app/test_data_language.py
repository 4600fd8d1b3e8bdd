"""The Data and Prepare pages in Chinese (catalog domain "data"): labels, the profile, findings and fixes."""

import json
import re

from streamlit.testing.v1 import AppTest

import ui.identity
from core import i18n
from tests.app.test_pages import APP, RUN_TIMEOUT_S, texts

OWNER = "data-page-language"
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _chinese_app(app_env, monkeypatch, name: str) -> AppTest:
    monkeypatch.setattr(ui.identity, "browser_identity", lambda: f"{OWNER}-{name}")
    sessions = app_env / "sessions"
    sessions.mkdir(exist_ok=True)
    (sessions / f"{OWNER}-{name}.json").write_text(json.dumps({"table": None, "run": None, "language": "zh"}))
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S).run()
    assert not at.exception, at.exception
    return at


def test_the_data_page_speaks_chinese(app_env, monkeypatch):
    at = _chinese_app(app_env, monkeypatch, "data")
    assert at.title[0].value == "数据"
    assert at.radio(key="data.source").label == "数据来源"
    assert at.radio(key="data.source").options == ["示例数据", "上传文件"]
    assert [m.label for m in at.metric[:3]] == ["行数", "列数", "缺失单元格"]
    subheaders = [s.value for s in at.subheader]
    assert "要预测什么" in subheaders and "数据概况" in subheaders
    shown = texts(at)
    assert "用 14 列来预测 **income**，任务：二分类（binary）。" in shown
    assert "1994 年美国人口普查" in shown
    for english in ("What to predict", "Predict **", "Load sample", "Profile", "column(s)", "Association with"):
        assert english not in shown and english not in subheaders, english
    task_box = next(s for s in at.selectbox if str(s.key).startswith("data.task."))
    assert task_box.label == "任务" and task_box.format_func(task_box.value) == "二分类（binary）（自动判断）"
    # The profile table's headers, not its column names from the data.
    table = at.dataframe[-1].value
    assert "与目标列的关联度" in table.columns and "association with target" not in table.columns


def test_the_prepare_page_shows_chinese_findings_and_fixes(app_env, monkeypatch):
    at = _chinese_app(app_env, monkeypatch, "prepare")
    # A switched-to page runs here without app.py, which sets the language of a script run: make Chinese the
    # default of every thread instead (as LAYERLAB_LANG=zh does for a process).
    monkeypatch.setattr(i18n, "_DEFAULT_FROM_ENVIRONMENT", "zh")
    at.switch_page("pages/prepare.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "准备"
    assert [s.value for s in at.subheader][:3] == ["数据质量", "各列", "数据划分"]
    boxes = [box.value for box in [*at.error, *at.warning, *at.info, *at.success]]
    assert boxes and all(CHINESE.search(box) for box in boxes), boxes
    fixes = [b.label for b in at.button if str(b.key).startswith("quality.fix.")]
    assert all(CHINESE.search(label) for label in fixes), fixes
    assert at.slider(key="prepare.validation_fraction").label == "验证集比例"
    assert at.checkbox(key="prepare.drop_duplicates").label == "删除重复行"
