"""Regression testing: `harness compare`, `harness baseline export`, `harness.assert_no_regression`.

Records are made by hand (no training): a 3-class test set of 400 examples, predictions with a
chosen accuracy per seed.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

from harness.metrics import metric_names
from helpers import make_record, predictions_with_accuracy, typed, write_results
from harness.records.baselines import BASELINE_SCHEMA_VERSION, read_baseline
from harness.records.grouping import SeedRuns, SeedRun
from harness.cli.main import main
from harness.views.compare import assert_no_regression, compare
from harness.errors import HarnessError

LABELS = ["negative", "neutral", "positive"]
N = 400
REFS = [i % 3 for i in range(N)]
SEEDS = (0, 1, 2)


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """The bootstrap's matrices are small (resamples x a few hundred examples): on a busy machine one
    BLAS thread is several times faster than threads fighting over the cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1):
        yield


def records(task, model, accuracies, fingerprint="fp-test", seeds=SEEDS, refs=REFS, salt=0):
    """One completed record per seed, seed k with accuracy accuracies[k] (a number: every seed)."""
    accs = accuracies if isinstance(accuracies, (list, tuple)) else [accuracies] * len(seeds)
    return [
        make_record(task, model, seed, refs, predictions_with_accuracy(refs, acc, 3, seed=1000 * salt + seed),
                    LABELS, fingerprint=fingerprint)
        for seed, acc in zip(seeds, accs)
    ]


def results(tmp_path, name, *groups):
    return write_results(tmp_path / name, [r for group in groups for r in group])


def run_compare(capsys, candidate, baseline, *extra):
    code = main(["compare", str(candidate), "--baseline", str(baseline), *extra])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- verdicts
def test_real_drop_is_flagged_and_exits_1(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "bert", 0.85))
    cand = results(tmp_path, "cand", records("miam", "bert", 0.75, salt=1))
    code, out, _ = run_compare(capsys, cand, base)
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("**Regression:**") and "miam / bert" in first
    assert f"### Regressions ({len(metric_names())})" in out and "### Unchanged (0)" in out
    regressions = out.split("### Regressions")[1].split("### Improvements")[0]
    assert "| miam " in regressions and "-10.00" in regressions and "3 (0, 1, 2)" in regressions

    result = compare(cand, base)
    acc = next(c for c in result.comparisons if c.metric == "accuracy")
    assert acc.status == "regressed" and acc.pairs == 3 and acc.n_examples == N
    assert acc.baseline == pytest.approx(85.0) and acc.candidate == pytest.approx(75.0)
    assert acc.delta == pytest.approx(-10.0) and acc.low < -10.0 < acc.high < -0.5 and acc.p_value < 0.01


def test_identical_candidate_is_not_flagged(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "bert", 0.85), records("miam", "xlmr", 0.8))
    code, out, _ = run_compare(capsys, base, base)
    assert code == 0
    every = 2 * len(metric_names())  # two cells x every registered metric
    assert out.startswith(f"**No regression:** 0 of {every} comparison(s)")
    assert "### Regressions (0)" in out and "### Improvements (0)" in out and f"### Unchanged ({every})" in out
    result = compare(base, base)
    assert {c.status for c in result.comparisons} == {"unchanged"}
    assert all(c.delta == 0 and c.p_value == 1.0 for c in result.comparisons)


def test_significant_improvement_is_reported_and_exits_0(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "bert", 0.75))
    cand = results(tmp_path, "cand", records("miam", "bert", 0.85, salt=1))
    code, out, _ = run_compare(capsys, cand, base)
    assert code == 0
    assert out.startswith("**No regression:**") and f"### Improvements ({len(metric_names())})" in out
    assert "+10.00" in out.split("### Improvements")[1].split("### Unchanged")[0]


def _nested_drop(base_records, extra_errors):
    """The baseline's predictions with `extra_errors` more mistakes per seed on examples it got right:
    a small drop that the paired test sees as significant."""
    out = []
    for record in base_records:
        preds = list(record["predictions"]["test"])
        right = [i for i, (p, r) in enumerate(zip(preds, REFS)) if p == r]
        for i in right[record["seed"] * 7:][:extra_errors]:
            preds[i] = (REFS[i] + 1) % 3
        out.append(make_record(record["task"], record["model"], record["seed"], REFS, preds, LABELS))
    return out


