"""The device a cell runs on: precision choice, peak FLOP/s (for MFU), peak memory."""
from __future__ import annotations

import json
import platform
import resource
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict


class PeakFlops(TypedDict):
    """A device's peak FLOP/s for one precision (None: unknown, no MFU) and where the figure comes from."""

    flops: float | None
    source: str


class PeakMemory(TypedDict):
    """The peak memory of a cell in MiB, and how it was measured."""

    peak_memory_mb: float
    memory_kind: str


# Dense (no sparsity) peak FLOP/s of GPUs by precision, from the vendor datasheets; bf16 / fp16 on
# tensor cores with fp32 accumulation. A precision a GPU has no tensor cores for (bf16 before
# compute capability 8) is left out: its peak is unknown, not the fp16 one.
_SXM_H100 = {"bf16": 989e12, "fp16": 989e12, "fp32": 67e12}
_NVL_H100 = {"bf16": 835e12, "fp16": 835e12, "fp32": 60e12}
_A100 = {"bf16": 312e12, "fp16": 312e12, "fp32": 19.5e12}
GPU_PEAKS: dict[str, dict[str, float]] = {
    "H100 SXM": _SXM_H100,
    "H100 PCIe": {"bf16": 756e12, "fp16": 756e12, "fp32": 51e12},
    "H100 NVL": _NVL_H100,
    "H200 SXM": _SXM_H100,
    "H200 NVL": _NVL_H100,
    "GH200": _SXM_H100,
    "A100": _A100,
    "A30": {"bf16": 165e12, "fp16": 165e12, "fp32": 10.3e12},
    "A40": {"bf16": 149.7e12, "fp16": 149.7e12, "fp32": 37.4e12},
    "A10": {"bf16": 125e12, "fp16": 125e12, "fp32": 31.2e12},
    "A10G": {"bf16": 70e12, "fp16": 70e12, "fp32": 31.2e12},
    "L4": {"bf16": 121e12, "fp16": 121e12, "fp32": 30.3e12},
    "L40": {"bf16": 181e12, "fp16": 181e12, "fp32": 90.5e12},
    "L40S": {"bf16": 362e12, "fp16": 362e12, "fp32": 91.6e12},
    "RTX A5000": {"bf16": 111e12, "fp16": 111e12, "fp32": 27.8e12},
    "RTX A6000": {"bf16": 154.8e12, "fp16": 154.8e12, "fp32": 38.7e12},
    "RTX 6000 Ada": {"bf16": 364.2e12, "fp16": 364.2e12, "fp32": 91.1e12},
    "GeForce RTX 3090": {"bf16": 71e12, "fp16": 71e12, "fp32": 35.6e12},
    "GeForce RTX 4090": {"bf16": 165.2e12, "fp16": 165.2e12, "fp32": 82.6e12},
    "T4": {"fp16": 65e12, "fp32": 8.1e12},
    "V100 SXM2": {"fp16": 125e12, "fp32": 15.7e12},
    "V100 PCIe": {"fp16": 112e12, "fp32": 14e12},
    "V100S PCIe": {"fp16": 130e12, "fp32": 16.4e12},
}
# The names torch.cuda.get_device_name() reports, normalised (_normalise_gpu_name), matched exactly:
# a substring match gave an L40S the L4's peak.
GPU_NAMES: dict[str, str] = {
    "H100 80GB HBM3": "H100 SXM", "H100 SXM5 80GB": "H100 SXM", "H100 SXM": "H100 SXM",
    "H100 PCIE": "H100 PCIe", "H100 80GB PCIE": "H100 PCIe", "H100 NVL": "H100 NVL",
    "H200": "H200 SXM", "H200 141GB HBM3E": "H200 SXM", "H200 NVL": "H200 NVL",
    "GH200 480GB": "GH200", "GH200 144G HBM3E": "GH200",
    "A100 SXM4 40GB": "A100", "A100 SXM4 80GB": "A100", "A100 PCIE 40GB": "A100", "A100 80GB PCIE": "A100",
    "A100 PCIE 80GB": "A100", "A30": "A30", "A40": "A40", "A10": "A10", "A10G": "A10G",
    "L4": "L4", "L40": "L40", "L40S": "L40S",
    "RTX A5000": "RTX A5000", "RTX A6000": "RTX A6000", "RTX 6000 ADA GENERATION": "RTX 6000 Ada",
    "GEFORCE RTX 3090": "GeForce RTX 3090", "GEFORCE RTX 4090": "GeForce RTX 4090",
    "T4": "T4", "V100 SXM2 16GB": "V100 SXM2", "V100 SXM2 32GB": "V100 SXM2",
    "V100 PCIE 16GB": "V100 PCIe", "V100 PCIE 32GB": "V100 PCIe", "V100S PCIE 32GB": "V100S PCIe",
}


