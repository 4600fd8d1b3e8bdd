"""Start the real app on a free port with its own LAYERLAB_HOME, and a headless Debian Chromium."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(home: Path, **env_overrides: str):
    """The app served from `home` on a free port (yields its URL); stopped on exit."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (/usr/bin/chromium); .ci/run installs it.")
    port = _free_port()
    env = {**os.environ, "LAYERLAB_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2", "LAYERLAB_SHARED": "0"}
    env["LAYERLAB_WARM_WORKERS"] = "0"  # workers start per queued run: see tests/app/conftest.py
    env.update(env_overrides)
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", str(ROOT / "server.py"),
            "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a hang guard; the server imports slowly beside other tests
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the app did not start within 180 s; see " + str(home / "server.log"))
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("e2e_home")) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(120_000)  # hang guards, not speed bounds (see tests/app)
    yield page
    context.close()
