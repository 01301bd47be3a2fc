"""The phases of a run with a search: every trial first, then the final cells with the chosen configurations."""
from __future__ import annotations
from harness.planning.search import refresh

from typing import Callable


def run_trials(plan, log: Callable[[str], None]) -> tuple[list, object]:
    """Phase one of a run with a search: every proposed trial of every task x model in one executor
    pass; tpe asks its next round after each pass. Returns the trials' outcomes and the plan
    refreshed from their records (its final cells carry the selection)."""
    from dataclasses import replace

    from harness.execution.executors import run_plan

    outcomes, ran = [], set()
    while True:
        batch = [c for c in plan.cells if c.kind == "trial" and c.path not in ran]
        if not batch:
            return outcomes, plan
        log(f"search: {len(batch)} trial cell(s) (validation split only)")
        outcomes += run_plan(replace(plan, cells=batch), log)
        ran |= {c.path for c in batch}
        plan = replace(plan, cells=refresh(plan))
