"""LEADERBOARD.html: the leaderboard as one self-contained web page.

Built from the leaderboard's JSON data (`Leaderboard.to_json_dict()`, the one source of the
markdown, CSV and JSON outputs), rendered with a Jinja2 template shipped in the package
(`harness/views/templates/leaderboard.html.j2`, autoescaped). Scripts, styles and charts are inline
(charts are matplotlib SVG from `harness.summary`), and nothing is fetched from a network, so the
file opens from a CI artifact or a shared drive and can be published as a static page.

The page holds what the markdown holds (a table per registered metric with CIs, bold bests and †
marks, failed and missing cells, the throughput table, the notes, failed runs) plus sortable
columns, a per-task chart per metric, per-seed values on hover and click, and links to each
cell's confusion matrix and curves images (relative to the page, when the images exist).
"""
from __future__ import annotations

from harness.views.formatting import AT_CHANCE_MARK, calibration_text, model_label, score_text

from harness.views.leaderboard_model import METRIC_TITLES

import os
from pathlib import Path
from typing import TypedDict

from harness.views.leaderboard_json import (AverageJson, CalibrationJson, CellJson, Comparison, FailureJson, LeaderboardJson,
                                            ThroughputJson)
from harness.views.summary import point_id, summary_svg
from harness.views.pretrain_views import LossCurve, loss_curves
from harness.probabilities import CALIBRATION_DEFINITION

TEMPLATE = "leaderboard.html.j2"
THROUGHPUT_COLUMNS = (  # (JSON key, header, format)
    ("train_samples_per_s", "train samples/s", "{:,.1f}"),
    ("train_tokens_per_s", "train tokens/s", "{:,.1f}"),
    ("eval_samples_per_s", "inference samples/s", "{:,.1f}"),
    ("latency_median_ms", "batch-1 latency median (ms)", "{:,.2f}"),
    ("latency_p95_ms", "batch-1 latency p95 (ms)", "{:,.2f}"),
    ("peak_memory_mb", "peak memory (MB)", "{:,.1f}"),
    ("parameters_m", "parameters (M)", "{:.2f}"),
)


DETAIL_KEYS = ("metric", "task", "model", "display", "per_seed", "failed_seeds", "comparison")


class SeedView(TypedDict):
    seed: int
    value: str
    links: dict[str, str]  # image kind -> relative link


class CellView(CellJson):
    """One table cell as the template shows it: the JSON's cell, its text, sort key, seeds and id."""

    sort: str
    per_seed: list[SeedView]
    id: str


class CellDetail(TypedDict):
    """What a cell's hover box shows (DETAIL_KEYS)."""

    metric: str
    task: str
    model: str
    display: str | None
    per_seed: list[SeedView]
    failed_seeds: list[int]
    comparison: Comparison | None


class Shown(TypedDict):
    display: str
    sort: str


class AverageView(AverageJson):
    display: str
    sort: str


class RowView(TypedDict):
    rank: int
    model: str
    label: str
    cells: list[CellView]
    average: AverageView


class TableView(TypedDict):
    metric: str
    title: str
    rows: list[RowView]
    chart: str  # inline SVG


class ThroughputView(ThroughputJson):
    label: str
    values: list[Shown]


class CalibrationView(CalibrationJson):
    ece_view: Shown
    brier_view: Shown


class ErrorsLink(TypedDict):
    task: str
    href: str


class PageContext(TypedDict):
    """The template's variables."""

    data: LeaderboardJson
    details: dict[str, CellDetail]  # cell id -> its hover box
    tasks: list[str]
    tables: list[TableView]
    throughput: list[ThroughputView]
    throughput_headers: list[str]
    notes: list[str]
    failures: list[FailureJson]
    pretraining: list[LossCurve]
    calibration: list[CalibrationView]
    calibration_definition: str
    errors_pages: list[ErrorsLink]
    title: str


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _cell_view(cell: CellJson, links: dict[int, dict[str, str]]) -> CellView:
    """What one table cell shows; the numbers are the JSON's, rounded as the markdown rounds them."""
    if cell["status"] == "missing":
        text = "–"
    elif cell["status"] == "failed":
        text = "failed"
    else:
        interval = cell.get("example_interval")
        text = score_text(cell["mean"], cell["half_width"], cell["low"], cell["high"], bool(cell.get("clipped")),
                          cell["n_seeds"], cell["n_failed"],
                          evaluated=(interval["low"], interval["high"]) if interval else None)
        if cell.get("at_chance"):
            text += f" {AT_CHANCE_MARK}"
    seeds = [
        {"seed": seed, "value": _pct(value), "links": links.get(seed, {})}
        for seed, value in zip(cell["seeds"], cell["values"])
    ]
    return {
        **cell,
        "display": text,
        "sort": "" if cell["mean"] is None else repr(cell["mean"]),
        "per_seed": seeds,
        "id": point_id(cell["metric"], cell["task"], cell["model"]),
    }


