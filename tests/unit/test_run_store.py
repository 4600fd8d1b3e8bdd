"""Runs on disk: atomic files, unguessable ids, honest states, per-owner listings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from core.config import load_settings
from core.errors import AppError, RunNotFoundError
from core.run_store import HEARTBEAT_TIMEOUT_S, Progress, RunStore, read_json, write_atomic, write_json
from core.spec import DataSpec, RunSpec


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def _table() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"], "unused": [0, 0, 0], "y": ["p", "q", "p"]})


def _create(store: RunStore, *, owner: str | None = None, features: tuple[str, ...] = ()) -> str:
    spec = RunSpec(data=DataSpec(target="y", features=features))
    return store.create_run(spec, _table(), source_name="table.csv", owner=owner)


def _set_created_at(store: RunStore, run_id: str, created_at: float) -> None:
    meta = store.meta(run_id)
    meta["created_at"] = created_at
    write_json(store.path(run_id) / "meta.json", meta)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _temporary_files(folder) -> list:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]


def test_atomic_write_leaves_only_the_target_file(tmp_path):
    target = tmp_path / "deep" / "folder" / "file.json"
    for round_number in range(5):
        write_atomic(target, f"version {round_number}")
    assert target.read_text() == "version 4"
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


def test_failed_atomic_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "status.json"
    write_json(target, {"state": "finished"})
    with pytest.raises(TypeError):
        write_json(target, {"bad": object()})
    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # type: ignore[arg-type]
    assert read_json(target) == {"state": "finished"}
    assert _temporary_files(tmp_path) == []


def test_write_json_accepts_numpy_numbers(tmp_path):
    write_json(tmp_path / "m.json", {"accuracy": np.float32(0.5), "count": np.int64(3)})
    assert read_json(tmp_path / "m.json") == {"accuracy": 0.5, "count": 3}


def test_read_json_default_for_a_missing_file(tmp_path):
    assert read_json(tmp_path / "nothing.json", {"empty": True}) == {"empty": True}


def test_run_ids_are_24_hex_characters_and_differ(store):
    ids = {_create(store) for _ in range(5)}
    assert len(ids) == 5
    for run_id in ids:
        assert len(run_id) == 24
        int(run_id, 16)
        assert run_id == run_id.lower()


def test_a_new_run_holds_the_spec_only_the_used_columns_and_its_meta(store):
    run_id = _create(store, owner="alice", features=("a", "b"))
    run_dir = store.path(run_id)
    assert store.spec(run_id) == RunSpec(data=DataSpec(target="y", features=("a", "b")))
    table = store.table(run_id)
    assert list(table.columns) == ["a", "b", "y"]
    assert table["b"].tolist() == ["x", "y", "z"]
    meta = store.meta(run_id)
    assert meta["owner"] == "alice"
    assert meta["num_rows"] == 3
    assert meta["source_name"] == "table.csv"
    assert store.status(run_id).state == "created"
    assert _temporary_files(run_dir) == []


def test_a_run_without_features_keeps_every_column(store):
    run_id = _create(store)
    assert list(store.table(run_id).columns) == ["a", "b", "unused", "y"]


def test_mixed_type_text_columns_survive_storage(store):
    table = pd.DataFrame({"mixed": pd.Series([1, "two", None, 3.5], dtype=object), "y": ["a", "b", "a", "b"]})
    run_id = store.create_run(RunSpec(data=DataSpec(target="y")), table, source_name="mixed.csv")
    assert store.table(run_id)["mixed"].tolist()[:2] == ["1", "two"]


@pytest.mark.parametrize("bad", ["../etc", "..", "", "ABCDEF0123456789abcdef01", "0" * 23, "0" * 25, "g" * 24])
def test_path_rejects_ids_that_are_not_run_ids(store, bad):
    with pytest.raises(RunNotFoundError) as caught:
        store.path(bad)
    assert "There is no run" in caught.value.message


def test_path_rejects_an_unknown_well_formed_id(store):
    with pytest.raises(RunNotFoundError):
        store.path("0123456789abcdef01234567")
    with pytest.raises(RunNotFoundError):
        store.status("0123456789abcdef01234567")


def test_a_dead_running_job_is_reported_failed_once_and_for_all(store):
    run_id = _create(store)
    store.set_status(run_id, "running", "Training…", pid=_dead_pid())
    stale = time.time() - HEARTBEAT_TIMEOUT_S - 60
    heartbeat = store.path(run_id) / "heartbeat"
    heartbeat.touch()
    os.utime(heartbeat, (stale, stale))
    status = store.status(run_id)
    assert status.state == "failed"
    assert "ended unexpectedly" in status.message
    assert "Start the run again" in status.message
    assert read_json(store.path(run_id) / "status.json")["state"] == "failed"
    assert store.record(run_id).is_active is False


def test_a_dead_pid_is_failed_a_few_seconds_after_its_last_heartbeat(store):
    run_id = _create(store)
    store.set_status(run_id, "running", "Training…", pid=_dead_pid())
    heartbeat = store.path(run_id) / "heartbeat"
    heartbeat.touch()
    assert store.status(run_id).state == "running"  # its job manager says why first, if it can
    os.utime(heartbeat, (time.time() - 4, time.time() - 4))
    assert store.status(run_id).state == "failed"


def test_a_silent_job_is_failed_even_if_its_pid_exists(store):
    run_id = _create(store)
    store.set_status(run_id, "running", "Training…", pid=os.getpid())
    stale = time.time() - HEARTBEAT_TIMEOUT_S - 5
    heartbeat = store.path(run_id) / "heartbeat"
    heartbeat.touch()
    os.utime(heartbeat, (stale, stale))
    assert store.status(run_id).state == "failed"


def test_a_live_job_with_a_fresh_heartbeat_stays_running(store):
    run_id = _create(store)
    store.set_status(run_id, "running", "Training…", pid=os.getpid())
    (store.path(run_id) / "heartbeat").touch()
    status = store.status(run_id)
    assert status.state == "running"
    assert status.message == "Training…"


def test_a_running_status_without_pid_is_not_running_forever(store):
    run_id = _create(store)
    store.set_status(run_id, "running", "Training…")
    assert store.status(run_id).state == "failed"


def test_a_missing_status_file_reads_as_failed(store):
    run_id = _create(store)
    (store.path(run_id) / "status.json").unlink()
    status = store.status(run_id)
    assert status.state == "failed"
    assert "missing" in status.message


def test_set_status_keeps_earlier_details(store):
    run_id = _create(store)
    store.set_status(run_id, "queued", "Waiting.", pid=123)
    store.set_status(run_id, "stopped", "Stopped.")
    status = store.status(run_id)
    assert status.pid == 123
    assert (status.state, status.message) == ("stopped", "Stopped.")


def test_shared_mode_lists_only_the_owners_runs(store):
    alice = {_create(store, owner="a"), _create(store, owner="a")}
    bob = {_create(store, owner="b")}
    nobody = {_create(store, owner=None)}
    assert {r.run_id for r in RunStore(store.root, owner="a").list_runs()} == alice
    assert {r.run_id for r in RunStore(store.root, owner="b").list_runs()} == bob
    assert {r.run_id for r in store.list_runs()} == alice | bob | nobody


def test_another_owners_run_is_not_found_for_every_access(store, tmp_path):
    """A run id is no key: every action by id on another session's run reads exactly like a missing run."""
    theirs = _create(store, owner="bob")
    mine = RunStore(store.root, owner="alice")
    missing = "0" * 24
    actions = {
        "path": lambda s, r: s.path(r),
        "spec": lambda s, r: s.spec(r),
        "meta": lambda s, r: s.meta(r),
        "status": lambda s, r: s.status(r),
        "record": lambda s, r: s.record(r),
        "progress": lambda s, r: s.progress(r),
        "history": lambda s, r: s.history(r),
        "metrics": lambda s, r: s.metrics(r),
        "predictions": lambda s, r: s.predictions(r),
        "table": lambda s, r: s.table(r),
        "model": lambda s, r: s.model_path(r),
        "stop": lambda s, r: s.request_stop(r),
        "set_status": lambda s, r: s.set_status(r, "failed", "x"),
        "delete": lambda s, r: s.delete_run(r),
    }
    for name, action in actions.items():
        with pytest.raises(RunNotFoundError) as other:
            action(mine, theirs)
        with pytest.raises(RunNotFoundError) as absent:
            action(mine, missing)
        assert str(other.value) == str(absent.value).replace(missing, theirs), name
    assert store.status(theirs).state == "created"  # nothing was written
    assert not (store.path(theirs) / "stop").exists()
    assert theirs not in {r.run_id for r in mine.list_runs()}


