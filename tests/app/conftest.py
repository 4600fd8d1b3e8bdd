import pytest


@pytest.fixture(scope="session")
def app_home(tmp_path_factory):
    """One LayerLab home for all page tests, so they share one job manager (one pair of warm workers)."""
    return tmp_path_factory.mktemp("layerlab_home")


@pytest.fixture
def app_env(app_home, monkeypatch):
    monkeypatch.setenv("LAYERLAB_HOME", str(app_home))
    monkeypatch.setenv("LAYERLAB_SHARED", "0")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    return app_home
