"""Regression testing: is a candidate worse than a baseline, beyond noise?

`harness compare CANDIDATE --baseline BASELINE` and `harness.assert_no_regression(...)`. Each side
is a results folder or a baseline file (`harness baseline export`). Cells are matched by task and
model, seeds are paired by seed number, and every task x model x metric gets
`stats.seed_example_test`: candidate minus baseline on the same test examples, with a variance that
counts both which seeds were trained and which test examples were drawn.

Verdict per comparison (deltas in points, i.e. metric x 100):
- regressed: p < alpha, delta < 0 and the drop is larger than `max_drop` points;
- improved: p < alpha and delta > 0 (no minimum size: any significant gain is reported);
- unchanged: everything else, including significant drops within the `max_drop` tolerance.
Each comparison also states the smallest drop it could have detected (80% power), within the
metric's range: a drop larger than the baseline's score is "not detectable at this test size", with
about how many test examples would detect a `max_drop` (at least 1-point) drop. Intervals are cut at
the metric's range (harness.metrics: low, high) and marked †.

Only the cells both sides have are compared; those only one side has are listed in the notes (an
error with `require_all`). `tasks` / `models` select cells; per cell, the configuration keys that
differ between the sides are listed.

Exit codes of the CLI: 0 nothing regressed, 1 something regressed, 2 the inputs cannot be compared
(different test sets, no common seeds, no common cell; with --require-all, a cell only one side
has), raised as HarnessError.
"""
from __future__ import annotations

from harness.metrics import METRICS as METRICS_REGISTRY, metric_names

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence
from harness.records.baselines import load_side
from harness.errors import HarnessError, check_number
from harness.records.grouping import SeedRuns, n_labels
from harness.records.pairing import filter_sides, pair_cells
from harness.stats import METRICS, POWER, SIGNIFICANCE_METHOD, examples_needed, format_p
from harness.stats_types import PairedTest
from harness.views.compare_json import CompareJson, ComparisonRow


DEFAULT_METRICS = metric_names()
METRIC_NAMES = {m.name: m.title for m in METRICS_REGISTRY.values()}
STATUSES = ("regressed", "improved", "unchanged")
_DETAILS_AFTER = 12  # unchanged rows beyond which the markdown folds the table into <details>
MAX_RESAMPLES = 100_000  # enough for a p-value resolution of 1e-5; more runs the machine out of memory
_EPS = 1e-9  # points: a drop of exactly max_drop (2 of 400 examples = 0.5) is not "larger" than it


# --------------------------------------------------------------------------- result types
@dataclass
class Comparison:
    """One task x model x metric. Metric values, delta and CI are in points (metric x 100)."""

    task: str
    model: str
    metric: str
    baseline: float
    candidate: float
    delta: float
    low: float
    high: float
    p_value: float
    pairs: int
    seeds: list[int]
    n_examples: int
    status: str  # regressed | improved | unchanged
    significant: bool
    detectable_drop: float | None  # points: max(max_drop, the drop detected with 80% power); None: none can be
    se: float  # points: standard error of the delta
    df: float  # degrees of freedom of the t reference distribution
    training_variance_counted: bool  # False with one seed pair: only test-example variance
    method: str = SIGNIFICANCE_METHOD
    clipped: bool = False  # the CI reached past what the metric's range allows and was cut there
    examples_needed: int | None = None  # when no drop is detectable: test examples that would detect max_drop
    config_changes: dict[str, list[Any]] = field(default_factory=dict)  # key -> [baseline, candidate]
    evaluated: bool = False  # both sides evaluated as published: fixed weights, no training variance exists

    @property
    def detectable_text(self) -> str:
        if self.detectable_drop is not None:
            return f"{self.detectable_drop:.2f}"
        needed = f"; about {self.examples_needed:,} needed" if self.examples_needed else "; more seeds needed"
        return f"not detectable at this test size ({self.n_examples} examples{needed})"

    @property
    def within_tolerance(self) -> bool:
        """A significant drop too small to count as a regression."""
        return self.significant and self.delta < 0 and self.status == "unchanged"


