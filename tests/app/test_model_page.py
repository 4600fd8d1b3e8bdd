"""The Model page: the network diagram, the model doctor's findings with working fixes, shape errors in plain
words, and the pre-flight card with a measured speed."""

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.spec import DenseLayer, LSTMLayer, ModelSpec

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def model_page(sample: str = "Wine cultivars") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.radio(key="data.source").set_value("Sample data").run()
    at.selectbox(key="data.sample").set_value(sample).run()
    at.button(key="data.load_sample").click().run()
    at.switch_page("pages/model.py").run()
    assert not at.exception, at.exception
    return at


def parameters(at: AppTest) -> int:
    return int(next(m.value for m in at.metric if m.label == "Parameters").replace(",", ""))


def layers(at: AppTest):
    return [layer.spec for layer in at.session_state["layerlab"].layers]


def test_diagram_shows_every_layer_with_shape_and_parameters(app_env):
    at = model_page()
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    annotations = json.loads(charts[0].proto.spec)["layout"]["annotations"]
    figure = "\n".join(a["text"] for a in annotations)
    # Input, two hidden Dense layers and the 3-class output: 13 → 64 → 64 → 3.
    for text in ("<b>Input</b>", "<b>1. Dense</b>", "<b>2. Dense</b>", "<b>Output</b>", "(None, 64)", "(None, 3)"):
        assert text in figure, text
    assert f"{14 * 64:,} params" in figure and f"{65 * 3:,} params" in figure
    assert "softmax" in figure


def test_doctor_finding_fix_changes_the_spec(app_env):
    at = model_page()
    # 178 rows → about 124 training rows, far fewer than the default network's 5,251 parameters.
    assert parameters(at) == 14 * 64 + 65 * 64 + 65 * 3
    finding = next(w.value for w in at.warning if "parameters for about" in w.value)
    assert "5,251 parameters for about 124 training rows" in finding
    at.button(key="model.fix.too_many_parameters.").click().run()
    assert not at.exception, at.exception
    assert parameters(at) <= 10 * 124
    assert all(layer.units < 64 for layer in layers(at))
    assert not any("parameters for about" in w.value for w in at.warning)


def test_high_dropout_is_flagged_and_fixed(app_env):
    at = model_page()
    at.button(key="model.add.dropout").click().run()
    uid = at.session_state["layerlab"].layers[-1].uid
    at.slider(key=f"model.layer.{uid}.rate").set_value(0.9).run()
    assert any("drops 90% of its inputs" in w.value for w in at.warning)
    at.button(key="model.fix.high_dropout.2").click().run()
    assert not at.exception, at.exception
    assert layers(at)[2].rate == 0.5
    assert not any("drops" in w.value for w in at.warning)


def test_tabular_toolbox_offers_new_layers_and_initializers(app_env):
    at = model_page()
    for kind in ("layer_normalization", "gaussian_noise", "activation"):
        at.button(key=f"model.add.{kind}").click().run()
        assert not at.exception, at.exception
    assert [layer.kind for layer in layers(at)][-3:] == ["layer_normalization", "gaussian_noise", "activation"]
    uid = at.session_state["layerlab"].layers[0].uid
    at.selectbox(key=f"model.layer.{uid}.kernel_initializer").set_value("he_normal").run()
    assert layers(at)[0].kernel_initializer == "he_normal"
    # LayerNormalization after the 64-unit Dense adds 2 × 64 parameters.
    assert parameters(at) == 14 * 64 + 65 * 64 + 2 * 64 + 65 * 3


def test_a_sequence_layer_on_a_table_shows_the_shape_error(app_env):
    at = model_page()
    at.session_state["layerlab"].set_model(ModelSpec(layers=(DenseLayer(units=64), LSTMLayer(units=8))))
    at.run()
    assert not at.exception, at.exception
    error = " ".join(e.value for e in at.error)
    assert "Layer 2 (LSTM, 8 units) needs a sequence input" in error
    assert "layer 1 (Dense, 64 units) outputs (None, 64)" in error
    assert not at.get("plotly_chart")


def test_preflight_card_measures_speed_in_a_child_process(app_env):
    at = model_page()
    labels = {m.label: m.value for m in at.metric}
    assert labels["Model size"] == "20.5 KB"  # 5,251 float32 weights
    assert labels["Seconds per epoch"] == "not measured"
    at.button(key="model.measure").click().run(timeout=300)
    assert not at.exception, at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Seconds per epoch"] != "not measured"
    assert labels["Seconds per epoch"].endswith(("ms", " s"))
    assert "Measured on" in " ".join(c.value for c in at.caption)
    # Cached: a fresh session on the same table and spec shows the measurement without measuring again.
    again = model_page()
    assert {m.label: m.value for m in again.metric}["Seconds per epoch"] == labels["Seconds per epoch"]


def test_the_page_reads_in_chinese(app_env, monkeypatch):
    import core.i18n
    import ui.language

    # After switch_page, AppTest runs the page script alone (not app.py, which sets the session's language), so
    # the page speaks the process default: make that Chinese, as LAYERLAB_LANG=zh would (the test's own thread
    # too, so that AppTest formats the widgets' options as the page does).
    monkeypatch.setattr(core.i18n, "_DEFAULT_FROM_ENVIRONMENT", "zh")
    monkeypatch.setattr(ui.language, "browser_language", lambda: "zh")  # app.py's first run: a Chinese browser
    at = model_page()
    assert at.title[0].value == "模型"
    assert [s.value for s in at.subheader][:4] == ["隐藏层", "概览", "模型诊断", "训练前检查"]
    labels = {m.label: m.value for m in at.metric}
    assert labels["每轮秒数"] == "未测量" or labels["每轮秒数"].endswith("秒")  # measured by an earlier test
    assert "参数量" in labels and "模型大小" in labels
    assert at.button(key="model.apply_preset").label == "应用预设"
    assert "教科书 MLP" in at.selectbox(key="model.preset").options
    finding = next(w.value for w in at.warning if "个参数" in w.value)
    assert "训练集只有大约 124 行" in finding and "parameters" not in finding
    assert at.button(key="model.fix.too_many_parameters.").label.startswith("一键修复：把各层调窄")
    annotations = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["annotations"]
    figure = "\n".join(a["text"] for a in annotations)
    assert "<b>输入</b>" in figure and "<b>输出</b>" in figure and "64 个单元" in figure
    assert " params" not in figure
    assert all(not w.value.isascii() for w in at.warning)
    units = next(n for n in at.number_input if n.key.endswith(".units"))
    assert units.label == "单元数" and units.help == "神经元的个数。"
