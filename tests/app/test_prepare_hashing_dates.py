"""The Prepare page: hashing as a one-click fix for many categories, and the day/month order of text dates."""

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from tests.app.test_pages import APP, RUN_TIMEOUT_S
from tests.app.test_prepare_page import upload


def frame(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    days = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 12, rows), unit="D")
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "city": [f"town {i}" for i in rng.integers(0, 300, rows)],
            "when": days.strftime("%d/%m/%Y"),  # days 1..12 of January: day/month order undecided
            "label": rng.choice(["yes", "no"], rows),
        }
    )


def click(at: AppTest, *words: str) -> None:
    button = next(b for b in at.button if all(word in str(b.label) for word in words))
    button.click().run()
    assert not at.exception, at.exception


def test_hashing_fix_and_date_order_choice_reach_the_spec(app_env):
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
    upload(at, frame(), "towns.csv")
    at.session_state["layerlab"].target = "label"
    at.switch_page("pages/prepare.py").run()
    assert not at.exception, at.exception
    click(at, "Hash", "city")
    state = at.session_state["layerlab"]
    assert state.run_spec().preprocessing.column("city").encoding == "hashing"
    assert not any("'city' has" in w.value for w in at.warning)

    click(at, "Treat", "when", "date")
    notes = " ".join(box.value for box in at.info)
    assert "could be day/month or month/day" in notes
    click(at, "day first", "when")
    spec = at.session_state["layerlab"].run_spec()
    assert spec.preprocessing.column("when").dayfirst is True
    assert spec.preprocessing.column("when").kind == "datetime"
    assert "could be day/month" not in " ".join(box.value for box in at.info)
