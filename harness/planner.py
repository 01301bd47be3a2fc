"""Plan: the arguments -> a list of cells, each with its resolved and validated recipe, config,
config hash and status against the results folder.

Every usage error (exit 2) happens here, before any model is loaded and with nothing written:
unknown names, bad recipe values, bad seeds, a precision the device cannot run, a results
folder that cannot be written, an executor option that does not fit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import HarnessError
from .models import ModelIdentity, ModelRegistry, load_models, resolve_identity
from .record import CellFacts, RunContext, cell_config, config_hash
from .checks import _resolve_precision, check_recipe, check_results_folder, parse_seeds, set_offline_if_local
from .specs import ModelSpec, Recipe, TaskSpec, check_recipe_overrides, resolve_recipe, suggest
from .store import read_record, record_path
from .tasks import TaskData

STATUSES = ("done", "todo", "stale", "failed", "running")
EXECUTORS = ("local", "ray")


@dataclass
class RunRequest:
    """What a user asks for: the CLI's `run` options, as keyword arguments of `harness.plan`."""

    suite: str | None = None
    tasks: list[str] | None = None
    models: list[str] | None = None
    seeds: int | None = None
    seed_list: list[int] | str | None = None
    data_dir: str | None = None
    results: str | Path | None = None
    precision: str = "auto"
    overrides: dict[str, Any] = field(default_factory=dict)  # --set
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    force: bool = False
    save_model: bool = False
    tensorboard: bool = False
    report_to: list[str] = field(default_factory=list)  # experiment trackers (harness.trackers)
    plots: bool = True
    leaderboard: bool = True
    tasks_dir: list[str] = field(default_factory=list)
    models_file: str | None = None
    executor: str = "local"
    device: str | None = None  # local executor: auto, cpu, cuda, cuda:N
    gpus_per_cell: float | None = None  # ray: default 1 where GPUs exist, else 0
    cpus_per_cell: int | None = None  # threads per cell (ray: CPUs reserved per cell)
    ray_address: str | None = None
    checkpoint: bool | None = None  # None: cells planned for more than CHECKPOINT_MIN_STEPS steps
    search: dict[str, Any] = field(default_factory=dict)  # --search: a search block (space, strategy, ...)
    no_search: bool = False  # ignore every search block: run the recipe as declared


@dataclass
class Cell:
    task: TaskSpec
    model: ModelSpec
    seed: int
    path: Path
    status: str  # done | todo | stale | failed | running
    facts: CellFacts
    recipe: Recipe
    identity: ModelIdentity | None  # None: the model could not be resolved (the cell fails)
    error: str | None = None
    cost: float = 0.0  # estimated training rows seen: rows x epochs, or steps x batch
    pending: bool = False  # a final cell that waits for its search's selection

    @property
    def kind(self) -> str:
        return self.facts.kind  # final, or trial (a search trial)

    @property
    def steps(self) -> float:
        """Estimated optimizer steps (decides default checkpointing)."""
        return self.cost / (self.recipe.batch_size * self.recipe.gradient_accumulation_steps)

    @property
    def label(self) -> str:
        if self.kind == "trial":
            values = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in self.facts.config["recipe"].items() if k in self._searched())
            return f"{self.task.name} / {self.model.name} / trial {values} / seed {self.seed}"
        return f"{self.task.name} / {self.model.name} / seed {self.seed}"

    def _searched(self) -> list[str]:
        return list(self.facts.config.get("searched", []))

    def note(self) -> str:
        if self.pending:
            return "configuration chosen by the search (after the trials)"
        return self.error or ""

    @property
    def config_hash(self) -> str:
        return self.facts.config_hash

    def row(self) -> dict[str, Any]:
        return {"task": self.task.name, "model": self.model.name, "seed": self.seed, "status": self.status,
                "config_hash": None if self.pending else self.config_hash, "estimated_rows": int(self.cost),
                "path": str(self.path), "kind": self.kind,
                **({"trial": {k: self.recipe.model_dump()[k] for k in self._searched()}} if self.kind == "trial" else {}),
                **({"note": self.note()} if self.note() else {})}


