"""In Chromium, the language follows the browser's locale (zh-CN → Chinese, en-US → English) on every page, and
the sidebar's picker switches it without losing the loaded table or the run on show."""

import re
from urllib.parse import parse_qs, urlparse

import pytest

from core.i18n import t, use_language
from tests.conftest import make_binary_frame, train_small_run
from tests.e2e.conftest import running_app

pytestmark = pytest.mark.e2e

NAV = {
    "zh": ["数据", "准备", "模型", "训练", "评估", "预测", "下载", "搜索", "运行记录"],
    "en": ["Data", "Prepare", "Model", "Train", "Evaluate", "Predict", "Download", "Search", "Runs"],
}
DATA, PREPARE, MODEL, TRAIN, EVALUATE, PREDICT, DOWNLOAD = range(7)
CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]")

# English labels that must not show on the Chinese pages (each is on the English page in the same state).
ENGLISH_SIDEBAR = ["Upload a table", "Language · 语言", *NAV["en"]]
ENGLISH_BEFORE_A_RUN = {
    DATA: ["Upload a file", "Load sample", "What to predict", "Target column", "Profile"],
    PREPARE: ["Columns", "Splits", "Validation fraction", "Test fraction", "Next: build the model"],
    MODEL: ["Hidden layers", "Add a layer", "Summary", "Parameters", "Measure speed"],
    TRAIN: ["Training settings", "Optimizer", "Epochs", "Train", "No runs yet"],
    EVALUATE: ["No finished run yet", "Go to Train"],
    PREDICT: ["A run trained here", "No finished run yet", "Go to Train"],
    DOWNLOAD: ["No finished run yet", "Go to Train"],
}
ENGLISH_AFTER_A_RUN = {
    TRAIN: ["Finished all", "Done.", "More epochs", "Continue training", "All runs", "Stop", "Train"],
    EVALUATE: ["Accuracy", "Confusion matrix", "Which columns matter", "Training curves", "Test predictions"],
    PREDICT: ["Type in one row", "Needed columns", "Rows to predict"],
    DOWNLOAD: ["Other formats", "Model card", "Show code", "Use it in Python"],
}

# Streamlit shows a running icon in its status widget while a script run is in progress (as in
# test_evaluate_click.py): wait until none has shown for a while before reading the page.
IDLE_JS = """() => !document.querySelector(
  '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]')"""
QUIET_JS = (
    "(quiet) => { const now = performance.now(); const idle = (" + IDLE_JS + ")();"
    " if (!idle || window.__busyAt === undefined) { window.__busyAt = now; return false; }"
    " return now - window.__busyAt >= quiet; }"
)


def _wait_quiet(page, quiet_s: float = 1.0, timeout_s: float = 120.0) -> None:
    page.evaluate("() => { window.__busyAt = undefined; }")
    page.wait_for_function(QUIET_JS, arg=quiet_s * 1000, polling=100, timeout=timeout_s * 1000)


def _nav_labels(page) -> list[str]:
    links = page.locator('[data-testid="stSidebarNav"] a')
    return [text.strip().splitlines()[-1].strip() for text in links.all_inner_texts()]


def _go(page, index: int) -> None:
    page.locator('[data-testid="stSidebarNav"] a').nth(index).click()
    _wait_quiet(page)


def _main(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def _shown(label: str, text: str) -> bool:
    """`label` appears in `text` as whole words (so "Train" is not found in "model_training")."""
    return re.search(rf"(?<![A-Za-z_]){re.escape(label)}(?![A-Za-z_])", text) is not None


def _assert_chinese_page(page, index: int, english: dict[int, list[str]]) -> None:
    title = NAV["zh"][index]
    page.get_by_role("heading", name=title, exact=True).first.wait_for()
    assert _nav_labels(page) == NAV["zh"]
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "上传表格" in sidebar, sidebar  # app.py's caption
    left = [label for label in ENGLISH_SIDEBAR if _shown(label, sidebar)]
    assert not left, f"English in the sidebar of {title}: {left}"
    main = _main(page)
    assert main.lstrip().startswith(title), main[:200]
    left = [label for label in english.get(index, []) if _shown(label, main)]
    assert not left, f"English on the Chinese {title} page: {left}\n{main[:3000]}"


def _pick_language(page, name: str) -> None:
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=name, exact=True).click()
    _wait_quiet(page)


