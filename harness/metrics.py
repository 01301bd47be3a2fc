"""Classification metrics over a whole split, computed with scikit-learn (never per batch)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

# scikit-learn is imported inside the functions: every command imports this registry (the parser's
# help lists the metrics), and sklearn alone takes about 1.5 s to import.

MACRO_F1_DEFINITION = (
    "scikit-learn f1_score(average='macro') with its default labels: the unweighted mean of "
    "per-class F1 over the labels present in the references or the predictions"
)


def accuracy(references: Sequence[int], predictions: Sequence[int]) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(references, predictions))


def macro_f1(references: Sequence[int], predictions: Sequence[int]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(references, predictions, average="macro", zero_division=0))


MCC_DEFINITION = (
    "scikit-learn matthews_corrcoef (multiclass: Gorodkin's R_K from the confusion matrix); "
    "0 where every prediction or every reference is one class"
)


def mcc(references: Sequence[int], predictions: Sequence[int]) -> float:
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(references, predictions))


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


def metric_bounds(name: str) -> tuple[float, float]:
    """The range a metric cannot leave (its intervals are clipped to it): 0..1, MCC -1..1."""
    metric = get_metric(name)
    return metric.low, metric.high


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise KeyError(f"unknown metric '{name}'; choose from {', '.join(METRICS)}")
    return METRICS[name]


register(Metric("accuracy", "accuracy", accuracy, definition="scikit-learn accuracy_score"))
register(Metric("macro_f1", "macro-F1", macro_f1, definition=MACRO_F1_DEFINITION))
register(Metric("mcc", "MCC", mcc, low=-1.0, definition=MCC_DEFINITION))



# Early stopping and the best checkpoint can also follow the validation loss (cross-entropy of the
# validation logits): not a test metric (no view ranks on it), so it is not in METRICS.
def _needs_logits(references: Sequence[int], predictions: Sequence[int]) -> float:
    raise ValueError("the validation loss is computed from logits, not from predicted labels")


VALIDATION_LOSS = Metric("loss", "validation loss", _needs_logits, higher_is_better=False, high=float("inf"),
                         definition="mean cross-entropy of the validation logits (natural log)")


def selection_metrics() -> tuple[str, ...]:
    """What early stopping, the best checkpoint and a search can select on: every registered
    metric and the validation loss."""
    return (*metric_names(), VALIDATION_LOSS.name)


def selection_metric(name: str) -> Metric:
    """The metric (with its direction) that `selection_metric: name` selects on."""
    return VALIDATION_LOSS if name == VALIDATION_LOSS.name else get_metric(name)


def classification_metrics(references: Sequence[int], predictions: Sequence[int], labels: list[str]) -> dict[str, Any]:
    """The registered metrics, and per-class scores and the confusion matrix over the full label list."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

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