def _image_links(results: Path | None, page_dir: Path | None, task: str, model: str, seeds: list[int]) -> dict[int, dict[str, str]]:
    """Relative links from the page to the cell's images that exist on disk."""
    from harness.views.plots import plot_filenames

    if results is None:
        return {}
    out: dict[int, dict[str, str]] = {}
    for seed in seeds:
        found = {}
        for kind, name in plot_filenames(seed).items():
            path = results / task / model / name
            if path.is_file():
                found[kind] = Path(os.path.relpath(path, page_dir or results)).as_posix()
        out[seed] = found
    return out


def page_context(data: LeaderboardJson, results: Path | None = None, page_dir: Path | None = None) -> PageContext:
    """The template's variables, computed from the leaderboard JSON data only."""
    tables: list[TableView] = []
    details: dict[str, CellDetail] = {}
    marks = data.get("model_marks") or {}
    for metric in data["metrics"]:
        cells = {(c["task"], c["model"]): c for c in data["cells"] if c["metric"] == metric}
        averages = {a["model"]: a for a in data["averages"] if a["metric"] == metric}
        rows = []
        for rank, model in enumerate(data["ranking"][metric], start=1):
            row_cells = []
            for task in data["tasks"]:
                cell = cells[(task, model)]
                view = _cell_view(cell, _image_links(results, page_dir, task, model, cell["seeds"]))
                details[view["id"]] = {key: view[key] for key in DETAIL_KEYS}
                row_cells.append(view)
            average = averages[model]
            rows.append({
                "rank": rank, "model": model, "label": model_label(model, marks.get(model, "")), "cells": row_cells,
                "average": {**average, "display": "–" if average["mean"] is None else _pct(average["mean"]),
                            "sort": "" if average["mean"] is None else repr(average["mean"])},
            })
        tables.append({"metric": metric, "title": METRIC_TITLES.get(metric, metric), "rows": rows,
                       "chart": summary_svg(data, metric)})
    throughput = []
    for entry in data["throughput"]:
        values = []
        for key, _, fmt in THROUGHPUT_COLUMNS:
            value = entry.get(key)
            values.append({"display": "n/a" if value is None else fmt.format(value),
                           "sort": "" if value is None else repr(value)})
        throughput.append({**entry, "label": model_label(entry["model"], marks.get(entry["model"], "")), "values": values})
    return {
        "data": data,
        "details": details,
        "tasks": data["tasks"],
        "tables": tables,
        "throughput": throughput,
        "throughput_headers": [header for _, header, _ in THROUGHPUT_COLUMNS],
        "notes": data["footnote"]["lines"],
        "failures": data["failures"],
        "pretraining": loss_curves(results),  # masked-LM loss curves of the pretraining artifacts
        "calibration": _calibration_view(data.get("calibration") or []),
        "calibration_definition": CALIBRATION_DEFINITION,
        "errors_pages": _errors_links(results, page_dir, data["tasks"]),
        "title": page_title(data, results),
    }


def _calibration_view(rows: list[CalibrationJson]) -> list[CalibrationView]:
    def shown(value: float | None) -> Shown:
        return {"display": calibration_text(value), "sort": "" if value is None else repr(value)}

    return [{**row, "ece_view": shown(row["ece"]), "brier_view": shown(row["brier"])} for row in rows]


def _errors_links(results: Path | None, page_dir: Path | None, tasks: list[str]) -> list[ErrorsLink]:
    """Links to RESULTS/errors/<task>.html (harness.views.errors_page), for the pages that exist."""
    from harness.views.errors_page import errors_page_path

    if results is None:
        return []
    out = []
    for task in tasks:
        path = errors_page_path(results, task)
        if path.is_file():
            out.append({"task": task, "href": Path(os.path.relpath(path, page_dir or results)).as_posix()})
    return out


def page_title(data: LeaderboardJson, results: Path | None) -> str:
    """'Leaderboard: the demo suite' when one suite made every record, else the run's folder."""
    if data.get("suite"):
        return f"Leaderboard: the {data['suite']} suite" + (f" ({results.resolve().name})" if results is not None else "")
    return f"Leaderboard: {results.resolve().name}" if results is not None else "Leaderboard"


def render_html(data: LeaderboardJson, results: str | Path | None = None, page_dir: str | Path | None = None) -> str:
    """The page for leaderboard JSON data; image links are relative to `page_dir` (default: `results`)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.views", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["markdown_code"] = _inline_code
    context = page_context(
        data, Path(results) if results is not None else None, Path(page_dir) if page_dir is not None else None
    )
    return env.get_template(TEMPLATE).render(**context)


def _inline_code(text: str):
    """The notes use `code` and **bold** markdown: escape the text, then render those two marks."""
    import re

    from markupsafe import Markup, escape

    html = str(escape(text))
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    html = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html)
    return Markup(html)

