"""Statistics: t-based CIs across seeds, bootstrap CIs over test examples, and the one significance
test every view uses (`seed_example_test`), which counts both training-seed and test-example variance.

Bootstrap metrics are vectorised: a resample is a vector of multinomial counts over the test
examples, so accuracy, macro-F1 and MCC of every resample come from a few matrix products. Macro-F1
follows scikit-learn's default: the mean over classes present in the references or predictions
(of that resample). MCC is scikit-learn's multiclass `matthews_corrcoef`, which needs only the trace
and the marginals of the (weighted) confusion matrix, and is 0 where its denominator is.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import numpy as np
from scipy.special import stdtr, stdtrit

from harness.metrics import metric_names
from harness.stats_types import POWER, SIGNIFICANCE_METHOD, MeanCI, PairedTest

METRICS = metric_names()  # the registry's metrics (harness.metrics)


def _t_ppf(q: float, df: float) -> float:
    """Student's t quantile: what scipy.stats.t.ppf computes for 0 < q < 1 (the same float), without
    its argument checks (0.1 ms a call; a leaderboard makes thousands)."""
    return stdtrit(df, q)


def _t_sf(x: float, df: float) -> float:
    return stdtr(df, -x)  # scipy.stats.t.sf's float


def mean_ci(
    values: Sequence[float], confidence: float = 0.95, bounds: tuple[float, float] | None = None
) -> MeanCI:
    """Mean, sample standard deviation and a Student-t CI over seeds.

    `bounds`: the range the quantity cannot leave (0..1 for a metric): the interval is clipped to
    it and `clipped` says so; `half_width` stays the t half-width (a clipped interval is not
    symmetric, so views show `[low, high]` instead of `± half_width`)."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = int(arr.size)
    empty: MeanCI = {"n": n, "mean": None, "std": None, "half_width": None, "low": None, "high": None, "clipped": False}
    if n == 0:
        return empty
    mean = float(arr.mean())
    if n == 1:
        return {**empty, "mean": mean}
    std = float(arr.std(ddof=1))
    half = float(_t_ppf((1 + confidence) / 2, n - 1) * std / math.sqrt(n))
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
    # A multinomial(n, uniform) draw is the histogram of n uniform draws of an example: counted with
    # bincount, 100 resamples at a time (numpy's multinomial walks n categories per resample: ~10x slower).
    rng = np.random.default_rng(seed)
    weights = np.empty((resamples, n), dtype=np.float32)
    step = 100
    for start in range(0, resamples, step):
        rows = min(step, resamples - start)
        draws = rng.integers(0, n, size=(rows, n), dtype=np.int64) + (np.arange(rows, dtype=np.int64) * n)[:, None]
        weights[start:start + rows] = np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n)
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
    if metric not in ("macro_f1", "mcc"):
        raise ValueError(f"unknown metric '{metric}' (accuracy, macro_f1, mcc)")
    eye = np.eye(n_labels, dtype=dtype)
    ref_onehot, pred_onehot = eye[refs], eye[preds]  # (n, K)
    if metric == "mcc":
        return _mcc(weights @ correct, total, weights @ ref_onehot, weights @ pred_onehot)
    tp = weights @ (ref_onehot * correct[:, None])
    support = weights @ ref_onehot
    predicted = weights @ pred_onehot
    denom = support + predicted
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    present = denom > 0
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _mcc(correct: np.ndarray, total: np.ndarray, true_counts: np.ndarray, pred_counts: np.ndarray,
         axis: int = -1) -> np.ndarray:
    """Multiclass MCC per resample from the weighted confusion matrix C: correct = trace(C),
    total = sum(C), true_counts / pred_counts = its row / column sums, classes along `axis` (as
    sklearn, in float64: sums of products of whole numbers, exact in any order)."""
    c, s = correct.astype(np.float64), total.astype(np.float64)
    t, p = true_counts.astype(np.float64), pred_counts.astype(np.float64)
    cov_ytyp = c * s - (t * p).sum(axis=axis)
    cov_ypyp = s**2 - (p * p).sum(axis=axis)
    cov_ytyt = s**2 - (t * t).sum(axis=axis)
    denom = cov_ytyt * cov_ypyp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, cov_ytyp / np.sqrt(np.where(denom > 0, denom, 1.0)), 0.0)


def point_metric(references: Sequence[int], predictions: Sequence[int], metric: str, n_labels: int) -> float:
    ones = np.ones((1, len(references)), dtype=np.float64)
    return float(metric_on_resamples(references, predictions, ones, metric, n_labels)[0])


