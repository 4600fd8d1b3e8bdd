"""Internal errors reach the visitor as our own sentence with an incident id; the details go to the server's log."""

from __future__ import annotations

import logging
import re
import subprocess

import pytest

from core.errors import AppError
from core.incidents import incident_message, record_incident
from core.runtime.child import child_error, run_module

SECRET_PATH = "/srv/layerlab/home/runs/3f2a/network.keras"
INCIDENT = re.compile(r"incident id ([0-9a-f]{8})")


def _incident_id(message: str) -> str:
    found = INCIDENT.search(message)
    assert found, message
    return found.group(1)


def _incidents_log(home) -> str:
    return (home / "logs" / "incidents.log").read_text(encoding="utf-8")


def _child(tmp_path, monkeypatch, source: str) -> subprocess.CompletedProcess:
    """Run `source` as a module in a real child process, the way every page action runs Keras."""
    import core.runtime.child

    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / "tiny_child.py").write_text(source, encoding="utf-8")
    monkeypatch.setattr(core.runtime.child, "ROOT", folder)
    return run_module("tiny_child", timeout=60, timeout_message="too slow")


def test_an_incident_is_logged_and_appended_under_its_id(tmp_home, caplog):
    with caplog.at_level(logging.ERROR, logger="layerlab"):
        incident_id = record_incident("training run 3f2a", f"Traceback ...\n  File {SECRET_PATH!r}\nKeyError: 'x'")
    assert re.fullmatch(r"[0-9a-f]{8}", incident_id)
    assert incident_id in caplog.text and SECRET_PATH in caplog.text
    log = _incidents_log(tmp_home)
    assert f"incident {incident_id} in training run 3f2a" in log and "KeyError: 'x'" in log
    assert record_incident("training run 3f2a", "again") != incident_id
    assert _incidents_log(tmp_home).startswith(log)


