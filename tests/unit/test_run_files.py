"""The typed run store: RunFiles, status writes with two writers, cheap listing, typed failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import core.run_store as run_store
from core.errors import AppError
from core.failures import FAILURE_FILE_ENV, Failure, internal_error, user_error, write_failure_file
from core.incidents import incident_message
from core.run_store import Progress, RunFiles, RunStatus, RunStore
from core.runtime.child import child_error, run_module
from core.spec import DataSpec, RunSpec

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture
def table_file(tmp_path) -> Path:
    path = tmp_path / "table.parquet"
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "b"]}).to_parquet(path)
    return path


def _create(store: RunStore, table: Path, owner: str | None = None) -> str:
    return store.create_run(RunSpec(data=DataSpec(target="y")), table, source_name="t.csv", owner=owner)


def test_status_is_a_typed_record_with_a_typed_failure(store, table_file):
    run_id = _create(store, table_file)
    failure = Failure("out_of_memory", "training.out_of_memory", {"limit_mb": 2048}, detail="peak 2100 MB")
    store.fail(run_id, failure, finished_at=1.0)
    status = store.status(run_id)
    assert isinstance(status, RunStatus)
    assert status.state == "failed" and status.finished_at == 1.0
    assert status.failure == failure
    # The English sentence stays in `message` for older readers; the id and params are kept for translation.
    assert status.message == failure.sentence() and "2,048 MB" in status.message
    assert store.files(run_id).status_dict()["failure"]["message_id"] == "training.out_of_memory"
    assert RunStatus.from_dict(status.to_dict()) == status


def test_the_store_answers_with_typed_records_only(store, table_file):
    run_id = _create(store, table_file)
    assert not hasattr(store, "run_status") and not hasattr(store, "progress_record")  # one way, typed
    status = store.status(run_id)
    assert isinstance(status, RunStatus) and status.state == "created" and status.failure is None
    progress = store.progress(run_id)
    assert isinstance(progress, Progress) and not progress.started
    store.files(run_id).write_progress({"epoch": 1, "epochs": 3, "batch": 2, "steps_per_epoch": 4, "eta_s": 9.5})
    progress = store.progress(run_id)
    assert progress.started and (progress.batch, progress.steps_per_epoch, progress.eta_s) == (2, 4, 9.5)
    store.set_status(run_id, "finished", "Done.", device="cpu", metrics={"accuracy": 0.9}, diverged=True)
    status = store.status(run_id)
    assert (status.device, status.metrics, status.diverged, status.sentence()) == (
        "cpu",
        {"accuracy": 0.9},
        True,
        "Done.",
    )


def test_a_failed_runs_sentence_comes_from_its_failure_id(store, table_file):
    run_id = _create(store, table_file)
    failure = Failure("process_ended", "training.worker_ended", {"code": 3}, detail="exit code 3")
    store.fail(run_id, failure)
    # The stored English message is only for older readers: the sentence is derived from the id and params.
    store.files(run_id).update_status(message="An old English sentence.")
    status = store.status(run_id)
    assert status.message == "An old English sentence."
    assert status.sentence() == failure.sentence() and "exit code 3" in status.sentence()
    (record,) = store.list_runs()
    assert record.failure == failure and record.sentence() == failure.sentence()
    assert store.record(run_id).sentence() == failure.sentence()
    # A run from before failure records keeps its message.
    older = _create(store, table_file)
    store.set_status(older, "failed", "It broke.")
    assert store.status(older).sentence() == "It broke."
    assert {r.run_id: r.sentence() for r in store.list_runs()}[older] == "It broke."


def test_failure_sentences_match_the_existing_wording():
    failure = internal_error("Training", "abc123", advice="Try again.")
    assert failure.sentence() == incident_message("Training", "abc123", advice="Try again.")
    assert user_error("Pick a target.").sentence() == "Pick a target."
    with pytest.raises(ValueError, match="Unknown failure message id"):
        Failure("internal", "no.such.id")
    assert Failure.from_dict({"kind": "internal", "message_id": "no.such.id"}) is None


def test_progress_and_history_round_trip(store, table_file):
    files = store.files(_create(store, table_file))
    assert files.progress() == Progress()
    files.write_progress({"epoch": 2, "epochs": 5, "batch": 3, "fraction": 0.4, "eta_s": None, "fold": 1, "x": 7})
    progress = files.progress()
    assert (progress.epoch, progress.epochs, progress.fraction, progress.fold) == (2, 5, 0.4, 1)
    assert progress.extra == {"x": 7}
    files.write_history([{"epoch": 1, "loss": 0.5}])
    assert files.history() == [{"epoch": 1, "loss": 0.5}]
    assert files.metrics() is None and files.model_file() is None


def test_request_stop_and_resume_clear(store, table_file):
    run_id = _create(store, table_file)
    files = store.files(run_id)
    store.request_stop(run_id, reason="time_limit")
    files.touch_heartbeat()
    assert store.stop_reason(run_id) == "time_limit"
    files.clear_for_resume()
    assert store.stop_reason(run_id) is None and files.heartbeat_at() is None


_HAMMER = """
import sys
from core.run_store import RunStore
store = RunStore(sys.argv[1])
for i in range(int(sys.argv[4])):
    store.update_status(sys.argv[2], **{sys.argv[3]: i})
