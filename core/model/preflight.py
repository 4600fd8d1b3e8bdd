"""The pre-flight card: size, memory and speed of a run before it starts.

`estimate` is arithmetic on the spec (no Keras): parameters, the model file's size, and an estimate of the
training memory at the chosen batch size. `measure_speed` times a few real training steps of the real
network (built by `core.model.building.build_model` at the real encoded width) in the warm helper process
(`core.runtime.helper`, Keras already imported): the web server never imports Keras (see docs/ARCHITECTURE.md), and a
slow or huge model cannot hang it past the timeout. `python -m core.model.preflight` still measures one JSON request
from stdin in a fresh process. Measurements are cached on disk per spec and table (`measurement_key`), since
nothing else changes them.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from core.errors import SpecError
from core.i18n import t
from core.model.building import (
    build_model,
    choose_steps_per_execution,
    count_params,
    derive_head,
    describe_model,
    infer_shapes,
    make_optimizer,
)
from core.run_store import read_json, write_json
from core.runtime.devices import describe_device
from core.runtime.helper import warm_helper
from core.spec import RunSpec, Task

PREFLIGHT_TIMEOUT_S = 120
BYTES_PER_VALUE = 4  # float32
# Extra per-parameter values the optimizer keeps (Adam: first and second moments).
OPTIMIZER_SLOTS = {"adam": 2, "adamw": 2, "nadam": 2, "adamax": 2, "rmsprop": 1, "adagrad": 1, "sgd": 1}
MIN_TIMED_STEPS = 10
MAX_RANDOM_BYTES = 256 * 2**20


@dataclass(frozen=True, slots=True)
class Estimate:
    """What the spec implies before anything runs. `memory_bytes` is an estimate of the network's own
    training memory (weights, gradients, optimizer slots, activations of one batch), not the framework's."""

    num_params: int
    model_bytes: int
    memory_bytes: int
    batch_size: int
    train_rows: int
    steps_per_epoch: int
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Measurement:
    """Seconds measured on real training steps of the real network (random rows of the real width)."""

    seconds_per_step: float
    seconds_per_epoch: float
    steps_per_epoch: int
    steps_timed: int
    steps_per_execution: int
    device: str
    backend: str

    def eta_seconds(self, epochs: int) -> float:
        """The whole run if every epoch runs (early stopping may end it sooner)."""
        return self.seconds_per_epoch * epochs


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"  # pragma: no cover


def human_seconds(seconds: float) -> str:
    """A duration with its unit, written the current language's way ("1.5 s", "1.5 秒")."""
    if seconds < 1:
        return t("model.duration.ms", value=seconds * 1000)
    if seconds < 90:
        return t("model.duration.s", value=seconds)
    if seconds < 90 * 60:
        return t("model.duration.min", value=seconds / 60)
    return t("model.duration.h", value=seconds / 3600)


def _activation_values_per_row(spec: RunSpec, num_inputs: int, task: Task, num_classes: int, embeddings) -> int:
    width = num_inputs + sum(slot.output_dim - 1 for slot in embeddings)
    shapes = infer_shapes(spec.model, (width,))
    return width + sum(math.prod(shape) for shape, _ in shapes) + derive_head(task, num_classes).units


def estimate(
    spec: RunSpec,
    *,
    num_inputs: int,
    task: Task,
    train_rows: int,
    num_classes: int = 0,
    embeddings: tuple = (),
    max_params: int | None = None,
) -> Estimate:
    """Parameters, file size and training-memory estimate; raises `SpecError` when the stack does not fit."""
    rows = describe_model(spec.model, num_inputs, task, num_classes, embeddings)
    num_params = count_params(rows)
    batch_size = max(1, min(spec.training.batch_size, max(train_rows, 1)))
    optimizer = str(getattr(spec.training, "optimizer", "adam"))
    slots = OPTIMIZER_SLOTS.get(optimizer, 2)
    if optimizer == "sgd" and not getattr(spec.training, "momentum", 0.0):
        slots = 0
    per_row = _activation_values_per_row(spec, num_inputs, task, num_classes, embeddings)
    # Weights + their gradients + optimizer slots, and each activation kept for the backward pass + its gradient.
    memory = BYTES_PER_VALUE * (num_params * (2 + slots) + 2 * per_row * batch_size)
    warnings = []
    if max_params is not None and num_params > max_params:
        warnings.append(t("model.preflight.too_many_params", params=num_params, limit=max_params))
    return Estimate(
        num_params=num_params,
        model_bytes=num_params * BYTES_PER_VALUE,
        memory_bytes=memory,
        batch_size=batch_size,
        train_rows=train_rows,
        steps_per_epoch=math.ceil(max(train_rows, 1) / batch_size),
        warnings=tuple(warnings),
    )


