"""Every page explains itself: a what-next line under the title, help on every metric, short text outside
expanders (issue 13, item 15). Walked with a loaded sample and a finished tiny run."""

from streamlit.testing.v1 import AppTest

from core.explanations import NEXT_STEPS
from tests.app.test_pages import PAGES, load_sample, new_app, wait_for_run
from ui.components import NEXT_STEP_ICON

MAX_CHARS = 300
WITH_NEXT_STEP = [page for page in PAGES if page != "pages/evaluate.py"]  # Evaluate opens with its own line


def _walk(node, inside_expander=False):
    """Every element of the main area in page order, with whether it sits inside an expander."""
    for child in getattr(node, "children", {}).values():
        folded = inside_expander or getattr(child, "type", "") == "expander"
        if hasattr(child, "children"):
            yield from _walk(child, folded)
        else:
            yield child, folded


def _line_after_title(at: AppTest) -> str:
    elements = [element for element, _ in _walk(at.main)]
    title = next(i for i, e in enumerate(elements) if e.type == "title")
    following = elements[title + 1]
    assert following.type == "markdown", f"{following.type} follows the title"
    return str(following.value)


def test_every_page_says_what_next_explains_its_metrics_and_keeps_text_short(app_env):
    at = new_app()
    load_sample(at, "Wine cultivars")
    at.switch_page("pages/train.py").run()
    at.number_input(key="train.epochs").set_value(2)
    at.button(key="train.start").click().run()
    assert not at.exception, at.exception
    assert wait_for_run(at) == "finished"

    lines = {text for situations in NEXT_STEPS.values() for text in situations.values()}
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        for metric in at.metric:
            assert metric.proto.help.strip(), (page, metric.label)
        for element, folded in _walk(at.main):
            if element.type in {"markdown", "caption"} and not folded:
                assert len(str(element.value)) <= MAX_CHARS, (page, element.value)
        if page in WITH_NEXT_STEP:
            line = _line_after_title(at)
            assert line.startswith(NEXT_STEP_ICON) and line.removeprefix(NEXT_STEP_ICON).strip() in lines, (page, line)
    at.switch_page("pages/train.py").run()
    assert _line_after_title(at).endswith(NEXT_STEPS["train"]["finished"])
    at.switch_page("pages/predict.py").run()
    assert _line_after_title(at).endswith(NEXT_STEPS["predict"]["ready"])


def test_the_what_next_line_follows_the_state(app_env, monkeypatch):
    monkeypatch.setenv("LAYERLAB_SHARED", "1")  # a new visitor: no runs of their own yet
    at = new_app()
    at.switch_page("pages/download.py").run()
    assert _line_after_title(at).endswith(NEXT_STEPS["download"]["no_run"])
    at.switch_page("pages/data.py").run()
    assert _line_after_title(at).endswith(NEXT_STEPS["data"]["ready"])  # the app opens on a sample
    at.switch_page("pages/train.py").run()
    assert _line_after_title(at).endswith(NEXT_STEPS["train"]["ready"])