@dataclass
class Plan:
    request: RunRequest
    results: Path
    cells: list[Cell]
    data: dict[str, TaskData]
    context: RunContext
    registry: ModelRegistry
    offline: bool = False
    searches: list = field(default_factory=list)  # harness.search.Search: task x model pairs with a search

    def to_run(self) -> list[Cell]:
        """Cells the executors train: everything not done, or everything with --force."""
        return [c for c in self.cells if c.status != "running" and (self.request.force or c.status != "done")]

    def counts(self) -> dict[str, int]:
        return {s: sum(c.status == s for c in self.cells) for s in STATUSES}

    def summary(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items() if n)
        finals = [c for c in self.cells if c.kind == "final"]
        search = ""
        if self.searches:
            planned = sum(s.spec.planned_trials() * s.spec.seeds for s in self.searches)
            search = (f" + {planned} search trial cell(s) on the validation split for {len(self.searches)} "
                      f"task x model pair(s), {len(self.cells) - len(finals)} proposed so far")
        return (f"{len(self.data)} task(s) x {len({c.model.name for c in finals})} model(s) x "
                f"{len({c.seed for c in finals})} seed(s) = {len(finals)} cell(s){search} ({counts}); "
                f"{len(self.to_run())} to train -> {self.results}; executor {self.request.executor}, "
                f"device {self.context.device.torch_device}, precision {self.context.precision}"
                + (" (offline)" if self.offline else ""))

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "counts": self.counts(), "results": str(self.results),
                "executor": self.request.executor, "precision": self.context.precision,
                "device": self.context.device.torch_device, "cells": [c.row() for c in self.cells],
                "search_trials_planned": sum(s.spec.planned_trials() * s.spec.seeds for s in self.searches)}

    def table(self) -> str:
        from tabulate import tabulate

        rows = [[c.task.name, c.model.name, c.seed, c.status, "-" if c.pending else c.config_hash, int(c.cost),
                 c.note() or (c.label.split(" / ")[2] if c.kind == "trial" else "")] for c in self.cells]
        return tabulate(rows, headers=["task", "model", "seed", "status", "config", "est. rows", "note"],
                        tablefmt="github")


def estimated_cost(rows: int, recipe: Recipe) -> float:
    """Training rows a cell will see: the Ray executor schedules the longest cells first."""
    rows = min(rows, recipe.max_train_samples or rows)
    if recipe.max_steps:
        return float(recipe.max_steps * recipe.batch_size * recipe.gradient_accumulation_steps)
    return float(rows * recipe.max_epochs)


# --------------------------------------------------------------------------- the plan
def _grid(request: RunRequest):
    from .suites import load_suites
    from .tasks import get_task, load_registry

    task_registry = load_registry(request.tasks_dir)
    model_registry = load_models(request.models_file)
    suite = None
    if request.suite:
        suites = load_suites()
        if request.suite not in suites:
            raise HarnessError(f"unknown suite '{request.suite}'{suggest(request.suite, suites)}; run 'harness suites'")
        suite = suites[request.suite]
    task_names = request.tasks or (suite.tasks if suite else None)
    model_names = request.models or (suite.models if suite else None)
    if not task_names or not model_names:
        raise HarnessError("say what to run: --suite NAME, or --tasks A,B and --models X,Y")
    for kind, names in (("task", task_names), ("model", model_names)):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise HarnessError(f"--{kind}s: '{dupes[0]}' is listed twice")
    tasks = [get_task(name, task_registry) for name in task_names]
    models = [model_registry.get(name) for name in model_names]
    from .models import refuse_pickle_only

    for model in models:  # exit 2 before any training, not a failed cell per seed
        refuse_pickle_only(model)
    seeds = parse_seeds(request.seeds, request.seed_list, suite.seeds if suite else 3)
    overrides = dict(suite.training) if suite else {}
    overrides.update(check_recipe_overrides(dict(request.overrides or {}), "--set"))
    for key in ("max_train_samples", "max_eval_samples"):
        value = getattr(request, key)
        if value is not None:
            overrides[key] = value
    results = Path(request.results) if request.results else Path("results") / (suite.name if suite else "")
    return tasks, models, model_registry, seeds, overrides, results


def _recipes(tasks, models, registry: ModelRegistry, overrides) -> dict[tuple[str, str], Recipe]:
    """Every task x model recipe, validated now: a bad value is a usage error, not a failed cell."""
    recipes = {}
    for task in tasks:
        for model in models:
            recipe = resolve_recipe(
                (registry.defaults, f"{registry.path}: defaults"),
                (task.training, f"task '{task.name}': training"),
                (model.training, f"model '{model.name}': training"),
                (overrides, "--set"),
            )
            check_recipe(recipe, f"task '{task.name}' x model '{model.name}'")
            recipes[(task.name, model.name)] = recipe
    return recipes


