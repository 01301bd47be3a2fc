"""At-chance cells: a task x model whose test accuracy is not significantly above the majority-class
rate, or one of whose seeds predicts a single class for the whole test split. Every view flags
them (⚠) and the report's "best model" never names one.

The test: one-sided exact binomial test of the correct predictions pooled over the seeds
(k correct of seeds x n) against the majority-class share of the test references, at alpha 0.05.
Pooling treats the seeds' predictions as independent draws, which makes the test lenient (it flags
less): a flagged cell is certainly not better than predicting the majority class.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from harness.records.grouping import SeedRun

CHANCE_ALPHA = 0.05


def at_chance(runs: Sequence[SeedRun], alpha: float = CHANCE_ALPHA) -> str | None:
    """Why this cell's seed runs are at chance level, or None."""
    from scipy.stats import binomtest

    runs = [r for r in runs if r.references and len(r.predictions) == len(r.references)]
    if not runs:
        return None
    single = [r.seed for r in runs if r.prediction_array.min() == r.prediction_array.max()]
    if single:
        which = f"seed {single[0]} predicts" if len(single) == 1 else f"seeds {', '.join(map(str, single))} predict"
        return f"{which} one class for every test row"
    refs = runs[0].reference_array
    majority = np.bincount(refs).max() / len(refs)
    correct = int(sum(np.count_nonzero(run.prediction_array == run.reference_array) for run in runs))
    trials = sum(len(run.references) for run in runs)
    p_value = binomtest(correct, trials, majority, alternative="greater").pvalue
    if p_value >= alpha:
        return (f"accuracy {100 * correct / trials:.2f} is not significantly above the majority-class rate "
                f"{100 * majority:.2f} (one-sided binomial p = {p_value:.3f})")
    return None
