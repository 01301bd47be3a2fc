"""The summary figure of a results folder: one panel per task, each model's mean test score with
its 95% CI over seeds (a horizontal bar) and its per-seed values (small dots).

It is drawn from the leaderboard's JSON data (`Leaderboard.to_json_dict()`, scores in percent),
the one source of the markdown, CSV, JSON and HTML leaderboards, so the figure cannot disagree
with the tables. PNG for `REPORT.md`, inline SVG for `LEADERBOARD.html`: in the SVG every model's
mark is a group with the id `point__<metric>__<task>__<model>__<k>`, which the web page uses to attach
the per-seed values to a hover and a click.

Figures are drawn on `matplotlib.figure.Figure` with an Agg canvas, never through pyplot, and without
a layout engine: the margins are measured once (`_margins`) and the model names are drawn as texts
(`_model_ticks`), which keeps the 2,100-record grid's 42 panels at about 1.6 s of CPU instead of 3.9 s.
"""
from __future__ import annotations

import io
import math
import re
from pathlib import Path

from harness.files import atomic_write_bytes
from harness.metrics import METRICS, metric_bounds, metric_names
from harness.views.leaderboard_json import CellJson, LeaderboardJson

DPI = 100
PANEL_WIDTH_IN = 3.4
ROW_HEIGHT_IN = 0.34
PANEL_BASE_HEIGHT_IN = 1.1
PANELS_PER_ROW = 4
MIN_WIDTH_IN = 6.0  # room for the title when there is a single task
TITLE_PT, PANEL_TITLE_PT, NAME_PT, XLABEL_PT, XTICK_PT = 10, 9, 8, 8, 7  # font sizes (points)
METRIC_LABELS = {m.name: f"test {m.title} (%)" for m in METRICS.values()}  # the registry's metrics


def point_id(metric: str, task: str, model: str) -> str:
    """The SVG id prefix of one model's marks in one task panel. Task and model names are
    [a-z0-9._-] (specs.NAME_PATTERN), so `__` cannot occur inside them."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"point__{metric}__{task}__{model}")


def _cells(data: LeaderboardJson, metric: str) -> dict[tuple[str, str], CellJson]:
    return {(c["task"], c["model"]): c for c in data["cells"] if c["metric"] == metric}


BEST_COLOUR, OTHER_COLOUR, SEED_COLOUR = "tab:blue", "tab:gray", "black"
# what each colour and mark means: the PNG's legend (the web page writes the same in HTML under its SVG)
LEGEND = (("best of the task, or not significantly different from it (bold, †)", BEST_COLOUR, "o", "-"),
          ("the other models", OTHER_COLOUR, "o", "-"),
          ("bar: 95% t-interval over seeds", OTHER_COLOUR, "", "-"),
          ("single seeds", SEED_COLOUR, ".", ""))


def summary_figure(data: LeaderboardJson, metrics: tuple[str, ...] = ("accuracy",), legend: bool = True,
                   per_cell: bool = True):
    """A Figure with one row of task panels per metric (wrapped at PANELS_PER_ROW panels), and a
    legend under the panels saying which colour is which (`legend=False`: the web page has its own);
    `per_cell`: see `_panel`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = list(data["tasks"])
    per_row = max(1, min(PANELS_PER_ROW, len(tasks)))
    rows_per_metric = math.ceil(len(tasks) / per_row) if tasks else 1
    n_models = max(1, len(data["models"]))
    panel_height = PANEL_BASE_HEIGHT_IN + ROW_HEIGHT_IN * n_models
    fig = Figure(
        figsize=(max(MIN_WIDTH_IN, PANEL_WIDTH_IN * per_row + 1.2), panel_height * rows_per_metric * len(metrics)),
        dpi=DPI,
    )
    FigureCanvasAgg(fig)
    rows = rows_per_metric * len(metrics)
    labels = [model for metric in metrics for model in data["ranking"][metric]]
    margins = _margins(fig, labels, rows, per_row, _legend(fig) if legend else None)
    grid = fig.add_gridspec(rows, per_row, **margins)
    for m_index, metric in enumerate(metrics):
        cells = _cells(data, metric)
        order = list(data["ranking"][metric])[::-1]  # best at the top
        for t_index, task in enumerate(tasks):
            row = m_index * rows_per_metric + t_index // per_row
            ax = fig.add_subplot(grid[row, t_index % per_row])
            _panel(ax, metric, task, order, cells, per_cell)
            _model_ticks(ax, order, labelled=t_index % per_row == 0)
    fig.suptitle("Mean test score over seeds with its 95% t-interval; dots: single seeds", fontsize=TITLE_PT,
                 y=1 - PAD_IN / fig.get_figheight(), va="top")
    return fig


