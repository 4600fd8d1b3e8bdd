"""Process-wide services shared by every browser session, and this session's views of the stores.

In shared-demo mode the run and table stores are opened for this session's owner, so every access by id
is checked in core (`RunStore.path`, `TableStore.path`): another visitor's run or table is "not found".
"""

from __future__ import annotations

from collections.abc import Callable

from core.config import Settings, load_settings
from core.run_store import RunStore
from core.shared_mode.limits import RunCaps
from core.table_store import TableStore
from core.training.jobs import JobManager, job_manager_for


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


def job_manager() -> JobManager:
    """One manager per runs folder and server process (server.py starts it before the first visitor)."""
    return job_manager_for(settings())
