"""Process-wide services shared by every browser session, and this session's views of the stores.

In shared-demo mode the run and table stores are opened for this session's owner, so every access by id
is checked in core (`RunStore.path`, `TableStore.path`): another visitor's run or table is "not found".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.config import Settings, load_settings
from core.errors import QuotaError
from core.experiments.search import SearchStore, run_search
from core.i18n import Message
from core.run_store import RunFiles, RunStore
from core.shared_mode.limits import RunCaps
from core.table_store import TableStore
from core.training.backends import job_manager_for
from core.training.jobs import JobBackend


def settings() -> Settings:
    return load_settings()


# How to find this browser session's owner: ui/state.py (which keeps it in the session's state object) registers
# it when imported, so this module needs nothing from ui/ and the two never import each other.
_session_owner: Callable[[], str] | None = None


def set_session_owner(provider: Callable[[], str]) -> None:
    global _session_owner
    _session_owner = provider


def _owner() -> str | None:
    if not settings().shared:
        return None
    if _session_owner is None:
        raise RuntimeError("ui.state registers the session owner; import it before opening a session's stores.")
    return _session_owner()


def run_store() -> RunStore:
    current = settings()
    return RunStore(current.runs_dir, owner=_owner(), caps=RunCaps.from_settings(current))


def table_store() -> TableStore:
    current = settings()
    owner = _owner()
    return TableStore(current.tables_dir, owner=owner, max_tables=current.max_tables_per_session if owner else None)


def job_manager() -> JobBackend:
    """One manager per runs folder and server process (server.py starts it before the first visitor)."""
    return job_manager_for(settings())


def search_store() -> SearchStore:
    """This session's searches (in shared mode another session's search is "not found")."""
    current = settings()
    return SearchStore(current.home / "searches", owner=_owner())


def _runs_for(current: Settings, owner: str | None) -> RunStore:
    return RunStore(current.runs_dir, owner=owner, caps=RunCaps.from_settings(current))


def start_search(search_id: str) -> None:
    """Run (or resume) a search of this session in this server process."""
    searches = search_store()
    _drive(settings(), searches, search_id, run_store())


def resume_all_searches(current: Settings) -> list[str]:
    """At server start: every search left running resumes (its owner's quotas apply to its trials)."""
    searches = SearchStore(current.home / "searches")
    resumed = []
    for search_id in searches.list_ids():
        if searches.state(search_id).get("state") == "running":
            _drive(current, searches, search_id, _runs_for(current, searches.meta(search_id).get("owner")))
            resumed.append(search_id)
    return resumed


def _drive(current: Settings, searches: SearchStore, search_id: str, store: RunStore) -> None:
    """The search's runner, its trials started through the job manager as Train's button starts runs (quotas and
    caps apply); while the owner's queue is full, trials wait."""
    meta = searches.meta(search_id)
    run_search(searches, search_id, store, _submit_with(current, store, meta),
               can_submit=lambda: _room_in(current, store.owner),
               score=lambda run_id: score_on_test(run_id, store=store, current=current))  # fmt: skip


def score_on_test(run_id: str, *, store: RunStore | None = None, current: Settings | None = None) -> None:
    """Queue a search trial's run to be scored on its held-back test rows (the chosen run of a search)."""
    from core.training.run_job import request_test_score  # the run-job module is a worker's: loaded when used

    store = store or run_store()
    manager = job_manager_for(current or settings())
    manager.check_quota(store.owner_of(run_id))  # before the run leaves its final state: a full queue changes nothing
    before = store.status(run_id)
    request_test_score(store, run_id)
    try:
        manager.submit(run_id)
    except QuotaError:  # another click took the last place meanwhile: the run goes back as it was
        store.files(run_id).remove(RunFiles.SCORE_TEST)
        ref = before.message_ref
        store.set_status(run_id, before.state, Message(ref["id"], ref.get("params") or {}) if ref else before.message)
        raise


def _submit_with(current: Settings, store: RunStore, meta: dict):
    pixels = meta.get("pixels")

    def submit(spec):
        return job_manager_for(current).start(
            store, spec, Path(meta["table"]), source_name=meta.get("source_name") or "table",
            reading=meta.get("reading"), pixels=Path(pixels) if pixels else None, search=meta["search_id"],
        )  # fmt: skip

    return submit


def _room_in(current: Settings, owner: str | None) -> bool:
    try:
        job_manager_for(current).check_quota(owner)
    except QuotaError:
        return False
    return True
