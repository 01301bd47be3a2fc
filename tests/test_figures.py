"""The curves plot (integer steps, percent, chance lines, the stopping rule from the record's
config) and the summary figure (models x tasks, mean and CI) in the report and the web page."""
from __future__ import annotations

import json

import pytest
from helpers import make_record, predictions_with_accuracy, write_results, typed

from harness.views.leaderboard import build_leaderboard
from harness.views.plots import curves_figure
from harness.views.report import write_report
from harness.views.summary import summary_figure, summary_svg


def _record(task="toy", model="m", seed=0, accuracy=0.8, labels=("neg", "neu", "pos"), n=90, **kwargs):
    labels = list(labels)
    refs = [i % len(labels) for i in range(n)]
    preds = predictions_with_accuracy(refs, accuracy, len(labels), seed + 17 * len(model))
    return make_record(task, model, seed, refs, preds, labels, **kwargs)


def test_curves_use_integer_steps_percent_chance_lines_and_the_configured_stopping_rule():
    record = _record()
    record["references"]["validation"] = [0] * 6 + [1] * 3 + [2] * 1  # majority class: 60%
    record["config"]["task"]["spec"]["metric"] = "accuracy"
    record["config"]["recipe"] = {"patience": 3}
    fig = curves_figure(typed(record))
    loss_ax, score_ax = fig.axes[:2]
    fig.canvas.draw()
    for ax in (loss_ax, score_ax):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    lines = {line.get_label(): line for line in score_ax.get_lines()}
    assert list(lines["validation accuracy"].get_ydata()) == pytest.approx([60.0, 70.0, 68.0])  # percent
    assert lines["chance: majority class"].get_ydata()[0] == pytest.approx(60.0)
    assert lines["chance: uniform guess (1/3)"].get_ydata()[0] == pytest.approx(100 / 3)
    assert lines["chance: majority class"].get_linestyle() == "--"
    assert score_ax.get_title() == "validation (early stopping on validation accuracy, patience 3)"
    assert score_ax.get_ylim() == (0, 100)

    record["config"]["recipe"] = {"patience": None}
    assert "no patience" in curves_figure(typed(record)).axes[1].get_title()


def _board_data(tmp_path=None):
    records = [_record("t1", "a", s, acc) for s, acc in enumerate([0.8, 0.85, 0.9])]
    records += [_record("t1", "b", s, acc) for s, acc in enumerate([0.5, 0.55])]
    records += [_record("t2", "a", 0, 0.7)]
    records += [make_record("t2", "b", 0, [], [], ["neg", "neu", "pos"], status="failed")]
    return records, json.loads(build_leaderboard(typed(records)).to_json())


def test_summary_figure_draws_mean_ci_and_seeds_per_task_and_model():
    _, data = _board_data()
    fig = summary_figure(data, ("accuracy",))
    panels = {ax.get_title(): ax for ax in fig.axes}
    assert set(panels) == {"t1", "t2"}
    cell = next(c for c in data["cells"] if (c["metric"], c["task"], c["model"]) == ("accuracy", "t1", "a"))
    ci = [line for line in panels["t1"].get_lines() if line.get_gid() == "point__accuracy__t1__a__1"][0]
    assert list(ci.get_xdata()) == pytest.approx([cell["low"], min(100.0, cell["high"])])
    texts = [t.get_text() for t in panels["t2"].texts]
    assert "failed" in texts  # a failed cell is said, never drawn as 0
    svg = summary_svg(data, "accuracy")
    assert svg.startswith("<svg") and 'id="point__accuracy__t1__b__0"' in svg


