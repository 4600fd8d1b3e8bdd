"""One training run, start to finish, driven by the files in its run directory.

The same `run_job` serves the app (inside a worker process, see `core.training.jobs`) and the CLI (in-process), so
the same spec and seed give the same result in both.

With `data.cross_validation_folds = k >= 2`, k more models are trained after the main one is exported and
scored on their held-out folds (`_cross_validate`); the main run, its test metrics and its model are unchanged.
"""

from __future__ import annotations

import io
import logging
import math
import os
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from core.config import load_settings
from core.data.feeding import even_rows
from core.data.splitting import PreparedData
from core.deployment.serving_model import check_model_size, inference_model, save_model_atomic
from core.deployment.threshold import load_threshold
from core.errors import AppError, TrainingError
from core.evaluation.baselines import gap_message, is_imbalanced
from core.evaluation.metrics import METRIC_LABELS, class_row_notes, class_rows, compute_metrics, predictions_frame
from core.failures import USER_ERROR, Failure, internal_error, user_error
from core.i18n import Message, get_language, t, use_language
from core.incidents import record_incident
from core.kinds import dataset_kind
from core.model.building import (
    build_model,
    choose_steps_per_execution,
    derive_head,
    is_periodic_frequencies,
    make_optimizer,
)
from core.model.optimization import (
    choose_precision,
    current_learning_rate,
    gpu_batch_size_note,
    make_schedule_callbacks,
)
from core.run_store import FINAL_STATES, HOST, TEST_HELD_BACK, RunFiles, RunStatus, RunStore, english, run_language
from core.runtime.devices import describe_device
from core.runtime.distribution import ONE_DEVICE, DataParallel, data_parallel
from core.shared_mode.limits import check_more_epochs
from core.spec import RunSpec
from core.training.tracking import log_to_mlflow

PROGRESS_INTERVAL_S = 0.25


def make_live_callback(
    store: RunStore,
    run_id: str,
    *,
    steps_per_epoch: int,
    epochs: int,
    metric_scale: float,
    record_history: bool = True,
    progress_extra: dict | None = None,
    initial_epoch: int = 0,
    history: list[dict] | None = None,
    checkpoint: Callable[[object, int], None] | None = None,
):
    """A Keras callback that writes progress and history to the run directory and obeys the Stop flag.

    `record_history=False` keeps the epoch rows in memory only (cross-validation folds must not overwrite the
    main run's `history.json`); `progress_extra` is merged into every `progress.json` (e.g. the fold number).
    A continued run passes its `history` so far and `initial_epoch`: new rows are appended, so the curves
    continue where they stopped. Each row records the learning rate the epoch started with.
    `checkpoint(model, epochs_run)` is called after epochs while saving costs under 5% of the epoch time, so a
    run whose process dies can still continue from its last saved epoch.
    Defined in a factory so importing this module does not import Keras.
    """
    import keras  # Keras loads only in workers and helpers, never in the web server

    class LiveProgress(keras.callbacks.Callback):
        # The batch hook only reads numbers and touches files, so Keras may run it on its callback thread:
        # on JAX a callback without this flag turns asynchronous dispatch off, and `float(logs["loss"])` then
        # waits for the device after every fused call.
        async_safe = True

        def __init__(self):
            super().__init__()
            self.run_dir = store.path(run_id)
            self.rows: list[dict] = list(history or [])
            self.stopped_by_user = False
            self.diverged = False
            self.best_loss = math.inf
            self.best_epoch: int | None = None
            self.best_weights = None
            for row in self.rows:
                if row.get("val_loss") is not None and row["val_loss"] < self.best_loss:
                    self.best_loss, self.best_epoch = row["val_loss"], row["epoch"]
            # The loss at the start of training sets the scale against which an explosion is judged.
            finite = [row["loss"] for row in self.rows if row.get("loss") is not None]
            self.reference_loss: float | None = abs(finite[0]) if finite else None
            self._last_write = 0.0
            self._epoch = initial_epoch
            self._epoch_learning_rate: float | None = None
            self._started = time.monotonic()
            self._epoch_started = self._started
            self._checkpoint_seconds = 0.0
            self._timed_from: tuple[float, int] | None = None  # (time, steps done) after the first call
            self._epochs_ended = 0

        def on_train_begin(self, logs=None):
            self._started = time.monotonic()
            if self.best_epoch is not None and self.best_weights is None:
                # A continued run: the weights it starts from are the ones the run kept.
                self.best_weights = self.model.get_weights()
            self._write_progress(0, force=True)

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch
            self._epoch_started = time.monotonic()
            self._epoch_learning_rate = current_learning_rate(self.model.optimizer)

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None:
                loss = float(loss)
                if self.reference_loss is None and math.isfinite(loss):
                    self.reference_loss = abs(loss)
                if _diverging(loss, self.reference_loss):
                    self.diverged = True
                    self.model.stop_training = True
            if store.stop_requested(run_id):
                self.stopped_by_user = True
                self.model.stop_training = True
            self._write_progress(batch + 1)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            metric_key = next(
                (k for k in logs if k not in {"loss", "val_loss", "learning_rate"} and not k.startswith("val_")), None
            )
            row = {
                "epoch": epoch + 1,
                "loss": _finite(logs.get("loss")),
                "val_loss": _finite(logs.get("val_loss")),
                "metric": _scaled(logs.get(metric_key), metric_scale) if metric_key else None,
                "val_metric": _scaled(logs.get(f"val_{metric_key}"), metric_scale) if metric_key else None,
                "learning_rate": self._epoch_learning_rate,
                "seconds": round(time.monotonic() - self._epoch_started, 3),
            }
            if row["loss"] is None and not self.diverged:
                self.diverged = True
                self.model.stop_training = True
            self.rows.append(row)
            if record_history:
                RunFiles(self.run_dir).write_history(self.rows)
            val_loss = row["val_loss"]
            if val_loss is not None and val_loss < self.best_loss and not self.diverged:
                self.best_loss = val_loss
                self.best_epoch = epoch + 1
                self.best_weights = self.model.get_weights()
            self._epochs_ended += 1
            self._write_progress(steps_per_epoch, force=True, epoch_done=True)
            if checkpoint is not None and not self.diverged and not self.model.stop_training:
                if self._checkpoint_seconds <= CHECKPOINT_SHARE * row["seconds"] or not self._checkpoint_seconds:
                    saving = time.monotonic()
                    checkpoint(self.model, epoch + 1)
                    self._checkpoint_seconds = time.monotonic() - saving

        def _write_progress(self, batch: int, *, force: bool = False, epoch_done: bool = False):
            now = time.monotonic()
            done = (self._epoch + (1 if epoch_done else 0)) * steps_per_epoch + (0 if epoch_done else batch)
            if self._timed_from is None and done > initial_epoch * steps_per_epoch:
                self._timed_from = (now, done)  # the first call traced the step function: not part of the rate
            if not force and now - self._last_write < PROGRESS_INTERVAL_S:
                return
            self._last_write = now
            elapsed = now - self._started
            total = epochs * steps_per_epoch
            eta = None
            if self._timed_from is not None:
                since, steps = now - self._timed_from[0], done - self._timed_from[1]
                eta = estimate_eta(since, steps, total - done, epoch_ended=self._epochs_ended > 0)
            RunFiles(self.run_dir).write_progress(
                {
                    "epoch": self._epoch + 1,
                    "epochs": epochs,
                    "batch": min(batch, steps_per_epoch),
                    "steps_per_epoch": steps_per_epoch,
                    "fraction": min(done / total, 1.0) if total else 0.0,
                    "elapsed_s": round(elapsed, 2),
                    "eta_s": None if eta is None else round(eta, 1),
                    "updated_at": time.time(),
                    **(progress_extra or {}),
                },
            )

    return LiveProgress()