def test_a_run_references_a_stored_table_instead_of_copying_it(store, tmp_path):
    table = tmp_path / "table.parquet"
    _table().to_parquet(table, index=False)
    run_id = store.create_run(RunSpec(data=DataSpec(target="y", features=("a",))), table, source_name="t.csv")
    data = store.path(run_id) / "data.parquet"
    assert data.stat().st_ino == table.stat().st_ino  # one file on disk, two names
    assert list(store.table(run_id).columns) == ["a", "y"]
    assert store.meta(run_id)["num_rows"] == 3
    table.unlink()  # the table expires: the run keeps its rows
    assert len(store.table(run_id)) == 3


def test_delete_run_removes_it_but_refuses_an_active_one(store):
    run_id = _create(store)
    store.set_status(run_id, "queued")
    with pytest.raises(AppError, match="Stop it first"):
        store.delete_run(run_id)
    store.set_status(run_id, "stopped")
    store.delete_run(run_id)
    with pytest.raises(RunNotFoundError):
        store.path(run_id)
    assert [p.name for p in store.root.iterdir() if p.name not in {"index.jsonl", "index.lock"}] == []


def test_runs_are_listed_newest_first(store):
    run_ids = [_create(store) for _ in range(3)]
    for offset, run_id in zip((30.0, 10.0, 20.0), run_ids, strict=True):
        _set_created_at(store, run_id, 1_700_000_000.0 + offset)
    assert [r.run_id for r in store.list_runs()] == [run_ids[0], run_ids[2], run_ids[1]]


