"""The device a cell runs on: precision choice, peak FLOP/s (for MFU), peak memory."""
from __future__ import annotations

import json
import os
import platform
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Dense peak FLOP/s of known accelerators (vendor datasheets), by precision.
KNOWN_PEAKS: dict[str, dict[str, float]] = {
    "H100 80GB HBM3": {"bf16": 989e12, "fp16": 989e12, "fp32": 67e12},  # H100 SXM
    "H100 SXM": {"bf16": 989e12, "fp16": 989e12, "fp32": 67e12},
    "H100 PCIe": {"bf16": 756e12, "fp16": 756e12, "fp32": 51e12},
    "H200": {"bf16": 989e12, "fp16": 989e12, "fp32": 67e12},
    "A100": {"bf16": 312e12, "fp16": 312e12, "fp32": 19.5e12},
    "L4": {"bf16": 121e12, "fp16": 121e12, "fp32": 30e12},
    "A10G": {"bf16": 70e12, "fp16": 70e12, "fp32": 31e12},
    "T4": {"bf16": 65e12, "fp16": 65e12, "fp32": 8.1e12},
}


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return cpu_model()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_fast_bf16() -> bool:
    """AMX-BF16 or AVX-512-BF16: bf16 matrix products run much faster than fp32."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def resolve_precision(requested: str) -> str:
    """auto -> bf16 where the device has fast bf16 (CUDA with bf16, AMX / AVX-512-BF16 CPUs), else fp32."""
    import torch

    if requested not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"unknown precision '{requested}' (auto, fp32, bf16, fp16)")
    if requested != "auto":
        if requested == "fp16" and not torch.cuda.is_available():
            raise ValueError("fp16 needs a CUDA GPU; use --precision bf16 or fp32 on CPU")
        return requested
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def _cache_dir() -> Path:
    root = os.environ.get("HARNESS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "harness")
    return Path(root)


def measure_matmul_flops(dtype_name: str, size: int = 2048, repeats: int = 6) -> float:
    """FLOP/s of a square matrix product on this device (the best of `repeats`)."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    best = float("inf")
    for _ in range(repeats + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        (a @ b).sum().item()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def peak_flops(precision: str) -> dict[str, Any]:
    """The device's peak FLOP/s for `precision`: a datasheet value for known GPUs, else a measured
    matrix product, cached per device, thread count and torch version."""
    import torch

    name = device_name()
    if torch.cuda.is_available():
        for key, peaks in KNOWN_PEAKS.items():
            if key.lower() in name.lower():
                return {"flops": peaks[precision], "source": f"datasheet ({key}, dense {precision})"}
    cache = _cache_dir() / "peak_flops.json"
    key = f"{name}|threads={torch.get_num_threads()}|torch={torch.__version__}|{precision}"
    table: dict[str, float] = {}
    if cache.is_file():
        try:
            table = json.loads(cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # unreadable, not UTF-8 or not JSON: measure again
            table = {}
    if key not in table:
        table[key] = measure_matmul_flops(precision)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(table, indent=1))
            tmp.replace(cache)
        except OSError:
            pass
    return {"flops": table[key], "source": f"measured {precision} 2048x2048 matmul, cached in {cache}"}


def reset_peak_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mb() -> dict[str, Any]:
    import torch

    if torch.cuda.is_available():
        return {"peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20, "memory_kind": "cuda_max_allocated"}
    # ru_maxrss is in KiB on Linux: the process's peak resident set since it started.
    return {
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "memory_kind": "process_peak_rss",
    }


def synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()



# --------------------------------------------------------------------------- one device per cell
@dataclass(frozen=True)
class DeviceChoice:
    """The one device a cell trains on, and what the machine showed when it was chosen."""

    type: str  # "cuda" or "cpu"
    index: int | None  # the CUDA device index (within CUDA_VISIBLE_DEVICES), None on CPU
    name: str
    visible_gpus: int  # CUDA devices this process could see

    @property
    def torch_device(self) -> str:
        return f"cuda:{self.index}" if self.type == "cuda" else "cpu"


def choose_device(requested: str | None = None) -> DeviceChoice:
    """`--device`: None/"auto" takes the first visible GPU (else the CPU), "cpu", "cuda" or
    "cuda:N". A cell never sees more than this one device."""
    import torch

    from .errors import HarnessError

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    value = (requested or "auto").strip().lower()
    if value == "cpu":
        return DeviceChoice("cpu", None, cpu_model(), count)
    if value in ("auto", "cuda") or value.startswith("cuda:"):
        if value == "auto" and count == 0:
            return DeviceChoice("cpu", None, cpu_model(), 0)
        if count == 0:
            raise HarnessError(f"--device {requested}: no CUDA GPU is visible here; use --device cpu")
        index = 0
        if value.startswith("cuda:"):
            text = value.split(":", 1)[1]
            if not text.isdigit() or int(text) >= count:
                raise HarnessError(f"--device {requested}: this machine shows {count} GPU(s): cuda:0 to cuda:{count - 1}")
            index = int(text)
        return DeviceChoice("cuda", index, torch.cuda.get_device_name(index), count)
    raise HarnessError(f"--device {requested}: expected auto, cpu, cuda or cuda:N")


def _one_device_class():
    """TrainingArguments bound to one device, defined once at module level (the Trainer pickles
    its arguments into checkpoints, so the class must be importable by name)."""
    cls = globals().get("OneDeviceArguments")
    if cls is not None:
        return cls
    from functools import cached_property

    import torch
    from transformers import TrainingArguments

    class OneDeviceArguments(TrainingArguments):
        _harness_device: DeviceChoice | None = None

        @cached_property
        def _setup_devices(self):
            chosen = TrainingArguments._setup_devices.func(self)
            device = self._harness_device
            if device is not None and device.type == "cuda" and torch.cuda.is_available():
                chosen = torch.device("cuda", device.index or 0)
                torch.cuda.set_device(chosen)  # accelerate's "cuda" is the current device
            self._n_gpu = min(self._n_gpu, 1)
            return chosen

    OneDeviceArguments.__module__ = __name__
    OneDeviceArguments.__qualname__ = "OneDeviceArguments"
    globals()["OneDeviceArguments"] = OneDeviceArguments
    return OneDeviceArguments


def one_device_training_arguments(device: DeviceChoice, **kwargs):
    """TrainingArguments bound to exactly one device.

    transformers' Trainer sets `n_gpu = torch.cuda.device_count()` and wraps the model in
    `nn.DataParallel` when that is above one, so batch 16 on an 8-GPU machine silently becomes
    128. These arguments keep n_gpu at 1 (0 on CPU) and pin the chosen CUDA device, so the
    batch in the record is the batch the optimizer saw."""
    cls = _one_device_class()
    args = cls.__new__(cls)
    args._harness_device = device  # before __init__: __post_init__ may already ask for the device
    args.__init__(use_cpu=device.type == "cpu", **kwargs)
    return args
