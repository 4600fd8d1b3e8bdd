"""Signed download links: what a link resolves to, and every way a link must stop working."""

from __future__ import annotations

import base64
import json
import time

import pytest

from core.config import load_settings
from core.errors import AppError
from core.run_store import RunStore
from core.shared_mode.downloads import DOWNLOAD_PATH, NOT_FOUND, download_url, resolve_download
from core.spec import DataSpec, RunSpec
from tests.conftest import make_binary_frame

OWNER = "A" * 24
STRANGER = "B" * 24


def _run(owner: str | None = OWNER) -> tuple[str, object]:
    store = RunStore(load_settings().runs_dir)
    run_id = store.create_run(
        RunSpec(data=DataSpec(target="label")), make_binary_frame(40), source_name="t.csv", owner=owner
    )
    run_dir = store.path(run_id)
    (run_dir / "model.keras").write_bytes(b"model bytes")
    (run_dir / "exports").mkdir()
    (run_dir / "exports" / "onnx.zip").write_bytes(b"zip bytes")
    return run_id, run_dir


def _token(url: str) -> str:
    assert url.startswith(DOWNLOAD_PATH)
    return url.removeprefix(DOWNLOAD_PATH)


def _not_found(token: str, **kwargs) -> None:
    with pytest.raises(AppError) as raised:
        resolve_download(token, **kwargs)
    assert str(raised.value) == NOT_FOUND  # never says which check failed


def test_a_link_resolves_to_the_file_and_its_name(tmp_home):
    run_id, run_dir = _run()
    url = download_url(OWNER, run_id, "exports/onnx.zip", file_name="layerlab_abc_onnx.zip")
    assert url.startswith("/layerlab/download/") and "/" not in _token(url)
    path, name = resolve_download(_token(url))
    assert path == (run_dir / "exports" / "onnx.zip").resolve()
    assert path.read_bytes() == b"zip bytes"
    assert name == "layerlab_abc_onnx.zip"


def test_links_survive_a_restart_but_not_a_new_secret(tmp_home, monkeypatch):
    run_id, _ = _run()
    token = _token(download_url(OWNER, run_id, "model.keras", file_name="m.keras"))
    assert resolve_download(token)[1] == "m.keras"  # the secret is read again from disk: same result
    monkeypatch.setenv("LAYERLAB_SECRET", "another secret")
    _not_found(token)


def test_an_edited_token_is_refused(tmp_home):
    run_id, _ = _run()
    token = _token(download_url(OWNER, run_id, "model.keras", file_name="m.keras"))
    payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["path"] = "data.parquet"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    _not_found(f"{forged}.{signature}")
    _not_found(f"{payload}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}")
    for garbage in ["", ".", "x", f"{payload}", f"{payload}.{signature}.x", "%%%.%%%"]:
        _not_found(garbage)


def test_an_expired_link_is_refused(tmp_home):
    run_id, _ = _run()
    token = _token(download_url(OWNER, run_id, "model.keras", file_name="m.keras", ttl_s=60))
    assert resolve_download(token, now=time.time() + 30)
    _not_found(token, now=time.time() + 61)


@pytest.mark.parametrize("path", ["../other/model.keras", "/etc/passwd", "exports/../../x", "", ".", "a\\..\\b"])
def test_a_path_outside_the_run_folder_is_refused(tmp_home, path):
    run_id, _ = _run()
    with pytest.raises(ValueError, match="inside the run folder"):
        download_url(OWNER, run_id, path, file_name="x")


def test_a_signed_path_that_leaves_the_run_folder_through_a_link_is_refused(tmp_home):
    run_id, run_dir = _run()
    secret = tmp_home / "secret.key"
    (run_dir / "exports" / "escape.zip").symlink_to(secret)
    _not_found(_token(download_url(OWNER, run_id, "exports/escape.zip", file_name="x.zip")))
    _not_found(_token(download_url(OWNER, run_id, "exports", file_name="x.zip")))  # a folder, not a file


def test_another_sessions_run_is_not_found_in_shared_mode(tmp_home, monkeypatch):
    monkeypatch.setenv("LAYERLAB_SHARED", "1")
    run_id, _ = _run(owner=OWNER)
    assert resolve_download(_token(download_url(OWNER, run_id, "model.keras", file_name="m.keras")))
    _not_found(_token(download_url(STRANGER, run_id, "model.keras", file_name="m.keras")))
    _not_found(_token(download_url(None, run_id, "model.keras", file_name="m.keras")))


def test_a_missing_file_or_deleted_run_is_not_found(tmp_home):
    run_id, run_dir = _run()
    _not_found(_token(download_url(OWNER, run_id, "checkpoint.keras", file_name="c.keras")))
    token = _token(download_url(OWNER, run_id, "model.keras", file_name="m.keras"))
    RunStore(load_settings().runs_dir).delete_run(run_id)
    _not_found(token)
    _not_found(_token(download_url(OWNER, "0" * 24, "model.keras", file_name="m.keras")))


def test_a_link_bound_to_a_browser_works_only_there(tmp_home):
    from core.errors import RunNotFoundError
    from core.run_store import write_atomic

    store = RunStore(tmp_home / "runs")
    run_id = store.create_run(RunSpec(data=DataSpec(target="label")), make_binary_frame(20), source_name="t.csv")
    write_atomic(store.path(run_id) / "model.keras", b"zip")
    url = download_url(None, run_id, "model.keras", file_name="m.keras", browser="alice-browser")
    token = url.rsplit("/", 1)[1]
    assert resolve_download(token, browser="alice-browser")[1] == "m.keras"
    for other in (None, "bob-browser"):
        with pytest.raises(RunNotFoundError):
            resolve_download(token, browser=other)