def test_significant_drop_within_max_drop_is_not_a_regression(tmp_path, capsys):
    base_records = records("miam", "bert", 0.85)
    base = results(tmp_path, "base", base_records)
    cand = results(tmp_path, "cand", _nested_drop(base_records, 4))  # 4 of 400 = 1 point per seed

    result = compare(cand, base, metrics=["accuracy"], max_drop=2.0)
    (acc,) = result.comparisons
    assert acc.delta == pytest.approx(-1.0) and acc.significant and acc.p_value < 0.05
    assert acc.status == "unchanged" and acc.within_tolerance and not result.regressed
    # a drop of exactly max_drop is not larger than it
    assert not compare(cand, base, metrics=["accuracy"], max_drop=1.0).regressed

    code, out, _ = run_compare(capsys, cand, base, "--metrics", "accuracy", "--max-drop", "2")
    assert code == 0 and "within the 2-point" in out and "-1.00\\*" in out
    # the same drop is a regression once the tolerance is below it
    code, out, _ = run_compare(capsys, cand, base, "--metrics", "accuracy", "--max-drop", "0.5")
    assert code == 1 and out.startswith("**Regression:**")


def _bernoulli_cell(rng, error_rate, seeds=3):
    refs = np.asarray(REFS)
    cell = SeedRuns("null-task", "null-model")
    for seed in range(seeds):
        wrong = rng.random(N) < error_rate
        preds = np.where(wrong, (refs + rng.integers(1, 3, N)) % 3, refs)
        cell.seeds[seed] = SeedRun(seed, preds.tolist(), REFS, LABELS, "fp-null", f"h{seed}", {}, {})
    return {("null-task", "null-model"): cell}


def test_false_alarm_rate_under_the_null_stays_near_alpha():
    """Candidate and baseline drawn independently from the same 20% error rate: with max_drop=0 the
    verdict rests on significance alone. Two-sided, the rate of p < alpha should be about alpha
    (0.05; binomial sd over 200 trials ~0.015), so <= 0.10 leaves three sd of room, and the
    regression (one-sided) rate about alpha / 2. Measured: about 0.05 two-sided."""
    rng = np.random.default_rng(20240601)
    trials, alpha = 200, 0.05
    significant = dict.fromkeys(metric_names(), 0)
    regressed = dict.fromkeys(metric_names(), 0)
    for _ in range(trials):
        result = compare(_bernoulli_cell(rng, 0.2), _bernoulli_cell(rng, 0.2), max_drop=0.0, alpha=alpha, resamples=500)
        for c in result.comparisons:
            significant[c.metric] += c.significant
            regressed[c.metric] += c.status == "regressed"
    rates = {m: significant[m] / trials for m in significant}
    print(f"false-alarm rates over {trials} null trials: two-sided {rates}, "
          f"regressions {({m: regressed[m] / trials for m in regressed})}")
    for metric in significant:
        assert 0.01 <= rates[metric] <= 0.10, rates
        assert regressed[metric] / trials <= 0.075, regressed


def test_each_comparison_states_the_drop_it_could_detect(tmp_path):
    """3 seeds on 100 test examples detect far less than 5 seeds on 400; the stated drop is
    max(max_drop, (t(0.975, df) + t(0.8, df)) x standard error) and never below the tolerance."""
    from scipy import stats as scipy_stats

    small_refs = REFS[:99]
    small = compare(records("miam", "bert", [0.80, 0.86, 0.83], seeds=(0, 1, 2), refs=small_refs, salt=1),
                    records("miam", "bert", [0.84, 0.82, 0.83], seeds=(0, 1, 2), refs=small_refs),
                    metrics=["accuracy"])
    large = compare(records("miam", "bert", [0.80, 0.86, 0.84, 0.82, 0.83], seeds=range(5), salt=1),
                    records("miam", "bert", [0.84, 0.82, 0.83, 0.85, 0.81], seeds=range(5)), metrics=["accuracy"])
    (s,), (l,) = small.comparisons, large.comparisons
    assert s.detectable_drop > 1.3 * l.detectable_drop and s.status == l.status == "unchanged"
    for c in (s, l):
        t = scipy_stats.t
        assert c.detectable_drop == pytest.approx(max(0.5, (t.ppf(0.975, c.df) + t.ppf(0.8, c.df)) * c.se))
    assert "detectable drop" in small.to_markdown() and f"{s.detectable_drop:.2f}" in small.to_markdown()
    assert compare(records("miam", "bert", 0.85), records("miam", "bert", 0.85),
                   metrics=["accuracy"]).comparisons[0].detectable_drop == 0.5  # nothing varies: the tolerance


