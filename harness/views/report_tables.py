"""The report's model tables: pretraining gain (a model minus its from-scratch twin) and
monolingual vs multilingual models on French tasks, with the formatting helpers REPORT.md shares.

The gain is tested with `stats.seed_example_test` over the seeds both models have, the same test
as the leaderboard's daggers and `harness compare`.
"""
from __future__ import annotations

from harness.views.formatting import score_text

from harness.metrics import metric_bounds, metric_names

import math
from pathlib import Path
from typing import Any, Iterable, Sequence, TypedDict

from harness.errors import HarnessError
from harness.records.schema import ResultRecord
from harness.records.grouping import group_records, n_labels, seed_run, test_set_problem

DASH = "–"
FAILED = "failed"
TOP_CONFUSIONS = 10
FRENCH_MODELS = ("camembert-base", "xlm-roberta-base", "distilbert-multilingual")
FRENCH_NAME_PREFIXES = ("miam-loria", "flue-cls")
CI_METHOD = (
    "the seed-and-example variance-components t-test (README, Statistics) on the same test examples, over the "
    "seeds both models have (paired by seed number): it counts seed variance and test-example variance"
)


# --------------------------------------------------------------------------- small helpers
def _completed(records: Iterable[ResultRecord]) -> list[ResultRecord]:
    return [r for r in records if r.completed]


def _test(record: ResultRecord, metric: str) -> float | None:
    value = record.test.score(metric)
    return None if value is None or math.isnan(value) else value


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _points(value: float | None, signed: bool = False) -> str:
    if value is None:
        return DASH
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


class Markdown(str):
    """A table cell that is already markdown (a link, a bold mark): not escaped again."""

    @property
    def markdown(self) -> str:
        return str(self)


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        from harness.views.text import md_escape

        return value.markdown if isinstance(value, Markdown) else md_escape(value)

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
    """`path` relative to `base` (the report links 2 images a seed run: resolved only when needed)."""
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()


def _by_cell(records: Iterable[ResultRecord]) -> dict[tuple[str, str], list[ResultRecord]]:
    """Every record (completed and failed) of each task x model, by seed: grouping.group_records."""
    return {key: sorted(g.completed + g.failed, key=lambda r: r.seed)
            for key, g in group_records(records).items()}


# --------------------------------------------------------------------------- pretraining gain
class ModelInfo(TypedDict):
    """What the record configs (and the shipped models.yaml) say of a model; None where nothing does."""

    init: str | None  # pretrained | scratch
    source: str | None
    language: str | None


def _model_info(records: Sequence[ResultRecord]) -> dict[str, ModelInfo]:
    """Per model name: its init ('pretrained' / 'scratch' / None) and source, from the record configs."""
    info: dict[str, ModelInfo] = {}
    for record in records:
        spec = record.config.model
        entry = info.setdefault(record.model, {"init": None, "source": None, "language": None})
        for key in ("init", "source", "language"):
            if entry[key] is None and spec.get(key) is not None:
                entry[key] = spec[key]
        language = record.provenance.model_language
        if entry["language"] is None and language:
            entry["language"] = language
    shipped = _shipped_languages() if any(e["language"] is None for e in info.values()) else {}
    for model, entry in info.items():
        entry["language"] = entry["language"] or shipped.get(model)
    return info


def _shipped_languages() -> dict[str, str]:
    """Model languages from the shipped models.yaml: for records written before the record carried
    `provenance.model_language` (the config leaves `language` out: it does not change a score)."""
    try:
        from harness.spec.models import load_models

        return {name: spec.language for name, spec in load_models().models.items() if spec.language}
    except (HarnessError, OSError):
        return {}


def scratch_twins(records: Sequence[ResultRecord]) -> list[tuple[str, str]]:
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


class GainTest(TypedDict):
    """A model minus its scratch twin on one metric (fractions): stats.seed_example_test's figures."""

    diff: float
    low: float
    high: float
    p_value: float
    pairs: int
    training_variance_counted: bool


def gain_test(mine: Sequence[ResultRecord], theirs: Sequence[ResultRecord], metric: str) -> GainTest | str:
    """Model minus twin: stats.seed_example_test over the common completed seeds, or why it cannot run."""
    from harness.views.leaderboard_model import ALPHA, BOOTSTRAP_SEED, RESAMPLES
    from harness.stats import seed_example_test

    a = {r.seed: r for r in _completed(mine)}
    b = {r.seed: r for r in _completed(theirs)}
    common = sorted(set(a) & set(b))
    if not common:
        return "no common seed"
    try:
        cand, base = [seed_run(a[s]) for s in common], [seed_run(b[s]) for s in common]
    except HarnessError:
        return "no test predictions"
    problem = test_set_problem("", cand, base)
    if problem:
        return problem.lstrip(": ")
    result = seed_example_test(base[0].references, [r.prediction_array for r in cand], [r.prediction_array for r in base],
                               metric, n_labels(cand + base), resamples=RESAMPLES, seed=BOOTSTRAP_SEED, alpha=ALPHA)
    return {"diff": result["delta"], "low": result["low"], "high": result["high"], "p_value": result["p_value"],
            "pairs": result["pairs"], "training_variance_counted": result["training_variance_counted"]}


