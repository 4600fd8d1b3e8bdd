import pytest


@pytest.fixture(scope="session")
def app_home(tmp_path_factory):
    """One LayerLab home for all page tests, so they share one job manager."""
    return tmp_path_factory.mktemp("layerlab_home")


@pytest.fixture
def app_env(app_home, monkeypatch):
    monkeypatch.setenv("LAYERLAB_HOME", str(app_home))
    monkeypatch.setenv("LAYERLAB_SHARED", "0")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    # A worker starts when a run is queued, not ahead of it: a page test that trains nothing (most) or one run
    # would otherwise pay a whole Keras import (4 s of CPU) per free slot after every run (tests/unit/test_jobs
    # covers the warm default).
    monkeypatch.setenv("LAYERLAB_WARM_WORKERS", "0")
    return app_home
