"""Keep large freed tensors in the heap while a cell trains on CPU (see `cpu_heap_kept`)."""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys

from harness.env import cpu_keep_heap


# --------------------------------------------------------------------------- CPU memory
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters (glibc malloc.h)
_GLIBC_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt / malloc_trim
        return None


def keep_cpu_heap_default() -> bool:
    """On by default on CPU; HARNESS_CPU_KEEP_HEAP=0 turns it off."""
    import torch

    return not torch.cuda.is_available() and cpu_keep_heap()


@contextlib.contextmanager
def cpu_heap_kept(enabled: bool = True):
    """While a cell trains and predicts on CPU (Linux, glibc), keep freed memory in the heap.

    glibc serves a large allocation with a fresh mmap and unmaps it when freed, so every training
    step page-faults its big buffers in again: the 30522 x 384 word-embedding gradient of MiniLM
    (47 MB, allocated afresh after each zero_grad(set_to_none=True)) and the activations cost about
    a third of a bf16 MiniLM step on 2 cores. With mmap and heap trimming off, the allocator
    reuses the same pages; no number changes. On exit glibc's defaults come back and the free heap
    is trimmed. No effect on CUDA tensors (they use torch's caching allocator)."""
    libc = _glibc() if enabled else None
    if libc is None:
        yield False
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield True
    finally:
        for param, value in _GLIBC_DEFAULTS.items():
            libc.mallopt(param, value)
        libc.malloc_trim(0)
