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


def test_split_notes_are_stored_as_messages_and_read_in_either_language():
    import pickle

    import pytest

    from core.data.splitting import Note, note_text, prepare_data, stored_note
    from core.errors import DataError
    from core.spec import DataSpec, PreprocessingSpec

    frame = pd.DataFrame({"x": range(60), "label": ["a", "b"] * 29 + [None, None]})
    with use_language("en"):
        prepared = prepare_data(frame, DataSpec(target="label"), PreprocessingSpec())
    note = next(n for n in prepared.notes if "without a target value" in n)
    assert isinstance(note, Note) and note == "2 rows without a target value were left out."
    stored = json.loads(json.dumps(stored_note(note)))
    assert stored == {"id": "data.split.note_no_target", "params": {"count": 2}}
    with use_language("zh"):
        assert note_text(stored) == "跳过了 2 行没有目标值的行。"
        assert note_text("An old run's note.") == "An old run's note."
        with pytest.raises(DataError, match="目标列 'missing' 不在表格中"):
            prepare_data(frame, DataSpec(target="missing"), PreprocessingSpec())
    assert pickle.loads(pickle.dumps(note)) == note and pickle.loads(pickle.dumps(note)).message == note.message
    assert stored_note("plain") == "plain"


def test_profile_explanations_and_samples_in_chinese():
    from core.data.profiling import association_explanation, infer_task
    from core.data.samples import SAMPLES
    from core.errors import DataError
    from core.explanations import CHART_HELP, METRIC_HELP, NEXT_STEPS, next_step
    from ui.preprocessing_editor import _dayfirst, date_orders

    with use_language("zh"):
        assert next_step("prepare", "no_table") == "请先在“数据”页面加载一个表格。"
        assert all(CHINESE.search(text) for text in [*METRIC_HELP.values(), *CHART_HELP.values()])
        assert all(CHINESE.search(text) for steps in NEXT_STEPS.values() for text in steps.values())
        assert CHINESE.search(association_explanation())
        assert SAMPLES["Wine cultivars"].title == "葡萄酒品种" and "多分类" in SAMPLES["Wine cultivars"].description
        try:
            infer_task(pd.Series(["same"] * 5, name="y"))
        except DataError as error:
            assert "目标列 'y' 只有一个值 'same'" in error.message
        assert date_orders()[True] == "日在前"
        assert _dayfirst("day first") is True and _dayfirst("月在前") is False and _dayfirst("auto") is None
    with use_language("en"):
        assert next_step("data", "start").startswith("Pick a sample")
