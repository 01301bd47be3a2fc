"""The summary figure drawn with batched artists and explicit margins: every panel still carries
every model (its tick mark and, on a row's first panel, its name), its mean, its interval and its
seeds, and nothing overlaps (what a layout engine used to ensure)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import make_record, predictions_with_accuracy, typed

from harness.metrics import metric_bounds, metric_names
from harness.views.leaderboard import build_leaderboard
from harness.views.summary import METRIC_LABELS, PANELS_PER_ROW, summary_figure

LONG = "a-rather-long-model-name-of-forty-chars"


def _data(tasks: int, models: tuple[str, ...], seeds: int = 3):
    records = []
    for t in range(tasks):
        refs = [i % 3 for i in range(60)]
        for m, model in enumerate(models):
            for s in range(seeds):
                if (t, m) == (1, 0):  # every seed failed: the cell says so
                    records.append(make_record(f"t{t}", model, s, [], [], ["neg", "neu", "pos"], status="failed"))
                    continue
                preds = predictions_with_accuracy(refs, 0.5 + 0.1 * m + 0.02 * s, 3, seed=100 * t + 10 * m + s)
                records.append(make_record(f"t{t}", model, s, refs, preds, ["neg", "neu", "pos"]))
    return json.loads(build_leaderboard(typed(records)).to_json())


def _flat(points) -> list[float]:
    return [float(x) for x in np.ravel(np.asarray(points, dtype=float))]


def _metric_of(ax) -> str:
    return next(m for m, label in METRIC_LABELS.items() if label == ax.get_xlabel())


def test_every_panel_carries_every_model_its_mean_interval_and_seeds():
    data = _data(tasks=5, models=("m-a", "m-b", LONG))
    fig = summary_figure(data, metric_names(), per_cell=False)  # the report's PNG: a few artists a panel
    assert len(fig.axes) == 5 * len(metric_names())
    cells = {(c["metric"], c["task"], c["model"]): c for c in data["cells"]}
    for index, ax in enumerate(fig.axes):
        metric, task = _metric_of(ax), ax.get_title()
        order = list(data["ranking"][metric])[::-1]
        [ticks] = [line for line in ax.lines if line.get_gid() == "model-ticks"]
        assert list(ticks.get_ydata()) == list(range(len(order)))  # a tick mark at every model's row
        names = [t.get_text() for t in ax.texts if t.get_gid() == "model-name"]
        assert names == (order if index % 5 % PANELS_PER_ROW == 0 else [])  # names on a row's first panel
        floor, ceiling = (100 * b for b in metric_bounds(metric))
        drawn = [(y, cells[(metric, task, model)]) for y, model in enumerate(order)]
        drawn = [(y, c) for y, c in drawn if c["mean"] is not None]
        [intervals] = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
        assert _flat(intervals.get_segments()) == pytest.approx(
            _flat([[(max(floor, c["low"]), y), (min(ceiling, c["high"]), y)] for y, c in drawn]))
        [means] = [c for c in ax.collections if list(getattr(c, "get_sizes", list)()) == [36]]
        assert _flat(means.get_offsets()) == pytest.approx(_flat([(c["mean"], y) for y, c in drawn]))
        [seeds] = [c for c in ax.collections if list(getattr(c, "get_sizes", list)()) == [10]]
        assert _flat(seeds.get_offsets()) == pytest.approx(_flat([(v, y + 0.18) for y, c in drawn for v in c["values"]]))
    failed = [ax for ax in fig.axes if ax.get_title() == "t1"]
    assert len(failed) == len(metric_names())
    assert all("failed" in [t.get_text() for t in ax.texts] for ax in failed)  # said, never drawn as 0


@pytest.mark.parametrize("tasks, legend", [(5, True), (1, True), (2, False)])
def test_nothing_overlaps_and_everything_is_inside_the_figure(tasks, legend):
    fig = summary_figure(_data(tasks=tasks, models=("m-a", LONG)), metric_names(), legend=legend)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]  # spines, ticks, tick labels, names, title, x label
    others = [fig._suptitle.get_window_extent(renderer)] + [lg.get_window_extent(renderer) for lg in fig.legends]
    assert len(fig.legends) == (1 if legend else 0)
    for box in boxes + others:
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    everything = boxes + others
    for i, a in enumerate(everything):
        for b in everything[i + 1:]:
            assert not a.overlaps(b), (a, b)
    names = [t for ax in fig.axes for t in ax.texts if t.get_gid() == "model-name"]
    assert LONG in {t.get_text() for t in names}  # the left margin fits the longest name
    for ax in fig.axes:
        assert ax.get_window_extent(renderer).width > 100  # the panels keep their room
