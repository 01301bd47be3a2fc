"""Statistics: t-based CIs across seeds, bootstrap CIs over test examples, and the one significance
test every view uses (`seed_example_test`), which counts both training-seed and test-example variance.

Bootstrap metrics are vectorised: a resample is a vector of multinomial counts over the test
examples, so accuracy and macro-F1 of every resample come from a few matrix products. Macro-F1
follows scikit-learn's default: the mean over classes present in the references or predictions
(of that resample).
"""
from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import numpy as np
from scipy import stats as scipy_stats

from harness.metrics import metric_names

METRICS = metric_names()  # the registry's metrics (harness.metrics)


def mean_ci(
    values: Sequence[float], confidence: float = 0.95, bounds: tuple[float, float] | None = None
) -> dict[str, Any]:
    """Mean, sample standard deviation and a Student-t CI over seeds.

    `bounds`: the range the quantity cannot leave (0..1 for a metric): the interval is clipped to
    it and `clipped` says so; `half_width` stays the t half-width (a clipped interval is not
    symmetric, so views show `[low, high]` instead of `± half_width`)."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = int(arr.size)
    empty = {"n": n, "mean": None, "std": None, "half_width": None, "low": None, "high": None, "clipped": False}
    if n == 0:
        return empty
    mean = float(arr.mean())
    if n == 1:
        return {**empty, "mean": mean}
    std = float(arr.std(ddof=1))
    half = float(scipy_stats.t.ppf((1 + confidence) / 2, n - 1) * std / math.sqrt(n))
    low, high = mean - half, mean + half
    clipped = False
    if bounds is not None:
        clipped = low < bounds[0] or high > bounds[1]
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"n": n, "mean": mean, "std": std, "half_width": half, "low": low, "high": high, "clipped": clipped}


@functools.lru_cache(maxsize=4)
def resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) multinomial counts: how often each example is drawn in each resample.
    Cached (read-only): a leaderboard or a comparison draws the same resamples for every cell of a task."""
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float32)
    weights.flags.writeable = False
    return weights


def metric_on_resamples(
    references: Sequence[int], predictions: Sequence[int], weights: np.ndarray, metric: str, n_labels: int
) -> np.ndarray:
    """The metric on every resample (rows of `weights`); `weights` of ones gives the plain value."""
    refs = np.asarray(references, dtype=np.int64)
    preds = np.asarray(predictions, dtype=np.int64)
    dtype = weights.dtype
    correct = (refs == preds).astype(dtype)
    total = weights.sum(axis=1)
    if metric == "accuracy":
        return (weights @ correct) / total
    if metric != "macro_f1":
        raise ValueError(f"unknown metric '{metric}' (accuracy, macro_f1)")
    eye = np.eye(n_labels, dtype=dtype)
    ref_onehot, pred_onehot = eye[refs], eye[preds]  # (n, K)
    tp = weights @ (ref_onehot * correct[:, None])
    support = weights @ ref_onehot
    predicted = weights @ pred_onehot
    denom = support + predicted
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    present = denom > 0
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def point_metric(references: Sequence[int], predictions: Sequence[int], metric: str, n_labels: int) -> float:
    ones = np.ones((1, len(references)), dtype=np.float64)
    return float(metric_on_resamples(references, predictions, ones, metric, n_labels)[0])


def bootstrap_record_ci(
    references: Sequence[int], predictions: Sequence[int], resamples: int = 1000, seed: int = 0,
    confidence: float = 0.95, n_labels: int | None = None,
) -> dict[str, Any]:
    """Percentile bootstrap CIs of test accuracy and macro-F1 over test examples."""
    n_labels = n_labels or int(max(max(references, default=0), max(predictions, default=0)) + 1)
    weights = resample_weights(len(references), resamples, seed)
    alpha = (1 - confidence) / 2
    out: dict[str, Any] = {"resamples": resamples, "seed": seed, "confidence": confidence, "method": "percentile bootstrap over test examples"}
    for metric in METRICS:
        values = metric_on_resamples(references, predictions, weights, metric, n_labels)
        out[metric] = {"low": float(np.quantile(values, alpha)), "high": float(np.quantile(values, 1 - alpha))}
    return out


SIGNIFICANCE_METHOD = "seed-and-example variance components, Satterthwaite t"
POWER = 0.8  # the power at which `mde` (the minimum detectable effect) is stated


