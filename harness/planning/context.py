"""What every record of a run is stamped with, resolved once: versions, device, precision, a cell's facts and config hash."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypedDict
from harness import __version__
from harness.device import DeviceChoice
from harness.planning.labels import AlignmentRecord
from harness.records.claims import ClaimInfo
from harness.spec.search import SearchConfig, Selection


HARNESS_MAJOR = __version__.split(".")[0]
SPEC_BOOKKEEPING = {"spec_file", "spec_dir", "description"}
# what an evaluation (init: finetuned) reads of the recipe: nothing is trained, so nothing else changes a score
SCORING_FIELDS = ("max_length", "truncation_side", "eval_batch_size", "sort_inference_by_length", "max_eval_samples",
                  "oom_retries")


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if commit.returncode != 0:
        return None
    return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


# the library versions a record is made with, keyed by package name
Versions = TypedDict("Versions", {"harness": str, "python": str, "torch": str, "transformers": str, "datasets": str,
                                  "scikit-learn": str})


class RunProvenance(Versions):
    """Where a run's cells train (RunContext.provenance): versions, code, device, host, executor."""

    git_commit: str | None
    device: str
    device_type: str
    device_index: int | None
    visible_gpus: int
    host: str
    executor: str
    ray_node_id: str | None
    platform: str
    pid: int


class CellProvenance(RunProvenance):
    """A cell's record's provenance (CellFacts._provenance): the run's, the precision it trained
    in, its model and data, and when it ran."""

    precision: str
    precision_requested: str
    precision_reason: str
    model_source: str
    model_language: str | None
    model_revision: str | None
    model_content_hash: str | None
    data_fingerprint: str | None
    data_files: dict[str, str]
    data_dropped_empty: dict[str, int]
    started_at: str
    finished_at: str
    claim_taken_over_from: ClaimInfo | None


class ConfigExtra(TypedDict, total=False):
    """What a search adds to a cell's config: a trial's kind and searched fields, a final cell's
    search (a changed space makes the final cells stale)."""

    kind: str
    searched: list[str]
    search: SearchConfig
    alignment: AlignmentRecord  # an evaluation cell's label alignment


class SearchKeys(TypedDict, total=False):
    """A record's `kind` and `selection`, present only where they say something."""

    kind: str
    selection: Selection


def library_versions() -> Versions:
    import datasets
    import sklearn
    import torch
    import transformers

    return {
        "harness": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "scikit-learn": sklearn.__version__,
    }


@dataclass(frozen=True)
class RunContext:
    """What every record of a run is stamped with: resolved once per run, and per worker for
    the host, device and node."""

    versions: Versions
    git_commit: str | None
    precision: str  # resolved: fp32, bf16 or fp16
    precision_requested: str
    precision_reason: str
    device: DeviceChoice
    executor: str = "local"
    host: str = field(default_factory=socket.gethostname)
    node_id: str | None = None
    cpu_keep_heap: bool = False

    @classmethod
    def resolve(cls, precision: str, requested: str, reason: str, device: DeviceChoice, executor: str) -> "RunContext":
        from harness.train.cpu_heap import keep_cpu_heap_default

        return cls(library_versions(), _git_commit(), precision, requested, reason, device, executor,
                   cpu_keep_heap=keep_cpu_heap_default() if device.type == "cpu" else False)

    def on_worker(self, device: DeviceChoice, node_id: str | None) -> "RunContext":
        from harness.train.cpu_heap import keep_cpu_heap_default

        return replace(self, device=device, node_id=node_id, host=socket.gethostname(),
                       cpu_keep_heap=keep_cpu_heap_default() if device.type == "cpu" else False)

    def provenance(self) -> RunProvenance:
        return {
            **self.versions,
            "git_commit": self.git_commit,
            "device": self.device.name,
            "device_type": self.device.type,
            "device_index": self.device.index,
            "visible_gpus": self.device.visible_gpus,
            "host": self.host,
            "executor": self.executor,
            "ray_node_id": self.node_id,
            "platform": platform.platform(),
            "pid": os.getpid(),
        }


def cell_config(task_spec, data_fingerprint: str, model_spec, identity, recipe, seed: int, precision: str) -> dict[str, Any]:
    """The fully resolved configuration; everything in it can change a score."""
    return {
        "task": {"spec": task_spec.model_dump(exclude=SPEC_BOOKKEEPING), "data_fingerprint": data_fingerprint},
        "model": {**model_spec.model_dump(exclude={"description", "language", "search"}), **identity.as_config()},
        "recipe": ({k: v for k, v in recipe.hashed().items() if k in SCORING_FIELDS}
                   if identity.init == "finetuned" else recipe.hashed()),  # new fields only where set (Recipe.hashed)
        "seed": seed,
        "precision": precision,
        "harness_major": HARNESS_MAJOR,
    }


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class CellFacts:
    """Identity and bookkeeping of one cell's record, whatever its outcome."""

    task: str
    model: str
    seed: int
    labels: list[str]
    config: dict[str, Any]
    config_hash: str
    model_source: str
    model_language: str | None
    model_revision: str | None
    model_content_hash: str | None
    data_fingerprint: str | None
    data_files: dict[str, str]
    data_dropped_empty: dict[str, int]  # split -> rows dropped by the task's `drop_empty: true`
    started: float
    fallbacks: list[str] = field(default_factory=list)
    took_over: ClaimInfo | None = None  # the dead run's claim this cell took over
    kind: str = "final"  # or "trial": a search trial (validation only); "evaluation": a checkpoint as published
    selection: Selection | None = None  # a final cell whose configuration a search chose

    def _search_keys(self) -> SearchKeys:
        """`kind` and `selection` appear only where they say something: final records without a
        search are unchanged."""
        return {**({"kind": self.kind} if self.kind != "final" else {}),
                **({"selection": self.selection} if self.selection is not None else {})}

    def _provenance(self, ctx: RunContext, precision: str) -> CellProvenance:
        return {
            **ctx.provenance(),
            "precision": precision,
            "precision_requested": ctx.precision_requested,
            "precision_reason": ctx.precision_reason if precision == ctx.precision else "NaN loss: retried in fp32",
            "model_source": self.model_source,
            "model_language": self.model_language,  # for the report; not in the config (no effect on scores)
            "model_revision": self.model_revision,
            "model_content_hash": self.model_content_hash,
            "data_fingerprint": self.data_fingerprint,
            "data_files": self.data_files,
            "data_dropped_empty": self.data_dropped_empty,
            "started_at": iso(self.started),
            "finished_at": iso(time.time()),
            "claim_taken_over_from": self.took_over,
        }

