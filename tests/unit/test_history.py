"""Issue 17: the run history (sort, filter, rename, note, star, delete) and the comparison of runs, on run
folders written as a finished run leaves them (no training: these tests read runs, they do not make them)."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from core.errors import RunNotFoundError
from core.experiments.compare import CompareError, compare, spec_differences
from core.experiments.history import AnnotationError, annotate, filter_rows, history, sort_rows
from core.i18n import use_language
from core.run_store import RunFiles, RunStore, to_parquet
from core.spec import DataSpec, DenseLayer, DropoutLayer, ModelSpec, RunSpec, TrainingSpec
from tests.conftest import make_binary_frame


def fake_run(store: RunStore, *, layers=None, learning_rate=0.001, accuracy=0.8,
             hits=(0.9, 0.7), source="bank.csv", task="binary", owner=None, epochs=4) -> str:  # fmt: skip
    """A run folder as a finished run leaves it: spec, status with test metrics, history and predictions."""
    spec = RunSpec(
        data=DataSpec(target="label", task=task),
        model=ModelSpec(layers=tuple(layers or (DenseLayer(units=64),))),
        training=TrainingSpec(learning_rate=learning_rate),
    )
    run_id = store.create_run(spec, make_binary_frame(40), source_name=source, owner=owner)
    files = store.files(run_id)
    files.write_history(
        [{"epoch": e, "loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1) + learning_rate} for e in range(epochs)]
    )
    rows = []
    for label, share in zip(("no", "yes"), hits, strict=True):
        right = round(share * 10)
        rows += [(label, label)] * right + [(label, "yes" if label == "no" else "no")] * (10 - right)
    predictions = pd.DataFrame(rows, columns=["actual", "predicted"])
    files.write_bytes(RunFiles.PREDICTIONS, to_parquet(predictions)[0])
    files.write_json(RunFiles.METRICS, {"task": task})
    started = time.time() - 30
    store.set_status(run_id, "finished", "done", started_at=started, finished_at=started + 12.5,
                     metrics={"accuracy": accuracy, "f1": accuracy - 0.05, "roc_auc": None})  # fmt: skip
    return run_id


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def test_history_lists_what_a_user_needs_to_tell_runs_apart(store):
    first = fake_run(store, accuracy=0.81)
    second = fake_run(store, layers=(DenseLayer(units=128), DropoutLayer(rate=0.3), DenseLayer(units=32)),
                      accuracy=0.86, source="other.csv")  # fmt: skip
    rows = history(store)
    assert [row.run_id for row in rows] == [second, first]  # newest first
    newest = rows[0]
    assert newest.source_name == "other.csv" and newest.task == "binary" and newest.state == "finished"
    assert newest.model == "Dense 128 → Dropout 0.3 → Dense 32"
    assert (newest.metric_name, newest.metric) == ("accuracy", 0.86)
    assert newest.duration_s == pytest.approx(12.5)


def test_sort_filter_rename_note_star_and_delete(store):
    low = fake_run(store, accuracy=0.70, source="a.csv")
    high = fake_run(store, accuracy=0.90, source="b.csv")
    middle = fake_run(store, accuracy=0.80, source="c.csv")
    assert [r.run_id for r in sort_rows(history(store), "best")] == [high, middle, low]
    assert [r.run_id for r in sort_rows(history(store), "oldest")] == [low, high, middle]

    annotate(store, low, name="  baseline   run ", note="first try, default settings", starred=True)
    rows = history(store)
    starred = next(r for r in rows if r.run_id == low)
    assert (starred.name, starred.note, starred.starred) == ("baseline run", "first try, default settings", True)
    assert sort_rows(rows, "best")[0].run_id == low  # starred runs lead, then the best
    assert [r.run_id for r in filter_rows(rows, text="DEFAULT")] == [low]
    assert [r.run_id for r in filter_rows(rows, text="c.csv")] == [middle]
    assert [r.run_id for r in filter_rows(rows, starred_only=True)] == [low]
    assert filter_rows(rows, states={"failed"}) == []
    with pytest.raises(AnnotationError, match="at most 80"):
        annotate(store, high, name="x" * 81)

    store.delete_run(middle)
    assert {r.run_id for r in history(store)} == {low, high}


def test_another_owners_runs_are_not_listed_annotated_or_compared(tmp_path):
    root = tmp_path / "runs"
    mine = RunStore(root, owner="alice")
    theirs = RunStore(root, owner="bob")
    a = fake_run(mine, owner="alice")
    b = fake_run(theirs, owner="bob")
    assert [r.run_id for r in history(mine)] == [a]
    with pytest.raises(RunNotFoundError):
        annotate(mine, b, name="mine now")
    with pytest.raises(RunNotFoundError):
        compare(mine, [a, b])
    assert history(theirs)[0].name == ""


def test_a_thousand_runs_list_from_the_index_without_reading_run_files(store, monkeypatch):
    run_id = fake_run(store)
    folder = store.path(run_id)
    for index in range(999):
        copy = folder.parent / f"{index:06d}{run_id[6:]}"
        copy.mkdir()
        for name in (RunFiles.SPEC, RunFiles.META, RunFiles.STATUS):
            (copy / name).write_bytes((folder / name).read_bytes())
    assert len(history(store)) == 1000  # builds the index
    reads = []
    original = RunFiles.read_json
    monkeypatch.setattr(
        RunFiles, "read_json", lambda self, name, default=None: reads.append(name) or original(self, name, default)
    )
    rows = history(store)
    assert len(rows) == 1000 and reads == []  # every row came from the index
    assert all(row.model == "Dense 64" for row in rows)


def test_compare_marks_the_best_and_says_what_differs_in_words(store):
    reference = fake_run(store, accuracy=0.80, hits=(0.9, 0.7))
    better = fake_run(store, layers=(DenseLayer(units=64), DenseLayer(units=32)), learning_rate=0.01,
                      accuracy=0.85, hits=(0.9, 0.8))  # fmt: skip
    result = compare(store, [reference, better])
    assert result.best["accuracy"] == better
    assert result.metrics.loc["accuracy", reference] == 0.80
    assert "roc_auc" not in result.metrics.index  # undefined for both: not a row of blanks
    assert result.differences[better] == ["+1 Dense layer (Dense 32)", "learning rate: 0.001 → 0.01"]
    assert list(result.per_class.index) == ["no", "yes"]
    assert result.per_class.loc["yes", better] == pytest.approx(0.8)
    assert len(result.curves[better]) == 4
    with use_language("zh"):
        assert compare(store, [reference, better]).differences[better] == [
            "+1 个 Dense 层（Dense 32）",
            "学习率：0.001 → 0.01",
        ]


def test_compare_takes_two_to_five_runs(store):
    runs = [fake_run(store) for _ in range(6)]
    for picked in (runs[:1], runs):
        with pytest.raises(CompareError, match="between 2 and 5"):
            compare(store, picked)
    assert compare(store, runs[:2]).differences[runs[1]] == []


def test_spec_differences_name_changed_layers_removed_layers_and_other_settings():
    def spec(layers, **training):
        return RunSpec(data=DataSpec(target="y"), model=ModelSpec(layers=tuple(layers)),
                       training=TrainingSpec(**training)).model_dump(mode="json")  # fmt: skip

    before = spec([DenseLayer(units=64), DropoutLayer(rate=0.2), DenseLayer(units=16)], batch_size=32)
    after = spec([DenseLayer(units=128), DenseLayer(units=16)], batch_size=64, optimizer="sgd", early_stopping=False)
    assert spec_differences(before, after) == [
        "layer 1: Dense 64 → Dense 128",
        "−1 Dropout layer (Dropout 0.2)",
        "batch size: 32 → 64",
        "early stopping: on → off",
        "optimizer: adam → sgd",
    ]
