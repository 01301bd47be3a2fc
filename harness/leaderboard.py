"""Leaderboards from a results folder: per metric, models x tasks with 95% t-CIs over seeds.

Each cell is `mean ± half-width (n)` over the completed seeds of a task x model, in percent
(`mean [low, high] (n)` where the interval is clipped to [0, 100]). A cell whose seeds all failed
reads `failed`, a task x model without any record reads `–`; neither is ever scored 0 or
averaged. The best mean of each column is bold; in a task column, models that
`stats.seed_example_test` (seed and test-example variance, paired seeds) cannot tell apart from
the best (alpha 0.05) are bold too and marked with a dagger. The same numbers are written as CSV (one
row per task x model x metric, plus the averages) and JSON (cells, averages, throughput,
footnote).

Entry points: `build_leaderboard(records)` (everything), `leaderboard_tables(records)` (pandas
DataFrames, for the report), `leaderboard_markdown(records)`, `write_leaderboard_files(results)`
(RESULTS/LEADERBOARD.{md,csv,json}) and `cli_main(args)` (`harness leaderboard`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .errors import HarnessError
from .files import check_output_file
from .results import RecordGroup, group_records, n_labels, seed_run, test_set_problem
from .stats import SIGNIFICANCE_METHOD, mean_ci, seed_example_test
from .store import atomic_write_text, load_records

METRICS = ("accuracy", "macro_f1")
METRIC_TITLES = {"accuracy": "Test accuracy (%)", "macro_f1": "Test macro-F1 (%)"}
CONFIDENCE = 0.95
ALPHA = 0.05
RESAMPLES = 1000
BOOTSTRAP_SEED = 0
MISSING = "–"  # en dash: no record at all for this task x model
FAILED = "failed"  # every seed of the cell failed
TIE_MARK = "†"
AVERAGE = "average"
VERSION_KEYS = ("harness", "torch", "transformers", "datasets")
JSON_FORMAT_VERSION = 1

# (key in the throughput table, key in record["throughput"], markdown header)
THROUGHPUT_FIELDS = (
    ("train_samples_per_s", "train_samples_per_s", "train samples/s"),
    ("train_tokens_per_s", "train_tokens_per_s", "train tokens/s"),
    ("eval_samples_per_s", "eval_samples_per_s", "inference samples/s"),
    ("eval_tokens_per_s", "eval_tokens_per_s", None),  # JSON / DataFrame only
    ("peak_memory_mb", "peak_memory_mb", "peak memory (MB)"),
    ("parameters_m", "parameters", "parameters (M)"),
    ("mfu", "mfu", None),
)


# --------------------------------------------------------------------------- data model
@dataclass
class Cell:
    """One task x model x metric: the completed seeds' values (fractions 0..1) and their CI."""

    task: str
    model: str
    metric: str
    seeds: list[int]  # completed seeds, sorted
    failed_seeds: list[int]
    values: list[float]  # per completed seed, same order as `seeds`
    stats: dict[str, Any]  # harness.stats.mean_ci over `values`
    best: bool = False
    tie: bool = False  # not significantly different from the column's best model
    comparison: dict[str, Any] | None = None  # the paired test against the best, or why none was run

    @property
    def status(self) -> str:
        if not self.seeds and not self.failed_seeds:
            return "missing"
        if not self.seeds:
            return "failed"
        return "partial" if self.failed_seeds else "completed"

    @property
    def mean(self) -> float | None:
        return self.stats["mean"]

    def text(self) -> str:
        """The markdown cell: `84.12 ± 1.03 (3)`, `84.12 (1)`, `failed`, `–`, bold and † added."""
        if self.status == "missing":
            return MISSING
        if self.status == "failed":
            return FAILED
        core = _fmt_pct(self.stats["mean"])
        if self.stats["clipped"]:
            core += f" [{_fmt_pct(self.stats['low'])}, {_fmt_pct(self.stats['high'])}]"
        elif self.stats["half_width"] is not None:
            core += f" ± {_fmt_pct(self.stats['half_width'])}"
        n, failed = len(self.seeds), len(self.failed_seeds)
        count = f"({n} of {n + failed} seeds; {failed} failed)" if failed else f"({n})"
        text = f"{core} {count}"
        if self.best or self.tie:
            text = f"**{text}**"
        if self.tie:
            text += f" {TIE_MARK}"
        return text


