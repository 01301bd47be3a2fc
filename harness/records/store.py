"""Result records on disk: one JSON file per task x model x seed, typed and versioned.

`RESULTS/<task>/<model>/seed-<k>.json`, written atomically (temp file, then rename) through
`harness.files`. `read_record` is the one validating reader: it rejects a schema version it does
not understand, non-finite numbers and undecodable bytes instead of guessing, and `set_aside`
keeps an unreadable record beside the cell for a person to look at.
"""
from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pydantic_core
from pydantic import ValidationError

from harness.errors import HarnessError
from harness.files import (
    SAFE_NAME, NonFiniteNumber, atomic_write_bytes, atomic_write_text, commit_temp, list_dir, loads_finite, os_reason,
    read_bytes, read_json, write_temp,
)
from harness.metrics import METRICS, metric_names
from harness.records.schema import (  # noqa: F401 - check_* re-exported for the baseline schema
    READABLE_VERSIONS, SCHEMA_VERSION, RecordKind, RecordStatus, ResultRecord, check_label_ids, check_labels,
    check_metric_ranges, upgrade,
)

__all__ = [  # atomic_write_* live in harness.files; re-exported for the modules that import them from here
    "RecordKind", "RecordStatus", "ResultRecord", "SCHEMA_VERSION", "atomic_write_bytes", "atomic_write_text", "cell_dir", "iter_record_paths",
    "NonFiniteNumber", "load_records", "loads_finite", "read_record", "record_path", "set_aside", "write_record",
]

def cell_dir(results: str | Path, task: str, model: str) -> Path:
    return Path(results) / task / model


def record_path(results: str | Path, task: str, model: str, seed: int) -> Path:
    return cell_dir(results, task, model) / f"seed-{seed}.json"


def trial_path(results: str | Path, task: str, model: str, trial_id: str, seed: int) -> Path:
    """A search trial's record: beside the final records' folder, never matched by their glob."""
    return cell_dir(results, task, model) / "search" / f"trial-{trial_id}-seed-{seed}.json"


def write_record(path: Path, record: ResultRecord) -> None:
    """The one writer of a record. The record is validated again as JSON (never write what a
    reader would reject) and written to a temp file and fsynced first; only then is the current
    record (if any) kept under `superseded/`, and the temp renamed into place. A full disk or a
    kill at any moment therefore leaves the old record or the new one (or both), never neither."""
    data = record.to_json()
    ResultRecord.model_validate(data)
    tmp = write_temp(path, (json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8"))
    try:
        supersede(path)
    except BaseException:
        os.unlink(tmp)
        raise
    commit_temp(tmp, path)


def read_record(path: str | Path) -> ResultRecord:
    """The one validating reader of a result record: a record that is not a regular file, not
    UTF-8, not JSON, holds a non-finite number (NaN, Infinity), has a schema version this harness
    does not read, does not match `ResultRecord` (bounds, safe names, label ids) or lies in another
    cell's folder than the one it names is a one-line HarnessError naming the file, never a guess.
    A version-1 record is upgraded on read (harness.records.schema.upgrade)."""
    path = Path(path)
    fix = "rerun the cell (harness run ... --force) or move the file out of the results folder"
    data = _parse(path, fix)
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version not in READABLE_VERSIONS:
        raise HarnessError(
            f"{path}: result schema_version {version!r} is not supported by this harness "
            f"(it reads {', '.join(map(str, READABLE_VERSIONS))})"
        )
    try:
        record = ResultRecord.model_validate(upgrade(data))  # validated before anything is computed from it
        if record.metrics is not None and any(
                split is not None and split.score(m) is None
                for split in (record.metrics.validation, record.metrics.test) for m in metric_names()):
            record = ResultRecord.model_validate(derive_missing_metrics(upgrade(data)))
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = first["msg"].removeprefix("Value error, ")
        raise HarnessError(f"{path}: invalid result record: {'.'.join(map(str, first['loc'])) or '(record)'}: {msg}; {fix}") from None
    _check_location(path, record, fix)
    return record


def _parse(path: Path, fix: str) -> Any:
    """The record's JSON, read by pydantic-core's parser (2 to 3 times faster than the json module
    on 10,000 label ids; it rejects NaN and Infinity as this reader must, and reads what json reads).
    A number too large for a float (1e999, which it reads as inf) or a file it cannot read goes to
    `read_json`, whose one-line error names the file and the line (or which reads the file, where
    json is more lenient: a lone surrogate escape)."""
    try:
        data = pydantic_core.from_json(read_bytes(path, "result record"), allow_inf_nan=False)
        if _finite(data):
            return data
    except ValueError:
        pass
    return read_json(path, "result record", fix=fix)


def _finite(value: Any) -> bool:
    """No infinite float anywhere in parsed JSON (a list of numbers is summed in one pass)."""
    kind = type(value)
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        return all(map(_finite, value.values()))
    if kind is list:
        try:
            total = sum(value)  # 10,000 label ids in C; a float sum is finite only if every term is
        except TypeError:  # strings or containers inside: each in turn
            return all(map(_finite, value))
        return type(total) is not float or math.isfinite(total)
    return True


def derive_missing_metrics(record: dict[str, Any]) -> dict[str, Any]:
    """A reader of older records: a metric registered after a record was written (MCC) is computed
    from the record's own predictions and references of that split, and named in
    `metrics.derived_on_read` (the file itself is not changed)."""
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        return record
    derived = []
    predictions, references = record.get("predictions"), record.get("references")
    for split in ("validation", "test"):
        scores = metrics.get(split)
        refs = references.get(split) if isinstance(references, dict) else None
        preds = predictions.get(split) if isinstance(predictions, dict) else None
        if not isinstance(scores, dict) or not isinstance(refs, list) or not isinstance(preds, list) or not refs \
                or len(refs) != len(preds):
            continue
        for metric in METRICS.values():
            if scores.get(metric.name) is None:
                scores[metric.name] = metric.compute(refs, preds)
                derived.append(f"{split}.{metric.name}")
    if derived:
        metrics["derived_on_read"] = derived
    return record


def _check_location(path: Path, record: ResultRecord, fix: str) -> None:
    """A record lies where its own task, model and seed put it (RESULTS/<task>/<model>/seed-<k>.json,
    or .../search/trial-<id>-seed-<k>.json): a copy in another folder is not counted twice as
    more seeds, and a forged record cannot speak for another cell."""
    cell = path.parent.parent if path.parent.name == "search" else path.parent
    name_ok = path.name == f"seed-{record.seed}.json" or (
        path.parent.name == "search" and path.name.startswith("trial-") and path.name.endswith(f"-seed-{record.seed}.json"))
    if not name_ok or cell.name != record.model or cell.parent.name != record.task:
        raise HarnessError(
            f"{path}: the record is for task '{record.task}', model '{record.model}', seed {record.seed}, "
            f"but lies in another cell's place ({record.task}/{record.model}/seed-{record.seed}.json expected); {fix}"
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


def load_records(results: str | Path) -> list[ResultRecord]:
    with collector_paused():
        return [read_record(p) for p in iter_record_paths(results)]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while records are read: reading keeps every object it
    makes and makes no cycle, yet the collector would walk the growing heap again and again (every
    5,000-id list, element by element): about a fifth of the time 2,100 records take to read."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
