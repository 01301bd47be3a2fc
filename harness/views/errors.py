"""`harness errors`: the misclassified test examples of a task, per model, with their text.

For one task (and optionally one model), every test row that at least one completed seed got
wrong: its text (re-read from the task's data, refused when the rows read no longer have the
record's test fingerprint), the gold label, each seed's prediction and the probability it gave
that prediction, the majority prediction and how many seeds agree on it, how many are wrong, the
mean confidence (over seeds, the probability of the predicted label) and the mean probability of
the gold label. Sorted by confidence (the most confident mistakes first) unless asked otherwise;
markdown, CSV and JSON here, and an HTML page (harness.views.errors_page, linked from
LEADERBOARD.html).

Records written before probabilities were kept list their errors without confidence, and say so.
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.records.schema import RecordKind, ResultRecord

SORTS = ("confidence", "gold", "wrong", "row")  # --sort: what comes first (see `sort_rows`)
NOT_RECORDED = "not recorded for this record (written before probabilities were kept)"


@dataclass
class SeedPrediction:
    seed: int
    label: str
    confidence: float | None  # the probability this seed gave its predicted label


@dataclass
class ErrorRow:
    row: int  # the example's position among the scored test rows
    text: dict[str, str]  # text column -> text
    gold: str
    seeds: list[SeedPrediction]
    majority: str  # the most frequent prediction (ties: the first label)
    agree: int  # seeds predicting the majority label
    wrong: int  # seeds that got it wrong
    confidence: float | None  # mean over seeds of the predicted label's probability
    gold_probability: float | None  # mean over seeds of the gold label's probability


@dataclass
class ModelErrors:
    model: str
    seeds: list[int]
    rows: int  # scored test rows
    errors: list[ErrorRow] = field(default_factory=list)
    note: str | None = None  # e.g. probabilities not recorded


@dataclass
class ErrorsReport:
    task: str
    text_columns: list[str]
    models: list[ModelErrors]
    sort: str

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=1, ensure_ascii=False, allow_nan=False) + "\n"

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["task", "model", "row", *self.text_columns, "gold", "majority", "agree", "seeds", "wrong",
                         "confidence", "gold_probability", "predictions"])
        for entry in self.models:
            for e in entry.errors:
                writer.writerow([self.task, entry.model, e.row, *(e.text.get(c, "") for c in self.text_columns), e.gold,
                                 e.majority, e.agree, len(e.seeds), e.wrong, _num(e.confidence),
                                 _num(e.gold_probability), _seed_text(e.seeds)])
        return out.getvalue()

    def to_markdown(self) -> str:
        lines = [f"# Misclassified test examples: {self.task}", "",
                 f"Rows that at least one seed got wrong, sorted by {_SORT_WORDS[self.sort]}. Confidence: the mean "
                 "over seeds of the probability each gave its predicted label; gold p: the mean probability of the "
                 "gold label.", ""]
        for entry in self.models:
            lines += [f"## {entry.model}", "", _summary(entry), ""]
            if entry.note:
                lines += [f"Confidence: {entry.note}.", ""]
            if not entry.errors:
                continue
            lines += ["| row | text | gold | predictions (seed: label p) | majority | agree | wrong | confidence | gold p |",
                      "|---:|---|---|---|---|---:|---:|---:|---:|"]
            for e in entry.errors:
                cells = [str(e.row), _text(e.text, self.text_columns), e.gold, _seed_text(e.seeds), e.majority,
                         f"{e.agree}/{len(e.seeds)}", f"{e.wrong}/{len(e.seeds)}", _num(e.confidence),
                         _num(e.gold_probability)]
                lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
            lines.append("")
        return "\n".join(lines)

    def render(self, fmt: str) -> str:
        if fmt == "md":
            return self.to_markdown()
        if fmt == "csv":
            return self.to_csv()
        if fmt == "json":
            return self.to_json()
        raise HarnessError(f"unknown errors format '{fmt}' (md, csv, json; html: harness.views.errors_page)")


_SORT_WORDS = {"confidence": "confidence (the most confident mistakes first)",
               "gold": "the gold label's probability (the lowest first)",
               "wrong": "how many seeds got it wrong (the most first)", "row": "row"}


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _seed_text(seeds: list[SeedPrediction]) -> str:
    return "; ".join(f"{s.seed}: {s.label}" + ("" if s.confidence is None else f" {s.confidence:.2f}") for s in seeds)


def _text(text: dict[str, str], columns: list[str]) -> str:
    return " ‖ ".join(text.get(c, "") for c in columns)


def _md_cell(value: str) -> str:
    return " ".join(str(value).split()).replace("\\", "\\\\").replace("|", "\\|")


def _summary(entry: ModelErrors) -> str:
    seeds = ", ".join(map(str, entry.seeds))
    return (f"{len(entry.errors)} of {entry.rows} test rows misclassified by at least one seed "
            f"(seeds {seeds}).")


# --------------------------------------------------------------------------- building
def sort_rows(rows: list[ErrorRow], sort: str) -> list[ErrorRow]:
    """confidence: the highest mean confidence first (confidently wrong); gold: the lowest gold
    probability first; wrong: the most wrong seeds first; row: test order. Ties (and rows without
    probabilities) follow in row order."""
    if sort not in SORTS:
        raise HarnessError(f"--sort {sort}: expected one of {', '.join(SORTS)}")
    keys = {
        "confidence": lambda e: (e.confidence is None, -(e.confidence or 0.0), e.row),
        "gold": lambda e: (e.gold_probability is None, e.gold_probability or 0.0, e.row),
        "wrong": lambda e: (-e.wrong, e.row),
        "row": lambda e: e.row,
    }
    return sorted(rows, key=keys[sort])


def model_errors(model: str, records: list[ResultRecord], texts: list[dict[str, str]], labels: list[str],
                 sort: str = "confidence", limit: int | None = None) -> ModelErrors:
    """The errors of one model's completed seed records (same test rows, `texts` in their order)."""
    import numpy as np

    records = sorted(records, key=lambda r: r.seed)
    refs = records[0].references["test"]
    for record in records[1:]:
        if record.references["test"] != refs:
            raise HarnessError(f"{record.task} / {model}: seed {record.seed} was scored on other test rows "
                               f"than seed {records[0].seed}; rerun the cell")
    preds = np.asarray([r.predictions["test"] for r in records], dtype=np.int64)  # seeds x rows
    probs = [_probabilities(r) for r in records]
    have = all(p is not None for p in probs)
    refs_a = np.asarray(refs, dtype=np.int64)
    wrong = (preds != refs_a).sum(axis=0)
    rows = []
    for i in np.flatnonzero(wrong):
        votes = Counter(preds[:, i].tolist())
        majority = min(votes, key=lambda label: (-votes[label], label))
        conf = [float(p[i, preds[s, i]]) for s, p in enumerate(probs)] if have else None
        gold = [float(p[i, refs_a[i]]) for p in probs] if have else None
        rows.append(ErrorRow(
            row=int(i), text=texts[i], gold=labels[refs_a[i]],
            seeds=[SeedPrediction(r.seed, labels[preds[s, i]], conf[s] if conf else None)
                   for s, r in enumerate(records)],
            majority=labels[majority], agree=votes[majority], wrong=int(wrong[i]),
            confidence=float(np.mean(conf)) if conf else None, gold_probability=float(np.mean(gold)) if gold else None,
        ))
    rows = sort_rows(rows, sort)[:limit]
    return ModelErrors(model=model, seeds=[r.seed for r in records], rows=len(refs), errors=rows,
                       note=None if have else NOT_RECORDED)


