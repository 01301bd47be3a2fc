"""The leaderboard's data model and its formats (markdown, CSV, JSON)."""
from __future__ import annotations

from harness.views.calibration import calibration_markdown
from harness.views.leaderboard_json import (CalibrationJson, CellDisplay, CellJson, CellNumbers, Comparison, FailureJson,
                                            FootnoteJson, LeaderboardJson, ThroughputJson)
from harness.views.formatting import AT_CHANCE_MARK, model_label, score_text

from harness.metrics import METRICS as METRICS_REGISTRY, metric_names
from harness.stats_types import MeanCI

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable
import pandas as pd


METRICS = metric_names()
METRIC_TITLES = {m.name: f"Test {m.title} (%)" for m in METRICS_REGISTRY.values()}
CONFIDENCE = 0.95
ALPHA = 0.05
RESAMPLES = 1000
BOOTSTRAP_SEED = 0
MISSING = "–"  # en dash: no record at all for this task x model
FAILED = "failed"  # every seed of the cell failed
TIE_MARK = "†"
EVALUATED = "evaluated"  # a checkpoint evaluated as published: its cell shows the test-example interval
AVERAGE = "average"
VERSION_KEYS = ("harness", "torch", "transformers", "datasets")
JSON_FORMAT_VERSION = 1

# (key in the throughput table, key in record["throughput"] (a dot: nested), markdown header)
THROUGHPUT_FIELDS = (
    ("train_samples_per_s", "train_samples_per_s", "train samples/s"),
    ("train_tokens_per_s", "train_tokens_per_s", "train tokens/s"),
    ("eval_samples_per_s", "eval_samples_per_s", "inference samples/s"),
    ("eval_tokens_per_s", "eval_tokens_per_s", None),  # JSON / DataFrame only
    ("latency_median_ms", "latency.median_ms", "batch-1 latency median (ms)"),
    ("latency_p95_ms", "latency.p95_ms", "batch-1 latency p95 (ms)"),
    ("peak_memory_mb", "peak_memory_mb", "peak memory (MB)"),
    ("parameters_m", "parameters", "parameters (M)"),
    ("mfu", "mfu", None),
)


# --------------------------------------------------------------------------- data model
@dataclass
class ScoreCell:
    """One task x model x metric: the completed seeds' values (fractions 0..1) and their CI."""

    task: str
    model: str
    metric: str
    seeds: list[int]  # completed seeds, sorted
    failed_seeds: list[int]
    values: list[float]  # per completed seed, same order as `seeds`
    stats: MeanCI  # harness.stats.mean_ci over `values`
    best: bool = False
    tie: bool = False  # not significantly different from the column's best model
    comparison: Comparison | None = None  # the paired test against the best, or why none was run
    at_chance: str | None = None  # why the cell is at chance level (harness.records.chance), or None
    # a checkpoint evaluated as published: the record's bootstrap interval over test examples (fractions)
    example_interval: dict[str, float] | None = None

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
        evaluated = ((_pct(self.example_interval["low"]), _pct(self.example_interval["high"]))
                     if self.example_interval is not None else None)
        text = score_text(_pct(self.stats["mean"]), _pct(self.stats["half_width"]), _pct(self.stats["low"]),
                          _pct(self.stats["high"]), bool(self.stats["clipped"]), len(self.seeds), len(self.failed_seeds),
                          evaluated=evaluated)
        if self.best or self.tie:
            text = f"**{text}**"
        if self.tie:
            text += f" {TIE_MARK}"
        if self.at_chance:
            text += f" {AT_CHANCE_MARK}"
        return text


