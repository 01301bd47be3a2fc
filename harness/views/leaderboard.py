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
from harness.views.leaderboard_model import Leaderboard

import json
from pathlib import Path
from typing import Iterable
import pandas as pd
from harness.errors import HarnessError
from harness.files import atomic_write_set

from harness.records.schema import ResultRecord
from harness.records.store import load_records


# --------------------------------------------------------------------------- building
def build_leaderboard(records: Iterable[ResultRecord]) -> Leaderboard:
    """Records -> the leaderboard (cells, marks, averages, throughput, footnote): see
    harness.leaderboard_build."""
    from harness.views.leaderboard_build import build_leaderboard as build

    return build(records)


# --------------------------------------------------------------------------- public API
def leaderboard_tables(records: Iterable[ResultRecord]) -> dict[str, pd.DataFrame]:
    """DataFrames for reuse: `accuracy` / `macro_f1` (display strings, a `model` column, tasks,
    `average`), `accuracy_means` / `macro_f1_means` (numeric percent, NaN where failed or missing),
    `throughput` (display), `throughput_values` (numeric) and `cells` (the CSV's long table)."""
    return build_leaderboard(records).tables()


def leaderboard_markdown(records: Iterable[ResultRecord]) -> str:
    return build_leaderboard(records).to_markdown()


def load_leaderboard(results: str | Path) -> Leaderboard:
    records = load_records(results)
    if not records:
        raise HarnessError(f"no result records in {results} (expected <task>/<model>/seed-<k>.json files)")
    return build_leaderboard(records)


def write_leaderboard_files(results: str | Path) -> Path:
    """Write RESULTS/LEADERBOARD.md, .csv, .json and .html as one set (harness.files.atomic_write_set:
    every file rendered and on disk before any is replaced, so a failure changes none of them);
    return the markdown's path."""
    board = load_leaderboard(results)
    root = Path(results)
    markdown = root / "LEADERBOARD.md"
    texts = {root / "LEADERBOARD.csv": board.to_csv(), root / "LEADERBOARD.json": board.to_json(),
             markdown: board.to_markdown(), root / "LEADERBOARD.html": render(board, "html", root)}
    atomic_write_set({path: text.encode("utf-8") for path, text in texts.items()})
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
        from harness.views.webpage import render_html

        return render_html(json.loads(board.to_json()), results, page_dir)
    raise HarnessError(f"unknown leaderboard format '{fmt}' (md, csv, json, html)")


