"""Search blocks: the space, strategy and budget of a hyperparameter search, as declared."""
from __future__ import annotations
from harness.spec.recipe import Recipe, RecipeValue
from harness.spec.common import Strict, suggest

from typing import Annotated, Any, Literal, NotRequired, TypedDict
from pydantic import AfterValidator, Field, model_validator



# --------------------------------------------------------------------------- search
SEARCH_STRATEGIES = ("grid", "random", "tpe")
TRIAL_BUDGET_FIELDS = ("max_train_samples", "max_epochs", "max_steps")


class SearchRange(Strict):
    """A continuous (or integer) range for `random` / `tpe`: Optuna's Float/IntDistribution."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "SearchRange":
        if not self.low < self.high:
            raise ValueError(f"range: low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError("range: a log range needs low > 0")
        return self


def _check_space(space: dict[str, list[Any] | SearchRange]) -> dict[str, list[Any] | SearchRange]:
    for key, values in space.items():
        if key not in Recipe.model_fields:
            raise ValueError(f"search space: unknown hyperparameter '{key}'{suggest(key, Recipe.model_fields)}")
        if isinstance(values, list) and not values:
            raise ValueError(f"search space: '{key}' has no values")
    return space


def _check_budget(budget: dict[str, Any]) -> dict[str, Any]:
    for key in budget:
        if key not in TRIAL_BUDGET_FIELDS:
            raise ValueError(f"search budget: '{key}' is not a trial budget{suggest(key, TRIAL_BUDGET_FIELDS)}; "
                             f"one of {', '.join(TRIAL_BUDGET_FIELDS)}")
    return budget


class SearchBlock(Strict):
    """One layer of a `search:` block (models.yaml defaults / a model, a suite, the command line).
    Layers merge like `training`: later layers win, `space` and `budget` key by key."""

    space: Annotated[dict[str, list[Any] | SearchRange], AfterValidator(_check_space)] = Field(
        default_factory=dict, description="recipe field -> values (a list) or {low, high, log} (random / tpe)")
    strategy: Literal["grid", "random", "tpe"] | None = Field(None, description="grid (default), random or tpe")
    n_trials: int | None = Field(None, ge=1, description="random / tpe: how many configurations to try")
    seeds: int | None = Field(None, ge=1, description="seeds per trial configuration (default 1)")
    budget: Annotated[dict[str, Any], AfterValidator(_check_budget)] = Field(
        default_factory=dict, description="trials only: max_train_samples, max_epochs or max_steps")
    sampler_seed: int | None = Field(None, ge=0, description="seed of Optuna's sampler (default 0)")
    round_size: int | None = Field(None, ge=1, description="tpe: trials proposed per round (default 4)")


class SuiteSearchBlock(SearchBlock):
    """A suite's search block may also hold per-model layers, applied after the suite's own."""

    models: dict[str, SearchBlock] = Field(default_factory=dict)




# --------------------------------------------------------------------------- resolved shapes
# (harness.planning.search resolves the blocks into these; a final record's `selection` holds them)
class Range(TypedDict):
    """A range of the resolved space, its bounds validated by the recipe."""

    low: float | int
    high: float | int
    log: bool


Params = dict[str, RecipeValue]  # one trial's configuration: searched recipe field -> value


class SearchConfig(TypedDict):
    """A resolved search as it enters the final cells' config and the record's `selection`."""

    space: dict[str, list[RecipeValue] | Range]
    strategy: str
    n_trials: int | None
    seeds: int
    budget: dict[str, RecipeValue]
    sampler_seed: int
    round_size: NotRequired[int]  # tpe only


class TrialSummary(TypedDict):
    """One proposed configuration in a selection: its validation score per trial seed."""

    params: Params
    validation_scores: list[float | None]
    mean: float | None
    records: list[str]


class Selection(SearchConfig):
    """A final record's `selection`: the search, the rule, every trial and the chosen configuration."""

    metric: str
    rule: str
    trials: list[TrialSummary]
    chosen: Params | None
    chosen_mean: float | None


class MergedLayers(TypedDict, total=False):
    """The search layers merged (later wins, `space` and `budget` key by key), before the checks."""

    space: dict[str, list[Any] | dict[str, float | bool]]
    budget: dict[str, RecipeValue]
    strategy: str
    n_trials: int
    seeds: int
    sampler_seed: int
    round_size: int
