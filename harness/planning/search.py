"""Hyperparameter search on the validation split: the space, the proposals, the selection.

A `search:` block (models.yaml `defaults` and each model, a suite and its per-model layers, then
`--search`) declares a space over recipe fields. Each proposed configuration x trial seed is a
*trial cell* of the plan, written to `RESULTS/<task>/<model>/search/` and scored on the
validation split only (the test split is never read for a trial). Per task x model the
configuration with the best mean validation `selection_metric` (the recipe's: accuracy by default,
loss lower is better) over its trial seeds is chosen; the
final seeds then run with it, and their records carry `selection`.

Strategies:
- grid (default): every combination, in the declared order (itertools.product; the first field
  varies slowest). Plain product rather than Optuna's GridSampler, whose order is shuffled.
- random: Optuna's RandomSampler(seed) proposes `n_trials` configurations up front.
- tpe: Optuna's TPESampler(seed) in rounds of `round_size`: ask a round, run it (in one executor
  pass), tell the validation scores, ask the next. The first round is random (n_startup_trials =
  round_size). The study is rebuilt from the trial records on every plan, so a rerun asks the
  same proposals again and skips every trial already done.
A configuration proposed twice is one trial cell.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable
from pydantic import ValidationError
from harness.errors import HarnessError
from harness.metrics import selection_metric
from harness.planning.status import CellStatus
from harness.planning.context import config_hash
from harness.spec.model import ModelSpec
from harness.spec.recipe import Recipe
from harness.spec.recipe import RecipeValue
from harness.spec.search import MergedLayers, Params, Range, SearchBlock, SearchConfig, Selection
from harness.spec.task import TaskSpec
from harness.spec.common import format_validation_error

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution


TIE_RULE = ("best mean validation {metric} ({direction} is better) over the trial seeds; a tie goes to the configuration proposed "
            "first (grid: the declared order, e.g. the smaller learning rate when values are listed ascending)")
PENDING = object()  # a trial configuration whose seeds have not all run yet


@dataclass(frozen=True)
class SearchSpec:
    """A resolved search: every layer merged, defaults filled, values normalised by the recipe."""

    space: dict[str, list[RecipeValue] | Range]
    strategy: str = "grid"
    n_trials: int | None = None
    seeds: int = 1
    budget: dict[str, RecipeValue] = field(default_factory=dict)
    sampler_seed: int = 0
    round_size: int = 4

    def as_config(self) -> SearchConfig:
        return {"space": self.space, "strategy": self.strategy, "n_trials": self.n_trials, "seeds": self.seeds,
                "budget": self.budget, "sampler_seed": self.sampler_seed,
                **({"round_size": self.round_size} if self.strategy == "tpe" else {})}

    def planned_trials(self) -> int:
        """Configurations the search will try (random / tpe: at most, repeats are merged)."""
        if self.strategy == "grid":
            count = 1
            for values in self.space.values():
                count *= len(values)
            return count
        return self.n_trials or 0


# --------------------------------------------------------------------------- layers
def _layer(raw: Any, where: str, model: type[SearchBlock] = SearchBlock) -> SearchBlock:
    if isinstance(raw, SearchBlock):
        return raw
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: expected a mapping (space, strategy, n_trials, seeds, budget), got {type(raw).__name__}")
    try:
        return model(**raw)
    except ValidationError as exc:
        raise HarnessError(f"{where}: {format_validation_error(exc, model.model_fields)}") from None


def search_layers(registry, model: ModelSpec, suite, request) -> list[tuple[SearchBlock, str]]:
    """The layers that apply to one model, in order: later layers win."""
    layers: list[tuple[SearchBlock, str]] = []
    defaults, where = registry.search_default(model.name)
    if defaults is not None:
        layers.append((defaults, where))
    if model.search is not None:
        layers.append((model.search, f"model '{model.name}': search"))
    if suite is not None and suite.search is not None:
        layers.append((suite.search, f"suite '{suite.name}': search"))
        base = model.name.split("@", 1)[0]  # a variant (model@NAME) takes its model's block
        if base in suite.search.models:
            layers.append((suite.search.models[base], f"suite '{suite.name}': search: models: {base}"))
    if request.search:
        layers.append((_layer(request.search, "--search"), "--search"))
    return layers


def merge(layers: list[tuple[SearchBlock, str]]) -> tuple[MergedLayers, str]:
    merged: MergedLayers = {"space": {}, "budget": {}}
    where = "search"
    for block, name in layers:
        data = block.model_dump(exclude_none=True, exclude={"models"})
        merged["space"].update(data.pop("space", {}))
        merged["budget"].update(data.pop("budget", {}))
        merged.update(data)
        where = name
    return merged, where


def resolve(layers: list[tuple[SearchBlock, str]], base: Recipe, where: str) -> SearchSpec | None:
    """Merge the layers and check the space against the recipe: every value is validated now, so a
    bad one is a usage error while planning, not a failed trial."""
    merged, last = merge(layers)
    if not merged["space"]:
        return None
    where = f"{where}: search (last set in {last})"
    strategy = merged.get("strategy", "grid")
    if strategy == "grid" and merged.get("n_trials") is not None:
        raise HarnessError(f"{where}: n_trials goes with strategy random or tpe; grid tries every combination")
    if strategy != "grid" and not merged.get("n_trials"):
        raise HarnessError(f"{where}: strategy {strategy} needs n_trials (how many configurations to try)")
    overlap = sorted(set(merged["space"]) & set(merged["budget"]))
    if overlap:
        raise HarnessError(f"{where}: '{overlap[0]}' is both searched and a trial budget; keep one")
    space = {key: _normalise_values(key, values, strategy, base, where) for key, values in merged["space"].items()}
    budget = {key: _recipe_value(base, key, value, f"{where}: budget") for key, value in merged["budget"].items()}
    return SearchSpec(space=space, strategy=strategy, n_trials=merged.get("n_trials"), seeds=merged.get("seeds", 1),
                      budget=budget, sampler_seed=merged.get("sampler_seed", 0), round_size=merged.get("round_size", 4))


def _recipe_value(base: Recipe, key: str, value: Any, where: str) -> Any:
    """A search value gets every check the same value gets from --set: the recipe's types and
    bounds (NaN and infinities refused) and the checks against the Trainer (an unknown optim)."""
    from harness.planning.checks import check_recipe

    try:
        recipe = Recipe(**{**base.model_dump(), key: value})
    except ValidationError as exc:
        raise HarnessError(f"{where}: {key}={value!r}: {format_validation_error(exc, Recipe.model_fields)}") from None
    check_recipe(recipe, f"{where}: {key}={value!r}")
    return getattr(recipe, key)


def _normalise_values(key: str, values: Any, strategy: str, base: Recipe, where: str) -> Any:
    if isinstance(values, dict):  # a range
        if strategy == "grid":
            raise HarnessError(f"{where}: '{key}' is a range; grid needs a list of values (or use random / tpe)")
        low, high = (_recipe_value(base, key, values[b], f"{where}: space") for b in ("low", "high"))
        return {"low": low, "high": high, "log": bool(values.get("log", False))}
    normalised = [_recipe_value(base, key, value, f"{where}: space") for value in values]
    dupes = [v for i, v in enumerate(normalised) if v in normalised[:i]]
    if dupes:
        raise HarnessError(f"{where}: '{key}' lists {dupes[0]!r} twice")
    return normalised


# --------------------------------------------------------------------------- proposals
def trial_id(params: Params) -> str:
    """A trial's file name part: the same values are the same trial, whatever the space around them."""
    return config_hash(params)[:10]