PT = 1 / 72  # inches
PAD_IN = 3 * PT  # around every panel and at the figure's edges (constrained layout's default pad)


def _margins(fig, labels: list[str], rows: int, cols: int, legend) -> dict[str, float]:
    """The panels' grid in figure fractions, from the sizes of what surrounds each panel: the model
    names left of the first column, each panel's title above and its x tick labels and label below,
    the title at the top and the legend at the bottom. Measured once, where a layout engine would
    measure every tick label of every panel, twice per savefig (more than all the drawing)."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties

    renderer = fig.canvas.get_renderer()
    dpi = fig.dpi

    def size(text: str, points: float) -> tuple[float, float]:  # inches, as matplotlib lays out one line
        width, height, _ = renderer.get_text_width_height_descent(text, FontProperties(size=points), ismath=False)
        return width / dpi, max(height, renderer.get_text_width_height_descent(
            "lp", FontProperties(size=points), ismath=False)[1]) / dpi

    tick = (rcParams["xtick.major.size"] + rcParams["xtick.major.pad"]) * PT
    above = size("task", PANEL_TITLE_PT)[1] + rcParams["axes.titlepad"] * PT  # a panel's title
    below = tick + size("0", XTICK_PT)[1] + rcParams["axes.labelpad"] * PT + size("test (%)", XLABEL_PT)[1]
    label_width = max((size(label, NAME_PT)[0] for label in labels), default=0.0)
    overhang = size("\u2212100", XTICK_PT)[0] / 2  # the outermost x tick labels reach past the panel's sides
    width, height = fig.get_figwidth(), fig.get_figheight()
    left = PAD_IN + label_width + tick + PAD_IN
    right = PAD_IN + overhang + PAD_IN
    top = PAD_IN + size("Mean", TITLE_PT)[1] + PAD_IN + above + PAD_IN
    bottom = PAD_IN + below + PAD_IN
    if legend is not None:
        bottom += legend.get_window_extent(renderer).height / dpi + PAD_IN
    gap_x = PAD_IN + overhang + PAD_IN + tick + PAD_IN  # outer tick labels of both panels, the next one's ticks
    gap_y = PAD_IN + below + PAD_IN + above + PAD_IN
    panel_width = (width - left - right - (cols - 1) * gap_x) / cols
    panel_height = (height - top - bottom - (rows - 1) * gap_y) / rows
    return {"left": left / width, "right": 1 - right / width, "top": 1 - top / height, "bottom": bottom / height,
            "wspace": gap_x / panel_width, "hspace": gap_y / panel_height}


def _model_ticks(ax, order: list[str], labelled: bool) -> None:
    """A tick mark at each model's row and, on a row's first panel, the model names: drawn as the y
    axis draws them (same marks, sizes, pads and alignment), but as one line of tick markers and one
    text a name. The y axis's own 30 ticks a panel are 30 Tick objects of five artists each: for 42
    panels, a third of the figure's time."""
    from matplotlib import rcParams
    from matplotlib.lines import Line2D
    from matplotlib.markers import TICKLEFT

    ax.set_yticks([])
    size = rcParams["ytick.major.size"]
    ax.add_artist(Line2D([0] * len(order), range(len(order)), transform=ax.get_yaxis_transform(which="tick1"),
                         marker=TICKLEFT, linestyle="None", markersize=size, markeredgewidth=rcParams["ytick.major.width"],
                         markeredgecolor=rcParams["ytick.color"], clip_on=False, gid="model-ticks"))
    if labelled:
        transform, valign, halign = ax.get_yaxis_text1_transform(size + rcParams["ytick.major.pad"])
        colour = rcParams["ytick.labelcolor"]
        for y, model in enumerate(order):
            ax.text(0, y, model, transform=transform, va=valign, ha=halign, fontsize=NAME_PT,
                    color=rcParams["ytick.color"] if colour == "inherit" else colour, gid="model-name")


