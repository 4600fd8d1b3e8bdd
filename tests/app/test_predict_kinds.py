"""Predict page for image and text runs: images (one bad among them) get a table with thumbnails and a message
for the bad file; a typed text gets one prediction; an uploaded image model takes images too."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.plain_text import markdown_literal
from core.run_store import RunStore
from core.spec import DataSpec, RunSpec, TrainingSpec, default_model
from tests.unit.test_images_kind import shapes
from tests.unit.test_text_kind import reviews

pytestmark = pytest.mark.slow  # each module trains one image run and one text run first

APP = str(Path(__file__).resolve().parents[2] / "app.py")
BAD_IMAGES = Path(__file__).resolve().parents[3] / "shared" / "bad_inputs" / "images"


def _train(store: RunStore, spec: RunSpec, frame, **files) -> str:
    from core.training.run_job import run_job

    run_id = store.create_run(spec, frame, **files)
    assert run_job(store, run_id).state == "finished"
    return run_id


@pytest.fixture(scope="module")
def runs(app_home, tmp_path_factory):
    """(store, image run id, pixels, text run id, text-only run id): trained once for the module. The text run
    also reads reviews()'s city column; the text-only run reads the review alone."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("image and text models are written under TensorFlow")
    folder = tmp_path_factory.mktemp("shapes")
    source = shapes(folder)
    store = RunStore(app_home / "runs")
    images = RunSpec(
        data=DataSpec(kind="images", target="label"), model=default_model("images"), training=TrainingSpec(epochs=3)
    )
    image_run = _train(store, images, source.manifest, source_name="shapes.zip", pixels=folder / "pixels.npy")
    text = RunSpec(
        data=DataSpec(target="stars", kind="text"),
        model=default_model("text"),
        training=TrainingSpec(epochs=3, batch_size=32, learning_rate=0.01),
    )
    text_run = _train(store, text, reviews(), source_name="reviews.csv")
    text_only = _train(store, text, reviews().drop(columns=["city"]), source_name="reviews.csv")
    return store, image_run, np.asarray(source.pixels), text_run, text_only


