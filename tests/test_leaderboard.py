"""Leaderboard tables from hand-made result records: CIs over seeds, failed and missing cells,
bold and ties within noise, throughput, footnote, CSV / JSON / markdown and the CLI."""
from __future__ import annotations

import io
import json
import math
import statistics

import pandas as pd
import pytest
from scipy import stats as scipy_stats

from harness.cli.main import main
from harness.errors import HarnessError
from harness.metrics import metric_bounds, metric_names
from harness.views.leaderboard import build_leaderboard, leaderboard_markdown, leaderboard_tables, write_leaderboard_files
from helpers import make_record, predictions_with_accuracy, write_results, typed

LABELS2 = ["negative", "positive"]
LABELS3 = ["entailment", "neutral", "contradiction"]


# --------------------------------------------------------------------------- builders
def refs(n: int, n_labels: int = 2) -> list[int]:
    return [i % n_labels for i in range(n)]


def completed(task, model, seed, accuracy, n=100, labels=LABELS2, pred_seed=None, **extra):
    references = refs(n, len(labels))
    predictions = predictions_with_accuracy(references, accuracy, len(labels), pred_seed if pred_seed is not None else seed)
    return make_record(task, model, seed, references, predictions, labels, **extra)


def failed(task, model, seed, labels=LABELS2, error="RuntimeError: CUDA error: device-side assert"):
    return make_record(task, model, seed, [], [], labels, status="failed", error=error)


def cell_of(frame: pd.DataFrame, model: str, column: str) -> str:
    return frame.loc[frame["model"] == model, column].item()


def csv_row(frame: pd.DataFrame, task: str, model: str, metric: str = "accuracy") -> pd.Series:
    rows = frame[(frame["kind"] == "task") & (frame["task"] == task) & (frame["model"] == model) & (frame["metric"] == metric)]
    assert len(rows) == 1
    return rows.iloc[0]


def t_half_width(values: list[float]) -> float:
    n = len(values)
    return scipy_stats.t.ppf(0.975, n - 1) * statistics.stdev(values) / math.sqrt(n)


def example_records() -> list[dict]:
    """2 tasks x 3 models: a clear winner, a partial failure, a model with one seed, a missing cell
    and a cell whose seeds all failed."""
    records = []
    for seed, acc in enumerate([0.90, 0.91, 0.89]):
        records.append(completed("sent-fr", "camembert", seed, acc, n=200, throughput={"train_samples_per_s": 100.0 + 100 * seed}))
        records.append(completed("nli-en", "camembert", seed, acc - 0.1, n=150, labels=LABELS3))
    for seed, acc in enumerate([0.895, 0.90, 0.885]):
        records.append(completed("sent-fr", "xlmr", seed, acc, n=200, pred_seed=100 + seed,
                                 throughput={"parameters": 278_000_000, "peak_memory_mb": 4100.0}))
    records.append(completed("nli-en", "xlmr", 0, 0.70, n=150, labels=LABELS3, pred_seed=100))
    records.append(completed("nli-en", "xlmr", 1, 0.72, n=150, labels=LABELS3, pred_seed=101))
    records.append(failed("nli-en", "xlmr", 2, labels=LABELS3))
    records.append(completed("sent-fr", "distil", 0, 0.60, n=200, pred_seed=200))
    return records


