"""One formatter for every view: a clipped interval reads the same in markdown, CSV, JSON, the web
page and the report."""
import json

import pandas as pd

from harness.views.formatting import score_text
from harness.views.leaderboard import write_leaderboard_files
from helpers import make_record, predictions_with_accuracy, write_results

LABELS = ["no", "yes"]
REFS = [i % 2 for i in range(200)]


def test_score_text_shows_a_clipped_interval_instead_of_plus_minus():
    assert score_text(84.123, 1.031, 83.09, 85.15, False, 3) == "84.12 ± 1.03 (3)"
    assert score_text(89.67, 16.54, 73.13, 100.0, True, 3) == "89.67 [73.13, 100.00] (3)"
    assert score_text(70.0, None, None, None, False, 1) == "70.00 (1)"
    assert score_text(70.0, 2.0, 68.0, 72.0, False, 2, failed=1) == "70.00 ± 2.00 (2 of 3 seeds; 1 failed)"


def test_every_leaderboard_format_shows_the_same_clipped_interval(tmp_path):
    records = [make_record("t", "m", s, REFS, predictions_with_accuracy(REFS, acc, 2, seed=s), LABELS)
               for s, acc in enumerate((1.0, 0.7, 1.0))]
    results = write_results(tmp_path / "results", records)
    board = write_leaderboard_files(results)
    markdown = board.read_text()
    cell = json.loads(board.with_suffix(".json").read_text())["cells"][0]
    assert cell["clipped"] and cell["display"].endswith("[" + cell["display"].split("[")[1])
    shown = cell["display"]
    assert "±" not in shown and ", 100.00] (3)" in shown
    assert shown in markdown
    assert shown in board.with_suffix(".html").read_text()
    frame = pd.read_csv(board.with_suffix(".csv"))
    assert shown in set(frame["display"].dropna())