ETA_MIN_SECONDS = 5.0


def estimate_eta(seconds: float, steps: int, remaining_steps: int, *, epoch_ended: bool) -> float | None:
    """Seconds left at the rate of the timed steps; None ("estimating…") until that rate can be trusted.

    The first call of `fit` traces the step function and can take longer than a whole short run, so the rate
    counts only the steps after it, and only once they span `ETA_MIN_SECONDS` or a whole epoch has ended
    (whose validation pass is then part of the rate). A 20-second run once showed an ETA of 15 minutes.

    Example:
        >>> estimate_eta(1.0, 10, 90, epoch_ended=False) is None
        True
        >>> estimate_eta(6.0, 60, 40, epoch_ended=False)
        4.0
    """
    if steps <= 0 or (seconds < ETA_MIN_SECONDS and not epoch_ended):
        return None
    return seconds / steps * remaining_steps


CHECKPOINT_SHARE = 0.05  # per-epoch checkpoints may cost at most this share of the epoch's time

# The per-batch loss Keras reports is the running mean of the epoch; a mean this many times the first loss of the
# run is no longer training but exploding (a huge learning rate can reach 1e11 without ever producing NaN).
EXPLOSION_FACTOR = 1e3


def _diverging(loss: float, reference: float | None) -> bool:
    if not math.isfinite(loss):
        return True
    return reference is not None and loss > EXPLOSION_FACTOR * max(reference, 1e-3)


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _scaled(value, scale: float) -> float | None:
    value = _finite(value)
    return None if value is None else value * scale


class _Heartbeat:
    """Touches `heartbeat` every second so a reader can tell a live job from a dead process."""

    def __init__(self, files: RunFiles):
        self.files = files
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="layerlab-heartbeat")

    def __enter__(self):
        self.files.touch_heartbeat()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self):
        while not self._stop.wait(1.0):
            try:
                self.files.touch_heartbeat()
            except OSError:
                return


def run_job(store: RunStore, run_id: str) -> RunStatus:
    """Train, evaluate and export one run. Returns the final status; never leaves it `running`.

    Errors a user can cause end as state `failed` with the error's message. Bugs end as `failed` too,
    with the traceback in `log.txt`, and are re-raised so tests and the CLI see them.
    """
    run_dir = store.path(run_id)
    # Stored sentences are message ids, read in the visitor's language when shown; the text that other modules'
    # errors carry is written in the language the run was started in.
    language = run_language(RunFiles(run_dir).meta()) or get_language()
    with _Heartbeat(RunFiles(run_dir)), use_language(language):
        try:
            _run(store, run_id, run_dir)
        except AppError as error:
            store.fail(run_id, _user_failure(error), finished_at=time.time())
        except BaseException as error:
            # log.txt is for an operator reading the run folder; the page shows the incident id instead.
            details = traceback.format_exc()
            RunFiles(run_dir).write_text(RunFiles.LOG, details)
            incident_id = record_incident(f"training run {run_id}", details)
            failure = internal_error(
                Message("train.failed.what"),
                incident_id,
                advice=Message("train.failed.advice"),
                detail=details.strip().splitlines()[-1],
            )
            store.fail(run_id, failure, finished_at=time.time())
            if isinstance(error, Exception):
                _track(store, run_id)
            raise
        return _track(store, run_id)