def test_recording_never_fails_when_the_log_cannot_be_written(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("LAYERLAB_HOME points at a file, so logs/ cannot be made")
    monkeypatch.setenv("LAYERLAB_HOME", str(blocker))
    assert re.fullmatch(r"[0-9a-f]{8}", record_incident("export", "details"))


def test_the_visitor_sentence_says_what_failed_whose_fault_the_id_and_what_to_try():
    message = incident_message("Rebuilding the model", "1a2b3c4d", advice="Train the run again.")
    assert message.startswith("Rebuilding the model failed")
    assert "not because of anything you did" in message
    assert "incident id 1a2b3c4d" in message and "Train the run again." in message


def test_a_child_crashing_with_a_traceback_becomes_an_incident_without_the_path(tmp_path, monkeypatch, tmp_home):
    result = _child(tmp_path, monkeypatch, f"raise FileNotFoundError({SECRET_PATH!r})\n")
    assert result.returncode == 1 and SECRET_PATH in result.stderr
    error = child_error(result, action="Predicting")
    assert isinstance(error, AppError)
    assert SECRET_PATH not in error.message and "Traceback" not in error.message
    assert error.message.startswith("Predicting failed")
    incident_id = _incident_id(error.message)
    log = _incidents_log(tmp_home)
    assert f"incident {incident_id}" in log and SECRET_PATH in log and "FileNotFoundError" in log


def test_a_child_that_prints_our_message_shows_that_message(tmp_path, monkeypatch, tmp_home):
    source = (
        "import sys\n"
        "print('I0000 tensorflow/core/platform/cpu_feature_guard.cc:210] noise', file=sys.stderr)\n"
        "print('layerlab: The table lacks the column x. Add it and try again.', file=sys.stderr)\n"
        "sys.exit(2)\n"
    )
    error = child_error(_child(tmp_path, monkeypatch, source), action="Predicting")
    assert error.message == "The table lacks the column x. Add it and try again."
    assert not (tmp_home / "logs" / "incidents.log").exists()


def test_a_sigkilled_child_ran_out_of_memory(tmp_path, monkeypatch, tmp_home):
    result = _child(tmp_path, monkeypatch, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert result.returncode == -9
    error = child_error(result, action="Computing the importances", memory_limit_mb=2048)
    assert error.message.startswith("Computing the importances ran out of memory (it may use at most 2,048 MB)")
    assert not (tmp_home / "logs" / "incidents.log").exists()


def test_a_child_that_segfaults_under_a_memory_limit_ran_out_of_memory_and_the_operator_still_hears(tmp_home):
    """Under RLIMIT_AS, native code that cannot allocate often dies of SIGSEGV with nothing on stderr."""
    result = subprocess.CompletedProcess(["python", "-m", "core.deployment.prediction", SECRET_PATH], -11, "", "")
    message = child_error(result, action="Predicting", memory_limit_mb=600).message
    assert message.startswith("Predicting ran out of memory (it may use at most 600 MB)")
    assert SECRET_PATH not in message
    assert "signal 11 under a 600 MB limit" in _incidents_log(tmp_home)


@pytest.mark.parametrize(
    "returncode, stderr, expected",
    [
        (3, "layerlab: out of memory (MemoryError: std::bad_alloc)\n", "Predicting ran out of memory"),
        (1, "Traceback (most recent call last):\n  ...\nMemoryError\n", "Predicting ran out of memory"),
        (2, "layerlab: The file is not a model.\nW0000 tensorflow shutting down\n", "The file is not a model."),
        (1, "layerlab: warning: 3 rows had no value\nTraceback ...\nKeyError: 'x'\n", "Predicting failed"),
        (-11, "", "Predicting failed"),
        (0, "", "Predicting failed"),
    ],
)
def test_each_kind_of_child_failure_gets_its_message(tmp_home, returncode, stderr, expected):
    result = subprocess.CompletedProcess(
        ["python", "-m", "core.deployment.prediction", SECRET_PATH], returncode, "", stderr
    )
    message = child_error(result, action="Predicting").message
    assert message.startswith(expected)
    assert SECRET_PATH not in message and "tensorflow" not in message and "Traceback" not in message


def test_an_internal_error_in_training_fails_the_run_with_an_incident_id(tmp_home, small_binary_frame, monkeypatch):
    import core.training.run_job
    from core.run_store import RunStore
    from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec

    def broken(run_dir):
        raise KeyError(f"{run_dir}/resume.json")

    store = RunStore(tmp_home / "runs")
    spec = RunSpec(data=DataSpec(target="label"), model=ModelSpec(layers=(DenseLayer(units=8),)))
    run_id = store.create_run(spec, small_binary_frame, source_name="t.csv")
    monkeypatch.setattr(core.training.run_job, "_pending_resume", broken)
    with pytest.raises(KeyError):
        core.training.run_job.run_job(store, run_id)
    status = store.status(run_id)
    assert status.state == "failed"
    assert status.message.startswith("Training failed")
    assert str(tmp_home) not in status.message and "log.txt" not in status.message
    incident_id = _incident_id(status.message)
    assert f"incident {incident_id} in training run {run_id}" in _incidents_log(tmp_home)
    assert "KeyError" in (store.path(run_id) / "log.txt").read_text(encoding="utf-8")


def test_an_unreadable_upload_is_named_by_its_file_name_not_its_server_path(tmp_path, monkeypatch):
    import zipfile

    import core.deployment.upload_check
    from core.errors import ModelFileError

    staged = tmp_path / "layerlab-predict-x1" / "model.keras"
    staged.parent.mkdir()
    with zipfile.ZipFile(staged, "w") as archive:
        archive.writestr("config.json", "{}")

    def unreadable(path, *args, **kwargs):
        raise OSError(5, "Input/output error", str(path))

    monkeypatch.setattr(core.deployment.upload_check.zipfile, "ZipFile", unreadable)
    with pytest.raises(ModelFileError) as caught:
        core.deployment.upload_check.check_model_file(staged, name="my model.keras")
    assert "'my model.keras'" in caught.value.message and str(tmp_path) not in caught.value.message
