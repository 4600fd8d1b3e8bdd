"""Issue 17 on the Runs page: the history lists every run, a run is named, noted, starred, opened and deleted,
and two runs compared show their metrics with the best marked, their curves and what differs, in words."""

import pytest
from streamlit.testing.v1 import AppTest

from core.run_store import RunStore
from core.spec import DenseLayer
from tests.app.test_pages import APP, RUN_TIMEOUT_S, texts
from tests.conftest import make_binary_frame, train_small_run
from tests.unit.test_history import fake_run
from tests.unit.test_search import _wait


@pytest.fixture
def runs_home(app_env, tmp_path, monkeypatch):
    """A home of its own: the page tests' shared home holds other tests' runs."""
    monkeypatch.setenv("LAYERLAB_HOME", str(tmp_path))
    return RunStore(tmp_path / "runs")


def open_runs_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S).run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    return at


def test_an_empty_history_says_how_to_get_a_run(runs_home):
    at = open_runs_page()
    assert "No runs yet" in texts(at)


def test_history_annotate_open_and_delete(runs_home):
    store, old = train_small_run(runs_home.root, make_binary_frame(120), source_name="old.csv")  # opens for real
    new = fake_run(store, accuracy=1.0, source="<b>new</b>.csv")
    at = open_runs_page()
    table = at.dataframe[0].value
    assert list(table["Data"]) == ["<b>new</b>.csv", "old.csv"]  # newest first, a name as typed
    assert table["Test score"][0] == 1.0 and 0 < table["Test score"][1] < 1
    assert set(table["Metric"]) == {"Accuracy"}
    assert table["Hidden layers"][1] == "Dense 8" and table["State"][1] == "Finished"

    at.selectbox(key="runs.one").set_value(old).run()
    at.text_input(key=f"runs.name.{old}").input("**baseline**")
    at.text_area(key=f"runs.note.{old}").input("default settings")
    at.checkbox(key=f"runs.star.{old}").check()
    at.button[0].click().run()  # the form's Save
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["Name"][0] == "**baseline**"  # starred first, its name kept as typed (a cell is plain text)
    assert table["★"][0] == "★" and table["Note"][0] == "default settings"
    assert store.meta(old)["name"] == "**baseline**"

    at.selectbox(key="runs.sort").set_value("best").run()
    assert list(at.dataframe[0].value["Data"]) == ["old.csv", "<b>new</b>.csv"]  # starred still leads
    at.text_input(key="runs.find").input("new").run()
    assert list(at.dataframe[0].value["Data"]) == ["<b>new</b>.csv"]
    assert "1 of 2 runs shown" in texts(at)
    at.text_input(key="runs.find").input("").run()

    at.selectbox(key="runs.one").set_value(new).run()
    at.button(key="runs.delete").click().run()
    assert not at.exception, at.exception
    assert [r.run_id for r in store.list_runs()] == [old]

    at.button(key="runs.open.pages/evaluate.py").click().run()
    assert not at.exception, at.exception
    assert at.session_state["layerlab"].run_id == old
    assert "Evaluate" in [title.value for title in at.title]


def test_two_runs_compared_side_by_side(runs_home):
    store = runs_home
    first = fake_run(store, accuracy=0.80, hits=(0.9, 0.7), source="a.csv")
    second = fake_run(store, layers=(DenseLayer(units=64), DenseLayer(units=32)), learning_rate=0.01,
                      accuracy=0.85, hits=(0.9, 0.8), source="b.csv")  # fmt: skip
    at = open_runs_page()
    assert "Pick two to five finished runs" in texts(at)
    at.multiselect(key="runs.compare").select(first).select(second).run()
    assert not at.exception, at.exception
    metrics = at.dataframe[1].value
    assert metrics.loc["Accuracy"].tolist() == ["0.8000", "0.8500 ★"]
    shown = texts(at)
    assert "+1 Dense layer (Dense 32)" in shown and "0.001 → 0.01" in shown
    assert "b.csv" in shown and "scored" in shown
    assert at.get("plotly_chart"), "no curves"
    per_class = at.dataframe[2].value
    assert list(per_class.index) == ["no", "yes"]


def test_a_search_trial_keeps_its_test_score_back_until_the_user_scores_it(runs_home):
    """A trial's run (from a search) opened on Evaluate: its test score is held back, with its validation
    loss; the user chooses it, a worker scores it on the test rows, and Evaluate then shows the scores."""
    from core.spec import DataSpec, ModelSpec, RunSpec, TrainingSpec
    from core.training.run_job import run_job

    spec = RunSpec(data=DataSpec(target="label"), model=ModelSpec(layers=(DenseLayer(units=8),)),
                   training=TrainingSpec(epochs=2))  # fmt: skip
    run_id = runs_home.create_run(spec, make_binary_frame(120), source_name="b.csv", search="0" * 20)
    assert run_job(runs_home, run_id).state == "finished"
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S).run()
    at.session_state["layerlab"].run_id = run_id
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception
    assert "Test score held back" in [header.value for header in at.subheader]
    assert "Best validation loss" in texts(at)
    assert not at.metric  # no test score shown, none computed
    at.button(key=f"evaluate.score.{run_id}").click().run()
    assert not at.exception, at.exception
    _wait(lambda: runs_home.status(run_id).state == "finished" and bool(runs_home.metrics(run_id)["test"]), 120)
    at.run()
    assert not at.exception, at.exception
    assert "Test score held back" not in [header.value for header in at.subheader]
    assert [metric.label for metric in at.metric][:1] == ["Accuracy"]
    assert "baselines" in runs_home.metrics(run_id) and not runs_home.meta(run_id)["test_held_back"]


def test_scoring_a_trial_when_the_queue_is_full_leaves_it_as_it_was(runs_home, monkeypatch):
    """A full queue (shared mode's quota) refuses the scoring with its message; the run stays finished."""
    from core.errors import QuotaError
    from core.run_store import RunFiles
    from core.spec import DataSpec, ModelSpec, RunSpec, TrainingSpec
    from ui import services

    spec = RunSpec(data=DataSpec(target="label"), model=ModelSpec(layers=(DenseLayer(units=4),)),
                   training=TrainingSpec(epochs=1))  # fmt: skip
    run_id = runs_home.create_run(spec, make_binary_frame(80), source_name="b.csv", search="0" * 20)
    runs_home.set_status(run_id, "finished", "done")
    runs_home.files(run_id).write_bytes(RunFiles.NETWORK, b"a saved network")

    class Full:
        def check_quota(self, owner):
            raise QuotaError("full")

    monkeypatch.setattr(services, "job_manager_for", lambda current: Full())
    with pytest.raises(QuotaError):
        services.score_on_test(run_id, store=runs_home)
    assert runs_home.status(run_id).state == "finished"
    assert not runs_home.files(run_id).exists(RunFiles.SCORE_TEST)

    class RaceLost(Full):
        def check_quota(self, owner):
            return None

        def submit(self, run_id):
            raise QuotaError("taken meanwhile")

    monkeypatch.setattr(services, "job_manager_for", lambda current: RaceLost())
    with pytest.raises(QuotaError):
        services.score_on_test(run_id, store=runs_home)
    assert runs_home.status(run_id).state == "finished" and runs_home.status(run_id).message == "done"
    assert not runs_home.files(run_id).exists(RunFiles.SCORE_TEST)
