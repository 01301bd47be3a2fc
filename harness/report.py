"""RESULTS/REPORT.md: the leaderboard, per-task error analysis, pretraining gain, French models.

Sections:
- the leaderboard (harness.leaderboard.leaderboard_markdown);
- per task: the best model (highest mean test accuracy over its completed seeds), the confusion
  matrix image of its lowest seed, and the most confused label pairs pooled over its seeds;
- pretraining gain: each model minus its from-scratch twin, per task, with a 95% Welch t-interval
  for the difference of the seed means;
- monolingual vs multilingual models on French tasks: scores, parameter counts, embedding share;
- links to every cell's images (per-seed plots are drawn on the fly when missing or stale).

A failed cell shows `failed` and a missing one `–`; neither is ever shown as 0.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import HarnessError
from .store import atomic_write_text, cell_dir, load_records, record_path

DASH = "–"
FAILED = "failed"
TOP_CONFUSIONS = 10
FRENCH_MODELS = ("camembert-base", "xlm-roberta-base", "distilbert-multilingual")
FRENCH_NAME_PREFIXES = ("miam-loria", "flue-cls")
CI_METHOD = (
    "Welch t-interval for the difference of the seed means (unequal variances, Welch-Satterthwaite "
    "degrees of freedom); seeds are not paired across models"
)


# --------------------------------------------------------------------------- small helpers
def _completed(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("status") == "completed" and r.get("metrics")]


def _test(record: dict[str, Any], metric: str) -> float | None:
    value = ((record.get("metrics") or {}).get("test") or {}).get(metric)
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _points(value: float | None, signed: bool = False) -> str:
    if value is None:
        return DASH
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _human_count(n: Any) -> str:
    if n is None:
        return DASH
    n = float(n)
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{suffix}"
    return f"{int(n)}"


def _rel(path: Path, base: Path) -> str:
    return Path(path).resolve().relative_to(base.resolve()).as_posix()


def _by_cell(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        cells[(record["task"], record["model"])].append(record)
    for group in cells.values():
        group.sort(key=lambda r: r["seed"])
    return cells


# --------------------------------------------------------------------------- plots on demand
def ensure_cell_plots(results: Path, record: dict[str, Any]) -> dict[str, Path]:
    """The per-seed plot files of a completed record, drawn when missing or older than the record."""
    from .plots import plot_filenames, write_cell_plots

    folder = cell_dir(results, record["task"], record["model"])
    paths = {kind: folder / name for kind, name in plot_filenames(int(record["seed"])).items()}
    source = record_path(results, record["task"], record["model"], record["seed"])
    source_mtime = source.stat().st_mtime if source.exists() else 0.0
    if any(not p.exists() or p.stat().st_mtime < source_mtime for p in paths.values()):
        write_cell_plots(record, folder)
    return paths


# --------------------------------------------------------------------------- best model and confusions
def best_model(records: Sequence[dict[str, Any]], task: str) -> tuple[str, list[dict[str, Any]]] | None:
    """The model with the highest mean test accuracy over its completed seeds on `task` (ties: name)."""
    cells = _by_cell(r for r in _completed(records) if r["task"] == task)
    scored = []
    for (_, model), group in cells.items():
        values = [v for v in (_test(r, "accuracy") for r in group) if v is not None]
        if values:
            scored.append((-_mean(values), model, group))
    if not scored:
        return None
    scored.sort(key=lambda item: (item[0], item[1]))
    return scored[0][1], scored[0][2]


def most_confused_pairs(records: Sequence[dict[str, Any]], top: int = TOP_CONFUSIONS) -> list[dict[str, Any]]:
    """Off-diagonal cells of the test confusion matrices summed over `records` (one model's seeds),
    largest first: true label, predicted label, count, and the count's share of the true label's rows."""
    records = _completed(records)
    if not records:
        return []
    labels = list(records[0]["labels"])
    k = len(labels)
    pooled = [[0] * k for _ in range(k)]
    for record in records:
        matrix = record["metrics"]["test"]["confusion_matrix"]
        if list(record["labels"]) != labels or len(matrix) != k or any(len(row) != k for row in matrix):
            raise HarnessError(
                f"{record['task']} / {record['model']} / seed {record['seed']}: its labels or confusion matrix "
                "differ from the other seeds'; cannot pool them"
            )
        for i in range(k):
            for j in range(k):
                pooled[i][j] += int(matrix[i][j])
    pairs = []
    for i in range(k):
        row_total = sum(pooled[i])
        for j in range(k):
            if i != j and pooled[i][j] > 0:
                pairs.append({"true": labels[i], "predicted": labels[j], "count": pooled[i][j],
                              "share": pooled[i][j] / row_total, "true_index": i, "predicted_index": j})
    pairs.sort(key=lambda p: (-p["count"], -p["share"], p["true_index"], p["predicted_index"]))
    return pairs[:top]


# --------------------------------------------------------------------------- pretraining gain
def _model_info(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model name: its init ('pretrained' / 'scratch' / None) and source, from the record configs."""
    info: dict[str, dict[str, Any]] = {}
    for record in records:
        spec = (record.get("config") or {}).get("model")
        spec = spec if isinstance(spec, dict) else {}
        entry = info.setdefault(record["model"], {"init": None, "source": None, "language": None})
        for key in ("init", "source", "language"):
            if entry[key] is None and spec.get(key) is not None:
                entry[key] = spec[key]
    return info


def scratch_twins(records: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(pretrained model, scratch twin) pairs: `<name>-scratch`, else a model whose record config has
    init 'scratch' and the same source as a model that is not scratch."""
    info = _model_info(records)
    pairs = []
    for model in sorted(info):
        if info[model]["init"] == "scratch" or model.endswith("-scratch"):
            continue
        twin = f"{model}-scratch"
        if twin not in info:
            source = info[model]["source"]
            candidates = sorted(
                m for m, i in info.items()
                if m != model and i["init"] == "scratch" and source is not None and i["source"] == source
            )
            twin = candidates[0] if candidates else None
        if twin is not None:
            pairs.append((model, twin))
    return pairs


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """mean(a) - mean(b) with a Welch t-interval; no interval with fewer than 2 values on a side."""
    diff = _mean(a) - _mean(b)
    out: dict[str, Any] = {"diff": diff, "low": None, "high": None, "df": None}
    if len(a) < 2 or len(b) < 2:
        return out
    from scipy import stats

    va = sum((x - _mean(a)) ** 2 for x in a) / (len(a) - 1) / len(a)
    vb = sum((x - _mean(b)) ** 2 for x in b) / (len(b) - 1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:
        out.update(low=diff, high=diff, df=float(len(a) + len(b) - 2))
        return out
    df = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1) if va else 0.0) + (vb ** 2 / (len(b) - 1) if vb else 0.0))
    half = float(stats.t.ppf((1 + confidence) / 2, df)) * se
    out.update(low=diff - half, high=diff + half, df=df)
    return out


def pretraining_gain_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (pretrained model, task) for models with a scratch twin: gain in points per metric."""
    cells = _by_cell(records)
    tasks = sorted({r["task"] for r in records})
    rows = []
    for model, twin in scratch_twins(records):
        for task in tasks:
            mine, theirs = cells.get((task, model), []), cells.get((task, twin), [])
            if not mine and not theirs:
                continue
            row: dict[str, Any] = {"model": model, "scratch": twin, "task": task,
                                   "seeds": (len(_completed(mine)), len(_completed(theirs)))}
            for metric in ("accuracy", "macro_f1"):
                a = [v for v in (_test(r, metric) for r in _completed(mine)) if v is not None]
                b = [v for v in (_test(r, metric) for r in _completed(theirs)) if v is not None]
                if a and b:
                    row[metric] = welch_interval(a, b)
                elif (mine and not a) or (theirs and not b):
                    row[metric] = FAILED
                else:
                    row[metric] = None
            rows.append(row)
    return rows


def _gain_cell(value: Any) -> tuple[str, str]:
    if value is None:
        return DASH, DASH
    if value == FAILED:
        return FAILED, DASH
    ci = DASH if value["low"] is None else f"[{_points(value['low'], True)}, {_points(value['high'], True)}]"
    return _points(value["diff"], signed=True), ci


# --------------------------------------------------------------------------- French tasks
def task_language(records: Sequence[dict[str, Any]], task: str) -> str | None:
    for record in records:
        if record["task"] != task:
            continue
        spec = ((record.get("config") or {}).get("task") or {})
        spec = spec.get("spec") if isinstance(spec, dict) else None
        if isinstance(spec, dict) and spec.get("language"):
            return str(spec["language"])
    if task.startswith(FRENCH_NAME_PREFIXES) or task.endswith("-fr"):
        return "fr"
    return None


def _score_cell(group: Sequence[dict[str, Any]]) -> str:
    if not group:
        return DASH
    done = _completed(group)
    if not done:
        return FAILED
    from .stats import mean_ci

    parts = []
    for metric in ("accuracy", "macro_f1"):
        summary = mean_ci([v for v in (_test(r, metric) for r in done) if v is not None])
        if summary["mean"] is None:
            parts.append(DASH)
        elif summary["half_width"] is None:
            parts.append(_points(summary["mean"]))
        else:
            parts.append(f"{_points(summary['mean'])} ± {100 * summary['half_width']:.2f}")
    failed = len(group) - len(done)
    return " / ".join(parts) + (f" ({failed} failed)" if failed else "")


def french_rows(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[str], list[list[str]]]:
    """(French tasks, headers, rows) of the monolingual vs multilingual table."""
    tasks = sorted({r["task"] for r in records if task_language(records, r["task"]) == "fr"})
    if not tasks:
        return [], [], []
    present = sorted({r["model"] for r in records if r["task"] in tasks})
    models = [m for m in FRENCH_MODELS if m in present] or present
    info = _model_info(records)
    cells = _by_cell(records)
    headers = ["model", "language", "parameters", "embedding share"] + [f"{t} (acc / F1)" for t in tasks]
    rows = []
    for model in models:
        throughput = next((r.get("throughput") for r in _completed(records) if r["model"] == model and r.get("throughput")), {}) or {}
        params, non_embedding = throughput.get("parameters"), throughput.get("non_embedding_parameters")
        share = f"{100 * (1 - non_embedding / params):.0f}%" if params and non_embedding is not None else DASH
        rows.append([model, info.get(model, {}).get("language") or DASH, _human_count(params), share]
                    + [_score_cell(cells.get((t, model), [])) for t in tasks])
    return tasks, headers, rows


# --------------------------------------------------------------------------- the report
def _leaderboard_section(records: list[dict[str, Any]]) -> str:
    try:
        from .leaderboard import leaderboard_markdown
    except ImportError:
        return "_The leaderboard module is not available in this installation._"
    return _demote_headings(leaderboard_markdown(records).strip())


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


def render_report(results: str | Path, records: list[dict[str, Any]]) -> str:
    results = Path(results)
    if not records:
        raise HarnessError(f"{results} holds no result records (RESULTS/<task>/<model>/seed-<k>.json); run 'harness run' first")
    completed = _completed(records)
    plots: dict[tuple[str, str, int], dict[str, Path]] = {}
    plot_errors: dict[tuple[str, str, int], str] = {}
    for record in completed:
        key = (record["task"], record["model"], record["seed"])
        try:
            plots[key] = ensure_cell_plots(results, record)
        except HarnessError as exc:  # one malformed record must not sink the whole report
            plot_errors[key] = str(exc)

    tasks = sorted({r["task"] for r in records})
    out = [
        f"# Report: {results.name or results}",
        "",
        f"{len(records)} result record(s): {len(completed)} completed, {len(records) - len(completed)} failed. "
        "Scores are test-set percentages; means are over seeds. A failed cell shows `failed`, a missing one `–`.",
        "",
        "## Leaderboard",
        "",
        _leaderboard_section(records),
        "",
        "## Per task: the best model's errors",
        "",
        "Best model = highest mean test accuracy over its completed seeds. The confusion matrix shown is its "
        "lowest seed (not its best one), row-normalised by true label; the confused pairs are pooled over all its seeds.",
    ]
    for task in tasks:
        out += ["", f"### {task}", ""]
        best = best_model(records, task)
        if best is None:
            out.append(f"No completed cell: every model {FAILED} on this task.")
            continue
        model, group = best
        done = _completed(group)
        accuracy = _mean([v for v in (_test(r, "accuracy") for r in done) if v is not None])
        seeds = ", ".join(str(r["seed"]) for r in done)
        out.append(f"Best model: **{model}**, mean test accuracy {_points(accuracy)} over seed(s) {seeds}.")
        first = done[0]
        key = (task, model, first["seed"])
        if key in plots:
            image = plots[key]["confusion_matrix"]
            out += ["", f"![{task} / {model} / seed {first['seed']} confusion matrix]({_rel(image, results)})", ""]
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

    out += ["", "## Pretraining gain", ""]
    gains = pretraining_gain_rows(records)
    if gains:
        out.append(f"Pretrained minus from-scratch twin, in points. 95% CI: {CI_METHOD}. "
                   "No interval with fewer than 2 completed seeds on a side.")
        out.append("")
        rows = []
        for row in gains:
            acc, acc_ci = _gain_cell(row["accuracy"])
            f1, f1_ci = _gain_cell(row["macro_f1"])
            rows.append([row["model"], row["scratch"], row["task"], f"{row['seeds'][0]} / {row['seeds'][1]}",
                         acc, acc_ci, f1, f1_ci])
        out.append(_md_table(
            ["model", "scratch twin", "task", "seeds", "Δ accuracy", "95% CI", "Δ macro-F1", "95% CI"], rows
        ))
    else:
        out.append("No model has a from-scratch twin (`<name>-scratch`, or init `scratch` with the same source) in these results.")

    out += ["", "## Monolingual vs multilingual on French tasks", ""]
    fr_tasks, headers, rows = french_rows(records)
    if rows:
        out.append("Test accuracy / macro-F1 in points, mean ± 95% t half-width over seeds. Embedding share = "
                   "share of the parameters in the embeddings (1 - non-embedding / total).")
        out.append("")
        out.append(_md_table(headers, rows))
    else:
        out.append("No French task (task spec language `fr`) in these results.")

    from .search_views import report_section

    out += ["", *report_section(results, records)]
    out += ["", "## Cell plots", ""]
    cells = _by_cell(records)
    for task in tasks:
        models = sorted({m for (t, m) in cells if t == task})
        seeds = sorted({r["seed"] for r in records if r["task"] == task})
        rows = []
        for model in models:
            by_seed = {r["seed"]: r for r in cells[(task, model)]}
            row = [model]
            for seed in seeds:
                record = by_seed.get(seed)
                if record is None:
                    row.append(DASH)
                elif record.get("status") != "completed":
                    row.append(FAILED)
                elif (task, model, seed) not in plots:
                    row.append("no plot")
                else:
                    files = plots[(task, model, seed)]
                    row.append(f"[confusion]({_rel(files['confusion_matrix'], results)}) · "
                               f"[curves]({_rel(files['curves'], results)})")
            rows.append(row)
        out += [f"### {task}", "", _md_table(["model"] + [f"seed {s}" for s in seeds], rows), ""]
    return "\n".join(out).rstrip() + "\n"


def write_report(results: str | Path) -> Path:
    """Write RESULTS/REPORT.md (atomically), drawing missing per-cell plots; returns its path."""
    results = Path(results)
    text = render_report(results, load_records(results))
    path = results / "REPORT.md"
    atomic_write_text(path, text)
    return path


def cli_main(args) -> int:
    path = write_report(args.results)
    print(f"report: {path}")
    return 0