def _probabilities(record: ResultRecord):
    """The record's test probabilities, decoded only here (the views that do not need them never
    do); a block that does not decode to finite values in [0, 1] is a one-line error naming the cell."""
    block = (record.probabilities or {}).get("test")
    if block is None:
        return None
    from harness.probabilities import decode

    try:
        return decode(block.as_json())
    except ValueError as exc:
        raise HarnessError(f"{record.task}/{record.model}/seed-{record.seed}.json: probabilities.test: {exc}; "
                           "rerun the cell (harness run ... --force)") from None


def task_records(results: str | Path, task: str, model: str | None = None) -> list[tuple[Path, ResultRecord]]:
    """The completed final and evaluation records of `task` (and `model`, or its variants), read
    and validated; only that task's folder is read."""
    from harness.records.store import iter_record_paths, read_record

    out = []
    for path in iter_record_paths(results):
        if path.parent.parent.name != task:
            continue
        if model is not None and path.parent.name != model and not path.parent.name.startswith(f"{model}@"):
            continue
        record = read_record(path)
        if record.completed and record.kind is not RecordKind.TRIAL:
            out.append((path, record))
    if not out:
        which = f"task '{task}'" + (f", model '{model}'" if model else "")
        raise HarnessError(f"{results}: no completed record for {which}; see 'harness leaderboard {results}'")
    return out


def test_texts(spec, data, records: list[tuple[Path, ResultRecord]]) -> dict[Path, list[dict[str, str]]]:
    """Each record's scored test rows, re-read: the same fixed subset as the cell scored, refused
    (one line naming the record) when its fingerprint is not the record's test fingerprint."""
    from harness.data.encoding import subset, test_fingerprint

    cache: dict[Any, tuple[str, list[dict[str, str]]]] = {}
    out = {}
    for path, record in records:
        limit = record.config.recipe.get("max_eval_samples")
        if limit not in cache:
            rows = subset(data.splits["test"], limit)
            columns = rows.select_columns(list(spec.text)).to_dict()
            cache[limit] = (test_fingerprint(rows, spec),
                            [{c: columns[c][i] for c in spec.text} for i in range(len(rows))])
        fingerprint, texts = cache[limit]
        recorded = record.provenance.test_fingerprint
        if recorded is None:
            raise HarnessError(f"{path}: the record has no test fingerprint (written before it was recorded), so "
                               "its rows cannot be matched to the task's text; rerun the cell")
        if recorded != fingerprint:
            raise HarnessError(f"{path}: the test rows read now (fingerprint {fingerprint}) are not those the record "
                               f"scored ({recorded}); the task's data changed: use the data the run used (--data-dir) "
                               "or rerun the cell")
        out[path] = texts
    return out


def build_errors(results: str | Path, task: str, model: str | None = None, tasks_dir: list[str] | None = None,
                 data_dir: str | None = None, sort: str = "confidence", limit: int | None = None,
                 data=None) -> ErrorsReport:
    """The errors report of `task` (every model, or `model` and its variants) in `results`; the
    task's data is read (`tasks_dir`, `data_dir`) unless given as `data` (a loaded TaskData)."""
    sort_rows([], sort)  # a bad --sort fails before any record is read
    records = task_records(results, task, model)
    if data is None:
        from harness.data.tasks import get_task, load_registry, load_task

        data = load_task(get_task(task, load_registry(tasks_dir)), data_dir)
    texts = test_texts(data.spec, data, records)
    by_model: dict[str, list[tuple[Path, ResultRecord]]] = {}
    for path, record in records:
        by_model.setdefault(record.model, []).append((path, record))
    models = []
    for name, entries in sorted(by_model.items()):
        labels = list(entries[0][1].labels)
        models.append(model_errors(name, [r for _, r in entries], texts[entries[0][0]], labels, sort, limit))
    return ErrorsReport(task=task, text_columns=list(data.spec.text), models=models, sort=sort)
