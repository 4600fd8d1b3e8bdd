"""The Train page's training tools: the learning-rate plan, the rate used, the coach's fixes, Continue."""

import json

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.plain_text import markdown_literal
from core.run_store import RunStore, write_json
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from tests.app.test_pages import APP, RUN_TIMEOUT_S, texts, wait_for_run


@pytest.fixture
def train_home(app_env, tmp_path_factory, monkeypatch):
    """A home of its own: the runs made here must not show up in other page tests that expect none."""
    home = tmp_path_factory.getbasetemp() / "train_page_home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    return home


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly charts on the page, by title."""
    figures = {}
    for element in at.get("plotly_chart"):
        figure = json.loads(element.proto.spec)
        title = figure.get("layout", {}).get("title", {})
        figures[title.get("text", "") if isinstance(title, dict) else str(title)] = figure
    return figures


def small_frame(rows: int = 160) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    x = rng.normal(size=rows)
    return pd.DataFrame({"x": x, "z": rng.normal(size=rows), "label": np.where(x > 0, "yes", "no")})


def upload(at: AppTest, frame: pd.DataFrame) -> None:
    at.run()
    at.radio(key="data.source").set_value("Upload a file").run()
    at.file_uploader(key="data.upload").set_value(("small.csv", frame.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception, at.exception


def test_schedule_is_drawn_before_training_then_the_used_rate_and_continue(train_home):
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    upload(at, small_frame())
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train.schedule").set_value("step").run()
    at.number_input(key="train.decay_epochs").set_value(1).run()
    at.number_input(key="train.epochs").set_value(3).run()
    assert not at.exception, at.exception
    planned = charts(at)["Planned learning rate"]["data"][0]["y"]
    assert planned == [0.001, 0.0005, 0.00025]  # Adam's 0.001, halved every epoch
    assert "multiplied by 0.5 every 1 epoch." in texts(at)  # plural forms from the catalog

    at.toggle(key="train.early_stopping").set_value(False)
    at.button(key="train.start").click().run()
    assert wait_for_run(at) == "finished"
    used = charts(at)["Learning rate per epoch"]["data"]
    assert [trace["name"] for trace in used] == ["planned", "used"]
    np.testing.assert_allclose(used[1]["y"], [0.001, 0.0005, 0.00025], rtol=1e-6)

    run_id = at.session_state["layerlab"].run_id
    at.number_input(key=f"train.more_epochs.{run_id}").set_value(2)
    at.button(key=f"train.continue.{run_id}").click().run()
    assert not at.exception, at.exception
    assert wait_for_run(at) == "finished", texts(at)
    assert at.session_state["layerlab"].run_id == run_id  # the same run, extended
    assert "Continued from epoch 3. Finished all 5 epochs." in texts(at)
    used = charts(at)["Learning rate per epoch"]["data"][1]
    assert used["x"] == [1, 2, 3, 4, 5]  # the curves continue where they stopped


def test_a_coach_finding_starts_a_new_run_with_its_fix(train_home):
    """An overfitting curve (written to disk as a finished run) gets a finding and a one-click fix."""
    store = RunStore(train_home / "runs")
    spec = RunSpec(
        data=DataSpec(target="label"),
        model=ModelSpec(layers=(DenseLayer(units=8),)),
        training=TrainingSpec(epochs=2, batch_size=32, early_stopping=False),
    )
    run_id = store.create_run(spec, small_frame(), source_name="small.csv")
    losses = [(1.0, 0.9), (0.6, 0.6), (0.4, 0.5), (0.3, 0.55), (0.2, 0.6), (0.12, 0.7)]
    history = [{"epoch": i + 1, "loss": loss, "val_loss": val} for i, (loss, val) in enumerate(losses)]
    write_json(store.path(run_id) / "history.json", history)
    store.set_status(run_id, "finished", "Finished all 6 epochs.")

    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    at.query_params["run"] = run_id
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert any("Overfitting: since epoch 3" in w.value for w in at.warning)
    assert "no checkpoint to continue from" in texts(at)  # Continue explains why it is not offered
    at.button(key=f"train.coach.{run_id}.overfitting").click().run()
    assert not at.exception, at.exception

    new_id = at.session_state["layerlab"].run_id
    assert new_id != run_id  # the view switched to the new run
    fixed = store.spec(new_id)
    assert [layer.kind for layer in fixed.model.layers] == ["dense", "dropout"]
    assert store.meta(new_id)["coach_fix"] == {"fix": "add_dropout", "kind": "overfitting", "from_run": run_id}
    assert at.session_state["layerlab"].run_spec().model == fixed.model  # the editor shows the fix too
    assert wait_for_run(at) == "finished"


def test_an_imported_spec_sets_the_schedule_clipping_and_optimizer_widgets(train_home):
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    upload(at, small_frame())
    at.switch_page("pages/train.py").run()
    spec = at.session_state["layerlab"].run_spec()
    training = TrainingSpec(
        optimizer="sgd", nesterov=True, learning_rate=0.05, clipnorm=2.0,
        schedule={"kind": "cosine", "warmup_epochs": 2, "alpha": 0.1},
    )  # fmt: skip
    text = spec.model_copy(update={"training": training}).to_json().encode()
    at.file_uploader(key="train.import_spec").set_value(("spec.json", text, "application/json"))
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train.optimizer").value == "sgd"
    assert at.checkbox(key="train.nesterov").value is True
    assert at.selectbox(key="train.schedule").value == "cosine"
    assert at.number_input(key="train.warmup_epochs").value == 2
    assert at.selectbox(key="train.clipping").value == "clipnorm"
    assert at.session_state["layerlab"].run_spec().training == training
    assert "Rises linearly from 0 to 0.05 over 2 epochs" in texts(at)


def test_a_layer_stack_that_cannot_take_table_rows_blocks_train_with_the_reason(train_home):
    from core.spec import LSTMLayer
    from ui.state import Layer

    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    upload(at, small_frame())
    at.session_state["layerlab"].layers = [Layer("a", DenseLayer(units=8)), Layer("b", LSTMLayer(units=4))]
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert any("Layer 2 (LSTM, 4 units) needs a sequence input" in e.value for e in at.error)
    assert at.button(key="train.start").disabled


def test_a_run_on_a_ray_cluster_says_which_machine_trains_it(train_home):
    """The live view of a run that the Ray backend placed on another machine (its status as the node writes it;
    tests/unit/test_ray_backend.py trains on a real local cluster)."""
    store = RunStore(train_home / "runs")
    spec = RunSpec(data=DataSpec(target="label"), model=ModelSpec(layers=(DenseLayer(units=8),)))
    run_id = store.create_run(spec, small_frame(), source_name="small.csv")
    store.set_status(run_id, "running", "Training", pid=4242, host="gpu-node-7<b>", backend="ray",
                     device="CPU (tensorflow backend)")  # fmt: skip
    store.files(run_id).touch_heartbeat()  # its process is on that machine: liveness is the heartbeat alone
    try:
        at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
        at.query_params["run"] = run_id
        at.switch_page("pages/train.py").run()
        assert not at.exception, at.exception
        captions = [c.value for c in at.caption]
        shown = f"on the Ray cluster, machine {markdown_literal('gpu-node-7<b>')}"  # plain text, HTML inert
        assert any(shown in caption for caption in captions), captions
        assert store.status(run_id).state == "running"  # a pid that is not on this machine is not checked here
    finally:
        store.set_status(run_id, "stopped", "Stopped")


def test_a_run_on_several_devices_says_how_many_and_the_rows_per_step(train_home):
    """The live view of a data-parallel run (its status as a worker writes it; tests/unit/test_data_parallel.py
    trains one on two devices for real)."""
    store = RunStore(train_home / "runs")
    spec = RunSpec(data=DataSpec(target="label"), model=ModelSpec(layers=(DenseLayer(units=8),)))
    run_id = store.create_run(spec, small_frame(), source_name="small.csv")
    spread = {"devices": 4, "kind": "GPU", "batch_per_device": 256, "batch_per_step": 1024}
    store.set_status(run_id, "finished", "Finished", device="GPU: H100, 80.0 GiB (4 of 4 used) (jax backend)",
                     precision="mixed_float16", data_parallel=spread)  # fmt: skip
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    at.query_params["run"] = run_id
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    shown = (
        "Device: GPU: H100, 80.0 GiB (4 of 4 used) (jax backend) · mixed precision (float16) · data-parallel on 4 "
        "devices: batches of 256 rows on each, 1024 rows per step"
    )
    assert shown in captions, captions
