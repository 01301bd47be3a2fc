"""The one formatter of a score across seeds, shared by every view (markdown, CSV, JSON, the web
page, the report and the terminal): `84.12 ± 1.03 (3)`, or, when the t interval was cut at the
metric's range, the interval itself `89.67 [73.13, 100.00] (3)` (a cut interval is not symmetric).
Numbers in points (metric x 100)."""
from __future__ import annotations

AT_CHANCE_MARK = "⚠"  # a cell not significantly above the majority-class rate, or predicting one class
PRETRAINED_MARK = "¶"  # a model spec pretrained by the harness before fine-tuning (its footnote names corpus and budget)


def model_label(model: str, mark: str = "") -> str:
    """A row's model as every view shows it: the name, then its mark (`tiny-tapt ¶`) if it has one."""
    return f"{model} {mark}" if mark else model


def points(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def calibration_text(value: float | None) -> str:
    """An ECE or Brier score as every view prints it: 4 decimals (both are small fractions), `n/a`
    for seeds written before probabilities were kept."""
    return "n/a" if value is None else points(value, 4)


def score_text(mean: float | None, half_width: float | None = None, low: float | None = None,
               high: float | None = None, clipped: bool = False, n: int | None = None, failed: int = 0,
               evaluated: tuple[float, float] | None = None) -> str:
    """mean ± half-width, or mean [low, high] when clipped; then the seed count (n, failed). A checkpoint
    evaluated as published (`evaluated`: its interval over test examples) reads `mean [low, high] (evaluated)`."""
    if mean is None:
        return ""
    text = points(mean)
    if evaluated is not None:
        return text + f" [{points(evaluated[0])}, {points(evaluated[1])}] (evaluated)"
    if clipped and low is not None and high is not None:
        text += f" [{points(low)}, {points(high)}]"
    elif half_width is not None:
        text += f" ± {points(half_width)}"
    if n is not None:
        text += f" ({n} of {n + failed} seeds; {failed} failed)" if failed else f" ({n})"
    return text
