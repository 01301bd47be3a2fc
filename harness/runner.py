"""Run the grid: every task x model x seed, one record each, reusing records whose config matches."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .errors import HarnessError
from .card import write_saved_model_card
from .models import ModelRegistry, model_identity
from .specs import ModelSpec, Recipe, TaskSpec, resolve_recipe
from .store import SCHEMA_VERSION, read_record, record_path, write_record
from .tasks import TaskData, load_task

HARNESS_MAJOR = __version__.split(".")[0]
SPEC_BOOKKEEPING = {"spec_file", "spec_dir", "description"}


@dataclass
class RunOptions:
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    data_dir: str | None = None
    results: Path = Path("results")
    precision: str = "auto"
    overrides: dict[str, Any] = field(default_factory=dict)  # --set, --max-*-samples
    force: bool = False
    save_model: bool = False
    tensorboard: bool = False
    plots: bool = True  # confusion matrix and training curves per cell
    report_to: list[str] = field(default_factory=list)  # experiment trackers (harness.trackers)

    def __post_init__(self) -> None:  # a tracker that is not installed: one line, before any training
        from .trackers import check_trackers

        self.report_to = check_trackers(self.report_to)


@dataclass
class CellOutcome:
    task: str
    model: str
    seed: int
    status: str  # completed | failed | skipped
    path: Path
    error: str | None = None


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if commit.returncode != 0:
        return None
    return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def library_versions() -> dict[str, str]:
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


def cell_config(data: TaskData, model: ModelSpec, recipe: Recipe, seed: int, precision: str) -> dict[str, Any]:
    """The fully resolved configuration; everything in it can change a score."""
    task_spec = data.spec.model_dump(exclude=SPEC_BOOKKEEPING)
    return {
        "task": {"spec": task_spec, "data_fingerprint": data.fingerprint},
        "model": {**model.model_dump(exclude={"description", "language"}), **model_identity(model)},
        "recipe": recipe.model_dump(),
        "seed": seed,
        "precision": precision,
        "harness_major": HARNESS_MAJOR,
    }


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def provenance(data: TaskData, model: ModelSpec, precision: str, requested: str) -> dict[str, Any]:
    from .device import device_name

    identity = model_identity(model)
    return {
        **library_versions(),
        "git_commit": _git_commit(),
        "device": device_name(),
        "precision": precision,
        "precision_requested": requested,
        "model_source": model.source,
        "model_revision": model.revision,
        "model_content_hash": identity.get("content_hash"),
        "data_fingerprint": data.fingerprint,
        "data_files": data.files,
        "platform": platform.platform(),
    }


def _existing(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return read_record(path)
    except HarnessError:
        return None


def run_grid(
    tasks: list[TaskSpec],
    models: list[ModelSpec],
    registry: ModelRegistry,
    options: RunOptions,
    log: Callable[[str], None] = print,
) -> list[CellOutcome]:
    """Fine-tune every cell. A failing cell is recorded as failed and the grid goes on."""
    from .device import resolve_precision
    from .train import CellRun, NaNLossError, fine_tune_cell, keep_cpu_heap_default

    import datasets

    datasets.disable_progress_bars()
    allocator = {"cpu_keep_heap": keep_cpu_heap_default()}
    precision = resolve_precision(options.precision)
    outcomes: list[CellOutcome] = []
    for task in tasks:
        try:
            data = load_task(task, options.data_dir)
        except HarnessError:
            raise
        for model in models:
            recipe_error = None
            try:
                recipe = resolve_recipe(
                    (registry.defaults, f"{registry.path}: defaults"),
                    (task.training, f"task '{task.name}': training"),
                    (model.training, f"model '{model.name}': training"),
                    (options.overrides, "--set"),
                )
            except HarnessError as exc:
                recipe_error = str(exc)
                recipe = Recipe()
            for seed in options.seeds:
                path = record_path(options.results, task.name, model.name, seed)
                started = time.time()
                try:
                    config = cell_config(data, model, recipe, seed, precision)
                except Exception as exc:  # e.g. a packaged model that is not installed
                    config = {"task": task.name, "model": model.model_dump(), "seed": seed, "precision": precision}
                    outcomes.append(_fail(path, task, model, seed, config, exc, precision, options, log, started))
                    continue
                digest = config_hash(config)
                old = _existing(path)
                if not options.force and old and old["config_hash"] == digest and old["status"] == "completed":
                    log(f"skip  {task.name} / {model.name} / seed {seed}: a record with config {digest} exists ({path})")
                    outcomes.append(CellOutcome(task.name, model.name, seed, "skipped", path))
                    continue
                if recipe_error:
                    outcomes.append(_fail(path, task, model, seed, config, HarnessError(recipe_error), precision, options, log, started))
                    continue
                log(f"train {task.name} / {model.name} / seed {seed} ({precision})")
                cell_precision, fallbacks = precision, []
                while True:
                    run = CellRun(
                        data=data, model=model, recipe=recipe, seed=seed, precision=cell_precision,
                        output_dir=path.parent, save_model=options.save_model, tensorboard=options.tensorboard,
                        report_to=options.report_to, fallbacks=fallbacks,
                    )
                    path.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        body = fine_tune_cell(run)
                        break
                    except NaNLossError as exc:
                        if cell_precision != "fp32":
                            fallbacks.append(f"NaN loss in {cell_precision} ({exc}); retried in fp32")
                            log(f"      NaN loss in {cell_precision}; retrying in fp32")
                            cell_precision = "fp32"
                            continue
                        body = None
                        error: BaseException = exc
                        break
                    except KeyboardInterrupt:
                        raise
                    except Exception as exc:  # noqa: BLE001 - a failed cell is recorded, the grid goes on
                        body, error = None, exc
                        break
                if body is None:
                    outcomes.append(_fail(path, task, model, seed, config, error, precision, options, log, started, fallbacks))
                    continue
                scored_test = body.pop("test_fingerprint", None)
                record = {
                    "schema_version": SCHEMA_VERSION,
                    "task": task.name,
                    "model": model.name,
                    "seed": seed,
                    "status": "completed",
                    "error": None,
                    **body,
                    "config": {**config, "options": {"save_model": options.save_model, "tensorboard": options.tensorboard, "report_to": options.report_to}},
                    "config_hash": digest,
                    "fallbacks": fallbacks,
                    "provenance": {
                        **provenance(data, model, cell_precision, options.precision),
                        "test_fingerprint": scored_test,
                        **allocator,
                        "started_at": _iso(started),
                        "finished_at": _iso(time.time()),
                    },
                }
                _attach_statistics(record)
                write_record(path, record)
                if record.get("saved_model"):  # the model card needs the record's test CIs
                    write_saved_model_card(record, log)
                if options.plots:
                    _write_plots(record, path.parent, log)
                test = record["metrics"]["test"]
                log(
                    f"      test accuracy {test['accuracy']:.4f}, macro-F1 {test['macro_f1']:.4f}; "
                    f"{record['training']['steps']} steps; train {record['throughput']['train_samples_per_s']:.1f} samples/s -> {path}"
                )
                outcomes.append(CellOutcome(task.name, model.name, seed, "completed", path))
    return outcomes


def _attach_statistics(record: dict[str, Any]) -> None:
    """Per-record bootstrap 95% CIs of test accuracy and macro-F1 over test examples."""
    from .stats import bootstrap_record_ci

    record["metrics"]["test"]["bootstrap"] = bootstrap_record_ci(
        record["references"]["test"], record["predictions"]["test"], resamples=1000, seed=record["seed"],
        n_labels=len(record["labels"]),
    )


def _write_plots(record: dict[str, Any], folder: Path, log: Callable[[str], None]) -> None:
    """Plots are a view of the record: if drawing fails, the record stays and the run goes on."""
    try:
        from .plots import write_cell_plots

        write_cell_plots(record, folder)
    except Exception as exc:  # noqa: BLE001
        log(f"      plots not written: {type(exc).__name__}: {exc}")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def _fail(path, task, model, seed, config, exc, precision, options, log, started, fallbacks=None) -> CellOutcome:
    message = f"{type(exc).__name__}: {exc}".strip()
    short = message.splitlines()[0][:500] if message else type(exc).__name__
    record = {
        "schema_version": SCHEMA_VERSION,
        "task": task.name,
        "model": model.name,
        "seed": seed,
        "status": "failed",
        "error": short,
        "traceback": traceback.format_exception(exc)[-6:],
        "labels": list(task.labels),
        "config": config,
        "config_hash": config_hash(config),
        "fallbacks": fallbacks or [],
        "provenance": {
            **library_versions(),
            "git_commit": _git_commit(),
            "precision_requested": options.precision,
            "precision": precision,
            "model_source": model.source,
            "started_at": _iso(started),
            "finished_at": _iso(time.time()),
        },
    }
    write_record(path, record)
    log(f"FAIL  {task.name} / {model.name} / seed {seed}: {short}")
    return CellOutcome(task.name, model.name, seed, "failed", path, short)


def set_offline_if_local(tasks: list[TaskSpec], data_dir: str | None, models: list[ModelSpec]) -> bool:
    """Local data (a data dir, or files bundled with every task) and only local or packaged
    models: set the Hugging Face offline modes so that nothing can touch the network."""
    from .models import resolve_source

    has_dir = bool(data_dir or os.environ.get("HARNESS_DATA_DIR"))
    for task in tasks:
        bundled = all(s.bundled for s in task.splits.values())
        if not has_dir and not bundled:
            return False
    for model in models:
        try:
            _, local = resolve_source(model)
        except HarnessError:
            local = True  # it will fail as a cell; it cannot reach the network either
        if not local:
            return False
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[var] = "1"
    return True