def test_report_embeds_the_summary_figure(tmp_path):
    records, _ = _board_data()
    root = write_results(tmp_path / "results", records)
    text = write_report(root).read_text()
    assert "![summary: models x tasks](summary.png)" in text
    assert (root / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_loss_panel_draws_the_logged_curve_from_zero_with_the_chance_loss():
    import math

    record = _record()
    record["training"]["steps"] = 35
    record["training"]["loss_curve"] = [{"step": s, "epoch": s / 35, "loss": 1.10 - 0.002 * s} for s in range(1, 36)]
    loss_ax = curves_figure(typed(record)).axes[0]
    lines = {line.get_label(): line for line in loss_ax.get_lines()}
    assert len(lines["training loss"].get_xdata()) == 35  # every logged point, not one per evaluation
    chance = lines["chance: uniform guess (ln 3 = 1.10)"].get_ydata()[0]
    assert chance == pytest.approx(math.log(3))
    low, high = loss_ax.get_ylim()
    assert low == 0 and high >= math.log(3)  # a loss barely below ln 3 is not drawn as steep learning
    assert loss_ax.get_xlim() == (0, 35)


def test_one_evaluation_still_gives_integer_step_ticks():
    record = _record()
    record["training"].update(steps=4, history=[{"step": 4, "epoch": 1.0, "train_loss": 1.05,
                                                 "validation_accuracy": 0.5, "validation_macro_f1": 0.4}])
    fig = curves_figure(typed(record))
    fig.canvas.draw()
    for ax in fig.axes[:2]:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)


def test_the_loss_is_logged_about_25_times_a_run():
    from harness.spec.recipe import Recipe
    from harness.train.finetune import loss_logging_steps

    recipe = Recipe(max_epochs=1)
    assert loss_logging_steps(recipe, train_rows=560, batch_size=16, accumulation=1) == 1  # 35 steps: every step
    assert loss_logging_steps(Recipe(max_epochs=3), train_rows=16000, batch_size=16, accumulation=1) == 120  # 3000 / 25
    assert loss_logging_steps(Recipe(max_steps=50), train_rows=10, batch_size=16, accumulation=1) == 2


def test_the_progress_bar_shows_the_training_loss_and_validation_accuracy_in_percent():
    from harness.execution.progress import CellProgressBar

    bar = CellProgressBar("toy / m / seed 0")
    assert bar.postfix({"loss": 1.0712}) == {"loss": "1.071"}
    assert bar.postfix({"eval_accuracy": 0.625}) == {"loss": "1.071", "val_acc": "62.5%"}  # the loss stays shown


def test_summary_png_has_a_legend_saying_which_colour_is_which(tmp_path):
    from matplotlib.colors import to_hex

    from harness.views.summary import write_summary_png

    _, data = _board_data()
    fig = summary_figure(data, ("accuracy",))
    [legend] = fig.legends
    entries = {text.get_text(): to_hex(handle.get_color())
               for text, handle in zip(legend.get_texts(), legend.legend_handles)}
    assert entries["the other models"] == to_hex("tab:gray")
    best = next(t for t in entries if t.startswith("best of the task"))
    assert entries[best] == to_hex("tab:blue") and "single seeds" in entries
    drawn = {to_hex(c) for ax in fig.axes for coll in ax.collections for c in coll.get_facecolor()}
    assert drawn <= set(entries.values())  # every colour drawn is named
    assert summary_figure(data, ("accuracy",), legend=False).legends == []  # the web page's SVG: its own HTML legend
    path = write_summary_png(data, tmp_path / "summary.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_validation_panels_draw_the_dense_validation_curve_when_the_record_has_one():
    record = _record()
    record["training"]["steps"] = 40
    record["training"]["validation_curve"] = [
        {"step": s, "epoch": s / 20, "validation_loss": 1.1 - 0.01 * s, "validation_accuracy": 0.4 + 0.01 * s,
         "validation_macro_f1": 0.3 + 0.01 * s, "selection": s % 20 == 0} for s in range(2, 41, 2)]
    loss_ax, score_ax = curves_figure(typed(record)).axes[:2]
    scores = {line.get_label(): line for line in score_ax.get_lines()}
    assert len(scores["validation accuracy"].get_xdata()) == 20  # not the 3 selection evaluations of `history`
    assert list(scores["validation macro-F1"].get_ydata())[-1] == pytest.approx(70.0)
    losses = {line.get_label(): line for line in loss_ax.get_lines()}
    assert len(losses["validation loss"].get_xdata()) == 20
    record["training"]["validation_curve"] = None  # curve_points 0 or an older record: the selection evaluations
    scores = {line.get_label(): line for line in curves_figure(typed(record)).axes[1].get_lines()}
    assert len(scores["validation accuracy"].get_xdata()) == len(record["training"]["history"])
