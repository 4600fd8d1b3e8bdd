"""An error a user caused in a run reads in the language of whoever opens the run, not the one it was made in."""

from __future__ import annotations

import json
import pickle

import pandas as pd

from core.errors import DataError
from core.failures import Failure, user_error
from core.i18n import Text, t, use_language
from core.run_store import RunStore
from core.spec import DataSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job


def test_a_catalog_sentence_remembers_its_id_and_survives_pickle_and_json():
    with use_language("en"):
        text = t("data.split.target_not_numeric", column="'价格'")
    assert isinstance(text, Text) and text.ref.id == "data.split.target_not_numeric"
    again = pickle.loads(pickle.dumps(text))
    assert again == text and again.ref == text.ref
    assert json.loads(json.dumps({"m": text})) == {"m": str(text)}
    assert type(text + "!") is str  # anything built from it is plain text again


def test_a_user_error_made_in_english_reads_in_chinese():
    with use_language("en"):
        failure = user_error(DataError(t("data.split.target_not_numeric", column="'价格'")).message)
    stored = Failure.from_dict(json.loads(json.dumps(failure.to_dict())))
    with use_language("en"):
        english = stored.sentence()
    with use_language("zh"):
        chinese = stored.sentence()
    assert "'价格'" in english and "'价格'" in chinese and english != chinese
    assert any("\u4e00" <= char <= "\u9fff" for char in chinese.replace("价格", ""))


def test_plain_text_errors_are_kept_as_they_are():
    assert user_error("Something odd.").sentence() == "Something odd."


def test_a_run_that_failed_on_its_data_reads_in_the_other_language(tmp_path):
    frame = pd.DataFrame({"x": range(40), "y": ["a"] * 40})  # one class only: the run cannot train
    store = RunStore(tmp_path / "runs")
    with use_language("en"):
        run_id = store.create_run(
            RunSpec(data=DataSpec(target="y"), training=TrainingSpec(epochs=1)), frame, source_name="t.csv"
        )
        assert run_job(store, run_id).state == "failed"
        english = store.status(run_id).sentence()
    with use_language("zh"):
        chinese = store.status(run_id).sentence()
    assert english != chinese
    assert any("\u4e00" <= char <= "\u9fff" for char in chinese)
