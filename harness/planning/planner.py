"""Plan: the arguments -> a list of cells, each with its resolved and validated recipe, config,
config hash and status against the results folder.

Every usage error (exit 2) happens here, before any model is loaded and with nothing written:
unknown names, bad recipe values, bad seeds, a precision the device cannot run, a results
folder that cannot be written, an executor option that does not fit.
"""
from __future__ import annotations

import math
from harness.planning.request import Execution, RunRequest
from harness.planning.cells import Plan, _cell

from dataclasses import replace
from pathlib import Path
from typing import Callable, Collection, Mapping
from harness.errors import HarnessError
from harness.planning.identity import ModelIdentity, resolve_identity
from harness.spec.models import ModelRegistry, load_models
from harness.planning.context import RunContext
from harness.env import check_environment
from harness.planning.checks import _resolve_precision, check_recipe, check_results_folder, parse_seeds, set_offline_if_local
from harness.spec.recipe import Recipe, check_recipe_overrides, resolve_recipe
from harness.spec.common import suggest


# --------------------------------------------------------------------------- the plan
def _grid(request: RunRequest):
    from harness.spec.suites import load_suites
    from harness.data.tasks import get_task, load_registry

    task_registry = load_registry(request.tasks_dir)
    model_registry = load_models(request.models_file)
    if request.model_specs:  # `harness evaluate SOURCE`: models given on the command line
        model_registry = model_registry.with_models(request.model_specs)
    suite = None
    if request.suite:
        suites = load_suites(request.suites_file)
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
    variant = request.variant or (suite.variant if suite else None)
    if variant:  # the same model under another name: its records sit beside the plain model's
        check_variant(variant)
        models = [model.model_copy(update={"name": f"{model.name}@{variant}"}) for model in models]
    from harness.planning.identity import refuse_pickle_only

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


def check_variant(variant: str) -> None:
    import re

    from harness.spec.common import NAME_PATTERN

    if not re.fullmatch(NAME_PATTERN, variant):
        raise HarnessError(f"--variant '{variant}': use lowercase letters, digits, '-', '_' or '.' (it becomes part of the "
                           f"model's name, model@{variant}, and of its results folder)")


def _recipes(tasks, models, registry: ModelRegistry, overrides) -> dict[tuple[str, str], Recipe]:
    """Every task x model recipe, validated now: a bad value is a usage error, not a failed cell."""
    recipes = {}
    for task in tasks:
        for model in models:
            recipe = resolve_recipe(
                registry.defaults_layer(model.name),
                (task.training, f"task '{task.name}': training"),
                (model.training, f"model '{model.name}': training"),
                (overrides, "--set"),
            )
            check_recipe(recipe, f"task '{task.name}' x model '{model.name}'")
            recipes[(task.name, model.name)] = recipe
    return recipes


# an executor's probe: how the cells run -> (device, precision, reason) as its cells will see them
Probe = Callable[[Execution], tuple]


def _executor_options(request: RunRequest, executors: Collection[str]) -> None:
    if request.executor not in executors:
        raise HarnessError(f"--executor {request.executor}: expected one of {', '.join(executors)}")
    if request.cpus_per_cell is not None and request.cpus_per_cell < 1:
        raise HarnessError("--cpus-per-cell must be at least 1")
    gpus = request.gpus_per_cell
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, (int, float))
                             or not math.isfinite(gpus) or not 0 <= gpus <= 64):
        raise HarnessError(f"--gpus-per-cell {gpus!r}: expected a number from 0 to 64 (a fraction shares a GPU)")
    if request.executor == "local" and (request.gpus_per_cell is not None or request.ray_address):
        raise HarnessError("--gpus-per-cell and --ray-address go with --executor ray")
    if request.executor == "ray" and request.device not in (None, "auto"):
        raise HarnessError("--device picks the GPU of the local executor; under Ray each cell gets the GPU Ray assigns")


