"""Records -> task x model cells, and the one rule that decides "scored on the same test set".

Every view (leaderboard, compare, baseline export, report) groups records with `group_records`
(raw records, completed vs failed, sorted by seed) or `cells_from_records` (the typed `SeedRun`s a
paired test needs), and asks `test_set_problem` whether two groups of runs can be compared.

Same test set: every run carries the same test-split fingerprint (`provenance.test_fingerprint`, a
digest of exactly the scored test rows); when any run lacks it (records written before it existed)
the whole-data fingerprint decides instead. The references and label lists must match as well.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from harness.errors import HarnessError
from harness.metrics import metric_names
from harness.records.schema import ResultRecord

TEST_METRICS = metric_names()


# --------------------------------------------------------------------------- raw groups
@dataclass
class RecordGroup:
    """The records of one task x model: scored (completed with test metrics) and failed, by seed."""

    task: str
    model: str
    completed: list[ResultRecord] = field(default_factory=list)
    failed: list[ResultRecord] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.task} / {self.model}"


def group_records(records: Iterable[ResultRecord]) -> dict[tuple[str, str], RecordGroup]:
    """Records grouped by (task, model), each group's records sorted by seed; sorted keys.
    `completed` holds the records that count (`ResultRecord.completed`), `failed` the rest."""
    groups: dict[tuple[str, str], RecordGroup] = {}
    for record in sorted(records, key=lambda r: (r.task, r.model, r.seed)):
        group = groups.setdefault((record.task, record.model), RecordGroup(record.task, record.model))
        (group.completed if record.completed else group.failed).append(record)
    return dict(sorted(groups.items()))


# --------------------------------------------------------------------------- typed runs
@dataclass(frozen=True)
class SeedRun:
    """One completed seed of one cell: what a paired comparison needs."""

    seed: int
    predictions: list[int]
    references: list[int]
    labels: list[str]
    data_fingerprint: str | None
    config_hash: str
    provenance: dict[str, Any]
    metrics: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)  # the record's configuration (what compare diffs)
    kind: str = "final"  # "evaluation": a checkpoint evaluated as published (fixed weights, no seeds)

    @property
    def test_fingerprint(self) -> str | None:
        return self.provenance.get("test_fingerprint")

    @functools.cached_property
    def top_label(self) -> int:
        """The largest label id among its predictions and references (computed once)."""
        return int(max(self.prediction_array.max(initial=0), self.reference_array.max(initial=0)))

    @functools.cached_property
    def prediction_array(self):
        """The predictions as a read-only int64 numpy array (converted once, for the vectorised views;
        the bootstrap table keys its results by it)."""
        return _id_array(self.predictions)

    @functools.cached_property
    def reference_array(self):
        """The references as a read-only int64 array (one for every run of a test set: SharedReferences)."""
        return _id_array(self.references)


@dataclass
class SeedRuns:
    """One task x model's completed seeds, as a paired comparison reads them."""

    task: str
    model: str
    seeds: dict[int, SeedRun] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.task} / {self.model}"


def record_fingerprint(record: ResultRecord) -> str | None:
    return record.config.data_fingerprint or record.provenance.data_fingerprint


def seed_run(record: ResultRecord) -> SeedRun:
    """The typed run of a completed record; an error when its test predictions are missing."""
    predictions = (record.predictions or {}).get("test")
    references = (record.references or {}).get("test")
    if predictions is None or references is None:
        raise HarnessError(f"{record.where}: completed record without test predictions and references")
    return SeedRun(
        seed=record.seed,
        predictions=_ids(predictions),
        references=_ids(references),
        labels=list(record.labels),
        data_fingerprint=record_fingerprint(record),
        config_hash=record.config_hash,
        provenance=record.provenance.as_json(),
        metrics=record.test.as_json(),
        config=record.config.as_json(),
        kind=str(record.kind),
    )


def _id_array(ids: list[int]):
    """Label ids as a read-only int64 array, through bytes where every id is 0..255 (twice as fast
    as numpy reading the list)."""
    import numpy as np

    try:
        if type(ids) is not list:
            raise TypeError
        array = np.frombuffer(bytes(ids), dtype=np.uint8).astype(np.int64)
    except (TypeError, ValueError):  # an id outside 0..255
        array = np.asarray(ids, dtype=np.int64)
    array.flags.writeable = False
    return array