def proposals(spec: SearchSpec, score_of: Callable[[Params], Any],
              higher_is_better: bool = True) -> tuple[list[Params], bool]:
    """The configurations proposed so far, in order, without repeats, and whether the list is
    complete. `score_of(params)` is the configuration's mean validation score, None if its trials
    failed, or PENDING if they have not all run (tpe then stops after the current round)."""
    if spec.strategy == "grid":
        keys = list(spec.space)
        out = [dict(zip(keys, combo)) for combo in itertools.product(*(spec.space[k] for k in keys))]
        return out, True
    return _optuna_proposals(spec, score_of, higher_is_better)


def _distributions(spec: SearchSpec) -> dict[str, BaseDistribution]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, BaseDistribution] = {}
    for key, values in spec.space.items():
        if isinstance(values, dict):
            is_int = isinstance(values["low"], int) and isinstance(values["high"], int)
            kind = IntDistribution if is_int else FloatDistribution
            out[key] = kind(values["low"], values["high"], log=values["log"])
        else:
            out[key] = CategoricalDistribution(values)
    return out


def _optuna():
    try:
        import optuna
    except ImportError:
        raise HarnessError("search strategies random and tpe need Optuna: pip install 'encoder-harness[search]' "
                           "(or pip install optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _optuna_proposals(spec: SearchSpec, score_of, higher_is_better: bool = True) -> tuple[list[Params], bool]:
    optuna = _optuna()
    if spec.strategy == "random":
        sampler, round_size = optuna.samplers.RandomSampler(seed=spec.sampler_seed), spec.n_trials
    else:
        round_size = spec.round_size
        sampler = optuna.samplers.TPESampler(seed=spec.sampler_seed, n_startup_trials=round_size)
    study = optuna.create_study(direction="maximize" if higher_is_better else "minimize", sampler=sampler)
    distributions = _distributions(spec)
    out: list[Params] = []
    asked = 0
    while asked < spec.n_trials:
        trials = [study.ask(distributions) for _ in range(min(round_size, spec.n_trials - asked))]
        asked += len(trials)
        scores = []
        for trial in trials:
            params = {key: trial.params[key] for key in spec.space}
            if params not in out:
                out.append(params)
            scores.append(score_of(params))
        if asked >= spec.n_trials:
            return out, True
        if any(score is PENDING for score in scores):
            return out, False  # the next round waits for this one's scores
        for trial, score in zip(trials, scores):
            if score is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, score)
    return out, True


