"""Shared-demo mode: two browser sessions train at once and neither sees the other's run."""

from streamlit.testing.v1 import AppTest

from tests.app.test_pages import APP, RUN_TIMEOUT_S, load_sample, texts, wait_for_run


def start_run(at: AppTest) -> str:
    load_sample(at, "Wine cultivars")
    at.switch_page("pages/train.py").run()
    at.number_input(key="train.epochs").set_value(3)
    at.button(key="train.start").click().run()
    assert not at.exception, at.exception
    return at.session_state["layerlab"].run_id


def test_two_sessions_train_at_once_and_see_only_their_own_runs(app_env, monkeypatch):
    monkeypatch.setenv("LAYERLAB_SHARED", "1")
    alice = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    bob = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    alice_run = start_run(alice)
    bob_run = start_run(bob)
    assert alice_run != bob_run
    assert wait_for_run(alice) == "finished"
    assert wait_for_run(bob) == "finished"

    for at, own, other in ((alice, alice_run, bob_run), (bob, bob_run, alice_run)):
        at.switch_page("pages/evaluate.py").run()
        options = next(s for s in at.selectbox if str(s.key).startswith("evaluate.run")).options
        shown = " ".join(options)
        assert own[:6] in shown
        assert other[:6] not in shown
        assert "Accuracy" in [m.label for m in at.metric]


def test_refresh_reattaches_to_the_run_in_the_url(app_env):
    first = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    run_id = start_run(first)
    # A refresh is a new session that only has the URL's query parameters.
    refreshed = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    refreshed.query_params["run"] = run_id
    refreshed.switch_page("pages/train.py")
    assert wait_for_run(refreshed) == "finished"
    assert run_id[:6] in " ".join(next(s for s in refreshed.selectbox if str(s.key).startswith("train.run")).options)
    assert "Finished all 3 epochs." in texts(refreshed) or "Early stopping" in texts(refreshed)
    assert refreshed.session_state["layerlab"].target == "cultivar"  # the spec came back from disk


def test_a_copied_url_shows_nothing_of_another_session_in_shared_mode(app_env, monkeypatch):
    """The URL carries ids, never identity: another browser opening it gets a fresh session."""
    monkeypatch.setenv("LAYERLAB_SHARED", "1")
    alice = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    alice_run = start_run(alice)
    alice_state = alice.session_state["layerlab"]
    stranger = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    stranger.query_params["run"] = alice_run
    stranger.query_params["table"] = alice_state.table_key
    stranger.query_params["session"] = alice_state.owner  # a chosen identity in the URL is ignored
    stranger.switch_page("pages/train.py").run()
    assert not stranger.exception, stranger.exception
    state = stranger.session_state["layerlab"]
    assert state.owner != alice_state.owner
    assert state.run_id is None
    assert state.table_key != alice_state.table_key
    assert alice_run[:6] not in texts(stranger)
    assert all(alice_run[:6] not in " ".join(s.options) for s in stranger.selectbox)
    wait_for_run(alice)


def test_every_train_click_gets_a_run_or_a_message(app_env, monkeypatch):
    """Quick clicks on Train are each answered: a run while the session's quota lasts, then a message."""
    monkeypatch.setenv("LAYERLAB_SHARED", "1")
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    load_sample(at, "Wine cultivars")
    at.switch_page("pages/train.py").run()
    at.number_input(key="train.epochs").set_value(2)
    for _ in range(4):
        at.button(key="train.start").click().run()
        assert not at.exception, at.exception
    from core.config import load_settings
    from core.run_store import RunStore

    owner = at.session_state["layerlab"].owner
    runs = RunStore(load_settings().runs_dir, owner=owner).list_runs()
    # 1 training + 2 waiting is one visitor's share; the fourth click says so instead of vanishing.
    assert len(runs) == 3
    assert "the most this server allows one visitor" in texts(at)
    assert "This shared server's limits for each run" in texts(at)
    from ui.services import job_manager

    for record in runs:
        job_manager().stop(record.run_id)
