"""Records: one builder for completed and failed cells."""
from __future__ import annotations
from harness.planning.context import CellFacts, RunContext

import traceback
from typing import Any
from harness.records.store import SCHEMA_VERSION


def completed_record(facts: CellFacts, ctx: RunContext, body: dict[str, Any], precision: str,
                     options: dict[str, Any]) -> dict[str, Any]:
    """The record of a trained cell. `body` is what train.fine_tune_cell measured; the scored
    test rows' fingerprint goes to provenance, and the batch is the one the optimizer saw."""
    from harness.stats import bootstrap_record_ci

    body = dict(body)
    scored_test = body.pop("test_fingerprint", None)
    throughput = body.get("throughput") or {}
    if throughput.get("batch_size"):
        throughput["optimizer_batch_size"] = throughput["batch_size"] * throughput.get("gradient_accumulation_steps", 1)
        throughput["devices"] = 1
    record = {
        "schema_version": SCHEMA_VERSION,
        "task": facts.task,
        "model": facts.model,
        "seed": facts.seed,
        "status": "completed",
        "error": None,
        **body,
        "config": {**facts.config, "options": options},
        "config_hash": facts.config_hash,
        "fallbacks": facts.fallbacks,
        "provenance": {**facts._provenance(ctx, precision), "test_fingerprint": scored_test,
                       "cpu_keep_heap": ctx.cpu_keep_heap},
        **facts._search_keys(),
    }
    if facts.kind == "trial":  # no test split: nothing to bootstrap
        return record
    record["metrics"]["test"]["bootstrap"] = bootstrap_record_ci(
        record["references"]["test"], record["predictions"]["test"], resamples=1000, seed=facts.seed,
        n_labels=len(record["labels"]),
    )
    return record


def failed_record(facts: CellFacts, ctx: RunContext, exc: BaseException, precision: str) -> dict[str, Any]:
    message = f"{type(exc).__name__}: {exc}".strip()
    short = message.splitlines()[0][:500] if message else type(exc).__name__
    return {
        "schema_version": SCHEMA_VERSION,
        "task": facts.task,
        "model": facts.model,
        "seed": facts.seed,
        "status": "failed",
        "error": short,
        "traceback": traceback.format_exception(exc)[-6:],
        "labels": facts.labels,
        "config": facts.config,
        "config_hash": facts.config_hash,
        "fallbacks": facts.fallbacks,
        "provenance": facts._provenance(ctx, precision),
        **facts._search_keys(),
    }
