"""Images and text through the pages before training: the Data page reads a zip of class folders or a text
column, the Prepare page offers their settings, the Model page their presets and layers, the Train page has
nothing blocking."""

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def loaded(sample: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.radio(key="data.source").set_value("Sample data").run()
    at.selectbox(key="data.sample").set_value(sample).run()
    at.button(key="data.load_sample").click().run()
    assert not at.exception, at.exception
    return at


def test_digits_images_through_data_prepare_model_and_train(app_env):
    at = loaded("Handwritten digits")
    state = at.session_state["layerlab"]
    assert state.kind == "images" and state.target == "label"
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Images"] == "1,797" and metrics["Classes"] == "10" and metrics["Stored as"] == "8×8 · grey"
    assert len(at.get("image")) >= 10  # a row of example thumbnails per class
    assert not at.error

    at.switch_page("pages/prepare.py").run()
    assert not at.exception, at.exception
    flip = next(box for box in at.selectbox if box.label == "Flip")
    flip.set_value("horizontal").run()
    assert at.session_state["layerlab"].preprocessing.images.augmentation.flip == "horizontal"
    at.number_input(key="prepare.folds").set_value(3).run()  # images cross-validate like tables
    assert at.session_state["layerlab"].run_spec().data.cross_validation_folds == 3
    at.number_input(key="prepare.folds").set_value(0).run()

    at.switch_page("pages/model.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="model.preset.images").value == "Small CNN (default)"
    annotations = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["annotations"]
    figure = "\n".join(a["text"] for a in annotations)
    for text in ("Rescaling", "RandomFlip", "Conv2D", "Flatten", "(None, 10)"):
        assert text in figure, text
    assert any(button.label == "Add Conv2D" for button in at.button)

    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert not at.button(key="train.start").disabled


def test_chinese_reviews_read_as_text_with_a_character_vocabulary(app_env):
    at = loaded("Product and hotel reviews (Chinese)")
    state = at.session_state["layerlab"]
    assert state.kind == "text" and state.target == "情感"
    assert any("评论" in info.value for info in at.info)  # the text column, named
    assert any(metric.label == "Chinese/Japanese/Korean characters" for metric in at.metric)

    at.switch_page("pages/model.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="model.preset.text").value == "Bag of n-grams (default)"
    at.selectbox(key="model.preset.text").set_value("Embedding + bidirectional LSTM").run()
    at.button(key="model.apply_preset").click().run()
    annotations = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["annotations"]
    figure = "\n".join(a["text"] for a in annotations)
    assert "Embedding" in figure and "Bidirectional" in figure

    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_a_table_of_image_paths_then_their_zip_becomes_an_image_set(app_env):
    """Issue 16: a table names the images and their labels; the Data page asks for the zip, reads it and the
    images (labelled from the table) become the data, with what did not match listed."""
    import pandas as pd

    from tests.app.test_first_hour import upload
    from tests.app.test_pages import texts
    from tests.unit.test_images_reading import grey_png, make_zip

    members = {f"pics/{i}.png": grey_png(30 if i % 2 else 220) for i in range(12)}
    rows = pd.DataFrame(
        {"file": [f"{i}.png" for i in range(13)], "shade": ["dark" if i % 2 else "light" for i in range(13)]}
    )
    at = AppTest.from_file(APP, default_timeout=300)
    upload(at, rows, "labels.csv")
    assert "names image files" in texts(at)
    assert at.selectbox(key="data.image_table.label").value == "shade"
    at.file_uploader(key="data.image_table.zip").set_value(("pics.zip", make_zip(members), "application/zip"))
    at.run()
    assert not at.exception, at.exception
    state = at.session_state["layerlab"]
    assert state.kind == "images" and state.target == "label" and state.table_name == "labels.csv + pics.zip"
    assert "12.png" in texts(at) or any("12.png" in str(frame.value) for frame in at.dataframe)  # listed as skipped