# --------------------------------------------------------------------------- cells and CIs
def test_mean_and_t_interval_over_three_seeds():
    accuracies = [0.82, 0.86, 0.87]
    board = build_leaderboard(typed([completed("t", "m", s, a) for s, a in enumerate(accuracies)]))
    cell = board.cells[("accuracy", "t", "m")]
    expected_mean = 100 * statistics.mean(accuracies)
    expected_half = 100 * t_half_width(accuracies)
    assert cell.stats["mean"] * 100 == pytest.approx(85.0)
    assert cell.stats["mean"] * 100 == pytest.approx(expected_mean)
    assert cell.stats["half_width"] * 100 == pytest.approx(expected_half)
    assert expected_half == pytest.approx(6.5725, abs=1e-3)  # t(0.975, 2) = 4.3027, s = sqrt(7) points
    table = board.metric_table("accuracy")
    assert cell_of(table, "m", "t") == f"**{expected_mean:.2f} ± {expected_half:.2f} (3)**" == "**85.00 ± 6.57 (3)**"
    row = csv_row(board.cells_frame(), "t", "m")
    assert row["mean"] == pytest.approx(85.0)
    assert row["half_width"] == pytest.approx(expected_half)
    assert row["std"] == pytest.approx(100 * statistics.stdev(accuracies))
    assert row["n_seeds"] == 3 and row["n_failed"] == 0 and row["status"] == "completed"


def test_one_seed_has_no_interval_and_three_seeds_do():
    records = [completed("t", "one", 0, 0.84)] + [completed("t", "three", s, a) for s, a in enumerate([0.70, 0.74, 0.72])]
    table = leaderboard_tables(typed(records))["accuracy"]
    assert cell_of(table, "one", "t") == "**84.00 (1)**"
    three = cell_of(table, "three", "t")
    assert three == f"72.00 ± {100 * t_half_width([0.70, 0.74, 0.72]):.2f} (3)" == "72.00 ± 4.97 (3)"


def test_failed_cell_is_not_zero_and_not_averaged():
    records = [
        completed("a", "good", 0, 0.80), completed("b", "good", 0, 0.70),
        completed("a", "broken", 0, 0.90), failed("b", "broken", 0), failed("b", "broken", 1),
    ]
    board = build_leaderboard(typed(records))
    table = board.metric_table("accuracy")
    assert cell_of(table, "broken", "b") == "failed"
    assert cell_of(table, "broken", "average") == "–"
    assert cell_of(table, "good", "average") == "**75.00**"
    assert cell_of(table, "good", "b") == "**70.00 (1)**"  # the only value in the column, so the best
    means = board.means_table("accuracy")
    assert math.isnan(means.loc["broken", "b"]) and math.isnan(means.loc["broken", "average"])
    assert means.loc["good", "average"] == pytest.approx(75.0)
    assert board.order["accuracy"] == ["good", "broken"]  # a model without an average ranks last
    row = csv_row(board.cells_frame(), "b", "broken")
    assert row["status"] == "failed" and pd.isna(row["mean"]) and row["n_seeds"] == 0 and row["n_failed"] == 2
    assert [(f["model"], f["seed"]) for f in board.failures] == [("broken", 0), ("broken", 1)]
    assert "RuntimeError: CUDA error" in board.to_markdown()


def test_partial_failure_shows_completed_mean_and_counts():
    records = [completed("t", "m", 0, 0.80), completed("t", "m", 1, 0.82), failed("t", "m", 2)]
    board = build_leaderboard(typed(records))
    half = 100 * t_half_width([0.80, 0.82])
    assert cell_of(board.metric_table("accuracy"), "m", "t") == f"**81.00 ± {half:.2f} (2 of 3 seeds; 1 failed)**"
    row = csv_row(board.cells_frame(), "t", "m")
    assert row["status"] == "partial" and row["n_seeds"] == 2 and row["n_failed"] == 1
    assert row["mean"] == pytest.approx(81.0)
    assert board.averages[("accuracy", "m")] == pytest.approx(0.81)


