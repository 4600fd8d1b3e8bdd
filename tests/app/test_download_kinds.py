"""Download page for image and text runs: the right snippet and model card, every format an image model fits in,
and one sentence instead of a button for each format that cannot hold a text model."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.run_store import RunStore
from core.spec import DataSpec, RunSpec, TrainingSpec, default_model
from tests.unit.test_images_kind import shapes
from tests.unit.test_text_kind import reviews

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("image and text models are written under TensorFlow")
    from core.training.run_job import run_job

    home = tmp_path_factory.mktemp("download_kinds")
    store = RunStore(home / "runs")
    source = shapes(home)
    image_run = store.create_run(
        RunSpec(
            data=DataSpec(kind="images", target="label"), model=default_model("images"), training=TrainingSpec(epochs=2)
        ),
        source.manifest,
        source_name="shapes.zip",
        pixels=home / "pixels.npy",
    )
    text_run = store.create_run(
        RunSpec(
            data=DataSpec(target="stars", kind="text"), model=default_model("text"), training=TrainingSpec(epochs=2)
        ),
        reviews(),
        source_name="reviews.csv",
    )
    for run_id in (image_run, text_run):
        assert run_job(store, run_id).state == "finished"
    return home, store, image_run, text_run


def open_download(home: Path, run_id: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    monkeypatch.setenv("LAYERLAB_SHARED", "0")
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["run"] = run_id
    at.switch_page("pages/download.py").run()
    assert not at.exception, at.exception
    return at


def test_a_text_run_offers_keras_and_savedmodel_and_says_why_not_the_others(runs, monkeypatch):
    home, store, _, run_id = runs
    at = open_download(home, run_id, monkeypatch)
    prepare = {str(b.key) for b in at.button if str(b.key).startswith("download.prepare.")}
    assert prepare == {"download.prepare.keras", "download.prepare.savedmodel"}
    refusals = [m.value for m in at.markdown if "Not offered" in m.value]
    assert len(refusals) == 4 and all(m.count(". ") == 0 for m in refusals)  # one sentence per format
    assert not any(str(b.key) == "download.compare" for b in at.button)
    assert any("text = ['city', 'review']" in c.value and "'review' goes in as it is" in c.value for c in at.code)
    assert any("Input: the text column `review`" in c.value for c in at.code)  # the model card

    at.button(key="download.prepare.savedmodel").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert (store.path(run_id) / "exports" / "savedmodel.zip").exists()


def test_an_image_run_offers_every_format_and_the_card_and_snippet_speak_of_images(runs, monkeypatch):
    home, store, run_id, _ = runs
    at = open_download(home, run_id, monkeypatch)
    prepare = {str(b.key) for b in at.button if str(b.key).startswith("download.prepare.")}
    assert len(prepare) == 6
    assert any("TFLite int8 (full integer)" in m.value for m in at.markdown)
    assert not any("Not offered" in m.value for m in at.markdown)
    assert any("Image.open" in c.value and "training=False" in c.value for c in at.code)
    card = next(c.value for c in at.code if "# Model card" in c.value)
    assert "one image of any size" in card and "16 × 16" in card and "test images" in card
    assert "layerlab predict model.keras photo.jpg" in "\n".join(c.value for c in at.caption)
