"""`layerlab train` on every table file of ../shared/bad_inputs: a result or a clear message, exit 2."""

import json
from pathlib import Path

import pytest

from core.cli import main
from core.data.reading import load_table_file
from core.errors import DataError

BAD_INPUTS = Path(__file__).resolve().parents[3] / "shared" / "bad_inputs"
TABLE_SUFFIXES = {".csv", ".xlsx", ".parquet", ".json"}


def table_files() -> list[str]:
    manifest = BAD_INPUTS / "MANIFEST.json"
    if not manifest.exists():
        return []
    return [e["file"] for e in json.loads(manifest.read_text()) if Path(e["file"]).suffix in TABLE_SUFFIXES]


@pytest.mark.slow
@pytest.mark.skipif(not table_files(), reason="../shared/bad_inputs is not present")
@pytest.mark.parametrize("name", table_files())
def test_cli_train_on_bad_input_exits_0_or_2_with_message(name, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAYERLAB_HOME", str(tmp_path / "home"))
    path = BAD_INPUTS / name
    try:
        target = str(load_table_file(path).frame.columns[-1])
    except DataError:
        target = "target"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"data": {"target": target}, "training": {"epochs": 1}}))
    code = main(["train", str(path), "--spec", str(spec), "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code in (0, 2), f"{name}: exit {code}"
    assert "Traceback" not in out + err
    if code == 2:
        assert err.startswith("layerlab: ") and len(err) > 50, f"{name}: {err!r}"
        assert out == ""
    else:
        result = json.loads(out.strip().splitlines()[-1])
        assert result["state"] in {"finished", "stopped"}
        assert Path(result["run_dir"], "model.keras").exists()


@pytest.mark.skipif(not table_files(), reason="../shared/bad_inputs is not present")
def test_cli_single_class_target_says_what_to_do(tmp_path, capsys):
    path = BAD_INPUTS / "csv" / "05_single_class_target.csv"
    target = str(load_table_file(path).frame.columns[-1])
    code = main(["train", str(path), "--target", target, "--out", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 2
    assert "two different values" in err


@pytest.mark.skipif(not table_files(), reason="../shared/bad_inputs is not present")
def test_cli_refuses_with_the_same_message_as_the_train_page(tmp_path, capsys):
    from core.data.quality import assess_quality
    from core.spec import DataSpec, RunSpec

    path = BAD_INPUTS / "csv" / "05_single_class_target.csv"
    frame = load_table_file(path).frame
    target = str(frame.columns[-1])
    page_errors = [
        f.message for f in assess_quality(frame, RunSpec(data=DataSpec(target=target))) if f.severity == "error"
    ]
    assert page_errors
    code = main(["train", str(path), "--target", target, "--out", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 2
    for message in page_errors:
        assert message in err


@pytest.mark.parametrize("target", ["y", "one_huge"])
def test_cli_train_on_numeric_extremes_exits_0_or_2_never_a_traceback(target, tmp_path, capsys, monkeypatch):
    from tests.unit.test_quality_issue13 import numeric_extremes_csv

    monkeypatch.setenv("LAYERLAB_HOME", str(tmp_path / "home"))
    path = tmp_path / "25_numeric_extremes.csv"
    path.write_bytes(numeric_extremes_csv())
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"data": {"target": target}, "training": {"epochs": 1}}))
    code = main(["train", str(path), "--spec", str(spec), "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code in (0, 2), err
    assert "Traceback" not in out + err and "Too many bins" not in out + err
    if code == 2:
        assert err.startswith("layerlab: ") and len(err) > 50, err