def _run_id(page) -> str | None:
    return (parse_qs(urlparse(page.url).query).get("run") or [None])[0]


def _finished_sentence(language: str, epochs: int) -> str:
    """The start of a run's status once it has trained all its epochs (without a "kept the best…" tail)."""
    with use_language(language):
        return t("train.final.finished", continued="", epochs=epochs, best="").strip()


def test_english_browser_gets_english_pages(browser, app_url):
    """Runs first, before the Chinese test below has trained a run in this app."""
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(app_url)
        page.locator('[data-testid="stSidebarNav"]').wait_for()
        _wait_quiet(page)
        for index, title in enumerate(NAV["en"]):
            _go(page, index)
            page.get_by_role("heading", name=title, exact=True).first.wait_for()
            assert _nav_labels(page) == NAV["en"]
            main = _main(page)
            assert not CJK.search(main), f"Chinese on the English {title} page: {CJK.findall(main)[:20]}"
        assert "Upload a table" in page.locator('[data-testid="stSidebar"]').inner_text()
    finally:
        context.close()


@pytest.fixture
def zh_page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)  # hang guards, not speed bounds
    yield page
    context.close()


def test_chinese_browser_gets_chinese_pages_and_the_picker_switches_without_losing_the_run(zh_page, app_url):
    page = zh_page
    sent = []
    page.on("request", lambda request: sent.append(request.headers.get("accept-language")))
    page.goto(app_url)
    page.locator('[data-testid="stSidebarNav"]').wait_for()
    _wait_quiet(page)
    # Chromium sends the context's locale, and the page's navigator.language (Streamlit's st.context.locale) is it.
    assert sent and sent[0].startswith("zh-CN"), sent[:3]
    assert page.evaluate("navigator.language") == "zh-CN"

    for index in range(len(NAV["zh"])):
        _go(page, index)
        _assert_chinese_page(page, index, ENGLISH_BEFORE_A_RUN)

    # Load the small wine sample and check its target.
    _go(page, DATA)
    page.locator('[data-testid="stSelectbox"]').filter(has_text="示例").click()
    page.get_by_role("option", name="葡萄酒品种", exact=True).click()
    _wait_quiet(page)
    page.get_by_role("button", name="加载示例").click()
    _wait_quiet(page)
    page.get_by_text("wine.csv").first.wait_for()
    # Choose the target (the sample suggests it already; pick it as a visitor would).
    page.locator('[data-testid="stSelectbox"]').filter(has_text="目标列").click()
    page.keyboard.type("cultivar")  # the list shows only its first options; typing filters it
    page.get_by_role("option", name="cultivar", exact=True).click()
    _wait_quiet(page)
    page.get_by_text("用 13 列来预测 cultivar").wait_for()
    page.get_by_text("目标列：cultivar").wait_for()

    # A short run: 3 epochs of a few hundred rows.
    _go(page, TRAIN)
    epochs = page.get_by_label("轮数", exact=True)  # the settings are open while no run exists
    epochs.fill("3")
    epochs.press("Enter")
    _wait_quiet(page)
    page.get_by_role("button", name="开始训练").click()
    with use_language("zh"):
        page.get_by_text(t("train.live.done")).wait_for(timeout=600_000)
    _wait_quiet(page)
    run_id = _run_id(page)
    assert run_id, page.url
    zh_status, en_status = _finished_sentence("zh", 3), _finished_sentence("en", 3)
    assert CJK.search(zh_status), zh_status
    page.get_by_text(zh_status).first.wait_for()
    _assert_chinese_page(page, TRAIN, ENGLISH_AFTER_A_RUN)
    for index in (EVALUATE, PREDICT, DOWNLOAD):
        _go(page, index)
        _assert_chinese_page(page, index, ENGLISH_AFTER_A_RUN)

    # Switch to English on the Train page: the same run, its status now in English.
    _go(page, TRAIN)
    _pick_language(page, "English")
    page.get_by_role("heading", name="Train", exact=True).first.wait_for()
    assert _nav_labels(page) == NAV["en"]
    page.get_by_text(en_status).first.wait_for()
    assert _run_id(page) == run_id
    main = _main(page)
    assert zh_status not in main
    assert "Training settings" in main and "训练设置" not in main
    # …and the same table on the Data page.
    _go(page, DATA)
    page.get_by_role("heading", name="Data", exact=True).first.wait_for()
    page.get_by_text("wine.csv").first.wait_for()
    page.get_by_text("Predict cultivar (multiclass) from 13 column(s).").wait_for()
    page.get_by_text("Target: cultivar").wait_for()
    assert _run_id(page) == run_id

    # Back to Chinese: the run's status reads Chinese again.
    _go(page, TRAIN)
    _pick_language(page, "中文")
    page.get_by_text(zh_status).first.wait_for()
    assert _run_id(page) == run_id
    assert en_status not in _main(page)
    _assert_chinese_page(page, TRAIN, ENGLISH_AFTER_A_RUN)