def bootstrap_record_ci(
    references: Sequence[int], predictions: Sequence[int], resamples: int = 1000, seed: int = 0,
    confidence: float = 0.95, n_labels: int | None = None,
) -> dict[str, Any]:
    """Percentile bootstrap CIs of every registered test metric over test examples."""
    n_labels = n_labels or int(max(max(references, default=0), max(predictions, default=0)) + 1)
    weights = resample_weights(len(references), resamples, seed)
    alpha = (1 - confidence) / 2
    out: dict[str, Any] = {"resamples": resamples, "seed": seed, "confidence": confidence, "method": "percentile bootstrap over test examples"}
    for metric in METRICS:
        values = metric_on_resamples(references, predictions, weights, metric, n_labels)
        out[metric] = {"low": float(np.quantile(values, alpha)), "high": float(np.quantile(values, 1 - alpha))}
    return out




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
) -> PairedTest:
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
) -> PairedTest:
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
    t_crit = float(_t_ppf(1 - alpha / 2, df))
    if se > 0:
        p_value = float(2 * _t_sf(abs(delta) / se, df))
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
        "mde": (t_crit + float(_t_ppf(power, df))) * se,
        "power": power,
        "pairs": k,
        "n_examples": n,
        "training_variance_counted": k > 1,
        "resamples": resamples,
    }


def examples_needed(result: PairedTest, target: float, alpha: float = 0.05) -> int | None:
    """About how many test examples would let this test detect a drop of `target` (a fraction)
    with its power, keeping the seed variance seen here (which more examples do not shrink);
    None when the seed variance alone already hides such a drop (more seeds are needed)."""
    t_sum = float(_t_ppf(1 - alpha / 2, result["df"]) + _t_ppf(result["power"], result["df"]))
    room = (target / t_sum) ** 2 - result["v_seeds"]
    if room <= 0 or result["v_examples"] <= 0:
        return None
    return int(math.ceil(result["n_examples"] * result["v_examples"] / room))


def label_ids_digest(values: Sequence[int]) -> bytes:
    """A digest of label ids (a list or an array): equal ids, equal digests."""
    import hashlib

    return hashlib.blake2b(np.ascontiguousarray(values, dtype=np.int64).tobytes(), digest_size=16).digest()


class ResampledMetrics:
    """Each seed run's metric on the shared bootstrap resamples, computed once and reused by every
    paired test it takes part in (a leaderboard tests each model against the best: without this,
    the best model's runs are resampled again for every other model).

    `add` computes many runs of one test set at once, and every metric from one set of confusion
    counts per resample (`confusion_on_resamples`): a few matrix products for all runs of a task."""

    def __init__(self, resamples: int = 2000, seed: int = 0, chunk: int = 64) -> None:
        self.resamples, self.seed = resamples, seed
        self.chunk = chunk  # runs whose confusion counts on every resample are held at once (K x K x 64 x 2000 floats)
        self._boot: dict[tuple, np.ndarray] = {}
        self._point: dict[tuple, float] = {}
        self._digests: dict[int, tuple[Any, bytes]] = {}  # id(list) -> (the list, kept alive; its digest)

    def digest(self, values: Sequence[int]) -> bytes:
        """A digest of a list of label ids, cached by the list's identity (a key for a test set or a run)."""
        known = self._digests.get(id(values))
        if known is not None and known[0] is values:
            return known[1]
        digest = label_ids_digest(values)
        self._digests[id(values)] = (values, digest)
        return digest

    def add(self, references: Sequence[int], runs: Sequence[Sequence[int]], metric: str, n_labels: int) -> None:
        """Compute (once) every registered metric of these runs on the resamples; `metric` must be one."""
        if metric not in _FROM_CONFUSION:
            raise ValueError(f"unknown metric '{metric}' ({', '.join(_FROM_CONFUSION)})")
        refs_key = self.digest(references)
        todo: dict[bytes, Sequence[int]] = {}
        for predictions in runs:
            digest = self.digest(predictions)
            if (refs_key, digest, metric, n_labels) not in self._boot:
                todo.setdefault(digest, predictions)
        if not todo:
            return
        weights = resample_weights(len(references), self.resamples, self.seed)
        ones = np.ones((1, len(references)), np.float64)
        classes, unit = class_weights(references, weights, n_labels), class_weights(references, ones, n_labels)
        digests = list(todo)
        for start in range(0, len(digests), self.chunk):  # bounded memory: (K, K, chunk, B) at a time
            chunk = digests[start:start + self.chunk]
            preds = [todo[d] for d in chunk]
            boot = confusion_on_resamples(references, preds, weights, n_labels, classes)  # (K, K, R, B)
            point = confusion_on_resamples(references, preds, ones, n_labels, unit)
            for name, from_confusion in _FROM_CONFUSION.items():
                values, points = from_confusion(boot), from_confusion(point)
                for i, digest in enumerate(chunk):
                    self._boot[(refs_key, digest, name, n_labels)] = values[i]
                    self._point[(refs_key, digest, name, n_labels)] = float(points[i, 0])

    def get(self, references: Sequence[int], runs: Sequence[Sequence[int]], metric: str,
            n_labels: int) -> tuple[np.ndarray, np.ndarray]:
        """(k, resamples) metric on the resamples and (k,) plain metric of these runs."""
        self.add(references, runs, metric, n_labels)
        refs_key = self.digest(references)
        keys = [(refs_key, self.digest(p), metric, n_labels) for p in runs]
        return np.stack([self._boot[k] for k in keys]), np.array([self._point[k] for k in keys])