def seed_example_test(
    references: Sequence[int],
    candidate: Sequence[Sequence[int]],
    baseline: Sequence[Sequence[int]],
    metric: str,
    n_labels: int,
    resamples: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    power: float = POWER,
    resampled: "ResampledMetrics | None" = None,
) -> dict[str, Any]:
    """Candidate minus baseline on one test set, over paired seeds (candidate[i] with baseline[i]),
    counting both sources of variance: which seeds were trained, and which test examples were drawn.

    Seeds x test examples is a crossed design (every seed scores every example), so the variance of
    the mean delta is sigma_seed^2 / k + sigma_example^2 / n + sigma_interaction^2 / (k n) (two-way
    random effects). Its terms are estimated without assuming a linear metric (macro-F1 is not):
    - `v_examples`: the variance of the mean delta over bootstrap resamples of the test examples
      (one resample shared by every seed pair), i.e. sigma_example^2 / n + sigma_interaction^2 / (k n);
    - the spread of the k per-pair deltas, s^2 / k, holds sigma_seed^2 / k plus the interaction term
      again, which is taken out with the per-pair bootstrap variances (their mean minus `v_examples`
      is (k - 1) times it); what is left, floored at 0, is `v_seeds`.
    The test is a t-test of the mean delta with variance v_examples + v_seeds and Satterthwaite's
    degrees of freedom (k - 1 where the seed term dominates, n - 1 where the test examples do). With
    one seed pair there is no seed term: training variance is not accounted for
    (`training_variance_counted` False).

    Returns fractions (not points): delta, its CI at 1 - alpha, the two-sided p-value, the standard
    error, the components and `mde`: the smallest true drop this test detects with probability
    `power` at `alpha`, given the variance seen here ((t_{1-alpha/2} + t_{power}) x standard error).
    `resampled`: a `ResampledMetrics` shared across tests (its resamples and seed win), so each
    seed run's bootstrap metrics are computed once.
    """
    k = len(candidate)
    if k != len(baseline) or k == 0:
        raise ValueError("seed_example_test needs the same, non-zero number of candidate and baseline seeds")
    table = resampled if resampled is not None else ResampledMetrics(resamples, seed)
    table.add(references, list(candidate) + list(baseline), metric, n_labels)
    cand_boot, cand_points = table.get(references, candidate, metric, n_labels)
    base_boot, base_points = table.get(references, baseline, metric, n_labels)
    return paired_test(cand_boot, base_boot, cand_points, base_points, metric, len(references),
                       alpha=alpha, power=power, resamples=table.resamples)


def paired_test(
    cand_boot: np.ndarray, base_boot: np.ndarray, cand_points: np.ndarray, base_points: np.ndarray,
    metric: str, n: int, alpha: float = 0.05, power: float = POWER, resamples: int = 2000,
) -> dict[str, Any]:
    """`seed_example_test` from each seed run's metric on the shared resamples ((k, resamples)
    arrays) and its plain value ((k,) arrays): what a view computes once per run and reuses."""
    k = len(cand_points)
    boot = cand_boot - base_boot
    deltas = cand_points - base_points
    delta = float(deltas.mean())
    v_examples = float(boot.mean(axis=0).var(ddof=1))
    v_seeds, spread, interaction = 0.0, 0.0, 0.0
    if k > 1:
        spread = float(deltas.var(ddof=1)) / k
        interaction = max(0.0, float(boot.var(axis=1, ddof=1).mean()) - v_examples) / (k - 1)
        v_seeds = max(0.0, spread - interaction)
    variance = v_examples + v_seeds
    if v_seeds > 0:  # Satterthwaite: the combination of mean squares spread + v_examples - interaction
        df = variance**2 / (spread**2 / (k - 1) + v_examples**2 / max(n - 1, 1)
                            + interaction**2 / max((k - 1) * (n - 1), 1))
    else:
        df = float(max(n - 1, 1))
    se = math.sqrt(variance)
    t_crit = float(scipy_stats.t.ppf(1 - alpha / 2, df))
    if se > 0:
        p_value = float(2 * scipy_stats.t.sf(abs(delta) / se, df))
    else:  # identical predictions on every example: nothing varies
        p_value = 1.0 if delta == 0 else 0.0
    return {
        "method": SIGNIFICANCE_METHOD,
        "metric": metric,
        "candidate": float(cand_points.mean()),
        "baseline": float(base_points.mean()),
        "delta": delta,
        "low": delta - t_crit * se,
        "high": delta + t_crit * se,
        "p_value": min(1.0, p_value),
        "se": se,
        "df": float(df),
        "v_seeds": v_seeds,
        "v_examples": v_examples,
        "mde": (t_crit + float(scipy_stats.t.ppf(power, df))) * se,
        "power": power,
        "pairs": k,
        "n_examples": n,
        "training_variance_counted": k > 1,
        "resamples": resamples,
    }


def examples_needed(result: dict[str, Any], target: float, alpha: float = 0.05) -> int | None:
    """About how many test examples would let this test detect a drop of `target` (a fraction)
    with its power, keeping the seed variance seen here (which more examples do not shrink);
    None when the seed variance alone already hides such a drop (more seeds are needed)."""
    t_sum = float(scipy_stats.t.ppf(1 - alpha / 2, result["df"]) + scipy_stats.t.ppf(result["power"], result["df"]))
    room = (target / t_sum) ** 2 - result["v_seeds"]
    if room <= 0 or result["v_examples"] <= 0:
        return None
    return int(math.ceil(result["n_examples"] * result["v_examples"] / room))


