"""Per-example errors and confidence: probabilities kept compactly in the record, ECE and Brier,
`harness errors` (text re-read and fingerprint-checked), the errors page linked from the web page."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import harness_args
from harness.cli.main import main
from harness.errors import HarnessError
from harness.probabilities import calibration, decode, encode, softmax
from harness.records.store import read_record, record_path, write_record
from helpers import make_record, sentiment_rows, typed


# --------------------------------------------------------------------------- the two probability metrics
def test_ece_and_brier_match_hand_computed_values():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    refs, preds = [0, 1, 1, 0], [0, 0, 1, 1]
    # confidences 0.9, 0.8, 0.7, 0.55; correct 1, 0, 1, 0; 15 bins of width 1/15:
    # 0.9 -> bin 13, 0.8 -> bin 11, 0.7 -> bin 10, 0.55 -> bin 8: each bin holds one row
    ece = (abs(1 - 0.9) + abs(0 - 0.8) + abs(1 - 0.7) + abs(0 - 0.55)) / 4
    brier = ((0.1**2 + 0.1**2) + (0.8**2 + 0.8**2) + (0.3**2 + 0.3**2) + (0.55**2 + 0.55**2)) / 4
    got = calibration(probs, refs, preds)
    assert got["ece"] == pytest.approx(ece) and got["brier"] == pytest.approx(brier) and got["bins"] == 15


def test_ece_pools_rows_of_one_bin_and_brier_sums_over_three_labels():
    probs = np.array([[0.62, 0.2, 0.18], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    refs, preds = [0, 1, 2], [0, 0, 2]
    # 0.62 and 0.6 share bin 9 ((0.6, 0.667]... 0.6 is its lower edge: bin 8); 0.8 is an edge: bin 11
    ece = (abs(1 - 0.62) + abs(0 - 0.6) + abs(1 - 0.8)) / 3
    brier = ((0.38**2 + 0.2**2 + 0.18**2) + (0.6**2 + 0.7**2 + 0.1**2) + (0.1**2 + 0.1**2 + 0.2**2)) / 3
    got = calibration(probs, refs, preds, bins=15)
    assert got["ece"] == pytest.approx(ece) and got["brier"] == pytest.approx(brier)
    pooled = calibration(np.array([[0.7, 0.3], [0.75, 0.25]]), [0, 1], [0, 0], bins=2)  # one bin (0.5, 1]
    assert pooled["ece"] == pytest.approx(abs(0.5 - 0.725))


def test_a_perfect_confident_model_has_zero_ece_and_brier():
    probs = np.eye(3)[[0, 1, 2, 1]]
    got = calibration(probs, [0, 1, 2, 1], [0, 1, 2, 1])
    assert got["ece"] == pytest.approx(0) and got["brier"] == pytest.approx(0)


def test_softmax_gives_zero_to_a_label_no_checkpoint_label_maps_to():
    probs = softmax(np.array([[2.0, -np.inf, 0.0]], dtype=np.float32))
    assert probs[0, 1] == 0 and probs.sum() == pytest.approx(1)


# --------------------------------------------------------------------------- compact and untrusted
def test_probabilities_round_trip_at_float16_precision_and_stay_small():
    rng = np.random.default_rng(0)
    probs = softmax(rng.normal(size=(10_000, 3)).astype(np.float32))
    block = encode(probs)
    assert np.abs(decode(block) - probs).max() < 1e-3
    size = len(json.dumps(block))
    assert size < 100_000  # 10,000 rows x 3 labels: 80 kB of JSON (docs/records.md)


@pytest.mark.parametrize("change, message", [
    ({"encoding": "float32-base64"}, "encoding"),
    ({"data": "not base64!"}, "base64"),
    ({"rows": 5}, "rows x labels"),
])
def test_a_damaged_probabilities_block_is_refused(change, message):
    block = {**encode(np.full((4, 2), 0.5)), **change}
    with pytest.raises(ValueError, match=message):
        decode(block)


@pytest.mark.parametrize("values, message", [([np.nan, 0.5], "not a number"), ([1.5, -0.5], "not a number"),
                                             ([0.2, 0.2], "sum to 1")])
def test_probabilities_outside_zero_one_or_not_summing_to_one_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        decode(encode(np.array([values] * 3)))


def _record_with_probabilities(tmp_path, probs, seed=0):
    refs, preds = [0, 1, 1, 0], [0, 0, 1, 1]
    record = make_record("t", "m", seed, refs, preds, ["neg", "pos"])
    record["probabilities"] = {"test": encode(np.asarray(probs))}
    path = record_path(tmp_path, "t", "m", seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    return record, path


def test_a_record_whose_probabilities_do_not_fit_its_rows_is_refused_on_read(tmp_path):
    record, path = _record_with_probabilities(tmp_path, np.full((3, 2), 0.5))  # 3 rows, 4 predictions
    path.write_text(json.dumps(record))
    with pytest.raises(HarnessError, match=r"probabilities.test is 3 x 2, not rows x labels = 4 x 2"):
        read_record(path)


def test_a_record_whose_probabilities_data_is_cut_is_refused_on_read(tmp_path):
    record, path = _record_with_probabilities(tmp_path, np.full((4, 2), 0.5))
    record["probabilities"]["test"]["data"] = record["probabilities"]["test"]["data"][:-4]
    path.write_text(json.dumps(record))
    with pytest.raises(HarnessError, match=r"probabilities.test: data holds 20 base64 characters, not the 24 of 4 x 2 float16 values"):
        read_record(path)


def test_forged_probability_values_are_refused_where_a_view_decodes_them(trained, capsys):
    path = record_path(trained["results"], trained["task"], "tiny", 1)
    record = json.loads(path.read_text())
    record["probabilities"]["test"]["data"] = encode(np.full((16, 2), 7.0))["data"]  # same shape, values > 1
    path.write_text(json.dumps(record))
    read_record(path)  # the leaderboard and compare never decode them
    capsys.readouterr()
    assert _errors(trained) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "seed-1.json: probabilities.test" in err and "not a number in [0, 1]" in err


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def trained_once(tmp_path_factory, tiny_model_dir):
    """The toy task trained once for this module (tiny BERT, 2 seeds), with the leaderboard files."""
    from helpers import write_generic_task, write_models_file

    root = tmp_path_factory.mktemp("errors")
    env = {"data": root / "data", "tasks": root / "tasks", "results": root / "results"}
    env["task"] = write_generic_task(env["data"], env["tasks"])
    env["models"] = write_models_file(root / "models.yaml", [{"name": "tiny", "source": str(tiny_model_dir)}])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_CACHE", str(tmp_path_factory.getbasetemp() / "harness-cache"))
        code = main(harness_args(env, "run", "--tasks", env["task"], "--models", "tiny", "--seeds", "2",
                                 "--data-dir", str(env["data"]), "--results", str(env["results"]), "--no-plots"))
    assert code == 0
    return env


@pytest.fixture()
def trained(trained_once, tmp_path):
    """A copy of the trained results and data that a test may change."""
    import shutil

    env = dict(trained_once)
    for key in ("data", "results"):
        env[key] = tmp_path / key
        shutil.copytree(trained_once[key], env[key])
    return env


def _errors(env, *extra):
    return main(harness_args(env, "errors", str(env["results"]), "--task", env["task"], "--data-dir", str(env["data"]),
                             *extra))


def test_records_keep_probabilities_and_calibration(trained):
    record = read_record(record_path(trained["results"], trained["task"], "tiny", 0)).to_json()
    probs = decode(record["probabilities"]["test"])
    assert probs.shape == (16, 2)
    assert (probs.argmax(1) == np.asarray(record["predictions"]["test"]))[np.abs(probs[:, 0] - probs[:, 1]) > 1e-2].all()
    cal = record["metrics"]["test"]["calibration"]
    expected = calibration(probs, record["references"]["test"], record["predictions"]["test"])
    assert cal["ece"] == pytest.approx(expected["ece"], abs=2e-3) and cal["brier"] == pytest.approx(expected["brier"], abs=2e-3)
    board = json.loads((trained["results"] / "LEADERBOARD.json").read_text())
    row = next(r for r in board["calibration"] if r["model"] == "tiny")
    assert row["seeds"] == 2 and 0 <= row["ece"] <= 1 and 0 <= row["brier"] <= 2


def test_errors_lists_the_misclassified_rows_with_their_text_in_every_format(trained, capsys):
    records = [read_record(record_path(trained["results"], trained["task"], "tiny", s)).to_json() for s in (0, 1)]
    refs = records[0]["references"]["test"]
    wrong = {i for r in records for i, (p, g) in enumerate(zip(r["predictions"]["test"], refs)) if p != g}
    test_rows = sentiment_rows(16, 3)  # the toy task's test split (tests/helpers.write_generic_task)
    capsys.readouterr()
    assert _errors(trained, "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    (entry,) = report["models"]
    assert entry["model"] == "tiny" and entry["seeds"] == [0, 1] and entry["rows"] == 16
    assert {e["row"] for e in entry["errors"]} == wrong
    confidences = [e["confidence"] for e in entry["errors"]]
    assert confidences == sorted(confidences, reverse=True)  # the most confident mistakes first
    for e in entry["errors"]:
        assert e["text"]["sentence"] == test_rows[e["row"]]["sentence"]
        assert e["gold"] == ["negative", "positive"][test_rows[e["row"]]["label"]]
        assert e["wrong"] == sum(r["predictions"]["test"][e["row"]] != refs[e["row"]] for r in records)
        assert [s["seed"] for s in e["seeds"]] == [0, 1] and 1 <= e["agree"] <= 2
    assert _errors(trained, "--format", "csv", "--sort", "row", "--model", "tiny") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("task,model,row,sentence,gold,majority,agree,seeds,wrong,confidence")
    assert len(lines) == 1 + len(wrong)
    assert _errors(trained) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith(f"# Misclassified test examples: {trained['task']}") and "| row | text | gold |" in markdown


def test_the_web_leaderboard_links_each_tasks_errors_page(trained):
    page = (trained["results"] / "errors" / f"{trained['task']}.html")
    assert page.is_file() and "Misclassified test examples" in page.read_text()
    html = (trained["results"] / "LEADERBOARD.html").read_text()
    assert f'href="errors/{trained["task"]}.html"' in html and 'id="table-calibration"' in html


def test_errors_refuses_when_the_test_rows_changed(trained, capsys):
    test_file = trained["data"] / trained["task"] / "test.jsonl"
    rows = test_file.read_text().splitlines()
    test_file.write_text("\n".join([rows[1], rows[0], *rows[2:]]) + "\n")  # same rows, another order
    capsys.readouterr()
    assert _errors(trained) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not those the record scored" in err and "seed-" in err


def test_records_written_before_probabilities_list_errors_without_confidence(trained, capsys):
    for seed in (0, 1):
        path = record_path(trained["results"], trained["task"], "tiny", seed)
        record = json.loads(path.read_text())
        del record["probabilities"], record["metrics"]["test"]["calibration"]
        write_record(path, typed(record))
    capsys.readouterr()
    assert _errors(trained, "--format", "json") == 0
    (entry,) = json.loads(capsys.readouterr().out)["models"]
    assert "written before probabilities were kept" in entry["note"]
    assert all(e["confidence"] is None for e in entry["errors"])
    assert main(["leaderboard", str(trained["results"]), "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)["calibration"][0]
    assert row["ece"] is None and row["not_recorded"] == 2


def test_errors_for_an_unknown_task_or_sort_is_a_usage_error(trained, capsys):
    assert main(harness_args(trained, "errors", str(trained["results"]), "--task", "nope")) == 2
    assert "no completed record for task 'nope'" in capsys.readouterr().err


def test_the_report_and_leaderboard_json_show_calibration_means_over_seeds(tmp_path):
    from harness.views.leaderboard import build_leaderboard
    from harness.views.report import render_report

    records = []
    for seed, (ece, brier) in enumerate([(0.10, 0.30), (0.20, 0.50)]):
        record = make_record("t", "m", seed, [0, 1, 1, 0], [0, 0, 1, 1], ["neg", "pos"])
        record["metrics"]["test"]["calibration"] = {"ece": ece, "brier": brier, "bins": 15}
        records.append(record)
    records.append(make_record("t", "old", 0, [0, 1, 1, 0], [0, 1, 1, 1], ["neg", "pos"]))  # no probabilities
    records = typed(records)
    rows = {r["model"]: r for r in build_leaderboard(records).to_json_dict()["calibration"]}
    assert rows["m"]["ece"] == pytest.approx(0.15) and rows["m"]["brier"] == pytest.approx(0.40)
    assert rows["old"]["ece"] is None and rows["old"]["not_recorded"] == 1
    report = render_report(tmp_path, records)
    section = report.split("## Calibration", 1)[1].split("\n## ", 1)[0]
    assert "| t | m | 0.1500 | 0.4000 | 2 |" in section and "| t | old | n/a | n/a | 0 (1 not recorded) |" in section
    assert "15 equal-width bins" in section


def test_errors_as_a_web_page(trained, capsys):
    capsys.readouterr()
    assert _errors(trained, "--format", "html") == 0
    html = capsys.readouterr().out
    assert html.startswith("<!DOCTYPE html>") and f"Misclassified test examples: {trained['task']}" in html
    assert "<table>" in html and 'href="LEADERBOARD.html"' in html


def test_the_errors_page_escapes_the_texts():
    from harness.views.errors import ErrorRow, ErrorsReport, ModelErrors, SeedPrediction
    from harness.views.errors_page import render_errors_html

    row = ErrorRow(row=3, text={"sentence": "<script>alert(1)</script> & more"}, gold="pos",
                   seeds=[SeedPrediction(0, "neg", 0.9)], majority="neg", agree=1, wrong=1, confidence=0.9,
                   gold_probability=0.1)
    html = render_errors_html(ErrorsReport("t", ["sentence"], [ModelErrors("m", [0], 10, [row])], "confidence"))
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