def test_the_browsers_locale_wins_over_its_accept_language_header(browser, app_url):
    """st.context.locale (navigator.language) decides; the Accept-Language header is only its fallback."""
    context = browser.new_context(
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "en-US,en;q=0.9"},
        viewport={"width": 1400, "height": 1000},
    )
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(app_url)
        page.get_by_role("heading", name="数据", exact=True).first.wait_for()
        assert _nav_labels(page) == NAV["zh"]
    finally:
        context.close()


def test_a_run_trained_in_chinese_reads_english_on_evaluate(browser, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with use_language("zh"):  # as a Chinese visitor's run is trained
        store, run_id = train_small_run(home / "runs", make_binary_frame(240), source_name="b.csv")
    assert store.metrics(run_id).get("baseline_summary")
    with running_app(home) as url:
        context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(120_000)
        try:
            page.goto(f"{url}/evaluate?run={run_id}")
            page.get_by_role("heading", name="Evaluate", exact=True).first.wait_for()
            page.get_by_text("Confusion matrix").first.wait_for()
            _wait_quiet(page)
            main = _main(page)
            assert not CJK.search(main), f"Chinese on the English Evaluate page: {CJK.findall(main)[:20]}"
        finally:
            context.close()


# Every chart's words: trace names, axis titles, annotations and titles.
CHART_WORDS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(p => [
  ...(p.data || []).map(d => d.name || ''),
  ...Object.keys(p.layout || {}).filter(k => /^[xy]axis/.test(k)).map(k => ((p.layout[k] || {}).title || {}).text || ''),
  ...((p.layout || {}).annotations || []).map(a => a.text || ''),
  ((p.layout || {}).title || {}).text || '',
]).join('\\n')"""


def test_switching_language_redraws_the_runs_charts(browser, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    store, run_id = train_small_run(home / "runs", make_binary_frame(240), source_name="b.csv")
    with running_app(home) as url:
        context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(120_000)
        try:
            page.goto(f"{url}/train?run={run_id}")
            page.get_by_role("heading", name="训练", exact=True).first.wait_for()
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2")
            _wait_quiet(page)
            assert CJK.search(page.evaluate(CHART_WORDS_JS))
            _pick_language(page, "English")
            page.get_by_role("heading", name="Train", exact=True).first.wait_for()
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2")
            _wait_quiet(page)
            words = page.evaluate(CHART_WORDS_JS)
            assert not CJK.search(words), f"Chinese left on the English Train page's charts: {words!r}"
        finally:
            context.close()
