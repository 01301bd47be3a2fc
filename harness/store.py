"""Result records on disk: one JSON file per task x model x seed, typed and versioned.

`RESULTS/<task>/<model>/seed-<k>.json`, written atomically (temp file, then rename). Readers
reject a schema version they do not understand instead of guessing.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import HarnessError

SCHEMA_VERSION = 1


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SplitMetrics(_Open):
    n: int
    accuracy: float
    macro_f1: float


class TestMetrics(SplitMetrics):
    per_class: dict[str, dict[str, float]]
    confusion_matrix: list[list[int]]


class Metrics(_Open):
    validation: SplitMetrics
    test: TestMetrics | None = None  # absent only in a search trial's record (validation only)
    macro_f1_definition: str


class Throughput(_Open):
    train_samples_per_s: float | None
    train_tokens_per_s: float | None
    eval_samples_per_s: float | None
    eval_tokens_per_s: float | None
    train_seconds: float | None
    eval_seconds: float | None
    peak_memory_mb: float | None
    mfu: float | None


class Training(_Open):
    epochs: float
    steps: int
    best_step: int | None
    stopped_early: bool
    history: list[dict[str, Any]]


class ResultRecord(_Open):
    """The typed view of a result file. Extra keys are kept (forward-compatible additions)."""

    schema_version: Literal[1]
    task: str
    model: str
    seed: int
    status: Literal["completed", "failed"]
    error: str | None = None
    labels: list[str] = Field(default_factory=list)
    metrics: Metrics | None = None
    predictions: dict[str, list[int]] | None = None
    references: dict[str, list[int]] | None = None
    throughput: Throughput | None = None
    training: Training | None = None
    config: dict[str, Any]
    config_hash: str
    provenance: dict[str, Any]
    kind: Literal["final", "trial"] = "final"  # trial: a search trial under <task>/<model>/search/
    selection: dict[str, Any] | None = None  # a final cell whose configuration a search chose

    @model_validator(mode="after")
    def _test_scored_unless_trial(self) -> "ResultRecord":
        if self.metrics is not None and self.kind == "final" and self.metrics.test is None:
            raise ValueError("a completed final record needs metrics.test (only a search trial has none)")
        if self.kind == "trial" and self.metrics is not None and self.metrics.test is not None:
            raise ValueError("a search trial is scored on the validation split only; it holds no test metrics")
        if self.kind == "trial" and ("test" in (self.predictions or {}) or "test" in (self.references or {})):
            raise ValueError("a search trial stores no test predictions or references")
        return self


def cell_dir(results: str | Path, task: str, model: str) -> Path:
    return Path(results) / task / model


def record_path(results: str | Path, task: str, model: str, seed: int) -> Path:
    return cell_dir(results, task, model) / f"seed-{seed}.json"


def trial_path(results: str | Path, task: str, model: str, trial_id: str, seed: int) -> Path:
    """A search trial's record: beside the final records' folder, never matched by their glob."""
    return cell_dir(results, task, model) / "search" / f"trial-{trial_id}-seed-{seed}.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_record(path: Path, record: dict[str, Any]) -> None:
    ResultRecord.model_validate(record)  # never write what a reader would reject
    atomic_write_text(path, json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False) + "\n")


def read_record(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}: not a JSON result record ({exc.msg})") from None
    except UnicodeDecodeError:
        raise HarnessError(f"{path}: not a JSON result record (not UTF-8 text)") from None
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read the result record ({exc.strerror})") from None
    version = record.get("schema_version") if isinstance(record, dict) else None
    if version != SCHEMA_VERSION:
        raise HarnessError(
            f"{path}: result schema_version {version!r} is not supported by this harness (it reads {SCHEMA_VERSION})"
        )
    try:
        ResultRecord.model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise HarnessError(f"{path}: invalid result record: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return record


def iter_record_paths(results: str | Path) -> Iterator[Path]:
    root = Path(results)
    if not root.is_dir():
        raise HarnessError(f"results folder {root} does not exist")
    yield from sorted(root.glob("*/*/seed-*.json"))


def load_records(results: str | Path) -> list[dict[str, Any]]:
    return [read_record(p) for p in iter_record_paths(results)]


def set_aside(path: str | Path) -> Path:
    """Rename a record that cannot be read to `<name>.unreadable-<UTC time>` beside it: the cell is
    retrained, and the bad file is kept for whoever wants to look at it."""
    import time

    path = Path(path)
    target = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}")
    n = 1
    while target.exists():
        target = target.with_name(f"{target.name}-{n}")
        n += 1
    os.replace(path, target)
    return target
