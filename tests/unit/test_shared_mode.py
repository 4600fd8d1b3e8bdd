"""Shared-demo safety in core, without workers or Streamlit: identities, table ownership, the fair queue,
quotas, hard caps and expiry."""

from __future__ import annotations

import os
import stat
import subprocess
import time
import tracemalloc

import pandas as pd
import pytest

from core.config import load_settings
from core.errors import CapError, DataError, QuotaError, RunNotFoundError
from core.run_store import RunStore, write_atomic
from core.shared_mode.identity import issue_identity, load_secret, owner_for_user, verify_identity
from core.shared_mode.janitor import sweep
from core.shared_mode.limits import RunCaps, check_session_disk, count_run_params, describe_caps
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from core.table_store import TableStore
from core.training.jobs import JobManager, _Worker
from tests.conftest import make_binary_frame


def _spec(**training) -> RunSpec:
    return RunSpec(
        data=DataSpec(target="label"),
        model=ModelSpec(layers=(DenseLayer(units=8),)),
        training=TrainingSpec(**{"epochs": 2, **training}),
    )


@pytest.fixture
def shared_env(tmp_home, monkeypatch):
    monkeypatch.setenv("LAYERLAB_SHARED", "1")
    return tmp_home


# Identity ---------------------------------------------------------------------------------------------------


def test_an_issued_identity_verifies_and_a_forged_one_does_not(tmp_path):
    secret = load_secret(tmp_path)
    cookie = issue_identity(secret)
    owner = verify_identity(secret, cookie)
    assert owner and owner == cookie.split(".")[0]
    assert issue_identity(secret) != cookie
    forged = [
        None,
        "",
        "a" * 24,  # a chosen value without a signature
        f"{'a' * 24}.{cookie.split('.')[1]}",  # someone else's signature on a chosen id
        cookie[:-1] + ("A" if cookie[-1] != "A" else "B"),  # tampered signature
        cookie + ".x",
        f"../../etc.{cookie.split('.')[1]}",
    ]
    assert all(verify_identity(secret, value) is None for value in forged)
    assert verify_identity(load_secret(tmp_path / "other"), cookie) is None  # another server's secret


def test_the_secret_is_kept_private_and_stable(tmp_path, monkeypatch):
    monkeypatch.delenv("LAYERLAB_SECRET", raising=False)
    first = load_secret(tmp_path)
    assert load_secret(tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / "secret.key").st_mode) == 0o600
    monkeypatch.setenv("LAYERLAB_SECRET", "configured by the operator")
    assert load_secret(tmp_path) != first
    assert owner_for_user(first, "alice@example.org") == owner_for_user(first, "alice@example.org")
    assert owner_for_user(first, "alice@example.org") != owner_for_user(first, "bob@example.org")


# Tables -----------------------------------------------------------------------------------------------------


def test_another_sessions_table_is_not_found_and_its_key_reveals_nothing(tmp_path):
    frame = make_binary_frame(50)
    alice = TableStore(tmp_path, owner="alice")
    bob = TableStore(tmp_path, owner="bob")
    alice_key, _ = alice.put(frame, name="crashes.csv")
    bob_key, _ = bob.put(frame, name="crashes.csv")
    assert alice_key != bob_key  # the same upload: nobody can test whether someone else has it
    for action in (bob.path, bob.load, bob.record, bob.delete):
        with pytest.raises(DataError) as other:
            action(alice_key)
        with pytest.raises(DataError) as missing:
            action("0" * 64)
        assert str(other.value) == str(missing.value)
    assert [r.key for r in bob.list_tables()] == [bob_key]
    assert len(alice.load(alice_key)) == 50
    assert {r.key for r in TableStore(tmp_path).list_tables()} == {alice_key, bob_key}  # single-user mode


