"""The checks a record and a baseline share: every registered metric within its range, printable
labels, label ids within the labels. Records and baselines are untrusted when read."""
from __future__ import annotations

import unicodedata
from typing import Any

from harness.metrics import METRICS


def check_metric_ranges(values: dict[str, Any]) -> None:
    """Every registered metric stays inside its declared [low, high] (an accuracy of 5.0 is not
    500%, it is a damaged or forged file). Used by the record and the baseline schema."""
    for metric in METRICS.values():
        value = values.get(metric.name)
        if isinstance(value, (int, float)) and not metric.low <= value <= metric.high:
            raise ValueError(f"{metric.name} {value!r} is outside [{metric.low:g}, {metric.high:g}]")


def check_labels(labels: list[str]) -> list[str]:
    """Label names are shown in every view: one printable line each, NFC, no duplicates."""
    for label in labels:
        if not label.strip() or any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in label):
            raise ValueError(f"label {label!r} is empty or holds a newline or control character")
        if unicodedata.normalize("NFC", label) != label:
            raise ValueError(f"label {label!r} is not Unicode-normalised (NFC)")
    if len(set(labels)) != len(labels):
        raise ValueError("a label is listed twice")
    return labels


_BELOW = bytes(range(256))  # _BELOW[:k]: the ids 0..k-1 as bytes


def check_label_ids(what: str, ids: list[int], n_labels: int) -> None:
    if not ids:
        return
    try:  # one pass in C (2,100 records x 10,000 ids): bytes() takes only ids 0..255
        if bytes(ids).translate(None, _BELOW[: min(n_labels, 256)]) == b"":
            return
    except ValueError:  # an id below 0 or above 255
        pass
    bad = next((i for i in ids if not 0 <= i < n_labels), None)
    if bad is not None:
        raise ValueError(f"{what} holds label id {bad}, outside 0..{n_labels - 1}")
