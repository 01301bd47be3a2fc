"""At-chance cells (not significantly above the majority-class rate, or one class predicted) are
flagged in every view, and the report's best model is never one of them."""
import json

from harness.records.chance import at_chance
from harness.records.grouping import seed_run
from harness.views.compare import compare
from harness.views.leaderboard import build_leaderboard, write_leaderboard_files
from harness.views.report import render_report
from helpers import typed, make_record, predictions_with_accuracy, write_results

LABELS = ["negative", "neutral", "positive"]
# a skewed test split: 60% negative, so predicting "negative" everywhere scores 60%
REFS = [0] * 120 + [1] * 40 + [2] * 40


def cell(model, seeds, predictions):
    return typed([make_record("reviews", model, s, REFS, predictions(s), LABELS) for s in seeds])


def one_class(seed):
    return [0] * len(REFS)


def good(seed):
    return predictions_with_accuracy(REFS, 0.85, 3, seed=seed)


def near_majority(seed):
    return predictions_with_accuracy(REFS, 0.61, 3, seed=seed)


def test_one_class_and_near_majority_cells_are_at_chance_and_a_good_one_is_not():
    assert "predict one class for every test row" in at_chance([seed_run(r) for r in cell("x", (0, 1), one_class)])
    assert "not significantly above the majority-class rate 60.00" in at_chance(
        [seed_run(r) for r in cell("x", (0, 1, 2), near_majority)])
    assert at_chance([seed_run(r) for r in cell("x", (0, 1, 2), good)]) is None


def test_leaderboard_formats_flag_the_cell(tmp_path):
    records = cell("scratch", (0, 1, 2), one_class) + cell("pretrained", (0, 1, 2), good)
    board = build_leaderboard(records)
    assert board.cells[("accuracy", "reviews", "scratch")].at_chance
    assert board.cells[("accuracy", "reviews", "pretrained")].at_chance is None
    path = write_leaderboard_files(write_results(tmp_path / "r", records))
    markdown = path.read_text()
    assert "60.00 ± 0.00 (3) ⚠" in markdown and "⚠: at chance level" in markdown
    flagged = [c for c in json.loads(path.with_suffix(".json").read_text())["cells"] if c.get("at_chance")]
    assert {c["model"] for c in flagged} == {"scratch"}
    assert "⚠" in path.with_suffix(".html").read_text()


def test_report_best_model_is_never_a_flagged_cell(tmp_path):
    """The one-class model scores 60% here, above the real model's 55%: it still is not "best"."""
    records = cell("scratch", (0, 1), one_class) + cell("weak", (0, 1), lambda s: predictions_with_accuracy(
        REFS, 0.80, 3, seed=s))
    for record in records:
        record.config.task.spec["language"] = "en"
    results = write_results(tmp_path / "r", records)
    report = render_report(results, records)
    assert "Best model: **weak**" in report and "Best model: **scratch**" not in report
    only_chance = cell("scratch", (0, 1), one_class)
    report = render_report(write_results(tmp_path / "c", only_chance), only_chance)
    assert "No best model: every completed cell of this task is at chance level" in report


def test_compare_notes_a_cell_at_chance():
    result = compare(cell("m", (0, 1), one_class), cell("m", (0, 1), good), metrics=["accuracy"], resamples=200)
    assert any("reviews / m: the candidate is at chance level" in note for note in result.notes)