def test_a_session_keeps_at_most_its_quota_of_tables(tmp_path):
    store = TableStore(tmp_path, owner="alice", max_tables=2)
    store.put(make_binary_frame(20, seed=1), name="one.csv")
    store.put(make_binary_frame(20, seed=2), name="two.csv")
    store.put(make_binary_frame(20, seed=2), name="two again.csv")  # the same table again is no new table
    with pytest.raises(QuotaError, match="Delete one"):
        store.put(make_binary_frame(20, seed=3), name="three.csv")
    TableStore(tmp_path, owner="bob", max_tables=2).put(make_binary_frame(20, seed=3), name="three.csv")
    store.delete(store.list_tables()[0].key)
    store.put(make_binary_frame(20, seed=3), name="three.csv")


# The queue --------------------------------------------------------------------------------------------------


@pytest.fixture
def idle_manager(tmp_path):
    """A manager with no worker processes (max_jobs=0): its queue can be examined without training."""
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store, max_jobs=0, max_running_per_owner=1, max_queued_per_owner=2)
    yield store, manager
    manager.shutdown()


def _create(store: RunStore, owner: str) -> str:
    return store.create_run(_spec(), make_binary_frame(40), source_name="t.csv", owner=owner)


def test_the_queue_is_round_robin_between_sessions(idle_manager):
    store, manager = idle_manager
    alice = [_create(store, "alice") for _ in range(3)]
    for run_id in alice:
        manager.submit(run_id)
    bob = _create(store, "bob")
    manager.submit(bob)
    carol = _create(store, "carol")
    manager.submit(carol)
    # Alice queued three runs first; Bob and Carol still start second and third, not fourth and fifth.
    assert [manager.queue_position(run_id) for run_id in (*alice, bob, carol)] == [1, 4, 5, 2, 3]
    with manager._lock:
        started = [manager._next_run()[0] for _ in range(5)]
    assert started == [alice[0], bob, carol, alice[1], alice[2]]


def test_a_session_over_its_run_quota_gets_a_message_and_nothing_queued(idle_manager):
    store, manager = idle_manager
    for _ in range(3):
        manager.submit(_create(store, "alice"))
    refused = _create(store, "alice")
    with pytest.raises(QuotaError, match="Wait for one to finish"):
        manager.submit(refused)
    assert store.status(refused).state == "created"
    assert manager.queue_position(refused) is None
    manager.submit(_create(store, "bob"))  # another session is not affected
    own_store = RunStore(store.root, owner="alice")
    before = {r.run_id for r in own_store.list_runs()}
    with pytest.raises(QuotaError):
        manager.start(own_store, _spec(), make_binary_frame(40), source_name="t.csv")
    assert {r.run_id for r in own_store.list_runs()} == before  # the refused click left no run behind


def test_a_session_with_a_run_training_waits_behind_others(idle_manager):
    store, manager = idle_manager
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with manager._lock:
            manager._workers.append(_Worker(process=sleeper, ready=True, run_id="f" * 24, owner="alice"))
        alice_next = _create(store, "alice")
        manager.submit(alice_next)
        manager.submit(_create(store, "alice"))
        with pytest.raises(QuotaError):  # one training + two waiting is Alice's share
            manager.submit(_create(store, "alice"))
        bob = _create(store, "bob")
        manager.submit(bob)
        with manager._lock:
            assert manager._next_run()[0] == bob  # Alice is at her running limit: Bob goes first
    finally:
        sleeper.kill()
        sleeper.wait()
        with manager._lock:
            manager._workers.clear()


# Hard caps --------------------------------------------------------------------------------------------------