def test_listing_ignores_stray_folders(store):
    run_id = _create(store)
    (store.root / "not-a-run").mkdir()
    (store.root / ("f" * 24)).mkdir()  # a run folder whose creation never finished
    assert [r.run_id for r in store.list_runs()] == [run_id]


def test_reconcile_returns_queued_runs_oldest_first(store):
    run_ids = [_create(store) for _ in range(4)]
    for run_id, created_at in zip(run_ids, (40.0, 10.0, 30.0, 20.0), strict=True):
        _set_created_at(store, run_id, created_at)
        store.set_status(run_id, "queued", "Waiting for a free training slot.")
    store.set_status(run_ids[2], "finished", "Done.")
    assert store.reconcile() == [run_ids[1], run_ids[3], run_ids[0]]


def test_reconcile_settles_dead_running_runs(store):
    run_id = _create(store)
    store.set_status(run_id, "running", "Training…", pid=_dead_pid())
    assert store.reconcile() == []
    assert read_json(store.path(run_id) / "status.json")["state"] == "failed"


def test_stop_request_is_visible(store):
    run_id = _create(store)
    assert store.stop_requested(run_id) is False
    store.request_stop(run_id)
    assert store.stop_requested(run_id) is True


def test_results_of_an_untrained_run_are_empty(store):
    run_id = _create(store)
    assert store.history(run_id) == []
    assert store.progress(run_id) == Progress()
    assert store.metrics(run_id) is None
    assert store.predictions(run_id) is None
    assert store.model_path(run_id) is None


def test_settings_put_runs_under_layerlab_home(tmp_home):
    settings = load_settings()
    assert settings.home == tmp_home.resolve()
    assert settings.runs_dir == tmp_home.resolve() / "runs"
    assert settings.shared is False


def test_status_file_is_valid_json_after_many_updates(store):
    run_id = _create(store)
    for step in range(50):
        store.set_status(run_id, "running", f"step {step}", pid=os.getpid())
    assert json.loads((store.path(run_id) / "status.json").read_text())["message"] == "step 49"
