"""Baseline files for regression testing: `harness baseline export RESULTS --output FILE`.

A baseline file is the compact, versioned part of a results folder that a comparison needs:
per cell (task x model) and per seed, the test metrics, the per-example test predictions and
references, the data fingerprint, the config hash and the provenance. No model weights, no
training history, no throughput. Only completed records are exported; failed ones are listed
under `left_out`.

    {"kind": "harness-baseline", "baseline_schema_version": 1, "created_at": ..., "harness_version": ...,
     "source": "results/", "metric_definitions": {...}, "left_out": [{"task", "model", "seed", "error"}],
     "cells": [{"task", "model", "labels", "references"?: [...],
                "seeds": [{"seed", "data_fingerprint", "config_hash", "provenance", "metrics", "predictions",
                           "config"?: {...}, "references"?: [...]}]}]}

References are stored once per cell when every seed of the cell has the same ones (the normal
case), and per seed otherwise. Readers reject any other `kind` or `baseline_schema_version`.

This module also turns either source into one side of a comparison (`Side`, whose cells are
`harness.records.grouping.SeedRuns` of `SeedRun`s).
"""
from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, TypedDict
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from harness.errors import HarnessError
from harness.files import check_output_file
from harness.records.grouping import SeedRuns, SeedRun, cells_from_records
from harness.records.schema import Provenance, ResultRecord, upgrade
from harness.files import SAFE_NAME, read_json
from harness.records.schema import check_label_ids, check_labels, check_metric_ranges
from harness.records.store import collector_paused, iter_record_paths, load_records, read_record
from harness.files import atomic_write_text


BASELINE_SCHEMA_VERSION = 1
BASELINE_KIND = "harness-baseline"


# --------------------------------------------------------------------------- in-memory view
class BaselineMeta(TypedDict):
    """Where a baseline file came from, as its side describes it."""

    created_at: str
    harness_version: str
    exported_from: str | None


class LeftOut(TypedDict):
    """A record a baseline file left out (not completed) and why."""

    task: str
    model: str
    seed: int
    error: str | None


class ExportSummary(TypedDict):
    """What `harness baseline export` wrote."""

    output: str
    cells: int
    seeds: int
    left_out: list[LeftOut]


@dataclass
class Side:
    """One side of a comparison: its cells keyed by (task, model), and the failed records it skipped."""

    source: str
    kind: Literal["results", "baseline", "records"]
    cells: dict[tuple[str, str], SeedRuns]
    failed: list[tuple[str, str, int]] = field(default_factory=list)
    meta: BaselineMeta | None = None  # a baseline file's

    @property
    def n_runs(self) -> int:
        return sum(len(c.seeds) for c in self.cells.values())

    def describe(self) -> str:
        what = {"results": "results folder", "baseline": "baseline file", "records": "records"}[self.kind]
        text = f"`{self.source}` ({what}, {len(self.cells)} cell(s), {self.n_runs} seed run(s)"
        if self.kind == "baseline" and self.meta and self.meta.get("created_at"):
            text += f", exported {self.meta['created_at']} by harness {self.meta.get('harness_version', '?')}"
        if self.failed:
            text += f", {len(self.failed)} failed record(s) skipped"
        return text + ")"


def side_from_results(results: str | Path) -> Side:
    """A results folder's side, read record by record: each is kept only as its SeedRun (a
    2,100-record folder never holds every parsed record at once)."""
    with collector_paused():
        cells, failed = cells_from_records(read_record(path) for path in iter_record_paths(results))
    return Side(source=str(results), kind="results", cells=cells, failed=failed)


# --------------------------------------------------------------------------- file format
class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class BaselineSeed(_Open):
    seed: int = Field(ge=0)
    data_fingerprint: str | None
    config_hash: str = Field(pattern=SAFE_NAME)
    provenance: Provenance  # the record's, as it was exported
    metrics: dict[str, Any]  # the record's test metrics as JSON (checked like a record's)
    predictions: list[int]
    references: list[int] | None = None
    kind: Literal["final", "evaluation"] = "final"  # evaluation: a checkpoint evaluated as published

    @model_validator(mode="after")
    def _metrics_in_range(self) -> "BaselineSeed":
        check_metric_ranges(self.metrics)
        return self


