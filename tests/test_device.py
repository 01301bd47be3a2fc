import sys

import pytest

from harness import device


def test_cpu_heap_is_kept_during_a_cell_and_can_be_turned_off(monkeypatch):
    from harness import train

    monkeypatch.setenv("HARNESS_CPU_KEEP_HEAP", "0")
    assert train.keep_cpu_heap_default() is False
    monkeypatch.delenv("HARNESS_CPU_KEEP_HEAP")
    assert train.keep_cpu_heap_default() is True  # CPU-only machine
    with train.cpu_heap_kept(True) as kept:
        assert kept is sys.platform.startswith("linux")
    with train.cpu_heap_kept(False) as kept:
        assert kept is False


def test_precision_auto_follows_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert device.resolve_precision("auto") == "bf16"
    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx2", "amx_bf16", "amx_tile"})
    assert device.resolve_precision("auto") == "bf16"
    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx2", "avx512f"})
    assert device.resolve_precision("auto") == "fp32"
    assert device.resolve_precision("fp32") == "fp32"
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU"):
        device.resolve_precision("fp16")


def test_peak_flops_is_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(device, "measure_matmul_flops", lambda name: calls.append(name) or 1.5e12)
    first = device.peak_flops("bf16")
    second = device.peak_flops("bf16")
    assert first["flops"] == second["flops"] == 1.5e12
    assert calls == ["bf16"] and (tmp_path / "peak_flops.json").is_file()
