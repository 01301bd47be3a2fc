"""Statistics: t-based CIs across seeds, bootstrap CIs over test examples, paired bootstrap tests.

Bootstrap metrics are vectorised: a resample is a vector of multinomial counts over the test
examples, so accuracy and macro-F1 of every resample come from a few matrix products. Macro-F1
follows scikit-learn's default: the mean over classes present in the references or predictions
(of that resample).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from scipy import stats as scipy_stats

METRICS = ("accuracy", "macro_f1")


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean, sample standard deviation and the half-width of a Student-t CI over seeds."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = int(arr.size)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "half_width": None, "low": None, "high": None}
    mean = float(arr.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": None, "half_width": None, "low": None, "high": None}
    std = float(arr.std(ddof=1))
    half = float(scipy_stats.t.ppf((1 + confidence) / 2, n - 1) * std / math.sqrt(n))
    return {"n": n, "mean": mean, "std": std, "half_width": half, "low": mean - half, "high": mean + half}


def resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) multinomial counts: how often each example is drawn in each resample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float32)


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


def paired_bootstrap(
    references: Sequence[int],
    candidate: Sequence[Sequence[int]],
    baseline: Sequence[Sequence[int]],
    metric: str,
    n_labels: int,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Paired bootstrap of candidate minus baseline over the same test examples, pooled over
    paired seeds (candidate[i] is paired with baseline[i]): each resample draws one set of
    example indices, shared by every seed pair, and the delta is the mean over pairs.
    p-value: two-sided, 2 x the smaller tail mass of the bootstrap deltas at zero."""
    if len(candidate) != len(baseline) or not candidate:
        raise ValueError("paired_bootstrap needs the same, non-zero number of candidate and baseline seeds")
    weights = resample_weights(len(references), resamples, seed)
    deltas = np.zeros(resamples, dtype=np.float64)
    point = 0.0
    cand_points, base_points = [], []
    for cand, base in zip(candidate, baseline):
        deltas += metric_on_resamples(references, cand, weights, metric, n_labels) - metric_on_resamples(
            references, base, weights, metric, n_labels
        )
        cand_points.append(point_metric(references, cand, metric, n_labels))
        base_points.append(point_metric(references, base, metric, n_labels))
    deltas /= len(candidate)
    point = float(np.mean(cand_points) - np.mean(base_points))
    alpha = (1 - confidence) / 2
    below = float(np.mean(deltas <= 0))
    above = float(np.mean(deltas >= 0))
    p_value = min(1.0, 2 * min(below, above))
    return {
        "metric": metric,
        "candidate": float(np.mean(cand_points)),
        "baseline": float(np.mean(base_points)),
        "delta": point,
        "low": float(np.quantile(deltas, alpha)),
        "high": float(np.quantile(deltas, 1 - alpha)),
        "p_value": p_value,
        "pairs": len(candidate),
        "resamples": resamples,
    }
