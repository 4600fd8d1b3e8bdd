"""Issue 13, point 9: a regression run reads the same everywhere (MAPE as a percentage), its downloads say it
returns a number, and the elapsed time of a running run is computed from its start, not the last batch."""

import json

import pytest

from core.deployment.formats import FORMAT_NOTES, describe_outputs, format_note
from core.deployment.model_card import model_card
from core.evaluation.metrics import METRIC_HELP, METRIC_LABELS
from core.formatting import format_metric, format_metric_spread
from core.run_store import RunStatus, elapsed_seconds

REGRESSION_TEST = {"mae": 1234.5678, "rmse": 2000.0, "r2": 0.81234, "mape": 0.1234}


def test_mape_is_a_percentage_and_errors_are_in_target_units():
    assert format_metric("mape", 0.1234) == "12.3%"
    assert format_metric("mae", 1234.5678) == "1,234.57"
    assert format_metric("r2", 0.81234) == "0.8123"
    assert format_metric("mape", None) == "n/a"
    assert format_metric_spread("mape", 0.1234, 0.01) == "12.3% ± 1.0%"


def test_every_metric_has_a_plain_explanation():
    assert set(METRIC_HELP) == set(METRIC_LABELS)
    assert all(len(text) < 160 and "." in text for text in METRIC_HELP.values())


def test_the_model_card_shows_mape_as_on_the_evaluate_page(tmp_path):
    (tmp_path / "metrics.json").write_text(
        json.dumps(
            {
                "task": "regression",
                "target": "price",
                "test": REGRESSION_TEST,
                "baselines": [{"name": "Mean (dummy)", "test": {**REGRESSION_TEST, "mape": 0.5}}],
                "cross_validation": {"folds": 3, "mean": {"mape": 0.2}, "std": {"mape": 0.02}},
            }
        )
    )
    card = model_card(tmp_path)
    assert "| **This network** | 1,234.57 | 2,000.00 | 0.8123 | 12.3% |" in card
    assert "| Mean (dummy) | 1,234.57 | 2,000.00 | 0.8123 | 50.0% |" in card
    assert "mape 20.0% ± 2.0%" in card


def test_a_regression_download_says_it_returns_a_number(tmp_path):
    assert "label and probabilities" in FORMAT_NOTES["savedmodel"]
    assert "label" not in format_note("savedmodel", "regression")
    assert format_note("savedmodel", "binary") == FORMAT_NOTES["savedmodel"]
    (tmp_path / "target.json").write_text(json.dumps({"task": "regression", "name": "price", "classes": []}))
    sentence = describe_outputs(tmp_path)
    assert "`prediction`" in sentence and "price" in sentence and "label" not in sentence
    (tmp_path / "target.json").write_text(json.dumps({"task": "binary", "name": "y", "classes": ["no", "yes"]}))
    assert describe_outputs(tmp_path) == (
        'It returns `label` (the predicted class) and `probabilities` (one column per class: "no", "yes").'
    )


def test_elapsed_time_ticks_from_the_runs_start_or_its_continuation():
    assert elapsed_seconds(RunStatus("running", started_at=1000.0), now=1100.0) == pytest.approx(100.0)
    resumed = RunStatus("running", started_at=1000.0, resumed_at=5000.0)
    assert elapsed_seconds(resumed, now=5003.0) == pytest.approx(3.0)
    assert elapsed_seconds(RunStatus("running"), now=1.0) is None
