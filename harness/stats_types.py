"""The shapes of harness.stats' results: a CI across seeds (`mean_ci`) and the paired significance
test (`seed_example_test` / `paired_test`). Types only, beside the lowest layer so that every view
(and LEADERBOARD.json's types) may name them."""
from __future__ import annotations

from typing import TypedDict

SIGNIFICANCE_METHOD = "seed-and-example variance components, Satterthwaite t"  # PairedTest's method
POWER = 0.8  # the power at which `mde` (the minimum detectable effect) is stated


class MeanCI(TypedDict):
    """`stats.mean_ci`: the mean, sample standard deviation and Student-t CI over n values; None
    where fewer values than a figure needs (std, half_width, low, high need two)."""

    n: int
    mean: float | None
    std: float | None
    half_width: float | None
    low: float | None
    high: float | None
    clipped: bool  # the interval was clipped to the quantity's bounds


class PairedTest(TypedDict):
    """`stats.seed_example_test`: candidate minus baseline over paired seeds, in fractions."""

    method: str
    metric: str
    candidate: float  # mean over the candidate's seeds
    baseline: float
    delta: float
    low: float  # the CI of delta at 1 - alpha
    high: float
    p_value: float
    se: float
    df: float
    v_seeds: float
    v_examples: float
    mde: float  # the smallest true drop detected with probability `power` at alpha
    power: float
    pairs: int
    n_examples: int
    training_variance_counted: bool
    resamples: int
