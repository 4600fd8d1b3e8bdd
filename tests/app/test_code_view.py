""" "Show code" on the Download page (ui/code_view.render_code), driven through AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.data.splitting import prepare_data
from core.spec import DataSpec, RunSpec
from tests.conftest import REPO_ROOT, make_binary_frame

RUN_ID = "0123456789abcdef01234567"


def _finished_run_files(folder: Path) -> Path:
    """The files a finished run leaves behind, without training (the script is generated from these)."""
    spec = RunSpec(data=DataSpec(target="label"))
    prepared = prepare_data(make_binary_frame(200), spec.data, spec.preprocessing)
    run_dir = folder / RUN_ID
    run_dir.mkdir()
    (run_dir / "spec.json").write_text(spec.to_json())
    (run_dir / "preprocessing.json").write_text(prepared.preprocessing.to_json())
    (run_dir / "target.json").write_text(json.dumps(prepared.target.to_dict()))
    (run_dir / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.875}, "steps_per_execution": 4}))
    (run_dir / "meta.json").write_text(json.dumps({"run_id": RUN_ID, "source_name": "people.csv"}))
    return run_dir


def _page(run_dir: str, run_id: str):
    from pathlib import Path

    from ui.code_view import render_code

    render_code(Path(run_dir), run_id)


def test_show_code_offers_the_script_to_read_and_download(tmp_path):
    run_dir = _finished_run_files(tmp_path)
    at = AppTest.from_function(_page, args=(str(run_dir), RUN_ID), default_timeout=300).run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader] == ["Show code"]
    script = at.code[0].value
    assert "def build_network(" in script and "keras.utils.set_random_seed(SEED)" in script
    assert 'DATA_FILE = "people.csv"' in script and "accuracy 0.8750" in script
    assert "import core" not in script and "from core" not in script
    button = at.get("download_button")[0]
    assert "layerlab_012345.py" in button.proto.label


def test_show_code_explains_when_the_run_has_no_results(tmp_path):
    run_dir = _finished_run_files(tmp_path)
    (run_dir / "metrics.json").unlink()
    at = AppTest.from_function(_page, args=(str(run_dir), RUN_ID), default_timeout=300).run()
    assert not at.exception, at.exception
    assert "not a finished LayerLab run" in at.info[0].value
    assert not at.code


def test_generating_the_script_does_not_import_keras(tmp_path):
    """The Download page runs in the web server, which must never import Keras or TensorFlow."""
    import subprocess
    import sys

    run_dir = _finished_run_files(tmp_path)
    probe = (
        "import sys; from pathlib import Path; import ui.code_view; from core.deployment.codegen import generate_script; "
        f"script = generate_script(Path({str(run_dir)!r})); "
        "print(len(script), sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    length, _, imported = completed.stdout.strip().partition(" ")
    assert int(length) > 1000 and imported == "[]"


@pytest.mark.slow
def test_download_page_shows_the_code_of_the_finished_run(tmp_path, monkeypatch):
    from tests.conftest import train_small_run

    home = tmp_path / "home"
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    monkeypatch.setenv("LAYERLAB_SHARED", "0")
    monkeypatch.setenv("LAYERLAB_MAX_JOBS", "1")
    store, run_id = train_small_run(home / "runs", make_binary_frame(), source_name="orders.csv", epochs=1)

    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=300)
    at.switch_page("pages/download.py").run()
    assert not at.exception, at.exception
    assert "Show code" in [h.value for h in at.subheader]
    script = next(c.value for c in at.code if "def build_network(" in c.value)
    assert 'DATA_FILE = "orders.csv"' in script and f"LayerLab run {run_id}" in script
    assert any(f"layerlab_{run_id[:6]}.py" in b.proto.label for b in at.get("download_button"))
