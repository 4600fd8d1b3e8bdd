"""The real app in headless Chromium: upload, train live, refresh, Stop, download, load the model elsewhere."""

import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.e2e

# While a fragment re-renders, the outgoing chart can briefly sit beside the new one: take the newest.
# Only the training curves count (their first trace is "training"); the learning-rate chart's planned
# curve already spans every epoch.
POINTS_JS = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')]
    .filter(p => p.data && p.data.length && p.data[0].name === 'training');
  return plots.length ? Math.max(...plots.map(p => p.data[0].x.length)) : 0;
}"""


def make_csv(path):
    rng = np.random.default_rng(0)
    rows = 6000
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype(float),
            "balance": rng.normal(1000, 400, rows),
            "region": rng.choice(["north", "south", "east", "west"], rows),
            "plan": rng.choice(["basic", "plus", None], rows),
        }
    )
    frame.loc[::50, "age"] = np.nan
    score = (frame["age"].fillna(40) - 45) / 15 + (frame["balance"] - 1000) / 400 + (frame["region"] == "north")
    frame["churned"] = np.where(score + rng.normal(0, 0.7, rows) > 0.5, "yes", "no")
    frame.to_csv(path, index=False)
    return frame


def chart_points(page) -> int:
    """Points on the training chart. While a fragment swaps the chart for a new one there can be an instant
    with no chart at all; wait for one rather than read 0."""
    return page.wait_for_function(POINTS_JS, timeout=60_000).json_value()


def wait_for_growth(page, times: int, timeout: float = 60.0) -> list[int]:
    """Poll the chart; return the distinct point counts seen until it has grown `times` times."""
    seen = [chart_points(page)]
    deadline = time.monotonic() + timeout
    while len(set(seen)) <= times and time.monotonic() < deadline:
        time.sleep(0.3)
        count = chart_points(page)
        if count != seen[-1]:
            seen.append(count)
    return seen


@pytest.fixture
def own_app(tmp_path):
    """An app of this test's own: the shared one may hold another test's run, which a new browser re-attaches to
    in single-user mode (its live section then redraws the page while this test clicks its settings)."""
    from tests.e2e.conftest import running_app

    home = tmp_path / "home"
    home.mkdir()
    with running_app(home) as url:
        yield url


def test_upload_train_live_refresh_stop_download(page, own_app, tmp_path):
    data_path = tmp_path / "customers.csv"
    make_csv(data_path)

    page.goto(own_app)
    page.get_by_text("Upload a file").click()
    page.locator("input[type=file]").set_input_files(str(data_path))
    page.get_by_text("What to predict").wait_for()
    page.get_by_text("Predict churned (binary) from 4 column(s).").wait_for()

    page.get_by_role("link", name="Train").first.click()
    epochs = page.get_by_label("Epochs", exact=True)  # the settings are open while no run exists
    epochs.wait_for()
    epochs.fill("2000")
    epochs.press("Enter")
    # Off: this run must still be going when we press Stop. A click that lands while the Epochs rerun is still
    # drawing can be lost under load, so click until the switch itself says it is off.
    early_stopping = page.get_by_role("switch", name="Early stopping")
    for _ in range(5):
        if not early_stopping.is_checked():
            break
        page.get_by_text("Early stopping", exact=True).click()
        try:
            page.wait_for_function(
                "() => !document.querySelector('input[aria-label=\"Early stopping\"]').checked", timeout=15_000
            )
        except PlaywrightTimeout:
            continue
    assert not early_stopping.is_checked(), "the Early stopping switch did not turn off"
    time.sleep(0.5)
    page.get_by_role("button", name="Train").last.click()

    page.wait_for_function(POINTS_JS, timeout=60_000)  # the training curves have their first point
    seen = wait_for_growth(page, times=2)
    assert len(set(seen)) >= 3 and seen == sorted(seen), f"chart did not gain points twice while training: {seen}"

    # A refresh re-attaches to the running job (the run id is in the URL).
    page.reload()
    page.wait_for_function(POINTS_JS, timeout=120_000)
    after_refresh = wait_for_growth(page, times=1, timeout=120.0)
    assert after_refresh[-1] > seen[-1], f"no new points after refresh: {seen} then {after_refresh}"

    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("Stopped by you after").first.wait_for(timeout=120_000)
    stopped_points = chart_points(page)
    assert 0 < stopped_points < 2000  # it stopped within its first epochs, not after all of them

    page.get_by_role("link", name="Download").first.click()
    with page.expect_download() as download_info:  # a link that server.py streams from disk
        page.get_by_role("link", name="Model (").click()
    model_path = tmp_path / "model.keras"
    download_info.value.save_as(model_path)
    assert model_path.stat().st_size > 1000

    # Load it the way a user would: a fresh Python with keras and pandas only.
    script = f"""
import json, sys
import keras, numpy as np
model = keras.saving.load_model({str(model_path)!r})
out = model({{
    "age": np.array([[35.0], [np.nan]], dtype="float32"),
    "balance": np.array([[1500.0], [200.0]], dtype="float32"),
    "region": np.array([["north"], ["atlantis"]], dtype=object),
    "plan": np.array([["plus"], [""]], dtype=object),
}})
assert "core" not in sys.modules
print(json.dumps({{
    "labels": [v.decode() for v in keras.ops.convert_to_numpy(out["label"]).tolist()],
    "probabilities": keras.ops.convert_to_numpy(out["probabilities"]).tolist(),
}}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(output["labels"]) <= {"no", "yes"}
    for row in output["probabilities"]:
        assert len(row) == 2 and abs(sum(row) - 1.0) < 1e-5


def test_a_page_url_opened_first_after_a_restart_gets_the_apps_navigation(browser, tmp_path):
    """Right after the server starts, Streamlit runs a pages/ file on its own when its URL is asked for
    first (a bookmark, or a refresh after a restart). The page must still come through app.py: its
    navigation (titles and icons), not Streamlit's automatic "app, data, download…" list."""
    from tests.e2e.conftest import running_app

    with running_app(tmp_path) as url:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.goto(f"{url}/model")
        page.get_by_text("Upload a table → build a network").wait_for(timeout=60_000)  # app.py's sidebar caption
        links = page.locator('[data-testid="stSidebarNav"] a')
        labels = [text.strip().splitlines()[-1] for text in links.all_inner_texts()]
        assert labels == ["Data", "Prepare", "Model", "Train", "Evaluate", "Predict", "Download", "Search", "Runs"]
        page.get_by_role("heading", name="Model").wait_for()
        context.close()
