"""The significance test every view uses (stats.seed_example_test), on synthetic predictions whose
seed and test-example variances are known, and the p-value formatting."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import stats as scipy_stats

from harness.stats import format_p, seed_example_test


def _nested(refs: list[int], base: list[int], change: float, rng: random.Random) -> list[int]:
    """`base` with |change| x n of its predictions flipped: wrong -> right when change > 0, right -> wrong
    when < 0, so the accuracy moves by exactly `change`."""
    preds = list(base)
    want = round(abs(change) * len(refs))
    pool = [i for i, (p, r) in enumerate(zip(preds, refs)) if (p != r) == (change > 0)]
    for i in rng.sample(pool, want):
        preds[i] = refs[i] if change > 0 else (refs[i] + 1) % 2
    return preds


def test_large_seed_variance_small_example_variance():
    """5,000 test examples; the three seed pairs differ by +10, -2 and +4 points. The example noise
    is tiny (about 0.2 points), so the standard error is the spread of the per-pair deltas over
    sqrt(3), the degrees of freedom are 2, and a +4-point mean is not significant (p ~ 0.37), where a
    test over test examples alone would call it certain."""
    rng = random.Random(0)
    n = 5000
    refs = [i % 2 for i in range(n)]
    base = [r if i % 10 < 7 else 1 - r for i, r in enumerate(refs)]  # 70% accuracy
    deltas = [0.10, -0.02, 0.04]
    candidate = [_nested(refs, base, d, rng) for d in deltas]
    result = seed_example_test(refs, candidate, [base] * 3, "accuracy", 2, resamples=1000)

    sd = float(np.std(deltas, ddof=1))
    assert result["delta"] == pytest.approx(0.04)
    assert result["se"] == pytest.approx(sd / math.sqrt(3), rel=0.03)
    assert result["df"] == pytest.approx(2, abs=0.2)
    expected_p = 2 * scipy_stats.t.sf(0.04 / (sd / math.sqrt(3)), 2)
    assert result["p_value"] == pytest.approx(expected_p, abs=0.02) and result["p_value"] > 0.3
    assert result["v_examples"] < 0.01 * result["v_seeds"]
    assert result["training_variance_counted"] and result["pairs"] == 3
    assert result["low"] < 0 < result["high"]
    t = scipy_stats.t
    assert result["mde"] == pytest.approx((t.ppf(0.975, result["df"]) + t.ppf(0.8, result["df"])) * result["se"])


def test_small_seed_variance_large_example_variance():
    """200 test examples; every seed of a side makes the same predictions (no seed variance): the test
    is then the paired test over examples, with the textbook standard error sqrt(var(D) / n) of the
    per-example differences D in {-1, 0, 1}, and n - 1 degrees of freedom."""
    n = 200
    refs = [i % 2 for i in range(n)]
    # baseline right on 160, candidate right on 170: 30 examples only the candidate gets, 20 only the baseline
    base = [r if i < 160 else 1 - r for i, r in enumerate(refs)]
    cand = list(base)
    for i in range(20):
        cand[i] = 1 - refs[i]
    for i in range(160, 190):
        cand[i] = refs[i]
    result = seed_example_test(refs, [cand] * 3, [base] * 3, "accuracy", 2, resamples=4000)

    diffs = np.array([(c == r) - (b == r) for c, b, r in zip(cand, base, refs)], dtype=float)
    se = math.sqrt(diffs.var() / n)
    assert result["delta"] == pytest.approx(0.05)
    assert result["v_seeds"] == 0 and result["df"] == n - 1
    assert result["se"] == pytest.approx(se, rel=0.05)
    assert result["p_value"] == pytest.approx(2 * scipy_stats.t.sf(0.05 / se, n - 1), rel=0.25)
    assert result["p_value"] > 0.05  # 30 vs 20 discordant examples: not significant


def test_one_seed_pair_does_not_count_training_variance():
    refs = [i % 2 for i in range(100)]
    result = seed_example_test(refs, [refs], [[1 - r for r in refs]], "accuracy", 2, resamples=500)
    assert result["training_variance_counted"] is False and result["pairs"] == 1
    assert result["v_seeds"] == 0 and result["delta"] == 1.0 and result["p_value"] < 1e-6


def test_identical_predictions_give_p_one():
    refs = [i % 3 for i in range(60)]
    preds = [(r + (i % 4 == 0)) % 3 for i, r in enumerate(refs)]
    result = seed_example_test(refs, [preds, preds], [preds, preds], "macro_f1", 3, resamples=200)
    assert result["delta"] == 0 and result["se"] == 0 and result["p_value"] == 1.0


def test_p_value_formatting():
    assert format_p(0.0, resamples=2000) == "< 0.0005"
    assert format_p(0.0, resamples=1000) == "< 0.001"
    assert format_p(1e-9) == "< 0.0001"
    assert format_p(0.0234) == "0.023" and format_p(0.00042) == "0.0004" and format_p(None) == "n/a"


def test_many_runs_at_once_equal_one_run_at_a_time_for_every_registered_metric():
    """The batched resampling (one confusion tensor for every run) and the per-run one agree on
    every metric of the registry, so a newly registered metric cannot be left out of one of them."""
    from harness.metrics import metric_names
    from harness.stats import metric_on_resamples, metrics_on_resamples, resample_weights

    rng = np.random.default_rng(3)
    refs = rng.integers(0, 3, 150)
    runs = [rng.integers(0, 3, 150) for _ in range(3)]
    weights = resample_weights(150, 40, 0)
    for metric in metric_names():
        batched = metrics_on_resamples(refs, runs, weights, metric, 3)
        single = np.stack([metric_on_resamples(refs, run, weights, metric, 3) for run in runs])
        assert np.allclose(batched, single, atol=1e-6), metric


def test_resampled_metrics_in_chunks_equal_one_pass():
    import random

    import numpy as np

    from harness.stats import ResampledMetrics

    rng = random.Random(4)
    refs = [rng.randrange(3) for _ in range(300)]
    runs = [[rng.randrange(3) for _ in range(300)] for _ in range(7)]
    whole = ResampledMetrics(resamples=200, seed=1)
    chunked = ResampledMetrics(resamples=200, seed=1, chunk=3)  # 7 runs: chunks of 3, 3 and 1
    for metric in ("accuracy", "macro_f1", "mcc"):
        boot, point = whole.get(refs, runs, metric, 3)
        boot_c, point_c = chunked.get(refs, runs, metric, 3)
        assert np.array_equal(boot, boot_c) and np.array_equal(point, point_c)


def _metrics_of_dense_confusion(refs, runs, weights, k):
    """Each run's metrics on the resamples from its dense (runs, resamples, K, K) confusion counts,
    summed the straightforward way (np.add.at, trailing-axis sums): the formulas as first written."""
    refs, runs = np.asarray(refs), np.asarray(runs)
    confusion = np.zeros((len(runs), weights.shape[0], k, k))
    for r, preds in enumerate(runs):
        for i, (j, c) in enumerate(zip(refs, preds)):
            confusion[r, :, j, c] += weights[:, i]
    total = confusion.sum(axis=(-2, -1))
    trace = np.trace(confusion, axis1=-2, axis2=-1)
    true, pred = confusion.sum(axis=-1), confusion.sum(axis=-2)
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    denom = true + pred
    present = denom > 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(present, 2 * tp / np.where(present, denom, 1), 0.0)
        cov_ytyp = trace * total - (true * pred).sum(axis=-1)
        cov = (total**2 - (pred * pred).sum(axis=-1)) * (total**2 - (true * true).sum(axis=-1))
        mcc = np.where(cov > 0, cov_ytyp / np.sqrt(np.where(cov > 0, cov, 1.0)), 0.0)
    return {"accuracy": trace / total, "macro_f1": f1.sum(axis=-1) / np.maximum(present.sum(axis=-1), 1), "mcc": mcc}


@pytest.mark.parametrize("k", [2, 3, 5])
def test_batched_resampled_metrics_equal_the_dense_confusion_formulas_bit_for_bit(k):
    """The fast layout (one (runs, resamples) slab per confusion entry, a matrix product per class)
    changes no number: every metric on every resample is the very float of the dense formulas, a
    class never predicted and a run predicting one class included."""
    from harness.stats import metrics_on_resamples, resample_weights

    rng = np.random.default_rng(k)
    refs = rng.integers(0, k, 240)
    runs = [np.where(rng.random(240) < 0.6, refs, rng.integers(0, k, 240)) for _ in range(5)] + [np.zeros(240, int)]
    weights = resample_weights(240, 30, 2)
    expected = _metrics_of_dense_confusion(refs, runs, weights, k)
    for metric, values in expected.items():
        assert np.array_equal(metrics_on_resamples(refs, runs, weights, metric, k), values), metric


def test_each_seed_run_is_resampled_once_however_many_tests_it_takes_part_in(monkeypatch):
    """A table shared by the paired tests of one column: the best model's runs take part in every
    test, yet each distinct run goes through the confusion counts once (and every metric with it)."""
    import harness.stats as stats

    resampled = []
    real = stats.confusion_on_resamples
    monkeypatch.setattr(stats, "confusion_on_resamples",
                        lambda refs, runs, weights, *rest: resampled.extend(map(id, runs)) or real(refs, runs, weights, *rest))
    rng = np.random.default_rng(0)
    refs = list(rng.integers(0, 3, 200))
    best = [rng.integers(0, 3, 200) for _ in range(3)]
    others = [[rng.integers(0, 3, 200) for _ in range(3)] for _ in range(4)]
    table = stats.ResampledMetrics(resamples=100)
    for runs in others:
        for metric in ("accuracy", "macro_f1", "mcc"):
            stats.seed_example_test(refs, runs, best, metric, 3, resampled=table)
    boot_and_point = 2  # the resamples and the plain value
    assert len(resampled) == boot_and_point * (3 + 4 * 3) and len(set(resampled)) == 3 + 4 * 3
