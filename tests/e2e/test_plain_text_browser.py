"""In Chromium, a table whose names are Markdown links, images and HTML shows them as text, not as elements."""

import pandas as pd
import pytest

from core.plain_text import WORD_JOINER
from tests.e2e.conftest import running_app

pytestmark = pytest.mark.e2e

LINK = "[click](http://evil.example)"


def test_hostile_names_render_as_text_not_links_or_images(page, tmp_path):
    rows = 60
    frame = pd.DataFrame(
        {
            LINK: [float(i % 7) for i in range(rows)],
            "<img src=http://evil.example/h.png>": [["a", "b"][i % 2] for i in range(rows)],
            "![x](http://evil.example/i.png)": [["<b>yes</b>", "www.evil.example"][i % 3 == 0] for i in range(rows)],
        }
    )
    data_path = tmp_path / "[f](http:__evil.example).csv"
    frame.to_csv(data_path, index=False)
    home = tmp_path / "home"
    home.mkdir()
    with running_app(home) as url:
        page.goto(url)
        page.get_by_text("Upload a file").click()
        page.locator("input[type=file]").set_input_files(str(data_path))
        page.get_by_text("What to predict").wait_for()
        # The default sample's page also says "What to predict": wait until the uploaded table's columns show.
        page.wait_for_function(
            "([link, joiner]) => document.body.innerText.replaceAll(joiner, '').includes(link)",
            arg=[LINK, WORD_JOINER],
            timeout=120_000,
        )
        page.get_by_text("Profile", exact=True).first.wait_for()  # a rerun may briefly show two
        page.wait_for_timeout(1500)  # the profile's charts and captions settle
        assert page.locator('a[href*="evil.example"]').count() == 0
        assert page.locator('img[src*="evil.example"]').count() == 0
        # The word joiner that stops Streamlit's autolinks is invisible; the text reads as typed.
        body = page.inner_text("body").replace(WORD_JOINER, "")
        assert LINK in body
        assert "![x](http://evil.example/i.png)" in body
