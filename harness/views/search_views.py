"""Views of the searches: the leaderboard's footnote line, the report's section and its heatmaps.

They read only the final records' `selection` (every trial's configuration and validation
scores, the chosen one and the rule): trial records stay under `search/` and never enter a view.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from harness.records.schema import ResultRecord, SearchSelection
from harness.records.facts import SpaceRange
from harness.spec.recipe import RecipeValue

HEATMAP_NAME = "search-heatmap.png"


def selections(records: Iterable[ResultRecord]) -> dict[tuple[str, str], SearchSelection]:
    """task x model -> the selection its final records carry (the lowest seed's, all seeds share it)."""
    out: dict[tuple[str, str], SearchSelection] = {}
    for record in sorted(records, key=lambda r: r.seed):
        if record.selection is not None and (record.task, record.model) not in out:
            out[(record.task, record.model)] = record.selection
    return out


def _values(params: dict[str, RecipeValue] | None) -> str:
    if not params:
        return "none (every trial failed)"
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _space(selection: SearchSelection) -> str:
    parts = []
    for key, values in selection.space.items():
        if isinstance(values, SpaceRange):
            parts.append(f"{key} in [{values.low:g}, {values.high:g}]" + (" (log)" if values.log else ""))
        else:
            parts.append(f"{key} in {{{', '.join(f'{v:g}' if isinstance(v, float) else str(v) for v in values)}}}")
    return "; ".join(parts)


def _over(selection: SearchSelection) -> str:
    budget = ", ".join(f"{k}={v}" for k, v in selection.budget.items())
    return (f"{selection.strategy} over {_space(selection)}, {len(selection.trials)} configuration(s) x "
            f"{selection.seeds} seed(s)" + (f", trial budget {budget}" if budget else ""))


def footnote_lines(records: Iterable[ResultRecord]) -> list[str]:
    """One leaderboard footnote line naming the selected cells and what they were selected over."""
    chosen = selections(records)
    if not chosen:
        return []
    rule = next(iter(chosen.values())).rule
    cells = "; ".join(f"{task} × {model}: {_values(s.chosen)} ({_over(s)})" for (task, model), s in sorted(chosen.items()))
    return [f"Hyperparameters selected on the validation split (never the test split), {rule}: {cells}. "
            "Other cells use the declared recipe."]


def _columns(group: dict[str, SearchSelection]) -> tuple[list[str], list[tuple]]:
    keys = sorted({k for s in group.values() for t in s.trials for k in t.params})
    combos = {tuple(t.params.get(k) for k in keys) for s in group.values() for t in s.trials}
    return keys, sorted(combos, key=lambda c: tuple((v is None, v if isinstance(v, (int, float)) else str(v)) for v in c))


def _unit(metric: str) -> tuple[float, str]:
    """A selection metric's display scale: scores in percent, the validation loss as it is."""
    return (1.0, "") if str(metric).endswith("loss") else (100.0, " (%)")


def write_heatmap(task: str, group: dict[str, SearchSelection], path: Path) -> Path:
    """Validation score (mean over trial seeds, %) of every model (rows) at every searched
    configuration (columns) of one task; the chosen one is framed. Blank: not tried by that model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from harness.files import atomic_write_bytes

    models = sorted(group)
    keys, combos = _columns(group)
    metric = next(iter(group.values())).metric
    scale, unit = _unit(metric)
    grid = np.full((len(models), len(combos)), np.nan)
    chosen_at: dict[int, int] = {}
    for i, model in enumerate(models):
        for trial in group[model].trials:
            j = combos.index(tuple(trial.params.get(k) for k in keys))
            if trial.mean is not None:
                grid[i, j] = scale * trial.mean
            if trial.params == group[model].chosen:
                chosen_at[i] = j
    fig, ax = plt.subplots(figsize=(2.5 + 1.1 * len(combos), 1.6 + 0.5 * len(models)), dpi=100)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(grid):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", color="white" if value < np.nanmean(grid) else "black")
    for i, j in chosen_at.items():
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.5))
    ax.set_xticks(range(len(combos)), ["\n".join(f"{v:g}" if isinstance(v, float) else str(v) for v in c) for c in combos])
    ax.set_yticks(range(len(models)), models)
    ax.set_xlabel(" / ".join(keys))
    ax.set_title(f"{task}: {metric}{unit} per trial configuration; chosen framed")
    fig.colorbar(image, ax=ax, label=f"{metric}{unit}")
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def report_section(results: Path, records: list[ResultRecord]) -> list[str]:
    """The report's markdown lines: the selected hyperparameters per task x model, and a heatmap
    per task of validation score against the searched values."""
    chosen = selections(records)
    out = ["## Hyperparameter selection", ""]
    if not chosen:
        return out + ["No search in these results: every cell uses its declared recipe.", ""]
    rule = next(iter(chosen.values())).rule
    out += [f"Chosen on the validation split only; {rule}.", "",
            "| task | model | chosen | validation mean (% ; a loss as is) | searched |", "|---|---|---|---:|---|"]
    for (task, model), selection in sorted(chosen.items()):
        mean, scale = selection.chosen_mean, _unit(selection.metric)[0]
        out.append(f"| {task} | {model} | {_values(selection.chosen)} | "
                   f"{'–' if mean is None else f'{scale * mean:.2f}'} | {_over(selection)} |")
    out.append("")
    for task in sorted({t for t, _ in chosen}):
        group = {model: s for (t, model), s in chosen.items() if t == task}
        path = write_heatmap(task, group, Path(results) / task / HEATMAP_NAME)
        out += [f"![{task}: validation score per searched configuration]({path.relative_to(results).as_posix()})", ""]
    return out