class BaselineCell(_Open):
    """The same bounds as a result record (harness.records.store): names, labels, label ids, metrics."""

    task: str = Field(pattern=SAFE_NAME)
    model: str = Field(pattern=SAFE_NAME)
    labels: list[str]
    references: list[int] | None = None
    seeds: list[BaselineSeed]

    @model_validator(mode="after")
    def _references_somewhere(self) -> "BaselineCell":
        check_labels(self.labels)
        for seed in self.seeds:
            if seed.references is None and self.references is None:
                raise ValueError(f"seed {seed.seed} has no references (neither per cell nor per seed)")
            n = len((seed.model_extra or {}).get("labels") or self.labels)
            check_label_ids(f"seed {seed.seed} predictions", seed.predictions, n)
            check_label_ids(f"seed {seed.seed} references", seed.references or self.references or [], n)
        return self


class BaselineFile(_Open):
    kind: Literal["harness-baseline"]
    baseline_schema_version: Literal[1]
    created_at: str
    harness_version: str
    source: str | None = None
    left_out: list[dict[str, str | int | None]] = []  # LeftOut entries, read leniently
    cells: list[BaselineCell]


def baseline_document(records: list[ResultRecord], source: str | None = None) -> dict[str, Any]:
    """The baseline file's content for these records (completed ones only)."""
    from harness import __version__

    cells, _ = cells_from_records(records)
    left_out = [
        {"task": r.task, "model": r.model, "seed": r.seed, "error": r.error}
        for r in sorted(records, key=lambda r: (r.task, r.model, r.seed)) if not r.completed
    ]
    definitions = {}
    for record in records:
        if record.metrics is not None and record.metrics.macro_f1_definition:
            definitions["macro_f1"] = record.metrics.macro_f1_definition
            break
    out_cells = []
    for cell in cells.values():
        runs = [cell.seeds[s] for s in sorted(cell.seeds)]
        shared = runs[0].references if all(r.references == runs[0].references for r in runs) else None
        labels = runs[0].labels
        seeds = []
        for run in runs:
            entry: dict[str, Any] = {
                "seed": run.seed,
                "data_fingerprint": run.data_fingerprint,
                "config_hash": run.config_hash,
                "provenance": run.provenance,
                "metrics": run.metrics,
                "predictions": run.predictions,
                "config": run.config,
            }
            if run.kind != "final":
                entry["kind"] = run.kind
            if shared is None:
                entry["references"] = run.references
            if run.labels != labels:
                entry["labels"] = run.labels
            seeds.append(entry)
        out_cells.append(
            {"task": cell.task, "model": cell.model, "labels": labels,
             **({"references": shared} if shared is not None else {}), "seeds": seeds}
        )
    return {
        "kind": BASELINE_KIND,
        "baseline_schema_version": BASELINE_SCHEMA_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "harness_version": __version__,
        "source": source,
        "metric_definitions": definitions,
        "left_out": left_out,
        "cells": out_cells,
    }