def _track(store: RunStore, run_id: str) -> RunStatus:
    """The run logged to MLflow when configured (core.training.tracking); a note on the run when that failed."""
    note = log_to_mlflow(store, run_id)
    if note is not None:
        notes = list(store.status(run_id).extra.get("notes") or [])
        store.update_status(run_id, notes=[*notes, note.to_dict()])
    return store.status(run_id)


def _training_error(message_id: str, /, **params) -> TrainingError:
    """A TrainingError in the current language that also keeps its message id and params (`stored`), so the
    run's failure record reads in the visitor's language later."""
    error = TrainingError(t(message_id, **params))
    error.stored = Message(message_id, params)
    return error


def _user_failure(error: AppError) -> Failure:
    """An AppError as the run's failure: by its message id when it kept one, else by its text."""
    stored = getattr(error, "stored", None)
    if isinstance(stored, Message):
        return Failure(USER_ERROR, stored.id, dict(stored.params), detail=type(error).__name__)
    return user_error(error.message, detail=type(error).__name__)


def _stored_note(note) -> object:
    """A note as a run file keeps it: a Message (or a note carrying one) as {"id", "params"}; text as it is."""
    if isinstance(note, Message):
        return note.to_dict()
    if isinstance(getattr(note, "message", None), Message):
        return note.message.to_dict()
    return note


def _run(store: RunStore, run_id: str, run_dir: Path) -> RunStatus:
    score_request = RunFiles(run_dir).read_json(RunFiles.SCORE_TEST)
    if score_request:
        return _score_held_back(store, run_id, run_dir, score_request)
    spec: RunSpec = store.spec(run_id)
    resume = _pending_resume(run_dir)
    started = time.time()
    parallel = data_parallel(load_settings().devices_per_run)
    device = describe_device(used=parallel.devices if parallel.kind == "GPU" else 1)
    extra = {"resumed_at": started} if resume else {"started_at": started}
    store.set_status(
        run_id, "running", Message("train.status.preparing"), pid=os.getpid(), host=HOST, device=device, **extra
    )
    if store.stop_requested(run_id):
        RunFiles(run_dir).remove(RunFiles.RESUME)
        message = "train.status.stopped_before_start" if resume is None else "train.status.stopped_before_continue"
        store.set_status(run_id, "stopped", Message(message), finished_at=time.time())
        return store.status(run_id)

    import keras  # Keras loads only in workers and helpers, never in the web server

    # Seeds alone make CPU runs bit-identical across processes (tests/unit/test_cli.py checks CLI vs app);
    # TensorFlow's enable_op_determinism() would add ~15% to every fit for nothing more here.
    keras.utils.set_random_seed(spec.data.seed)
    kind = dataset_kind(spec.data.kind)
    data: PreparedData = kind.prepare(kind.load(store, run_id), spec.data, spec.preprocessing, model_spec=spec.model)
    RunFiles(run_dir).write_json(RunFiles.TARGET, data.target.to_dict())
    RunFiles(run_dir).write_text(RunFiles.PREPROCESSING, kind.preprocessing_record(data))
    # A search's trial keeps its test rows unseen: it is chosen on validation scores, and only the chosen run
    # is scored on the test rows (`request_test_score`), so no test score can steer the choice.
    held_back = bool(RunFiles(run_dir).meta().get(TEST_HELD_BACK))
    baselines_future = None if held_back else _start_baselines(kind, data, spec.data.seed)
    # Notes are kept as messages ({"id", "params"}), or as text where a module still makes text.
    notes: list = [_stored_note(note) for note in data.notes]
    if spec.training.class_weight == "balanced" and data.target.task == "regression":
        notes.append(Message("train.note.class_weight_regression").to_dict())
    batch_note = gpu_batch_size_note(device, spec.training.batch_size, len(data.train))
    if batch_note:
        notes.append(_stored_note(batch_note))
    schedule = spec.training.schedule
    if resume is not None and schedule.kind == "cosine" and resume.initial_epoch >= spec.training.epochs:
        rate = f"{schedule.alpha * spec.training.learning_rate:g}"
        notes.append(Message("train.note.cosine_ended", {"epochs": spec.training.epochs, "rate": rate}).to_dict())
    if resume is not None:
        # A different seed than the first fit, so the new epochs see new shuffles; still reproducible.
        keras.utils.set_random_seed(spec.data.seed + resume.initial_epoch)

    # Recorded when training on several devices: the Train page says so, with the rows per step (a table with
    # fewer training rows than a full step's takes them all in one step, split evenly).
    per_step = parallel.global_batch(spec.training.batch_size, len(data.y_train))
    spread = (
        {"data_parallel": {**parallel.to_dict(), "batch_per_device": per_step // parallel.devices,
                           "batch_per_step": per_step}}
        if parallel.active
        else {}
    )  # fmt: skip

    def announce_training(network, steps_per_execution: int, precision: str) -> None:

        # Before the first checkpoint is written: a model over the server's file size never reaches the disk.
        check_model_size(network.count_params(), data.preprocessing, max_model_mb=load_settings().max_model_mb)
        message = (
            Message("train.status.training")
            if resume is None
            else Message("train.status.continuing", {"epoch": resume.initial_epoch})
        )
        store.set_status(
            run_id,
            "running",
            message,
            num_params=int(network.count_params()),
            steps_per_execution=steps_per_execution,
            precision=precision,
            notes=notes,
            training_started_at=time.time(),
            **spread,
        )

    trained = _train_and_predict(
        store,
        run_id,
        spec,
        data,
        before_fit=announce_training,
        evaluating_message=None if held_back else Message("train.status.evaluating"),
        resume=resume,
        device=device,
        predict_test=not held_back,
        parallel=parallel,
    )
    live, network = trained.live, trained.network
    _save_checkpoint(network, run_dir, trained.epochs_run, trained.precision)
    test_metrics = {} if held_back else _score_test_rows(run_dir, kind, data, trained.output)
    continued = list((store.metrics(run_id) or {}).get("continued", [])) if resume else []
    if resume is not None:
        continued.append({"from_epoch": resume.initial_epoch, "to_epoch": trained.epochs_run, "at": time.time()})
    metrics = {
        "task": data.target.task,
        "target": data.target.name,
        "test": test_metrics,
        "num_rows": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)},
        "features": list(data.features),
        "num_params": int(network.count_params()),
        "epochs_run": trained.epochs_run,
        "best_epoch": live.best_epoch,
        "restored_best_weights": trained.restored,
        "diverged": live.diverged,
        "train_seconds": round(trained.train_seconds, 3),
        "steps_per_execution": trained.steps_per_execution,
        "precision": trained.precision,
        "optimizer_iterations": trained.iterations,
        "class_weight": trained.class_weight,
        "notes": notes,
        **spread,
    }
    if data.target.task != "regression":
        metrics["class_rows"] = class_rows(data.target, data.y_train, data.y_test)
        notes.extend(_stored_note(note) for note in class_row_notes(metrics["class_rows"]))
    if continued:
        metrics["continued"] = continued
    if held_back:
        metrics[TEST_HELD_BACK] = True
    RunFiles(run_dir).write_metrics(metrics)

    store.set_status(run_id, "running", Message("train.status.saving"))

    # Weights only: the optimizer state stays in checkpoint.keras, the one file "Continue training" reads.
    weights = inference_model(network)
    if keras.backend.backend() == "tensorflow":
        # A continued run keeps the decision threshold the user saved for it (0.5 when none was saved).
        serving = kind.serving_model(weights, data.preprocessing, data.target, threshold=load_threshold(run_dir))
        save_model_atomic(serving, RunFiles(run_dir).path(RunFiles.MODEL))
    weights.save(RunFiles(run_dir).path(RunFiles.NETWORK))  # the bare network, for backends without string tensors
    del trained, network, weights

    if baselines_future is not None:
        if not baselines_future.done():
            store.set_status(run_id, "running", Message("train.status.baselines"))
        baselines = _extra(run_id, run_dir, notes, Message("train.extra.baselines"), baselines_future.result)
        metrics.update(_baseline_fields(spec, data, test_metrics, baselines))
    RunFiles(run_dir).write_metrics(metrics)

    target_epochs = spec.training.epochs if resume is None else resume.target_epochs
    reason = store.stop_reason(run_id)
    time_limit = load_settings().max_run_minutes if reason == "time_limit" else None
    summary = _final_message(
        live, metrics["epochs_run"], target_epochs, metrics["restored_best_weights"], resume, time_limit=time_limit,
        pruned=reason == "pruned",
    )  # fmt: skip
    stopped = live.stopped_by_user
    extra = {"diverged": live.diverged, "precision": metrics["precision"]}
    if data.cross_validation is not None:
        result = None
        if held_back:
            notes.append(Message("train.note.cross_validation_skipped_trial").to_dict())
        elif stopped:
            notes.append(Message("train.note.cross_validation_skipped_stopped").to_dict())
        else:
            result = _extra(
                run_id,
                run_dir,
                notes,
                Message("train.extra.cross_validation"),
                lambda: _cross_validate(store, run_id, spec, data, device=device, parallel=parallel),
            )
        if result is not None:
            RunFiles(run_dir).write_json(RunFiles.CROSS_VALIDATION, result)
            notes.extend(result["notes"])
            metrics["cross_validation"] = {key: result[key] for key in CROSS_VALIDATION_SUMMARY_KEYS}
            extra["cross_validation"] = metrics["cross_validation"]
            summary = Message(
                "train.final.with_cross_validation",
                {"summary": summary, "cross_validation": _cross_validation_message(result)},
            )
            stopped = result["stopped"]
        RunFiles(run_dir).write_metrics(metrics)

    RunFiles(run_dir).remove(RunFiles.RESUME)
    state = "stopped" if stopped else "finished"
    store.set_status(run_id, state, summary, finished_at=time.time(), metrics=test_metrics, notes=notes, **extra)
    return store.status(run_id)


