"""Which backend and device training uses, in words for the page.

`device_info()` asks the active Keras backend (tensorflow, jax or torch) for its accelerators and returns a
`DeviceInfo`; `describe_device()` says it in one line, e.g. "GPU: NVIDIA H200, 139.8 GiB (jax backend)" or
"CPU (tensorflow backend)". Other code relies on that line starting with "GPU" when there is one
(`core.model.building.choose_steps_per_execution`, mixed precision). No backend is told to avoid the GPU: each of
them places work on its first GPU by default, so a run uses the GPU whenever the backend sees one.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

from core.i18n import t

GIB = 1024**3


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    backend: str  # "tensorflow", "jax", "torch"
    kind: str = "CPU"  # "CPU" or "GPU"
    name: str | None = None  # the GPU's name, e.g. "NVIDIA H200"
    memory_bytes: int | None = None  # the GPU's memory (total, or what the backend may use), when known
    count: int = 0  # GPUs the backend sees

    def to_dict(self) -> dict:
        return {
            "backend": self.backend,
            "kind": self.kind,
            "name": self.name,
            "memory_bytes": self.memory_bytes,
            "count": self.count,
        }


def format_device(info: DeviceInfo, *, used: int = 1) -> str:
    """One line, in English (status files keep it; code reads its "GPU" start): "GPU: NVIDIA H200, 139.8 GiB
    (jax backend)", "GPU: A100, 40.0 GiB (2 of 4 used) (tensorflow backend)", "CPU (torch backend)". `used`:
    the GPUs a run trains on (`core.runtime.distribution`). Pages show it with `device_text`, in the
    visitor's language."""
    if info.kind != "GPU":
        return f"CPU ({info.backend} backend)"
    details = [info.name or "unknown model"]
    if info.memory_bytes:
        details.append(f"{info.memory_bytes / GIB:.1f} GiB")
    several = f" ({used} of {info.count} used)" if info.count > 1 else ""
    return f"GPU: {', '.join(details)}{several} ({info.backend} backend)"


_CPU_LINE = re.compile(r"^CPU \((?P<backend>\w+) backend\)$")
_GPU_LINE = re.compile(
    r"^GPU: (?P<details>.*?)(?: \((?P<used>\d+) of (?P<count>\d+) used\))? \((?P<backend>\w+) backend\)$"
)


def device_text(line: str | None) -> str:
    """A stored device line (`format_device`'s English, kept as it is in status files because code reads it)
    in the current language; a line of another shape as it is."""
    if not line:
        return ""
    cpu = _CPU_LINE.match(line)
    if cpu:
        return t("train.device.cpu", backend=cpu["backend"])
    gpu = _GPU_LINE.match(line)
    if not gpu:
        return line
    details = gpu["details"].replace("unknown model", t("train.device.unknown_model"))
    several = t("train.device.used_of", used=int(gpu["used"]), count=int(gpu["count"])) if gpu["count"] else ""
    return t("train.device.gpu", details=details, several=several, backend=gpu["backend"])


def device_info() -> DeviceInfo:
    """The device the active Keras backend trains on. Probing never raises: CPU is the honest fallback."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    backend = keras.backend.backend()
    probe = {"tensorflow": _tensorflow_gpu, "jax": _jax_gpu, "torch": _torch_gpu}.get(backend)
    try:
        found = probe() if probe is not None else None
    except Exception:  # noqa: BLE001 - device probing must never stop a run
        found = None
    if not found:
        return DeviceInfo(backend=backend)
    name, memory, count = found
    return DeviceInfo(backend=backend, kind="GPU", name=name, memory_bytes=memory, count=count)


def describe_device(*, used: int = 1) -> str:
    return format_device(device_info(), used=used)


def _tensorflow_gpu() -> tuple[str, int | None, int] | None:
    import tensorflow as tf  # TensorFlow loads only in workers and helpers, never in the web server

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    memory = None
    try:  # what TensorFlow may allocate on it (close to the card's total)
        from tensorflow.python.client import (
            device_lib,
        )  # TensorFlow loads only in workers and helpers, never in the web server

        limits = [d.memory_limit for d in device_lib.list_local_devices() if d.device_type == "GPU"]
        memory = int(limits[0]) if limits else None
    except Exception:  # noqa: BLE001 - the name alone is still worth showing
        memory = None
    return details.get("device_name", gpus[0].name), memory, len(gpus)


def _jax_gpu() -> tuple[str, int | None, int] | None:
    import jax  # only when Keras runs on jax

    devices = [device for device in jax.devices() if device.platform != "cpu"]
    if not devices:
        return None
    memory = None
    try:
        stats = devices[0].memory_stats() or {}
        memory = stats.get("bytes_limit") or stats.get("bytes_reservable_limit")
    except Exception:  # noqa: BLE001 - some platforms do not report memory
        memory = None
    return devices[0].device_kind, int(memory) if memory else None, len(devices)


def _torch_gpu() -> tuple[str, int | None, int] | None:
    import torch  # only when Keras runs on torch

    if not torch.cuda.is_available():
        return None
    properties = torch.cuda.get_device_properties(0)
    return properties.name, int(properties.total_memory), torch.cuda.device_count()


def import_keras_quietly() -> None:
    """Import Keras (and start TensorFlow's devices) with this process's stderr pointed at /dev/null.

    TensorFlow writes its C++ start-up lines (oneDNN, CUDA drivers, cuInit) before absl reads
    TF_CPP_MIN_LOG_LEVEL, so the variable alone does not silence them. Our own messages come later.
    """
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        import keras  # Keras loads only in workers and helpers, never in the web server

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # TensorFlow loads only in workers and helpers, never in the web server

            tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