def test_seed_interval_of_a_percentage_is_clipped_to_0_100():
    """Two seeds at 80% and 90%: the t half-width (t(0.975, 1) = 12.7) is 63.5 points, so the raw
    interval would reach 148.5%. It is clipped to 100 and shown as [low, high]; CSV and JSON agree."""
    records = [completed("t", "m", 0, 0.80), completed("t", "m", 1, 0.90), completed("t", "low", 0, 0.02),
               completed("t", "low", 1, 0.10)]
    board = build_leaderboard(typed(records))
    half = 100 * t_half_width([0.80, 0.90])
    assert half > 15
    assert cell_of(board.metric_table("accuracy"), "m", "t") == f"**85.00 [{85 - half:.2f}, 100.00] (2)**"
    # 6% accuracy is below the majority-class rate: flagged at chance (⚠)
    assert cell_of(board.metric_table("accuracy"), "low", "t") == f"6.00 [0.00, {6 + 100 * t_half_width([0.02, 0.10]):.2f}] (2) ⚠"
    frame = board.cells_frame()
    task_rows = frame[(frame["kind"] == "task") & (frame["metric"] == "accuracy")]
    assert task_rows["high"].max() == pytest.approx(100.0) and task_rows["low"].min() == pytest.approx(0.0)
    cells = json.loads(board.to_json())["cells"]  # each metric within its own range (MCC: -100..100)
    assert all(100 * metric_bounds(c["metric"])[0] <= c["low"] <= c["high"] <= 100 * metric_bounds(c["metric"])[1]
               for c in cells if c["low"] is not None)


def test_missing_cell_is_an_en_dash_and_blocks_the_average():
    records = [completed("a", "both", 0, 0.80), completed("b", "both", 0, 0.60), completed("a", "only-a", 0, 0.95)]
    board = build_leaderboard(typed(records))
    table = board.metric_table("accuracy")
    assert cell_of(table, "only-a", "b") == "–"
    assert cell_of(table, "only-a", "average") == "–"
    assert cell_of(table, "both", "average") == "**70.00**"
    assert cell_of(table, "only-a", "a") == "**95.00 (1)**"
    assert cell_of(table, "both", "a") == "80.00 (1)"
    assert csv_row(board.cells_frame(), "b", "only-a")["status"] == "missing"
    assert list(table.columns) == ["model", "a", "b", "average"]


def test_average_is_the_mean_of_per_task_means():
    records = [completed("a", "m", s, acc) for s, acc in enumerate([0.80, 0.90])]
    records += [completed("b", "m", s, acc) for s, acc in enumerate([0.60, 0.62, 0.64])]
    board = build_leaderboard(typed(records))
    assert board.averages[("accuracy", "m")] == pytest.approx((0.85 + 0.62) / 2)
    assert cell_of(board.metric_table("accuracy"), "m", "average") == "**73.50**"


# --------------------------------------------------------------------------- bold and ties
def test_bold_on_the_best_and_no_tie_when_clearly_better():
    records = [completed("t", "strong", s, 0.90, n=200, pred_seed=s) for s in range(3)]
    records += [completed("t", "weak", s, 0.60, n=200, pred_seed=50 + s) for s in range(3)]
    board = build_leaderboard(typed(records))
    table = board.metric_table("accuracy")
    assert cell_of(table, "strong", "t").startswith("**90.00 ± 0.00 (3)**")
    assert cell_of(table, "weak", "t") == "60.00 ± 0.00 (3)"
    weak = board.cells[("accuracy", "t", "weak")]
    assert weak.tie is False and weak.comparison["p_value"] < 0.05
    assert weak.comparison["baseline"] == "strong" and weak.comparison["seeds"] == [0, 1, 2]
    assert weak.comparison["delta"] == pytest.approx(-30.0)
    assert "†" not in table.to_string()


def test_tie_within_noise_is_marked():
    records = [completed("t", "a", s, 0.85, n=200, pred_seed=s) for s in range(3)]
    records += [completed("t", "b", s, 0.84, n=200, pred_seed=10 + s) for s in range(3)]
    board = build_leaderboard(typed(records))
    table = board.metric_table("accuracy")
    assert cell_of(table, "a", "t") == "**85.00 ± 0.00 (3)**"
    assert cell_of(table, "b", "t") == "**84.00 ± 0.00 (3)** †"
    b = board.cells[("accuracy", "t", "b")]
    assert b.tie is True and b.comparison["p_value"] >= 0.05 and b.comparison["pairs"] == 3
    row = csv_row(board.cells_frame(), "t", "b")
    assert bool(row["tie_with_best"]) is True and row["p_value_vs_best"] == pytest.approx(b.comparison["p_value"])
    assert "† (bold too): not significantly different" in board.to_markdown()


