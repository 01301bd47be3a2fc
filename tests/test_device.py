import sys
import time

import pytest

from harness import device


def test_cpu_heap_is_kept_during_a_cell_and_can_be_turned_off(monkeypatch):
    from harness.train import finetune as train

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


# --------------------------------------------------------------------------- GPU peaks
@pytest.mark.parametrize("name, key", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"),
    ("NVIDIA H100 PCIe", "H100 PCIe"),
    ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA H200", "H200 SXM"),
    ("NVIDIA A100-SXM4-80GB", "A100"),
    ("NVIDIA A100-PCIE-40GB", "A100"),
    ("NVIDIA A100 80GB PCIe", "A100"),
    ("NVIDIA A10G", "A10G"),
    ("NVIDIA A10", "A10"),
    ("NVIDIA L4", "L4"),
    ("NVIDIA L40", "L40"),
    ("NVIDIA L40S", "L40S"),
    ("Tesla T4", "T4"),
    ("Tesla V100-SXM2-16GB", "V100 SXM2"),
    ("Tesla V100-PCIE-32GB", "V100 PCIe"),
    ("NVIDIA RTX A6000", "RTX A6000"),
    ("NVIDIA RTX 6000 Ada Generation", "RTX 6000 Ada"),
    ("NVIDIA GeForce RTX 4090", "GeForce RTX 4090"),
    # not in the table: no peak rather than a neighbour's (substring matching gave an L40S the L4's)
    ("NVIDIA GeForce RTX 4060 Laptop GPU", None),
    ("NVIDIA L4 Ultra", None),
    ("NVIDIA A100X", None),
    ("AMD Instinct MI300X", None),
])
def test_gpu_names_match_the_datasheet_table_exactly(name, key):
    assert device.gpu_datasheet(name) == key


def test_unknown_gpu_or_precision_records_an_unknown_peak(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(device, "device_name", lambda: "NVIDIA L40S")
    assert device.peak_flops("bf16") == {"flops": 362e12, "source": "datasheet (L40S, dense bf16)"}
    monkeypatch.setattr(device, "device_name", lambda: "NVIDIA Future GPU 9000")
    unknown = device.peak_flops("bf16")
    assert unknown["flops"] is None and unknown["source"].startswith("unknown")
    monkeypatch.setattr(device, "device_name", lambda: "Tesla T4")  # no bf16 tensor cores: no bf16 peak
    assert device.peak_flops("bf16")["flops"] is None and device.peak_flops("fp16")["flops"] == 65e12


# --------------------------------------------------------------------------- auto precision
@pytest.mark.parametrize("capability, bf16, expected, why", [
    ((9, 0), True, "bf16", "native bf16"),          # H100
    ((8, 6), True, "bf16", "native bf16"),          # A10G, RTX 3090
    ((7, 5), True, "fp16", "loss scaling"),         # T4: torch reports bf16 "supported" (emulated)
    ((7, 0), False, "fp16", "loss scaling"),        # V100
    ((6, 0), False, "fp32", "no tensor cores"),     # P100
])
def test_auto_precision_on_simulated_gpus(monkeypatch, capability, bf16, expected, why):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    precision, reason = device.choose_precision("auto")
    assert precision == expected and why in reason and f"{capability[0]}.{capability[1]}" in reason
    assert device.resolve_precision("auto") == expected
    assert device.choose_precision("fp32") == ("fp32", "requested")


# --------------------------------------------------------------------------- per-cell peak memory
def _cell(megabytes: int) -> None:
    import numpy as np

    block = np.ones(megabytes * 2**20 // 8)  # touched: resident
    time.sleep(0.05)  # the sampling thread gets the GIL while the block is alive
    assert block.sum() > 0


@pytest.mark.parametrize("exact", [True, False], ids=["clear_refs", "sampled"])
def test_peak_memory_of_a_small_cell_after_a_large_one_is_lower(monkeypatch, exact):
    if not exact:
        monkeypatch.setattr(device, "_reset_hwm", lambda: False)
    meter = device._CellPeak(interval=0.001)
    if exact and not device._reset_hwm():
        pytest.skip("this kernel does not allow resetting VmHWM")
    meter.reset()
    _cell(300)
    large = meter.read()
    meter.reset()
    _cell(20)
    small = meter.read()
    assert large["memory_kind"] == small["memory_kind"] == ("cell_peak_rss" if exact else "cell_peak_rss_sampled")
    assert large["peak_memory_mb"] - small["peak_memory_mb"] > 150  # 300 MB vs 20 MB on top of the same base
