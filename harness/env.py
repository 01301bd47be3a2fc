"""Every environment knob of the harness, read and validated in one place.

A knob set to something unusable (`HARNESS_CLAIM_STALE_S=ten`, `nan`, a negative time, a flag
that is neither 0 nor 1) is a one-line HarnessError naming the variable and what it accepts,
raised while planning (`check_environment`), before anything is written. Readers call the
functions here at the moment they need the value, so a test or a shell can change a variable
without re-importing anything.
"""
from __future__ import annotations

import math
import os

from harness.errors import HarnessError

# name -> what it holds (the documentation of every knob; docs/robustness.md lists them too)
KNOBS = {
    "HARNESS_CLAIM_HEARTBEAT_S": "seconds between a claim's heartbeats (default 30)",
    "HARNESS_CLAIM_STALE_S": "seconds without a heartbeat after which a claim is dead (default 600)",
    "HARNESS_PRETRAIN_WAIT_S": "seconds to wait for a pretraining artifact another live run is building (default 43200)",
    "HARNESS_RAY_CONNECT_TIMEOUT_S": "seconds to wait for --ray-address to answer (default 60)",
    "HARNESS_CPU_KEEP_HEAP": "0 or 1: keep the CPU allocator's heap between cells (default 1)",
    "HARNESS_CACHE": "folder of the tokenization and device caches (default ~/.cache/harness)",
    "HARNESS_DATA_DIR": "folder of local data files (read offline)",
    "HARNESS_TASKS_DIR": "extra task spec folders (':'-separated)",
    "HARNESS_MODELS_FILE": "models files added to the built-in models.yaml (':'-separated)",
    "HARNESS_SUITES_FILE": "suites files added to the built-in suites.yaml (':'-separated)",
}


def env_float(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        raise HarnessError(f"environment variable {name}={raw!r}: expected a number of seconds in "
                           f"[{low:g}, {high:g}] ({KNOBS.get(name, '')}); fix it or unset it")
    return value


def env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip() not in ("0", "1"):
        raise HarnessError(f"environment variable {name}={raw!r}: expected 0 or 1 ({KNOBS.get(name, '')}); fix it or unset it")
    return raw.strip() == "1"


def heartbeat_s() -> float:
    return env_float("HARNESS_CLAIM_HEARTBEAT_S", 30.0, low=0.01, high=86400.0)


def stale_after_s() -> float:
    stale = env_float("HARNESS_CLAIM_STALE_S", 600.0, low=1.0, high=7 * 86400.0)
    beat = heartbeat_s()
    if stale <= beat:
        raise HarnessError(f"environment variable HARNESS_CLAIM_STALE_S={stale:g} must be above "
                           f"HARNESS_CLAIM_HEARTBEAT_S={beat:g}, or live claims look dead; raise it or unset both")
    return stale


def ray_connect_timeout_s() -> float:
    return env_float("HARNESS_RAY_CONNECT_TIMEOUT_S", 60.0, low=0.1, high=3600.0)


def pretrain_wait_s() -> float:
    """How long a run waits for an artifact whose claim another live run holds; the wait also ends
    when that claim is released (the artifact is used) or goes stale (this run takes it over)."""
    return env_float("HARNESS_PRETRAIN_WAIT_S", 43200.0, low=0.0, high=30 * 86400.0)


def cpu_keep_heap() -> bool:
    return env_flag("HARNESS_CPU_KEEP_HEAP", True)


def _check_path_knob(name: str) -> None:
    raw = os.environ.get(name)
    if raw is not None and ("\n" in raw or "\0" in raw):
        raise HarnessError(f"environment variable {name}: holds a newline or NUL byte; give a path ({KNOBS[name]})")


def cache_root() -> str:
    return os.environ.get("HARNESS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "harness")


# the caches a run writes to, the variable that moves each, and its default
CACHE_VARIABLES = (
    ("HARNESS_CACHE", cache_root),
    ("HF_HOME", lambda: os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")),
    ("HF_DATASETS_CACHE", lambda: os.environ.get("HF_DATASETS_CACHE")),
    ("HF_HUB_CACHE", lambda: os.environ.get("HF_HUB_CACHE")),
)


def _writable(folder: str) -> bool:
    """Whether `folder` exists as a writable folder or could be created (nothing is created)."""
    path = os.path.abspath(folder)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def check_caches() -> None:
    """A cache folder a run cannot write (the tokenization cache, Hugging Face's) fails now, with
    the variable that moves it, instead of minutes later inside datasets or the hub client."""
    for name, where in CACHE_VARIABLES:
        folder = where()
        if folder and not _writable(folder):
            shown = f"{name}={folder}" if os.environ.get(name) else f"{folder} (the default of {name})"
            raise HarnessError(f"cache folder {shown} is not writable; set {name} to a writable folder "
                               f"(e.g. export {name}=/tmp/{name.lower()}) and rerun")


def check_environment() -> None:
    """Validate every knob at once (called while planning a run, before anything is written)."""
    stale_after_s()
    ray_connect_timeout_s()
    pretrain_wait_s()
    cpu_keep_heap()
    for name in ("HARNESS_CACHE", "HARNESS_DATA_DIR", "HARNESS_TASKS_DIR", "HARNESS_MODELS_FILE", "HARNESS_SUITES_FILE"):
        _check_path_knob(name)
    check_caches()
