"""RESULTS/REPORT.md: the leaderboard, per-task error analysis, pretraining gain, French models.

Sections:
- the leaderboard (harness.leaderboard.leaderboard_markdown) and the summary figure
  `summary.png` (harness.summary: models x tasks, mean and CI over seeds);
- per task: the best model (highest mean test accuracy over its completed seeds), the confusion
  matrix image of its lowest seed, and the most confused label pairs pooled over its seeds;
- pretraining gain: each model minus its from-scratch twin, per task, with the 95% interval and p of
  `stats.seed_example_test` (seed and test-example variance, seeds paired by number), the same test
  as the leaderboard's daggers and `harness compare`;
- monolingual vs multilingual models on French tasks (only for grids with a French task and a French
  or multilingual model): scores, language, parameter counts, embedding share;
- links to every cell's images (per-seed plots are drawn on the fly when missing or stale).

A failed cell shows `failed` and a missing one `–`; neither is ever shown as 0.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Sequence, TypedDict
from harness.errors import HarnessError
from harness.metrics import METRICS, metric_names
from harness.views.text import md_escape
from harness.views.report_tables import Markdown, CI_METHOD, DASH, FAILED, TOP_CONFUSIONS, _by_cell, _completed, _gain_cell, _mean, _md_table, _points, _rel, _test, french_rows, pretraining_gain_rows
from harness.files import atomic_write_text
from harness.records.schema import RecordStatus, ResultRecord
from harness.records.store import cell_dir, load_records, record_path

Plots = dict[tuple[str, str, int], dict[str, Path]]  # (task, model, seed) -> the cell's plot files


# --------------------------------------------------------------------------- plots on demand
def ensure_cell_plots(results: Path, record: ResultRecord) -> dict[str, Path]:
    """The per-seed plot files of a completed record, drawn when missing or older than the record."""
    from harness.views.plots import plot_filenames, write_cell_plots

    folder = cell_dir(results, record.task, record.model)
    paths = {kind: folder / name for kind, name in plot_filenames(record.seed).items()}
    source = record_path(results, record.task, record.model, record.seed)
    source_mtime = source.stat().st_mtime if source.exists() else 0.0
    if any(not p.exists() or p.stat().st_mtime < source_mtime for p in paths.values()):
        write_cell_plots(record, folder)
    return paths


# --------------------------------------------------------------------------- best model and confusions
def best_model(records: Sequence[ResultRecord], task: str,
               chance: Callable[[str, list[ResultRecord]], str | None] | None = None) -> tuple[str, list[ResultRecord]] | None:
    """The model with the highest mean test accuracy over its completed seeds on `task` (ties: name),
    among the cells not at chance level (harness.records.chance): a model predicting one class is
    never "best". `chance(model, completed records)`: why the cell is at chance, or None (the report
    passes the leaderboard's marks, computed once); by default tested here."""
    cells = _by_cell(r for r in _completed(records) if r.task == task)
    scored = []
    for (_, model), group in cells.items():
        values = [v for v in (_test(r, "accuracy") for r in group) if v is not None]
        if values and (chance(model, group) if chance is not None else _chance_reason(group)) is None:
            scored.append((-_mean(values), model, group))
    if not scored:
        return None
    scored.sort(key=lambda item: (item[0], item[1]))
    return scored[0][1], scored[0][2]


def _chance_reason(group: Sequence[ResultRecord]) -> str | None:
    from harness.records.chance import at_chance
    from harness.records.grouping import seed_run

    try:
        return at_chance([seed_run(r) for r in group])
    except HarnessError:  # no test predictions: nothing to test
        return None


class ConfusedPair(TypedDict):
    """Test rows of one true label predicted as another, pooled over a model's seeds."""

    true: str
    predicted: str
    count: int
    share: float  # of the true label's rows
    true_index: int
    predicted_index: int


def most_confused_pairs(records: Sequence[ResultRecord], top: int = TOP_CONFUSIONS) -> list[ConfusedPair]:
    """Off-diagonal cells of the test confusion matrices summed over `records` (one model's seeds),
    largest first: true label, predicted label, count, and the count's share of the true label's rows."""
    records = _completed(records)
    if not records:
        return []
    labels = list(records[0].labels)
    k = len(labels)
    pooled = [[0] * k for _ in range(k)]
    for record in records:
        matrix = record.test.confusion_matrix
        if list(record.labels) != labels or len(matrix) != k or any(len(row) != k for row in matrix):
            raise HarnessError(
                f"{record.task} / {record.model} / seed {record.seed}: its labels or confusion matrix "
                "differ from the other seeds'; cannot pool them"
            )
        for i in range(k):
            for j in range(k):
                pooled[i][j] += int(matrix[i][j])
    pairs: list[ConfusedPair] = []
    for i in range(k):
        row_total = sum(pooled[i])
        for j in range(k):
            if i != j and pooled[i][j] > 0:
                pairs.append({"true": labels[i], "predicted": labels[j], "count": pooled[i][j],
                              "share": pooled[i][j] / row_total, "true_index": i, "predicted_index": j})
    pairs.sort(key=lambda p: (-p["count"], -p["share"], p["true_index"], p["predicted_index"]))
    return pairs[:top]


# --------------------------------------------------------------------------- the report
def _leaderboard_section(board) -> str:
    return _demote_headings(board.to_markdown().strip())


def _summary_section(results: Path, board) -> str:
    """RESULTS/summary.png: every model x task, mean and 95% CI over seeds (harness.summary). Drawn
    only when missing or stale (as the cell plots): the report names, in a comment, the digest of
    what the figure was drawn from (the leaderboard's data and the figure's code) and the file's
    size; a report of unchanged results keeps the figure (drawing 42 panels of 30 models takes
    seconds)."""
    import json

    from harness.views.summary import write_summary_png

    image = results / "summary.png"
    try:
        text = board.to_json()
        digest = _figure_digest(text)
        if _drawn_from(results, image) != digest:
            write_summary_png(json.loads(text), image)
        size = image.stat().st_size
    except (HarnessError, OSError) as exc:
        return f"(no summary figure: {exc})"
    return ("### Summary figure\n\nMean test score over seeds with its 95% t-interval, per task and model; dots are "
            f"single seeds.\n\n![summary: models x tasks]({_rel(image, results)})\n\n"
            f"<!-- summary.png drawn from {digest}, {size} bytes -->")


_DRAWN_FROM = re.compile(r"<!-- summary\.png drawn from ([0-9a-f]{64}), (\d+) bytes -->")


def _figure_digest(board_json: str) -> str:
    """What the summary figure shows and how: the leaderboard's JSON, the harness version and the
    figure's source (a changed figure is drawn again)."""
    import hashlib

    from harness import __version__
    from harness.views import summary

    parts = (__version__.encode(), board_json.encode(), Path(summary.__file__).read_bytes())
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def _drawn_from(results: Path, image: Path) -> str | None:
    """The digest the current summary.png was drawn from, as the last report says (None: draw it)."""
    try:
        found = _DRAWN_FROM.search((results / "REPORT.md").read_text(encoding="utf-8"))
        size = image.stat().st_size
    except (OSError, UnicodeDecodeError):
        return None
    return found.group(1) if found and int(found.group(2)) == size else None


def _demote_headings(markdown: str) -> str:
    """Nest a standalone document under this report's `## Leaderboard`: drop its title, add a level."""
    lines = markdown.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
        while lines and not lines[0].strip():
            lines = lines[1:]
    out, fenced = [], False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
        out.append("#" + line if not fenced and line.startswith("#") else line)
    return "\n".join(out)


def render_report(results: str | Path, records: list[ResultRecord]) -> str:
    """The report's Markdown: the leaderboard and summary, then one section per analysis."""
    results = Path(results)
    if not records:
        raise HarnessError(f"{results} holds no result records (RESULTS/<task>/<model>/seed-<k>.json); run 'harness run' first")
    completed = _completed(records)
    plots: Plots = {}
    plot_errors: dict[tuple[str, str, int], str] = {}
    for record in completed:
        key = (record.task, record.model, record.seed)
        try:
            plots[key] = ensure_cell_plots(results, record)
        except HarnessError as exc:  # one malformed record must not sink the whole report
            plot_errors[key] = str(exc)

    from harness.views.leaderboard import build_leaderboard
    from harness.views.pretrain_views import report_section as pretraining_section
    from harness.views.search_views import report_section as search_section

    board = build_leaderboard(records)  # once: the leaderboard section and the summary figure share it

    out = [
        f"# Report: {md_escape(results.name or results)}",
        "",
        f"{len(records)} result record(s): {len(completed)} completed, {len(records) - len(completed)} failed. "
        "Scores are test-set percentages; means are over seeds. A failed cell shows `failed`, a missing one `–`.",
        "",
        "## Leaderboard",
        "",
        _leaderboard_section(board),
        "",
        _summary_section(results, board),
        *_errors_section(results, records, plots, plot_errors, board),
        *_gain_section(records),
        "", *pretraining_section(results, records),
        *_french_section(records),
        "", *search_section(results, records),
        *_plots_section(results, records, plots),
    ]
    return "\n".join(out).rstrip() + "\n"


def _errors_section(results: Path, records: list[ResultRecord], plots: Plots,
                    plot_errors: dict[tuple[str, str, int], str], board) -> list[str]:
    """Per task: the best model, its lowest seed's confusion matrix and its most confused pairs (the
    at-chance marks are the leaderboard's: the same records, the same test)."""
    completed = _completed(records)
    out = [
        "",
        "## Per task: the best model's errors",
        "",
        "Best model = highest mean test accuracy over its completed seeds, among the cells not at chance level. The confusion matrix shown is its "
        "lowest seed (not its best one), row-normalised by true label; the confused pairs are pooled over all its seeds.",
    ]
    for task in sorted({r.task for r in records}):
        out += ["", f"### {md_escape(task)}", ""]
        best = best_model(records, task, lambda model, _: board.cells[(metric_names()[0], task, model)].at_chance)
        if best is None:
            if any(r.task == task for r in completed):
                out.append("No best model: every completed cell of this task is at chance level (⚠ in the "
                           "leaderboard: not significantly above the majority-class rate, or one class predicted).")
            else:
                out.append(f"No completed cell: every model {FAILED} on this task.")
            continue
        model, group = best
        done = _completed(group)
        accuracy = _mean([v for v in (_test(r, "accuracy") for r in done) if v is not None])
        seeds = ", ".join(str(r.seed) for r in done)
        out.append(f"Best model: **{md_escape(model)}**, mean test accuracy {_points(accuracy)} over seed(s) {seeds}.")
        first = done[0]
        key = (task, model, first.seed)
        if key in plots:
            image = plots[key]["confusion_matrix"]
            out += ["", f"![{md_escape(task)} / {md_escape(model)} / seed {first.seed} confusion matrix]({_rel(image, results)})", ""]
        else:
            out += ["", f"(no confusion matrix image: {plot_errors.get(key, 'not drawn')})", ""]
        try:
            pairs = most_confused_pairs(done)
        except HarnessError as exc:
            out.append(f"Confused pairs not pooled: {exc}")
            continue
        if pairs:
            out.append(f"Most confused label pairs (top {TOP_CONFUSIONS}, pooled over seed(s) {seeds}):")
            out.append("")
            out.append(_md_table(
                ["true", "predicted", "count", "share of true label"],
                [[p["true"], p["predicted"], p["count"], f"{100 * p['share']:.1f}%"] for p in pairs],
            ))
        else:
            out.append("No confusions: every test row of these seeds is classified correctly.")
    return out


def _gain_section(records: list[ResultRecord]) -> list[str]:
    out = ["", "## Pretraining gain", ""]
    gains = pretraining_gain_rows(records)
    if not gains:
        out.append("No model has a from-scratch twin (`<name>-scratch`, or init `scratch` with the same source) in these results.")
        return out
    out.append(f"Pretrained minus from-scratch twin, in points. 95% CI and p: {CI_METHOD}. With one seed pair, "
               "training (seed) variance is not accounted for.")
    out.append("")
    rows = []
    for row in gains:
        rows.append([row["model"], row["scratch"], row["task"], f"{row['seeds'][0]} / {row['seeds'][1]}",
                     *(part for metric in metric_names() for part in _gain_cell(row[metric]))])
    out.append(_md_table(
        ["model", "scratch twin", "task", "seeds",
         *(part for m in METRICS.values() for part in (f"Δ {m.title}", "95% CI, p"))], rows
    ))
    return out


def _french_section(records: list[ResultRecord]) -> list[str]:
    """Only for grids with a French task and a French or multilingual model."""
    _, headers, rows = french_rows(records)
    if not rows:
        return []
    return ["", "## Monolingual vs multilingual on French tasks", "",
            f"Test {' / '.join(m.title for m in METRICS.values())} in points, mean ± 95% t half-width over "
            "seeds ([low, high] where clipped to the metric's range). Embedding share = "
            "share of the parameters in the embeddings (1 - non-embedding / total).",
            "", _md_table(headers, rows)]


def _plots_section(results: Path, records: list[ResultRecord], plots: Plots) -> list[str]:
    """Links to every cell's images, per task: model x seed."""
    out = ["", "## Cell plots", ""]
    cells = _by_cell(records)
    for task in sorted({r.task for r in records}):
        models = sorted({m for (t, m) in cells if t == task})
        seeds = sorted({r.seed for r in records if r.task == task})
        rows = []
        for model in models:
            by_seed = {r.seed: r for r in cells[(task, model)]}
            row = [model]
            for seed in seeds:
                record = by_seed.get(seed)
                if record is None:
                    row.append(DASH)
                elif record.status is not RecordStatus.COMPLETED:
                    row.append(FAILED)
                elif (task, model, seed) not in plots:
                    row.append("no plot")
                else:
                    files = plots[(task, model, seed)]
                    row.append(Markdown(f"[confusion]({_rel(files['confusion_matrix'], results)}) · "
                                        f"[curves]({_rel(files['curves'], results)})"))
            rows.append(row)
        out += [f"### {md_escape(task)}", "", _md_table(["model"] + [f"seed {s}" for s in seeds], rows), ""]
    return out


def write_report(results: str | Path) -> Path:
    """Write RESULTS/REPORT.md (atomically), drawing missing per-cell plots; returns its path."""
    results = Path(results)
    text = render_report(results, load_records(results))
    path = results / "REPORT.md"
    atomic_write_text(path, text)
    return path


