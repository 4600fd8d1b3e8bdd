"""The warm helper process: models stay loaded between requests, and a dead, slow or bloated helper is replaced."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import time

import pandas as pd
import pytest

from core.deployment.prediction import predict_run_rows
from core.errors import AppError
from core.evaluation.importance import cached_importance, compute_in_child
from core.failures import Failure
from core.incidents import incident_message
from core.runtime.helper import WarmHelper, shutdown_helper
from tests.conftest import make_binary_frame, train_small_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    previous = os.environ.get("LAYERLAB_HOME")
    os.environ["LAYERLAB_HOME"] = str(home)
    store, run_id = train_small_run(home / "runs", make_binary_frame(200))
    yield store.path(run_id)
    shutdown_helper()
    if previous is None:
        os.environ.pop("LAYERLAB_HOME", None)
    else:
        os.environ["LAYERLAB_HOME"] = previous


@pytest.fixture(scope="module")
def helper():
    helper = WarmHelper()
    yield helper
    helper.close()


def _predict(helper: WarmHelper, run_dir, tmp_path, frame: pd.DataFrame, *, timeout: float = 300) -> dict:
    rows, out = tmp_path / "rows.parquet", tmp_path / "out.parquet"
    frame.to_parquet(rows, index=False)
    answer = helper.request(
        {"action": "predict", "model_path": str(run_dir / "model.keras"), "rows": str(rows), "out": str(out)},
        action="Predicting",
        timeout=timeout,
        timeout_message="Predicting took too long and was stopped.",
    )
    return {**answer, "frame": pd.read_parquet(out)}


def _wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


def test_the_second_prediction_reuses_the_loaded_model(helper, run_dir, tmp_path):
    rows = make_binary_frame(8, seed=3).drop(columns=["label"])
    first = _predict(helper, run_dir, tmp_path, rows)
    second = _predict(helper, run_dir, tmp_path, rows.head(1))
    assert first["loaded"] and first["num_loads"] == 1
    assert not second["loaded"] and second["num_loads"] == 1
    assert len(first["frame"]) == 8 and "prediction" in first["frame"]
    assert second["frame"]["prediction"].iloc[0] == first["frame"]["prediction"].iloc[0]


def test_a_new_model_file_is_loaded_again(helper, run_dir, tmp_path):
    rows = make_binary_frame(4, seed=4).drop(columns=["label"])
    before = _predict(helper, run_dir, tmp_path, rows)
    model = run_dir / "model.keras"
    os.utime(model, ns=(model.stat().st_atime_ns, model.stat().st_mtime_ns + 1_000_000))  # a saved threshold
    after = _predict(helper, run_dir, tmp_path, rows)
    assert after["loaded"] and after["num_loads"] == before["num_loads"] + 1


def test_a_crashed_helper_is_started_again(helper, run_dir, tmp_path):
    rows = make_binary_frame(2, seed=5).drop(columns=["label"])
    _predict(helper, run_dir, tmp_path, rows)
    starts, old_pid = helper.num_starts, helper.pid
    os.kill(old_pid, signal.SIGKILL)
    _wait_until(lambda: helper.pid is None)  # it died between two clicks, as a crash would
    answer = _predict(helper, run_dir, tmp_path, rows)
    assert helper.num_starts == starts + 1 and answer["pid"] != old_pid
    assert answer["loaded"] and answer["num_loads"] == 1  # a fresh process loads the model again


def test_a_request_past_its_time_limit_is_stopped_with_its_message(helper, run_dir, tmp_path):
    rows = make_binary_frame(2, seed=6).drop(columns=["label"])
    starts = helper.num_starts
    with pytest.raises(AppError, match="Predicting took too long and was stopped") as caught:
        _predict(helper, run_dir, tmp_path, rows, timeout=0.001)
    assert caught.value.failure.message_id == "helper.timeout"
    assert helper.pid is None  # killed, not left computing
    assert len(_predict(helper, run_dir, tmp_path, rows)["frame"]) == 2
    assert helper.num_starts == starts + 1


def test_a_helper_over_its_memory_limit_is_stopped_with_a_message(run_dir, tmp_path):
    small = WarmHelper(memory_mb=1)
    try:
        with pytest.raises(
            AppError, match=r"Predicting used more memory than this server allows it \(1 MB\)"
        ) as caught:
            _predict(small, run_dir, tmp_path, make_binary_frame(2).drop(columns=["label"]))
        assert small.pid is None
        failure = caught.value.failure
        assert (failure.kind, failure.message_id, failure.params["limit_mb"]) == (
            "out_of_memory",
            "helper.out_of_memory",
            1,
        )
        assert "MB of resident memory" in failure.detail
    finally:
        small.close()


class _Ended:
    """A stand-in for a helper process that has already exited with `code`."""

    def __init__(self, code: int):
        self.returncode, self.pid, self.stdin, self.stdout = code, 0, io.StringIO(), io.StringIO()

    def poll(self) -> int:
        return self.returncode

    def wait(self) -> int:
        return self.returncode


@pytest.mark.parametrize("code", [3, -signal.SIGSEGV])
def test_a_helper_that_ends_mid_request_gives_a_typed_crash_record(tmp_home, code):
    helper = WarmHelper()
    helper._process = _Ended(code)
    error = helper._ended("Predicting", "Try fewer rows.")
    assert isinstance(error, AppError)
    failure = error.failure
    assert (failure.kind, failure.message_id) == ("process_ended", "helper.crashed")
    assert f"exit code {code}" in failure.detail and failure.detail not in error.message  # the detail is for the log
    assert error.message == failure.sentence()
    assert error.message == incident_message("Predicting", failure.params["incident_id"])  # the wording as before


def test_a_helper_killed_by_the_system_or_out_of_memory_gives_a_memory_record(tmp_home):
    helper = WarmHelper()
    helper._process = _Ended(-signal.SIGKILL)
    error = helper._ended("Predicting", "Try fewer rows.")
    assert (error.failure.kind, error.failure.message_id) == ("out_of_memory", "app.out_of_memory")
    assert error.message == "Predicting ran out of memory and was stopped. Try fewer rows."
    with pytest.raises(AppError) as caught:
        helper._result({"ok": False, "out_of_memory": True}, "Predicting", "Try fewer rows.")
    assert caught.value.message == error.message and caught.value.failure.kind == "out_of_memory"
    with pytest.raises(AppError, match="incident") as caught:
        helper._result({"ok": False, "detail": "Traceback ...\nValueError: secret /srv/path"}, "Predicting", "x")
    assert caught.value.failure.message_id == "app.internal_error"
    assert "secret" not in caught.value.message and "/srv/path" in caught.value.failure.detail


def test_helper_failure_ids_are_in_the_catalog_with_the_current_english():
    failure = Failure(
        "out_of_memory", "helper.out_of_memory", {"action": "Predicting", "limit_mb": 4096, "advice": "A."}
    )
    assert failure.sentence() == "Predicting used more memory than this server allows it (4,096 MB) and was stopped. A."
    assert Failure("user_error", "helper.timeout", {"text": "Too slow."}).sentence() == "Too slow."
    busy = Failure("user_error", "helper.busy", {"text": "Too slow."}).sentence()
    assert busy == "Too slow. (The server was busy with other requests all that time.)"


def test_our_errors_keep_their_message_and_others_become_an_incident(helper, run_dir, tmp_path, tmp_home):
    with pytest.raises(AppError, match="The model file of this run is gone"):
        helper.request(
            {"action": "predict", "model_path": str(tmp_path / "model.keras"), "rows": "x", "out": "y"},
            action="Predicting", timeout=300, timeout_message="too long",
        )  # fmt: skip
    with pytest.raises(AppError, match="incident") as caught:
        helper.request(
            {"action": "predict", "model_path": str(run_dir / "model.keras"), "rows": str(tmp_path / "no.parquet"),
             "out": str(tmp_path / "out.parquet")},
            action="Predicting", timeout=300, timeout_message="too long",
        )  # fmt: skip
    assert "Traceback" not in caught.value.message and str(tmp_path) not in caught.value.message
    assert helper.request({"action": "ping"}, action="Pinging", timeout=300, timeout_message="too long")["ok"]


def test_the_public_calls_use_the_helper_and_report_importance_progress(run_dir):
    rows = make_binary_frame(3, seed=7).drop(columns=["label"])
    assert len(predict_run_rows(run_dir / "model.keras", rows)) == 3
    seen: list[tuple[float, str]] = []
    importance = compute_in_child(run_dir, on_progress=lambda fraction, label: seen.append((fraction, label)))
    assert sorted(label for _, label in seen) == sorted(rows.columns)
    assert seen[-1][0] == 1.0 and all(a < b for (a, _), (b, _) in zip(seen, seen[1:], strict=False))
    assert cached_importance(run_dir) == importance


def test_rows_inline_and_rows_as_files_give_the_same_predictions(run_dir, monkeypatch):
    import core.deployment.prediction

    rows = make_binary_frame(12, seed=8).drop(columns=["label"])
    rows.loc[[2, 5], rows.columns[0]] = None  # empty cells travel inline as null, in files as missing
    rows.loc[[3], rows.columns[-1]] = None
    inline = predict_run_rows(run_dir / "model.keras", rows)
    monkeypatch.setattr(core.deployment.prediction, "INLINE_ROWS", 0)
    as_files = predict_run_rows(run_dir / "model.keras", rows)
    pd.testing.assert_frame_equal(inline, as_files)
    assert list(inline.columns[: len(rows.columns)]) == list(rows.columns)


def test_a_cached_model_still_predicts_after_a_speed_measurement(helper, run_dir, tmp_path):
    from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec

    rows = make_binary_frame(3, seed=9).drop(columns=["label"])
    before = _predict(helper, run_dir, tmp_path, rows)
    spec = RunSpec(
        data=DataSpec(target="label"), model=ModelSpec(layers=(DenseLayer(units=4),)), training=TrainingSpec()
    )
    request = {
        "spec": json.loads(spec.to_json()), "num_inputs": 3, "task": "binary", "num_classes": 0,
        "train_rows": 64, "validation_rows": 8, "embeddings": [],
    }  # fmt: skip
    answer = helper.request(
        {"action": "measure", "request": request}, action="Measuring", timeout=300, timeout_message="too long"
    )
    assert answer["measurement"]["seconds_per_step"] > 0
    after = _predict(helper, run_dir, tmp_path, rows)
    assert not after["loaded"]  # the session was cleared after measuring; the loaded model is still served
    pd.testing.assert_frame_equal(before["frame"], after["frame"])


def test_the_helper_dies_with_its_server():
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = "from core.runtime.helper import warm_helper\nwarm_helper().start()\nprint(warm_helper().pid, flush=True)\ninput()\n"
    server = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    helper_pid = int(server.stdout.readline())
    assert _alive(helper_pid)
    server.kill()  # SIGKILL: no clean-up code runs in the server
    server.wait()
    _wait_until(lambda: not _alive(helper_pid))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stream:
            return stream.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_caller_that_stops_listening_mid_request_does_not_confuse_the_next_one(helper, run_dir, tmp_path):
    class Rerun(Exception):
        """What Streamlit raises in a script thread when the visitor clicks elsewhere."""

    def interrupt(fraction, label):
        raise Rerun

    (run_dir / "importance.json").unlink(missing_ok=True)
    with pytest.raises(Rerun):
        helper.request(
            {"action": "importance", "run_dir": str(run_dir)}, action="Computing the importances", timeout=300,
            timeout_message="too long", on_progress=interrupt,
        )  # fmt: skip
    rows = make_binary_frame(2, seed=10).drop(columns=["label"])
    assert len(_predict(helper, run_dir, tmp_path, rows)["frame"]) == 2  # not the importance's leftover lines
