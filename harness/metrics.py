"""Classification metrics over a whole split, computed with scikit-learn (never per batch)."""
from __future__ import annotations

from typing import Any, Sequence

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
        "accuracy": accuracy(refs, preds),
        "macro_f1": macro_f1(refs, preds),
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
    return {"accuracy": accuracy(references, predictions), "macro_f1": macro_f1(references, predictions)}
