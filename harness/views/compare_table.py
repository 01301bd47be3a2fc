"""The markdown pieces of a comparison report: its table and its configuration differences."""
from __future__ import annotations

from typing import Any

from harness.metrics import METRICS
from harness.stats import format_p

METRIC_NAMES = {m.name: m.title for m in METRICS.values()}


def comparison_table(items: list, ci_label: str) -> str:
    """The markdown table of comparisons (points)."""
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "task": c.task,
                "model": c.model,
                "metric": METRIC_NAMES.get(c.metric, c.metric),
                "baseline": f"{c.baseline:.2f}",
                "candidate": f"{c.candidate:.2f}",
                "delta": f"{c.delta:+.2f}" + ("\\*" if c.within_tolerance else ""),
                ci_label: f"[{c.low:+.2f}, {c.high:+.2f}]" + ("†" if c.clipped else ""),
                "p": format_p(c.p_value),
                "detectable drop": c.detectable_text,
                "seeds paired": ("evaluated §" if c.evaluated else
                                 f"{c.pairs} ({', '.join(map(str, c.seeds))})" + ("" if c.training_variance_counted else " ‡")),
            }
            for c in items
        ]
    )
    align = ("left", "left", "left", "right", "right", "right", "right", "right", "right", "left")
    return frame.to_markdown(index=False, disable_numparse=True, colalign=align)


def config_lines(comparisons: list) -> list[str]:
    lines, seen = [], set()
    for c in comparisons:
        if c.config_changes and (c.task, c.model) not in seen:
            seen.add((c.task, c.model))
            changes = "; ".join(f"`{k}` {_value(old)} → {_value(new)}" for k, (old, new) in c.config_changes.items())
            lines.append(f"- {c.task} / {c.model}: {changes}")
    return lines


def _value(value: Any) -> str:
    return "(absent)" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