def _score_test_rows(run_dir: Path, kind, data: PreparedData, output: np.ndarray) -> dict:
    """The network's test metrics from its output on the test rows; writes its predictions and, for a table,
    the test rows themselves (Evaluate reads both)."""
    test_metrics = compute_metrics(data.target, data.y_test, output)
    RunFiles(run_dir).write_bytes(
        RunFiles.PREDICTIONS, _to_parquet(predictions_frame(data.target, data.y_test, output))
    )
    test_rows = kind.held_out_rows(data)
    if test_rows is not None:  # a table's test rows are found again from its seeded split when first asked for
        RunFiles(run_dir).write_bytes(RunFiles.TEST_ROWS, _to_parquet(test_rows.reset_index(drop=True)))
    return test_metrics


def _baseline_fields(spec: RunSpec, data: PreparedData, test_metrics: dict, baselines: list | None) -> dict:
    """metrics.json's baselines and the sentence comparing the network with them (none when they failed)."""
    if baselines is None:
        return {}
    imbalanced = data.target.task != "regression" and (
        spec.training.class_weight == "balanced" or is_imbalanced(np.bincount(data.y_train))
    )
    # A Message ({"id", "params"}), read in the reader's language (core.evaluation.baselines.stored_summary).
    summary_message = gap_message(data.target.task, test_metrics, baselines, imbalanced=imbalanced)
    return {"baselines": baselines,
            "baseline_summary": summary_message.to_dict() if summary_message is not None else ""}  # fmt: skip


