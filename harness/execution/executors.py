"""Executors decide where cells run; what a cell does is harness.execute.

- local: the cells one after another in this process, on one device (`--device`).
- ray:   every cell is a Ray task with `--gpus-per-cell` / `--cpus-per-cell`; Ray places them on
         this machine or on a cluster (`--ray-address` / RAY_ADDRESS), retries a cell whose worker
         or node was lost, and gives each cell exactly the GPUs it reserved (CUDA_VISIBLE_DEVICES).
Longest cells are submitted first, so a long cell does not start last while the rest wait.
"""
from __future__ import annotations

from typing import Callable
from harness.planning.cells import Plan
from harness.execution.execute import CellOutcome, OutcomeStatus, skipped
from harness.planning.status import CellStatus
from harness.execution.local_executor import run_local
from harness.execution.ray_executor import ray_probe, run_ray

# name -> function(plan, log) that runs the plan's cells to train; a new executor is a new module
# and one line here
EXECUTORS: dict[str, Callable[[Plan, Callable[[str], None]], list[CellOutcome]]] = {"local": run_local, "ray": run_ray}
# executors whose cells run elsewhere: name -> function(execution) -> (device, precision, reason) as a
# cell's worker sees them, asked while planning (the others train here, on --device)
PROBES = {"ray": ray_probe}


def run_plan(plan: Plan, log: Callable[[str], None] = print) -> list[CellOutcome]:
    import datasets

    datasets.disable_progress_bars()
    outcomes = []
    to_run = {id(c) for c in plan.to_run()}
    for cell in plan.cells:
        if id(cell) not in to_run:
            outcome = skipped(cell)
            if cell.status is CellStatus.RUNNING:  # not "record up to date": there may be no record at all
                outcome.status, outcome.summary = OutcomeStatus.CLAIMED, "claimed by another live run, which trains it"
            log(f"skip  {cell.label}: {outcome.summary} ({cell.path})")
            outcomes.append(outcome)
    if plan.execution.executor != "ray":  # under Ray the cells wait for their artifact's task (run_ray)
        from harness.execution.pretrain import build_artifacts

        build_artifacts(plan, log)
    outcomes += EXECUTORS[plan.execution.executor](plan, log)
    return outcomes
