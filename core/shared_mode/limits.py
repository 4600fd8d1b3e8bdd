"""Hard caps of a shared demo, checked in core when a run is created, whatever the entry point.

The page, a spec upload, `layerlab train` with `LAYERLAB_SHARED=1` and Continue all come through here, so
a visitor over a cap is refused before any memory is spent on building or training the network. The
Model page shows the same caps before Train is pressed (`describe_caps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from core.config import Settings, load_settings
from core.data.preprocessing import estimate_preprocessing
from core.data.profiling import infer_task
from core.errors import AppError, CapError, QuotaError
from core.model.building import count_params, describe_model
from core.run_store import RunStore
from core.spec import RunSpec
from core.table_store import TableStore

BYTES_PER_PARAMETER = 4
SAMPLE_ROWS = 5000


@dataclass(frozen=True, slots=True)
class RunCaps:
    """The most one run may ask for (shared-demo mode)."""

    max_params: int
    max_epochs: int
    max_rows: int
    max_model_mb: int
    max_run_minutes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RunCaps | None:
        """The caps in force: None in single-user mode, where the machine is the user's own."""
        if not settings.shared:
            return None
        return cls(
            max_params=settings.max_params,
            max_epochs=settings.max_epochs,
            max_rows=settings.max_rows,
            max_model_mb=settings.max_model_mb,
            max_run_minutes=settings.max_run_minutes,
        )

    def check(self, spec: RunSpec, table: pd.DataFrame | Path) -> None:
        """Raise `CapError` naming every cap the run would exceed (all at once, so one fix round is enough)."""
        frame, num_rows = _sample(table)
        problems = []
        if num_rows > self.max_rows:
            problems.append(f"the table has {num_rows:,} rows; this server trains on at most {self.max_rows:,}")
        if spec.training.epochs > self.max_epochs:
            problems.append(f"{spec.training.epochs:,} epochs were asked for; the limit is {self.max_epochs:,}")
        num_params = count_run_params(spec, frame)
        if num_params is not None:
            if num_params > self.max_params:
                problems.append(
                    f"the network has {num_params:,} parameters; the limit is {self.max_params:,} "
                    "(use fewer or narrower layers)"
                )
            size_mb = num_params * BYTES_PER_PARAMETER / 2**20
            if size_mb > self.max_model_mb:
                problems.append(
                    f"the model file would need about {size_mb:,.0f} MB; the limit is {self.max_model_mb:,} MB"
                )
        if problems:
            raise CapError(
                "This run is larger than this shared server allows: " + "; ".join(problems) + ". Change these "
                f"settings and press Train again. (Each run also stops after {self.max_run_minutes} minutes, "
                "keeping its best weights.)"
            )


def _sample(table: pd.DataFrame | Path) -> tuple[pd.DataFrame, int]:
    if isinstance(table, pd.DataFrame):
        return table, len(table)

    parquet = pq.ParquetFile(table)
    num_rows = parquet.metadata.num_rows
    first = next(parquet.iter_batches(batch_size=SAMPLE_ROWS), None)
    frame = first.to_pandas() if first is not None else parquet.schema_arrow.empty_table().to_pandas()
    return frame, num_rows


def count_run_params(spec: RunSpec, frame: pd.DataFrame) -> int | None:
    """The network's parameter count, computed without Keras from the spec and a sample of the table.

    None when it cannot be computed (a stack that does not fit, a missing target): the run then fails later
    with that problem's own message, before any network is built.
    """

    target = spec.data.target
    if target not in frame.columns:
        return None
    features = list(spec.data.features) or [c for c in frame.columns if c != target]
    features = [c for c in features if c in frame.columns and c != spec.data.group_column]
    try:
        task = spec.data.task or infer_task(frame[target])
        classes = frame[target].dropna().astype(str).nunique() if task != "regression" else 0
        estimated = estimate_preprocessing(frame, features, spec.preprocessing)
        rows = describe_model(spec.model, estimated.num_features, task, classes, estimated.embeddings())
        return count_params(rows)
    except (AppError, KeyError, ValueError):
        return None


def check_more_epochs(store, run_id: str, more_epochs: int) -> None:
    """Continue may not take a shared-mode run past the epoch cap."""

    caps = RunCaps.from_settings(load_settings())
    if caps is None:
        return
    metrics = store.metrics(run_id) or {}
    done = int(metrics.get("epochs_run") or 0)
    if done + more_epochs > caps.max_epochs:
        raise CapError(
            f"This run has trained {done} epochs; {more_epochs} more would pass this server's limit of "
            f"{caps.max_epochs} epochs per run. Continue for at most {max(caps.max_epochs - done, 0)} more."
        )


def check_session_disk(settings: Settings, owner: str | None) -> None:
    """Refuse new work when a shared-mode session's tables and runs already fill its disk quota."""
    if not settings.shared or owner is None:
        return

    used = RunStore(settings.runs_dir).disk_bytes(owner=owner)
    used += TableStore(settings.tables_dir, owner=owner).disk_bytes()
    limit = settings.max_session_disk_mb * 2**20
    if used >= limit:
        raise QuotaError(
            f"Your tables and runs use {used / 2**20:,.0f} MB, this server's limit per visitor "
            f"({settings.max_session_disk_mb:,} MB). Delete runs on the Train page or tables on the Data page "
            "that you no longer need, then try again."
        )


def describe_caps(settings: Settings) -> list[str]:
    """The caps as short sentences for the Model page (empty in single-user mode)."""
    caps = RunCaps.from_settings(settings)
    if caps is None:
        return []
    return [
        f"at most {caps.max_params:,} parameters",
        f"at most {caps.max_epochs:,} epochs",
        f"at most {caps.max_run_minutes} minutes of training (then it stops and keeps its best weights)",
        f"a model file of at most {caps.max_model_mb:,} MB",
        f"at most {caps.max_rows:,} rows",
        f"{settings.worker_memory_mb:,} MB of memory while training" if settings.worker_memory_mb else "",
        f"{settings.max_running_per_session} run(s) training and {settings.max_queued_per_session} waiting per visitor",
    ]
