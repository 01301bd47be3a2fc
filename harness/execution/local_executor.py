"""The local executor: the cells one after another in this process, on one device (`--device`)."""
from __future__ import annotations

from typing import Callable

from harness.planning.cells import Plan
from harness.execution.execute import CellOutcome, execute_cell
from harness.execution.progress import GridProgress, use_progress_bar


def run_local(plan: Plan, log: Callable[[str], None]) -> list[CellOutcome]:
    import torch

    if plan.execution.cpus_per_cell:
        torch.set_num_threads(plan.execution.cpus_per_cell)
    cells = plan.to_run()
    progress = GridProgress(len(cells), 1, log)
    bar = use_progress_bar()
    outcomes = []
    for index, cell in enumerate(cells, 1):
        log(progress.start_line(index, cell.label) + f" on {plan.context.device.torch_device} ({plan.context.precision})")
        outcome = execute_cell(cell, plan.data[cell.task.name], plan.outputs, plan.context, log, progress_bar=bar,
                               force=plan.execution.force, checkpoint=plan.execution.checkpoint)
        progress.report(outcome)
        outcomes.append(outcome)
    return outcomes