def test_one_seed_pair_says_training_variance_is_not_counted(tmp_path):
    result = compare(records("miam", "bert", 0.80, seeds=(0,), salt=1), records("miam", "bert", 0.85, seeds=(0,)))
    assert all(not c.training_variance_counted and c.pairs == 1 for c in result.comparisons)
    markdown = result.to_markdown()
    assert "training (seed) variance is not accounted for" in markdown and "1 (0) ‡" in markdown
    three = compare(records("miam", "bert", 0.80, salt=1), records("miam", "bert", 0.85))
    assert "training (seed) variance is not accounted for" not in three.to_markdown()


# --------------------------------------------------------------------------- unusable inputs
def test_different_test_sets_exit_2(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "bert", 0.85), records("miam", "xlmr", 0.85))
    cand = results(tmp_path, "cand", records("miam", "bert", 0.85, fingerprint="fp-other"),
                   records("miam", "xlmr", 0.85))
    code, out, err = run_compare(capsys, cand, base)
    assert code == 2 and out == ""
    first = err.splitlines()[0]
    assert first.startswith("harness: error: cannot compare") and "not scored on the same test set" in first
    assert "miam / bert" in first and "fp-other" in first
    assert "miam / xlmr" not in err


def test_different_references_with_the_same_fingerprint_exit_2(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "bert", 0.85))
    shifted = REFS[1:] + REFS[:1]
    cand = results(tmp_path, "cand", records("miam", "bert", 0.85, refs=shifted))
    code, _, err = run_compare(capsys, cand, base)
    assert code == 2 and "references do not match" in err and "miam / bert" in err.splitlines()[0]

    short = results(tmp_path, "short", records("miam", "bert", 0.85, refs=REFS[:300]))
    code, _, err = run_compare(capsys, short, base)
    assert code == 2 and "300 test examples vs 400" in err


def test_cells_on_one_side_only_are_a_note_and_the_common_ones_are_compared(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "bert", 0.85), records("miam", "xlmr", 0.85))
    cand = results(tmp_path, "cand", records("miam", "bert", 0.85), records("swda", "bert", 0.85))
    code, out, err = run_compare(capsys, cand, base, "--format", "json")
    assert code == 0 and err == ""
    report = json.loads(out)
    assert {(c["task"], c["model"]) for c in report["unchanged"]} == {("miam", "bert")}
    assert report["only_candidate"] == ["swda / bert"] and report["only_baseline"] == ["miam / xlmr"]
    assert any("only the baseline has 1 cell(s), not compared: miam / xlmr" in n for n in report["notes"])


def test_no_common_cell_exit_2(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "xlmr", 0.85))
    cand = results(tmp_path, "cand", records("swda", "bert", 0.85))
    code, out, err = run_compare(capsys, cand, base)
    assert code == 2 and out == "" and "no task x model in common" in err


def test_task_and_model_filters_select_cells(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "bert", 0.85), records("miam", "xlmr", 0.85),
                   records("swda", "bert", 0.85))
    cand = results(tmp_path, "cand", records("miam", "bert", 0.85), records("miam", "xlmr", 0.85),
                   records("swda", "bert", 0.85))
    result = compare(cand, base, tasks="miam", models=["xlmr"], metrics=["accuracy"], resamples=200)
    assert [(c.task, c.model) for c in result.comparisons] == [("miam", "xlmr")]
    code, out, err = run_compare(capsys, cand, base, "--tasks", "swda", "--format", "json", "--resamples", "200")
    assert code == 0 and {c["task"] for c in json.loads(out)["unchanged"]} == {"swda"}
    code, _, err = run_compare(capsys, cand, base, "--models", "xlmrr")
    assert code == 2 and "--models: no model 'xlmrr'" in err and "did you mean 'xlmr'" in err


def test_config_keys_that_differ_are_shown_per_cell(tmp_path):
    base = records("miam", "bert", 0.85)
    cand = records("miam", "bert", 0.85, salt=1)
    for record in base:
        record["config"]["recipe"] = {"learning_rate": 2e-5, "epochs": 3}
    for record in cand:
        record["config"]["recipe"] = {"learning_rate": 3e-5, "epochs": 3}
    result = compare(cand, base, metrics=["accuracy"], resamples=200)
    (c,) = result.comparisons
    assert c.config_changes == {"recipe.learning_rate": [2e-5, 3e-5]}
    markdown = result.to_markdown()
    assert "Configuration differences" in markdown and "`recipe.learning_rate` 2e-05 → 3e-05" in markdown
    assert "seed" not in str(c.config_changes)


