"""Execute one cell: fine-tune, apply the failure policy, build and write its record.

Executors (harness.executors) only decide where this runs; what a cell does, and what is
written when it fails, is decided here once.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from harness.train.checkpoint import CHECKPOINT_MIN_STEPS
from harness.records.claims import describe, try_claim
from harness.errors import HarnessError
from harness.planning.cells import Cell
from harness.planning.request import Outputs
from harness.planning.context import RunContext
from harness.execution.record import completed_record, failed_record
from harness.records.store import set_aside, write_record
from harness.planning.status import RecordState, record_verdict
from harness.data.tasks import TaskData
from harness.records.schema import ResultRecord

if TYPE_CHECKING:
    from harness.train.result import CellResult


class OutcomeStatus(StrEnum):
    COMPLETED = "completed"
    SKIPPED = "skipped"  # the record is up to date
    CLAIMED = "claimed"  # by another live run, which trains it
    FAILED = "failed"


@dataclass
class CellOutcome:
    """What an executor gets back from a cell (the record itself is on disk)."""

    task: str
    model: str
    seed: int
    status: OutcomeStatus
    path: Path
    error: str | None = None
    seconds: float = 0.0
    summary: str = ""
    trial: str = ""  # a search trial's values, e.g. "trial learning_rate=2e-05"

    @property
    def label(self) -> str:
        return f"{self.task} / {self.model} / " + (f"{self.trial} / " if self.trial else "") + f"seed {self.seed}"


def skipped(cell: Cell) -> CellOutcome:
    return CellOutcome(cell.task.name, cell.model.name, cell.seed, OutcomeStatus.SKIPPED, cell.path,
                       summary=f"a record with config {cell.config_hash} exists")


def execute_cell(cell: Cell, data: TaskData, outputs: Outputs, ctx: RunContext,
                 log: Callable[[str], None] = print, progress_bar: bool = False, force: bool = False,
                 checkpoint: bool | None = None) -> CellOutcome:
    """Train one cell and write its record atomically. Any failure becomes a failed record: the
    grid goes on. A NaN loss under bf16/fp16 is retried once in fp32; out of memory is handled
    inside the training loop (halved batches, bounded) and recorded in `fallbacks`. The cell gets
    what the run writes (`outputs`), whether to train a done cell again (`force`) and whether to
    checkpoint (None: cells planned for more than CHECKPOINT_MIN_STEPS steps)."""
    claim, owner = try_claim(cell.path)
    if claim is None:
        return CellOutcome(cell.task.name, cell.model.name, cell.seed, OutcomeStatus.CLAIMED, cell.path,
                           summary=f"claimed by another live run, {describe(owner)}: trained there, not here")
    try:
        if _current_record(cell, log) and not force:  # finished by another run since the plan
            return skipped(cell)
        checkpoint = checkpoint if checkpoint is not None else cell.steps > CHECKPOINT_MIN_STEPS
        return _execute_claimed(cell, data, outputs, checkpoint, ctx, log, progress_bar, claim)
    finally:
        claim.release()


def _current_record(cell: Cell, log: Callable[[str], None]) -> bool:
    """Whether the cell's record is current (harness.planning.status), read once now that the cell
    is claimed: another run may have finished it since the plan. An unreadable record is set
    aside (kept, never deleted) so the cell reruns."""
    verdict = record_verdict(cell.path, cell.config_hash)
    if verdict.state is RecordState.UNREADABLE:
        kept = set_aside(cell.path)
        log(f"      unreadable record set aside: {kept} ({verdict.reason})")
    return verdict.current


def record_failure(cell: Cell, ctx: RunContext, exc: BaseException, precision: str,
                   seconds: float = 0.0) -> CellOutcome:
    """Write a failed cell's record (the local and the Ray executors both end a failed cell here)."""
    record = failed_record(cell.facts, ctx, exc, precision)
    write_record(cell.path, record)
    return CellOutcome(cell.task.name, cell.model.name, cell.seed, OutcomeStatus.FAILED, cell.path, record.error, seconds)