def _legend(fig):
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colour, marker=marker, linestyle=style or "None", linewidth=2.5, alpha=0.8,
                      markersize=6 if marker == "o" else 8, label=text) for text, colour, marker, style in LEGEND]
    return fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, PAD_IN / fig.get_figheight()), ncols=2,
                      fontsize=7, frameon=False, borderaxespad=0)


def _panel(ax, metric: str, task: str, order: list[str], cells: dict[tuple[str, str], CellJson],
           per_cell: bool = True) -> None:
    """One task's panel. `per_cell`: one group of artists per model, each with its id (the web
    page's SVG hover needs them); otherwise (the report's PNG) three artists for the whole panel,
    which matplotlib draws many times faster for a 30-model grid."""
    from matplotlib.collections import LineCollection

    floor, ceiling = (100 * bound for bound in metric_bounds(metric))  # percent: 0..100, MCC -100..100
    means, segments, dots = [], [], []
    for y, model in enumerate(order):
        cell = cells.get((task, model))
        if cell is None or cell["mean"] is None:
            status = "no record" if cell is None or cell["status"] == "missing" else cell["status"]
            ax.text((floor + ceiling) / 2, y, status, ha="center", va="center", fontsize=8, color="gray")
            continue
        colour = BEST_COLOUR if cell["best"] or cell["tie_with_best"] else OTHER_COLOUR
        interval = None
        if cell["low"] is not None and cell["high"] is not None:
            interval = [(max(floor, cell["low"]), y), (min(ceiling, cell["high"]), y)]
        if not per_cell:
            means.append((cell["mean"], y, colour))
            if interval:
                segments.append((interval, colour))
            dots += [(v, y + 0.18) for v in cell["values"]]
            continue
        mark = ax.scatter([cell["mean"]], [y], s=36, color=colour, zorder=3)
        group = [mark]
        if interval:
            (line,) = ax.plot([p[0] for p in interval], [y, y], color=colour, linewidth=2.5, alpha=0.6,
                              solid_capstyle="butt")
            group.append(line)
        if cell["values"]:
            dots_artist = ax.scatter(cell["values"], [y + 0.18] * len(cell["values"]), s=10, color=SEED_COLOUR,
                                     alpha=0.6, zorder=4)
            group.append(dots_artist)
        for artist in group:  # one id per artist: matplotlib writes it as the id of the artist's <g>
            artist.set_gid(f"{point_id(metric, task, model)}__{group.index(artist)}")
    if segments:
        ax.add_collection(LineCollection([seg for seg, _ in segments], colors=[c for _, c in segments], linewidths=2.5,
                                         alpha=0.6, capstyle="butt"))
    if means:
        ax.scatter([m[0] for m in means], [m[1] for m in means], s=36, c=[m[2] for m in means], zorder=3)
    if dots:
        ax.scatter([d[0] for d in dots], [d[1] for d in dots], s=10, color=SEED_COLOUR, alpha=0.6, zorder=4)
    ax.set_xlim(floor, ceiling)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_title(task, fontsize=PANEL_TITLE_PT)
    ax.set_xlabel(METRIC_LABELS.get(metric, metric), fontsize=XLABEL_PT)
    ax.tick_params(axis="x", labelsize=XTICK_PT)
    ax.grid(True, axis="x", alpha=0.3)


def summary_svg(data: LeaderboardJson, metric: str) -> str:
    """The summary figure of one metric as an inline `<svg>` element (text kept as text)."""
    import matplotlib

    fig = summary_figure(data, (metric,), legend=False)  # the page's HTML legend sits under it
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"harness-{metric}"}):
        fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def write_summary_png(data: LeaderboardJson, path: str | Path) -> Path:
    """Every registered metric in one PNG (for REPORT.md), written atomically."""
    fig = summary_figure(data, metric_names(), per_cell=False)  # a PNG has no hover: batched artists
    buffer = io.BytesIO()
    # zlib level 3 instead of 6: a third less encoding time (0.25 s instead of 0.38 s for the 2,100-record grid's
    # 1480 x 13560 pixels), a file 15% larger (encoding RGB instead of RGBA would keep its size, for 60 MB more)
    fig.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 3})
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)
