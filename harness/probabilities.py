"""Class probabilities of the scored test rows: stored compactly, read as untrusted, and the two
probability metrics (expected calibration error, Brier score).

In a record, `probabilities.test` holds the softmax of each row's logits as a row-major
rows x labels matrix of little-endian float16, base64-encoded (`encoding: float16-base64`): about
8 bytes of JSON per row for 3 labels (a 10,000-row test split of 3 labels adds 80 kB; docs/records.md).
float16 keeps about 3 significant digits (a step of 0.0005 near 1), enough for calibration and
for sorting errors by confidence; the predictions themselves stay the exact argmax of the logits.
Reading a record checks only the block's shape (harness.records.store.Probabilities); the values
are checked here, by `decode`, which only the views that need them call.
"""
from __future__ import annotations

import base64
import binascii
from typing import TypedDict

import numpy as np

ENCODING = "float16-base64"
ECE_BINS = 15  # equal-width bins of top-class confidence over [0, 1] (Guo et al. 2017)
CALIBRATION_DEFINITION = (
    f"ECE: {ECE_BINS} equal-width bins of the predicted label's probability over [0, 1], the mean over bins "
    "of |accuracy - mean confidence| weighted by the bin's share of rows; Brier: the mean over rows of the "
    "sum over labels of (probability - 1 if gold else 0)^2 (0 is perfect, 2 the worst)"
)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32; a column of -inf (a label no checkpoint label maps to) gets 0."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class ProbabilityBlock(TypedDict):
    """A record's block of probabilities (harness.records.schema.Probabilities on disk)."""

    encoding: str  # ENCODING
    rows: int
    labels: int
    data: str  # base64 of rows x labels little-endian float16, row-major


class CalibrationFigures(TypedDict):
    """A scored split's calibration (the record's metrics.test.calibration)."""

    ece: float | None
    brier: float | None
    bins: int


def encode(probabilities: np.ndarray) -> ProbabilityBlock:
    """The record's block for a rows x labels matrix of probabilities."""
    matrix = np.asarray(probabilities, dtype="<f2")
    rows, labels = matrix.shape
    return ProbabilityBlock(encoding=ENCODING, rows=int(rows), labels=int(labels),
                            data=base64.b64encode(np.ascontiguousarray(matrix).tobytes()).decode("ascii"))


def decode(block: ProbabilityBlock) -> np.ndarray:
    """The rows x labels float32 matrix of a record's block; ValueError (one line) when the block is
    not what `encode` writes: another encoding, bad base64, a size that is not rows x labels, a value
    that is not finite or outside [0, 1], or a row whose probabilities do not sum to about 1."""
    if block.get("encoding") != ENCODING:
        raise ValueError(f"probabilities encoding {block.get('encoding')!r} is not {ENCODING!r}")
    rows, labels = block.get("rows"), block.get("labels")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (rows, labels)):
        raise ValueError("probabilities need whole numbers 'rows' and 'labels'")
    try:
        raw = base64.b64decode(str(block.get("data", "")), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("probabilities data is not base64") from None
    if len(raw) != 2 * rows * labels:
        raise ValueError(f"probabilities hold {len(raw) // 2} values, not rows x labels = {rows} x {labels}")
    matrix = np.frombuffer(raw, dtype="<f2").astype(np.float32).reshape(rows, labels)
    if not np.isfinite(matrix).all() or (matrix < 0).any() or (matrix > 1).any():
        raise ValueError("probabilities hold a value that is not a number in [0, 1]")
    if rows and labels and np.abs(matrix.sum(axis=1) - 1).max() > 0.01 * labels:
        raise ValueError("a row of probabilities does not sum to 1")
    return matrix


def calibration(probabilities: np.ndarray, references: list[int], predictions: list[int],
                bins: int = ECE_BINS) -> CalibrationFigures:
    """Expected calibration error and multi-class Brier score of one scored split.

    ECE: the confidence of a row is the probability of its predicted label; rows fall in `bins`
    equal-width bins over [0, 1] (a confidence on an edge goes to the lower bin, 0 to the first);
    ECE = sum over bins of (rows in bin / rows) x |accuracy in bin - mean confidence in bin|.
    Brier: mean over rows of sum over labels of (p - y)^2, y the one-hot gold label (range [0, 2])."""
    probs = np.asarray(probabilities, dtype=np.float64)
    refs = np.asarray(references, dtype=np.int64)
    preds = np.asarray(predictions, dtype=np.int64)
    n = len(refs)
    if n == 0:
        return CalibrationFigures(ece=None, brier=None, bins=bins)
    confidence = probs[np.arange(n), preds]
    correct = (preds == refs).astype(np.float64)
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    gap = np.abs(np.bincount(index, weights=correct, minlength=bins) - np.bincount(index, weights=confidence, minlength=bins))
    ece = float(gap.sum() / n)  # sum over bins of n_b / n * |acc_b - conf_b| = sum |sum correct - sum conf| / n
    onehot = np.zeros_like(probs)
    onehot[np.arange(n), refs] = 1.0
    brier = float(((probs - onehot) ** 2).sum(axis=1).mean())
    return CalibrationFigures(ece=ece, brier=brier, bins=bins)
