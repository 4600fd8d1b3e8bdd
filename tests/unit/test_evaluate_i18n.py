"""The evaluation's words in Chinese: metric names and help, verdicts, notes, charts and formatted numbers, and a
verdict stored in English-free form (a Message) that reads in either language."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from core.evaluation.baselines import baseline_label, gap_message, gap_sentence, stored_summary
from core.evaluation.metrics import CHART_HELP, METRIC_HELP, METRIC_LABELS, class_row_notes, threshold_metric_label
from core.formatting import format_metric
from core.i18n import Message, use_language
from ui.charts import calibration_figure, learning_rate_figure, residual_figures, training_curves

CHINESE = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_WORDS = re.compile(r"\b(?:the|and|of|is|rows?|predicted|actual|epoch|training|validation)\b")

BASELINES = [
    {"name": "Gradient boosting", "test": {"accuracy": 0.871, "roc_auc": 0.80, "f1": 0.6}},
    {"name": "Logistic regression", "test": {"accuracy": 0.85, "roc_auc": 0.7, "f1": 0.5}},
]


def _chinese(text: str) -> bool:
    return bool(CHINESE.search(text)) and not ENGLISH_WORDS.search(text)


def test_metric_names_help_and_chart_help_follow_the_language():
    assert METRIC_LABELS["precision"] == "Precision (macro)"
    with use_language("zh"):
        assert METRIC_LABELS["accuracy"] == "准确率" and METRIC_LABELS.get("precision") == "精确率（宏平均）"
        assert all(_chinese(text) for text in METRIC_HELP.values())
        assert all(_chinese(text) for text in CHART_HELP.values())
        assert threshold_metric_label("recall", "yes") == "“yes”的召回率"
        assert format_metric("r2", None) == "无"
    assert set(METRIC_LABELS) == set(METRIC_HELP) == {
        "accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse", "r2", "mape"
    }  # fmt: skip


def test_a_stored_verdict_reads_in_the_language_of_the_reader():
    stored = json.loads(json.dumps(gap_message("binary", {"accuracy": 0.859}, BASELINES).to_dict()))
    assert stored_summary(stored) == gap_sentence("binary", {"accuracy": 0.859}, BASELINES)
    with use_language("zh"):
        chinese = stored_summary(stored)
        assert "梯度提升" in chinese and "1.2" in chinese and _chinese(chinese)
        reason = gap_sentence("binary", {"accuracy": 0.8, "roc_auc": 0.801}, BASELINES, imbalanced=True)
        assert "ROC AUC" in reason and "不均衡" in reason
        assert baseline_label("Majority class (dummy)") == "总是预测最多的类别"
        assert baseline_label("Something new") == "Something new"
    assert stored_summary("Your network is 2.5 points of accuracy below x.") == (
        "Your network is 2.5 points of accuracy below x."
    )  # an older run's text as it is


def test_class_notes_are_stored_as_messages():
    notes = class_row_notes({"train": {"a": 5, "rare": 0}, "test": {"a": 2, "rare": 1}})
    assert [note.id for note in notes] == ["evaluate.notes.untrained"]
    assert str(notes[0]).startswith("The class 'rare' had no training rows")
    many = class_row_notes({"train": {f"c{i}": 0 for i in range(7)}, "test": {f"c{i}": 1 for i in range(7)}})
    assert "and 2 more" in str(many[0]) and str(many[0]).startswith("The classes")
    with use_language("zh"):
        assert str(Message.from_dict(notes[0].to_dict())).startswith("类别 'rare' 没有训练行")


def _figure_texts(figure) -> list[str]:
    layout = figure.layout
    texts = [layout.title.text, layout.xaxis.title.text, layout.yaxis.title.text]
    texts += [annotation.text for annotation in layout.annotations or ()]
    texts += [trace.name for trace in figure.data if trace.name] + [
        t.hovertemplate for t in figure.data if t.hovertemplate
    ]
    return [text for text in texts if text]


def test_chart_titles_axes_legends_and_hovers_are_chinese():
    history = [{"epoch": e, "loss": 1 / e, "val_loss": 1.1 / e, "metric": 0.5, "val_metric": 0.5} for e in (1, 2)]
    predictions = pd.DataFrame({"actual": np.arange(10.0), "predicted": np.arange(10.0) + 0.5})
    with use_language("zh"):
        figures = [
            training_curves(history, "准确率"),
            learning_rate_figure(planned=[1e-3, 1e-3], history=[{**history[0], "learning_rate": 1e-3}]),
            *residual_figures(predictions, "price"),
            calibration_figure([0.2, 0.8], [0.25, 0.75], "yes"),
        ]
        for figure in figures:
            texts = _figure_texts(figure)
            assert texts and all(CHINESE.search(text) for text in texts), texts
            assert not any(ENGLISH_WORDS.search(text.replace("price", "")) for text in texts), texts
        assert training_curves(history, "准确率").layout.xaxis.title.text == "轮次"