def _evaluation_cell(task, model, recipe, identity, data, precision, results):
    """An `init: finetuned` model on a task: seed 0 as the file name, `kind: evaluation`, and the
    label alignment (refused here, exit 2, when it cannot be made, or the checkpoint cannot be
    found) in its config."""
    if not isinstance(identity, ModelIdentity):  # no config.json to align the labels with: a usage error
        raise HarnessError(identity)
    from harness.planning.labels import align_labels

    alignment = align_labels(identity, task.name, list(task.labels), model.label_map)
    cell = _cell(task, model, 0, recipe, identity, data, precision, results, kind="evaluation",
                 extra={"alignment": alignment.as_record()})
    cell.alignment = alignment
    return cell


def make_plan(request: RunRequest, executors: Collection[str], probes: Mapping[str, Probe]) -> Plan:
    """Validate everything, load the tasks' data and resolve every cell's configuration.
    `executors` are the executor names there are (harness.execution.executors); `probes` the
    executors that tell where their cells run (Ray asks a worker), by name: the others train
    here, on `--device`. The caller (harness.api) passes both: planning imports no executor."""
    from harness.data.tasks import load_task

    from harness.train.trackers import check_trackers

    check_environment()  # every HARNESS_* knob, one line each, before anything is written
    _executor_options(request, executors)
    request.report_to = check_trackers(request.report_to)  # a tracker that is not installed: exit 2 now
    tasks, models, registry, seeds, overrides, results = _grid(request)
    if request.data_dir is not None and not Path(request.data_dir).expanduser().is_dir():
        raise HarnessError(f"--data-dir {request.data_dir} does not exist; pass the folder that holds the task files")
    offline = set_offline_if_local(tasks, request.data_dir, models)  # before huggingface_hub is imported
    recipes = _recipes(tasks, models, registry, overrides)
    check_results_folder(results)
    if request.executor in probes:
        device, precision, reason = probes[request.executor](request.execution)
    else:
        from harness.device import choose_device

        device = choose_device(request.device)
        precision, reason = _resolve_precision(request.precision, device)
    context = RunContext.resolve(precision, request.precision, reason, device, request.executor)
    identities: dict[str, ModelIdentity | str] = {}
    for model in models:
        try:
            identities[model.name] = resolve_identity(model)
        except HarnessError as exc:  # a missing package or folder: the cell fails, the grid goes on
            identities[model.name] = str(exc)
    from harness.planning.search import plan_searches, refresh

    searches = plan_searches(request, registry, tasks, models, recipes, seeds)  # bad blocks: exit 2 here
    data = {task.name: load_task(task, request.data_dir) for task in tasks}
    from harness.planning.inspect import inspect_grid

    inspect_grid(tasks, models, identities, recipes, data)  # what each checkpoint takes: exit 2 here
    for search in searches:
        search.recipe = recipes[(search.task.name, search.model.name)]
    from harness.data.tasks import load_registry
    from harness.planning.pretrain import plan_pretraining

    pretraining = plan_pretraining(models, identities, data, load_registry(request.tasks_dir) if any(
        m.pretrain for m in models) else {}, request.data_dir, results)  # bad corpus: exit 2 here
    cells = []
    for task in tasks:
        for model in models:
            recipe, identity = recipes[(task.name, model.name)], identities[model.name]
            if model.init == "finetuned":  # one deterministic evaluation, no seeds
                cells.append(_evaluation_cell(task, model, recipe, identity, data[task.name], precision, results))
                continue
            for seed in seeds:
                cells.append(_cell(task, model, seed, recipe, identity, data[task.name], precision, results))
    for search in searches:
        search.identity = identities[search.model.name]
    plan = Plan(request, results, cells, data, context, registry, offline, searches, pretraining)
    if searches:  # trial cells, and the final cells with the selection where every trial has run
        plan = replace(plan, cells=refresh(plan))
    return plan

