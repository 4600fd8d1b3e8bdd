"""In a real browser, clicking a confusion-matrix cell on Evaluate lists that cell's test rows."""

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.conftest import make_binary_frame, train_small_run
from tests.e2e.conftest import running_app

pytestmark = pytest.mark.e2e

CELL_CENTRE_JS = """([actual, predicted]) => {
  const plot = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.data && g.data[0].type === 'heatmap');
  plot.scrollIntoView();
  const layout = plot._fullLayout, box = plot.getBoundingClientRect();
  const x = layout.xaxis.l2p(layout.xaxis._categories.indexOf(predicted)) + layout.xaxis._offset;
  const y = layout.yaxis.l2p(layout.yaxis._categories.indexOf(actual)) + layout.yaxis._offset;
  return {x: box.left + x, y: box.top + y};
}"""


HEATMAP_READY_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .some(g => g._fullLayout && g.data && g.data[0].type === 'heatmap')"""
# Streamlit shows a running icon in its status widget while a script run is in progress.
IDLE_JS = """() => !document.querySelector(
  '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]')"""


# True once no script run has shown the running icon for `quiet` ms in a row (window.__busyAt: the last
# time one did, or when the wait began).
QUIET_JS = (
    "(quiet) => { const now = performance.now(); const idle = (" + IDLE_JS + ")();"
    " if (!idle || window.__busyAt === undefined) { window.__busyAt = now; return false; }"
    " return now - window.__busyAt >= quiet; }"
)


def _wait_quiet(page, quiet_s: float = 2.0, timeout_s: float = 90.0) -> None:
    """Until no script run has shown Streamlit's running icon for `quiet_s` seconds in a row, from now."""
    page.evaluate("() => { window.__busyAt = undefined; }")
    page.wait_for_function(QUIET_JS, arg=quiet_s * 1000, polling=100, timeout=timeout_s * 1000)


@pytest.fixture(scope="module")
def trained_app(tmp_path_factory):
    """The app serving a home that already holds one finished binary run."""
    home = tmp_path_factory.mktemp("e2e_evaluate")
    store, run_id = train_small_run(home / "runs", make_binary_frame(240), source_name="b.csv")
    with running_app(home, LAYERLAB_MAX_JOBS="1") as url:
        yield url, store, run_id


def test_clicking_a_cell_lists_its_test_rows(page, trained_app):
    url, store, run_id = trained_app
    predictions = store.predictions(run_id)
    page.goto(f"{url}/evaluate?run={run_id}")
    page.get_by_text("Click a cell").wait_for()
    for actual, predicted in (("yes", "no"), ("no", "yes")):
        count = int(((predictions["actual"] == actual) & (predictions["predicted"] == predicted)).sum())
        rows = "test row is" if count == 1 else "test rows are"
        sentence = page.get_by_text(f"{rows} actually {actual} and predicted {predicted}")
        # A click that lands on a chart a rerun is replacing is lost; then aim again, as a user would click
        # again. But a click that did register is never repeated: a second click on the same cell clears
        # the selection. So a click counts as lost only when, long after it, the app has been quiet for a
        # while (Streamlit shows its running icon only once a run has lasted a moment) and no rows show.
        for _attempt in range(3):
            _wait_quiet(page)  # not while a rerun is replacing the page
            page.wait_for_function(HEATMAP_READY_JS, timeout=120_000)
            centre = page.evaluate(CELL_CENTRE_JS, [actual, predicted])
            page.mouse.click(centre["x"], centre["y"])
            try:
                sentence.wait_for(timeout=60_000)
                break
            except PlaywrightTimeoutError:
                _wait_quiet(page)
                if sentence.is_visible():
                    break
        _wait_quiet(page)  # the rows' rerun has finished: nothing replaces the sentence while it is read
        assert sentence.inner_text().startswith(f"{count} {rows}")
