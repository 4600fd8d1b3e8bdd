"""Issue 17 on the Search page: a search started from the current data and model trains its trials through the
queue, survives a server restart in the middle, and its best trial opens as a normal run."""

import time

from streamlit.testing.v1 import AppTest

from core.experiments.search import SearchStore, shutdown_searches
from core.run_store import RunStore
from core.spec import TrainingSpec
from tests.app.test_first_hour import upload
from tests.app.test_pages import APP, RUN_TIMEOUT_S, texts
from tests.conftest import make_binary_frame


def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1.0)
    raise AssertionError(f"not within {timeout} s")


def test_a_search_runs_resumes_after_a_restart_and_opens_its_best_run(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLAB_HOME", str(tmp_path))  # a home of its own: the search list starts empty
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    upload(at, make_binary_frame(160), "b.csv")
    state = at.session_state["layerlab"]
    state.training = TrainingSpec(epochs=3, early_stopping=False)
    at.switch_page("pages/search.py").run()
    assert not at.exception, at.exception
    assert "No search yet" in texts(at)
    at.number_input(key="search.amount").set_value(2).run()
    at.select_slider(key="search.periodic_scale").set_value((10.0, 30.0)).run()
    at.button(key="search.start").click().run()
    assert not at.exception, at.exception

    searches = SearchStore(tmp_path / "searches")
    runs = RunStore(tmp_path / "runs")
    [search_id] = searches.list_ids()
    assert tuple(searches.meta(search_id)["spec"]["space"]["periodic_scale"]) == (10.0, 30.0)  # the slider's range

    def trials() -> list[str]:
        return list((searches.state(search_id).get("trials") or {}).values())

    _wait(lambda: len(trials()) >= 2, 120)  # one trial trained, the next submitted
    shutdown_searches()  # the server stops in the middle of the search
    assert searches.state(search_id)["state"] == "running"
    at.run()  # a page drawn by the next server process drives the search on
    assert not at.exception, at.exception
    _wait(lambda: searches.state(search_id).get("state") == "finished", 240)
    at.run()
    assert not at.exception, at.exception
    board = at.dataframe[0].value
    states = list(board["State"])
    assert states.count("done") + states.count("pruned (stopped early)") == 2
    assert "failed or interrupted" in states  # the trial in flight at the restart
    assert board["Trial"][0].startswith("★ ")  # the best leads the leaderboard
    assert "–" not in list(board["Validation loss"])[:1]  # a score, not a blank, for the best
    if searches.importances(search_id):  # the settings are named as on the leaderboard, not by their spec keys
        [bars] = [chart.proto.spec for chart in at.get("plotly_chart") if '"bar"' in chart.proto.spec]
        assert "learning rate" in bars and "learning_rate" not in bars
    # Only the chosen trial is scored on the test rows, after the search chose it on validation loss.
    best = searches.view(search_id, runs).best
    chosen = searches.state(search_id)["chosen"]
    assert chosen == best.run_id
    _wait(lambda: runs.status(chosen).state == "finished" and bool(runs.metrics(chosen)["test"]), 120)
    at.run()
    assert "computed only now: accuracy" in texts(at).lower()
    others = [row.run_id for row in searches.view(search_id, runs).trials if row.run_id and row.run_id != chosen]
    assert all(runs.metrics(other) is None or runs.metrics(other)["test"] == {} for other in others)
    at.button(key="search.open_best").click().run()
    assert not at.exception, at.exception
    assert at.session_state["layerlab"].run_id == best.run_id
    assert "Evaluate" in [title.value for title in at.title]
    assert (
        "Test score held back" not in [header.value for header in at.subheader] and at.metric
    )  # the chosen run's scores are shown