def test_tie_pairs_only_common_seeds():
    records = [completed("t", "a", s, 0.85, n=200, pred_seed=s) for s in (0, 1, 2)]
    records += [completed("t", "b", s, 0.84, n=200, pred_seed=10 + s) for s in (1, 2, 3)]
    b = build_leaderboard(typed(records)).cells[("accuracy", "t", "b")]
    assert b.comparison["seeds"] == [1, 2] and b.comparison["pairs"] == 2 and b.tie is True


def test_no_tie_marking_without_common_seed_or_same_test_set():
    no_common = [completed("t", "a", 0, 0.85, n=200), completed("t", "b", 1, 0.84, n=200, pred_seed=9)]
    b = build_leaderboard(typed(no_common)).cells[("accuracy", "t", "b")]
    assert b.tie is False and "no seed in common" in b.comparison["skipped"]

    other_data = [completed("t", "a", 0, 0.85, n=200), completed("t", "b", 0, 0.84, n=200, pred_seed=9, fingerprint="fp-other")]
    board = build_leaderboard(typed(other_data))
    b = board.cells[("accuracy", "t", "b")]
    assert b.tie is False and "fingerprint" in b.comparison["skipped"]
    assert cell_of(board.metric_table("accuracy"), "b", "t") == "84.00 (1)"

    other_refs = [completed("t", "a", 0, 0.85, n=200), completed("t", "b", 0, 0.84, n=198, pred_seed=9)]
    b = build_leaderboard(typed(other_refs)).cells[("accuracy", "t", "b")]
    assert b.tie is False and "references" in b.comparison["skipped"]


