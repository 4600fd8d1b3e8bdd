"""Device detection: which backend and device a run trains on, as the Train page shows it."""

from __future__ import annotations

import keras
import pytest

from core.runtime import devices
from core.runtime.devices import GIB, DeviceInfo, describe_device, device_info, format_device

BACKEND = keras.backend.backend()
PROBE = {"tensorflow": "_tensorflow_gpu", "jax": "_jax_gpu", "torch": "_torch_gpu"}[BACKEND]


def test_without_a_gpu_the_run_says_cpu_and_the_backend(monkeypatch):
    monkeypatch.setattr(devices, PROBE, lambda: None)
    info = device_info()
    assert info == DeviceInfo(backend=BACKEND, kind="CPU")
    assert describe_device() == f"CPU ({BACKEND} backend)"


def test_this_machine_is_described_with_its_backend():
    text = describe_device()
    assert text.endswith(f"({BACKEND} backend)")
    assert text.startswith(("CPU", "GPU: "))
    assert (device_info().kind == "GPU") == text.startswith("GPU")


def test_a_gpu_is_named_with_its_memory(monkeypatch):
    monkeypatch.setattr(devices, PROBE, lambda: ("NVIDIA H200", 150_101_000_000, 1))
    info = device_info()
    assert info.kind == "GPU" and info.name == "NVIDIA H200" and info.memory_bytes == 150_101_000_000
    # Code that picks GPU settings (steps per execution, mixed precision) relies on the "GPU" prefix.
    assert describe_device() == f"GPU: NVIDIA H200, 139.8 GiB ({BACKEND} backend)"


@pytest.mark.parametrize(
    ("info", "text"),
    [
        (DeviceInfo("jax", "GPU", "NVIDIA H200", int(139.8 * GIB), 1), "GPU: NVIDIA H200, 139.8 GiB (jax backend)"),
        (DeviceInfo("torch", "GPU", "Tesla T4", None, 1), "GPU: Tesla T4 (torch backend)"),
        (
            DeviceInfo("tensorflow", "GPU", "A100", 40 * GIB, 4),
            "GPU: A100, 40.0 GiB (1 of 4 used) (tensorflow backend)",
        ),
        (DeviceInfo("jax", "GPU", None, None, 1), "GPU: unknown model (jax backend)"),
        (DeviceInfo("torch"), "CPU (torch backend)"),
    ],
)
def test_formatting(info, text):
    assert format_device(info) == text


def test_a_run_trained_on_every_gpu_says_how_many_in_both_languages():
    from core.i18n import t, use_language
    from core.runtime.devices import device_text

    line = format_device(DeviceInfo("jax", "GPU", "H100", 80 * GIB, 4), used=4)
    assert line == "GPU: H100, 80.0 GiB (4 of 4 used) (jax backend)"  # stored in English: code reads its start
    with use_language("zh"):
        assert device_text(line) == "GPU：H100, 80.0 GiB（共 4 块，使用其中 4 块）（jax 后端）"
        spread = t("train.live.data_parallel", devices=4, per_device=256, per_step=1024)
        assert spread == " · 数据并行，使用 4 个设备：每个设备每批 256 行，每步共 1024 行"  # the Train page's caption
    with use_language("en"):
        assert device_text(line) == line


def test_a_failing_probe_falls_back_to_cpu(monkeypatch):
    def broken():
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(devices, PROBE, broken)
    assert describe_device() == f"CPU ({BACKEND} backend)"
    assert device_info().to_dict() == {
        "backend": BACKEND,
        "kind": "CPU",
        "name": None,
        "memory_bytes": None,
        "count": 0,
    }