@dataclass
class Leaderboard:
    tasks: list[str]
    models: list[str]
    cells: dict[tuple[str, str, str], ScoreCell]  # (metric, task, model)
    averages: dict[tuple[str, str], float | None]  # (metric, model) -> fraction, or None
    best_average: dict[str, set[str]]  # metric -> models in bold in the average column
    order: dict[str, list[str]]  # metric -> model rows, ranked
    throughput: list[ThroughputJson]
    footnote: FootnoteJson
    failures: list[FailureJson] = field(default_factory=list)
    suite: str | None = None  # the suite every record was run by, for the web page's title
    calibration: list[CalibrationJson] = field(default_factory=list)  # harness.views.calibration.calibration_rows
    model_marks: dict[str, str] = field(default_factory=dict)  # model -> its row mark (¶: pretrained here)

    def label(self, model: str) -> str:
        """The model as its rows show it: the name and its mark (leaderboard_build.model_marks decides)."""
        return model_label(model, self.model_marks.get(model, ""))

    # ----------------------------------------------------------------- DataFrames
    def metric_table(self, metric: str) -> pd.DataFrame:
        """The display table of one metric: a `model` column, one column per task, `average`."""
        rows = []
        for model in self.order[metric]:
            row = {"model": self.label(model)}
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
        """The long table written as CSV: one row per task x model x metric (percent), then the averages.
        Each task row also carries its cell's calibration (`ece`, `brier`: means over the seeds that
        recorded them, as fractions; empty where none did)."""
        calibration = {(row["task"], row["model"]): {"ece": row["ece"], "brier": row["brier"]} for row in self.calibration}
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
                            **_cell_display(cell),
                            "best": cell.best,
                            "tie_with_best": cell.tie,
                            "p_value_vs_best": comparison.get("p_value"),
                            "model_mark": self.model_marks.get(model, ""),  # last: the older columns keep their places
                            **calibration.get((task, model), _NO_CALIBRATION),  # the cell's mean ECE and Brier
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
                        "model_mark": self.model_marks.get(model, ""),
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
            row = {"model": self.label(entry["model"]), "task": entry["task"],
                   "seeds": EVALUATED if entry.get("evaluated") else str(entry["n_seeds"])}
            for key, _, header in THROUGHPUT_FIELDS:
                if header is None:
                    continue
                value = entry[key]
                if value is None:
                    row[header] = "n/a"
                elif key == "parameters_m":
                    row[header] = f"{value:.2f}" if value >= 1 else f"{value:.3g}"
                elif key.startswith("latency"):
                    row[header] = f"{value:,.2f}"
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
        parts += ["## Calibration", ""]
        parts += [*calibration_markdown(self.calibration, self.label), ""]
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

    def to_json_dict(self) -> LeaderboardJson:
        cells: list[CellJson] = []
        for metric in METRICS:
            for task in self.tasks:
                for model in self.models:
                    cell = self.cells[(metric, task, model)]
                    cells.append(
                        {
                            "task": task,
                            "model": model,
                            "model_mark": self.model_marks.get(model, ""),
                            "metric": metric,
                            "status": cell.status,
                            **_cell_numbers(cell),
                            "seeds": cell.seeds,
                            "failed_seeds": cell.failed_seeds,
                            **_cell_display(cell),
                            "values": [_pct(v) for v in cell.values],
                            "best": cell.best,
                            "tie_with_best": cell.tie,
                            "comparison": cell.comparison,
                            "evaluated": cell.example_interval is not None,
                            "example_interval": ({k: _pct(v) for k, v in cell.example_interval.items()}
                                                 if cell.example_interval else None),
                            "text": cell.text(),
                        }
                    )
        averages = [
            {
                "model": model,
                "model_mark": self.model_marks.get(model, ""),
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
            "model_marks": self.model_marks,  # model -> its row mark; the footnote line starting with it explains it
            "ranking": {metric: self.order[metric] for metric in METRICS},
            "cells": cells,
            "averages": averages,
            "throughput": self.throughput,
            "failures": self.failures,
            "footnote": self.footnote.copy(),
            "suite": self.suite,
            "calibration": self.calibration,
        }

    def to_json(self) -> str:
        return json.dumps(_clean_json(self.to_json_dict()), indent=1, ensure_ascii=False, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- helpers
_NO_CALIBRATION = {"ece": None, "brier": None}


def _display(fraction: float) -> float:
    """The value as shown (percent, 2 decimals): bold goes to every model that looks best."""
    return round(fraction * 100, 2)


def _fmt_pct(fraction: float) -> str:
    return f"{fraction * 100:.2f}"


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else float(fraction) * 100


def _cell_display(cell: ScoreCell) -> CellDisplay:
    """Whether the interval was cut at the metric's range, and the cell as every view prints it."""
    stats = cell.stats
    return {"at_chance": cell.at_chance, "clipped": bool(stats.get("clipped")),
            "display": score_text(_pct(stats["mean"]), _pct(stats["half_width"]), _pct(stats["low"]),
                                  _pct(stats["high"]), bool(stats.get("clipped")), len(cell.seeds),
                                  len(cell.failed_seeds)) or None}


def _cell_numbers(cell: ScoreCell) -> CellNumbers:
    """A cell's statistics across seeds, in percent, as the CSV and JSON outputs share them."""
    stats = cell.stats
    return {"mean": _pct(stats["mean"]), "half_width": _pct(stats["half_width"]), "std": _pct(stats["std"]),
            "low": _pct(stats["low"]), "high": _pct(stats["high"]),
            "n_seeds": len(cell.seeds), "n_failed": len(cell.failed_seeds)}


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
    from harness.views.text import md_escape

    return md_escape(text)


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
