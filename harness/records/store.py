"""Result records on disk: one JSON file per task x model x seed, typed and versioned.

`RESULTS/<task>/<model>/seed-<k>.json`, written atomically (temp file, then rename) through
`harness.files`. `read_record` is the one validating reader: it rejects a schema version it does
not understand, non-finite numbers and undecodable bytes instead of guessing, and `set_aside`
keeps an unreadable record beside the cell for a person to look at.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

from harness.errors import HarnessError
from harness.files import (
    SAFE_NAME, NonFiniteNumber, atomic_write_bytes, atomic_write_text, commit_temp, list_dir, loads_finite, os_reason,
    read_json, write_temp,
)
from harness.metrics import METRICS

__all__ = [  # atomic_write_* live in harness.files; re-exported for the modules that import them from here
    "ResultRecord", "SCHEMA_VERSION", "atomic_write_bytes", "atomic_write_text", "cell_dir", "iter_record_paths",
    "NonFiniteNumber", "load_records", "loads_finite", "read_record", "record_path", "set_aside", "write_record",
]

SCHEMA_VERSION = 1


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SplitMetrics(_Open):
    n: int = Field(ge=0)
    accuracy: float
    macro_f1: float
    mcc: float | None = None  # absent in records written before MCC was registered: read_record derives it
    loss: float | None = None  # validation: mean cross-entropy (what selection_metric=loss follows); absent in older records

    @model_validator(mode="after")
    def _within_metric_range(self) -> "SplitMetrics":
        check_metric_ranges({**(self.model_extra or {}), **self.__dict__})
        return self


# --------------------------------------------------------------------------- shared bounds
def check_metric_ranges(values: dict[str, Any]) -> None:
    """Every registered metric stays inside its declared [low, high] (an accuracy of 5.0 is not
    500%, it is a damaged or forged file). Used by the record and the baseline schema."""
    for metric in METRICS.values():
        value = values.get(metric.name)
        if isinstance(value, (int, float)) and not metric.low <= value <= metric.high:
            raise ValueError(f"{metric.name} {value!r} is outside [{metric.low:g}, {metric.high:g}]")


def check_labels(labels: list[str]) -> list[str]:
    """Label names are shown in every view: one printable line each, NFC, no duplicates."""
    for label in labels:
        if not label.strip() or any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in label):
            raise ValueError(f"label {label!r} is empty or holds a newline or control character")
        if unicodedata.normalize("NFC", label) != label:
            raise ValueError(f"label {label!r} is not Unicode-normalised (NFC)")
    if len(set(labels)) != len(labels):
        raise ValueError("a label is listed twice")
    return labels


def check_label_ids(what: str, ids: list[int], n_labels: int) -> None:
    if not ids or (min(ids) >= 0 and max(ids) < n_labels):  # min and max in C: 2,100 records x 10,000 ids
        return
    bad = next((i for i in ids if not 0 <= i < n_labels), None)
    if bad is not None:
        raise ValueError(f"{what} holds label id {bad}, outside 0..{n_labels - 1}")


class Calibration(_Open):
    """Probability metrics of the test split (harness.probabilities.calibration); absent in records
    written before probabilities were kept."""

    ece: float | None = Field(None, ge=0, le=1)  # expected calibration error over `bins` equal-width bins
    brier: float | None = Field(None, ge=0, le=2)  # multi-class Brier score
    bins: int = Field(ge=1)


class Probabilities(_Open):
    """The scored rows' class probabilities: rows x labels float16, base64 (harness.probabilities)."""

    encoding: Literal["float16-base64"]
    rows: int = Field(ge=0)
    labels: int = Field(ge=0)
    data: str

    @model_validator(mode="after")
    def _data_fits_the_shape(self) -> "Probabilities":
        expected = 4 * -(-2 * self.rows * self.labels // 3)  # base64 length of rows x labels float16 values
        if len(self.data) != expected:
            raise ValueError(f"data holds {len(self.data)} base64 characters, not the {expected} of "
                             f"{self.rows} x {self.labels} float16 values")
        return self


class TestMetrics(SplitMetrics):
    per_class: dict[str, dict[str, float]]
    confusion_matrix: list[list[int]]
    calibration: Calibration | None = None


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
    # the validation split about `curve_points` times a run plus the selection evaluations (`selection: true`);
    # absent in records written before it was kept, None with curve_points 0 (harness.train.curve)
    validation_curve: list[dict[str, Any]] | None = None
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
    task: str = Field(pattern=SAFE_NAME)  # each becomes a path component: checked once, here
    model: str = Field(pattern=SAFE_NAME)
    seed: int = Field(ge=0)
    status: Literal["completed", "failed"]
    error: str | None = None
    labels: list[str] = Field(default_factory=list)
    metrics: Metrics | None = None
    predictions: dict[str, list[StrictInt]] | None = None  # strict: the views use the file's own lists as ints
    references: dict[str, list[StrictInt]] | None = None
    probabilities: dict[str, Probabilities] | None = None  # per scored split (test); absent in older records
    throughput: Throughput | None = None
    training: Training | None = None
    data: DataSummary | None = None
    config: dict[str, Any]
    config_hash: str = Field(pattern=SAFE_NAME)
    provenance: dict[str, Any]
    kind: Literal["final", "trial", "evaluation"] = "final"  # trial: a search trial under <task>/<model>/search/;
    # evaluation: a checkpoint evaluated as published (init: finetuned): nothing trained, one record, seed 0
    alignment: dict[str, Any] | None = None  # evaluation: checkpoint label -> task label, and how each was aligned
    evaluation: dict[str, Any] | None = None  # evaluation: what was (not) trained and which variance exists
    selection: dict[str, Any] | None = None  # a final cell whose configuration a search chose

    @field_validator("labels")
    @classmethod
    def _printable_labels(cls, labels: list[str]) -> list[str]:
        return check_labels(labels)

    @model_validator(mode="after")
    def _ids_within_labels(self) -> "ResultRecord":
        for what, table in (("predictions", self.predictions), ("references", self.references)):
            for split, ids in (table or {}).items():
                check_label_ids(f"{what}.{split}", ids, len(self.labels))
        for split, block in (self.probabilities or {}).items():
            rows = len((self.predictions or {}).get(split) or [])
            if (block.rows, block.labels) != (rows, len(self.labels)):
                raise ValueError(f"probabilities.{split} is {block.rows} x {block.labels}, not rows x labels "
                                 f"= {rows} x {len(self.labels)}")
            # the values (finite, in [0, 1]) are checked when a view decodes them (harness.probabilities.decode)
        return self

    @model_validator(mode="after")
    def _completed_has_metrics(self) -> "ResultRecord":
        if self.status == "completed" and self.metrics is None:
            raise ValueError("a completed record needs metrics")
        if self.status == "failed" and not (self.error or "").strip():
            raise ValueError("a failed record needs its error")
        return self

    @model_validator(mode="after")
    def _test_scored_unless_trial(self) -> "ResultRecord":
        if self.metrics is not None and self.kind != "trial" and self.metrics.test is None:
            raise ValueError("a completed final record needs metrics.test (only a search trial has none)")
        if self.kind == "trial" and self.metrics is not None and self.metrics.test is not None:
            raise ValueError("a search trial is scored on the validation split only; it holds no test metrics")
        if self.kind == "trial" and any("test" in (table or {}) for table in (self.predictions, self.references, self.probabilities)):
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
    """The one writer of a record. The new record is validated (never write what a reader would
    reject) and written to a temp file and fsynced first; only then is the current record (if
    any) kept under `superseded/`, and the temp renamed into place. A full disk or a kill at any
    moment therefore leaves the old record or the new one (or both), never neither."""
    ResultRecord.model_validate(record)
    tmp = write_temp(path, (json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8"))
    try:
        supersede(path)
    except BaseException:
        os.unlink(tmp)
        raise
    commit_temp(tmp, path)


def read_record(path: str | Path) -> dict[str, Any]:
    """The one validating reader of a result record: a record that is not a regular file, not
    UTF-8, not JSON, holds a non-finite number (NaN, Infinity), has another schema version, does
    not match `ResultRecord` (bounds, safe names, label ids) or lies in another cell's folder
    than the one it names is a one-line HarnessError naming the file, never a guess."""
    path = Path(path)
    fix = "rerun the cell (harness run ... --force) or move the file out of the results folder"
    record = read_json(path, "result record", fix=fix)
    version = record.get("schema_version") if isinstance(record, dict) else None
    if version != SCHEMA_VERSION:
        raise HarnessError(
            f"{path}: result schema_version {version!r} is not supported by this harness (it reads {SCHEMA_VERSION})"
        )
    try:
        ResultRecord.model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = first["msg"].removeprefix("Value error, ")
        raise HarnessError(f"{path}: invalid result record: {'.'.join(map(str, first['loc'])) or '(record)'}: {msg}; {fix}") from None
    _check_location(path, record, fix)
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


def _check_location(path: Path, record: dict[str, Any], fix: str) -> None:
    """A record lies where its own task, model and seed put it (RESULTS/<task>/<model>/seed-<k>.json,
    or .../search/trial-<id>-seed-<k>.json): a copy in another folder is not counted twice as
    more seeds, and a forged record cannot speak for another cell."""
    cell = path.parent.parent if path.parent.name == "search" else path.parent
    name_ok = path.name == f"seed-{record['seed']}.json" or (
        path.parent.name == "search" and path.name.startswith("trial-") and path.name.endswith(f"-seed-{record['seed']}.json"))
    if not name_ok or cell.name != record["model"] or cell.parent.name != record["task"]:
        raise HarnessError(
            f"{path}: the record is for task '{record['task']}', model '{record['model']}', seed {record['seed']}, "
            f"but lies in another cell's place ({record['task']}/{record['model']}/seed-{record['seed']}.json expected); {fix}"
        )


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
    """RESULTS/<task>/<model>/seed-<k>.json, listed folder by folder: a task or model folder the
    user cannot read is an error naming it, never silently skipped."""
    root = Path(results)
    if not root.is_dir():
        raise HarnessError(f"results folder {root} does not exist")
    what = "results folder"
    for task in list_dir(root, what):
        if not task.is_dir() or task.name.startswith("."):
            continue
        for model in list_dir(task, what):
            if not model.is_dir() or model.name.startswith("."):
                continue
            yield from (p for p in list_dir(model, what) if _RECORD_NAME.match(p.name))


_RECORD_NAME = re.compile(r"^seed-[^/]*\.json$")


def load_records(results: str | Path) -> list[dict[str, Any]]:
    return [read_record(p) for p in iter_record_paths(results)]


def supersede(path: str | Path) -> Path | None:
    """Keep the current record (completed or failed) as `superseded/seed-<k>.<config-hash>.json`
    beside it before a new one replaces it: a record is never silently overwritten. It is linked
    (or copied), not moved, so the current record stays in place until `write_record` renames
    the replacement over it. Views read only current records (`*/*/seed-*.json`)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        digest = str(json.loads(path.read_text(encoding="utf-8")).get("config_hash") or "unknown")
    except (OSError, ValueError, AttributeError):
        digest = "unreadable"
    if not re.match(SAFE_NAME, digest):  # a config hash with '/' must not move a record elsewhere
        digest = "unsafe-name"
    folder = path.parent / "superseded"
    target = folder / f"{path.stem}.{digest}.json"
    n = 1
    try:
        folder.mkdir(exist_ok=True)
        while target.exists():
            target = folder / f"{path.stem}.{digest}.{n}.json"
            n += 1
        try:
            os.link(path, target)
        except OSError:  # a file system without hard links
            shutil.copy2(path, target)
    except OSError as exc:
        raise HarnessError(f"cannot keep the current record {path} under {folder}: {os_reason(exc)}") from None
    return target
