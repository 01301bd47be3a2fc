"""The markdown pieces of a comparison report: its table, its configuration differences and the
statement of its method."""
from __future__ import annotations

from typing import Any

from harness.metrics import METRICS
from harness.stats import POWER, SIGNIFICANCE_METHOD, format_p

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


def method_text(result) -> str:
    """How a comparison was tested, in words (the markdown's footer and the JSON's `method`)."""
    n = sorted({c.n_examples for c in result.comparisons})
    n_text = ", ".join(str(x) for x in n) if n else "0"
    return (
        f"{SIGNIFICANCE_METHOD} over seeds and test examples ({n_text} test examples per task): the delta is the "
        f"mean over paired seeds (paired by seed number; unpaired seeds are ignored) of candidate minus baseline "
        f"on the same test examples. Its variance counts both sources of noise, seeds x test examples as a "
        f"crossed random-effects design: the test-example term from {result.resamples} bootstrap resamples of the "
        f"test examples (seed {result.seed}) shared by every seed pair, the seed term from the spread of the "
        f"per-pair deltas (less the example noise it already holds, floored at 0); p and the {result.ci_label} "
        f"come from a t distribution with Satterthwaite's degrees of freedom (about seeds - 1 when seed variance "
        f"dominates). With one seed pair, training variance is not accounted for; checkpoints evaluated as "
        f"published on both sides (§) have fixed weights and no training variance, so the test-example term is "
        f"the whole variance. Values and deltas are in points "
        f"(metric x 100). Regressed: {result.rule}. Improved: p < {_num(result.alpha)} and delta > 0, with no minimum "
        f"size. Unchanged: anything else, including significant drops within the {_num(result.max_drop)}-point "
        f"tolerance. Detectable drop: the larger of the tolerance and the drop this test would flag with "
        f"{POWER:.0%} probability given the variance seen here ((t(1-alpha/2) + t({POWER:g})) x standard error); "
        f"a smaller true drop can pass unnoticed; a detectable drop larger than the baseline's score is stated as "
        f"not detectable at this test size, with the test size that would detect a drop of the tolerance (at "
        f"least 1 point) if the seed variance stays as seen. Intervals are cut at the metric's range. Each comparison is tested on its own at alpha "
        f"{_num(result.alpha)} (no correction for the {len(result.comparisons)} comparison(s)). Macro-F1: the "
        f"unweighted mean of per-class F1 over the classes present in the references or predictions "
        f"(scikit-learn's default). MCC: scikit-learn's matthews_corrcoef (multiclass R_K, -1..1), in points "
        f"like the others."
    )


def _num(value: float) -> str:
    return f"{value:g}"