def request_test_score(store: RunStore, run_id: str) -> None:
    """Ask for the test scores of a search trial's run (trained with its test rows held back); the next `run_job`
    of this run computes them, with the baselines, and leaves the run as it was otherwise. The caller queues
    the run (`JobManager.submit`) or runs it (`run_job`)."""
    files = store.files(run_id)
    status = store.status(run_id)
    if not files.meta().get(TEST_HELD_BACK):
        return
    if status.state not in FINAL_STATES or status.state == "failed" or not files.exists(RunFiles.NETWORK):
        raise TrainingError(t("train.score.not_ready"))
    files.write_json(RunFiles.SCORE_TEST, {"state": status.state, "message": status.message,
                                           "message_ref": status.message_ref, "requested_at": time.time()})  # fmt: skip
    files.remove(RunFiles.HEARTBEAT)  # the old beat would make the run look dead before its scoring job starts
    store.set_status(run_id, "created", Message("train.status.waiting_to_score"))


def _score_held_back(store: RunStore, run_id: str, run_dir: Path, request: dict) -> RunStatus:
    """A trial's run, scored on the test rows it was trained without: the same seeded split, the saved network.
    Training results stay; when scoring fails, the run returns to its state with the reason in its notes."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    files = RunFiles(run_dir)
    state, ref = request.get("state", "finished"), request.get("message_ref")
    message = Message(ref["id"], ref.get("params") or {}) if isinstance(ref, dict) else request.get("message") or ""
    store.set_status(run_id, "running", Message("train.status.scoring"), pid=os.getpid(), host=HOST)
    metrics = files.metrics() or {}
    notes = list(store.status(run_id).extra.get("notes") or [])
    try:
        spec: RunSpec = store.spec(run_id)
        kind = dataset_kind(spec.data.kind)
        data = kind.prepare(kind.load(store, run_id), spec.data, spec.preprocessing, model_spec=spec.model)
        network = keras.saving.load_model(files.path(RunFiles.NETWORK), compile=False)
        output = np.asarray(kind.predict(network, data, "test"), dtype=np.float32)
        test_metrics = _score_test_rows(run_dir, kind, data, output)
        metrics["test"] = test_metrics
        metrics.pop(TEST_HELD_BACK, None)
        if data.target.task != "regression":
            metrics["class_rows"] = class_rows(data.target, data.y_train, data.y_test)
        store.set_status(run_id, "running", Message("train.status.baselines"))
        baselines = _extra(run_id, run_dir, notes, Message("train.extra.baselines"),
                           lambda: kind.baselines(data, spec.data.seed))  # fmt: skip
        metrics.update(_baseline_fields(spec, data, test_metrics, baselines))
        files.write_metrics(metrics)
        store.update_meta(run_id, **{TEST_HELD_BACK: False})
    except AppError as error:
        notes.append(Message("train.note.score_failed", {"reason": error.message}).to_dict())
        test_metrics = {}
    files.remove(RunFiles.SCORE_TEST)
    store.set_status(run_id, state, message, metrics=test_metrics, notes=notes)
    return store.status(run_id)


def _start_baselines(kind, data: PreparedData, seed: int) -> Future:
    """Fit the simple models in a thread of their own while the network trains: they need only the prepared
    rows, and a run no longer waits for them after its last epoch (up to a minute beside another training run,
    before).

    With one OpenMP thread: gradient boosting's parallel loops wait at a barrier for their slowest thread, and on
    a busy machine (two cores, training beside it) that wait, not the work, took most of the minute. One core
    for the baselines also leaves the other to training."""
    future: Future = Future()

    def compute() -> None:
        try:
            from threadpoolctl import threadpool_limits  # only where BLAS threads are limited

            # OpenMP's thread count is per calling thread: this limits the baselines, not TensorFlow.
            with threadpool_limits(limits=1, user_api="openmp"):
                future.set_result(kind.baselines(data, seed))
        except BaseException as error:  # noqa: BLE001 - handed to the run, which turns it into a note
            future.set_exception(error)

    threading.Thread(target=compute, daemon=True, name="layerlab-baselines").start()
    return future


def _extra(run_id: str, run_dir: Path, notes: list, what: Message, compute: Callable[[], object]):
    """Run one extra after the model was saved (baselines, cross-validation); returns its result, or None when
    it failed, with a note saying so.

    An extra is a comparison, not the product: one that breaks on an unusual table (a class only in the
    test rows, say) must never turn a run with a good saved model into a failed one."""
    try:
        return compute()
    except AppError as error:
        notes.append(Message("train.note.extra_skipped", {"what": what, "reason": error.message}).to_dict())
    except Exception:  # noqa: BLE001 - recorded as an incident; the saved model stands
        details = traceback.format_exc()
        RunFiles(run_dir).append_text(RunFiles.LOG, details)
        incident_id = record_incident(f"{english(what).lower()} of training run {run_id}", details)
        notes.append(Message("train.note.extra_internal", {"what": what, "incident_id": incident_id}).to_dict())
    return None


@dataclass(frozen=True, slots=True)
class _Resume:
    initial_epoch: int  # epochs already run
    more_epochs: int
    history: list[dict]
    checkpoint: Path
    precision: str = "float32"

    @property
    def target_epochs(self) -> int:
        return self.initial_epoch + self.more_epochs


def _pending_resume(run_dir: Path) -> _Resume | None:
    files = RunFiles(run_dir)
    request = files.read_json(RunFiles.RESUME)
    if not request:
        return None
    info = files.read_json(RunFiles.CHECKPOINT_INFO) or {}
    initial_epoch = int(info.get("epochs", 0))
    history = files.history()[:initial_epoch]
    precision = info.get("precision", "float32")
    return _Resume(initial_epoch, int(request["epochs"]), history, files.path(RunFiles.CHECKPOINT), precision)


def _save_checkpoint(network, run_dir: Path, epochs_run: int, precision: str) -> None:
    """The model with its optimizer state (iteration count, moments, schedule) and the epochs run so far."""

    save_model_atomic(network, RunFiles(run_dir).path(RunFiles.CHECKPOINT))
    RunFiles(run_dir).write_json(
        RunFiles.CHECKPOINT_INFO,
        {
            "epochs": epochs_run,
            "optimizer_iterations": _iterations(network),
            "precision": precision,
            "saved_at": time.time(),
        },
    )


def _load_checkpoint(path: Path, precision: str):
    """The checkpoint, compiled with its optimizer state. A mixed-precision network must be rebuilt under the
    mixed policy: only then does compiling wrap its optimizer in the `LossScaleOptimizer` whose variables
    were saved (otherwise Keras skips loading the optimizer state with a warning)."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        return keras.saving.load_model(path, compile=True)
    finally:
        keras.config.set_dtype_policy(previous)


