"""Optimizers, learning-rate schedules, gradient clipping and precision, from a `TrainingSpec`.

`preview_learning_rates` computes the planned learning rate per epoch with numpy only (the Train page draws
it before training, in the web server, which never imports Keras). `make_optimizer` builds the Keras
optimizer whose `LearningRateSchedule` follows the same formulas, so the rate logged during training
(`history.json`, column `learning_rate`) equals the preview (`tests/unit/test_optimization.py` checks it).

Steps are optimizer steps (weight updates): epoch `e` (1-based) starts at step `(e - 1) * steps_per_epoch`.
The logged rate of an epoch is the rate at its first step.
"""

from __future__ import annotations

import math

import numpy as np

from core.i18n import CatalogView, Message, t
from core.spec import TrainingSpec

# What the pickers show for each optimizer and schedule, in the current language (read from the catalog at
# lookup time: OPTIMIZER_LABELS["adamw"], SCHEDULE_LABELS.get("cosine")).
OPTIMIZER_LABELS = CatalogView("model.optimizer.")
SCHEDULE_LABELS = CatalogView("model.schedule.")


def learning_rate_at_steps(training: TrainingSpec, steps, *, steps_per_epoch: int, epochs: int) -> np.ndarray:
    """The scheduled learning rate at each optimizer step in `steps` (numpy; no Keras).

    reduce_on_plateau has no fixed curve: it depends on the validation loss, so this returns its starting
    rate (an upper bound), like `constant`.
    """
    step = np.asarray(steps, dtype=np.float64)
    rate = training.learning_rate
    schedule = training.schedule
    steps_per_epoch = max(int(steps_per_epoch), 1)
    if schedule.kind in {"step", "exponential"}:
        progress = step / (schedule.decay_epochs * steps_per_epoch)
        if schedule.kind == "step":
            progress = np.floor(progress)
        return rate * np.power(schedule.decay_rate, progress)
    if schedule.kind == "cosine":
        warmup, decay = _cosine_steps(training, steps_per_epoch, epochs)
        if warmup:
            clipped = np.minimum(step, decay + warmup)
            warm = rate * clipped / warmup
            cosine = _cosine(np.maximum(clipped - warmup, 0.0), decay, schedule.alpha, rate)
            return np.where(clipped < warmup, warm, cosine)
        return _cosine(np.minimum(step, decay), decay, schedule.alpha, rate)
    return np.full_like(step, rate)


def preview_learning_rates(training: TrainingSpec, *, steps_per_epoch: int, epochs: int | None = None) -> np.ndarray:
    """The planned learning rate of each epoch 1..epochs (at the epoch's first step)."""
    epochs = training.epochs if epochs is None else epochs
    starts = np.arange(epochs) * max(int(steps_per_epoch), 1)
    return learning_rate_at_steps(training, starts, steps_per_epoch=steps_per_epoch, epochs=training.epochs)


def describe_schedule(training: TrainingSpec) -> str:
    """One sentence for the page under the preview chart."""
    s = training.schedule
    rate = f"{training.learning_rate:g}"
    if s.kind == "step":
        return t("model.schedule_text.step", rate=rate, factor=s.decay_rate, count=s.decay_epochs)
    if s.kind == "exponential":
        return t("model.schedule_text.exponential", rate=rate, factor=s.decay_rate, count=s.decay_epochs)
    if s.kind == "cosine":
        if s.warmup_epochs:
            return t("model.schedule_text.cosine_warmup", rate=rate, count=s.warmup_epochs, alpha=s.alpha)
        return t("model.schedule_text.cosine", rate=rate, alpha=s.alpha)
    if s.kind == "reduce_on_plateau":
        return t(
            "model.schedule_text.reduce_on_plateau",
            rate=rate, count=s.patience, factor=s.decay_rate, floor=s.min_learning_rate,
        )  # fmt: skip
    return t("model.schedule_text.constant", rate=rate)


def _cosine_steps(training: TrainingSpec, steps_per_epoch: int, epochs: int) -> tuple[int, int]:
    warmup = training.schedule.warmup_epochs * steps_per_epoch
    decay = max((epochs - training.schedule.warmup_epochs) * steps_per_epoch, 1)
    return warmup, decay


