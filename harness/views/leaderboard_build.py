"""Records -> a Leaderboard: cells of mean and CI over seeds, the best-and-tied marks of the
seed-and-example test, averages, the throughput table and the footnote (harness.leaderboard
holds the data model and the formats)."""
from __future__ import annotations

import math
from typing import Any, Iterable

from pydantic import BaseModel

from harness.errors import HarnessError
from harness.views.leaderboard_model import ALPHA, AVERAGE, BOOTSTRAP_SEED, CONFIDENCE, EVALUATED, FAILED, METRICS, MISSING, RESAMPLES, THROUGHPUT_FIELDS, TIE_MARK, VERSION_KEYS, ScoreCell, Leaderboard, _display, _one_line, _pct, _unique
from harness.records.grouping import (
    RecordGroup, SeedRun, SharedReferences, group_records, n_labels, test_set_problem,
)
from harness.metrics import MCC_DEFINITION, metric_bounds
from harness.records.chance import at_chance
from harness.records.schema import ResultRecord, Throughput
from harness.views.formatting import AT_CHANCE_MARK, PRETRAINED_MARK
from harness.views.calibration import calibration_rows
from harness.views.leaderboard_json import Comparison, FailureJson, FootnoteJson, ThroughputJson
from harness.stats import SIGNIFICANCE_METHOD, ResampledMetrics, mean_ci, seed_example_test


def build_leaderboard(records: Iterable[ResultRecord]) -> Leaderboard:
    records = list(records)
    if not records:
        raise HarnessError("no result records to rank")
    tasks = sorted({r.task for r in records})
    models = sorted({r.model for r in records})
    groups = group_records(records)

    cells: dict[tuple[str, str, str], ScoreCell] = {}
    runs = _SeedRuns(ResampledMetrics(RESAMPLES, BOOTSTRAP_SEED))  # each seed run converted and resampled once
    for metric in METRICS:
        for task in tasks:
            for model in models:
                group = groups.get((task, model), RecordGroup(task, model))
                values = [r.test.score(metric) for r in group.completed]
                cells[(metric, task, model)] = ScoreCell(
                    task=task,
                    model=model,
                    metric=metric,
                    seeds=[r.seed for r in group.completed],
                    failed_seeds=[r.seed for r in group.failed],
                    values=values,
                    stats=mean_ci(values, CONFIDENCE, bounds=metric_bounds(metric)),
                    example_interval=_example_interval(group.completed, metric),
                )
            runs.prepare(metric, [groups[(task, m)] for m in models if (task, m) in groups])
            _mark_column(metric, task, models, cells, groups, runs)
            for model in models:
                if (task, model) in groups and groups[(task, model)].completed:
                    cells[(metric, task, model)].at_chance = runs.chance(groups[(task, model)])

    averages: dict[tuple[str, str], float | None] = {}
    best_average: dict[str, set[str]] = {}
    order: dict[str, list[str]] = {}
    for metric in METRICS:
        for model in models:
            means = [cells[(metric, task, model)].mean for task in tasks]
            averages[(metric, model)] = None if any(m is None for m in means) else sum(means) / len(means)
        shown = {m: _display(averages[(metric, m)]) for m in models if averages[(metric, m)] is not None}
        top = max(shown.values(), default=None)
        best_average[metric] = {m for m, v in shown.items() if v == top}
        ranked = sorted(shown, key=lambda m: (-averages[(metric, m)], m))
        order[metric] = ranked + [m for m in models if m not in shown]

    failures: list[FailureJson] = [
        {
            "task": r.task,
            "model": r.model,
            "seed": r.seed,
            "error": _one_line(r.error or "completed without test metrics"),
        }
        for group in groups.values()
        for r in group.failed
    ]
    throughput = _throughput(groups)
    return Leaderboard(
        tasks=tasks,
        models=models,
        cells=cells,
        averages=averages,
        best_average=best_average,
        order=order,
        throughput=throughput,
        footnote=_footnote(records, groups, tasks),
        failures=failures,
        suite=_one_suite(records),
        model_marks=model_marks(records),
        calibration=calibration_rows(groups),
    )