@dataclass
class ComparisonResult:
    comparisons: list[Comparison]
    metrics: list[str]
    alpha: float
    max_drop: float
    resamples: int
    seed: int
    candidate: str
    baseline: str
    notes: list[str] = field(default_factory=list)
    only: dict[str, list[str]] = field(default_factory=dict)  # side -> the cells only it has (not compared)

    # -- views
    def by_status(self, status: str) -> list[Comparison]:
        return [c for c in self.comparisons if c.status == status]

    @property
    def regressions(self) -> list[Comparison]:
        return sorted(self.by_status("regressed"), key=lambda c: c.delta)

    @property
    def improvements(self) -> list[Comparison]:
        return sorted(self.by_status("improved"), key=lambda c: -c.delta)

    @property
    def unchanged(self) -> list[Comparison]:
        return self.by_status("unchanged")

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    @property
    def exit_code(self) -> int:
        return 1 if self.regressed else 0

    @property
    def confidence(self) -> float:
        return 1 - self.alpha

    @property
    def ci_label(self) -> str:
        return f"{_num(100 * self.confidence)}% CI"

    @property
    def rule(self) -> str:
        return f"p < {_num(self.alpha)} and drop > {_num(self.max_drop)} points"

    @property
    def verdict(self) -> str:
        total = len(self.comparisons)
        if self.regressed:
            worst = self.regressions
            named = ", ".join(
                f"{c.task} / {c.model} {METRIC_NAMES.get(c.metric, c.metric)} {c.delta:+.2f} ({_p_phrase(c.p_value)})"
                for c in worst[:3]
            )
            more = f" and {len(worst) - 3} more" if len(worst) > 3 else ""
            return (f"**Regression:** {len(worst)} of {total} comparison(s) worse than the baseline beyond noise "
                    f"({self.rule}): {named}{more}.")
        return (f"**No regression:** 0 of {total} comparison(s) worse than the baseline beyond noise "
                f"({self.rule}); {len(self.improvements)} improved, {len(self.unchanged)} unchanged.")

    @property
    def method(self) -> str:
        from harness.views.compare_table import method_text

        return method_text(self)

    # -- renderings
    def to_dict(self) -> CompareJson:
        def rows(items: list[Comparison]) -> list[ComparisonRow]:
            return [{**asdict(c), "within_tolerance": c.within_tolerance} for c in items]

        return {
            "verdict": _plain(self.verdict),
            "regressed": self.regressed,
            "exit_code": self.exit_code,
            "candidate": _plain(self.candidate),
            "baseline": _plain(self.baseline),
            "settings": {
                "metrics": list(self.metrics), "alpha": self.alpha, "max_drop_points": self.max_drop,
                "confidence": self.confidence, "resamples": self.resamples, "bootstrap_seed": self.seed,
                "method_name": SIGNIFICANCE_METHOD, "power": POWER,
            },
            "units": "points (metric x 100) for baseline, candidate, delta, low and high",
            "counts": {s: len(self.by_status(s)) for s in STATUSES},
            "regressions": rows(self.regressions),
            "improvements": rows(self.improvements),
            "unchanged": rows(self.unchanged),
            "only_candidate": list(self.only.get("candidate", [])),
            "only_baseline": list(self.only.get("baseline", [])),
            "notes": list(self.notes),
            "method": self.method,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def to_markdown(self) -> str:
        lines = [self.verdict, "", f"Candidate: {self.candidate}. Baseline: {self.baseline}.", ""]
        for title, items, empty in (
            ("Regressions", self.regressions, "None."),
            ("Improvements", self.improvements, "None."),
            ("Unchanged", self.unchanged, "None."),
        ):
            lines += [f"### {title} ({len(items)})", ""]
            if not items:
                lines += [empty, ""]
                continue
            table = self._table(items)
            if title == "Unchanged" and len(items) > _DETAILS_AFTER:
                lines += ["<details><summary>Show the unchanged comparisons</summary>", "", table, "", "</details>", ""]
            else:
                lines += [table, ""]
            if any(c.clipped for c in items):
                lines += ["† the interval is cut at the metric's range (a score cannot leave it).", ""]
            if any(c.within_tolerance for c in items):
                lines += [f"\\* a significant drop (p < {_num(self.alpha)}) within the {_num(self.max_drop)}-point "
                          f"tolerance: not counted as a regression.", ""]
        from harness.views.compare_table import config_lines

        changed = config_lines(self.comparisons)
        if changed:
            lines += ["### Configuration differences (baseline → candidate)", ""] + changed + [""]
        if self.notes:
            lines += ["### Notes", ""] + [f"- {note}" for note in self.notes] + [""]
        lines += ["---", "", f"<sub>Method: {self.method}</sub>", ""]
        return "\n".join(lines)

    def _table(self, items: list[Comparison]) -> str:
        from harness.views.compare_table import comparison_table

        return comparison_table(items, self.ci_label)

    def render(self, fmt: str = "md") -> str:
        if fmt == "json":
            return self.to_json()
        if fmt == "md":
            return self.to_markdown()
        raise ValueError(f"unknown format '{fmt}' (md, json)")


def _num(value: float) -> str:
    return f"{value:g}"


def _p_phrase(p_value: float) -> str:
    text = format_p(p_value)
    return text.replace("< ", "p < ") if text.startswith("<") else f"p = {text}"


def _plain(markdown: str) -> str:
    return markdown.replace("**", "").replace("`", "")


# --------------------------------------------------------------------------- comparison
def compare(
    candidate_cells: Any,
    baseline_cells: Any,
    metrics: Sequence[str] = DEFAULT_METRICS,
    max_drop: float = 0.5,
    alpha: float = 0.05,
    resamples: int = 2000,
    seed: int = 0,
    tasks: Sequence[str] | str | None = None,
    models: Sequence[str] | str | None = None,
    require_all: bool = False,
) -> ComparisonResult:
    """Compare every task x model x metric the candidate and the baseline both have.

    Each side: a results folder or baseline file path, a list of result records, a mapping
    {(task, model): SeedRuns}, or a Side. `tasks` / `models` keep only those cells (a model name also
    selects its variants, model@NAME). Cells only one side has are listed in the notes and
    `result.only`; with `require_all` they are an error. Raises HarnessError when cells both sides
    have cannot be compared (no common seeds, different test sets), listing every problem.
    """
    from harness.stats import ResampledMetrics, paired_test

    metrics = list(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise HarnessError(f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(METRICS)}")
    check_number("--alpha", alpha, 0, 1, low_open=True, high_open=True)
    check_number("--max-drop", max_drop, 0, 100)  # NaN would disable regression detection
    check_number("--resamples", resamples, 100, MAX_RESAMPLES, integer=True)  # memory: resamples x examples

    cand_side = load_side(candidate_cells, "candidate")
    base_side = load_side(baseline_cells, "baseline")
    for name, side in (("candidate", cand_side), ("baseline", base_side)):
        if not side.cells:
            failed = f" ({len(side.failed)} failed record(s))" if side.failed else ""
            raise HarnessError(f"the {name} {side.source} has no completed result records{failed}")
    filter_sides((cand_side, base_side), _names(tasks), _names(models))
    paired = pair_cells(cand_side, base_side, require_all=require_all)
    notes = paired.notes

    comparisons = []
    for plans in _by_test_set(paired.plans):
        # one test set at a time: each of its seed runs resampled once (every metric, in one pass), reused
        # by every comparison it takes part in, and let go before the next test set (bounded memory)
        table = ResampledMetrics(resamples, seed)
        runs = [side.seeds[s] for cand, base, common in plans for side in (cand, base) for s in common]
        refs, k = runs[-1].references, n_labels(runs)
        table.add(refs, [r.prediction_array for r in runs], metrics[0], k)
        for metric in metrics:
            for cand, base, common in plans:
                cand_boot, cand_points = table.get(refs, [cand.seeds[s].prediction_array for s in common], metric, k)
                base_boot, base_points = table.get(refs, [base.seeds[s].prediction_array for s in common], metric, k)
                stats = paired_test(cand_boot, base_boot, cand_points, base_points, metric, len(refs), alpha=alpha,
                                    resamples=resamples)
                changes = paired.config_changes.get((cand.task, cand.model), {})
                comparisons.append(_comparison(cand, common, stats, alpha, max_drop, changes,
                                               _evaluated(cand, base, common)))
    comparisons.sort(key=lambda c: (c.task, c.model, metrics.index(c.metric)))
    evaluated = sorted({f"{c.task} / {c.model}" for c in comparisons if c.evaluated})
    if evaluated:
        notes.append(f"{', '.join(evaluated)} (§): checkpoints evaluated as published on both sides. Their weights "
                     f"are fixed, so there is no training variance to count: the paired test over the test examples "
                     f"is the whole noise, and the detectable drop is what this test set size allows")
    if any(c.pairs == 1 and not c.evaluated for c in comparisons):
        single = sorted({f"{c.task} / {c.model}" for c in comparisons if c.pairs == 1 and not c.evaluated})
        notes.append(f"one seed pair in {', '.join(single)} (‡): training (seed) variance is not accounted for; only "
                     f"the test-example variance is. Run more seeds on both sides (--seeds 3 or more)")
    return ComparisonResult(
        comparisons=comparisons, metrics=metrics, alpha=alpha, max_drop=max_drop, resamples=resamples, seed=seed,
        candidate=cand_side.describe(), baseline=base_side.describe(), notes=notes, only=paired.only,
    )


def _names(value: Sequence[str] | str | None) -> list[str] | None:
    """A filter as a list: "a,b" or ["a", "b"]; None or empty: no filter."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item.strip()] or None


def _by_test_set(plans: list[tuple[SeedRuns, SeedRuns, list[int]]]) -> list[list[tuple[SeedRuns, SeedRuns, list[int]]]]:
    """The paired cells grouped by test set (same references, same label count), in their order."""
    from harness.stats import label_ids_digest

    groups: dict[tuple[bytes, int], list[tuple[SeedRuns, SeedRuns, list[int]]]] = {}
    for cand, base, common in plans:
        runs = [side.seeds[s] for side in (cand, base) for s in common]
        groups.setdefault((label_ids_digest(runs[-1].reference_array), n_labels(runs)), []).append((cand, base, common))
    return list(groups.values())


def _evaluated(cand: SeedRuns, base: SeedRuns, common: list[int]) -> bool:
    return all(side.seeds[s].kind == "evaluation" for side in (cand, base) for s in common)


def _comparison(cell: SeedRuns, common: list[int], stats: PairedTest, alpha: float, max_drop: float,
                changes: dict[str, list[Any]], evaluated: bool = False) -> Comparison:
    """Points, with the interval and the detectable drop stated within the metric's range: the
    candidate cannot score below `low` or above `high`, so neither can the delta go past them."""
    metric = METRICS_REGISTRY[stats["metric"]]
    baseline = 100 * stats["baseline"]
    floor, ceiling = 100 * metric.low - baseline, 100 * metric.high - baseline
    low, high = 100 * stats["low"], 100 * stats["high"]
    clipped = low < floor or high > ceiling
    mde = 100 * stats["mde"]
    detectable = max(max_drop, mde) if mde <= -floor + _EPS else None
    needed = None if detectable is not None else examples_needed(stats, max(max_drop, 1.0) / 100, alpha)
    delta = 100 * stats["delta"]
    significant = stats["p_value"] < alpha
    if significant and delta < 0 and -delta > max_drop + _EPS:
        status = "regressed"
    elif significant and delta > 0:
        status = "improved"
    else:
        status = "unchanged"
    return Comparison(
        task=cell.task, model=cell.model, metric=stats["metric"],
        baseline=baseline, candidate=100 * stats["candidate"], delta=delta,
        low=max(low, floor), high=min(high, ceiling), p_value=stats["p_value"],
        pairs=stats["pairs"], seeds=list(common), n_examples=stats["n_examples"], status=status,
        significant=significant, detectable_drop=detectable, se=100 * stats["se"],
        df=stats["df"], training_variance_counted=stats["training_variance_counted"], method="paired test over test examples (evaluated checkpoints: no training variance)" if evaluated
        else stats["method"], evaluated=evaluated,
        clipped=clipped, examples_needed=needed, config_changes=changes,
    )


def assert_no_regression(
    candidate: Any,
    baseline: Any,
    metrics: Sequence[str] = DEFAULT_METRICS,
    max_drop: float = 0.5,
    alpha: float = 0.05,
    resamples: int = 2000,
    seed: int = 0,
    tasks: Sequence[str] | str | None = None,
    models: Sequence[str] | str | None = None,
    require_all: bool = False,
) -> ComparisonResult:
    """For users' tests: raise AssertionError with the markdown report when the candidate regressed
    against the baseline; return the ComparisonResult otherwise. Inputs that cannot be compared
    raise harness.errors.HarnessError."""
    result = compare(candidate, baseline, metrics=metrics, max_drop=max_drop, alpha=alpha,
                     resamples=resamples, seed=seed, tasks=tasks, models=models, require_all=require_all)
    if result.regressed:
        raise AssertionError(result.to_markdown())
    return result