def measurement_key(
    spec: RunSpec, *, table_key: str, num_inputs: int, train_rows: int, validation_rows: int, embeddings: tuple = ()
) -> str:
    """Identifies what a measurement depends on: the network, batch size, optimizer, width and row counts."""
    training = spec.training
    payload = {
        "model": spec.model.model_dump(mode="json"),
        "batch_size": training.batch_size,
        "optimizer": str(getattr(training, "optimizer", "")),
        "table": table_key,
        "num_inputs": num_inputs,
        "rows": [train_rows, validation_rows],
        "embeddings": [_slot_dict(slot) for slot in embeddings],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def load_measurement(folder: Path, key: str) -> Measurement | None:
    try:
        payload = read_json(folder / f"{key}.json")
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    try:
        return Measurement(**payload)
    except TypeError:
        return None  # written by another version of LayerLab: measure again


def save_measurement(folder: Path, key: str, measurement: Measurement) -> None:
    write_json(folder / f"{key}.json", asdict(measurement))


def _slot_dict(slot) -> dict:
    return {"name": slot.name, "position": slot.position, "input_dim": slot.input_dim, "output_dim": slot.output_dim}


def measure_speed(
    spec: RunSpec,
    *,
    num_inputs: int,
    task: Task,
    train_rows: int,
    validation_rows: int,
    num_classes: int = 0,
    embeddings: tuple = (),
    timeout: float = PREFLIGHT_TIMEOUT_S,
) -> Measurement:
    """Time real training steps of this network in the warm helper process (never in the web server)."""

    request = {
        "spec": json.loads(spec.to_json()),
        "num_inputs": num_inputs,
        "task": task,
        "num_classes": num_classes,
        "train_rows": train_rows,
        "validation_rows": validation_rows,
        "embeddings": [_slot_dict(slot) for slot in embeddings],
    }
    answer = warm_helper().request(
        {"action": "measure", "request": request},
        action=t("model.preflight.action"),
        timeout=timeout,
        timeout_message=t("model.preflight.timeout", seconds=timeout),
        memory_advice=t("model.preflight.memory_advice"),
    )
    return Measurement(**answer["measurement"])


def _choose_steps_per_execution(num_params: int, batch_size: int, steps_per_epoch: int, backend: str, device: str):

    if "device" in inspect.signature(choose_steps_per_execution).parameters:
        return choose_steps_per_execution(num_params, batch_size, steps_per_epoch, backend, device=device)
    return choose_steps_per_execution(num_params, batch_size, steps_per_epoch, backend)


def _measure(request: dict) -> dict:
    """In the child: build and compile the network as training does, then time fit and evaluate calls."""

    import keras  # Keras loads only in workers and helpers, never in the web server

    spec = RunSpec.model_validate(request["spec"])
    task, num_classes = request["task"], int(request["num_classes"])
    num_inputs, train_rows = int(request["num_inputs"]), max(int(request["train_rows"]), 1)
    embeddings = tuple(SimpleNamespace(**slot) for slot in request["embeddings"])
    keras.utils.set_random_seed(spec.data.seed)
    network = build_model(spec.model, num_inputs, task, num_classes, embeddings)
    head = derive_head(task, num_classes)
    batch_size = min(spec.training.batch_size, train_rows)
    steps_per_epoch = math.ceil(train_rows / batch_size)
    device = describe_device()
    backend = keras.backend.backend()
    fused = _choose_steps_per_execution(network.count_params(), batch_size, steps_per_epoch, backend, device)
    network.compile(
        optimizer=make_optimizer(spec.training), loss=head.loss, metrics=[head.metric], steps_per_execution=fused
    )
    timed_steps = math.ceil(max(MIN_TIMED_STEPS, 2 * fused) / fused) * fused
    # Huge batches of wide rows: time fewer steps rather than fill the server's memory with random rows.
    affordable = MAX_RANDOM_BYTES // max(batch_size * num_inputs * BYTES_PER_VALUE, 1)
    timed_steps = min(timed_steps, max(fused, affordable // fused * fused))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(timed_steps * batch_size, num_inputs)).astype("float32")
    for slot in embeddings:
        x[:, slot.position] = rng.integers(0, slot.input_dim, size=len(x))
    if task == "binary":
        y = rng.integers(0, 2, size=len(x)).astype("float32")
    elif task == "multiclass":
        y = rng.integers(0, max(num_classes, 2), size=len(x))
    else:
        y = rng.normal(size=len(x)).astype("float32")
    warm = fused * batch_size  # the first call traces and compiles: not part of the measurement
    network.fit(x[:warm], y[:warm], batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    network.evaluate(x[:warm], y[:warm], batch_size=batch_size, verbose=0)
    start = time.perf_counter()
    network.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    seconds_per_step = (time.perf_counter() - start) / timed_steps
    start = time.perf_counter()
    network.evaluate(x, y, batch_size=batch_size, verbose=0)
    seconds_per_eval_step = (time.perf_counter() - start) / timed_steps
    validation_steps = math.ceil(int(request["validation_rows"]) / batch_size)
    return {
        "seconds_per_step": seconds_per_step,
        "seconds_per_epoch": seconds_per_step * steps_per_epoch + seconds_per_eval_step * validation_steps,
        "steps_per_epoch": steps_per_epoch,
        "steps_timed": timed_steps,
        "steps_per_execution": fused,
        "device": device,
        "backend": backend,
    }


def main() -> int:
    request = json.loads(sys.stdin.read())
    try:
        answer = _measure(request)
    except SpecError as error:
        print(json.dumps({"error": str(error)}))
        return 2
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
