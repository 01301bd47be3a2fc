"""Cells of a plan and the one rule that decides whether a record is current for a cell."""
from __future__ import annotations
from harness.planning.request import Execution, Outputs, RunRequest

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict
from harness.planning.identity import ModelIdentity
from harness.spec.models import ModelRegistry
from harness.planning.context import CellFacts, ConfigExtra, RunContext, cell_config, config_hash
from harness.spec.model import ModelSpec
from harness.spec.recipe import Recipe
from harness.spec.task import TaskSpec
from harness.records.store import record_path
from harness.planning.status import CellStatus, RecordState, RecordVerdict, cell_status, record_verdict
from harness.data.tasks import TaskData
from harness.spec.recipe import RecipeValue
from harness.spec.search import Selection


class CellRow(TypedDict):
    """One cell of `harness plan --json`."""

    task: str
    model: str
    seed: int
    status: CellStatus
    config_hash: str | None  # None: a final cell waiting for its search's selection
    estimated_rows: int
    path: str
    kind: str
    trial: NotRequired[dict[str, RecipeValue]]  # a trial's searched values
    note: NotRequired[str]


class PlanJson(TypedDict):
    """`harness plan --json`: the summary, the counts and every cell."""

    summary: str
    counts: dict[str, int]
    results: str
    executor: str
    precision: str
    device: str
    cells: list[CellRow]
    search_trials_planned: int
    pretraining: list[Any]  # harness.planning.pretrain.PretrainRow (that module imports this one)


@dataclass
class Cell:
    task: TaskSpec
    model: ModelSpec
    seed: int
    path: Path
    status: CellStatus
    facts: CellFacts
    recipe: Recipe
    identity: ModelIdentity | None  # None: the model could not be resolved (the cell fails)
    error: str | None = None
    cost: float = 0.0  # estimated training rows seen: rows x epochs, or steps x batch
    pending: bool = False  # a final cell that waits for its search's selection
    verdict: RecordVerdict = field(default_factory=lambda: RecordVerdict(RecordState.MISSING))  # its record, read once
    alignment: Any = None  # an evaluation cell's harness.planning.labels.Alignment

    @property
    def kind(self) -> str:
        return self.facts.kind  # final, or trial (a search trial)

    @property
    def steps(self) -> float:
        """Estimated optimizer steps (decides default checkpointing)."""
        return self.cost / (self.recipe.batch_size * self.recipe.gradient_accumulation_steps)

    @property
    def label(self) -> str:
        if self.kind == "trial":
            values = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in self.facts.config["recipe"].items() if k in self._searched())
            return f"{self.task.name} / {self.model.name} / trial {values} / seed {self.seed}"
        if self.kind == "evaluation":
            return f"{self.task.name} / {self.model.name} / evaluation"
        return f"{self.task.name} / {self.model.name} / seed {self.seed}"

    def _searched(self) -> list[str]:
        return list(self.facts.config.get("searched", []))

    def note(self) -> str:
        if self.pending:
            return "configuration chosen by the search (after the trials)"
        if self.kind == "evaluation" and not self.error:
            return "evaluation: the checkpoint as published, nothing trained"
        if self.error:
            return self.error
        if self.status is CellStatus.STALE:
            return self.stale_reason()
        return ""

    def stale_reason(self) -> str:
        """Why the record on disk is not this cell's: the configuration keys that changed (old -> new)."""
        if self.verdict.state is RecordState.UNREADABLE:
            return f"record unreadable: {self.verdict.reason}"
        record = self.verdict.record
        if self.verdict.state is not RecordState.STALE or record is None:
            return ""
        from harness.records.pairing import flatten

        old, new = flatten(record.config.as_json()), flatten(self.facts.config)
        changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        if not changed:
            return "changed: the config hash only (same keys and values: another harness version's hash)"
        shown = "; ".join(f"{k} {_short(old.get(k))} -> {_short(new.get(k))}" for k in changed[:4])
        return f"changed: {shown}" + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")

    @property
    def config_hash(self) -> str:
        return self.facts.config_hash

    def row(self) -> CellRow:
        return {"task": self.task.name, "model": self.model.name, "seed": self.seed, "status": self.status,
                "config_hash": None if self.pending else self.config_hash, "estimated_rows": int(self.cost),
                "path": str(self.path), "kind": self.kind,
                **({"trial": {k: self.recipe.model_dump()[k] for k in self._searched()}} if self.kind == "trial" else {}),
                **({"note": self.note()} if self.note() else {})}


