"""What the paired test of two fixed checkpoints can detect, by test-set size (docs/evaluating.md).

Synthetic but typical: a binary task, the shipped classifier right on 90% of the test examples, the
candidate disagreeing with it on `disagree` of them (half its fixes, half new errors: no true
difference). The detectable drop is `harness.stats.seed_example_test`'s `mde` (80% power, alpha
0.05) with one pair (evaluated checkpoints: no seed variance). For contrast, the seed term alone of
a 3-seeds-a-side comparison of fine-tuning recipes whose accuracy varies by `seed_sd` from seed to
seed: (t(0.975, 2) + t(0.8, 2)) x seed_sd x sqrt(2 / 3), whatever the test size.
Run: python benchmarks/evaluated_detectable_drop.py
"""
from __future__ import annotations

import numpy as np

from harness.stats import seed_example_test


def predictions(refs, accuracy, rng):
    wrong = rng.random(len(refs)) > accuracy
    return np.where(wrong, 1 - refs, refs)


def flip(preds, refs, share, rng):
    out = preds.copy()
    chosen = rng.random(len(refs)) < share
    out[chosen] = 1 - out[chosen]
    return out


def main(disagree: float = 0.06, seed_sd: float = 0.01) -> None:
    from scipy import stats

    rng = np.random.default_rng(0)
    seed_floor = (stats.t.ppf(0.975, 2) + stats.t.ppf(0.8, 2)) * seed_sd * np.sqrt(2 / 3)
    print(f"disagreement {disagree:.0%}; 3 vs 3 seeds with a seed sd of {100 * seed_sd:.1f} points cannot detect "
          f"less than {100 * seed_floor:.2f} points at any test size")
    print("| test examples | detectable drop (80% power, alpha 0.05) |")
    print("|---:|---:|")
    for n in (500, 1000, 2000, 5000, 10000):
        refs = rng.integers(0, 2, n)
        base = predictions(refs, 0.90, rng)
        cand = flip(base, refs, disagree, rng)
        one = seed_example_test(refs, [cand], [base], "accuracy", 2, resamples=2000)
        print(f"| {n:,} | {100 * one['mde']:.2f} points |")


if __name__ == "__main__":
    main()