def _iterations(network) -> int:
    import keras  # Keras loads only in workers and helpers, never in the web server

    return int(keras.ops.convert_to_numpy(network.optimizer.iterations))


def resume_problem(store: RunStore, run_id: str) -> str | None:
    """Why this run cannot continue, in words; None when it can."""
    run_dir = store.path(run_id)
    state = store.status(run_id).state
    if state not in FINAL_STATES:
        return t("train.resume.not_final", state=t(f"train.state.{state}"))
    if store.spec(run_id).data.cross_validation_folds >= 2:
        return t("train.resume.cross_validation")
    if not RunFiles(run_dir).exists(RunFiles.CHECKPOINT) or not RunFiles(run_dir).exists(RunFiles.CHECKPOINT_INFO):
        return t("train.resume.no_checkpoint")
    schedule = store.spec(run_id).training.schedule
    if schedule.kind == "cosine" and schedule.alpha == 0:
        return t("train.resume.cosine_at_zero")
    return None


def request_resume(store: RunStore, run_id: str, epochs: int) -> None:
    """Ask for `epochs` more epochs of a finished or stopped run; the next `run_job` of this run does them.

    Raises `TrainingError` with the reason when the run cannot continue. The caller queues the run
    (`JobManager.submit`) or runs it (`run_job`), like a new one.
    """
    if not 1 <= int(epochs) <= 10000:
        raise TrainingError(t("train.resume.epochs_range", epochs=epochs))

    check_more_epochs(store, run_id, int(epochs))
    problem = resume_problem(store, run_id)
    if problem:
        raise TrainingError(problem)
    run_dir = store.path(run_id)
    RunFiles(run_dir).write_json(RunFiles.RESUME, {"epochs": int(epochs), "requested_at": time.time()})
    # The old heartbeat would make the run look dead between "running" and the new job's first beat.
    RunFiles(run_dir).clear_for_resume()
    store.set_status(run_id, "created", Message("train.status.waiting_to_continue", {"count": int(epochs)}))


@dataclass
class _Trained:
    network: object
    live: object
    output: np.ndarray  # the network's raw output on the test rows
    epochs_run: int
    restored: bool
    train_seconds: float
    steps_per_execution: int
    class_weight: dict[str, float] | None  # class name → weight, when balanced class weights were used
    precision: str = "float32"
    iterations: int = 0  # the optimizer's step count after training (it continues when a run is continued)