def png(image: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    picture = Image.fromarray(image[..., 0])
    if size is not None:
        picture = picture.resize(size)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def open_predict(run_id: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    if run_id:
        at.query_params["run"] = run_id
    at.switch_page("pages/predict.py")
    at.run()
    assert not at.exception, at.exception
    return at


def warnings_text(at: AppTest) -> str:
    return "\n".join(str(w.value) for w in at.warning)


def test_images_with_a_bad_one_get_predictions_thumbnails_and_a_message(app_env, runs):
    store, run_id, pixels, _, _ = runs
    at = open_predict(run_id)
    assert not at.camera_input  # the camera is asked for only after the toggle
    truncated = (BAD_IMAGES / "43_truncated.jpg").read_bytes() if BAD_IMAGES.exists() else b"\xff\xd8\xff\xe0"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as folder:
        folder.writestr("more/a.png", png(pixels[3]))
        folder.writestr("more/b.png", png(pixels[4]))
    files = [
        ("bar.png", png(pixels[0], (40, 30)), "image/png"),  # another size: the model resizes
        ("column.png", png(pixels[1]), "image/png"),
        ("43_truncated.jpg", truncated, "image/jpeg"),
        ("notes.png", b"this is a text file, not a picture", "image/png"),
        ("more.zip", archive.getvalue(), "application/zip"),
    ]
    at.file_uploader(key=f"predict.images.{run_id}.files").set_value(files).run()
    assert not at.exception, at.exception

    table = next(frame.value for frame in at.dataframe if "thumbnail" in frame.value.columns)
    assert table["file"].tolist() == ["bar.png", "column.png", "more.zip/more/a.png", "more.zip/more/b.png"]
    assert set(table["prediction"]) <= {"bar", "column", "square"}
    probabilities = table[["prob_bar", "prob_column", "prob_square"]].to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert table["thumbnail"].str.startswith("data:image/png;base64,").all()
    assert any("Predicted 4 images." in s.value for s in at.success)

    messages = warnings_text(at)
    assert markdown_literal("43_truncated.jpg") in messages and "cut short" in messages
    assert "notes.png" in messages and "not a readable image" in messages
    assert not at.error and not at.exception
    csv = next(b for b in at.get("download_button") if b.proto.label == "Predictions (CSV)")
    assert csv is not None

    at.toggle(key=f"predict.images.{run_id}.camera_on").set_value(True).run()
    assert not at.exception, at.exception
    assert at.camera_input  # behind the toggle, and the uploads still show their predictions
    assert any("Predicted 4 images." in s.value for s in at.success)


def test_a_typed_text_gets_a_prediction_and_the_table_upload_still_works(app_env, runs):
    store, _, _, run_id, _ = runs
    at = open_predict(run_id)
    at.radio(key="predict.text_mode").set_value("text").run()
    assert not at.exception, at.exception
    assert any("also reads city" in c.value for c in at.caption)  # reviews() has a city column: it goes in empty
    at.text_area[0].set_value("a wonderful, moving film")
    at.button(key=f"FormSubmitter:predict.text.{run_id}-Predict this text").click().run()
    assert not at.exception, at.exception
    prediction = next(m for m in at.metric if m.label == "Prediction")
    assert prediction.value == "good"
    probabilities = at.dataframe[-1].value
    assert set(probabilities["class"]) == {"bad", "good"}

    at.radio(key="predict.text_mode").set_value("file").run()
    rows = reviews(12, seed=5).drop(columns=["stars"]).to_csv(index=False).encode()
    at.file_uploader(key="predict.upload").set_value(("new.csv", rows, "text/csv")).run()
    assert not at.exception, at.exception
    result = next(d.value for d in at.dataframe if "prob_good" in d.value.columns)
    assert len(result) == 12 and set(result["prediction"]) <= {"good", "bad"}


def test_an_uploaded_image_model_takes_images(app_env, runs):
    store, run_id, pixels, _, _ = runs
    at = open_predict()
    at.radio(key="predict.source").set_value("upload").run()
    model = (store.path(run_id) / "model.keras").read_bytes()
    at.file_uploader(key="predict.model_upload").set_value(("shapes.keras", model, "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    assert any("a LayerLab multiclass model" in s.value for s in at.success)
    at.file_uploader(key="predict.model_images.files").set_value([("square.png", png(pixels[2]), "image/png")]).run()
    assert not at.exception, at.exception
    table = next(frame.value for frame in at.dataframe if "thumbnail" in frame.value.columns)
    assert table["file"].tolist() == ["square.png"]


def test_an_uploaded_text_model_predicts_a_typed_text_or_a_table(app_env, runs):
    store, _, _, combined, run_id = runs
    at = open_predict()
    at.radio(key="predict.source").set_value("upload").run()
    model = (store.path(run_id) / "model.keras").read_bytes()
    at.file_uploader(key="predict.model_upload").set_value(("reviews.keras", model, "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    at.radio(key="predict.model_text_mode").set_value("text").run()
    at.text_area[0].set_value("dull and far too long, a boring mess")
    at.button(key="FormSubmitter:predict.model_text-Predict this text").click().run()
    assert not at.exception, at.exception
    assert next(m for m in at.metric if m.label == "Prediction").value == "bad"

    at.radio(key="predict.model_text_mode").set_value("file").run()
    rows = reviews(5, seed=9).drop(columns=["stars", "city"]).to_csv(index=False).encode()
    at.file_uploader(key="predict.model_rows").set_value(("rows.csv", rows, "text/csv")).run()
    assert not at.exception, at.exception
    assert any("Predicted 5 rows." in s.value for s in at.success)

    # A text model that reads other columns too takes them from a table (the typed text is for text-only models).
    at.file_uploader(key="predict.model_upload").set_value(
        ("combined.keras", (store.path(combined) / "model.keras").read_bytes(), "application/octet-stream")
    )
    at.run()
    assert not at.exception, at.exception
    assert not any(str(r.key) == "predict.model_text_mode" for r in at.radio)
    rows = reviews(6, seed=9).drop(columns=["stars"]).to_csv(index=False).encode()
    at.file_uploader(key="predict.model_rows").set_value(("rows.csv", rows, "text/csv")).run()
    assert not at.exception, at.exception
    assert any("Predicted 6 rows." in s.value for s in at.success)
