"""The shape of `harness compare --format json` (`ComparisonResult.to_dict`, harness.views.compare).
Metric values, delta and CI are in points (metric x 100). Types only."""
from __future__ import annotations

from typing import Any, TypedDict


class ComparisonRow(TypedDict):
    """One task x model x metric: the fields of compare.Comparison, and whether a significant drop
    was within the tolerance."""

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
    detectable_drop: float | None
    se: float
    df: float
    training_variance_counted: bool
    method: str
    clipped: bool
    examples_needed: int | None
    config_changes: dict[str, list[Any]]  # config key -> [baseline value, candidate value]: any JSON value
    evaluated: bool
    within_tolerance: bool


class CompareSettings(TypedDict):
    metrics: list[str]
    alpha: float
    max_drop_points: float
    confidence: float
    resamples: int
    bootstrap_seed: int
    method_name: str
    power: float


class CompareJson(TypedDict):
    """The whole report."""

    verdict: str
    regressed: bool
    exit_code: int
    candidate: str
    baseline: str
    settings: CompareSettings
    units: str
    counts: dict[str, int]  # status -> comparisons
    regressions: list[ComparisonRow]
    improvements: list[ComparisonRow]
    unchanged: list[ComparisonRow]
    only_candidate: list[str]
    only_baseline: list[str]
    notes: list[str]
    method: str
