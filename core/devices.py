"""Which backend and device training uses, in words for the page."""

from __future__ import annotations


def describe_device() -> str:
    import keras

    backend = keras.backend.backend()
    name = "CPU"
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                name = f"GPU: {details.get('device_name', gpus[0].name)}"
        elif backend == "jax":
            import jax

            devices = [d for d in jax.devices() if d.platform != "cpu"]
            if devices:
                name = f"GPU: {devices[0].device_kind}"
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                name = f"GPU: {torch.cuda.get_device_name(0)}"
    except Exception:  # noqa: BLE001 - device probing must never stop a run; CPU is the honest fallback
        name = "CPU"
    return f"{name} ({backend} backend)"
