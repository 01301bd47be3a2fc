"""What a user asks for: the `harness run` options, as one dataclass, and its four parts.

`RunRequest` is the flat option set the CLI and `harness.plan(**options)` speak. Below the
planner nobody needs it whole: the grid (`Grid`: what to run), the recipe overrides
(`RecipeOverrides`), how it executes (`Execution`) and what it writes (`Outputs`) travel apart,
and a cell receives only its `Outputs` (and whether to force and checkpoint).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict



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
    models_file: list[str] = field(default_factory=list)  # models files added to the packaged models.yaml
    suites_file: list[str] = field(default_factory=list)  # suites files added to the packaged suites.yaml
    executor: str = "local"
    device: str | None = None  # local executor: auto, cpu, cuda, cuda:N
    gpus_per_cell: float | None = None  # ray: default 1 where GPUs exist, else 0
    cpus_per_cell: int | None = None  # threads per cell (ray: CPUs reserved per cell)
    ray_address: str | None = None
    checkpoint: bool | None = None  # None: cells planned for more than CHECKPOINT_MIN_STEPS steps
    search: dict[str, Any] = field(default_factory=dict)  # --search: a search block (space, strategy, ...)
    no_search: bool = False  # ignore every search block: run the recipe as declared
    variant: str | None = None  # the cells are stored as model@variant: two recipes of a model side by side
    model_specs: list[Any] = field(default_factory=list)  # ModelSpecs beside models.yaml (`harness evaluate`)

    @property
    def grid(self) -> "Grid":
        return Grid(self.suite, self.tasks, self.models, self.seeds, self.seed_list, self.data_dir, self.tasks_dir,
                    self.models_file, self.suites_file, self.search, self.no_search, self.variant)

    @property
    def recipe(self) -> "RecipeOverrides":
        return RecipeOverrides(dict(self.overrides or {}), self.max_train_samples, self.max_eval_samples)

    @property
    def execution(self) -> "Execution":
        return Execution(self.executor, self.precision, self.device, self.gpus_per_cell, self.cpus_per_cell,
                         self.ray_address, self.force, self.checkpoint)

    @property
    def outputs(self) -> "Outputs":
        return Outputs(self.results, self.save_model, self.tensorboard, list(self.report_to), self.plots,
                       self.leaderboard, self.suite)


@dataclass(frozen=True)
class Grid:
    """What to run: tasks x models x seeds (or a suite), where the data and the registries are."""

    suite: str | None
    tasks: list[str] | None
    models: list[str] | None
    seeds: int | None
    seed_list: list[int] | str | None
    data_dir: str | None
    tasks_dir: list[str]
    models_file: list[str]  # added to the packaged models.yaml
    suites_file: list[str]  # added to the packaged suites.yaml
    search: dict[str, Any]
    no_search: bool
    variant: str | None


@dataclass(frozen=True)
class RecipeOverrides:
    """What replaces the declared recipes' values (`--set`, and the sample budgets)."""

    values: dict[str, Any]
    max_train_samples: int | None
    max_eval_samples: int | None


@dataclass(frozen=True)
class Execution:
    """How the cells run: which executor, on what, and whether done cells train again."""

    executor: str
    precision: str
    device: str | None
    gpus_per_cell: float | None
    cpus_per_cell: int | None
    ray_address: str | None
    force: bool
    checkpoint: bool | None  # None: cells planned for more than CHECKPOINT_MIN_STEPS steps


class RecordOptions(TypedDict):
    """A record's `config.options`: what the run wrote beside it (not hashed)."""

    save_model: bool
    tensorboard: bool
    report_to: list[str]
    suite: str | None


@dataclass(frozen=True)
class Outputs:
    """What a run writes beside its records. `--tensorboard` is `--report-to tensorboard`."""

    results: str | Path | None
    save_model: bool = False
    tensorboard: bool = False  # as asked (kept in the record's config.options)
    report_to: list[str] = field(default_factory=list)  # as asked, checked
    plots: bool = True
    leaderboard: bool = True
    suite: str | None = None  # the suite the run was started with: the web page's title

    @property
    def trackers(self) -> list[str]:
        """The experiment trackers a final cell reports to, TensorBoard included when asked either way."""
        return self.report_to + (["tensorboard"] if self.tensorboard and "tensorboard" not in self.report_to else [])

    def options(self) -> RecordOptions:
        """What a record's `config.options` says of them (not hashed: no effect on a score)."""
        return RecordOptions(save_model=self.save_model, tensorboard=self.tensorboard, report_to=list(self.report_to),
                             suite=self.suite)