def test_intervals_and_detectable_drops_stay_within_the_metric_range():
    """40 test examples, seeds that disagree wildly: the raw interval would leave 0..100 points."""
    refs = REFS[:40]
    cand = records("miam", "bert", [0.2, 0.95, 0.5], refs=refs, salt=1)
    base = records("miam", "bert", [0.9, 0.3, 0.6], refs=refs)
    result = compare(cand, base, metrics=["accuracy"], resamples=500)
    (c,) = result.comparisons
    assert -c.baseline <= c.low <= c.high <= 100 - c.baseline
    assert c.clipped and "†" in result.to_markdown()
    assert c.detectable_drop is None and "not detectable at this test size (40 examples" in result.to_markdown()
    assert c.examples_needed is None or c.examples_needed > 40


def test_missing_cells_exit_2_with_require_all_and_are_listed(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "bert", 0.85), records("miam", "xlmr", 0.85))
    cand = results(tmp_path, "cand", records("miam", "bert", 0.85), records("swda", "bert", 0.85))
    code, out, err = run_compare(capsys, cand, base, "--require-all")
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert "2 cell(s) missing on one side" in lines[0]
    assert any("miam / xlmr: missing from the candidate" in line for line in lines[1:])
    assert any("swda / bert: missing from the baseline" in line for line in lines[1:])


def test_no_common_seeds_exit_2(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "bert", 0.85, seeds=(0, 1)))
    cand = results(tmp_path, "cand", records("miam", "bert", 0.85, seeds=(2, 3)))
    code, _, err = run_compare(capsys, cand, base)
    assert code == 2 and "no common seeds" in err.splitlines()[0] and "miam / bert" in err.splitlines()[0]


def test_only_common_seeds_are_paired(tmp_path):
    base = results(tmp_path, "base", records("miam", "bert", 0.85, seeds=(0, 1, 2)))
    cand = results(tmp_path, "cand", records("miam", "bert", 0.85, seeds=(1, 2, 3), salt=0))
    result = compare(cand, base)
    assert all(c.seeds == [1, 2] and c.pairs == 2 for c in result.comparisons)
    assert any("seed(s) 0, 3 have no partner" in note for note in result.notes)


# --------------------------------------------------------------------------- baseline files
def test_baseline_export_round_trip(tmp_path, capsys):
    failed = make_record("miam", "bert", 3, REFS, REFS, LABELS, status="failed")
    res = results(tmp_path, "base", records("miam", "bert", 0.85), records("miam", "xlmr", 0.8), [failed])
    baseline = tmp_path / "ci" / "baseline.json"
    assert main(["baseline", "export", str(res), "--output", str(baseline)]) == 0
    out = capsys.readouterr().out
    assert "2 cell(s), 6 seed run(s)" in out and "1 failed record(s) left out: miam / bert / seed 3" in out

    document = json.loads(baseline.read_text())
    assert document["kind"] == "harness-baseline" and document["baseline_schema_version"] == BASELINE_SCHEMA_VERSION
    assert [(c["task"], c["model"]) for c in document["cells"]] == [("miam", "bert"), ("miam", "xlmr")]
    assert document["left_out"] == [{"task": "miam", "model": "bert", "seed": 3, "error": "RuntimeError: boom"}]
    seed0 = document["cells"][0]["seeds"][0]
    assert document["cells"][0]["references"] == REFS and len(seed0["predictions"]) == N
    assert {"data_fingerprint", "config_hash", "provenance", "metrics"} <= set(seed0)
    assert seed0["metrics"]["accuracy"] == pytest.approx(0.85) and seed0["data_fingerprint"] == "fp-test"
    assert list(baseline.parent.iterdir()) == [baseline]  # atomic: no temp file left behind

    side = read_baseline(baseline)
    assert side.cells[("miam", "bert")].seeds[1].predictions == \
        predictions_with_accuracy(REFS, 0.85, 3, seed=1)

    # results folder vs the file, both ways: the same runs, nothing regressed
    assert run_compare(capsys, res, baseline)[0] == 0
    assert run_compare(capsys, baseline, res)[0] == 0
    # the file carries what a comparison needs: a worse candidate is caught against it
    worse = results(tmp_path, "cand", records("miam", "bert", 0.75, salt=1), records("miam", "xlmr", 0.8))
    code, out, _ = run_compare(capsys, worse, baseline)
    assert code == 1 and "miam / bert" in out.splitlines()[0] and "miam / xlmr" not in out.splitlines()[0]