def test_leaderboard_and_compare_share_the_same_test_set_rule():
    """One rule (harness.results.test_set_problem): the test-split fingerprint decides, so other training
    data on the same test split is compared by both views, and another test split is refused by both."""
    from harness.views.compare import compare

    a = [completed("t", "a", s, 0.85, n=200, pred_seed=s) for s in range(3)]
    b = [completed("t", "b", s, 0.80, n=200, pred_seed=10 + s, fingerprint="fp-augmented") for s in range(3)]
    for record in a + b:
        record["provenance"]["test_fingerprint"] = "test-x"
    cell = build_leaderboard(typed(a + b)).cells[("accuracy", "t", "b")]
    assert "skipped" not in cell.comparison and cell.comparison["p_value"] < 0.05
    assert compare([dict(r, model="a") for r in b], a).comparisons  # compared, not refused

    for record in b:
        record["provenance"]["test_fingerprint"] = "test-y"
        record["config"]["task"]["data_fingerprint"] = "fp-test"  # same whole-data fingerprint
    cell = build_leaderboard(typed(a + b)).cells[("accuracy", "t", "b")]
    reason = "different test sets: test-split fingerprint test-y (candidate) vs test-x (baseline)"
    assert reason in cell.comparison["skipped"] and cell.tie is False
    with pytest.raises(HarnessError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        compare([dict(r, model="a") for r in b], a)


def test_one_seed_footnote_says_training_variance_is_not_counted():
    records = [completed("t", "a", 0, 0.85, n=200), completed("t", "b", 0, 0.84, n=200, pred_seed=9)]
    board = build_leaderboard(typed(records))
    assert board.cells[("accuracy", "t", "b")].comparison["training_variance_counted"] is False
    assert "training (seed) variance is not accounted for" in board.to_markdown()
    three = [completed("t", m, s, 0.85, n=200, pred_seed=10 * i + s) for i, m in enumerate("ab") for s in range(3)]
    assert "training (seed) variance is not accounted for" not in build_leaderboard(typed(three)).to_markdown()


# --------------------------------------------------------------------------- throughput and footnote
def test_throughput_is_the_mean_over_completed_seeds():
    records = [
        completed("t", "m", s, 0.8, throughput={"train_samples_per_s": v, "train_tokens_per_s": 10 * v})
        for s, v in enumerate([100.0, 200.0, 300.0])
    ]
    records.append(failed("t", "m", 3))
    board = build_leaderboard(typed(records))
    values = leaderboard_tables(typed(records))["throughput_values"]
    row = values.iloc[0]
    assert row["model"] == "m" and row["n_seeds"] == 3
    assert row["train_samples_per_s"] == pytest.approx(200.0)
    assert row["train_tokens_per_s"] == pytest.approx(2000.0)
    assert row["parameters_m"] == pytest.approx(22.7)
    shown = board.throughput_table().iloc[0]
    assert shown["train samples/s"] == "200.0" and shown["train tokens/s"] == "2,000.0"
    assert shown["inference samples/s"] == "400.0" and shown["peak memory (MB)"] == "900.0"
    assert shown["parameters (M)"] == "22.70" and shown["precision"] == "bf16" and shown["device"] == "test CPU"


def test_footnote_names_split_definition_seeds_versions_and_method():
    markdown = leaderboard_markdown(typed(example_records()))
    notes = markdown.split("## Notes", 1)[1]
    assert "test split, in percent with 2 decimals" in notes
    assert "test examples: nli-en 150, sent-fr 200" in notes
    assert "f1_score(average='macro')" in notes
    assert "Seeds: 0, 1, 2 (not every cell has every seed" in notes
    assert "harness 0.1.0, torch 2.13.0, transformers 5.23.0, datasets 5.2.0" in notes
    assert "95% Student-t confidence interval over seeds" in notes
    assert "1000 bootstrap resamples" in notes and "seed variance and test-example variance" in notes
    assert "seed-and-example variance components" in notes


def test_markdown_of_the_example():
    board = build_leaderboard(typed(example_records()))
    markdown = board.to_markdown()
    accuracy = markdown.split("## Test accuracy (%)", 1)[1].split("## Test macro-F1", 1)[0]
    lines = [line for line in accuracy.strip().splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["model", "nli-en", "sent-fr", "average"]
    body = {c[0]: c[1:] for c in ([x.strip() for x in line.strip("|").split("|")] for line in lines[2:])}
    assert list(body) == ["camembert", "xlmr", "distil"]  # ranked by average; no average last
    # nli-en camembert: 122, 120, 118 correct of 150 (predictions_with_accuracy rounds 121.5 and 118.5 to even)
    camembert_nli = [122 / 150, 120 / 150, 118 / 150]
    assert body["camembert"][0] == f"**80.00 ± {100 * t_half_width(camembert_nli):.2f} (3)**" == "**80.00 ± 3.31 (3)**"
    assert body["camembert"][2] == "**85.00**"
    # xlmr on nli-en: clearly below camembert on the shared seeds 0 and 1, so no dagger
    assert body["xlmr"][0] == "71.00 ± 12.71 (2 of 3 seeds; 1 failed)"
    assert body["xlmr"][1] == "**89.33 ± 1.90 (3)** †"
    assert body["xlmr"][2] == f"{(71.0 + 268 / 3) / 2:.2f}" == "80.17"
    assert body["distil"] == ["–", "60.00 (1)", "–"]
    assert "## Throughput" in markdown and "| xlmr" in markdown and "278.00" in markdown


# --------------------------------------------------------------------------- files, CSV, JSON, CLI
def test_write_files_csv_and_json(tmp_path):
    results = write_results(tmp_path / "results", example_records())
    path = write_leaderboard_files(results)
    assert path == results / "LEADERBOARD.md"
    assert path.read_text().startswith("# Leaderboard")
    frame = pd.read_csv(results / "LEADERBOARD.csv")
    assert list(frame.columns[:12]) == [
        "kind", "task", "model", "metric", "mean", "half_width", "std", "low", "high", "n_seeds", "n_failed", "status",
    ]
    metrics = len(metric_names())
    assert len(frame) == 2 * 3 * metrics + 3 * metrics  # task x model x metric, then the averages
    row = csv_row(frame, "sent-fr", "camembert")
    assert row["mean"] == pytest.approx(90.0) and row["half_width"] == pytest.approx(100 * t_half_width([0.90, 0.91, 0.89]))
    assert row["n_seeds"] == 3 and row["status"] == "completed" and bool(row["best"]) is True
    assert csv_row(frame, "nli-en", "distil")["status"] == "missing"
    partial = csv_row(frame, "nli-en", "xlmr")
    assert partial["status"] == "partial" and partial["n_seeds"] == 2 and partial["n_failed"] == 1
    average = frame[(frame["kind"] == "average") & (frame["model"] == "camembert") & (frame["metric"] == "accuracy")].iloc[0]
    assert average["mean"] == pytest.approx(85.0)

    data = json.loads((results / "LEADERBOARD.json").read_text())
    assert data["unit"] == "percent" and data["tasks"] == ["nli-en", "sent-fr"]
    assert data["ranking"]["accuracy"] == ["camembert", "xlmr", "distil"]
    cells = {(c["task"], c["model"], c["metric"]): c for c in data["cells"]}
    xlmr = cells[("nli-en", "xlmr", "accuracy")]
    assert xlmr["values"] == pytest.approx([70.0, 72.0]) and xlmr["seeds"] == [0, 1] and xlmr["failed_seeds"] == [2]
    assert cells[("nli-en", "distil", "accuracy")]["status"] == "missing"
    assert cells[("sent-fr", "xlmr", "accuracy")]["tie_with_best"] is True
    assert cells[("sent-fr", "distil", "accuracy")]["tie_with_best"] is False
    assert cells[("sent-fr", "distil", "accuracy")]["comparison"]["p_value"] < 0.05
    throughput = {(t["model"], t["task"]): t for t in data["throughput"]}
    assert throughput[("camembert", "sent-fr")]["train_samples_per_s"] == pytest.approx(200.0)
    assert throughput[("xlmr", "sent-fr")]["parameters_m"] == pytest.approx(278.0)
    assert data["footnote"]["versions"]["torch"] == "2.13.0"
    assert data["footnote"]["seeds"] == [0, 1, 2] and data["footnote"]["resamples"] == 1000
    assert [f["seed"] for f in data["failures"]] == [2]


def test_cli_prints_csv(tmp_path, capsys):
    results = write_results(tmp_path / "results", example_records())
    assert main(["leaderboard", str(results), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    frame = pd.read_csv(io.StringIO(out))
    assert csv_row(frame, "sent-fr", "distil")["mean"] == pytest.approx(60.0)
    assert csv_row(frame, "sent-fr", "distil")["n_seeds"] == 1
    assert not (results / "LEADERBOARD.csv").exists()  # printing writes nothing


def test_cli_markdown_json_and_output(tmp_path, capsys):
    results = write_results(tmp_path / "results", example_records())
    assert main(["leaderboard", str(results)]) == 0
    assert "**90.00 ± 2.48 (3)**" in capsys.readouterr().out
    assert main(["leaderboard", str(results), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["models"] == ["camembert", "distil", "xlmr"]
    target = tmp_path / "out" / "board.md"
    assert main(["leaderboard", str(results), "--output", str(target)]) == 0
    assert target.read_text().startswith("# Leaderboard")


def test_cli_empty_or_missing_folder_exits_2(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["leaderboard", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error: no result records in") and err.count("\n") == 1
    assert main(["leaderboard", str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(HarnessError):
        write_leaderboard_files(empty)
    with pytest.raises(HarnessError):
        leaderboard_markdown([])


def test_pretrained_spec_is_marked_in_every_row_format_and_explained_by_its_footnote():
    from harness.views.leaderboard import render

    records = [completed("sent-fr", "camembert", s, 0.80 + s / 100) for s in range(2)]
    records += [completed("sent-fr", "camembert-tapt", s, 0.85 + s / 100, throughput={"train_samples_per_s": 50.0})
                for s in range(2)]
    for r in records:
        r["config"]["model"]["source"] = "almanach/camembert-base"
        if r["model"] == "camembert-tapt":
            r["config"]["model"].update(pretrain_artifact="k123", pretrain={
                "corpus": {"tasks": ["sent-fr"], "splits": ["train"]}, "max_steps": 500, "batch_size": 32,
                "learning_rate": 5e-5, "mlm_probability": 0.15})
    board = build_leaderboard(typed(records))
    assert board.model_marks == {"camembert-tapt": "¶"}
    table = board.metric_table("accuracy")
    assert list(table["model"]) == ["camembert-tapt ¶", "camembert"]
    assert set(board.throughput_table()["model"]) == {"camembert-tapt ¶", "camembert"}
    markdown = board.to_markdown()
    assert "| camembert-tapt ¶ " in markdown and "| camembert " in markdown
    [note] = [line for line in board.footnote["lines"] if line.startswith("¶")]
    assert "`camembert-tapt` from `almanach/camembert-base`" in note and "500 steps × 32 texts" in note
    frame = pd.read_csv(io.StringIO(board.to_csv()), keep_default_na=False)
    assert set(frame.loc[frame["model"] == "camembert-tapt", "model_mark"]) == {"¶"}
    assert set(frame.loc[frame["model"] == "camembert", "model_mark"]) == {""}
    data = json.loads(board.to_json())
    assert data["model_marks"] == {"camembert-tapt": "¶"}
    assert {c["model_mark"] for c in data["cells"] if c["model"] == "camembert-tapt"} == {"¶"}
    page = render(board, "html")
    assert '<td data-sort="camembert-tapt">camembert-tapt ¶</td>' in page
    assert '<td data-sort="camembert">camembert</td>' in page


def test_markdown_and_csv_show_each_cells_calibration_as_the_json_and_the_page_do():
    """ECE and Brier (means over the seeds that recorded them) in the leaderboard's markdown table and
    CSV columns, printed by the one formatter of the web page; `n/a` and empty for seeds written before
    probabilities were kept."""
    from harness.views.formatting import calibration_text

    records = [completed("sent-fr", "camembert", seed, acc) for seed, acc in enumerate([0.9, 0.8])]
    for record, (ece, brier) in zip(records, [(0.05, 0.20), (0.07, 0.30)]):
        record["metrics"]["test"]["calibration"] = {"ece": ece, "brier": brier, "bins": 15}
    records.append(completed("sent-fr", "xlmr", 0, 0.7))  # no probabilities
    board = build_leaderboard(typed(records))
    section = board.to_markdown().split("## Calibration", 1)[1].split("\n## ", 1)[0]
    assert "| sent-fr | camembert | 0.0600 | 0.2500 | 2 |" in section
    assert "| sent-fr | xlmr | n/a | n/a | 0 (1 not recorded) |" in section
    assert calibration_text(0.06) == "0.0600" and calibration_text(None) == "n/a"
    frame = pd.read_csv(io.StringIO(board.to_csv()))
    assert list(frame.columns[-2:]) == ["ece", "brier"]
    for metric in metric_names():  # every metric row of the cell carries it
        row = csv_row(frame, "sent-fr", "camembert", metric)
        assert row["ece"] == pytest.approx(0.06) and row["brier"] == pytest.approx(0.25)
    assert math.isnan(csv_row(frame, "sent-fr", "xlmr")["ece"])