def _normalise_gpu_name(name: str) -> str:
    """`NVIDIA A100-SXM4-80GB` -> `A100 SXM4 80GB`, `Tesla T4` -> `T4`: upper case, dashes as spaces,
    the vendor word dropped."""
    words = name.upper().replace("-", " ").replace("_", " ").split()
    while words and words[0] in ("NVIDIA", "TESLA"):
        words = words[1:]
    return " ".join(words)


def gpu_datasheet(name: str) -> str | None:
    """The GPU_PEAKS entry of a device name, matched exactly after normalisation, or None."""
    return GPU_NAMES.get(_normalise_gpu_name(name))


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


def choose_precision(requested: str, cuda_index: int = 0) -> tuple[str, str]:
    """(precision, why). auto: bf16 where it is native (CUDA compute capability >= 8, AMX /
    AVX-512-BF16 CPUs); fp16 with loss scaling on CUDA GPUs of capability 7.x (T4, V100: their bf16
    is emulated, far slower than fp16); fp32 elsewhere."""
    import torch

    if requested not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"unknown precision '{requested}' (auto, fp32, bf16, fp16)")
    if requested != "auto":
        if requested == "fp16" and not torch.cuda.is_available():
            raise ValueError("fp16 needs a CUDA GPU; use --precision bf16 or fp32 on CPU")
        return requested, "requested"
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(cuda_index)
        capability = f"CUDA compute capability {major}.{minor}"
        if major >= 8 and torch.cuda.is_bf16_supported():
            return "bf16", f"auto: native bf16 ({capability})"
        if major >= 7:
            return "fp16", f"auto: {capability} < 8 has no native bf16 (emulated, slow); fp16 with loss scaling"
        return "fp32", f"auto: {capability} has no tensor cores"
    if cpu_has_fast_bf16():
        return "bf16", "auto: CPU with AMX / AVX-512-BF16"
    return "fp32", "auto: CPU without AMX / AVX-512-BF16"


def resolve_precision(requested: str) -> str:
    """The precision `choose_precision` picks (without its reason)."""
    return choose_precision(requested)[0]


def _cache_dir() -> Path:
    from harness.env import cache_root

    return Path(cache_root())


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


def peak_flops(precision: str) -> PeakFlops:
    """The device's peak FLOP/s for `precision`: on CUDA the datasheet value of a GPU named exactly in
    GPU_NAMES, else None with source "unknown: ..." (no MFU rather than a wrong one); on CPU a
    measured matrix product, cached per device, thread count and torch version."""
    import torch

    name = device_name()
    if torch.cuda.is_available():
        key = gpu_datasheet(name)
        if key is None or precision not in GPU_PEAKS[key]:
            what = f"'{name}' is not in harness.device.GPU_NAMES" if key is None else f"no {precision} datasheet peak for {key}"
            return {"flops": None, "source": f"unknown: {what}"}
        return {"flops": GPU_PEAKS[key][precision], "source": f"datasheet ({key}, dense {precision})"}
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


class _CellPeak:
    """The peak resident memory of one cell on CPU, not of the process's lifetime.

    On Linux, writing 5 to /proc/self/clear_refs resets the kernel's peak-RSS counter (VmHWM) to the
    current RSS, so VmHWM read at the end is this cell's exact peak. Where that is not allowed, a
    thread samples the RSS every `interval` seconds (psutil), which can miss spikes shorter than that."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.mode: str | None = None
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        self.stop()
        if _reset_hwm():
            self.mode = "cell_peak_rss"
            return
        import psutil

        process = psutil.Process()
        self.mode, self._peak = "cell_peak_rss_sampled", process.memory_info().rss
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(self.interval):
                self._peak = max(self._peak, process.memory_info().rss)

        self._thread = threading.Thread(target=sample, name="harness-peak-rss", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def read(self) -> PeakMemory:
        """The peak since the last reset, in MiB, and how it was measured."""
        if self.mode == "cell_peak_rss":
            return {"peak_memory_mb": _status_kib("VmHWM") / 1024, "memory_kind": self.mode}
        if self.mode == "cell_peak_rss_sampled":
            import psutil

            self.stop()
            peak = max(self._peak, psutil.Process().memory_info().rss)
            return {"peak_memory_mb": peak / 2**20, "memory_kind": self.mode}
        # never reset: ru_maxrss (KiB on Linux) is the process's peak since it started
        return {"peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "memory_kind": "process_peak_rss"}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def _reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kib("VmHWM") <= _status_kib("VmRSS") + 1024  # reset indeed (1 MiB of slack)
    except (OSError, ValueError):
        return False


_CPU_PEAK = _CellPeak()


def reset_peak_memory() -> None:
    """Start measuring a cell's peak memory: CUDA's max-allocated counter, or the CPU peak RSS."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    else:
        _CPU_PEAK.reset()


def peak_memory_mb() -> PeakMemory:
    """The peak since reset_peak_memory(): CUDA max allocated, or the cell's peak RSS on CPU."""
    import torch

    if torch.cuda.is_available():
        return {"peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20, "memory_kind": "cuda_max_allocated"}
    return _CPU_PEAK.read()


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

    from harness.errors import HarnessError

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