def test_unknown_baseline_version_is_rejected(tmp_path, capsys):
    res = results(tmp_path, "base", records("miam", "bert", 0.85))
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", "export", str(res), "--output", str(baseline)]) == 0
    document = json.loads(baseline.read_text())
    document["baseline_schema_version"] = 2
    baseline.write_text(json.dumps(document))
    capsys.readouterr()

    code, out, err = run_compare(capsys, res, baseline)
    assert code == 2 and out == ""
    assert "baseline_schema_version 2 is not supported" in err and "re-export" in err
    with pytest.raises(HarnessError, match="baseline_schema_version 2"):
        read_baseline(baseline)

    other = tmp_path / "other.json"
    other.write_text(json.dumps({"kind": "something-else"}))
    code, _, err = run_compare(capsys, res, other)
    assert code == 2 and "neither a results folder nor a harness baseline file" in err


def test_export_of_an_empty_or_failed_only_folder_exits_2(tmp_path, capsys):
    failed = make_record("miam", "bert", 0, REFS, REFS, LABELS, status="failed")
    res = results(tmp_path, "res", [failed])
    code = main(["baseline", "export", str(res), "--output", str(tmp_path / "b.json")])
    assert code == 2 and "no completed result records" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


# --------------------------------------------------------------------------- formats and API
def test_json_format_parses_and_output_file_matches(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "bert", 0.85))
    cand = results(tmp_path, "cand", records("miam", "bert", 0.75, salt=1))
    report = tmp_path / "report.json"
    code, out, _ = run_compare(capsys, cand, base, "--format", "json", "--output", str(report), "--resamples", "1000")
    assert code == 1
    data = json.loads(out)
    assert json.loads(report.read_text()) == data
    assert data["regressed"] is True and data["exit_code"] == 1
    assert data["verdict"].startswith("Regression:")
    assert data["counts"] == {"regressed": len(metric_names()), "improved": 0, "unchanged": 0}
    assert data["settings"]["resamples"] == 1000 and data["settings"]["max_drop_points"] == 0.5
    row = data["regressions"][0]
    assert {"task", "model", "metric", "baseline", "candidate", "delta", "low", "high", "p_value", "pairs",
            "seeds", "status"} <= set(row)
    assert row["task"] == "miam" and row["pairs"] == 3 and row["delta"] < -5
    assert data["settings"]["method_name"] == row["method"] == "seed-and-example variance components, Satterthwaite t"
    assert "seed term" in data["method"] and "test-example term" in data["method"]
    assert row["detectable_drop"] >= 0.5 and row["training_variance_counted"] is True


def test_markdown_output_file(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "bert", 0.85))
    report = tmp_path / "out" / "report.md"
    code, out, _ = run_compare(capsys, base, base, "--output", str(report))
    assert code == 0 and report.read_text() == out
    for heading in ("### Regressions", "### Improvements", "### Unchanged", "Method:"):
        assert heading in out
    header = next(line for line in out.splitlines() if line.startswith("| task"))
    assert [h.strip() for h in header.strip("|").split("|")] == [
        "task", "model", "metric", "baseline", "candidate", "delta", "95% CI", "p", "detectable drop", "seeds paired"]


def test_assert_no_regression_raises_with_the_report(tmp_path):
    import harness

    base = results(tmp_path, "base", records("miam", "bert", 0.85))
    cand = results(tmp_path, "cand", records("miam", "bert", 0.75, salt=1))
    with pytest.raises(AssertionError) as info:
        harness.assert_no_regression(cand, base, metrics=["macro_f1"])
    message = str(info.value)
    assert message.startswith("**Regression:** 1 of 1 comparison(s)")
    assert "### Regressions (1)" in message and "macro-F1" in message

    result = harness.assert_no_regression(base, base)
    assert not result.regressed and len(result.comparisons) == len(metric_names())
    # a drop within the tolerance passes
    assert not assert_no_regression(cand, base, max_drop=15.0).regressed
    with pytest.raises(HarnessError, match="unknown metric"):
        assert_no_regression(cand, base, metrics=["f2"])