def _train_and_predict(
    store: RunStore,
    run_id: str,
    spec: RunSpec,
    data: PreparedData,
    *,
    record_history: bool = True,
    progress_extra: dict | None = None,
    before_fit: Callable[[object, int, str], None] | None = None,
    evaluating_message: Message | str | None = None,
    resume: _Resume | None = None,
    device: str = "CPU",
    predict_test: bool = True,
    parallel: DataParallel = ONE_DEVICE,
) -> _Trained:
    """Build, compile and fit one network on prepared data, then predict the test rows.

    Shared by the main run and every cross-validation fold (whose data comes from `prepare_fold`). The
    validation rows drive early stopping and the best-epoch weights; the Stop flag ends `fit` within a batch
    (`live.stopped_by_user`). Raises `TrainingError` when training diverged with no usable weights.
    With `resume`, the network and its optimizer state come from the run's checkpoint and training
    continues from `resume.initial_epoch`. With `parallel` active, the network is built, compiled and fitted in
    its scope (one batch of `spec.training.batch_size` rows per device each step); predictions run outside it.
    """
    import keras  # Keras loads only in workers and helpers, never in the web server

    training = spec.training
    batch_size = parallel.global_batch(training.batch_size, len(data.y_train))
    steps_per_epoch = math.ceil(even_rows(len(data.y_train), parallel.even_batches) / batch_size)
    initial_epoch = 0 if resume is None else resume.initial_epoch
    epochs = training.epochs if resume is None else resume.target_epochs
    with parallel.scope():
        if resume is None:
            precision = choose_precision(training, device)
            network = _build_network(spec, data, precision)
        else:
            precision = resume.precision
            network = _load_checkpoint(resume.checkpoint, precision)
        steps_per_execution = (
            choose_steps_per_execution(
                network.count_params(), batch_size, steps_per_epoch, keras.backend.backend(), device=device
            )
            if parallel.fuses_steps
            else 1
        )
        if resume is None:
            head = derive_head(data.target.task, len(data.target.classes))
            network.compile(
                optimizer=make_optimizer(training, steps_per_epoch=steps_per_epoch, epochs=training.epochs),
                loss=head.loss,
                metrics=[head.metric],
                steps_per_execution=steps_per_execution,
            )
        else:
            network.steps_per_execution = steps_per_execution
        live = make_live_callback(
            store,
            run_id,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            metric_scale=data.target.std if data.target.task == "regression" else 1.0,
            record_history=record_history,
            progress_extra=progress_extra,
            initial_epoch=initial_epoch,
            history=None if resume is None else resume.history,
            checkpoint=(
                (lambda model, epochs_run: _save_checkpoint(model, store.path(run_id), epochs_run, precision))
                if record_history
                else None
            ),
        )
        callbacks = [live, *make_schedule_callbacks(training)]
        if training.early_stopping:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=training.patience))
        keras_weights, named_weights = balanced_class_weights(spec, data)
        if before_fit is not None:
            before_fit(network, steps_per_execution, precision)
        fit_started = time.monotonic()
        network.fit(
            **dataset_kind(spec.data.kind).fit_arguments(data, batch_size, multiple_of=parallel.even_batches),
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            class_weight=keras_weights,
            verbose=0,
        )
        train_seconds = time.monotonic() - fit_started
        restored = False
        if live.best_weights is not None and (
            live.stopped_by_user or live.diverged or (training.early_stopping and training.restore_best_weights)
        ):
            network.set_weights(live.best_weights)
            restored = True
    if parallel.mirrors_variables:
        network = _outside_strategy(network, store.path(run_id), precision)

    if live.diverged and not restored:
        raise _training_error(
            "train.error.diverged_first_epoch",
            rate=f"{training.learning_rate:g}",
            optimizer=training.optimizer,
            lower=f"{training.learning_rate / 10:g}",
        )
    if evaluating_message:
        store.set_status(run_id, "running", evaluating_message)
    output = dataset_kind(spec.data.kind).predict(network, data, "test") if predict_test else np.zeros(0)
    if not np.all(np.isfinite(output)):
        raise _training_error("train.error.predicts_non_finite")
    return _Trained(
        network=network,
        live=live,
        output=np.asarray(output, dtype=np.float32),
        epochs_run=len(live.rows),
        restored=restored,
        train_seconds=train_seconds,
        steps_per_execution=steps_per_execution,
        class_weight=named_weights,
        precision=precision,
        iterations=_iterations(network),
    )