def _digest(values: Sequence[int]) -> bytes:
    import hashlib

    return hashlib.blake2b(np.asarray(values, dtype=np.int64).tobytes(), digest_size=16).digest()


class ResampledMetrics:
    """Each seed run's metric on the shared bootstrap resamples, computed once and reused by every
    paired test it takes part in (a leaderboard tests each model against the best: without this,
    the best model's runs are resampled again for every other model).

    `add` computes many runs of one test set at once: one matrix product of the (resamples, n)
    weights with the stacked per-run indicator columns, instead of one product per run."""

    def __init__(self, resamples: int = 2000, seed: int = 0) -> None:
        self.resamples, self.seed = resamples, seed
        self._boot: dict[tuple, np.ndarray] = {}
        self._point: dict[tuple, float] = {}

    def _key(self, refs_key: bytes, predictions: Sequence[int], metric: str, n_labels: int) -> tuple:
        return (refs_key, _digest(predictions), metric, n_labels)

    def add(self, references: Sequence[int], runs: Sequence[Sequence[int]], metric: str, n_labels: int) -> None:
        refs_key = _digest(references)
        todo: dict[tuple, Sequence[int]] = {}
        for predictions in runs:
            key = self._key(refs_key, predictions, metric, n_labels)
            if key not in self._boot:
                todo.setdefault(key, predictions)
        if not todo:
            return
        weights = resample_weights(len(references), self.resamples, self.seed)
        ones = np.ones((1, len(references)), dtype=np.float64)
        preds = [todo[key] for key in todo]
        boots = metrics_on_resamples(references, preds, weights, metric, n_labels)
        points = metrics_on_resamples(references, preds, ones, metric, n_labels)
        for i, key in enumerate(todo):
            self._boot[key] = boots[i]
            self._point[key] = float(points[i, 0])

    def get(self, references: Sequence[int], runs: Sequence[Sequence[int]], metric: str,
            n_labels: int) -> tuple[np.ndarray, np.ndarray]:
        """(k, resamples) metric on the resamples and (k,) plain metric of these runs."""
        self.add(references, runs, metric, n_labels)
        refs_key = _digest(references)
        keys = [self._key(refs_key, p, metric, n_labels) for p in runs]
        return np.stack([self._boot[k] for k in keys]), np.array([self._point[k] for k in keys])


def metrics_on_resamples(
    references: Sequence[int], runs: Sequence[Sequence[int]], weights: np.ndarray, metric: str, n_labels: int
) -> np.ndarray:
    """(runs, resamples): `metric_on_resamples` of many runs on one test set, in one matrix product."""
    refs = np.asarray(references, dtype=np.int64)
    preds = np.asarray(runs, dtype=np.int64).reshape(len(runs), len(refs))  # (R, n)
    dtype = weights.dtype
    correct = (preds == refs[None, :]).astype(dtype)  # (R, n)
    total = weights.sum(axis=1)  # (B,)
    if metric == "accuracy":
        return (correct @ weights.T) / total[None, :]
    if metric != "macro_f1":
        raise ValueError(f"unknown metric '{metric}' (accuracy, macro_f1)")
    r, k = len(runs), n_labels
    ref_onehot = np.eye(k, dtype=dtype)[refs]  # (n, K)
    pred_onehot = np.eye(k, dtype=dtype)[preds]  # (R, n, K)
    columns = np.concatenate([
        (pred_onehot * correct[:, :, None]).transpose(1, 0, 2).reshape(len(refs), r * k),  # true positives
        pred_onehot.transpose(1, 0, 2).reshape(len(refs), r * k),  # predicted
        ref_onehot,  # support (the same for every run)
    ], axis=1)
    counts = weights @ columns  # (B, 2 R K + K)
    tp = counts[:, : r * k].reshape(-1, r, k)
    predicted = counts[:, r * k: 2 * r * k].reshape(-1, r, k)
    support = counts[:, 2 * r * k:][:, None, :]
    denom = support + predicted
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    present = denom > 0
    return ((f1 * present).sum(axis=2) / np.maximum(present.sum(axis=2), 1)).T  # (R, B)


def format_p(p_value: float | None, resamples: int | None = None) -> str:
    """A p-value as text. A bootstrap p of 0 only says p < 1 / resamples, and is printed so; an
    analytic p below 1e-4 prints as `< 0.0001`."""
    if p_value is None:
        return "n/a"
    if p_value <= 0 and resamples:
        return f"< {1 / resamples:.2g}"
    if p_value < 1e-4:
        return "< 0.0001"
    return f"{p_value:.3f}" if p_value >= 0.001 else f"{p_value:.4f}"
