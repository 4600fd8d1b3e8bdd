"""The Download page: the .keras file and spec as before, plus other formats built on demand and the model card."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.shared_mode.downloads import DOWNLOAD_PATH, resolve_download
from tests.conftest import make_binary_frame, train_small_run

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def finished_run(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    monkeypatch.setenv("LAYERLAB_SHARED", "0")
    monkeypatch.setenv("LAYERLAB_MAX_JOBS", "1")
    store, run_id = train_small_run(home / "runs", make_binary_frame(), source_name="orders.csv", epochs=2)
    return store.path(run_id)


def _linked_file(at: AppTest, key: str):
    url = at.link_button(key=key).proto.url
    assert url.startswith(DOWNLOAD_PATH), url
    return resolve_download(url.removeprefix(DOWNLOAD_PATH))


def test_download_page_builds_an_onnx_zip_and_shows_the_model_card(finished_run):
    at = AppTest.from_file(APP, default_timeout=300)
    at.switch_page("pages/download.py").run()
    assert not at.exception, at.exception
    assert any("keras.saving.load_model" in c.value for c in at.code)  # the existing snippet still shows
    assert "Other formats" in [h.value for h in at.subheader]
    assert "Model card" in [h.value for h in at.subheader]
    assert any("Trained on `orders.csv`" in c.value for c in at.code)  # the card is shown as its source
    # The model is a link that server.py streams from disk; its bytes never pass through the page.
    assert _linked_file(at, "download.model") == (
        (finished_run / "model.keras").resolve(),
        f"layerlab_{finished_run.name[:6]}.keras",
    )
    assert not any(str(b.proto.label).startswith("Model (") for b in at.get("download_button"))

    at.button(key="download.prepare.onnx").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert (finished_run / "exports" / "onnx.zip").exists()
    # Ready now: the Prepare button is replaced by the download button, also on the next visit.
    at.switch_page("pages/download.py").run()
    assert not any(str(b.key) == "download.prepare.onnx" for b in at.button)
    assert any(str(b.key) == "download.prepare.tflite-int8" for b in at.button)
    assert _linked_file(at, "download.export.onnx") == (
        (finished_run / "exports" / "onnx.zip").resolve(),
        f"layerlab_{finished_run.name[:6]}_onnx.zip",
    )

    at.button(key="download.compare").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["Format"].tolist() == [
        "Keras (.keras)",
        "TFLite float32",
        "TFLite float16",
        "TFLite int8 (dynamic range)",
    ]
    assert (table["File size (KB)"] > 0).all() and (table["Latency per row (µs)"] > 0).all()
    assert table["Test accuracy"].between(0, 1).all()