def model_marks(records: list[ResultRecord]) -> dict[str, str]:
    """The one place that decides a row's model mark: ¶ for a spec pretrained by the harness
    (its footnote line, starting with the mark, names the corpus and the budget)."""
    from harness.views.pretrain_views import pretrained_specs

    return {model: PRETRAINED_MARK for model in sorted(pretrained_specs(records))}


def _one_suite(records: list[ResultRecord]) -> str | None:
    """The suite every record was run by (`harness run --suite NAME`), else None."""
    suites = {_suite(r) for r in records}
    return next(iter(suites)) if len(suites) == 1 else None


def _suite(record: ResultRecord) -> str | None:
    """The suite in the run options a record keeps beside its config (not hashed), or None."""
    options = record.config.value("options")
    return options.get("suite") if isinstance(options, dict) else None


def _example_interval(completed: list[ResultRecord], metric: str) -> dict[str, float] | None:
    """A checkpoint evaluated as published (one record, nothing trained): the record's percentile
    bootstrap interval over test examples, shown instead of a seed interval."""
    if len(completed) != 1 or not completed[0].evaluated:
        return None
    interval = completed[0].test.interval(metric)
    if interval.low is None or interval.high is None:
        return None
    return {"low": interval.low, "high": interval.high}


def _mark_column(
    metric: str,
    task: str,
    models: list[str],
    cells: dict[tuple[str, str, str], ScoreCell],
    groups: dict[tuple[str, str], RecordGroup],
    runs: "_SeedRuns",
) -> None:
    """Bold the best mean(s) of a task column; mark the models not significantly different from it."""
    scored = [m for m in models if cells[(metric, task, m)].mean is not None]
    if not scored:
        return
    top = max(_display(cells[(metric, task, m)].mean) for m in scored)
    best = [m for m in scored if _display(cells[(metric, task, m)].mean) == top]
    for model in best:
        cells[(metric, task, model)].best = True
    reference = min(best, key=lambda m: (-cells[(metric, task, m)].mean, m))  # the highest raw mean
    for model in best:
        if model != reference:
            cells[(metric, task, model)].comparison = {"baseline": reference, "skipped": "same displayed mean as the best"}
    for model in scored:
        if model in best:
            continue
        cell = cells[(metric, task, model)]
        cell.comparison = _paired_test(
            metric, groups[(task, model)].completed, groups[(task, reference)].completed, reference, runs
        )
        cell.tie = cell.comparison.get("p_value") is not None and cell.comparison["p_value"] >= ALPHA


class _SeedRuns:
    """The typed seed runs of the records (converted once) and their shared bootstrap table."""

    def __init__(self, table: ResampledMetrics) -> None:
        self.table = table
        self._runs: dict[int, SeedRun] = {}
        self._shared = SharedReferences()  # one references list (digested once) per test set
        self._chance: dict[tuple[str, str], str | None] = {}

    def of(self, record: ResultRecord) -> SeedRun:
        key = id(record)
        if key not in self._runs:
            self._runs[key] = self._shared.seed_run(record)
        return self._runs[key]

    def chance(self, group: RecordGroup) -> str | None:
        key = (group.task, group.model)
        if key not in self._chance:
            try:
                self._chance[key] = at_chance([self.of(r) for r in group.completed])
            except HarnessError:
                self._chance[key] = None
        return self._chance[key]

    def prepare(self, metric: str, groups: list[RecordGroup]) -> None:
        """Resample every completed run of one task at once (grouped by test set and label count)."""
        by_test: dict[tuple, list] = {}
        for group in groups:
            for record in group.completed:
                try:
                    run = self.of(record)
                except HarnessError:
                    continue
                if len(run.predictions) == len(run.references) and run.references:  # keyed by a digest, not a tuple
                    by_test.setdefault((self.table.digest(run.references), len(run.labels)), []).append(run)
        for same in by_test.values():
            self.table.add(same[0].references, [r.prediction_array for r in same], metric, n_labels(same))


