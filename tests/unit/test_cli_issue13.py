"""Issue 13, point 11: `layerlab predict` to standard output is as safe as `--out`, a wrong model file is
refused before TensorFlow is imported, TensorFlow's C++ start-up lines stay off stderr, and broken workbooks
get one message that does not contradict itself."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.cli import main
from tests.conftest import REPO_ROOT, make_binary_frame, train_small_run


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    store, run_id = train_small_run(tmp_path_factory.mktemp("runs"), make_binary_frame(120), "label")
    return store.path(run_id) / "model.keras"


@pytest.mark.slow  # trains a small model (and imports TensorFlow)
def test_predict_to_standard_output_escapes_formula_cells(model_file, tmp_path, capsys):
    rows = make_binary_frame(6).drop(columns=["label"])
    rows["colour"] = ["=HYPERLINK(1)", "+1", "red", "-x", "@SUM(A1)", "blue"]
    rows.to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(model_file), str(tmp_path / "new.csv")]) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert printed["colour"].tolist() == ["'=HYPERLINK(1)", "'+1", "red", "'-x", "'@SUM(A1)", "blue"]
    assert main(["predict", str(model_file), str(tmp_path / "new.csv"), "--out", str(tmp_path / "out.csv")]) == 0
    assert pd.read_csv(tmp_path / "out.csv")["colour"].tolist() == printed["colour"].tolist()


def test_a_model_that_is_not_keras_is_refused_before_tensorflow_loads(tmp_path):
    (tmp_path / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    (tmp_path / "rows.csv").write_text("a\n1\n")
    code = (
        "import sys; from core.cli import main; status = main(sys.argv[1:]); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules); sys.exit(status)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, "predict", str(tmp_path / "model.h5"), str(tmp_path / "rows.csv")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "LAYERLAB_HOME": str(tmp_path)},
    )  # fmt: skip
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout.split() == ["False", "False"]
    assert "not a .keras file" in completed.stderr and "Traceback" not in completed.stderr


@pytest.mark.slow
def test_predict_keeps_tensorflows_start_up_lines_off_stderr(model_file, tmp_path):
    make_binary_frame(5).drop(columns=["label"]).to_csv(tmp_path / "rows.csv", index=False)
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_CPP")}
    completed = subprocess.run(
        [sys.executable, "-m", "core.cli", "predict", str(model_file), str(tmp_path / "rows.csv")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env={**env, "LAYERLAB_HOME": str(tmp_path)},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "oneDNN" not in completed.stderr and "absl::InitializeLog" not in completed.stderr
    assert "I0000" not in completed.stderr and "E0000" not in completed.stderr
    assert len(pd.read_csv(io.StringIO(completed.stdout))) == 5


def test_a_workbook_bomb_message_does_not_contradict_itself():
    from core.data.reading import load_table
    from core.errors import DataError
    from tests.unit.test_tables import rewrite_zip, xlsx_bytes

    data = xlsx_bytes({"Sheet": [["a"], [1]]})
    bomb = rewrite_zip(data, add={"xl/media/padding.bin": b"\x00" * (8 * 1024 * 1024)})
    with pytest.raises(DataError) as caught:
        load_table(bomb, "bomb.xlsx")
    message = caught.value.message
    assert "compressed" in message and ":1" in message and "zip bomb" in message
    assert "more than the" not in message  # 8 MB is not "more than 1.0 GB"
