"""Evaluate page for image and text runs: a cell's test images with a heat map on request, a cell's texts with the
words that pushed each prediction, user markup shown as typed, and the table-only parts hidden with a line why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.evaluation.metrics import cell_rows
from core.evaluation.occlusion import HeatMap, TextPushes
from core.run_store import RunFiles, RunStore
from core.spec import DataSpec, RunSpec, TrainingSpec, default_model
from tests.unit.test_images_kind import shapes
from tests.unit.test_text_kind import reviews
from ui.evaluation_kinds import heat_map_figure, highlighted

APP = str(Path(__file__).resolve().parents[2] / "app.py")
MARKUP = " <b>x</b> **y**"


def _train(app_home: Path, spec: RunSpec, frame, **create) -> tuple[RunStore, str]:
    from core.training.run_job import run_job

    store = RunStore(app_home / "runs")
    run_id = store.create_run(spec, frame, **create)
    status = run_job(store, run_id)
    assert status.state == "finished", status.sentence()
    return store, run_id


@pytest.fixture(scope="module")
def image_run(app_home, tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    source = shapes(folder, count=150)
    spec = RunSpec(
        data=DataSpec(kind="images", target="label"),
        model=default_model("images"),
        training=TrainingSpec(epochs=2, batch_size=32),
    )
    return _train(app_home, spec, source.manifest, source_name="shapes.zip", pixels=folder / "pixels.npy")


@pytest.fixture(scope="module")
def text_run(app_home):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TextVectorization runs on TensorFlow's string ops")
    frame = reviews(160)
    frame.loc[frame.index % 4 == 0, "review"] += MARKUP  # user markup that must stay text on the page
    spec = RunSpec(
        data=DataSpec(target="stars", kind="text"),
        model=default_model("text"),
        training=TrainingSpec(epochs=3, batch_size=32, learning_rate=0.01),
    )
    return _train(app_home, spec, frame, source_name="reviews.csv")


def open_evaluate(run_id: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["run"] = run_id
    at.switch_page("pages/evaluate.py")
    at.run()
    assert not at.exception, at.exception
    return at


def pick_cell(at: AppTest, run_id: str, actual: str, predicted: str) -> None:
    at.selectbox(key=f"evaluate.cell_actual.{run_id}").set_value(actual).run()
    at.selectbox(key=f"evaluate.cell_predicted.{run_id}").set_value(predicted).run()
    assert not at.exception, at.exception


def captions(at: AppTest) -> str:
    return "\n".join(str(caption.value) for caption in at.caption)


@pytest.mark.slow
def test_an_image_cell_shows_its_test_images_and_where_the_network_looked(app_env, image_run):
    store, run_id = image_run
    predictions = store.predictions(run_id)
    (actual, predicted), count = max(
        predictions.groupby(["actual", "predicted"]).size().items(), key=lambda item: item[1]
    )
    at = open_evaluate(run_id)
    pick_cell(at, run_id, actual, predicted)
    assert f"test images are actually **{actual}** and predicted **{predicted}**" in "\n".join(
        str(m.value) for m in at.markdown
    )
    thumbnails = at.get("image")[0].proto.imgs
    assert len(thumbnails) == min(count, 60)
    first = cell_rows(predictions, store.files(run_id).read_parquet(RunFiles.TEST_ROWS), (), actual, predicted)
    assert thumbnails[0].caption.startswith(f"{first.iloc[0, 0]:.2f} · ")
    # Table-only parts are hidden with a line why; no importance button.
    assert "Column importances are for table runs" in captions(at)
    assert not [button for button in at.button if button.key == f"evaluate.importance.{run_id}"]

    at.button(key=f"evaluate.kinds.heat.{run_id}").click().run()
    assert not at.exception, at.exception
    assert not at.error, [error.value for error in at.error]
    chart = next(c for c in at.get("plotly_chart") if '"image"' in c.proto.spec)
    traces = json.loads(chart.proto.spec)["data"]
    heat = next(trace for trace in traces if trace["type"] == "heatmap")
    assert np.asarray(heat["z"]).shape == (15, 15)  # 16-pixel images: patches of 2 pixels, one pixel apart
    assert "lowered the probability of" in captions(at)

    again = open_evaluate(run_id)  # kept for the session: shown at once when the image is picked again
    pick_cell(again, run_id, actual, predicted)
    assert any('"heatmap"' in c.proto.spec for c in again.get("plotly_chart"))


@pytest.mark.slow
def test_a_text_cell_highlights_the_words_that_pushed_and_shows_markup_as_typed(app_env, text_run):
    store, run_id = text_run
    predictions = store.predictions(run_id)
    rows = store.files(run_id).read_parquet(RunFiles.TEST_ROWS)
    marked = int(np.flatnonzero(rows["review"].str.contains("<b>x</b>", regex=False))[0])
    actual, predicted = predictions.loc[marked, "actual"], predictions.loc[marked, "predicted"]
    at = open_evaluate(run_id)
    # A binary text run saves its threshold into its model as a table run does (tests/unit/test_decision.py).
    assert [button for button in at.button if button.key == f"evaluate.save_threshold.{run_id}"]
    pick_cell(at, run_id, actual, predicted)
    markdown = "\n".join(str(m.value) for m in at.markdown)
    assert "&lt;b&gt;x&lt;/b&gt; \\*\\*y\\*\\*" in markdown and "<b>x</b>" not in markdown
    assert "-background[" not in markdown

    at.toggle(key=f"evaluate.kinds.highlight.{run_id}").set_value(True).run()
    assert not at.exception, at.exception
    assert not at.error, [error.value for error in at.error]
    items = [str(m.value) for m in at.markdown if str(m.value).startswith("**0.") or str(m.value).startswith("**1.")]
    assert items and any(":red-background[" in item for item in items)
    assert any("&lt;b&gt;x&lt;/b&gt;" in item for item in items) and "<b>x</b>" not in "\n".join(items)
    assert "pushed toward" in captions(at)


def test_highlights_are_literal_markdown_with_colours_by_direction():
    pieces = ("an", " ", "awful", " ", "<b>film</b>", " ", "**y**:", " ", "{x}")
    pushes = TextPushes(pieces, (0.0, None, 0.6, None, -0.2, None, 0.15, None, 0.0), 0.9, "bad")
    assert highlighted(pushes) == (
        "an :red-background[**awful**] :blue-background[&lt;b&gt;film&lt;/b&gt;] :red-background[\\*\\*y\\*\\*\\:] \\{x}"
    )
    # Next to a directive, a colon before it and a brace after it are escaped (else they would join its syntax).
    joined = TextPushes(("好", "：", "a:", "b", "{c}"), (0.0, 0.0, 0.0, 0.5, 0.0), 0.9, "正面")
    assert highlighted(joined) == "好：a\\::red-background[**b**]\\{c}"
    same = TextPushes(("very", " ", "good", " ", "film"), (0.4, None, 0.5, None, 0.0), 0.9, "good")
    assert highlighted(same) == ":red-background[**very good**] film"  # one highlight across the space


def test_the_heat_map_figure_sits_on_the_image_at_the_patch_centres():
    heat = HeatMap(np.array([[0.5, 0.0], [0.0, -0.1]]), (0, 2), (0, 2), 2, 2, 0.9, "<i>bar</i>")
    figure = heat_map_figure(np.zeros((4, 4, 1), dtype="uint8"), heat)
    trace = next(trace for trace in figure.data if trace.type == "heatmap")
    assert list(trace.x) == [0.5, 2.5] and list(trace.y) == [0.5, 2.5]
    assert trace.zmin == -0.5 and trace.zmax == 0.5 and np.asarray(trace.z).shape == (2, 2)
    assert "&lt;i&gt;bar&lt;/i&gt;" in trace.hovertemplate
