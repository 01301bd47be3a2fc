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


def failed_record(facts: CellFacts, ctx: RunContext, exc: BaseException, precision: str) -> dict[str, Any]:
    short = failure_line(exc, facts)
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
