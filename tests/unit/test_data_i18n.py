"""The Data and Prepare area in Chinese: quality findings, their fixes, and `layerlab --lang zh profile`
(catalog domain "data", core/locale/*/LC_MESSAGES/data.po)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from core import i18n
from core.cli import main
from core.data.quality import assess_quality, make_fix
from core.i18n import set_language, use_language

REPO_ROOT = Path(__file__).resolve().parents[2]
CHINESE = re.compile(r"[\u4e00-\u9fff]")
# English words of sentences (not column names, ids or numbers) that must not show in Chinese text.
ENGLISH_SENTENCE = re.compile(r"\b(the|rows?|column|values?|which|would|training)\b", re.IGNORECASE)


def _messy_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    label = rng.choice(["yes", "no"], n)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "constant": ["same"] * n,
            "answer_copy": label,
            "price": [str(v) for v in rng.integers(1, 100, n)],
            "label": label,
        }
    )


def test_findings_and_fixes_are_written_in_chinese():
    frame = _messy_table()
    with use_language("en"):
        english = assess_quality(frame, target="label")
    with use_language("zh"):
        chinese = assess_quality(frame, target="label")
    assert [f.kind for f in english] == [f.kind for f in chinese]
    assert len(chinese) >= 3
    for finding in chinese:
        assert CHINESE.search(finding.message), finding.message
        assert not ENGLISH_SENTENCE.search(finding.message.replace(finding.column or "", "")), finding.message
        for fix in finding.fixes:
            assert CHINESE.search(fix.label), fix.label
    with use_language("zh"):
        assert make_fix("drop_duplicates").label == "删除重复行"
        assert make_fix("ignore_column", "age").label == "忽略列“age”"


def test_layerlab_profile_in_chinese_prints_chinese_findings(capsys, monkeypatch):
    monkeypatch.delenv(i18n.LANGUAGE_ENV, raising=False)
    try:
        code = main(["--lang", "zh", "profile", str(REPO_ROOT / "sample_data" / "adult.csv"), "--target", "income"])
    finally:
        set_language("en")
        monkeypatch.delenv(i18n.LANGUAGE_ENV, raising=False)
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    findings = result["findings"]
    assert findings, result.keys()
    for finding in findings:
        assert set(finding) >= {"kind", "severity", "message", "fix"}  # keys and kinds stay English
        assert re.fullmatch(r"[a-z_]+", finding["kind"])
        assert CHINESE.search(finding["message"]), finding["message"]
        assert "rows" not in finding["message"]
        if finding["fix"]:
            assert CHINESE.search(finding["fix"]["label"]), finding["fix"]