def test_import_harness_stays_light():
    code = ("import sys, harness; assert 'harness.views.compare' not in sys.modules and 'numpy' not in sys.modules; "
            "f = harness.assert_no_regression; assert 'harness.views.compare' in sys.modules; print(f.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "assert_no_regression"


def with_test_fingerprint(group, value):
    for record in group:
        record["provenance"]["test_fingerprint"] = value
    return group


def test_other_training_data_on_the_same_test_split_is_compared_with_a_note(tmp_path, capsys):
    base = results(tmp_path, "base", with_test_fingerprint(records("miam", "bert", 0.85), "test-a"))
    cand = results(tmp_path, "cand", with_test_fingerprint(records("miam", "bert", 0.85, fingerprint="fp-augmented"),
                                                           "test-a"))
    code, out, _ = run_compare(capsys, cand, base)
    assert code == 0
    assert "same test set, but the training or validation data differ" in out
    assert "fp-augmented (candidate) vs fp-test (baseline)" in out
    # a baseline file keeps the test fingerprint (in each seed's provenance)
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", "export", str(base), "--output", str(baseline)]) == 0
    capsys.readouterr()
    code, out, _ = run_compare(capsys, cand, baseline)
    assert code == 0 and "same test set, but the training or validation data differ" in out


def test_a_different_test_split_fingerprint_exit_2(tmp_path, capsys):
    # the same whole-data fingerprint and references cannot hide different test texts
    base = results(tmp_path, "base", with_test_fingerprint(records("miam", "bert", 0.85), "test-a"))
    cand = results(tmp_path, "cand", with_test_fingerprint(records("miam", "bert", 0.85), "test-b"))
    code, out, err = run_compare(capsys, cand, base)
    assert code == 2 and out == ""
    assert "different test sets: test-split fingerprint test-b (candidate) vs test-a (baseline)" in err


def test_records_without_a_test_fingerprint_fall_back_to_the_data_fingerprint(tmp_path, capsys):
    base = results(tmp_path, "base", records("miam", "bert", 0.85))  # older records: no test fingerprint
    cand = results(tmp_path, "cand", with_test_fingerprint(records("miam", "bert", 0.85, fingerprint="fp-other"),
                                                           "test-a"))
    code, _, err = run_compare(capsys, cand, base)
    assert code == 2 and "data fingerprint fp-other (candidate) vs fp-test (baseline)" in err


def test_each_seed_run_is_resampled_once_per_comparison_and_test_sets_are_kept_apart(monkeypatch):
    """Every metric of every seed run comes from one pass over the resamples (its runs counted once
    however many metrics are compared), and the runs of two test sets are never resampled together."""
    import harness.stats as stats

    passes = []
    real = stats.confusion_on_resamples
    monkeypatch.setattr(stats, "confusion_on_resamples", lambda refs, runs, weights, *rest: (
        passes.append((stats.label_ids_digest(refs), weights.shape[0], len(runs))) or real(refs, runs, weights, *rest)))
    other_refs = [(i * 2) % 3 for i in range(N)]
    cand = records("t1", "a", 0.8, salt=1) + records("t1", "b", 0.8, salt=2) + records("t2", "a", 0.8, refs=other_refs, salt=3)
    base = records("t1", "a", 0.8, salt=4) + records("t1", "b", 0.8, salt=5) + records("t2", "a", 0.8, refs=other_refs, salt=6)
    result = compare(typed(cand), typed(base), resamples=200)
    assert len(result.comparisons) == 3 * len(metric_names())
    resampled = {}
    for refs, resamples, runs in passes:
        if resamples == 200:  # not the plain values (one "resample" of weight 1)
            resampled[refs] = resampled.get(refs, 0) + runs
    assert sorted(resampled.values()) == [2 * 3, 2 * 2 * 3]  # t2: 1 model x 2 sides x 3 seeds; t1: 2 models


def test_the_runs_of_one_test_set_share_one_references_list_and_one_array():
    """2 x 2,100 runs of 5,000 rows hold one list (and one read-only int64 array) per test set."""
    from harness.records.grouping import cells_from_records

    cells, _ = cells_from_records(typed(records("t", "a", 0.8) + records("t", "b", 0.7, salt=1)))
    runs = [run for cell in cells.values() for run in cell.seeds.values()]
    assert len(runs) == 6 and all(run.references is runs[0].references for run in runs)
    assert all(run.reference_array is runs[0].reference_array for run in runs)
    assert runs[0].reference_array.tolist() == REFS and not runs[0].reference_array.flags.writeable
    assert runs[3].prediction_array.tolist() == runs[3].predictions and runs[3].top_label == 2
