"""The model card reads a run directory (no Keras) and says what a reader of a download needs to know."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from core.deployment.model_card import model_card


def _write(path: Path, payload) -> None:
    path.write_text(json.dumps(payload), encoding="utf-8")


@pytest.fixture
def run_dir(tmp_path) -> Path:
    run = tmp_path / "2c09deba791e94fdde86ac55"
    run.mkdir()
    _write(
        run / "meta.json",
        {"run_id": run.name, "created_at": 1795901535.0, "source_name": "adult.csv", "num_rows": 1500},
    )
    _write(
        run / "spec.json",
        {
            "data": {"target": "income", "test_fraction": 0.2, "validation_fraction": 0.1, "seed": 42},
            "training": {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 64, "epochs": 10,
                         "early_stopping": True, "patience": 4, "class_weight": "balanced"},
        },
    )  # fmt: skip
    _write(run / "target.json", {"name": "income", "task": "binary", "classes": ["<=50K", ">50K"]})
    _write(
        run / "preprocessing.json",
        {
            "columns": [
                {"name": "age", "kind": "numeric", "fill": 37.0, "center": 38.8, "scale": 13.3, "clip_low": 10.0,
                 "clip_high": 80.0, "log_shift": None, "indicator": True},
                {"name": "workclass", "kind": "categorical", "vocabulary": ["Private", "State-gov"],
                 "most_frequent": "Private", "encoding": "one_hot", "fill": None, "indicator": False},
                {"name": "signed", "kind": "datetime", "fill_seconds": 0.0, "centers": [0] * 5, "scales": [1] * 5},
            ]
        },
    )  # fmt: skip
    _write(
        run / "metrics.json",
        {
            "task": "binary",
            "test": {"accuracy": 0.8123, "roc_auc": 0.9011},
            "num_rows": {"train": 1049, "validation": 150, "test": 301},
            "num_params": 1617,
            "epochs_run": 7,
            "best_epoch": 5,
            "baselines": [
                {"name": "Majority class (dummy)", "test": {"accuracy": 0.7508, "roc_auc": 0.5}},
                {"name": "Logistic regression", "test": {"accuracy": 0.8372, "roc_auc": 0.896}},
            ],
            "baseline_summary": "Your network is 2.5 points of accuracy below logistic regression.",
        },
    )
    _write(run / "decision.json", {"threshold": 0.3})
    network = {
        "config": {
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_shape": [None, 12], "name": "inputs"}},
                {"class_name": "Dense", "config": {"name": "hidden_1_dense", "units": 16, "activation": "relu"}},
                {"class_name": "Dropout", "config": {"name": "hidden_2_dropout", "rate": 0.2}},
                {"class_name": "Dense", "config": {"name": "output", "units": 1, "activation": "sigmoid"}},
            ]
        }
    }
    with zipfile.ZipFile(run / "network.keras", "w") as archive:
        archive.writestr("config.json", json.dumps(network))
    return run


def test_card_names_the_data_columns_and_preprocessing(run_dir):
    card = model_card(run_dir)
    assert card.startswith("# Model card: predicting `income` (binary)")
    assert "Trained on `adult.csv` (1,500 rows): 1,049 training, 150 validation and 301 test rows" in card
    assert "| `workclass` | categorical |" in card
    assert "`age`: number; missing → 37, clipped to [10, 80], (x − 38.8) / 13.3; plus a 0/1 missing flag" in card
    assert "`workclass`: category, 2 known values (`Private`, `State-gov`); one-hot" in card
    assert "`signed`: date → year, month, day, weekday, hour" in card


def test_card_lists_the_layers_parameters_training_and_threshold(run_dir):
    card = model_card(run_dir)
    assert "| 2 | Dense `hidden_1_dense` | units=16, activation=relu |" in card
    assert "| 3 | Dropout `hidden_2_dropout` | rate=0.2 |" in card
    assert "Parameters: 1,617." in card
    assert (
        "Optimizer adam (learning rate 0.001), batch size 64, up to 10 epochs; ran 7, kept the weights of epoch 5."
        in card
    )
    assert "class weights: balanced" in card
    assert "`>50K` is predicted when its probability is at least 0.3." in card


def test_card_puts_metrics_next_to_the_baselines_and_states_limits(run_dir):
    card = model_card(run_dir)
    assert "| **This network** | 0.8123 | 0.9011 |" in card
    assert "| Logistic regression | 0.8372 | 0.8960 |" in card
    assert "2.5 points of accuracy below logistic regression" in card
    assert "Trained on 1,049 rows of `adult.csv` only. Not validated on data from another source" in card
    assert "## Library versions" in card and "- keras 3." in card and "- pandas " in card


def test_card_of_a_run_without_metrics_still_renders(tmp_path):
    run = tmp_path / "empty"
    run.mkdir()
    card = model_card(run)
    assert "No test metrics were recorded" in card
