"""The shape of LEADERBOARD.json (`Leaderboard.to_json_dict`, harness.views.leaderboard_model), which
the web page and the summary figure are drawn from. Numbers are percent; None where a figure is
missing. Types only: the document is built by the leaderboard and read by its views."""
from __future__ import annotations

from typing import NotRequired, TypedDict


class Comparison(TypedDict, total=False):
    """A cell against its column's best (harness.stats.seed_example_test), or why it was skipped."""

    baseline: str
    seeds: list[int]
    method: str
    skipped: str
    p_value: float
    delta: float | None
    low: float | None
    high: float | None
    pairs: int
    df: float
    training_variance_counted: bool
    resamples: int
    bootstrap_seed: int


class CellNumbers(TypedDict):
    """A cell's statistics across seeds in percent (the JSON cell's and the CSV row's)."""

    mean: float | None
    half_width: float | None
    std: float | None
    low: float | None
    high: float | None
    n_seeds: int
    n_failed: int


class CellDisplay(TypedDict):
    """How a cell is shown (the JSON cell's and the CSV row's)."""

    at_chance: str | None  # why the cell is at chance level, or None
    clipped: bool  # the interval was cut at the metric's range
    display: str | None  # the cell as every view prints it


class CellJson(CellNumbers, CellDisplay):
    """One task x model x metric of the leaderboard."""

    task: str
    model: str
    model_mark: str
    metric: str
    status: str  # completed | partial | failed | missing
    seeds: list[int]
    failed_seeds: list[int]
    values: list[float | None]  # per completed seed
    best: bool
    tie_with_best: bool
    comparison: Comparison | None
    evaluated: bool  # a checkpoint evaluated as published: the interval is over test examples
    example_interval: dict[str, float | None] | None  # low, high
    text: str


class AverageJson(TypedDict):
    """A model's mean over the tasks for one metric."""

    model: str
    model_mark: str
    metric: str
    mean: float | None
    n_tasks: int
    best: bool


class ThroughputJson(TypedDict, total=False):
    """A task x model's throughput: means over its completed seeds (THROUGHPUT_FIELDS), None where
    no seed measured it."""

    model: str
    task: str
    n_seeds: int
    evaluated: bool
    train_samples_per_s: float | None
    train_tokens_per_s: float | None
    eval_samples_per_s: float | None
    eval_tokens_per_s: float | None
    latency_median_ms: float | None
    latency_p95_ms: float | None
    peak_memory_mb: float | None
    parameters_m: float | None
    mfu: float | None
    precision: str | None
    device: str | None


class FailureJson(TypedDict):
    task: str
    model: str
    seed: int
    error: str  # one line


class CalibrationJson(TypedDict):
    """A task x model's calibration (harness.views.calibration.calibration_rows)."""

    task: str
    model: str
    seeds: int  # seeds that recorded probabilities
    not_recorded: int
    ece: float | None
    brier: float | None
    bins: int | None


class FootnoteJson(TypedDict, total=False):
    """The leaderboard's notes: the methods and settings behind the numbers, and their lines."""

    split: str
    unit: str
    test_examples: dict[str, list[int]]
    max_eval_samples: list[int]
    macro_f1_definition: str | list[str]
    seeds: list[int]
    versions: dict[str, str | list[str] | None]
    ci_method: str
    confidence: float
    tie_method: str
    significance_method: str
    alpha: float
    resamples: int
    bootstrap_seed: int
    memory_kind: list[str]
    lines: list[str]


class LeaderboardJson(TypedDict):
    """LEADERBOARD.json."""

    format: str  # harness-leaderboard
    format_version: int
    unit: str
    metrics: list[str]
    tasks: list[str]
    models: list[str]
    model_marks: dict[str, str]  # model -> its row mark (a footnote line starting with it explains it)
    ranking: dict[str, list[str]]  # metric -> models, best first
    cells: list[CellJson]
    averages: list[AverageJson]
    throughput: list[ThroughputJson]
    failures: list[FailureJson]
    footnote: FootnoteJson
    suite: str | None
    calibration: NotRequired[list[CalibrationJson]]
