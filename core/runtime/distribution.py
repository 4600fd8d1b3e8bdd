"""Data-parallel training: one run over every accelerator its process sees, through Keras's own APIs.

With more than one device visible (and `LAYERLAB_DEVICES_PER_RUN` not 1), `data_parallel()` returns a plan
whose `scope()` builds, compiles and fits the network:

* on jax, `keras.distribution.DataParallel` over `jax.devices()` (the default platform's devices: the GPUs
  when there are any). Every batch is split over the devices, so every batch, the last of an epoch
  included, must hold a multiple of the device count: `even_batches` is the count, and the feeding code
  (`fit_arguments(..., multiple_of=...)`) leaves out at most `count - 1` rows per epoch (a different few
  of the training rows each epoch; the last few validation rows).
* on TensorFlow, `tf.distribute.MirroredStrategy` over the GPUs, which splits uneven batches itself. Its
  training step cannot fuse steps in Keras 3 (keras-team/keras#19246, "You must feed a value for
  placeholder tensor" with `steps_per_execution` > 1), so `steps_per_execution` is 1 under it.
* torch: one device (Keras's torch backend has no data-parallel trainer).

The user's batch size is the batch each device sees; a step processes `count` times as many rows (the
learning rate is kept). Predictions run outside the scope, on uneven blocks: jax accepts that once training
is over; on TensorFlow a network built under the strategy answers `predict_on_batch` once per device, so
the trained network is saved and loaded again outside it (`mirrors_variables`) before it predicts.

CPU devices count only where the operator made several of them on purpose (jax's
`--xla_force_host_platform_device_count`, TensorFlow logical devices): that is how the tests exercise the
path on a machine without GPUs.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DataParallel:
    devices: int = 1  # devices the run trains on at once
    kind: str = "CPU"  # "GPU" or "CPU"
    even_batches: int = 1  # every batch must hold a multiple of this many rows (jax)
    fuses_steps: bool = True  # False under MirroredStrategy (keras-team/keras#19246)
    mirrors_variables: bool = False  # TensorFlow: the trained network is loaded again outside the strategy
    _strategy: object | None = field(default=None, repr=False, compare=False)

    @property
    def active(self) -> bool:
        return self.devices > 1

    def scope(self):
        """Where the network is built, compiled and fitted; nothing when training on one device."""
        return self._strategy.scope() if self._strategy is not None else contextlib.nullcontext()

    def global_batch(self, batch_size: int, train_rows: int) -> int:
        """Rows per training step: `batch_size` on each device, never more than the training rows (rounded down
        to a multiple of the devices, and at least one row per device)."""
        wanted = min(batch_size * self.devices, train_rows)
        return max(wanted - wanted % self.devices, self.devices)

    def to_dict(self) -> dict:
        return {"devices": self.devices, "kind": self.kind}


ONE_DEVICE = DataParallel()


def data_parallel(limit: int = 0) -> DataParallel:
    """The plan for this process's run: every visible device (at most `limit` when `limit` > 0; 1 turns it off).
    Call it in workers only, after Keras is imported."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    if limit == 1:
        return ONE_DEVICE
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_plan(limit)
    if backend == "tensorflow":
        return _tensorflow_plan(limit)
    return ONE_DEVICE


def _jax_plan(limit: int) -> DataParallel:
    import jax  # only when Keras runs on jax

    devices = jax.devices()
    if limit > 0:
        devices = devices[:limit]
    if len(devices) < 2:
        return ONE_DEVICE
    import keras  # Keras loads only in workers and helpers, never in the web server

    kind = "CPU" if devices[0].platform == "cpu" else "GPU"
    strategy = keras.distribution.DataParallel(devices=devices)
    return DataParallel(len(devices), kind, even_batches=len(devices), _strategy=strategy)


def _tensorflow_plan(limit: int) -> DataParallel:
    import tensorflow as tf  # TensorFlow loads only in workers and helpers, never in the web server

    devices, kind = tf.config.list_logical_devices("GPU"), "GPU"
    if len(devices) < 2:
        devices, kind = tf.config.list_logical_devices("CPU"), "CPU"
    if limit > 0:
        devices = devices[:limit]
    if len(devices) < 2:
        return ONE_DEVICE
    strategy = _mirrored_strategy(tuple(device.name for device in devices))
    return DataParallel(len(devices), kind, fuses_steps=False, mirrors_variables=True, _strategy=strategy)


@functools.cache
def _mirrored_strategy(device_names: tuple[str, ...]):
    """One MirroredStrategy per set of devices and process: a second one in the same process (the next run of
    a worker that trains several) reuses the first one's collective instance keys, and its gradient
    all-reduce then fails with "Shape mismatch in the collective instance" and leaves the process hanging."""
    import tensorflow as tf  # TensorFlow loads only in workers and helpers, never in the web server

    return tf.distribute.MirroredStrategy(list(device_names))