def _outside_strategy(network, run_dir: Path, precision: str):
    """The trained network, its optimizer state included, loaded again outside TensorFlow's MirroredStrategy.
    A network built under the strategy answers `predict_on_batch` once per device, concatenated (twice the
    rows with two devices), and the image and text kinds predict a batch at a time with it."""
    handle, temporary = tempfile.mkstemp(dir=run_dir, prefix=".distributed.", suffix=".keras")
    os.close(handle)
    try:
        network.save(temporary)
        return _load_checkpoint(Path(temporary), precision)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _build_network(spec: RunSpec, data: PreparedData, precision: str):
    """The network; under mixed precision its layers compute in float16 but the output layer in float32
    (a float16 sigmoid or softmax loses the small probabilities the loss needs), and so do the periodic
    features' frequencies."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    num_classes = len(data.target.classes)
    model_input = dataset_kind(spec.data.kind).model_input(data)
    arguments = model_input.build_arguments()
    if precision != "mixed_float16":
        return build_model(spec.model, model_input.num_inputs, data.target.task, num_classes, **arguments)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        network = build_model(spec.model, model_input.num_inputs, data.target.task, num_classes, **arguments)
    finally:
        keras.config.set_dtype_policy(previous)
    network.get_layer("output").dtype_policy = "float32"
    for layer in network.layers:
        if is_periodic_frequencies(layer.name):
            # Phases in float32: a search may choose frequencies in the hundreds, and float16 holds a phase of
            # a few thousand radians only to the nearest 2 or 4, so sin and cos would be noise.
            layer.dtype_policy = "float32"
    return network


def balanced_class_weights(
    spec: RunSpec, data: PreparedData
) -> tuple[dict[int, float] | None, dict[str, float] | None]:
    """`class_weight="balanced"` on a classification task: scikit-learn's n_rows / (n_classes * class_count)
    from the training rows, as Keras wants it (class index → weight) and as shown (class name → weight).
    Classes absent from the training rows get no entry (Keras weighs them 1)."""
    if spec.training.class_weight != "balanced" or data.target.task == "regression":
        return None, None

    present = np.unique(data.y_train)
    weights = compute_class_weight("balanced", classes=present, y=data.y_train)
    by_index = {int(index): float(weight) for index, weight in zip(present, weights, strict=True)}
    return by_index, {data.target.classes[index]: weight for index, weight in by_index.items()}


CROSS_VALIDATION_SUMMARY_KEYS = ("folds", "completed", "method", "scored_on", "mean", "std")


def _cross_validate(
    store: RunStore, run_id: str, spec: RunSpec, data: PreparedData, *, device: str = "CPU",
    parallel: DataParallel = ONE_DEVICE,
) -> dict:  # fmt: skip
    """Train k more models, one per fold of the non-test rows, and score each on its own held-out fold.

    Why the held-out fold and not the shared test split: the k scores then come from k disjoint sets of rows,
    each unseen by its model's weights, so their mean estimates how well this spec does on new rows and their
    std how much that depends on which rows it trained on. Scoring all k models on the one test split would
    only measure the training variability on one fixed set of rows, and would spend the test rows k more
    times. The test split stays the untouched final estimate of the exported model (metrics.json "test").
    As in the main run, the held-out fold also watches early stopping (and picks the best epoch's weights),
    which makes the fold scores slightly optimistic when early stopping is on.

    Each fold re-fits preprocessing on its own training rows and uses the spec's model, epochs, early stopping
    and class weights; its seed is `seed + fold`. The Stop flag ends the running fold, which is then not
    counted: the result holds the folds done. Returns what `cross_validation.json` holds:
    {"folds": k, "completed", "method", "scored_on", "per_fold": [{metric: value}], "mean", "std",
    "fold_details", "stopped", "notes"}; mean and std (numpy's, ddof=0) skip folds where a metric is undefined.
    """
    # k fresh models retrace tf.functions by design; TensorFlow's "retracing" warning would only alarm users.
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        return _cross_validate_folds(store, run_id, spec, data, device=device, parallel=parallel)
    finally:
        tf_logger.setLevel(level)


def _cross_validate_folds(
    store: RunStore, run_id: str, spec: RunSpec, data: PreparedData, *, device: str = "CPU",
    parallel: DataParallel = ONE_DEVICE,
) -> dict:  # fmt: skip
    import keras  # Keras loads only in workers and helpers, never in the web server

    plan = data.cross_validation
    k = plan.k
    per_fold: list[dict] = []
    details: list[dict] = []
    notes: list = []
    stopped = False
    for fold in range(k):
        if store.stop_requested(run_id):
            stopped = True
            break
        store.set_status(run_id, "running", Message("train.status.fold", {"fold": fold + 1, "folds": k}))
        keras.utils.set_random_seed(spec.data.seed + fold + 1)
        try:
            fold_data = dataset_kind(spec.data.kind).prepare_fold(data, fold, spec.preprocessing)
            trained = _train_and_predict(
                store,
                run_id,
                spec,
                fold_data,
                record_history=False,
                progress_extra={"phase": "cross_validation", "fold": fold + 1, "folds": k},
                device=device,
                parallel=parallel,
            )
        except AppError as error:
            params = {"fold": fold + 1, "folds": k, "reason": error.message}
            notes.append(Message("train.note.fold_left_out", params).to_dict())
            continue
        if trained.live.stopped_by_user:
            stopped = True
            break
        scores = compute_metrics(fold_data.target, fold_data.y_test, trained.output)
        per_fold.append({name: _finite(value) for name, value in scores.items()})
        details.append(
            {
                "fold": fold + 1,
                "train_rows": len(fold_data.train),
                "held_out_rows": len(fold_data.test),
                "epochs_run": trained.epochs_run,
                "best_epoch": trained.live.best_epoch,
                "class_weight": trained.class_weight,
            }
        )
        del trained, fold_data
    if stopped:
        which = "train.note.cross_validation_stopped" if per_fold else "train.note.cross_validation_stopped_empty"
        notes.append(Message(which, {"done": len(per_fold), "folds": k}).to_dict())
    mean, std = _mean_and_std(per_fold)
    return {
        "folds": k,
        "completed": len(per_fold),
        "method": plan.method,
        "scored_on": "held-out fold",
        "per_fold": per_fold,
        "mean": mean,
        "std": std,
        "fold_details": details,
        "stopped": stopped,
        "notes": notes,
    }


def _mean_and_std(per_fold: list[dict]) -> tuple[dict, dict]:
    mean: dict[str, float | None] = {}
    std: dict[str, float | None] = {}
    for name in per_fold[0] if per_fold else ():
        values = [scores[name] for scores in per_fold if scores.get(name) is not None]
        mean[name] = float(np.mean(values)) if values else None
        std[name] = float(np.std(values)) if values else None
    return mean, std


def _cross_validation_message(result: dict) -> Message:
    k, done = result["folds"], result["completed"]
    if result["stopped"]:
        return Message("train.final.cross_validation_stopped", {"done": done, "folds": k})
    if not done:
        return Message("train.final.cross_validation_none", {"folds": k})

    name = next((name for name, value in result["mean"].items() if value is not None), None)
    if name is None:
        return Message("train.final.cross_validation_done", {"count": done})
    params = {
        "count": done,
        "metric": METRIC_LABELS.get(name, name),
        "mean": f"{result['mean'][name]:.4g}",
        "std": f"{result['std'][name]:.2g}",
    }
    return Message("train.final.cross_validation_scores", params)


def _final_message(
    live,
    epochs_run: int,
    epochs: int,
    restored: bool,
    resume: _Resume | None = None,
    *,
    time_limit: int | None = None,
    pruned: bool = False,
) -> Message:
    """The run's closing sentence as a message; `time_limit` (minutes) when the server's limit stopped it."""
    best = Message("train.final.kept_best", {"epoch": live.best_epoch}) if restored else ""
    continued = Message("train.final.continued", {"epoch": resume.initial_epoch}) if resume is not None else ""
    parts = {"continued": continued, "best": best, "epochs_run": epochs_run, "epochs": epochs}
    if live.stopped_by_user:
        if time_limit is not None:
            return Message("train.final.stopped_time_limit", {**parts, "minutes": time_limit})
        if pruned:
            return Message("train.final.stopped_pruned", parts)
        return Message("train.final.stopped", parts)
    if live.diverged:
        return Message("train.final.diverged", parts)
    if epochs_run < epochs:
        return Message("train.final.early_stopping", parts)
    return Message("train.final.finished", parts)


def _to_parquet(frame) -> bytes:

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