def _paired_test(
    metric: str, candidate: list[ResultRecord], best: list[ResultRecord], best_model: str, runs: _SeedRuns
) -> Comparison:
    """`stats.seed_example_test` of a model against the column's best, over the seeds both have."""
    by_seed_c = {r.seed: r for r in candidate}
    by_seed_b = {r.seed: r for r in best}
    common = sorted(set(by_seed_c) & set(by_seed_b))
    out: Comparison = {"baseline": best_model, "seeds": common, "method": SIGNIFICANCE_METHOD}
    if not common:
        return {**out, "skipped": "no seed in common with the best model"}
    try:
        cand = [runs.of(by_seed_c[s]) for s in common]
        base = [runs.of(by_seed_b[s]) for s in common]
    except HarnessError:
        return {**out, "skipped": "test predictions missing"}
    problem = test_set_problem("", cand, base)
    if problem:
        return {**out, "skipped": problem.lstrip(": ")}
    result = seed_example_test(
        base[0].references, [r.prediction_array for r in cand], [r.prediction_array for r in base], metric,
        n_labels(cand + base),
        resamples=RESAMPLES, seed=BOOTSTRAP_SEED, alpha=ALPHA, resampled=runs.table,
    )
    return {
        **out,
        "p_value": result["p_value"],
        "delta": _pct(result["delta"]),
        "low": _pct(result["low"]),
        "high": _pct(result["high"]),
        "pairs": result["pairs"],
        "df": result["df"],
        "training_variance_counted": result["training_variance_counted"],
        "resamples": RESAMPLES,
        "bootstrap_seed": BOOTSTRAP_SEED,
    }


def _throughput(groups: dict[tuple[str, str], RecordGroup]) -> list[ThroughputJson]:
    rows = []
    for task, model in sorted(groups, key=lambda key: (key[1], key[0])):
        completed = groups[(task, model)].completed
        if not completed:
            continue
        row: ThroughputJson = {"model": model, "task": task, "n_seeds": len(completed),
                               "evaluated": all(r.evaluated for r in completed)}
        for key, source, _ in THROUGHPUT_FIELDS:
            values = [_nested(r.throughput, source) for r in completed]
            values = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
            mean = sum(values) / len(values) if values else None
            if key == "parameters_m" and mean is not None:
                mean /= 1e6
            row[key] = mean
        for key in ("precision", "device"):
            seen = _unique(r.provenance.value(key) for r in completed)
            row[key] = ", ".join(seen) if seen else None
        rows.append(row)
    return rows


def _nested(throughput: Throughput | None, key: str) -> Any:
    """`latency.median_ms` -> the throughput's latency's median_ms (None where absent)."""
    value: Any = throughput
    for part in key.split("."):
        value = getattr(value, part, None) if isinstance(value, BaseModel) else None
    return value


CI_METHOD = (
    f"mean ± half-width of the {CONFIDENCE:.0%} Student-t confidence interval over seeds "
    "(t(0.975, n−1) × sample standard deviation / √n), shown as [low, high] where it is clipped to [0, 100]; "
    "(n) is the number of seeds; a single seed has no interval"
)
TIE_METHOD = (
    f"{SIGNIFICANCE_METHOD} (README, Statistics): a two-sided test of the difference on the same test examples "
    f"over the seeds both models have (paired by seed number) that counts both seed variance and test-example "
    f"variance ({RESAMPLES} bootstrap resamples, seed {BOOTSTRAP_SEED}), p ≥ {ALPHA}"
)


def _more_lines(records: list[ResultRecord], completed: list[ResultRecord]) -> list[str]:
    """The footnote's lines that only some results need: evaluated checkpoints, searches, pretraining."""
    from harness.views.pretrain_views import footnote_lines as pretraining_lines
    from harness.views.search_views import footnote_lines as search_lines

    lines = []
    if any(r.evaluated for r in completed):
        lines.append(f"`({EVALUATED})`: a checkpoint evaluated as published (its own head, nothing trained, one "
                     f"deterministic record): [low, high] is the {CONFIDENCE:.0%} percentile bootstrap interval over "
                     "test examples, not over seeds; it has no training variance. Against it, † counts the test "
                     "examples' variance (and the other model's seeds where it has them on common seeds only).")
    lines += search_lines(records)  # which cells a search selected, and over what
    lines += pretraining_lines(records)  # which specs were pretrained here, on what corpus, with what budget
    return lines


