"""Build one pretraining artifact: claim it like a cell, pretrain (resuming a killed run from its
last checkpoint), write the model folder and then, last and atomically, its record. A failure is
a failed artifact record; the fine-tune cells that need it fail with its error."""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import Callable

from harness.planning.context import RunContext, iso
from harness.planning.pretrain import PretrainStep, artifact_status
from harness.planning.request import Execution
from harness.env import pretrain_wait_s
from harness.records.claims import describe, try_claim
from harness.records.pretrain import PRETRAIN_SCHEMA_VERSION, PretrainRecord, write_pretrain_record
from harness.records.schema import RecordStatus


@dataclass
class PretrainOutcome:
    model: str
    key: str
    status: str  # completed | failed | skipped
    error: str | None = None
    summary: str = ""


POLL_S = 1.0  # seconds between looks at another run's claim: one small file read, and the cells start soon after


def execute_pretraining(step: PretrainStep, request: Execution, ctx: RunContext,
                        log: Callable[[str], None] = print) -> PretrainOutcome:
    claim = _claim_or_wait(step, log)
    if isinstance(claim, PretrainOutcome):
        return claim
    try:
        if not request.force and artifact_status(step.record_path, step.key) == "done":
            return PretrainOutcome(step.name, step.key, "skipped", summary="built by another run")
        return _build(step, ctx, log)
    finally:
        claim.release()


def _claim_or_wait(step: PretrainStep, log: Callable[[str], None]):
    """Our claim on the artifact; while another live run holds it, wait (polling every POLL_S)
    until it releases the claim (then the artifact is normally done: the caller uses it) or the
    claim goes stale (its owner died: try_claim takes it over and this run builds it, resuming
    from the checkpoints). Past HARNESS_PRETRAIN_WAIT_S: a failed outcome, nothing written; the
    cells fail with it and a rerun retries."""
    deadline = time.monotonic() + pretrain_wait_s()
    started, waiting = time.monotonic(), False
    while True:
        claim, owner = try_claim(step.record_path)
        if claim is not None:
            if waiting:
                log(f"      waited {time.monotonic() - started:.0f}s for '{step.name}': the other run's claim is gone")
            return claim
        if not waiting:
            log(f"      pretraining '{step.name}' is being built by another live run, {describe(owner)}: waiting for it")
            waiting = True
        if time.monotonic() >= deadline:
            step.status = "failed"
            step.error = (f"pretraining '{step.name}' is still being built by another live run, {describe(owner)}, after "
                          f"waiting {time.monotonic() - started:.0f}s (HARNESS_PRETRAIN_WAIT_S); rerun once it is done")
            return PretrainOutcome(step.name, step.key, "failed", step.error)
        time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))


def _build(step: PretrainStep, ctx: RunContext, log: Callable[[str], None]) -> PretrainOutcome:
    from harness.train.pretrain import PretrainRun, pretrain

    started = time.time()
    run = PretrainRun(step.model, step.source, step.corpus.train, step.corpus.heldout, ctx.device, ctx.precision,
                      step.model_dir, step.folder / ".work", step.key)
    record = {
        "schema_version": PRETRAIN_SCHEMA_VERSION, "kind": "pretrain", "model": step.name, "key": step.key,
        "source": step.source.as_config(), "pretrain": step.model.pretrain.model_dump(exclude={"corpus"}),
        "corpus": {**step.corpus.provenance(), "spec": step.model.pretrain.corpus.model_dump()},
    }
    try:
        body = pretrain(run)
    except KeyboardInterrupt:  # Ctrl-C / SIGTERM: the checkpoints stay for the rerun to resume
        raise
    except Exception as exc:  # noqa: BLE001 - a failed artifact is recorded; its cells fail with it
        shutil.rmtree(run.work_dir, ignore_errors=True)
        error = f"{type(exc).__name__}: {exc}"
        write_pretrain_record(step.folder, PretrainRecord.model_validate(
            {**record, "status": RecordStatus.FAILED, "error": error, "provenance": _provenance(ctx, started)}))
        step.status, step.error = "failed", f"pretraining '{step.name}' failed: {error}"
        return PretrainOutcome(step.name, step.key, "failed", error)
    write_pretrain_record(step.folder, PretrainRecord.model_validate(
        {**record, **body, "status": RecordStatus.COMPLETED, "provenance": _provenance(ctx, started)}))
    shutil.rmtree(run.work_dir, ignore_errors=True)  # after the record: a kill before it resumes from a checkpoint
    step.status = "done"
    summary = (f"held-out masked-LM loss {body['before']['loss']:.3f} -> {body['after']['loss']:.3f} "
               f"(perplexity {body['after']['perplexity']:.1f}); {body['steps']} steps, {body['tokens_seen']} tokens; "
               f"{body['throughput'].train_tokens_per_s or 0:.0f} tokens/s -> {step.folder}")
    return PretrainOutcome(step.name, step.key, "completed", None, summary)


def _provenance(ctx: RunContext, started: float) -> dict:
    return {**ctx.provenance(), "precision": ctx.precision, "started_at": iso(started), "finished_at": iso(time.time())}


def build_artifacts(plan, log: Callable[[str], None] = print) -> list[PretrainOutcome]:
    """The local path: every artifact the plan's cells need, before them. A cell whose artifact
    failed fails with that error (a failed record), the grid goes on."""
    outcomes = []
    for step in plan.pretraining_to_run():
        log(f"pretrain {step.label} on {plan.context.device.torch_device} ({plan.context.precision})")
        outcome = execute_pretraining(step, plan.execution, plan.context, log)
        log(f"      {outcome.status}: {outcome.summary or outcome.error}")
        outcomes.append(outcome)
    mark_failed_cells(plan)
    return outcomes


def mark_failed_cells(plan) -> None:
    failed = {s.name: s.error for s in plan.pretraining if s.error}
    for cell in plan.cells:
        if cell.model.name in failed and not cell.error:
            cell.error = failed[cell.model.name]
