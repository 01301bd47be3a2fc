"""The Python API: the CLI's `run`, for notebooks and CI scripts.

    import harness
    plan = harness.plan(tasks=["demo-nli-en"], models=["minilm-l6"], seeds=1)
    print(plan.table())
    result = harness.run(tasks=["demo-nli-en"], models=["minilm-l6"], seeds=1, executor="ray")
    result.failed   # the failed cells' outcomes

Keyword arguments are the `harness run` options (see harness.planning.RunRequest); a bad value
raises HarnessError before anything runs, as the CLI exits 2.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness.errors import HarnessError
from harness.execution.execute import CellOutcome
from harness.planning.cells import Plan
from harness.planning.request import RunRequest
from harness.planning.planner import make_plan
from harness.spec.common import suggest


def _request(options: dict[str, Any]) -> RunRequest:
    names = [f.name for f in dataclasses.fields(RunRequest)]
    for key in options:
        if key not in names:
            raise HarnessError(f"unknown run option '{key}'{suggest(key, names)}")
    return RunRequest(**options)


def plan(**options: Any) -> Plan:
    """Validate the options and return the plan: every cell with its config hash and status."""
    return make_plan(_request(options))


@dataclass
class RunResult:
    plan: Plan
    outcomes: list[CellOutcome]
    leaderboard: Path | None = None

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def counts(self) -> dict[str, int]:
        return {s: sum(o.status == s for o in self.outcomes) for s in ("completed", "skipped", "claimed", "failed")}


def execute(the_plan: Plan, log: Callable[[str], None] = print) -> RunResult:
    """Run a plan's cells with its executor, then write the leaderboard files. With a search, the
    trials run first (every task x model in one executor pass; tpe in rounds), then each final
    cell is planned again with its chosen configuration and run."""
    from harness.execution.executors import run_plan

    outcomes = []
    if the_plan.searches:  # phase one: the trials; then the final cells with the chosen configurations
        from harness.execution.phases import run_trials

        outcomes += run_trials(the_plan, log)
    finals = [c for c in the_plan.cells if c.kind == "final"]
    outcomes += run_plan(dataclasses.replace(the_plan, cells=finals), log)
    board = None
    if the_plan.request.leaderboard:
        from harness.views.leaderboard import write_leaderboard_files

        try:
            board = write_leaderboard_files(the_plan.results)
            log(f"leaderboard: {board} (web page: {board.with_suffix('.html')})")
        except HarnessError as exc:  # the records are written; say why the table is not
            log(f"leaderboard not written: {exc}")
    return RunResult(the_plan, outcomes, board)


def run(log: Callable[[str], None] = print, **options: Any) -> RunResult:
    """Plan, then execute: `harness run` as a function."""
    return execute(plan(**options), log)
