"""Result records on disk: one JSON file per task x model x seed, typed and versioned.

`RESULTS/<task>/<model>/seed-<k>.json`, written atomically (temp file, then rename) through
`harness.files`. `read_record` is the one validating reader: it rejects a schema version it does
not understand, non-finite numbers and undecodable bytes instead of guessing, and `set_aside`
keeps an unreadable record beside the cell for a person to look at.
"""
from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import HarnessError
from harness.files import UTF8_BOM, atomic_write_bytes, atomic_write_text, os_reason, read_bytes

__all__ = [  # atomic_write_* live in harness.files; re-exported for the modules that import them from here
    "ResultRecord", "SCHEMA_VERSION", "atomic_write_bytes", "atomic_write_text", "cell_dir", "iter_record_paths",
    "NonFiniteNumber", "load_records", "loads_finite", "read_record", "record_path", "set_aside", "write_record",
]

SCHEMA_VERSION = 1


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SplitMetrics(_Open):
    n: int
    accuracy: float
    macro_f1: float
    mcc: float | None = None  # absent in records written before MCC was registered: read_record derives it
    loss: float | None = None  # validation: mean cross-entropy (what selection_metric=loss follows); absent in older records


class TestMetrics(SplitMetrics):
    per_class: dict[str, dict[str, float]]
    confusion_matrix: list[list[int]]


class Metrics(_Open):
    validation: SplitMetrics
    test: TestMetrics | None = None  # absent only in a search trial's record (validation only)
    macro_f1_definition: str


class Latency(_Open):
    """Batch-1 inference latency over the first test examples, after warm-up (harness.train.scoring.latency)."""

    batch_size: Literal[1]
    examples: int
    warmup: int
    median_ms: float
    p95_ms: float
    device: str
    precision: str
    weights: str


class Throughput(_Open):
    train_samples_per_s: float | None
    train_tokens_per_s: float | None
    eval_samples_per_s: float | None
    eval_tokens_per_s: float | None
    train_seconds: float | None
    eval_seconds: float | None
    peak_memory_mb: float | None
    mfu: float | None
    latency: Latency | None = None  # absent in records written before it was measured


class Training(_Open):
    epochs: float
    steps: int
    best_step: int | None  # the best evaluation on selection_metric
    stopped_early: bool
    history: list[dict[str, Any]]  # one entry per evaluation (the validation curve)
    loss_curve: list[dict[str, Any]] | None = None  # the training loss, logged about 25 times a run
    # always a new head initialised from the seed; replaced: the checkpoint had one (its label count, problem_type)
    head: dict[str, Any] | None = None
    # the selection (absent in records written before it was recorded):
    selection_metric: str | None = None  # the validation metric early stopping and the best checkpoint followed
    min_steps: int | None = None  # the earliest step early stopping could stop at (default: the warm-up steps)
    restored_step: int | None = None  # whose weights were restored and scored (None: the last step's)
    stopped_at_step: int | None = None  # where early stopping ended training (None: the budget ended it)
    stopped_on: str | None = None  # the metric early stopping stopped on


class DataSummary(_Open):
    """What the cell did to its data: the token budget and how many examples it cut, per split."""

    max_length: int
    truncation_side: Literal["right", "left"]
    truncated: dict[str, int]
    rows: dict[str, int]
    dropped_empty: dict[str, int] | None = None
    task_description: str | None = None  # the task spec's description (kept out of the config: no effect on scores)


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
    data: DataSummary | None = None
    config: dict[str, Any]
    config_hash: str
    provenance: dict[str, Any]
    kind: Literal["final", "trial", "evaluation"] = "final"  # trial: a search trial under <task>/<model>/search/;
    # evaluation: a checkpoint evaluated as published (init: finetuned): nothing trained, one record, seed 0
    alignment: dict[str, Any] | None = None  # evaluation: checkpoint label -> task label, and how each was aligned
    evaluation: dict[str, Any] | None = None  # evaluation: what was (not) trained and which variance exists
    selection: dict[str, Any] | None = None  # a final cell whose configuration a search chose

    @model_validator(mode="after")
    def _test_scored_unless_trial(self) -> "ResultRecord":
        if self.metrics is not None and self.kind != "trial" and self.metrics.test is None:
            raise ValueError("a completed final record needs metrics.test (only a search trial has none)")
        if self.kind == "trial" and self.metrics is not None and self.metrics.test is not None:
            raise ValueError("a search trial is scored on the validation split only; it holds no test metrics")
        if self.kind == "trial" and ("test" in (self.predictions or {}) or "test" in (self.references or {})):
            raise ValueError("a search trial stores no test predictions or references")
        if self.kind == "evaluation" and self.status == "completed" and self.alignment is None:
            raise ValueError("an evaluation record needs its label alignment")
        return self


def cell_dir(results: str | Path, task: str, model: str) -> Path:
    return Path(results) / task / model