def _footnote(
    records: list[ResultRecord], groups: dict[tuple[str, str], RecordGroup], tasks: list[str]
) -> FootnoteJson:
    completed = [r for g in groups.values() for r in g.completed]
    test_sizes = {
        task: _unique(r.test.n for g in groups.values() if g.task == task for r in g.completed)
        for task in tasks
    }
    subsets = _unique(r.config.recipe.get("max_eval_samples") for r in records)
    definitions = _unique(r.metrics.macro_f1_definition for r in completed if r.metrics is not None)
    seeds = sorted({r.seed for r in records})
    seed_sets = {tuple(sorted(r.seed for r in g.completed + g.failed)) for g in groups.values()}
    versions = {key: _unique(r.provenance.value(key) for r in records) for key in VERSION_KEYS}
    memory_kinds = _unique(r.throughput.figure("memory_kind") for r in completed if r.throughput is not None)

    sizes_text = ", ".join(
        f"{task} {' / '.join(f'{n:,}' for n in sizes)}" if sizes else f"{task} n/a" for task, sizes in test_sizes.items()
    )
    ci_method, tie_method = CI_METHOD, TIE_METHOD
    single_seed = any(len(g.completed) == 1 for g in groups.values())
    version_text = ", ".join(
        f"{key} {' / '.join(vals)}" + (" (mixed)" if len(vals) > 1 else "") if vals else f"{key} n/a"
        for key, vals in versions.items()
    )
    seeds_text = ", ".join(map(str, seeds))
    if len(seed_sets) > 1:
        seeds_text += " (not every cell has every seed: see the (n) counts)"
    lines = [
        "Scores on the test split, in percent with 2 decimals"
        + (f" (a fixed subset: max_eval_samples = {', '.join(map(str, subsets))})" if subsets else "")
        + f"; test examples: {sizes_text}.",
        f"Cells: {ci_method}. `(k of n seeds; f failed)`: the mean over the k completed seeds only.",
        f"{AT_CHANCE_MARK}: at chance level, i.e. test accuracy not significantly above the majority-class rate "
        f"(one-sided binomial test over the pooled seeds, p ≥ 0.05) or a seed predicting one class for every row. "
        f"`{FAILED}`: every seed of the cell failed; `{MISSING}`: no record for this task × model. "
        "Neither counts as 0 or enters an average.",
        f"`{AVERAGE}`: mean over tasks of the per-task means, only for models with a result on every task "
        f"(otherwise `{MISSING}`). Rows are ranked by it.",
        f"**Bold**: best mean of the column. {TIE_MARK} (bold too): not significantly different from the column's "
        f"best model — {tie_method}. No {TIE_MARK} where the two models' test sets differ (test-split or data "
        "fingerprint, references) or they share no seed."
        + (" Where a model has one seed, training (seed) variance is not accounted for: only the test examples' is."
           if single_seed else ""),
        "Macro-F1: " + (" / ".join(definitions) if definitions else "n/a") + ".",
        f"MCC: {MCC_DEFINITION}; -1..1, shown x 100 like the others (intervals clipped to -100..100).",
        f"Seeds: {seeds_text}.",
        f"Versions: {version_text}.",
        "Throughput: mean over completed seeds; training counts optimizer steps only, tokens are real "
        "(non-padding) tokens; batch-1 latency: median and 95th percentile over up to 200 test examples scored "
        "one at a time after 5 warm-up calls (at least 20, within about 3 s), on the device and precision shown; "
        "peak memory: "
        + (", ".join(memory_kinds) if memory_kinds else "n/a") + ".",
    ]
    lines += _more_lines(records, completed)
    return {
        "split": "test",
        "unit": "percent",
        "test_examples": {task: sizes for task, sizes in test_sizes.items()},
        "max_eval_samples": subsets,
        "macro_f1_definition": definitions[0] if len(definitions) == 1 else definitions,
        "seeds": seeds,
        "versions": {key: (vals[0] if len(vals) == 1 else vals or None) for key, vals in versions.items()},
        "ci_method": ci_method,
        "confidence": CONFIDENCE,
        "tie_method": tie_method,
        "significance_method": SIGNIFICANCE_METHOD,
        "alpha": ALPHA,
        "resamples": RESAMPLES,
        "bootstrap_seed": BOOTSTRAP_SEED,
        "memory_kind": memory_kinds,
        "lines": lines,
    }