@dataclass
class Plan:
    request: RunRequest
    results: Path
    cells: list[Cell]
    data: dict[str, TaskData]
    context: RunContext
    registry: ModelRegistry
    offline: bool = False
    searches: list = field(default_factory=list)  # harness.search.Search: task x model pairs with a search
    pretraining: list = field(default_factory=list)  # harness.planning.pretrain.PretrainStep, one per spec with pretrain:

    @property
    def execution(self) -> Execution:
        """How the cells run (executor, device, force, checkpoint): what executors read."""
        return self.request.execution

    @property
    def outputs(self) -> Outputs:
        """What the run writes beside its records: what a cell receives."""
        return self.request.outputs

    def pretraining_to_run(self) -> list:
        """Artifacts the cells to train need and that are not built (or all of them with --force).
        One that another live run is building is among them: this run waits for it
        (harness.execution.pretrain), then uses it, or builds it if that run dies."""
        needed = {c.model.name for c in self.to_run()}
        return [s for s in self.pretraining if s.name in needed and (self.execution.force or s.status != "done")]

    def to_run(self) -> list[Cell]:
        """Cells the executors train: everything not done, or everything with --force."""
        return [c for c in self.cells
                if c.status is not CellStatus.RUNNING and (self.execution.force or c.status is not CellStatus.DONE)]

    def counts(self) -> dict[str, int]:
        return {str(s): sum(c.status is s for c in self.cells) for s in CellStatus}

    def summary(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items() if n)
        finals = [c for c in self.cells if c.kind != "trial"]
        search = ""
        if self.searches:
            planned = sum(s.spec.planned_trials() * s.spec.seeds for s in self.searches)
            search = (f" + {planned} search trial cell(s) on the validation split for {len(self.searches)} "
                      f"task x model pair(s), {len(self.cells) - len(finals)} proposed so far")
        evaluations = sum(c.kind == "evaluation" for c in finals)
        seeds = len({c.seed for c in finals if c.kind == "final"})
        grid = (f"{seeds} seed(s)" + (f" ({evaluations} evaluation cell(s): no seeds)" if evaluations else "")
                if seeds else "evaluation (no seeds)")
        pretrain = (f"{len(self.pretraining)} pretraining artifact(s) ({sum(s.status == 'done' for s in self.pretraining)} "
                    f"built) before the cells; " if self.pretraining else "")
        return pretrain + (f"{len(self.data)} task(s) x {len({c.model.name for c in finals})} model(s) x "
                f"{grid} = {len(finals)} cell(s){search} ({counts}); "
                f"{len(self.to_run())} to train -> {self.results}; executor {self.execution.executor}, "
                f"device {self.context.device.torch_device}, precision {self.context.precision}"
                + (" (offline)" if self.offline else ""))

    def to_json(self) -> PlanJson:
        return {"summary": self.summary(), "counts": self.counts(), "results": str(self.results),
                "executor": self.execution.executor, "precision": self.context.precision,
                "device": self.context.device.torch_device, "cells": [c.row() for c in self.cells],
                "search_trials_planned": sum(s.spec.planned_trials() * s.spec.seeds for s in self.searches),
                "pretraining": [s.row() for s in self.pretraining]}

    def table(self) -> str:
        from tabulate import tabulate

        rows = [["(pretrain)", s.name, s.model.pretrain.seed, s.status, s.key, s.model.pretrain.max_steps * s.model.pretrain.batch_size,
                 f"masked-LM pretraining on {s.corpus.provenance()['rows']} texts, before its cells"] for s in self.pretraining]
        rows += [[c.task.name, c.model.name, c.seed, c.status, "-" if c.pending else c.config_hash, int(c.cost),
                 c.note() or (c.label.split(" / ")[2] if c.kind == "trial" else "")] for c in self.cells]
        return tabulate(rows, headers=["task", "model", "seed", "status", "config", "est. rows", "note"],
                        tablefmt="github")


def _short(value: Any) -> str:
    text = "(absent)" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
    return text if len(text) <= 40 else text[:39] + "…"


def estimated_cost(rows: int, recipe: Recipe) -> float:
    """Training rows a cell will see: the Ray executor schedules the longest cells first."""
    rows = min(rows, recipe.max_train_samples or rows)
    if recipe.max_steps:
        return float(recipe.max_steps * recipe.batch_size * recipe.gradient_accumulation_steps)
    return float(rows * recipe.max_epochs)


def _judge(path: Path, digest: str) -> tuple[CellStatus, RecordVerdict]:
    from harness.records.claims import live_claim

    verdict = record_verdict(path, digest)
    return cell_status(verdict, claimed_live=not verdict.current and live_claim(path) is not None), verdict


def _cell(task, model, seed, recipe, identity, data: TaskData, precision, results, *, kind: str = "final",
          path: Path | None = None, extra: ConfigExtra | None = None, selection: Selection | None = None,
          pending: bool = False, error: str | None = None) -> Cell:
    """One cell. A search adds `extra` config (its space: a changed space makes the final cells
    stale), a trial's own path and kind, and the final cells' selection (or `pending`)."""
    import time

    path = path or record_path(results, task.name, model.name, seed)
    if isinstance(identity, ModelIdentity):
        config = cell_config(task, data.fingerprint, model, identity, recipe, seed, precision)
    else:
        config = {"task": task.name, "model": model.model_dump(exclude={"search"}), "seed": seed, "precision": precision}
        error, identity = error or identity, None
    config.update(extra or {})
    digest = config_hash(config)
    facts = CellFacts(
        task=task.name, model=model.name, seed=seed, labels=list(task.labels), config=config, config_hash=digest,
        model_source=model.source, model_language=model.language or None, model_revision=identity.revision if identity else model.revision,
        model_content_hash=identity.content_hash if identity else None, data_fingerprint=data.fingerprint,
        data_files=data.files, data_dropped_empty=dict(data.dropped_empty), started=time.time(), kind=kind,
        selection=selection,
    )
    status, verdict = (CellStatus.TODO, RecordVerdict(RecordState.MISSING)) if pending else _judge(path, digest)
    return Cell(task, model, seed, path, status, facts, recipe, identity, error,
                estimated_cost(len(data.splits["train"]), recipe), pending, verdict)