def _ids(values) -> list[int]:
    """Label ids as a list of ints: a record's own list when it is one (read_record validated it:
    no copy of 2,100 x 5,000 ids), else converted."""
    if type(values) is list and (not values or (type(values[0]) is int and type(values[-1]) is int)):
        return values
    return list(map(int, values))


def cells_from_records(records: Iterable[ResultRecord]) -> tuple[dict[tuple[str, str], SeedRuns], list[tuple[str, str, int]]]:
    """Group completed records into cells; return the cells and the (task, model, seed) of the rest."""
    cells: dict[tuple[str, str], SeedRuns] = {}
    failed: list[tuple[str, str, int]] = []
    runs = SharedReferences()
    for record in records:
        key = (record.task, record.model)
        if not record.completed:
            failed.append((*key, record.seed))
            continue
        cell = cells.setdefault(key, SeedRuns(*key))
        if record.seed in cell.seeds:
            raise HarnessError(f"{cell.name}: two records for seed {record.seed}")
        cell.seeds[record.seed] = runs.seed_run(record)
    return dict(sorted(cells.items())), sorted(failed)


class SharedReferences:
    """Seed runs whose equal test references are one list (and one array): 2 x 2,100 runs of
    5,000 rows hold 160 MB less, and a test set is converted and digested once, not once a run."""

    def __init__(self) -> None:
        self._runs: dict[str, list[SeedRun]] = {}  # task -> a run of each of its distinct reference lists

    def seed_run(self, record: ResultRecord) -> SeedRun:
        run = seed_run(record)
        known = self._runs.setdefault(record.task, [])
        same = next((other for other in known if other.references == run.references), None)
        if same is None:
            known.append(run)
            return run
        run = dataclasses.replace(run, references=same.references)
        run.__dict__["reference_array"] = same.reference_array  # the cached property, shared (read-only)
        return run


# --------------------------------------------------------------------------- same test set
def test_identity(runs: list[SeedRun]) -> tuple[str, Callable[[SeedRun], Any]]:
    """What identifies the test set of these runs: the test-split fingerprint when every run has
    one (records written before it existed lack it), else the whole-data fingerprint."""
    if all(r.test_fingerprint for r in runs):
        return "test-split fingerprint", lambda r: r.test_fingerprint
    return "data fingerprint", lambda r: r.data_fingerprint


def test_set_problem(cell_name: str, cand: list[SeedRun], base: list[SeedRun]) -> str | None:
    """Why these runs (two sides of a comparison) were not scored on one and the same test set, or None."""
    what, identity = test_identity(cand + base)
    fingerprints = {side: sorted({identity(r) for r in runs if identity(r)})
                    for side, runs in (("candidate", cand), ("baseline", base))}
    for side, values in fingerprints.items():
        if len(values) > 1:
            return f"{cell_name}: the {side}'s seeds have different {what}s ({', '.join(values)})"
    if fingerprints["candidate"] and fingerprints["baseline"] and fingerprints["candidate"] != fingerprints["baseline"]:
        return (f"{cell_name}: different test sets: {what} {fingerprints['candidate'][0]} (candidate) "
                f"vs {fingerprints['baseline'][0]} (baseline)")
    reference = base[0].references
    for side, runs in (("candidate", cand), ("baseline", base)):
        for run in runs:
            if run.references != reference:
                if len(run.references) != len(reference):
                    detail = f"{len(run.references)} test examples vs {len(reference)}"
                else:
                    differ = sum(a != b for a, b in zip(run.references, reference))
                    detail = f"{differ} of {len(reference)} references differ"
                return f"{cell_name}: different test sets: the {side}'s seed {run.seed} references do not match ({detail})"
    labels = base[0].labels
    for side, runs in (("candidate", cand), ("baseline", base)):
        for run in runs:
            if run.labels != labels:
                return f"{cell_name}: different label lists: {side} seed {run.seed} has {run.labels} vs {labels}"
            if len(run.predictions) != len(run.references):
                return (f"{cell_name}: {side} seed {run.seed} has {len(run.predictions)} predictions for "
                        f"{len(run.references)} test examples")
            top = run.top_label
            if labels and top >= len(labels):
                return f"{cell_name}: {side} seed {run.seed} has label id {top}, outside its {len(labels)} labels"
    if not reference:
        return f"{cell_name}: empty test set"
    return None


def n_labels(runs: list[SeedRun]) -> int:
    """The label count a metric needs: the label list, or one more than the largest id seen."""
    return max(max(len(r.labels) for r in runs), 1 + max(r.top_label for r in runs))