def confusion_on_resamples(
    references: Sequence[int], runs: Sequence[Sequence[int]], weights: np.ndarray, n_labels: int,
    classes: list | None = None,
) -> np.ndarray:
    """(K, K, runs, resamples): each run's confusion counts [reference j, prediction c] on every
    resample (rows of `weights`), one contiguous (runs, resamples) slab per entry, so that the
    metrics add whole slabs instead of summing tiny K x K blocks. Per reference class j, one
    matrix product of the runs' "predicted c" indicators (K - 1 of them: the last is the class's
    weight total minus the others) with the weights of its examples: about 2 (K - 1) x resamples x
    examples x runs operations in all. The counts are whole numbers, exact in the weights' dtype
    (float32: below 2^24), so no sum of them depends on its order; the metrics divide in float64."""
    refs = np.asarray(references, dtype=np.int64)
    preds = np.stack([np.asarray(run, dtype=np.int64) for run in runs]).reshape(len(runs), len(refs))  # (R, n)
    r, k, b = len(runs), n_labels, weights.shape[0]
    out = np.zeros((k, k, r, b), dtype=weights.dtype)
    for j, rows, w, w_total in classes if classes is not None else class_weights(refs, weights, k):
        p = preds[:, rows]  # (R, n_j)
        if k > 1:
            indicators = (p[None] == np.arange(k - 1)[:, None, None]).reshape((k - 1) * r, -1).astype(w.dtype)
            counts = (w @ indicators.T).T.reshape(k - 1, r, b)  # this operand order: ~5x faster on 2 BLAS threads
            out[j, : k - 1] = counts
            out[j, k - 1] = w_total[None, :] - counts.sum(axis=0)
        else:
            out[j, 0] = w_total[None, :]
    return out


def class_weights(references, weights: np.ndarray, n_labels: int) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Per reference class j present: (j, its rows, their weights (B, n_j), their totals per resample)."""
    refs = np.asarray(references, dtype=np.int64)
    out = []
    for j in range(n_labels):
        rows = np.flatnonzero(refs == j)
        if rows.size:
            w = np.take(weights, rows, axis=1)  # a copy, contiguous (indexing weights[:, rows] is ~10x slower)
            out.append((j, rows, w, w.sum(axis=1)))
    return out


def _trace(confusion: np.ndarray) -> np.ndarray:
    return sum(confusion[j, j] for j in range(confusion.shape[0])).astype(np.float64)


def _total(confusion: np.ndarray) -> np.ndarray:
    return confusion.sum(axis=(0, 1)).astype(np.float64)


def _macro_f1_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """scikit-learn's default macro-F1: over the classes present in the references or predictions.
    The per-class F1 are summed over a trailing axis (R, B, K), in the order scikit-learn's mean is."""
    tp = np.moveaxis(np.diagonal(confusion), -1, 0).astype(np.float64)  # (K, R, B)
    denom = (confusion.sum(axis=1) + confusion.sum(axis=0)).astype(np.float64)  # support + predicted
    present = denom > 0.5  # counts are whole numbers
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(present, 2 * tp / np.where(present, denom, 1), 0.0)
    return np.ascontiguousarray(np.moveaxis(f1, 0, -1)).sum(axis=-1) / np.maximum(present.sum(axis=0), 1)


def _mcc_from_confusion(confusion: np.ndarray) -> np.ndarray:
    return _mcc(_trace(confusion), _total(confusion), confusion.sum(axis=1), confusion.sum(axis=0), axis=0)


_FROM_CONFUSION = {"accuracy": lambda confusion: _trace(confusion) / _total(confusion),
                   "macro_f1": _macro_f1_from_confusion, "mcc": _mcc_from_confusion}


def metrics_on_resamples(
    references: Sequence[int], runs: Sequence[Sequence[int]], weights: np.ndarray, metric: str, n_labels: int
) -> np.ndarray:
    """(runs, resamples): `metric_on_resamples` of many runs on one test set at once."""
    if metric not in _FROM_CONFUSION:
        raise ValueError(f"unknown metric '{metric}' ({', '.join(_FROM_CONFUSION)})")
    return _FROM_CONFUSION[metric](confusion_on_resamples(references, runs, weights, n_labels))


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