def _executor_options(request: RunRequest) -> None:
    if request.executor not in EXECUTORS:
        raise HarnessError(f"--executor {request.executor}: expected one of {', '.join(EXECUTORS)}")
    if request.cpus_per_cell is not None and request.cpus_per_cell < 1:
        raise HarnessError("--cpus-per-cell must be at least 1")
    if request.gpus_per_cell is not None and request.gpus_per_cell < 0:
        raise HarnessError("--gpus-per-cell must be 0 or more")
    if request.executor == "local" and (request.gpus_per_cell is not None or request.ray_address):
        raise HarnessError("--gpus-per-cell and --ray-address go with --executor ray")
    if request.executor == "ray" and request.device not in (None, "auto"):
        raise HarnessError("--device picks the GPU of the local executor; under Ray each cell gets the GPU Ray assigns")


def _status(path: Path, digest: str) -> str:
    from .claims import live_claim

    done = False
    if path.exists():
        try:
            old = read_record(path)
            done = old["status"] == "completed" and old["config_hash"] == digest
        except HarnessError:
            pass
    if not done and live_claim(path):
        return "running"  # claimed by a live process: this run leaves it alone
    if not path.exists():
        return "todo"
    try:
        old = read_record(path)
    except HarnessError:
        return "stale"  # unreadable: set aside and retrained
    if old["status"] == "failed":
        return "failed"
    return "done" if old["config_hash"] == digest else "stale"


def make_plan(request: RunRequest) -> Plan:
    """Validate everything, load the tasks' data and resolve every cell's configuration."""
    from .tasks import load_task

    from .trackers import check_trackers

    _executor_options(request)
    request.report_to = check_trackers(request.report_to)  # a tracker that is not installed: exit 2 now
    tasks, models, registry, seeds, overrides, results = _grid(request)
    if request.data_dir is not None and not Path(request.data_dir).expanduser().is_dir():
        raise HarnessError(f"--data-dir {request.data_dir} does not exist; pass the folder that holds the task files")
    offline = set_offline_if_local(tasks, request.data_dir, models)  # before huggingface_hub is imported
    recipes = _recipes(tasks, models, registry, overrides)
    check_results_folder(results)
    if request.executor == "ray":
        from .executors import ray_probe

        device, precision, reason = ray_probe(request)
    else:
        from .device import choose_device

        device = choose_device(request.device)
        precision, reason = _resolve_precision(request.precision, device)
    context = RunContext.resolve(precision, request.precision, reason, device, request.executor)
    identities: dict[str, ModelIdentity | str] = {}
    for model in models:
        try:
            identities[model.name] = resolve_identity(model)
        except HarnessError as exc:  # a missing package or folder: the cell fails, the grid goes on
            identities[model.name] = str(exc)
    from .search import plan_searches, refresh

    searches = plan_searches(request, registry, tasks, models, recipes, seeds)  # bad blocks: exit 2 here
    data = {task.name: load_task(task, request.data_dir) for task in tasks}
    cells = []
    for task in tasks:
        for model in models:
            recipe, identity = recipes[(task.name, model.name)], identities[model.name]
            for seed in seeds:
                cells.append(_cell(task, model, seed, recipe, identity, data[task.name], precision, results))
    for search in searches:
        search.identity = identities[search.model.name]
    plan = Plan(request, results, cells, data, context, registry, offline, searches)
    if searches:
        refresh(plan)  # trial cells, and the final cells with the selection where every trial has run
    return plan


def _cell(task, model, seed, recipe, identity, data: TaskData, precision, results, *, kind: str = "final",
          path: Path | None = None, extra: dict[str, Any] | None = None, selection: dict[str, Any] | None = None,
          pending: bool = False, error: str | None = None) -> Cell:
    """One cell. A search adds `extra` config (its space: a changed space makes the final cells
    stale), a trial's own path and kind, and the final cells' selection (or `pending`)."""
    import time

    path = path or record_path(results, task.name, model.name, seed)
    if isinstance(identity, ModelIdentity):
        config = cell_config(task, data.fingerprint, model, identity, recipe, seed, precision)
    else:
        config = {"task": task.name, "model": model.model_dump(exclude={"search"}), "seed": seed, "precision": precision}
        error, identity = error or identity, None
    config.update(extra or {})
    digest = config_hash(config)
    facts = CellFacts(
        task=task.name, model=model.name, seed=seed, labels=list(task.labels), config=config, config_hash=digest,
        model_source=model.source, model_language=model.language or None, model_revision=identity.revision if identity else model.revision,
        model_content_hash=identity.content_hash if identity else None, data_fingerprint=data.fingerprint,
        data_files=data.files, data_dropped_empty=dict(data.dropped_empty), started=time.time(), kind=kind,
        selection=selection,
    )
    status = "todo" if pending else _status(path, digest)
    return Cell(task, model, seed, path, status, facts, recipe, identity, error,
                estimated_cost(len(data.splits["train"]), recipe), pending)
