"""What a user asks for: the `harness run` options, as one dataclass."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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


