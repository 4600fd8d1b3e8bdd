"""Hostile column names, file name and class values reach every page as plain text (AppTest)."""

import re

import pandas as pd
from streamlit.testing.v1 import AppTest

from core.plain_text import BIDI_CONTROLS
from tests.app.test_pages import APP, RUN_TIMEOUT_S, wait_for_run

LINK = "[click](http://evil.example)"
IMAGE = "![x](http://evil.example/i.png)"
HTML = "<img src=x onerror=alert(1)>"
UNESCAPED_LINK = re.compile(r"(?<!\\)\]\(http")
FILE_NAME = "[f](http://evil.example)\u202eorders.csv"


def hostile_frame() -> pd.DataFrame:
    rows = 120
    return pd.DataFrame(
        {
            LINK: [float(i % 17) for i in range(rows)],
            HTML + "\u202e": [["a", "b", "**c**"][i % 3] for i in range(rows)],
            "**bold** :red[x] $y$": [float(i % 5) for i in range(rows)],
            IMAGE: [[LINK, "<b>no</b>"][(i * 7 % 17) > 8] for i in range(rows)],
        }
    )


def shown_markdown(at: AppTest) -> list[str]:
    """Every Markdown body on the page: texts, alerts, captions, headings, metric and widget labels."""
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption] + [e.value for e in at.subheader]
    for alerts in (at.info, at.error, at.success, at.warning):
        parts += [e.value for e in alerts]
    parts += [m.label for m in at.metric] + [m.value for m in at.metric]
    parts += [w.label for w in [*at.selectbox, *at.multiselect, *at.slider, *at.button, *at.radio]]
    return [str(part) for part in parts]


def assert_plain(at: AppTest) -> None:
    assert not at.exception, at.exception
    for part in shown_markdown(at):
        assert not UNESCAPED_LINK.search(part), part
        assert "![" not in part, part
        assert "<img" not in part and "<b>" not in part, part
        assert not set(part) & BIDI_CONTROLS, part


def test_hostile_names_stay_plain_text_from_data_to_evaluate(app_env):
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    at.run()
    at.radio(key="data.source").set_value("Upload a file").run()
    csv = hostile_frame().to_csv(index=False).encode()
    at.file_uploader(key="data.upload").set_value((FILE_NAME, csv, "text/csv"))
    at.run()
    assert_plain(at)
    assert at.metric[0].value == "120"
    # The target is the last column, whose classes are themselves a link and an HTML tag.
    assert "Predict **!\\[x\\](http" in "\n".join(e.value for e in at.success)
    assert any("evil.example" in part for part in shown_markdown(at))  # shown, as text

    for page in ("pages/prepare.py", "pages/model.py"):
        at.switch_page(page).run()
        assert_plain(at)

    at.switch_page("pages/train.py").run()
    at.number_input(key="train.epochs").set_value(2)
    at.toggle(key="train.early_stopping").set_value(False)
    at.button(key="train.start").click().run()
    assert_plain(at)
    assert wait_for_run(at) == "finished"
    assert_plain(at)

    at.switch_page("pages/evaluate.py").run()
    assert_plain(at)
    assert any(m.label.startswith("Recall of '") for m in at.metric)