def record_path(results: str | Path, task: str, model: str, seed: int) -> Path:
    return cell_dir(results, task, model) / f"seed-{seed}.json"


def trial_path(results: str | Path, task: str, model: str, trial_id: str, seed: int) -> Path:
    """A search trial's record: beside the final records' folder, never matched by their glob."""
    return cell_dir(results, task, model) / "search" / f"trial-{trial_id}-seed-{seed}.json"


def write_record(path: Path, record: dict[str, Any]) -> None:
    """The one writer of result records, for every executor: validate (never write what a reader
    would reject), move the record it replaces to `superseded/` (never silently overwritten),
    then write atomically."""
    ResultRecord.model_validate(record)
    text = json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    supersede(path)
    atomic_write_text(path, text)


class NonFiniteNumber(ValueError):
    """A NaN or infinite number in a JSON file that holds metrics: no metric can be one."""

    def __init__(self, token: str):
        super().__init__(token)
        self.token = token

    def line_in(self, text: str) -> int | None:
        return text[: text.find(self.token)].count("\n") + 1 if self.token in text else None


def _reject_constant(token: str) -> float:
    raise NonFiniteNumber(token)


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):  # 1e999
        raise NonFiniteNumber(token)
    return value


def loads_finite(text: str) -> Any:
    """json.loads that raises NonFiniteNumber on NaN, Infinity and overflowing floats (Python's
    json module accepts them silently)."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


def read_record(path: str | Path) -> dict[str, Any]:
    """The one validating reader of a result record: a record that is not UTF-8, not JSON,
    holds a non-finite number (NaN, Infinity), has another schema version or does not match
    `ResultRecord` is a one-line HarnessError naming the file, never a guess."""
    path = Path(path)
    fix = "rerun the cell (harness run ... --force) or move the file out of the results folder"
    data = read_bytes(path, "result record")
    try:
        text = data.removeprefix(UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise HarnessError(f"{path}, line {line}: not UTF-8 text, so not a result record (a damaged file?); {fix}") from None
    try:
        record = loads_finite(text)
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}, line {exc.lineno}: not a JSON result record ({exc.msg}); {fix}") from None
    except NonFiniteNumber as exc:
        line = exc.line_in(text)
        at = f", line {line}" if line else ""
        raise HarnessError(f"{path}{at}: holds a non-finite number ({exc.token}), which no metric can be; {fix}") from None
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
    return derive_missing_metrics(record)


def derive_missing_metrics(record: dict[str, Any]) -> dict[str, Any]:
    """A reader of older records: a metric registered after a record was written (MCC) is computed
    from the record's own predictions and references of that split, and named in
    `metrics.derived_on_read` (the file itself is not changed)."""
    from harness.metrics import METRICS

    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        return record
    derived = []
    for split in ("validation", "test"):
        scores = metrics.get(split)
        refs = (record.get("references") or {}).get(split)
        preds = (record.get("predictions") or {}).get(split)
        if not isinstance(scores, dict) or not refs or preds is None or len(refs) != len(preds):
            continue
        for metric in METRICS.values():
            if scores.get(metric.name) is None:
                scores[metric.name] = metric.compute(refs, preds)
                derived.append(f"{split}.{metric.name}")
    if derived:
        metrics["derived_on_read"] = derived
    return record


def set_aside(path: str | Path) -> Path:
    """Rename a record that cannot be read to `<name>.unreadable-<UTC time>` in the same folder
    (never deleted: someone may want to look at it) and return the new path. The new name no
    longer matches `seed-*.json`, so the cell counts as missing and reruns."""
    path = Path(path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.unreadable-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.unreadable-{stamp}-{n}")
    try:
        os.replace(path, target)
    except OSError as exc:
        raise HarnessError(f"cannot set aside the unreadable record {path}: {os_reason(exc)}") from None
    return target


def iter_record_paths(results: str | Path) -> Iterator[Path]:
    root = Path(results)
    if not root.is_dir():
        raise HarnessError(f"results folder {root} does not exist")
    yield from sorted(root.glob("*/*/seed-*.json"))


def load_records(results: str | Path) -> list[dict[str, Any]]:
    return [read_record(p) for p in iter_record_paths(results)]


def supersede(path: str | Path) -> Path | None:
    """Before a cell's new record is written, move the current one (completed or failed) to
    `superseded/seed-<k>.<config-hash>.json` beside it: a record is never silently overwritten.
    Views read only current records (`*/*/seed-*.json`)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        digest = str(json.loads(path.read_text(encoding="utf-8")).get("config_hash") or "unknown")
    except (OSError, ValueError, AttributeError):
        digest = "unreadable"
    folder = path.parent / "superseded"
    folder.mkdir(exist_ok=True)
    target = folder / f"{path.stem}.{digest}.json"
    n = 1
    while target.exists():
        target = folder / f"{path.stem}.{digest}.{n}.json"
        n += 1
    os.replace(path, target)
    return target
