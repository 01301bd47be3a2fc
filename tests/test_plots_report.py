"""Per-cell plots (valid PNGs of a predictable pixel size) and REPORT.md tables from hand-made records."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from helpers import make_record, predictions_with_accuracy, write_results, typed

from harness.cli.main import main
from harness.errors import HarnessError
from harness.views.plots import confusion_matrix_size_px, curves_size_px, plot_confusion_matrix, plot_curves, write_cell_plots
from harness.views.report_tables import french_rows, pretraining_gain_rows, scratch_twins
from harness.views.report import most_confused_pairs, render_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, after checking the PNG signature."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    length, chunk = struct.unpack(">I4s", data[8:16])
    assert chunk == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def _record(task="toy", model="m", seed=0, accuracy=0.8, labels=("neg", "pos"), n=100, **kwargs):
    labels = list(labels)
    refs = [i % len(labels) for i in range(n)]
    preds = predictions_with_accuracy(refs, accuracy, len(labels), seed + 17 * len(model))
    return make_record(task, model, seed, refs, preds, labels, **kwargs)


# --------------------------------------------------------------------------- plots
def test_size_formulas():
    assert confusion_matrix_size_px(2) == (580, 480)
    assert confusion_matrix_size_px(31) == (1740, 1640)
    assert curves_size_px() == (1000, 420)


def test_cell_plots_are_pngs_of_the_documented_size(tmp_path):
    record = _record(seed=3)
    paths = write_cell_plots(typed(record), tmp_path / "toy" / "m")
    assert [p.name for p in paths] == ["seed-3-confusion_matrix.png", "seed-3-curves.png"]
    assert png_size(paths[0]) == (580, 480)
    assert png_size(paths[1]) == (1000, 420)
    assert not list((tmp_path / "toy" / "m").glob(".*.tmp"))  # atomic writes leave no temp file


def test_31_label_confusion_matrix(tmp_path):
    labels = [f"dialogue-act-{i:02d}" + ("-with-a-rather-long-name" if i % 7 == 0 else "") for i in range(31)]
    record = _record(labels=labels, n=31 * 12, accuracy=0.6)
    # a label with no test rows: its row stays 0, and nothing divides by zero
    matrix = record["metrics"]["test"]["confusion_matrix"]
    matrix[5] = [0] * 31
    path = plot_confusion_matrix(typed(record), tmp_path / "cm31.png")
    assert png_size(path) == (1740, 1640)


@pytest.mark.parametrize("history", [[], [{"step": 5, "epoch": 1.0, "train_loss": 0.7, "validation_accuracy": 0.5,
                                            "validation_macro_f1": 0.4}],
                                     [{"step": 5, "epoch": 1.0, "train_loss": None, "validation_accuracy": 0.5}]])
def test_curves_with_empty_or_single_point_history(tmp_path, history):
    record = _record(history=history)
    record["training"]["best_step"] = history[0]["step"] if history else None
    assert png_size(plot_curves(typed(record), tmp_path / "curves.png")) == (1000, 420)


def test_failed_record_has_no_plots(tmp_path):
    failed = make_record("toy", "m", 0, [], [], ["neg", "pos"], status="failed")
    assert write_cell_plots(typed(failed), tmp_path) == []
    with pytest.raises(HarnessError):
        plot_confusion_matrix(typed(failed), tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- report pieces
def _known_confusions(seed: int) -> dict:
    """3 labels: true a -> 7 a, 3 b; true b -> 10 b; true c -> 5 c, 4 a, 1 b."""
    refs = [0] * 10 + [1] * 10 + [2] * 10
    preds = [0] * 7 + [1] * 3 + [1] * 10 + [2] * 5 + [0] * 4 + [1] * 1
    return make_record("toy3", "m", seed, refs, preds, ["a", "b", "c"])


def test_most_confused_pairs_pooled_over_seeds():
    pairs = most_confused_pairs(typed([_known_confusions(0), _known_confusions(1)]))
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [("c", "a", 8), ("a", "b", 6), ("c", "b", 2)]
    assert [p["share"] for p in pairs] == pytest.approx([0.4, 0.3, 0.1])


def test_most_confused_pairs_top_10():
    labels = [f"l{i}" for i in range(8)]
    refs = [i % 8 for i in range(800)]
    record = make_record("t", "m", 0, refs, predictions_with_accuracy(refs, 0.2, 8, 0), labels)
    pairs = most_confused_pairs(typed([record]))
    assert len(pairs) == 10
    assert all(p["true"] != p["predicted"] for p in pairs)
    counts = [p["count"] for p in pairs]
    assert counts == sorted(counts, reverse=True)


def test_pretraining_gain_uses_the_shared_seed_and_example_test():
    from harness.stats import seed_example_test

    records = (
        [_record(model="m", seed=s, accuracy=a) for s, a in enumerate([0.80, 0.82, 0.84])]
        + [_record(model="m-scratch", seed=s, accuracy=a) for s, a in enumerate([0.60, 0.60, 0.62])]
        + [_record(model="w", seed=s, accuracy=a) for s, a in enumerate([0.50, 0.52])]
        + [_record(model="w-scratch", seed=s, accuracy=a) for s, a in enumerate([0.70, 0.74])]
        + [_record(model="o", seed=0, accuracy=0.7), _record(model="o-scratch", seed=1, accuracy=0.5)]
    )
    rows = {row["model"]: row for row in pretraining_gain_rows(typed(records))}
    assert set(rows) == {"m", "w", "o"}
    gain = rows["m"]["accuracy"]
    assert gain["diff"] == pytest.approx(0.82 - 0.6066667, abs=1e-6)
    by_model = {m: [r for r in records if r["model"] == m] for m in ("m", "m-scratch")}
    expected = seed_example_test(by_model["m"][0]["references"]["test"],
                                 [r["predictions"]["test"] for r in by_model["m"]],
                                 [r["predictions"]["test"] for r in by_model["m-scratch"]], "accuracy", 2,
                                 resamples=1000, seed=0)
    assert (gain["low"], gain["high"], gain["p_value"]) == pytest.approx((expected["low"], expected["high"], expected["p_value"]))
    assert 0 < gain["low"] < gain["diff"] < gain["high"] and gain["pairs"] == 3
    assert rows["w"]["accuracy"]["diff"] == pytest.approx(-0.21)
    assert rows["w"]["accuracy"]["low"] < rows["w"]["accuracy"]["diff"] < rows["w"]["accuracy"]["high"]
    assert rows["m"]["macro_f1"]["diff"] > 0
    assert rows["o"]["accuracy"] == "no common seed"


def test_scratch_twin_from_config_init_and_source():
    pre = _record(model="camembert", seed=0)
    rand = _record(model="camembert-random", seed=0)
    other = _record(model="other-random", seed=0)
    pre["config"]["model"].update(source="almanach/camembert-base", init="pretrained")
    rand["config"]["model"].update(source="almanach/camembert-base", init="scratch")
    other["config"]["model"].update(source="somebody/else", init="scratch")
    assert scratch_twins(typed([pre, rand, other])) == [("camembert", "camembert-random")]


# --------------------------------------------------------------------------- the whole report
@pytest.fixture()
def report_results(tmp_path):
    def fr(record):
        record["config"]["task"]["spec"]["language"] = "fr"
        return record

    records = (
        [_record(task="toy", model="m", seed=s, accuracy=a) for s, a in enumerate([0.80, 0.82])]
        + [_record(task="toy", model="m-scratch", seed=s, accuracy=a) for s, a in enumerate([0.60, 0.62])]
        + [make_record("toy", "broken", 0, [], [], ["neg", "pos"], status="failed")]
        + [_known_confusions(0)]
        + [fr(_record(task="avis-fr", model="camembert-base", seed=0, accuracy=0.9,
                      throughput={"parameters": 110_000_000, "non_embedding_parameters": 85_000_000}))]
        + [fr(_record(task="avis-fr", model="xlm-roberta-base", seed=0, accuracy=0.85,
                      throughput={"parameters": 278_000_000, "non_embedding_parameters": 86_000_000}))]
        + [fr(make_record("avis-fr", "minilm", 0, [], [], ["neg", "pos"], status="failed"))]
        + [fr(make_record("avis2-fr", "camembert-base", 0, [], [], ["neg", "pos"], status="failed"))]
    )
    return write_results(tmp_path / "results", records)


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start: end if end >= 0 else None]


def test_report_end_to_end(report_results, capsys):
    assert main(["report", str(report_results)]) == 0
    assert "REPORT.md" in capsys.readouterr().out
    report = (report_results / "REPORT.md").read_text()

    # per task: the best model, its confusion matrix (drawn on the fly) and the confused pairs
    toy3 = report[report.index("### toy3"):]
    assert "Best model: **m**" in toy3
    assert "![toy3 / m / seed 0 confusion matrix](toy3/m/seed-0-confusion_matrix.png)" in toy3
    assert "| c | a | 4 | 40.0% |" in toy3 and "| a | b | 3 | 30.0% |" in toy3
    assert toy3.index("| c | a | 4") < toy3.index("| a | b | 3") < toy3.index("| c | b | 1")
    assert png_size(report_results / "toy3" / "m" / "seed-0-confusion_matrix.png") == (620, 520)  # 3 labels

    # pretraining gain: m beats its scratch twin by 20 points, sign shown
    gain = _section(report, "Pretraining gain")
    assert "| m | m-scratch | toy | 2 / 2 | +20.00 | [" in gain
    assert "seed-and-example variance-components t-test" in gain and "(2 pair(s))" in gain

    # French table: camembert vs xlm-r only (minilm is English: not compared), failures as failed. The
    # language: the record's provenance, else (records from before it was kept) the shipped models.yaml
    french = _section(report, "Monolingual vs multilingual")
    assert "| camembert-base | fr | 110.0M | 23% | 90.00 /" in french
    assert "| xlm-roberta-base | multilingual | 278.0M | 69% | 85.00 /" in french
    camembert_row = next(line for line in french.splitlines() if line.startswith("| camembert-base"))
    assert camembert_row.rstrip(" |").endswith("failed")  # avis2-fr: its only seed failed
    assert "minilm" not in french

    # cell links: images exist, failed cells say so, never 0
    cells = _section(report, "Cell plots")
    assert "| broken | failed |" in cells
    for link in ("toy/m/seed-1-curves.png", "toy/m-scratch/seed-0-confusion_matrix.png"):
        assert f"({link})" in cells and png_size(report_results / link)
    assert "| minilm | failed |" in cells

    board = _section(report, "Leaderboard")
    assert "| m " in board and "failed" in board
    assert "\n# " not in board  # its headings are nested under the report's


def test_french_section_only_for_french_tasks_with_french_or_multilingual_models():
    def lang(record, task_language, model_language):
        record["config"]["task"]["spec"]["language"] = task_language
        record["provenance"]["model_language"] = model_language
        return record

    english = [lang(_record(task="sst-like", model="bert-en", seed=0), "en", "en"),
               lang(_record(task="sst-like", model="xlmr", seed=0), "en", "multilingual")]
    assert french_rows(typed(english)) == ([], [], [])
    french_english_models = [lang(_record(task="avis", model="bert-en", seed=0), "fr", "en")]
    assert french_rows(typed(french_english_models)) == ([], [], [])
    mixed = french_english_models + [lang(_record(task="avis", model="flaubert", seed=0, accuracy=0.9), "fr", "fr")]
    tasks, headers, rows = french_rows(typed(mixed))
    assert tasks == ["avis"] and [r[:2] for r in rows] == [["flaubert", "fr"]] and headers[1] == "language"


def test_report_has_no_french_section_for_an_english_grid(tmp_path):
    records = [_record(task="sst-like", model="bert-en", seed=s) for s in (0, 1)]
    for record in records:
        record["config"]["task"]["spec"]["language"] = "en"
        record["provenance"]["model_language"] = "en"
    results = write_results(tmp_path / "results", records)
    report = render_report(results, typed(records))
    assert "Monolingual vs multilingual" not in report and "## Pretraining gain" in report


def test_report_redraws_stale_plots(report_results):
    from harness.views.report import write_report

    write_report(report_results)
    image = report_results / "toy" / "m" / "seed-0-curves.png"
    os.utime(image, (1_000_000, 1_000_000))  # older than its record
    kept = report_results / "toy" / "m" / "seed-1-curves.png"
    kept_mtime = kept.stat().st_mtime
    write_report(report_results)
    assert image.stat().st_mtime > 1_000_000
    assert kept.stat().st_mtime == kept_mtime


def test_report_draws_the_summary_figure_only_when_missing_or_stale(tmp_path, monkeypatch):
    """A second report of unchanged results keeps summary.png; a new record, a deleted or a replaced
    figure draws it again."""
    import harness.views.summary as summary
    from harness.views.report import write_report

    drawn = []
    real = summary.write_summary_png
    monkeypatch.setattr(summary, "write_summary_png", lambda data, path: drawn.append(path) or real(data, path))
    results = write_results(tmp_path / "results", [_record(seed=s) for s in (0, 1)])
    write_report(results)
    write_report(results)
    assert len(drawn) == 1 and "summary.png drawn from" in (results / "REPORT.md").read_text()
    write_results(results, [_record(seed=2)])
    write_report(results)
    assert len(drawn) == 2
    (results / "summary.png").unlink()
    write_report(results)
    (results / "summary.png").write_bytes(b"not the figure")
    write_report(results)
    assert len(drawn) == 4 and png_size(results / "summary.png")[0] > 100


def test_report_of_empty_folder_is_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no result records" in capsys.readouterr().err
    with pytest.raises(HarnessError):
        render_report(tmp_path / "empty", [])
