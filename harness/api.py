"""The Python API: the CLI's `run`, for notebooks and CI scripts.

    import harness
    plan = harness.plan(tasks="demo-nli-en", models="minilm-l6", seeds=1, set={"learning_rate": 3e-5})
    print(plan.table())
    result = harness.run(tasks=["demo-nli-en"], models=["minilm-l6"], seeds=1, executor="ray")
    result.failed    # the failed cells' outcomes
    result.scores()  # the completed cells' test metrics
    results = harness.load("results/demo")   # typed records: .to_pandas(), .leaderboard(), .compare(...)

Keyword arguments are exactly the `harness run` options with underscores (`RunOptions`): comma
lists as a string "a,b" or a list, `set` as {"key": value} or ["key=value"]. A bad value raises the
CLI's one-line HarnessError before anything runs, as the CLI exits 2.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypedDict

from typing_extensions import Unpack

from harness.errors import HarnessError
from harness.execution.execute import CellOutcome, OutcomeStatus
from harness.planning.cells import Plan
from harness.planning.request import RunRequest
from harness.planning.planner import make_plan
from harness.spec.recipe import RecipeValue


class RunOptions(TypedDict, total=False):
    """The `harness run` options (see `harness run --help` for each one's meaning)."""

    config: str | Path  # a YAML file of these options; the keyword arguments override it
    suite: str
    tasks: str | list[str]  # "a,b" or ["a", "b"]
    models: str | list[str]
    seeds: int
    seed_list: str | list[int]
    variant: str  # cells stored as model@variant
    set: dict[str, RecipeValue] | list[str]  # {"learning_rate": 3e-5} or ["learning_rate=3e-5"]
    search: dict[str, list[Any]] | list[str]  # {"learning_rate": [1e-5, 2e-5]} (or a whole search block)
    search_strategy: str
    search_trials: int
    search_seeds: int
    search_budget: dict[str, RecipeValue] | list[str]
    no_search: bool
    data_dir: str | Path
    results: str | Path
    precision: str
    max_train_samples: int
    max_eval_samples: int
    force: bool
    save_model: bool
    report_to: str | list[str]
    tensorboard: bool
    no_leaderboard: bool
    no_plots: bool
    checkpoint: bool | None
    executor: str
    device: str
    gpus_per_cell: float
    cpus_per_cell: int
    ray_address: str
    tasks_dir: str | list[str]
    models_file: str | list[str]
    suites_file: str | list[str]


def _request(options: RunOptions) -> RunRequest:
    from harness.cli.run_options import load_config, namespace, request_from_args

    options = dict(options)
    if options.get("config"):
        path = options.pop("config")
        options = {**load_config(path), **options}
    options.pop("config", None)
    return request_from_args(namespace(options, "harness.run"))


def plan_request(request: RunRequest) -> Plan:
    """The plan of a request, with the executors there are and the probes of those that tell
    where their cells run (planning imports no executor)."""
    from harness.execution.executors import EXECUTORS, PROBES

    return make_plan(request, executors=tuple(EXECUTORS), probes=PROBES)


def plan(**options: Unpack[RunOptions]) -> Plan:
    """Validate the options and return the plan: every cell with its config hash and status."""
    return plan_request(_request(options))


@dataclass
class RunResult:
    plan: Plan
    outcomes: list[CellOutcome]
    leaderboard: Path | None = None

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status is OutcomeStatus.FAILED]

    def counts(self) -> dict[str, int]:
        return {str(s): sum(o.status is s for o in self.outcomes) for s in OutcomeStatus}

    def records(self) -> "Results":
        """The records of this plan's cells, read back from the results folder (done or skipped)."""
        return load(self.plan.results)

    def scores(self) -> list[dict[str, str | int | float | None]]:
        """One row per completed or skipped cell: task, model, seed, status and its test metrics."""
        from harness.metrics import metric_names
        from harness.records.store import read_record

        rows = []
        for outcome in self.outcomes:
            if outcome.status is OutcomeStatus.FAILED or not Path(outcome.path).is_file():
                continue
            record = read_record(outcome.path)
            test = record.metrics.test if record.metrics is not None else None
            rows.append({"task": outcome.task, "model": outcome.model, "seed": outcome.seed,
                         "status": str(outcome.status), **{m: test.score(m) if test else None for m in metric_names()}})
        return rows


def execute(the_plan: Plan, log: Callable[[str], None] = print) -> RunResult:
    """Run a plan's cells with its executor, then write the leaderboard files. With a search, the
    trials run first (every task x model in one executor pass; tpe in rounds), then each final
    cell is planned again with its chosen configuration and run."""
    from harness.execution.executors import run_plan

    outcomes = []
    if the_plan.searches:  # phase one: the trials; then the final cells with the chosen configurations
        from harness.execution.phases import run_trials

        trials, the_plan = run_trials(the_plan, log)
        outcomes += trials
    finals = [c for c in the_plan.cells if c.kind != "trial"]  # final and evaluation cells
    outcomes += run_plan(dataclasses.replace(the_plan, cells=finals), log)
    board = None
    if the_plan.outputs.leaderboard:
        from harness.views.errors_page import write_errors_pages
        from harness.views.leaderboard import write_leaderboard_files

        try:
            write_errors_pages(the_plan.results, the_plan.data)  # before the page that links them
            board = write_leaderboard_files(the_plan.results)
            log(f"leaderboard: {board} (web page: {board.with_suffix('.html')})")
        except HarnessError as exc:  # the records are written; say why the table is not
            log(f"leaderboard not written: {exc}")
    return RunResult(the_plan, outcomes, board)


def run(log: Callable[[str], None] = print, **options: Unpack[RunOptions]) -> RunResult:
    """Plan, then execute: `harness run` as a function."""
    return execute(plan(**options), log)


def load(results: str | Path) -> "Results":
    """The records of a results folder (typed, validated), for a notebook: `.to_pandas()`,
    `.leaderboard()`, `.compare(baseline)`."""
    from harness.views.results import Results

    return Results.load(results)
