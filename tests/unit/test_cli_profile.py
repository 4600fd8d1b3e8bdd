"""`layerlab profile`: one JSON object describing the table and its data problems, or a message and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cli import main

BAD_INPUTS = Path(__file__).resolve().parents[3] / "shared" / "bad_inputs"
LAYERLAB = Path(sys.executable).parent / "layerlab"


@pytest.fixture
def people_csv(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    num_rows = 120
    age = rng.integers(18, 80, num_rows)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(num_rows)],
            "age": age,
            "city": rng.choice(["Beijing", "Shanghai", "深圳"], num_rows),
            "label": np.where(age + rng.normal(scale=15, size=num_rows) > 50, "yes", "no"),
        }
    )
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    return path


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main(["profile", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_profile_prints_one_json_object_with_columns_target_and_findings(people_csv, capsys, tmp_home):
    code, out, err = _run(capsys, people_csv, "--target", "label")
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert {"rows", "columns", "sampled_rows", "profile", "target", "findings"} <= set(result)
    assert (result["rows"], result["columns"], result["sampled_rows"]) == (120, 4, None)
    profile = {column["name"]: column for column in result["profile"]}
    assert profile["customer_id"]["kind"] == "id"
    assert profile["age"]["kind"] == "numeric" and sum(profile["age"]["histogram"]["counts"]) == 120
    assert profile["city"]["top_values"][0][1] > 0 and "深圳" in {value for value, _ in profile["city"]["top_values"]}
    assert result["target"]["task"] == "binary"
    assert sum(count for _, count in result["target"]["class_counts"]) == 120
    finding = next(f for f in result["findings"] if f["kind"] == "id_like")
    assert finding == {
        "kind": "id_like",
        "column": "customer_id",
        "severity": "warning",
        "message": finding["message"],
        "fix": {"action": "ignore_column", "column": "customer_id", "label": "Ignore column 'customer_id'"},
    }


def test_profile_honours_a_spec(people_csv, tmp_path, capsys, tmp_home):
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {"data": {"target": "label"}, "preprocessing": {"columns": [{"name": "customer_id", "role": "ignore"}]}}
        )
    )
    code, out, err = _run(capsys, people_csv, "--spec", spec)
    assert code == 0, err
    result = json.loads(out)
    assert result["target"]["name"] == "label"
    assert "id_like" not in {f["kind"] for f in result["findings"]}


def test_profile_without_target_checks_columns_only(people_csv, capsys, tmp_home):
    code, out, _ = _run(capsys, people_csv)
    assert code == 0
    result = json.loads(out)
    assert result["target"] is None
    assert "id_like" in {f["kind"] for f in result["findings"]}


def test_profile_reports_an_unknown_target_as_a_finding(people_csv, capsys, tmp_home):
    code, out, _ = _run(capsys, people_csv, "--target", "salary")
    assert code == 0
    result = json.loads(out)
    assert result["findings"][0]["kind"] == "target_not_found"
    assert result["findings"][0]["severity"] == "error"


def test_missing_file_exits_2_with_a_message(tmp_path, capsys, tmp_home):
    code, out, err = _run(capsys, tmp_path / "nope.csv")
    assert code == 2 and out == ""
    assert err.startswith("layerlab: ") and "nope.csv" in err


@pytest.mark.skipif(not (BAD_INPUTS / "csv" / "01_empty.csv").exists(), reason="../shared/bad_inputs is not present")
def test_empty_file_exits_2_with_a_message_and_no_traceback(capsys, tmp_home):
    code, out, err = _run(capsys, BAD_INPUTS / "csv" / "01_empty.csv")
    assert code == 2 and out == ""
    assert err.startswith("layerlab: ") and "empty" in err and "Traceback" not in err


@pytest.mark.skipif(not (BAD_INPUTS / "csv" / "01_empty.csv").exists(), reason="../shared/bad_inputs is not present")
@pytest.mark.skipif(not LAYERLAB.exists(), reason="the layerlab script is not installed")
def test_the_installed_command_exits_2_on_an_empty_file(tmp_home):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    completed = subprocess.run(
        [str(LAYERLAB), "profile", str(BAD_INPUTS / "csv" / "01_empty.csv")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.startswith("layerlab: ") and "Traceback" not in completed.stderr
