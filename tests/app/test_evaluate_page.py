"""Evaluate page: a confusion cell lists its test rows, the threshold is saved with the run, importances."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.deployment.threshold import load_threshold
from core.run_store import RunStore
from tests.conftest import make_binary_frame, make_multiclass_frame, train_small_run

pytestmark = pytest.mark.slow  # each test trains a small run first

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.info] + [e.value for e in at.error]
    parts += [e.value for e in at.success] + [e.value for e in at.warning] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def _train(app_home, frame, target: str) -> tuple[RunStore, str]:
    return train_small_run(app_home / "runs", frame, target, source_name=f"{target}.csv")


@pytest.fixture(scope="module")
def binary_run(app_home):
    return _train(app_home, make_binary_frame(240), "label")


def open_evaluate(run_id: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["run"] = run_id
    at.switch_page("pages/evaluate.py")
    at.run()
    assert not at.exception, at.exception
    return at


def _rows(count: int) -> str:
    return "test row is" if count == 1 else "test rows are"


def test_a_confusion_cell_lists_its_test_rows_with_raw_columns(app_env, binary_run):
    store, run_id = binary_run
    at = open_evaluate(run_id)
    predictions = store.predictions(run_id)
    at.selectbox(key=f"evaluate.cell_actual.{run_id}").set_value("yes").run()
    at.selectbox(key=f"evaluate.cell_predicted.{run_id}").set_value("no").run()
    assert not at.exception, at.exception
    missed = int(((predictions["actual"] == "yes") & (predictions["prob_yes"] < 0.5)).sum())
    assert f"**{missed:,}** {_rows(missed)} actually **yes** and predicted **no** (wrong)." in texts(at)
    rows = next(frame.value for frame in at.dataframe if "P(no)" in frame.value.columns)
    assert len(rows) == missed
    assert {"x1", "x2", "noise", "colour", "label"} <= set(rows.columns)
    assert (rows["label"] == "yes").all() and (rows["P(no)"] > 0.5).all()

    # The cell follows the slider: at 0.9 every "yes" under 0.9 is predicted "no".
    at.slider(key=f"evaluate.threshold.{run_id}").set_value(0.9).run()
    strict = int(((predictions["actual"] == "yes") & (predictions["prob_yes"] < 0.9)).sum())
    assert f"**{strict:,}** {_rows(strict)} actually **yes** and predicted **no**" in texts(at)
    assert strict >= missed


def test_the_matrix_shows_counts_or_shares(app_env, binary_run):
    _, run_id = binary_run
    at = open_evaluate(run_id)

    def matrix_text() -> str:
        chart = next(c for c in at.get("plotly_chart") if "Heatmap" in c.proto.spec or '"heatmap"' in c.proto.spec)
        return json.dumps(json.loads(chart.proto.spec)["data"][0]["text"])

    assert "%" not in matrix_text()
    at.toggle(key=f"evaluate.shares.{run_id}").set_value(True).run()
    assert not at.exception, at.exception
    assert "%" in matrix_text()


def test_saving_a_threshold_rebuilds_the_model_and_predict_uses_it(app_env, binary_run):
    store, run_id = binary_run
    run_dir = store.path(run_id)
    before = (run_dir / "model.keras").stat().st_mtime_ns
    at = open_evaluate(run_id)
    assert "Threshold in use by predictions and the downloaded model: **0.50**" in texts(at)
    at.slider(key=f"evaluate.threshold.{run_id}").set_value(0.75).run()
    at.button(key=f"evaluate.save_threshold.{run_id}").click().run()
    assert not at.exception, at.exception
    assert load_threshold(run_dir) == 0.75
    assert (run_dir / "model.keras").stat().st_mtime_ns != before
    assert "Threshold in use by predictions and the downloaded model: **0.75**" in texts(at)
    assert any("from a probability of 0.75" in s.value for s in at.success)

    fresh = open_evaluate(run_id)  # a new session starts the slider at the saved threshold
    assert fresh.slider(key=f"evaluate.threshold.{run_id}").value == 0.75
    (run_dir / "decision.json").unlink()


def test_importances_are_computed_on_demand_and_shown_as_bars(app_env, binary_run):
    store, run_id = binary_run
    (store.path(run_id) / "importance.json").unlink(missing_ok=True)
    at = open_evaluate(run_id)
    assert "Which columns matter" in [h.value for h in at.subheader]
    at.button(key=f"evaluate.importance.{run_id}").click().run()
    assert not at.exception, at.exception
    chart = next(c for c in at.get("plotly_chart") if '"bar"' in c.proto.spec)
    bars = json.loads(chart.proto.spec)["data"][0]
    assert set(bars["y"]) == {"x1", "x2", "noise", "colour"}
    assert "before shuffling" in texts(at)
    assert (store.path(run_id) / "importance.json").exists()
    again = open_evaluate(run_id)  # cached: shown at once, no button
    assert any('"bar"' in c.proto.spec for c in again.get("plotly_chart"))


def test_multiclass_cells_list_rows_too(app_env, app_home):
    store, run_id = _train(app_home, make_multiclass_frame(240), "species")
    at = open_evaluate(run_id)
    at.selectbox(key=f"evaluate.cell_actual.{run_id}").set_value("setosa").run()
    assert not at.exception, at.exception
    predictions = store.predictions(run_id)
    right = int(((predictions["actual"] == "setosa") & (predictions["predicted"] == "setosa")).sum())
    assert f"**{right:,}** {_rows(right)} actually **setosa** and predicted **setosa** (correct)." in texts(at)


def test_a_click_event_names_its_cell():
    from ui.evaluation_views import clicked_cell

    classes = ("no", "yes")
    assert clicked_cell({"selection": {"points": [{"x": "no", "y": "yes", "curve_number": 1}]}}, classes) == (
        "yes",
        "no",
    )
    assert clicked_cell({"selection": {"points": []}}, classes) is None
    assert clicked_cell({"selection": {"points": [{"x": "maybe", "y": "yes"}]}}, classes) is None
    assert clicked_cell(None, classes) is None


def test_every_metric_explains_itself_on_hover_and_every_chart_has_a_caption(app_env, binary_run):
    from core.evaluation.metrics import CHART_HELP

    _, run_id = binary_run
    at = open_evaluate(run_id)
    assert at.metric and all(metric.help for metric in at.metric)
    captions = texts(at)
    for name in ("confusion", "calibration", "curves", "training"):
        assert CHART_HELP[name] in captions


def test_a_regression_run_shows_mape_as_a_percentage_in_cards_and_table(app_env, app_home):
    from tests.conftest import make_regression_frame

    _, run_id = _train(app_home, make_regression_frame(200), "price")
    at = open_evaluate(run_id)
    mape = next(metric for metric in at.metric if metric.label == "MAPE")
    assert mape.value.endswith("%") and mape.help
    table = next(frame.value for frame in at.dataframe if "model" in frame.value.columns)
    assert table["MAPE"].str.endswith("%").all()
    assert "Each dot is a test row" in texts(at)


def test_the_page_reads_in_chinese(app_env, binary_run, monkeypatch):
    import re

    import ui.language
    from core.evaluation.metrics import CHART_HELP, METRIC_LABELS
    from core.i18n import t, use_language

    monkeypatch.setattr(ui.language, "browser_language", lambda: "zh")
    _, run_id = binary_run
    at = open_evaluate(run_id)
    with use_language("zh"):
        labels, captions = [metric.label for metric in at.metric], texts(at)
        assert METRIC_LABELS["roc_auc"] in labels and "准确率" in labels and "F1 分数（宏平均）" in labels
        assert "“yes”的召回率" in labels  # the threshold's cards
        assert t("evaluate.page.title") in [title.value for title in at.title]
        subheaders = [h.value for h in at.subheader]
        assert {"混淆矩阵与决策阈值", "各类别的分数", "训练曲线", "哪些列更重要"} <= set(subheaders)
        assert all(CHART_HELP[name] in captions for name in ("confusion", "calibration", "curves", "training"))
    assert "Accuracy" not in labels and "Confusion matrix" not in " ".join(subheaders)
    charts = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    titles = [c["layout"].get("title", {}).get("text") for c in charts if c["layout"].get("title")]
    assert {"校准", "ROC 曲线", "精确率-召回率曲线"} <= set(titles)
    axes = [c["layout"].get("xaxis", {}).get("title", {}).get("text") for c in charts]
    assert "预测类别" in axes and "轮次" in axes
    english = re.compile(r"\b(?:predicted|actual|rows|epoch|training|validation)\b")
    hovers = [trace.get("hovertemplate", "") for c in charts for trace in c["data"]]
    assert not any(english.search(hover) for hover in hovers), hovers
    per_class = next(frame.value for frame in at.dataframe if "类别" in frame.value.columns)
    assert {"精确率", "召回率", "测试行数", "训练行数"} <= set(per_class.columns)
    table = next(frame.value for frame in at.dataframe if "模型" in frame.value.columns)
    assert "你的网络" in set(table["模型"]) and "逻辑回归" in set(table["模型"])
    columns = {name for frame in at.dataframe for name in frame.value.columns}
    assert {"实际值", "预测值", "“yes”的概率", "轮次", "验证损失"} <= columns
