"""The deploy area in Chinese: the model card, model-file checks, threshold and settings errors, download notes."""

from __future__ import annotations

import re

import pytest

from core.config import _int_env
from core.deployment.model_card import model_card
from core.deployment.threshold import save_threshold
from core.deployment.upload_check import check_model_file
from core.errors import AppError, ModelFileError
from core.i18n import Message, use_language
from tests.unit.test_model_card import run_dir  # noqa: F401 - the fixture

ENGLISH_SENTENCE = re.compile(r"\b(the|is|are|was|and|of|with|only)\b", re.IGNORECASE)


def test_the_model_card_reads_in_chinese_and_keeps_names_numbers_and_code(run_dir):  # noqa: F811
    with use_language("zh"):
        card = model_card(run_dir)
    assert card.startswith("# 模型卡片：预测 `income`（二分类）")
    assert "## 数据和列" in card and "## 预处理" in card and "## 训练设置" in card and "## 预期用途和局限" in card
    assert "训练集 1,049 行，验证集 150 行，测试集 301 行" in card
    assert "| `workclass` | 类别 |" in card
    assert "| 2 | Dense `hidden_1_dense` | units=16, activation=relu |" in card  # Keras names stay
    assert "参数数量：1,617。" in card
    # Stored text of an older run (plain English) is shown as it is; everything LayerLab writes is Chinese.
    lines = [line for line in card.splitlines() if line and "Your network is" not in line and "|" not in line]
    leaked = [line for line in lines if ENGLISH_SENTENCE.search(line) and not line.startswith("- ")]
    assert not leaked, leaked


def test_a_stored_message_in_the_run_renders_in_the_reader_s_language(run_dir):  # noqa: F811
    import json

    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["baseline_summary"] = Message("deploy.card.metrics.none").to_dict()
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    with use_language("zh"):
        assert "这次运行没有记录测试集指标。" in model_card(run_dir)
    assert "No test metrics were recorded for this run." in model_card(run_dir)


def test_model_file_and_setting_errors_in_chinese(tmp_path, monkeypatch):
    bad = tmp_path / "model.h5"
    bad.write_bytes(b"x")
    with use_language("zh"), pytest.raises(ModelFileError) as refused:
        check_model_file(bad)
    assert "不是 .keras 文件" in refused.value.message and "'model.h5'" in refused.value.message
    with use_language("zh"), pytest.raises(AppError) as threshold:
        save_threshold(tmp_path, 1.5)
    assert "决策阈值" in threshold.value.message and "1.5" in threshold.value.message
    monkeypatch.setenv("LAYERLAB_MAX_ROWS_TEST", "many")
    with use_language("zh"), pytest.raises(AppError) as setting:
        _int_env("LAYERLAB_MAX_ROWS_TEST", 5)
    assert "环境变量 LAYERLAB_MAX_ROWS_TEST" in setting.value.message and "整数" in setting.value.message


def test_a_download_made_in_chinese_has_a_chinese_readme_and_card_and_keeps_the_english_one(tmp_path):
    import zipfile

    import pandas as pd

    from core.deployment.formats import export_artifact, export_path, format_note
    from core.run_store import RunStore
    from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
    from core.training.run_job import run_job
    from tests.conftest import REPO_ROOT

    store = RunStore(tmp_path / "runs")
    adult = pd.read_csv(REPO_ROOT / "sample_data" / "adult.csv", nrows=300)
    spec = RunSpec(
        data=DataSpec(target="income", features=("age", "workclass")),
        model=ModelSpec(layers=(DenseLayer(units=4),)),
        training=TrainingSpec(epochs=1),
    )
    run_id = store.create_run(spec, adult, source_name="adult.csv")
    assert run_job(store, run_id).state == "finished"
    trained = store.path(run_id)
    with use_language("zh"):
        zipped = export_artifact(trained, "keras")
        assert zipped == export_path(trained, "keras") and zipped.name == "keras.zh.zip"
        assert format_note("savedmodel", "regression") == "用于 TensorFlow Serving；输入原始列，输出预测的数值。"
    archive = zipfile.ZipFile(zipped)
    readme = archive.read("README.md").decode("utf-8")
    card = archive.read("MODEL_CARD.md").decode("utf-8")
    assert readme.startswith("# LayerLab 模型：Keras (.keras)")
    assert "只需要 keras 和 pandas：" in readme and 'keras.saving.load_model("model.keras")' in readme  # code stays
    assert "## 输入列" in readme and "| `workclass` | `workclass` | 文本 |" in readme
    assert "MODEL_CARD.md describes" not in readme and "## 预期用途和局限" in card
    english = zipfile.ZipFile(export_artifact(trained, "keras")).read("README.md").decode("utf-8")
    assert english.startswith("# LayerLab model: Keras (.keras)")


def test_the_cli_speaks_chinese_with_lang_zh_and_keeps_english_by_default(tmp_path, capsys, monkeypatch):
    from core import i18n
    from core.cli import EXIT_USER_ERROR, main

    monkeypatch.delenv(i18n.LANGUAGE_ENV, raising=False)
    try:
        assert main(["--lang", "zh", "train"]) == EXIT_USER_ERROR
        assert "没有给出数据文件" in capsys.readouterr().err
        assert main(["--lang", "zh", "spec", str(tmp_path)]) == EXIT_USER_ERROR
        err = capsys.readouterr().err
        assert "不是 LayerLab 的运行文件夹" in err and "is not" not in err
        with pytest.raises(SystemExit):
            main(["--lang", "zh", "export", "--help"])
        assert "要写入的 zip 文件" in capsys.readouterr().out
    finally:
        i18n.set_language("en")
        monkeypatch.delenv(i18n.LANGUAGE_ENV, raising=False)
    assert main(["train"]) == EXIT_USER_ERROR
    assert "No data file given." in capsys.readouterr().err