def pretraining_gain_rows(records: Sequence[ResultRecord]) -> list[dict[str, Any]]:
    """One row per (pretrained model, task) for models with a scratch twin: gain in points per metric."""
    cells = _by_cell(records)
    tasks = sorted({r.task for r in records})
    rows = []
    for model, twin in scratch_twins(records):
        for task in tasks:
            mine, theirs = cells.get((task, model), []), cells.get((task, twin), [])
            if not mine and not theirs:
                continue
            row: dict[str, Any] = {"model": model, "scratch": twin, "task": task,
                                   "seeds": (len(_completed(mine)), len(_completed(theirs)))}
            for metric in metric_names():
                if (mine and not _completed(mine)) or (theirs and not _completed(theirs)):
                    row[metric] = FAILED
                elif mine and theirs:
                    row[metric] = gain_test(mine, theirs, metric)
                else:
                    row[metric] = None
            rows.append(row)
    return rows


def _gain_cell(value: Any) -> tuple[str, str]:
    if value is None:
        return DASH, DASH
    if value == FAILED:
        return FAILED, DASH
    if isinstance(value, str):
        return DASH, value
    from harness.stats import format_p

    ci = f"[{_points(value['low'], True)}, {_points(value['high'], True)}]"
    seeds = f"{value['pairs']} pair(s)" + ("" if value["training_variance_counted"] else ", seed variance not counted")
    return _points(value["diff"], signed=True), f"{ci}, p {format_p(value['p_value'])} ({seeds})"


# --------------------------------------------------------------------------- French tasks
def task_language(records: Sequence[ResultRecord], task: str) -> str | None:
    for record in records:
        if record.task == task and record.config.task_spec.get("language"):
            return str(record.config.task_spec["language"])
    if task.startswith(FRENCH_NAME_PREFIXES) or task.endswith("-fr"):
        return "fr"
    return None


def _score_cell(group: Sequence[ResultRecord]) -> str:
    if not group:
        return DASH
    done = _completed(group)
    if not done:
        return FAILED
    from harness.stats import mean_ci

    parts = []
    for metric in metric_names():
        summary = mean_ci([v for v in (_test(r, metric) for r in done) if v is not None], bounds=metric_bounds(metric))
        if summary["mean"] is None:
            parts.append(DASH)
        else:
            parts.append(score_text(*(None if summary[k] is None else 100 * summary[k]
                                      for k in ("mean", "half_width", "low", "high")), clipped=summary["clipped"]))
    failed = len(group) - len(done)
    return " / ".join(parts) + (f" ({failed} failed)" if failed else "")


def french_rows(records: Sequence[ResultRecord]) -> tuple[list[str], list[str], list[list[str]]]:
    """(French tasks, headers, rows) of the monolingual vs multilingual table: the models with a
    French or multilingual language (CamemBERT, XLM-R, multilingual DistilBERT first); empty when the
    grid has no French task or no such model."""
    tasks = sorted(task for task in {r.task for r in records} if task_language(records, task) == "fr")
    info = _model_info(records)
    present = sorted({r.model for r in records if r.task in tasks})
    eligible = [m for m in present if info.get(m, {}).get("language") in ("fr", "multilingual")]
    if not tasks or not eligible:
        return [], [], []
    models = [m for m in FRENCH_MODELS if m in eligible] + [m for m in eligible if m not in FRENCH_MODELS]
    cells = _by_cell(records)
    headers = ["model", "language", "parameters", "embedding share"] + [f"{t} (acc / F1)" for t in tasks]
    rows = []
    for model in models:
        throughput = next((r.throughput for r in _completed(records) if r.model == model and r.throughput), None)
        params = throughput.parameters if throughput else None
        non_embedding = throughput.non_embedding_parameters if throughput else None
        share = f"{100 * (1 - non_embedding / params):.0f}%" if params and non_embedding is not None else DASH
        rows.append([model, info[model]["language"], _human_count(params), share]
                    + [_score_cell(cells.get((t, model), [])) for t in tasks])
    return tasks, headers, rows
