"""Process-wide services shared by every browser session: the run store and the job manager."""

from __future__ import annotations

import streamlit as st

from core.config import Settings, load_settings
from core.jobs import JobManager
from core.run_store import RunStore


def settings() -> Settings:
    return load_settings()


@st.cache_resource(show_spinner=False)
def _job_manager(runs_dir: str, max_jobs: int) -> JobManager:
    return JobManager(RunStore(runs_dir), max_jobs=max_jobs)


def run_store() -> RunStore:
    return RunStore(settings().runs_dir)


def job_manager() -> JobManager:
    """One manager per runs folder and server process; keyed by folder so tests with their own home get theirs."""
    current = settings()
    return _job_manager(str(current.runs_dir), current.max_jobs)