def _cosine(step, decay_steps: int, alpha: float, rate: float):
    cosine = 0.5 * (1.0 + np.cos(math.pi * step / decay_steps))
    return rate * ((1.0 - alpha) * cosine + alpha)


def make_schedule(training: TrainingSpec, *, steps_per_epoch: int, epochs: int | None = None):
    """The Keras learning rate: a float (constant, reduce_on_plateau) or a `LearningRateSchedule`."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    epochs = training.epochs if epochs is None else epochs
    steps_per_epoch = max(int(steps_per_epoch), 1)
    rate, schedule = training.learning_rate, training.schedule
    schedules = keras.optimizers.schedules
    if schedule.kind in {"step", "exponential"}:
        return schedules.ExponentialDecay(
            rate, schedule.decay_epochs * steps_per_epoch, schedule.decay_rate, staircase=schedule.kind == "step"
        )
    if schedule.kind == "cosine":
        warmup, decay = _cosine_steps(training, steps_per_epoch, epochs)
        if warmup:
            return schedules.CosineDecay(0.0, decay, alpha=schedule.alpha, warmup_target=rate, warmup_steps=warmup)
        return schedules.CosineDecay(rate, decay, alpha=schedule.alpha)
    return rate


def make_optimizer(training: TrainingSpec, *, steps_per_epoch: int = 1, epochs: int | None = None):
    """The Keras optimizer for the spec: algorithm, scheduled learning rate and gradient clipping."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    learning_rate = make_schedule(training, steps_per_epoch=steps_per_epoch, epochs=epochs)
    common = {"learning_rate": learning_rate}
    if training.clipnorm is not None:
        common["clipnorm"] = training.clipnorm
    if training.clipvalue is not None:
        common["clipvalue"] = training.clipvalue
    optimizers = keras.optimizers
    if training.optimizer == "sgd":
        return optimizers.SGD(momentum=training.momentum, nesterov=training.nesterov, **common)
    if training.optimizer == "adamw":
        return optimizers.AdamW(weight_decay=training.weight_decay, **common)
    if training.optimizer == "rmsprop":
        return optimizers.RMSprop(**common)
    if training.optimizer == "adagrad":
        return optimizers.Adagrad(**common)
    if training.optimizer == "nadam":
        return optimizers.Nadam(**common)
    return optimizers.Adam(**common)


def make_schedule_callbacks(training: TrainingSpec) -> list:
    """Callbacks a schedule needs besides the optimizer (reduce_on_plateau watches the validation loss)."""
    if training.schedule.kind != "reduce_on_plateau":
        return []
    import keras  # Keras loads only in workers and helpers, never in the web server

    schedule = training.schedule
    return [
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss",
            factor=schedule.decay_rate,
            patience=schedule.patience,
            min_lr=schedule.min_learning_rate,
            verbose=0,
        )
    ]


def current_learning_rate(optimizer) -> float | None:
    """The rate the optimizer applies at its next step (schedules are evaluated at its iteration count)."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    try:
        value = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def choose_precision(training: TrainingSpec, device: str) -> str:
    """`mixed_float16` when the run has a GPU and the spec allows it, else `float32` (a no-op on a CPU)."""
    return "mixed_float16" if training.mixed_precision and device.startswith("GPU") else "float32"


GPU_SMALL_BATCH = 256
GPU_SUGGESTED_BATCH = 1024


def gpu_batch_size_note(device: str, batch_size: int, num_train_rows: int) -> Message | None:
    """A note for runs on a GPU whose small batches leave it waiting for the host (None otherwise): a `Message`,
    which the run keeps as {"id", "params"} and shows in the reader's language.

    Measured on an H200 with Keras on JAX: the textbook MLP at batch 32 reached 44k rows/s even with fused
    steps, no faster than a CPU, while a 3 × 1024 MLP at batch 1024 reached 204k rows/s.
    """
    if not device.startswith("GPU") or batch_size >= GPU_SMALL_BATCH or num_train_rows < 20 * GPU_SUGGESTED_BATCH:
        return None
    return Message(
        "model.note.gpu_small_batch",
        {"batch_size": batch_size, "suggested": GPU_SUGGESTED_BATCH, "rows": num_train_rows},
    )
