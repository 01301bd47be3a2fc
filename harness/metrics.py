"""Classification metrics over a whole split, computed with scikit-learn (never per batch)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

MACRO_F1_DEFINITION = (
    "scikit-learn f1_score(average='macro') with its default labels: the unweighted mean of "
    "per-class F1 over the labels present in the references or the predictions"
)


def accuracy(references: Sequence[int], predictions: Sequence[int]) -> float:
    return float(accuracy_score(references, predictions))


def macro_f1(references: Sequence[int], predictions: Sequence[int]) -> float:
    return float(f1_score(references, predictions, average="macro", zero_division=0))


# --------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class Metric:
    """A test metric, declared once: every record, statistic and view reads its list from here."""

    name: str  # the key in records: metrics.test[name]
    title: str  # what views print: "accuracy", "macro-F1"
    compute: Callable[[Sequence[int], Sequence[int]], float]  # (references, predictions) over a whole split
    higher_is_better: bool = True
    low: float = 0.0  # the range the metric cannot leave (intervals are clipped to it)
    high: float = 1.0
    definition: str = ""


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    if metric.name in METRICS:
        raise ValueError(f"metric '{metric.name}' is registered twice")
    METRICS[metric.name] = metric
    return metric


def metric_names() -> tuple[str, ...]:
    """The registered metrics, in registration order (the order views show them)."""
    return tuple(METRICS)


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise KeyError(f"unknown metric '{name}'; choose from {', '.join(METRICS)}")
    return METRICS[name]


register(Metric("accuracy", "accuracy", accuracy, definition="scikit-learn accuracy_score"))
register(Metric("macro_f1", "macro-F1", macro_f1, definition=MACRO_F1_DEFINITION))


def classification_metrics(references: Sequence[int], predictions: Sequence[int], labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, and per-class scores and the confusion matrix over the full label list."""
    refs = np.asarray(references, dtype=int)
    preds = np.asarray(predictions, dtype=int)
    ids = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        refs, preds, labels=ids, average=None, zero_division=0
    )
    return {
        "n": int(len(refs)),
        **summary_metrics(refs, preds),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(refs, preds, labels=ids).tolist(),
    }


def summary_metrics(references: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    return {m.name: m.compute(references, predictions) for m in METRICS.values()}
