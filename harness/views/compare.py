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
Each comparison also states the smallest drop it could have detected (80% power).

Exit codes of the CLI: 0 nothing regressed, 1 something regressed, 2 the inputs cannot be compared
(different test sets, cells missing on either side, no common seeds), raised as HarnessError.
"""
from __future__ import annotations

from harness.metrics import METRICS as METRICS_REGISTRY, metric_names

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence
from harness.records.baselines import Side, load_side
from harness.errors import HarnessError, check_number
from harness.records.grouping import Cell, SeedRun, n_labels, test_set_problem
from harness.stats import METRICS, POWER, SIGNIFICANCE_METHOD, format_p


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
    detectable_drop: float  # points: max(max_drop, the drop this test detects with 80% power)
    se: float  # points: standard error of the delta
    df: float  # degrees of freedom of the t reference distribution
    training_variance_counted: bool  # False with one seed pair: only test-example variance
    method: str = SIGNIFICANCE_METHOD

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
        n = sorted({c.n_examples for c in self.comparisons})
        n_text = ", ".join(str(x) for x in n) if n else "0"
        return (
            f"{SIGNIFICANCE_METHOD} over seeds and test examples ({n_text} test examples per task): the delta is the "
            f"mean over paired seeds (paired by seed number; unpaired seeds are ignored) of candidate minus baseline "
            f"on the same test examples. Its variance counts both sources of noise, seeds x test examples as a "
            f"crossed random-effects design: the test-example term from {self.resamples} bootstrap resamples of the "
            f"test examples (seed {self.seed}) shared by every seed pair, the seed term from the spread of the "
            f"per-pair deltas (less the example noise it already holds, floored at 0); p and the {self.ci_label} "
            f"come from a t distribution with Satterthwaite's degrees of freedom (about seeds - 1 when seed variance "
            f"dominates). With one seed pair, training variance is not accounted for. Values and deltas are in points "
            f"(metric x 100). Regressed: {self.rule}. Improved: p < {_num(self.alpha)} and delta > 0, with no minimum "
            f"size. Unchanged: anything else, including significant drops within the {_num(self.max_drop)}-point "
            f"tolerance. Detectable drop: the larger of the tolerance and the drop this test would flag with "
            f"{POWER:.0%} probability given the variance seen here ((t(1-alpha/2) + t({POWER:g})) x standard error); "
            f"a smaller true drop can pass unnoticed. Each comparison is tested on its own at alpha "
            f"{_num(self.alpha)} (no correction for the {len(self.comparisons)} comparison(s)). Macro-F1: the "
            f"unweighted mean of per-class F1 over the classes present in the references or predictions "
            f"(scikit-learn's default)."
        )

    # -- renderings
    def to_dict(self) -> dict[str, Any]:
        def rows(items: list[Comparison]) -> list[dict[str, Any]]:
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
            if any(c.within_tolerance for c in items):
                lines += [f"\\* a significant drop (p < {_num(self.alpha)}) within the {_num(self.max_drop)}-point "
                          f"tolerance: not counted as a regression.", ""]
        if self.notes:
            lines += ["### Notes", ""] + [f"- {note}" for note in self.notes] + [""]
        lines += ["---", "", f"<sub>Method: {self.method}</sub>", ""]
        return "\n".join(lines)

    def _table(self, items: list[Comparison]) -> str:
        import pandas as pd

        frame = pd.DataFrame(
            [
                {
                    "task": c.task,
                    "model": c.model,
                    "metric": METRIC_NAMES.get(c.metric, c.metric),
                    "baseline": f"{c.baseline:.2f}",
                    "candidate": f"{c.candidate:.2f}",
                    "delta": f"{c.delta:+.2f}" + ("\\*" if c.within_tolerance else ""),
                    self.ci_label: f"[{c.low:+.2f}, {c.high:+.2f}]",
                    "p": format_p(c.p_value),
                    "detectable drop": f"{c.detectable_drop:.2f}",
                    "seeds paired": f"{c.pairs} ({', '.join(map(str, c.seeds))})" + ("" if c.training_variance_counted else " ‡"),
                }
                for c in items
            ]
        )
        align = ("left", "left", "left", "right", "right", "right", "right", "right", "right", "left")
        return frame.to_markdown(index=False, disable_numparse=True, colalign=align)

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


# --------------------------------------------------------------------------- checks
def _unusable(problems: list[tuple[str, str]]) -> HarnessError:
    kinds = {"missing": "cell(s) missing on one side", "seeds": "cell(s) with no common seeds",
             "test set": "cell(s) not scored on the same test set"}
    counts: dict[str, int] = {}
    for kind, _ in problems:
        counts[kind] = counts.get(kind, 0) + 1
    summary = "; ".join(f"{n} {kinds.get(k, k)}" for k, n in counts.items())
    first = problems[0][1]
    head = f"cannot compare candidate and baseline: {summary} (first: {first})"
    return HarnessError("\n".join([head] + [f"  - {message}" for _, message in problems]))


def _environment_notes(pairs: list[tuple[SeedRun, SeedRun]]) -> list[str]:
    notes = []
    for key in ("harness", "torch", "transformers", "device", "precision"):
        cand = sorted({str(c.provenance.get(key)) for c, _ in pairs if c.provenance.get(key) is not None})
        base = sorted({str(b.provenance.get(key)) for _, b in pairs if b.provenance.get(key) is not None})
        if cand and base and cand != base:
            notes.append(f"{key} differs: {', '.join(cand)} (candidate) vs {', '.join(base)} (baseline)")
    return notes


# --------------------------------------------------------------------------- comparison
def compare(
    candidate_cells: Any,
    baseline_cells: Any,
    metrics: Sequence[str] = DEFAULT_METRICS,
    max_drop: float = 0.5,
    alpha: float = 0.05,
    resamples: int = 2000,
    seed: int = 0,
) -> ComparisonResult:
    """Compare every task x model x metric of the candidate with the baseline.

    Each side: a results folder or baseline file path, a list of result records, a mapping
    {(task, model): Cell}, or a Side. Raises HarnessError when the sides cannot be compared
    (cells missing on either side, no common seeds, different test sets), listing every problem.
    """
    from harness.stats import seed_example_test

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

    plans, notes = _pair_cells(cand_side, base_side)

    comparisons = []
    for cand, base, common in plans:
        runs = [cand.seeds[s] for s in common] + [base.seeds[s] for s in common]
        for metric in metrics:
            stats = seed_example_test(
                runs[-1].references, [cand.seeds[s].predictions for s in common],
                [base.seeds[s].predictions for s in common], metric, n_labels(runs),
                resamples=resamples, seed=seed, alpha=alpha,
            )
            comparisons.append(_comparison(cand, common, stats, alpha, max_drop))
    if any(c.pairs == 1 for c in comparisons):
        single = sorted({f"{c.task} / {c.model}" for c in comparisons if c.pairs == 1})
        notes.append(f"one seed pair in {', '.join(single)} (‡): training (seed) variance is not accounted for; only "
                     f"the test-example variance is. Run more seeds on both sides (--seeds 3 or more)")
    return ComparisonResult(
        comparisons=comparisons, metrics=metrics, alpha=alpha, max_drop=max_drop, resamples=resamples, seed=seed,
        candidate=cand_side.describe(), baseline=base_side.describe(), notes=notes,
    )


def _pair_cells(cand_side: Side, base_side: Side) -> tuple[list[tuple[Cell, Cell, list[int]]], list[str]]:
    """Match the two sides' cells and seeds: (cell pairs with their common seeds, notes). Raises
    HarnessError listing every cell that cannot be compared."""
    problems: list[tuple[str, str]] = []
    plans: list[tuple[Cell, Cell, list[int]]] = []
    notes: list[str] = []
    same_config: list[str] = []
    failed_by_cell = {
        name: {(t, m) for t, m, _ in side.failed} for name, side in (("candidate", cand_side), ("baseline", base_side))
    }
    for key in sorted(set(cand_side.cells) | set(base_side.cells)):
        cell_name = f"{key[0]} / {key[1]}"
        for name, side in (("candidate", cand_side), ("baseline", base_side)):
            if key not in side.cells:
                why = " (only failed records)" if key in failed_by_cell[name] else ""
                problems.append(("missing", f"{cell_name}: missing from the {name} {side.source}{why}; "
                                            f"the {'baseline' if name == 'candidate' else 'candidate'} has it"))
        if key not in cand_side.cells or key not in base_side.cells:
            continue
        cand, base = cand_side.cells[key], base_side.cells[key]
        common = sorted(set(cand.seeds) & set(base.seeds))
        if not common:
            problems.append(("seeds", f"{cell_name}: no common seeds (candidate {sorted(cand.seeds)}, "
                                      f"baseline {sorted(base.seeds)})"))
            continue
        problem = test_set_problem(cell_name, [cand.seeds[s] for s in common], [base.seeds[s] for s in common])
        if problem:
            problems.append(("test set", problem))
            continue
        trained_on = {side: sorted({r.data_fingerprint or "?" for r in runs})
                      for side, runs in (("candidate", [cand.seeds[s] for s in common]),
                                         ("baseline", [base.seeds[s] for s in common]))}
        if trained_on["candidate"] != trained_on["baseline"]:
            notes.append(f"{cell_name}: same test set, but the training or validation data differ (data fingerprint "
                         f"{', '.join(trained_on['candidate'])} (candidate) vs {', '.join(trained_on['baseline'])} "
                         f"(baseline))")
        unpaired = sorted(set(cand.seeds) ^ set(base.seeds))
        if unpaired:
            notes.append(f"{cell_name}: seed(s) {', '.join(map(str, unpaired))} have no partner and are ignored")
        if all(cand.seeds[s].config_hash == base.seeds[s].config_hash for s in common):
            same_config.append(cell_name)
        plans.append((cand, base, common))
    if problems:
        raise _unusable(problems)
    if same_config:
        shown = ", ".join(same_config[:5]) + (f" and {len(same_config) - 5} more" if len(same_config) > 5 else "")
        notes.append(f"same config hash on both sides for every paired seed of {len(same_config)} cell(s): {shown} "
                     f"(those compare a configuration with itself)")
    for name, side in (("candidate", cand_side), ("baseline", base_side)):
        if side.failed:
            shown = ", ".join(f"{t} / {m} / seed {s}" for t, m, s in side.failed[:5])
            more = f" and {len(side.failed) - 5} more" if len(side.failed) > 5 else ""
            notes.append(f"the {name} has {len(side.failed)} failed record(s), not compared: {shown}{more}")
    all_pairs = [(c.seeds[s], b.seeds[s]) for c, b, common in plans for s in common]
    notes.extend(_environment_notes(all_pairs))
    return plans, notes


def _comparison(cell: Cell, common: list[int], stats: dict[str, Any], alpha: float, max_drop: float) -> Comparison:
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
        baseline=100 * stats["baseline"], candidate=100 * stats["candidate"], delta=delta,
        low=100 * stats["low"], high=100 * stats["high"], p_value=stats["p_value"],
        pairs=stats["pairs"], seeds=list(common), n_examples=stats["n_examples"], status=status,
        significant=significant, detectable_drop=max(max_drop, 100 * stats["mde"]), se=100 * stats["se"],
        df=stats["df"], training_variance_counted=stats["training_variance_counted"], method=stats["method"],
    )


def assert_no_regression(
    candidate: Any,
    baseline: Any,
    metrics: Sequence[str] = DEFAULT_METRICS,
    max_drop: float = 0.5,
    alpha: float = 0.05,
    resamples: int = 2000,
    seed: int = 0,
) -> ComparisonResult:
    """For users' tests: raise AssertionError with the markdown report when the candidate regressed
    against the baseline; return the ComparisonResult otherwise. Inputs that cannot be compared
    raise harness.errors.HarnessError."""
    result = compare(candidate, baseline, metrics=metrics, max_drop=max_drop, alpha=alpha,
                     resamples=resamples, seed=seed)
    if result.regressed:
        raise AssertionError(result.to_markdown())
    return result