@dataclass
class Leaderboard:
    tasks: list[str]
    models: list[str]
    cells: dict[tuple[str, str, str], Cell]  # (metric, task, model)
    averages: dict[tuple[str, str], float | None]  # (metric, model) -> fraction, or None
    best_average: dict[str, set[str]]  # metric -> models in bold in the average column
    order: dict[str, list[str]]  # metric -> model rows, ranked
    throughput: list[dict[str, Any]]
    footnote: dict[str, Any]
    failures: list[dict[str, Any]] = field(default_factory=list)

    # ----------------------------------------------------------------- DataFrames
    def metric_table(self, metric: str) -> pd.DataFrame:
        """The display table of one metric: a `model` column, one column per task, `average`."""
        rows = []
        for model in self.order[metric]:
            row = {"model": model}
            for task in self.tasks:
                row[task] = self.cells[(metric, task, model)].text()
            average = self.averages[(metric, model)]
            if average is None:
                row[AVERAGE] = MISSING
            else:
                text = _fmt_pct(average)
                row[AVERAGE] = f"**{text}**" if model in self.best_average[metric] else text
            rows.append(row)
        return pd.DataFrame(rows, columns=["model", *self.tasks, AVERAGE], dtype=object)

    def means_table(self, metric: str) -> pd.DataFrame:
        """Numeric means in percent (NaN where failed or missing), models as index, plus `average`."""
        data = {
            task: [_pct_or_nan(self.cells[(metric, task, m)].mean) for m in self.order[metric]] for task in self.tasks
        }
        data[AVERAGE] = [_pct_or_nan(self.averages[(metric, m)]) for m in self.order[metric]]
        frame = pd.DataFrame(data, index=pd.Index(self.order[metric], name="model"), dtype=float)
        return frame

    def cells_frame(self) -> pd.DataFrame:
        """The long table written as CSV: one row per task x model x metric (percent), then the averages."""
        rows = []
        for metric in METRICS:
            for task in self.tasks:
                for model in self.models:
                    cell = self.cells[(metric, task, model)]
                    comparison = cell.comparison or {}
                    rows.append(
                        {
                            "kind": "task",
                            "task": task,
                            "model": model,
                            "metric": metric,
                            **_cell_numbers(cell),
                            "status": cell.status,
                            "seeds": " ".join(map(str, cell.seeds)),
                            "failed_seeds": " ".join(map(str, cell.failed_seeds)),
                            "best": cell.best,
                            "tie_with_best": cell.tie,
                            "p_value_vs_best": comparison.get("p_value"),
                        }
                    )
        for metric in METRICS:
            for model in self.models:
                average = self.averages[(metric, model)]
                rows.append(
                    {
                        "kind": AVERAGE,
                        "task": "",
                        "model": model,
                        "metric": metric,
                        "mean": _pct(average),
                        "n_seeds": None,
                        "n_failed": None,
                        "status": "completed" if average is not None else "incomplete",
                        "best": model in self.best_average[metric],
                        "tie_with_best": False,
                    }
                )
        frame = pd.DataFrame(rows, columns=list(rows[0]))
        for column in ("n_seeds", "n_failed"):
            frame[column] = frame[column].astype("Int64")
        return frame

    def throughput_frame(self) -> pd.DataFrame:
        """Numeric throughput per model x task (means over completed seeds)."""
        columns = ["model", "task", "n_seeds", *(key for key, _, _ in THROUGHPUT_FIELDS), "precision", "device"]
        return pd.DataFrame(self.throughput, columns=columns)

    def throughput_table(self) -> pd.DataFrame:
        """The display throughput table."""
        rows = []
        for entry in self.throughput:
            row = {"model": entry["model"], "task": entry["task"], "seeds": str(entry["n_seeds"])}
            for key, _, header in THROUGHPUT_FIELDS:
                if header is None:
                    continue
                value = entry[key]
                if value is None:
                    row[header] = "n/a"
                elif key == "parameters_m":
                    row[header] = f"{value:.2f}" if value >= 1 else f"{value:.3g}"
                else:
                    row[header] = f"{value:,.1f}"
            row["precision"] = entry["precision"] or "n/a"
            row["device"] = entry["device"] or "n/a"
            rows.append(row)
        headers = ["model", "task", "seeds", *(h for _, _, h in THROUGHPUT_FIELDS if h), "precision", "device"]
        return pd.DataFrame(rows, columns=headers, dtype=object)

    def tables(self) -> dict[str, pd.DataFrame]:
        out: dict[str, pd.DataFrame] = {metric: self.metric_table(metric) for metric in METRICS}
        out.update({f"{metric}_means": self.means_table(metric) for metric in METRICS})
        out["throughput"] = self.throughput_table()
        out["throughput_values"] = self.throughput_frame()
        out["cells"] = self.cells_frame()
        return out

    # ----------------------------------------------------------------- renderings
    def to_markdown(self) -> str:
        parts = ["# Leaderboard", ""]
        for metric in METRICS:
            parts += [f"## {METRIC_TITLES[metric]}", ""]
            parts += [_markdown_table(self.metric_table(metric), right_from=1), ""]
        parts += ["## Throughput", ""]
        if self.throughput:
            parts += [_markdown_table(self.throughput_table(), right_from=2, right_until=-2), ""]
        else:
            parts += ["No completed run.", ""]
        parts += ["## Notes", ""]
        parts += [f"- {line}" for line in self.footnote["lines"]]
        if self.failures:
            parts += ["", "## Failed runs", ""]
            parts += [
                f"- {_md_escape(f['task'])} / {_md_escape(f['model'])} / seed {f['seed']}: {_md_escape(f['error'])}"
                for f in self.failures
            ]
        return "\n".join(parts).rstrip() + "\n"

    def to_csv(self) -> str:
        return self.cells_frame().to_csv(index=False, lineterminator="\n")

    def to_json_dict(self) -> dict[str, Any]:
        cells = []
        for metric in METRICS:
            for task in self.tasks:
                for model in self.models:
                    cell = self.cells[(metric, task, model)]
                    cells.append(
                        {
                            "task": task,
                            "model": model,
                            "metric": metric,
                            "status": cell.status,
                            **_cell_numbers(cell),
                            "seeds": cell.seeds,
                            "failed_seeds": cell.failed_seeds,
                            "values": [_pct(v) for v in cell.values],
                            "best": cell.best,
                            "tie_with_best": cell.tie,
                            "comparison": cell.comparison,
                            "text": cell.text(),
                        }
                    )
        averages = [
            {
                "model": model,
                "metric": metric,
                "mean": _pct(self.averages[(metric, model)]),
                "n_tasks": len(self.tasks),
                "best": model in self.best_average[metric],
            }
            for metric in METRICS
            for model in self.models
        ]
        return {
            "format": "harness-leaderboard",
            "format_version": JSON_FORMAT_VERSION,
            "unit": "percent",
            "metrics": list(METRICS),
            "tasks": self.tasks,
            "models": self.models,
            "ranking": {metric: self.order[metric] for metric in METRICS},
            "cells": cells,
            "averages": averages,
            "throughput": self.throughput,
            "failures": self.failures,
            "footnote": {key: value for key, value in self.footnote.items()},
        }

    def to_json(self) -> str:
        return json.dumps(_clean_json(self.to_json_dict()), indent=1, ensure_ascii=False, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- building
def build_leaderboard(records: Iterable[dict[str, Any]]) -> Leaderboard:
    records = list(records)
    if not records:
        raise HarnessError("no result records to rank")
    tasks = sorted({r["task"] for r in records})
    models = sorted({r["model"] for r in records})
    groups = group_records(records)

    cells: dict[tuple[str, str, str], Cell] = {}
    for metric in METRICS:
        for task in tasks:
            for model in models:
                group = groups.get((task, model), RecordGroup(task, model))
                values = [float(r["metrics"]["test"][metric]) for r in group.completed]
                cells[(metric, task, model)] = Cell(
                    task=task,
                    model=model,
                    metric=metric,
                    seeds=[int(r["seed"]) for r in group.completed],
                    failed_seeds=[int(r["seed"]) for r in group.failed],
                    values=values,
                    stats=mean_ci(values, CONFIDENCE, bounds=(0.0, 1.0)),
                )
            _mark_column(metric, task, models, cells, groups)

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

    failures = [
        {
            "task": r["task"],
            "model": r["model"],
            "seed": int(r["seed"]),
            "error": _one_line(r.get("error") or "completed without test metrics"),
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
    )


def _mark_column(
    metric: str,
    task: str,
    models: list[str],
    cells: dict[tuple[str, str, str], Cell],
    groups: dict[tuple[str, str], RecordGroup],
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
            metric, groups[(task, model)].completed, groups[(task, reference)].completed, reference
        )
        cell.tie = cell.comparison.get("p_value") is not None and cell.comparison["p_value"] >= ALPHA


def _paired_test(
    metric: str, candidate: list[dict[str, Any]], best: list[dict[str, Any]], best_model: str
) -> dict[str, Any]:
    """`stats.seed_example_test` of a model against the column's best, over the seeds both have."""
    by_seed_c = {int(r["seed"]): r for r in candidate}
    by_seed_b = {int(r["seed"]): r for r in best}
    common = sorted(set(by_seed_c) & set(by_seed_b))
    out: dict[str, Any] = {"baseline": best_model, "seeds": common, "method": SIGNIFICANCE_METHOD}
    if not common:
        return {**out, "skipped": "no seed in common with the best model"}
    try:
        cand = [seed_run(by_seed_c[s]) for s in common]
        base = [seed_run(by_seed_b[s]) for s in common]
    except HarnessError:
        return {**out, "skipped": "test predictions missing"}
    problem = test_set_problem("", cand, base)
    if problem:
        return {**out, "skipped": problem.lstrip(": ")}
    result = seed_example_test(
        base[0].references, [r.predictions for r in cand], [r.predictions for r in base], metric, n_labels(cand + base),
        resamples=RESAMPLES, seed=BOOTSTRAP_SEED, alpha=ALPHA,
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


def _throughput(groups: dict[tuple[str, str], RecordGroup]) -> list[dict[str, Any]]:
    rows = []
    for task, model in sorted(groups, key=lambda key: (key[1], key[0])):
        completed = groups[(task, model)].completed
        if not completed:
            continue
        row: dict[str, Any] = {"model": model, "task": task, "n_seeds": len(completed)}
        for key, source, _ in THROUGHPUT_FIELDS:
            values = [(r.get("throughput") or {}).get(source) for r in completed]
            values = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
            mean = sum(values) / len(values) if values else None
            if key == "parameters_m" and mean is not None:
                mean /= 1e6
            row[key] = mean
        for key in ("precision", "device"):
            seen = _unique((r.get("provenance") or {}).get(key) for r in completed)
            row[key] = ", ".join(seen) if seen else None
        rows.append(row)
    return rows


def _footnote(
    records: list[dict[str, Any]], groups: dict[tuple[str, str], RecordGroup], tasks: list[str]
) -> dict[str, Any]:
    completed = [r for g in groups.values() for r in g.completed]
    test_sizes = {
        task: _unique(r["metrics"]["test"].get("n") for g in groups.values() if g.task == task for r in g.completed)
        for task in tasks
    }
    subsets = _unique(((r.get("config") or {}).get("recipe") or {}).get("max_eval_samples") for r in records)
    definitions = _unique((r.get("metrics") or {}).get("macro_f1_definition") for r in completed)
    seeds = sorted({int(r["seed"]) for r in records})
    seed_sets = {tuple(sorted(int(r["seed"]) for r in g.completed + g.failed)) for g in groups.values()}
    versions = {key: _unique((r.get("provenance") or {}).get(key) for r in records) for key in VERSION_KEYS}
    memory_kinds = _unique((r.get("throughput") or {}).get("memory_kind") for r in completed)

    sizes_text = ", ".join(
        f"{task} {' / '.join(f'{n:,}' for n in sizes)}" if sizes else f"{task} n/a" for task, sizes in test_sizes.items()
    )
    ci_method = (
        f"mean ± half-width of the {CONFIDENCE:.0%} Student-t confidence interval over seeds "
        "(t(0.975, n−1) × sample standard deviation / √n), shown as [low, high] where it is clipped to [0, 100]; "
        "(n) is the number of seeds; a single seed has no interval"
    )
    tie_method = (
        f"{SIGNIFICANCE_METHOD} (README, Statistics): a two-sided test of the difference on the same test examples "
        f"over the seeds both models have (paired by seed number) that counts both seed variance and test-example "
        f"variance ({RESAMPLES} bootstrap resamples, seed {BOOTSTRAP_SEED}), p ≥ {ALPHA}"
    )
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
        f"Seeds: {seeds_text}.",
        f"Versions: {version_text}.",
        "Throughput: mean over completed seeds; training counts optimizer steps only, tokens are real "
        "(non-padding) tokens; peak memory: " + (", ".join(memory_kinds) if memory_kinds else "n/a") + ".",
    ]
    from .search_views import footnote_lines

    lines += footnote_lines(records)  # which cells a search selected, and over what
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


# --------------------------------------------------------------------------- public API
def leaderboard_tables(records: Iterable[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """DataFrames for reuse: `accuracy` / `macro_f1` (display strings, a `model` column, tasks,
    `average`), `accuracy_means` / `macro_f1_means` (numeric percent, NaN where failed or missing),
    `throughput` (display), `throughput_values` (numeric) and `cells` (the CSV's long table)."""
    return build_leaderboard(records).tables()


def leaderboard_markdown(records: Iterable[dict[str, Any]]) -> str:
    return build_leaderboard(records).to_markdown()


def load_leaderboard(results: str | Path) -> Leaderboard:
    records = load_records(results)
    if not records:
        raise HarnessError(f"no result records in {results} (expected <task>/<model>/seed-<k>.json files)")
    return build_leaderboard(records)


def write_leaderboard_files(results: str | Path) -> Path:
    """Write RESULTS/LEADERBOARD.md, .csv, .json and .html atomically; return the markdown's path."""
    board = load_leaderboard(results)
    root = Path(results)
    markdown = root / "LEADERBOARD.md"
    atomic_write_text(root / "LEADERBOARD.csv", board.to_csv())
    atomic_write_text(root / "LEADERBOARD.json", board.to_json())
    atomic_write_text(markdown, board.to_markdown())
    atomic_write_text(root / "LEADERBOARD.html", render(board, "html", root))
    return markdown


def render(board: Leaderboard, fmt: str, results: str | Path | None = None, page_dir: str | Path | None = None) -> str:
    """One format; `html` is built from the JSON data (`harness.webpage`), with image links from
    `page_dir` (default: `results`) to the cell images under `results`."""
    if fmt == "md":
        return board.to_markdown()
    if fmt == "csv":
        return board.to_csv()
    if fmt == "json":
        return board.to_json()
    if fmt == "html":
        from .webpage import render_html

        return render_html(json.loads(board.to_json()), results, page_dir)
    raise HarnessError(f"unknown leaderboard format '{fmt}' (md, csv, json, html)")


def cli_main(args) -> int:
    if getattr(args, "output", None):
        check_output_file(Path(args.output), "--output")  # before reading every record
    board = load_leaderboard(args.results)
    output = getattr(args, "output", None)
    page_dir = Path(output).parent if output else None
    text = render(board, getattr(args, "format", "md") or "md", args.results, page_dir)
    if output:
        atomic_write_text(Path(output), text)
        print(f"leaderboard: {output}")
    else:
        print(text, end="")
    return 0


# --------------------------------------------------------------------------- helpers
def _display(fraction: float) -> float:
    """The value as shown (percent, 2 decimals): bold goes to every model that looks best."""
    return round(fraction * 100, 2)


def _fmt_pct(fraction: float) -> str:
    return f"{fraction * 100:.2f}"


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else float(fraction) * 100


def _cell_numbers(cell) -> dict[str, Any]:
    """A cell's statistics across seeds, in percent, as the CSV and JSON outputs share them."""
    return {
        **{key: _pct(cell.stats[key]) for key in ("mean", "half_width", "std", "low", "high")},
        "n_seeds": len(cell.seeds),
        "n_failed": len(cell.failed_seeds),
    }


def _pct_or_nan(fraction: float | None) -> float:
    return math.nan if fraction is None else float(fraction) * 100


def _unique(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value is not None and value not in out:
            out.append(value)
    return sorted(out, key=str)


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def _markdown_table(frame: pd.DataFrame, right_from: int, right_until: int | None = None) -> str:
    frame = frame.copy()
    for column in ("model", "task"):
        if column in frame:
            frame[column] = frame[column].map(_md_escape)
    frame.columns = [_md_escape(c) for c in frame.columns]
    n = len(frame.columns)
    stop = n if right_until is None else n + right_until
    align = tuple("right" if right_from <= i < stop else "left" for i in range(n))
    return frame.to_markdown(index=False, tablefmt="pipe", disable_numparse=True, colalign=align)


def _clean_json(value: Any) -> Any:
    """NaN / inf -> None, tuples -> lists, numpy scalars -> Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_clean_json(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