def dumps_baseline(document: dict[str, Any]) -> str:
    """Indented JSON with every list of scalars on one line: readable, diffable, and compact
    (an indented list of 10,000 predictions would otherwise take 10,000 lines)."""
    token = f"@@list-{secrets.token_hex(6)}-"
    inline: list[str] = []

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            if all(v is None or isinstance(v, (int, float, str, bool)) for v in value):
                inline.append(json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")))
                return f"{token}{len(inline) - 1}"
            return [walk(v) for v in value]
        return value

    text = json.dumps(walk(document), indent=1, ensure_ascii=False, allow_nan=False)
    return re.sub(rf'"{re.escape(token)}(\d+)"', lambda m: inline[int(m.group(1))], text) + "\n"


def export_baseline(results: str | Path, output: str | Path) -> ExportSummary:
    """Write the baseline file of a results folder atomically; return a summary of what went in."""
    output = Path(output)
    if output.is_dir():
        raise HarnessError(f"--output {output} is a folder; give a file name, e.g. {output / 'baseline.json'}")
    check_output_file(output, "--output")
    records = load_records(results)
    document = baseline_document(records, source=str(results))
    if not document["cells"]:
        left = f" ({len(document['left_out'])} failed record(s))" if document["left_out"] else ""
        raise HarnessError(f"no completed result records in {results}{left}; nothing to export")
    atomic_write_text(output, dumps_baseline(document))
    return {
        "output": str(output),
        "cells": len(document["cells"]),
        "seeds": sum(len(c["seeds"]) for c in document["cells"]),
        "left_out": document["left_out"],
    }


def _load_json(path: Path) -> Any:
    """Through the one validating JSON reader (regular file, UTF-8, no NaN / Infinity)."""
    return read_json(path, fix="re-export it with 'harness baseline export'")


def is_baseline_document(document: Any) -> bool:
    return isinstance(document, dict) and document.get("kind") == BASELINE_KIND


def parse_baseline(document: Any, where: str) -> Side:
    """Validate a baseline document (already parsed JSON) and turn it into a comparison side."""
    if not is_baseline_document(document):
        raise HarnessError(f"{where}: not a harness baseline file (no \"kind\": \"{BASELINE_KIND}\")")
    version = document.get("baseline_schema_version")
    if version != BASELINE_SCHEMA_VERSION:
        raise HarnessError(
            f"{where}: baseline_schema_version {version!r} is not supported by this harness "
            f"(it reads {BASELINE_SCHEMA_VERSION}); re-export the baseline with this harness's 'harness baseline export'"
        )
    try:
        parsed = BaselineFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(map(str, first["loc"]))
        raise HarnessError(f"{where}: invalid baseline file: {loc}: {first['msg']}") from None
    cells: dict[tuple[str, str], SeedRuns] = {}
    for entry in parsed.cells:
        key = (entry.task, entry.model)
        if key in cells:
            raise HarnessError(f"{where}: invalid baseline file: cell {entry.task} / {entry.model} appears twice")
        cell = cells[key] = SeedRuns(*key)
        for seed in entry.seeds:
            if seed.seed in cell.seeds:
                raise HarnessError(f"{where}: invalid baseline file: {cell.name} has seed {seed.seed} twice")
            extra = seed.model_extra or {}
            cell.seeds[seed.seed] = SeedRun(
                seed=seed.seed,
                predictions=list(seed.predictions),
                references=list(seed.references if seed.references is not None else entry.references or []),
                labels=list(extra.get("labels") or entry.labels),
                data_fingerprint=seed.data_fingerprint,
                config_hash=seed.config_hash,
                provenance=seed.provenance.as_json(),
                metrics=dict(seed.metrics),
                config=dict(extra.get("config") or {}),
                kind=seed.kind,
            )
    failed = [(str(d.get("task")), str(d.get("model")), int(d.get("seed", -1))) for d in parsed.left_out]
    meta = BaselineMeta(created_at=parsed.created_at, harness_version=parsed.harness_version, exported_from=parsed.source)
    return Side(source=where, kind="baseline", cells=dict(sorted(cells.items())), failed=failed, meta=meta)


def read_baseline(path: str | Path) -> Side:
    """Read and validate a baseline file; unknown kinds and versions are rejected with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"baseline file {path} does not exist")
    return parse_baseline(_load_json(path), str(path))


# --------------------------------------------------------------------------- comparison sides
def load_side(source: Any, name: str = "side") -> Side:
    """A comparison side from a results folder, a baseline file, a list of result records, a
    mapping {(task, model): SeedRuns}, or a Side (returned as is)."""
    if isinstance(source, Side):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            return side_from_results(path)
        if not path.exists():
            raise HarnessError(f"{name} {path} does not exist (give a results folder or a baseline file)")
        document = _load_json(path)
        if is_baseline_document(document):
            return parse_baseline(document, str(path))
        if isinstance(document, dict) and "schema_version" in document and "task" in document:
            raise HarnessError(f"{name} {path} is a single result record; give its results folder or a baseline file")
        raise HarnessError(f"{name} {path} is neither a results folder nor a harness baseline file")
    if isinstance(source, Mapping):
        cells = {}
        for key, cell in source.items():
            if not isinstance(cell, SeedRuns):
                raise TypeError(f"{name}: expected a mapping of (task, model) to SeedRuns, got {type(cell).__name__}")
            cells[(cell.task, cell.model)] = cell
        return Side(source=f"<{name} cells>", kind="records", cells=dict(sorted(cells.items())))
    if isinstance(source, Iterable):  # result records: typed, or their JSON (validated like a file's)
        records = [r if isinstance(r, ResultRecord) else ResultRecord.model_validate(upgrade(r)) for r in source]
        cells, failed = cells_from_records(records)
        return Side(source=f"<{name} records>", kind="records", cells=cells, failed=failed)
    raise TypeError(f"{name}: cannot compare a {type(source).__name__}; give a path, records, cells or a Side")