# --------------------------------------------------------------------------- selection
@dataclass
class TrialResult:
    params: Params
    scores: list[float | None]  # per trial seed; None: failed
    pending: bool  # some seed has not run (or its record is out of date)
    paths: list[str]

    @property
    def mean(self) -> float | None:
        done = [s for s in self.scores if s is not None]
        if self.pending or len(done) < len(self.scores) or not done:
            return None
        return sum(done) / len(done)

    def score(self) -> Any:
        return PENDING if self.pending else self.mean


def select(results: list[TrialResult], spec: SearchSpec, metric: str) -> Selection | None:
    """The record's `selection` on the validation `metric` (a selection metric: its direction from
    the registry), or None while a trial has not run. A configuration with a failed seed is not
    eligible; if none is eligible the chosen configuration is None."""
    if any(r.pending for r in results):
        return None
    higher = selection_metric(metric).higher_is_better
    best: TrialResult | None = None
    for result in results:  # proposal order: the first of equal means wins
        if result.mean is not None and (best is None or (result.mean > best.mean if higher else result.mean < best.mean)):
            best = result
    return {
        **spec.as_config(),
        "metric": f"validation {metric}",
        "rule": TIE_RULE.format(metric=metric, direction="higher" if higher else "lower"),
        "trials": [{"params": r.params, "validation_scores": r.scores, "mean": r.mean, "records": r.paths}
                   for r in results],
        "chosen": best.params if best else None,
        "chosen_mean": best.mean if best else None,
    }


# --------------------------------------------------------------------------- cells
@dataclass
class Search:
    """One task x model whose final seeds run with the configuration a search chooses."""

    task: TaskSpec
    model: ModelSpec
    spec: SearchSpec
    recipe: Recipe  # every layer and --set, before the search
    identity: Any  # ModelIdentity, or the error message of a model that cannot be resolved
    seeds: list[int]  # the final seeds

    def trial_recipe(self, params: Params) -> Recipe:
        return Recipe(**{**self.recipe.model_dump(), **params, **self.spec.budget})

    def final_recipe(self, chosen: Params) -> Recipe:
        return Recipe(**{**self.recipe.model_dump(), **chosen})