"""


def test_two_writers_updating_different_fields_lose_nothing(store, table_file):
    run_id = _create(store, table_file)
    count = 150
    writers = [
        subprocess.Popen([sys.executable, "-c", _HAMMER, str(store.root), run_id, field, str(count)], cwd=REPO_ROOT)
        for field in ("worker_field", "server_field")
    ]
    # The test process is a third writer, changing the state meanwhile.
    for i in range(count):
        store.update_status(run_id, reader_field=i)
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    status = store.status(run_id)
    assert status.extra["worker_field"] == count - 1
    assert status.extra["server_field"] == count - 1
    assert status.extra["reader_field"] == count - 1
    assert status.state == "created"


def test_listing_a_thousand_runs_opens_a_handful_of_files(store, table_file, monkeypatch):
    run_ids = [_create(store, table_file, owner="alice" if i % 2 else "bob") for i in range(1000)]
    store.set_status(run_ids[0], "running", "Training…", pid=None)
    store.files(run_ids[0]).touch_heartbeat()
    store.set_status(run_ids[1], "finished", "Done.")
    opened: list[Path] = []
    real = run_store._read_bytes

    def counting(path):
        opened.append(Path(path))
        return real(path)

    monkeypatch.setattr(run_store, "_read_bytes", counting)
    run_store._OWNERS.clear()
    records = store.list_runs()
    assert len(records) == 1000
    assert {r.run_id: r.state for r in records}[run_ids[1]] == "finished"
    # The index, and the one active run's status for its liveness check.
    assert len(opened) <= 5, opened
    opened.clear()
    assert len(RunStore(store.root, owner="alice").list_runs()) == 500
    assert len(opened) <= 5, opened


def test_the_listing_notices_files_changed_behind_its_back(store, table_file):
    run_id = _create(store, table_file)
    run_store.write_json(store.path(run_id) / RunFiles.STATUS, {"state": "finished", "message": "By hand."})
    (record,) = store.list_runs()
    assert (record.state, record.message) == ("finished", "By hand.")
    (store.root / run_store.INDEX_FILE).unlink()  # a lost index is rebuilt
    (record,) = store.list_runs()
    assert record.state == "finished"
    store.delete_run(run_id)
    assert store.list_runs() == []


def test_a_dead_running_run_fails_with_a_typed_record(store, table_file):
    run_id = _create(store, table_file)
    store.set_status(run_id, "running", "Training…", pid=None)
    store._grace = False
    files = store.files(run_id)
    run_store.write_json(
        files.path(RunFiles.STATUS), {**files.status_dict(), "updated_at": 0.0}
    )  # silent for ages, no heartbeat
    status = store.status(run_id)
    assert status.state == "failed"
    assert status.failure is not None and status.failure.message_id == "training.process_ended"
    assert status.message == status.failure.sentence()


def test_a_child_reports_a_typed_failure_record(tmp_path, monkeypatch):
    path = tmp_path / "failure.json"
    monkeypatch.setenv(FAILURE_FILE_ENV, str(path))
    assert write_failure_file(user_error("The column 'x' is missing.", detail="DataError"))
    result = run_module("core.cli", ["code", str(tmp_path / "no-such-run")], timeout=120, timeout_message="too slow")
    assert result.returncode != 0
    assert result.failure is not None and result.failure.kind == "user_error"
    error = child_error(result, action="Writing the script")
    assert isinstance(error, AppError)
    assert error.message == result.failure.sentence()
    assert error.failure.message_id == "app.error"


def test_a_crashed_child_without_a_record_falls_back_to_stderr():
    result = subprocess.CompletedProcess(["x"], -9, "", "Killed")
    result.failure = None
    error = child_error(result, action="Predicting", memory_limit_mb=512)
    assert "ran out of memory (it may use at most 512 MB)" in error.message
    record = Failure("out_of_memory", "app.out_of_memory", {}, "MemoryError")
    result = subprocess.CompletedProcess(["x"], 3, "", "")
    result.failure = record
    assert child_error(result, action="Predicting", memory_limit_mb=512).message == error.message