def _execute_claimed(cell: Cell, data: TaskData, outputs: Outputs, checkpoint: bool, ctx: RunContext,
                     log: Callable[[str], None], progress_bar: bool, claim) -> CellOutcome:
    from harness.train.checkpoint import remove_legacy, work_dir
    from harness.train.finetune import CellRun, fine_tune_cell
    from harness.train.callbacks import NaNLossError

    started = time.time()
    cell.facts.started = started
    cell.facts.fallbacks = []
    if claim.took_over:
        cell.facts.took_over = claim.took_over
        log(f"      took over the claim of a dead run: {describe(claim.took_over)}")
    remove_legacy(cell.path.parent)
    precision = ctx.precision
    body: CellResult | None = None
    error: BaseException | None = HarnessError(cell.error) if cell.error else None
    while error is None:
        run = CellRun(
            data=data, model=cell.model, identity=cell.identity, device=ctx.device, recipe=cell.recipe,
            seed=cell.seed, precision=precision, output_dir=cell.path.parent,
            save_model=outputs.save_model and cell.facts.kind != "trial",
            report_to=list(outputs.report_to) if cell.facts.kind == "trial" else outputs.trackers,
            progress_bar=progress_bar, score_test=cell.facts.kind != "trial",
            work_dir=work_dir(cell.path), checkpoint=checkpoint and precision == ctx.precision,
            config_hash=cell.config_hash,
        )
        cell.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            body = _evaluate(run, cell) if cell.facts.kind == "evaluation" else fine_tune_cell(run)
            break
        except NaNLossError as exc:
            if precision == "fp32":
                error = exc
                break
            cell.facts.fallbacks.append(f"NaN loss in {precision} ({exc}); retried in fp32")
            log(f"      NaN loss in {precision}; retrying in fp32")
            precision = "fp32"
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed cell is recorded, the grid goes on
            error = exc
    seconds = time.time() - started
    if body is None:
        return record_failure(cell, ctx, error, precision, seconds)
    record = completed_record(cell.facts, ctx, body, precision, outputs.options())  # not in the config hash
    write_record(cell.path, record)
    if cell.facts.kind == "trial":  # scored on validation only; no plots, no test figures
        val = record.metrics.validation
        summary = (f"trial: validation accuracy {100 * val.accuracy:.2f}%, macro-F1 {100 * val.macro_f1:.2f}%, "
                   f"MCC {100 * val.mcc:.2f}; "
                   f"{record.training.steps} steps -> {cell.path}")
        return CellOutcome(cell.task.name, cell.model.name, cell.seed, OutcomeStatus.COMPLETED, cell.path, None,
                           seconds, summary, trial=cell.label.split(" / ")[2])
    if record.saved_model:  # the model card needs the record's test CIs
        from harness.views.card import write_saved_model_card

        write_saved_model_card(record, log)
    if outputs.plots:
        _write_plots(record, cell.path.parent, log)
    test = record.test
    if record.evaluated:
        trained = "evaluated as published"
    else:
        trained = (f"{record.training.steps} steps; train "
                   f"{record.throughput.train_samples_per_s:.1f} samples/s")
    summary = (f"test accuracy {100 * test.accuracy:.2f}%, macro-F1 {100 * test.macro_f1:.2f}%, "
               f"MCC {100 * test.mcc:.2f}; {trained} -> {cell.path}")
    return CellOutcome(cell.task.name, cell.model.name, cell.seed, OutcomeStatus.COMPLETED, cell.path, None, seconds,
                       summary)


def _evaluate(run, cell: Cell) -> CellResult:
    from harness.train.evaluate import evaluate_cell

    return evaluate_cell(run, cell.alignment)


def _write_plots(record: ResultRecord, folder: Path, log: Callable[[str], None]) -> None:
    """Plots are a view of the record: if drawing fails, the record stays and the run goes on."""
    try:
        from harness.views.plots import write_cell_plots

        write_cell_plots(record, folder)
    except Exception as exc:  # noqa: BLE001
        log(f"      plots not written: {type(exc).__name__}: {exc}")