def test_caps_refuse_a_huge_network_before_any_memory_is_spent(shared_env):
    settings = load_settings()
    caps = RunCaps.from_settings(settings)
    huge = RunSpec(
        data=DataSpec(target="label"),
        model=ModelSpec(layers=tuple(DenseLayer(units=8192) for _ in range(8))),
        training=TrainingSpec(epochs=5000),
    )
    store = RunStore(settings.runs_dir, owner="alice", caps=caps)
    frame = make_binary_frame(300)
    tracemalloc.start()
    try:
        with pytest.raises(CapError) as refused:
            store.create_run(huge, frame, source_name="t.csv")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(refused.value)
    assert "parameters" in message and "epochs" in message and "MB" in message
    assert count_run_params(huge, frame) > 400_000_000
    assert peak < 64 * 2**20  # counted from the spec, never built
    assert store.list_runs() == []  # nothing written


def test_caps_are_off_in_single_user_mode_and_described_in_shared_mode(tmp_home, monkeypatch):
    assert RunCaps.from_settings(load_settings()) is None
    assert describe_caps(load_settings()) == []
    monkeypatch.setenv("LAYERLAB_SHARED", "1")
    monkeypatch.setenv("LAYERLAB_MAX_EPOCHS", "50")
    assert any("50 epochs" in line for line in describe_caps(load_settings()))


def test_a_small_run_passes_the_caps(shared_env):
    settings = load_settings()
    store = RunStore(settings.runs_dir, owner="alice", caps=RunCaps.from_settings(settings))
    run_id = store.create_run(_spec(), make_binary_frame(100), source_name="t.csv")
    assert store.status(run_id).state == "created"


def test_a_full_disk_quota_refuses_new_work_for_that_session_only(shared_env, monkeypatch):
    monkeypatch.setenv("LAYERLAB_MAX_SESSION_DISK_MB", "1")
    settings = load_settings()
    tables = TableStore(settings.tables_dir, owner="alice")
    big = pd.DataFrame({"x": range(300_000), "label": ["a", "b"] * 150_000})
    tables.put(big.sample(frac=1.0, random_state=0), name="big.csv")
    with pytest.raises(QuotaError, match="Delete runs"):
        check_session_disk(settings, "alice")
    check_session_disk(settings, "bob")


# Expiry -----------------------------------------------------------------------------------------------------


def test_the_janitor_deletes_what_expired_and_what_was_orphaned(shared_env):
    settings = load_settings()
    assert settings.retention_hours == 24
    store = RunStore(settings.runs_dir)
    old, fresh, active = (_create(store, "alice") for _ in range(3))
    store.set_status(old, "finished")
    store.set_status(fresh, "finished")
    store.set_status(active, "running", pid=os.getpid())
    tables = TableStore(settings.tables_dir, owner="alice")
    old_table, _ = tables.put(make_binary_frame(20, seed=1), name="old.csv")
    new_table, _ = tables.put(make_binary_frame(20, seed=2), name="new.csv")
    orphan = settings.runs_dir / fresh / ".model.abc.tmp"
    write_atomic(orphan, b"half a model")
    long_ago = time.time() - 25 * 3600
    for path in [*(store.path(old)).iterdir(), *(store.path(active)).iterdir(), orphan]:
        os.utime(path, (long_ago, long_ago))
    for path in (settings.tables_dir / f"{old_table}.json", settings.tables_dir / f"{old_table}.parquet"):
        os.utime(path, (long_ago, long_ago))

    result = sweep(settings)

    assert result.runs_deleted == 1 and result.tables_deleted == 1 and result.orphans_deleted >= 1
    with pytest.raises(RunNotFoundError):
        store.path(old)
    assert store.path(fresh) and store.path(active)  # work in progress is never cut off
    assert not orphan.exists()
    assert [r.key for r in tables.list_tables()] == [new_table]


def test_retention_is_off_in_single_user_mode(tmp_home):
    settings = load_settings()
    store = RunStore(settings.runs_dir)
    run_id = _create(store, "alice")
    store.set_status(run_id, "finished")
    long_ago = time.time() - 1000 * 3600
    for path in store.path(run_id).iterdir():
        os.utime(path, (long_ago, long_ago))
    assert sweep(settings).runs_deleted == 0
    assert store.path(run_id)