def plan_searches(request, registry, tasks, models, recipes, seeds) -> list[Search]:
    """Resolve every task x model's search now, so that a bad block exits 2 while planning."""
    if getattr(request, "no_search", False):
        return []
    suite = None
    if request.suite:
        from harness.spec.suites import load_suites

        suite = load_suites(request.suites_file)[request.suite]
    out = []
    for model in models:
        if model.init == "finetuned":  # evaluated as published: nothing to search
            continue
        layers = search_layers(registry, model, suite, request)
        if not layers:
            continue
        for task in tasks:
            where = f"task '{task.name}' x model '{model.name}'"
            spec = resolve(layers, recipes[(task.name, model.name)], where)
            if spec is not None:
                out.append(Search(task, model, spec, recipes[(task.name, model.name)], None, list(seeds)))
    return out


def _trial_outcome(cells, metric: str, params: Params) -> TrialResult:
    """A trial's scores from its cells' records as the plan judged them (harness.planning.status):
    a current record scores, a failure of this config is a failed seed, anything else is pending."""
    scores: list[float | None] = []
    pending = False
    for cell in cells:
        verdict = cell.verdict if cell.status in (CellStatus.DONE, CellStatus.FAILED) else None
        if verdict is not None and verdict.current:
            scores.append(verdict.record.metrics.validation.score(metric))
        elif verdict is not None and verdict.failed_here(cell.config_hash):
            scores.append(None)
        else:
            pending = True
            scores.append(None)
    return TrialResult(params, scores, pending, [str(c.path) for c in cells])


def search_cells(search: Search, data, precision: str, results) -> tuple[list, list]:
    """The trial cells proposed so far and the final cells: with the chosen configuration once
    every trial has run, else waiting (`pending`) for the selection."""
    from harness.planning.cells import _cell
    from harness.records.store import trial_path

    task, model, spec = search.task, search.model, search.spec
    trials: dict[str, list] = {}

    def outcome(params: Params) -> TrialResult:
        key = trial_id(params)
        if key not in trials:
            recipe = search.trial_recipe(params)
            trials[key] = [
                _cell(task, model, seed, recipe, search.identity, data, precision, results, kind="trial",
                      path=trial_path(results, task.name, model.name, key, seed),
                      extra={"kind": "trial", "searched": list(spec.space)})
                for seed in range(spec.seeds)
            ]
        return _trial_outcome(trials[key], metric, params)

    metric = search.recipe.selection_metric  # the trials' own recipes may search other values of it
    proposed, complete = proposals(spec, lambda params: outcome(params).score(), selection_metric(metric).higher_is_better)
    selection = select([outcome(p) for p in proposed], spec, metric) if complete else None
    extra = {"search": spec.as_config()}
    finals = []
    for seed in search.seeds:
        if selection is None:
            finals.append(_cell(task, model, seed, search.recipe, search.identity, data, precision, results,
                                extra=extra, pending=True))
        elif selection["chosen"] is None:
            finals.append(_cell(task, model, seed, search.recipe, search.identity, data, precision, results,
                                extra=extra, selection=selection,
                                error="every search trial failed; see the trial records under search/"))
        else:
            finals.append(_cell(task, model, seed, search.final_recipe(selection["chosen"]), search.identity, data,
                                precision, results, extra=extra, selection=selection))
    return [c for cells in trials.values() for c in cells], finals


def refresh(plan) -> list:
    """The trial and final cells of every search, rebuilt from the records on disk (the plan's
    other cells kept in place): after a round of trials has run, the next tpe round, or the
    selection and the final cells."""
    trial_cells: list = []
    finals: dict[tuple[str, str], list] = {}
    for search in plan.searches:
        trials, final = search_cells(search, plan.data[search.task.name], plan.context.precision, plan.results)
        trial_cells += trials
        finals[(search.task.name, search.model.name)] = final
    cells, placed = [], set()
    for cell in plan.cells:
        if cell.kind == "trial":
            continue
        key = (cell.task.name, cell.model.name)
        if key not in finals:
            cells.append(cell)
        elif key not in placed:
            cells += finals[key]
            placed.add(key)
    return trial_cells + cells

