"""Selection on the metric the user cares about (recipe `selection_metric`), early stopping outside
the warm-up (`min_steps`), and MCC beside accuracy and macro-F1: in the statistics, in records
and in the views."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef

from harness.errors import SpecError
from harness.spec.recipe import Recipe, resolve_recipe
from harness.stats import bootstrap_record_ci, metric_on_resamples, resample_weights
from helpers import make_record, write_results, typed

# A fake validation history where accuracy and loss disagree: accuracy is best at step 40,
# loss at step 20, macro-F1 and MCC at step 30.
HISTORY = [
    {"step": 10, "eval_accuracy": 0.60, "eval_macro_f1": 0.50, "eval_mcc": 0.10, "eval_loss": 0.70},
    {"step": 20, "eval_accuracy": 0.70, "eval_macro_f1": 0.60, "eval_mcc": 0.30, "eval_loss": 0.40},
    {"step": 30, "eval_accuracy": 0.72, "eval_macro_f1": 0.71, "eval_mcc": 0.45, "eval_loss": 0.50},
    {"step": 40, "eval_accuracy": 0.75, "eval_macro_f1": 0.65, "eval_mcc": 0.40, "eval_loss": 0.60},
    {"step": 50, "eval_accuracy": 0.74, "eval_macro_f1": 0.64, "eval_mcc": 0.39, "eval_loss": 0.65},
    {"step": 60, "eval_accuracy": 0.73, "eval_macro_f1": 0.63, "eval_mcc": 0.38, "eval_loss": 0.66},
]


def _drive(metric: str, history: list[dict], patience: int | None, warmup_steps: int = 0, min_steps=None,
           max_steps: int = 100):
    """Feed `history` to the real early-stopping callback through the Trainer's callback objects;
    the model's weight is set to the step before each evaluation, so the restored weight names the
    step whose weights were restored. Returns the callback, the model and the steps evaluated."""
    import torch
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from harness.train.callbacks import _make_callbacks

    _, BestState, _ = _make_callbacks()
    best = BestState(metric, patience, min_steps)
    args = TrainingArguments(output_dir="unused", warmup_steps=warmup_steps, report_to="none")
    state, control = TrainerState(max_steps=max_steps), TrainerControl()
    model = torch.nn.Linear(1, 1, bias=False)
    best.on_train_begin(args, state, control)
    evaluated = []
    for entry in history:
        state.global_step = entry["step"]
        with torch.no_grad():
            model.weight.fill_(float(entry["step"]))
        best.on_evaluate(args, state, control, metrics={k: v for k, v in entry.items() if k != "step"}, model=model)
        evaluated.append(entry["step"])
        if control.should_training_stop:
            break
    best.restore(model)
    return best, model, evaluated


@pytest.mark.parametrize("metric, best_step", [("accuracy", 40), ("loss", 20), ("macro_f1", 30), ("mcc", 30)])
def test_selection_on_each_metric_restores_the_step_best_on_it(metric, best_step):
    best, model, _ = _drive(metric, HISTORY, patience=None)
    assert best.best_step == best_step
    assert model.weight.detach().item() == best_step  # the weights restored are that step's
    summary = best.summary()
    assert summary["selection_metric"] == metric and summary["restored_step"] == best_step
    assert summary["stopped_early"] is False and summary["stopped_at_step"] is None


def test_loss_stops_where_accuracy_goes_on():
    # patience 2: loss stops two evaluations after its best (step 20 -> stop at 40); accuracy improves until 40
    by_loss, _, loss_steps = _drive("loss", HISTORY, patience=2)
    by_accuracy, _, accuracy_steps = _drive("accuracy", HISTORY, patience=2)
    assert loss_steps == [10, 20, 30, 40]
    assert by_loss.summary()["stopped_at_step"] == 40 and by_loss.summary()["stopped_on"] == "loss"
    assert by_loss.summary()["restored_step"] == 20
    assert accuracy_steps == [10, 20, 30, 40, 50, 60] and by_accuracy.stopped_early
    assert by_accuracy.summary()["stopped_at_step"] == 60


def test_no_stop_inside_the_warm_up():
    # validation gets worse at every evaluation after the first; the warm-up is 50 of 100 steps
    worsening = [{"step": s, "eval_accuracy": 0.9 - s / 1000} for s in range(10, 101, 10)]
    best, _, evaluated = _drive("accuracy", worsening, patience=1, warmup_steps=50)
    assert best.min_steps == 50  # the default: the warm-up steps
    assert best.stopped_at_step == 50  # the first evaluation that may count, not step 20
    assert evaluated == [10, 20, 30, 40, 50] and best.best_step == 10
    # a warm-up ratio is resolved from the step budget (10% of 100 steps)
    ratio, _, _ = _drive("accuracy", worsening, patience=1, warmup_steps=0.3)
    assert ratio.min_steps == 30 and ratio.stopped_at_step == 30
    # min_steps moves the earliest stop past the warm-up
    later, _, _ = _drive("accuracy", worsening, patience=2, warmup_steps=50, min_steps=70)
    assert later.min_steps == 70 and later.stopped_at_step == 80


def test_recipe_selection_metric_is_validated_and_keeps_old_hashes():
    with pytest.raises(SpecError, match=r"selection_metric.*did you mean 'mcc'"):
        resolve_recipe(({"selection_metric": "mc"}, "--set"))
    assert Recipe().selects_on().higher_is_better and not Recipe(selection_metric="loss").selects_on().higher_is_better
    # the new keys enter the config hash only where they are set away from their default
    assert "selection_metric" not in Recipe().hashed() and "min_steps" not in Recipe().hashed()
    assert Recipe(selection_metric="mcc", min_steps=10).hashed()["selection_metric"] == "mcc"
    assert Recipe().hashed() == {k: v for k, v in Recipe().model_dump().items()
                                 if k not in ("selection_metric", "min_steps", "curve_points")}
    assert Recipe(curve_points=0).hashed() == Recipe().hashed()  # the curve changes no score: never hashed


# --------------------------------------------------------------------------- MCC statistics
def test_vectorised_mcc_equals_sklearn_on_resamples_with_integer_weights():
    rng = np.random.default_rng(3)
    refs = rng.integers(0, 4, 120)
    preds = np.where(rng.random(120) < 0.55, refs, rng.integers(0, 4, 120))
    weights = resample_weights(120, 30, 7)
    values = metric_on_resamples(refs, preds, weights, "mcc", 4)
    for row, value in zip(weights, values):
        assert value == pytest.approx(matthews_corrcoef(refs, preds, sample_weight=row), abs=1e-9)
    # degenerate: one predicted class gives 0, as sklearn does; anti-correlated predictions give -1
    assert metric_on_resamples(refs, np.zeros(120, int), weights[:1], "mcc", 4)[0] == 0.0
    binary = np.array([0, 1] * 10)
    assert metric_on_resamples(binary, 1 - binary, np.ones((1, 20)), "mcc", 2)[0] == pytest.approx(-1.0)
    ci = bootstrap_record_ci(binary.tolist(), (1 - binary).tolist(), resamples=50)
    assert ci["mcc"]["low"] == pytest.approx(-1.0) and ci["mcc"]["high"] == pytest.approx(-1.0)


def test_mcc_of_an_older_record_is_derived_from_its_predictions(tmp_path):
    from harness.records.store import load_records

    refs, preds = [0, 1, 2, 0, 1, 2, 0, 1], [0, 1, 1, 0, 2, 2, 0, 0]
    record = make_record("t", "m", 0, refs, preds, ["a", "b", "c"])
    record["predictions"]["validation"], record["references"]["validation"] = preds, refs
    for split in ("validation", "test"):
        del record["metrics"][split]["mcc"]  # written before MCC was registered
    write_results(tmp_path, [record])
    (read,) = load_records(tmp_path)
    assert read.test.mcc == pytest.approx(matthews_corrcoef(refs, preds))
    assert read.metrics.derived_on_read == ["validation.mcc", "test.mcc"]
    assert "mcc" not in json.loads((tmp_path / "t" / "m" / "seed-0.json").read_text())["metrics"]["test"]


# --------------------------------------------------------------------------- views
def _anti(seed: int, n: int = 60) -> dict:
    """A model worse than chance: mostly the opposite label (MCC near -1)."""
    rng = np.random.default_rng(seed)
    refs = [i % 2 for i in range(n)]
    preds = [1 - r if rng.random() < 0.9 else r for r in refs]
    return make_record("sst2", "contrarian", seed, refs, preds, ["negative", "positive"])


def _good(seed: int, n: int = 60) -> dict:
    rng = np.random.default_rng(100 + seed)
    refs = [i % 2 for i in range(n)]
    preds = [r if rng.random() < 0.85 else 1 - r for r in refs]
    return make_record("sst2", "reader", seed, refs, preds, ["negative", "positive"])


def test_leaderboard_in_mcc_with_intervals_clipped_to_minus_one_one(tmp_path):
    from harness.views.leaderboard import build_leaderboard, render, write_leaderboard_files

    records = [_anti(s) for s in range(3)] + [_good(s) for s in range(3)]
    board = build_leaderboard(typed(records))
    cell = board.cells[("mcc", "sst2", "contrarian")]
    expected = [matthews_corrcoef(r["references"]["test"], r["predictions"]["test"]) for r in records[:3]]
    assert cell.values == pytest.approx(expected) and cell.mean < -0.6
    assert cell.stats["low"] >= -1.0 and cell.stats["high"] <= 1.0
    assert board.order["mcc"] == ["reader", "contrarian"]
    tables = board.tables()
    assert "mcc" in tables and "mcc_means" in tables
    assert tables["mcc_means"].loc["contrarian", "sst2"] == pytest.approx(100 * np.mean(expected))
    assert "Test MCC (%)" in render(board, "md")
    assert "Test MCC" in render(board, "html")
    assert json.loads(render(board, "json"))["ranking"]["mcc"] == ["reader", "contrarian"]
    assert "mcc" in set(pd_cells(render(board, "csv")))
    write_results(tmp_path, records)
    assert "MCC" in write_leaderboard_files(tmp_path).read_text()


def pd_cells(csv_text: str):
    import io

    import pandas as pd

    return pd.read_csv(io.StringIO(csv_text))["metric"]


def test_mean_ci_clips_mcc_at_minus_one():
    from harness.metrics import metric_bounds
    from harness.stats import mean_ci

    stats = mean_ci([-0.99, -0.95, -0.7], bounds=metric_bounds("mcc"))
    assert stats["clipped"] and stats["low"] == -1.0
    assert metric_bounds("accuracy") == (0.0, 1.0)


def test_compare_card_and_baseline_carry_mcc(tmp_path):
    from harness.records.baselines import baseline_document
    from harness.views.card import model_card
    from harness.views.compare import compare

    good, anti = [_good(s) for s in range(2)], [_anti(s) for s in range(2)]
    for r in anti:
        r["model"] = "reader"
    comparison = compare(anti, good, resamples=200)
    mcc = [c for c in comparison.comparisons if c.metric == "mcc"]
    assert len(mcc) == 1 and mcc[0].status == "regressed"
    assert "MCC" in comparison.to_markdown()
    card = str(model_card(typed(good[0])))
    assert "Test MCC" in card and "matthews_correlation" in card
    document = baseline_document(typed(good))
    assert "mcc" in json.dumps(document)


def test_a_run_selecting_on_loss_restores_the_lowest_validation_loss(toy_env):
    from harness.cli.main import main
    from harness.records.store import record_path

    from conftest import harness_args

    code = main(harness_args(toy_env, "run", "--tasks", toy_env["task"], "--data-dir", str(toy_env["data"]),
                             "--results", str(toy_env["results"]), "--no-leaderboard", "--models", "tiny",
                             "--seeds", "1", "--set", "selection_metric=loss", "--set", "max_epochs=4",
                             "--set", "learning_rate=0.002"))
    assert code == 0
    record = json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 0).read_text())
    training, history = record["training"], record["training"]["history"]
    lowest = min(history, key=lambda h: h["validation_loss"])
    assert training["selection_metric"] == "loss" and training["restored_step"] == lowest["step"]
    assert training["min_steps"] == 3  # the warm-up: 10% of 4 epochs x 6 steps, rounded up
    assert record["metrics"]["validation"]["loss"] == pytest.approx(lowest["validation_loss"], rel=1e-4)
    assert record["config"]["recipe"]["selection_metric"] == "loss"


def test_search_selects_the_lowest_mean_validation_loss():
    from harness.planning.search import SearchSpec, TrialResult, select

    spec = SearchSpec(space={"learning_rate": [2e-5, 3e-5, 5e-5]})
    results = [TrialResult({"learning_rate": 2e-5}, [0.52, 0.50], False, []),
               TrialResult({"learning_rate": 3e-5}, [0.41, 0.43], False, []),
               TrialResult({"learning_rate": 5e-5}, [0.47, 0.45], False, [])]
    by_loss, by_accuracy = select(results, spec, "loss"), select(results, spec, "accuracy")
    assert by_loss["chosen"] == {"learning_rate": 3e-5} and by_loss["metric"] == "validation loss"
    assert "lower is better" in by_loss["rule"]
    assert by_accuracy["chosen"] == {"learning_rate": 2e-5} and "higher is better" in by_accuracy["rule"]
