"""Records: one builder for completed and failed cells, each building the `ResultRecord` once."""
from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, TypedDict

from harness.planning.context import CellFacts, RunContext
from harness.planning.request import RecordOptions
from harness.records.schema import SCHEMA_VERSION, RecordStatus, ResultRecord

if TYPE_CHECKING:  # the trainer's module imports torch; a record needs only its result's shape
    from harness.train.result import CellResult


class RecordIdentity(TypedDict):
    """The keys every record starts with."""

    schema_version: int
    task: str
    model: str
    seed: int
    status: RecordStatus


def _identity(facts: CellFacts, status: RecordStatus) -> RecordIdentity:
    return {"schema_version": SCHEMA_VERSION, "task": facts.task, "model": facts.model, "seed": facts.seed,
            "status": status}


def completed_record(facts: CellFacts, ctx: RunContext, result: CellResult, precision: str,
                     options: RecordOptions) -> ResultRecord:
    """The record of a trained cell: what train.fine_tune_cell measured, the cell's config and the
    run's provenance (with the scored test rows' fingerprint)."""
    return ResultRecord(
        **_identity(facts, RecordStatus.COMPLETED), error=None, **result.body(),
        config={**facts.config, "options": options}, config_hash=facts.config_hash,
        fallbacks=[*facts.fallbacks, *result.fallbacks],
        provenance={**facts._provenance(ctx, precision), "test_fingerprint": result.test_fingerprint,
                    "cpu_keep_heap": ctx.cpu_keep_heap},
        **facts._search_keys(),
    )


def failure_line(exc: BaseException, facts: CellFacts) -> str:
    """The one line a failed record keeps: what went wrong and the file or setting at fault, never
    a library's multi-line advice; a search trial says which trial it was."""
    import re

    from harness.errors import HarnessError

    recipe = (facts.config or {}).get("recipe") or {}
    if isinstance(exc, HarnessError):
        line = str(exc)  # already names the file or field
    elif isinstance(exc, OSError) and exc.filename:
        line = f"{type(exc).__name__}: {exc.filename}: {exc.strerror or exc}"
    elif type(exc).__name__ == "OutOfMemoryError" or str(exc).startswith("CUDA out of memory"):  # torch's advice spans lines
        line = (f"out of memory with batch_size={recipe.get('batch_size')}, max_length={recipe.get('max_length')} "
                f"(after the bounded halving); lower them with --set batch_size=... or --set max_length=...")
    else:
        text = re.sub(r"\x1b\[[0-9;]*m", "", f"{type(exc).__name__}: {exc}").strip()
        line = next((part for part in text.splitlines() if part.strip()), type(exc).__name__)
    line = " ".join(line.split())[:400]
    if facts.kind == "trial":
        searched = (facts.config or {}).get("searched") or []
        values = ", ".join(f"{k}={recipe.get(k)}" for k in searched)
        line = f"search trial {values or '?'} (seed {facts.seed}): {line}"
    return line


def failed_record(facts: CellFacts, ctx: RunContext, exc: BaseException, precision: str) -> ResultRecord:
    return ResultRecord(
        **_identity(facts, RecordStatus.FAILED), error=failure_line(exc, facts),
        traceback=traceback.format_exception(exc)[-6:], labels=facts.labels, config=facts.config,
        config_hash=facts.config_hash, fallbacks=facts.fallbacks, provenance=facts._provenance(ctx, precision),
        **facts._search_keys(),
    )
