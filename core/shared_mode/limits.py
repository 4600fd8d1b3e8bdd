"""Hard caps of a shared demo, checked in core when a run is created, whatever the entry point.

The page, a spec upload, `layerlab train` with `LAYERLAB_SHARED=1` and Continue all come through here, so
a visitor over a cap is refused before any memory is spent on building or training the network. The
Model page shows the same caps before Train is pressed (`describe_caps`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from core.config import Settings, load_settings
from core.data.preprocessing import estimate_preprocessing
from core.data.profiling import infer_task
from core.errors import AppError, CapError, QuotaError
from core.i18n import t
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

    def check(self, spec: RunSpec, table: pd.DataFrame | Path, *, pixels_shape: tuple | None = None) -> None:
        """Raise `CapError` naming every cap the run would exceed (all at once, so one fix round is enough).
        `pixels_shape`: an image set's pixel array shape (images, side, side, channels)."""
        frame, num_rows = _sample(table)
        problems = []
        if num_rows > self.max_rows:
            problems.append(t("train.caps.problem.rows", rows=num_rows, limit=self.max_rows))
        if spec.training.epochs > self.max_epochs:
            problems.append(t("train.caps.problem.epochs", epochs=spec.training.epochs, limit=self.max_epochs))
        num_params = count_run_params(spec, frame, pixels_shape=pixels_shape)
        if num_params is not None:
            if num_params > self.max_params:
                problems.append(t("train.caps.problem.params", params=num_params, limit=self.max_params))
            size_mb = num_params * BYTES_PER_PARAMETER / 2**20
            if size_mb > self.max_model_mb:
                problems.append(t("train.caps.problem.model_size", size_mb=size_mb, limit=self.max_model_mb))
        if problems:
            raise CapError(
                t(
                    "train.caps.too_large",
                    problems=t("train.caps.separator").join(problems),
                    minutes=self.max_run_minutes,
                )
            )


MAX_TEXT_SEQUENCE = 400  # core.data.text's longest automatic sequence: the caps count at least that


def _sample(table: pd.DataFrame | Path) -> tuple[pd.DataFrame, int]:
    if isinstance(table, pd.DataFrame):
        return table, len(table)

    parquet = pq.ParquetFile(table)
    num_rows = parquet.metadata.num_rows
    first = next(parquet.iter_batches(batch_size=SAMPLE_ROWS), None)
    frame = first.to_pandas() if first is not None else parquet.schema_arrow.empty_table().to_pandas()
    return frame, num_rows


def count_run_params(spec: RunSpec, frame: pd.DataFrame, *, pixels_shape: tuple | None = None) -> int | None:
    """The network's parameter count, computed without Keras from the spec and a sample of the table.

    Images: from the pixel array's shape (or the spec's image size). Text: an upper bound, the vocabulary at
    its configured size (a bag of n-grams) or the longest sequence the spec allows (an Embedding first).
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
        if spec.data.kind == "images":
            if pixels_shape is None:
                return None
            side = spec.preprocessing.images.image_size or int(pixels_shape[1])
            shape = (side, side, int(pixels_shape[-1]))
            rows = describe_model(spec.model, math.prod(shape), task, classes, input_shape=shape, input_kind="image")
        elif spec.data.kind == "text":
            text = spec.preprocessing.text
            if spec.model.layers and spec.model.layers[0].kind == "embedding":
                length = text.output_sequence_length or MAX_TEXT_SEQUENCE
                rows = describe_model(spec.model, length, task, classes, input_shape=(length,), input_kind="tokens")
            else:
                rows = describe_model(spec.model, text.max_tokens, task, classes)
        else:
            estimated = estimate_preprocessing(frame, features, spec.preprocessing)
            rows = describe_model(
                spec.model, estimated.num_features, task, classes, estimated.embeddings(), periodic=estimated.periodic()
            )
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
            t(
                "train.caps.more_epochs",
                done=done,
                more=more_epochs,
                limit=caps.max_epochs,
                left=max(caps.max_epochs - done, 0),
            )
        )


def check_session_disk(settings: Settings, owner: str | None) -> None:
    """Refuse new work when a shared-mode session's tables and runs already fill its disk quota."""
    if not settings.shared or owner is None:
        return

    used = RunStore(settings.runs_dir).disk_bytes(owner=owner)
    used += TableStore(settings.tables_dir, owner=owner).disk_bytes()
    limit = settings.max_session_disk_mb * 2**20
    if used >= limit:
        raise QuotaError(t("train.caps.disk", used_mb=used / 2**20, limit=settings.max_session_disk_mb))


def describe_caps(settings: Settings) -> list[str]:
    """The caps as short sentences for the Model page (empty in single-user mode)."""
    caps = RunCaps.from_settings(settings)
    if caps is None:
        return []
    return [
        t("train.caps.params", count=caps.max_params),
        t("train.caps.epochs", count=caps.max_epochs),
        t("train.caps.minutes", count=caps.max_run_minutes),
        t("train.caps.model_size", limit=caps.max_model_mb),
        t("train.caps.rows", count=caps.max_rows),
        t("train.caps.memory", limit=settings.worker_memory_mb) if settings.worker_memory_mb else "",
        t(
            "train.caps.per_visitor",
            running=settings.max_running_per_session,
            waiting=settings.max_queued_per_session,
        ),
    ]
