"""Evaluating checkpoints as published (`init: finetuned`, `harness evaluate`): label alignment,
refusals at planning, exact reproduction of a saved run's predictions, latency, and the CI gate."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import harness_args
from harness.cli.main import main
from harness.errors import HarnessError
from harness.planning.identity import ModelIdentity
from harness.planning.labels import align_labels, fold, parse_label_map

TEST_ROWS = 120  # enough test examples for the paired test to see a checkpoint that lost 30+ points


def _run(env, *rest) -> int:
    return main(harness_args(env, "run", "--tasks", env["task"], "--data-dir", str(env["data"]), *rest))


def _evaluate(env, source, *rest) -> int:
    return main(harness_args(env, "evaluate", str(source), "--data-dir", str(env["data"]), "--no-plots", *rest))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    """A toy task trained once with --save-model (the run's record and its saved checkpoint), and a
    second task with the same classes named another way (NEG / Pos)."""
    from helpers import write_generic_task, write_models_file

    root = tmp_path_factory.mktemp("trained")
    env = {"data": root / "data", "tasks": root / "tasks", "results": root / "results"}
    env["task"] = write_generic_task(env["data"], env["tasks"], sizes=(48, 16, TEST_ROWS))
    other = write_generic_task(env["data"], env["tasks"], name="toy-reviews", sizes=(8, 24, 40))
    spec = env["tasks"] / f"{other}.yaml"
    document = yaml.safe_load(spec.read_text())
    document["tasks"][0]["labels"] = ["NEG", "Pos"]  # the same classes, named another way
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    env["other"] = other
    env["models"] = write_models_file(root / "models.yaml", [{"name": "tiny", "source": str(tiny_model_dir)}])
    assert _run(env, "--models", "tiny", "--seeds", "1", "--save-model", "--no-plots", "--no-leaderboard",
                "--set", "max_epochs=1", "--results", str(env["results"])) == 0
    folder = env["results"] / env["task"] / "tiny"
    return env, json.loads((folder / "seed-0.json").read_text()), folder / "model-seed-0"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, tiny_model_dir):
    """A published-style classifier that knows the toy sentences: the tiny encoder with a head
    fitted by logistic regression on its pooled features (deterministic, no Trainer). Its margins
    are small: it is scored in fp32."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoTokenizer, BertForSequenceClassification

    from helpers import NEGATIVE, POSITIVE

    folder = tmp_path_factory.mktemp("fitted") / "classifier"
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = BertForSequenceClassification.from_pretrained(
        tiny_model_dir, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
    model.eval()
    texts, labels = NEGATIVE + POSITIVE, [0] * len(NEGATIVE) + [1] * len(POSITIVE)
    with torch.no_grad():
        features = model.bert(**tokenizer(texts, padding=True, return_tensors="pt")).pooler_output.numpy()
    # a random encoder's features barely vary: standardise them, and fold the scaling into the head
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-12
    head = LogisticRegression(C=10, max_iter=5000).fit((features - mean) / std, labels)
    weight = head.coef_[0] / std
    bias = float(head.intercept_[0] - (head.coef_[0] * mean / std).sum())
    with torch.no_grad():
        weight = torch.tensor(weight, dtype=torch.float32)
        model.classifier.weight.copy_(torch.stack([-weight / 2, weight / 2]))
        model.classifier.bias.copy_(torch.tensor([-bias / 2, bias / 2]))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _record(results: Path, task: str, model: str) -> dict:
    return json.loads((results / task / model / "seed-0.json").read_text())


def test_saved_checkpoint_evaluated_again_gives_identical_test_predictions(trained, tmp_path):
    env, record, checkpoint = trained
    results = tmp_path / "eval"
    assert _evaluate(env, checkpoint, "--tasks", env["task"], "--results", str(results)) == 0
    evaluated = _record(results, env["task"], "tiny-toy-sentiment-seed-0")
    assert evaluated["kind"] == "evaluation" and evaluated.get("training") is None
    assert json.dumps(evaluated["predictions"]["test"]) == json.dumps(record["predictions"]["test"])
    assert evaluated["references"] == record["references"]
    assert evaluated["alignment"]["map"] == {"negative": "negative", "positive": "positive"}
    assert set(evaluated["alignment"]["by"].values()) == {"name"}
    assert evaluated["config"]["seed"] == 0 and "learning_rate" not in evaluated["config"]["recipe"]
    assert evaluated["evaluation"]["trained"] is False and evaluated["evaluation"]["seed_variance"] == 0
    # the same scoring as a trained cell: probabilities and calibration too (harness errors, ECE, Brier)
    assert evaluated["probabilities"]["test"]["rows"] == len(record["predictions"]["test"])
    assert evaluated["metrics"]["test"]["calibration"] == pytest.approx(record["metrics"]["test"]["calibration"], abs=1e-3)


def test_latency_is_recorded_for_fine_tuned_and_evaluated_cells(trained, tmp_path):
    env, record, checkpoint = trained
    results = tmp_path / "eval"
    assert _evaluate(env, checkpoint, "--tasks", env["task"], "--results", str(results)) == 0
    for body in (record, _record(results, env["task"], "tiny-toy-sentiment-seed-0")):
        latency = body["throughput"]["latency"]
        assert latency["median_ms"] > 0 and latency["p95_ms"] >= latency["median_ms"]
        assert latency["batch_size"] == 1 and 20 <= latency["examples"] <= TEST_ROWS and latency["warmup"] == 5
        assert latency["device"] == body["provenance"]["device"] and latency["precision"] in ("fp32", "bf16", "fp16")
    board = (results / "LEADERBOARD.md").read_text()
    assert "batch-1 latency median (ms)" in board and "(evaluated)" in board


def test_rerun_skips_an_evaluated_cell_and_plan_shows_it(trained, tmp_path, capsys):
    env, _, checkpoint = trained
    results = tmp_path / "eval"
    args = ("--tasks", env["task"], "--results", str(results), "--no-leaderboard")
    assert _evaluate(env, checkpoint, *args) == 0
    capsys.readouterr()
    assert _evaluate(env, checkpoint, *args) == 0
    assert "0 cell(s) trained, 1 skipped" in capsys.readouterr().out
    assert _evaluate(env, checkpoint, *args, "--dry-run", "--format", "json") == 0
    plan = json.loads(capsys.readouterr().out)
    assert [c["kind"] for c in plan["cells"]] == ["evaluation"] and plan["cells"][0]["status"] == "done"
    assert "evaluation (no seeds)" in plan["summary"]


def test_transfer_to_another_task_aligns_synonym_labels(trained, fitted, tmp_path):
    env = trained[0]
    results = tmp_path / "transfer"
    assert _evaluate(env, fitted, "--tasks", env["other"], "--results", str(results), "--name", "books",
                     "--precision", "fp32") == 0
    evaluated = _record(results, env["other"], "books")
    assert evaluated["alignment"]["map"] == {"NEGATIVE": "NEG", "POSITIVE": "Pos"}
    assert evaluated["metrics"]["test"]["n"] == 40 and evaluated["metrics"]["test"]["accuracy"] >= 0.85


def test_models_yaml_entry_with_init_finetuned_is_evaluated(trained, tmp_path):
    from helpers import write_models_file

    env, record, checkpoint = trained
    env = {**env, "models": write_models_file(tmp_path / "models.yaml", [
        {"name": "shipped", "source": str(checkpoint), "init": "finetuned",
         "label_map": {"negative": "negative", "positive": "positive"}}])}
    results = tmp_path / "yaml"
    assert _run(env, "--models", "shipped", "--results", str(results), "--no-plots", "--precision", "fp32") == 0
    evaluated = _record(results, env["task"], "shipped")
    assert set(evaluated["alignment"]["by"].values()) == {"label_map"}
    assert evaluated["predictions"]["test"] == record["predictions"]["test"]


# --------------------------------------------------------------------------- the CI gate
def _degraded(checkpoint: Path, folder: Path) -> Path:
    """The checkpoint with its head biased towards 'negative': measurably worse on the same test set."""
    from transformers import AutoModelForSequenceClassification

    shutil.copytree(checkpoint, folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    head = model.classifier
    head.bias.data[0] += 3 * float(head.weight.data.abs().sum(dim=1).max())
    model.save_pretrained(folder)
    return folder


def test_compare_gate_passes_a_checkpoint_against_itself_and_fails_a_degraded_one(trained, fitted, tmp_path, capsys):
    env, checkpoint = trained[0], fitted
    common = ("--tasks", env["task"], "--name", "classifier", "--no-leaderboard", "--precision", "fp32")
    assert _evaluate(env, checkpoint, *common, "--results", str(tmp_path / "shipped")) == 0
    assert _evaluate(env, checkpoint, *common, "--results", str(tmp_path / "same")) == 0
    degraded = _degraded(checkpoint, tmp_path / "degraded-model")
    assert _evaluate(env, degraded, *common, "--results", str(tmp_path / "candidate")) == 0
    assert main(["baseline", "export", str(tmp_path / "shipped"), "--output", str(tmp_path / "shipped.json")]) == 0
    capsys.readouterr()

    assert main(["compare", str(tmp_path / "same"), "--baseline", str(tmp_path / "shipped.json"),
                 "--format", "json", "--resamples", "500"]) == 0
    same = json.loads(capsys.readouterr().out)
    row = same["unchanged"][0]
    assert row["delta"] == 0 and row["evaluated"] and not row["training_variance_counted"]
    assert any("no training variance" in note for note in same["notes"])

    assert main(["compare", str(tmp_path / "candidate"), "--baseline", str(tmp_path / "shipped"),
                 "--max-drop", "1", "--resamples", "500"]) == 1
    report = capsys.readouterr().out
    assert "**Regression:**" in report and "evaluated §" in report and "detectable drop" in report


# --------------------------------------------------------------------------- alignment rules
def _identity(tmp_path: Path) -> ModelIdentity:
    return ModelIdentity("ckpt", str(tmp_path), "finetuned", str(tmp_path), True, None, None, "safetensors", "x")


def _config(*labels: str) -> dict:
    return {"architectures": ["BertForSequenceClassification"], "id2label": {str(i): l for i, l in enumerate(labels)}}


def test_labels_align_by_folded_name_and_synonyms(tmp_path):
    assert fold("Négatif") == fold("NEGATIVE") == fold("neg") == "negative"
    alignment = align_labels(_identity(tmp_path), "t", ["pos", "neg"], None, _config("NEGATIVE", "POSITIVE"))
    assert alignment.targets == (1, 0) and alignment.by == ("name", "name")


def test_label_map_many_to_one_and_null(tmp_path):
    stars = _config("1 star", "2 stars", "3 stars", "4 stars", "5 stars")
    label_map = parse_label_map("1 star=negative,2 stars=negative,3 stars=null,4 stars=positive,5 stars=positive")
    alignment = align_labels(_identity(tmp_path), "t", ["negative", "positive"], label_map, stars)
    assert alignment.targets == (0, 0, None, 1, 1)
    assert alignment.as_record()["map"]["3 stars"] is None


def test_prediction_is_the_most_probable_mapped_label():
    import numpy as np

    from harness.planning.labels import Alignment
    from harness.train.evaluate import task_scores

    alignment = Alignment(("a", "b", "c"), ("x", "y"), (0, None, 1), ("label_map",) * 3)
    logits = np.array([[0.1, 9.0, 0.3], [2.0, 9.0, 1.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    assert task_scores(logits, alignment).argmax(-1).tolist() == [1, 0, 0]


@pytest.mark.parametrize("labels, label_map, task_labels, expected", [
    (("LABEL_0", "LABEL_1"), None, ["negative", "positive"], "label_map: {LABEL_0: negative, LABEL_1: positive}"),
    (("negative", "neutral", "positive"), None, ["negative", "positive"], "'neutral' matches no task label"),
    (("negative", "positive"), {"negative": "negative", "positive": "negative"}, ["negative", "positive"],
     "no checkpoint label maps to task label 'positive'"),
    (("negative", "positive"), {"good": "positive"}, ["negative", "positive"], "'good', which is not a checkpoint label"),
    (("negative", "positive"), {"positive": "great"}, ["negative", "positive"], "'great', which is not a task label"),
])
def test_alignment_refusals_name_both_label_sets(tmp_path, labels, label_map, task_labels, expected):
    with pytest.raises(HarnessError) as info:
        align_labels(_identity(tmp_path), "t", task_labels, label_map, _config(*labels))
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert str(list(labels)) in message or "not a" in message


def _broken_copy(checkpoint: Path, folder: Path, **config_changes) -> Path:
    shutil.copytree(checkpoint, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(config_changes)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("changes, expected", [
    ({"id2label": {"0": "LABEL_0", "1": "LABEL_1"}}, "--label-map 'LABEL_0=negative,LABEL_1=positive'"),
    ({"id2label": {"0": "negative", "1": "positive", "2": "neutral"},
      "label2id": {"negative": 0, "positive": 1, "neutral": 2}}, "the classification head has 2 outputs"),
    ({"architectures": ["BertModel"]}, "hold no sequence-classification head"),
])
def test_refusals_exit_2_at_planning_with_nothing_written(trained, tmp_path, capsys, changes, expected):
    env, _, checkpoint = trained
    broken = _broken_copy(checkpoint, tmp_path / "broken", **changes)
    results = tmp_path / "results"
    assert _evaluate(env, broken, "--tasks", env["task"], "--results", str(results)) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1
    assert not results.exists()


def test_a_missing_checkpoint_exits_2(trained, tmp_path, capsys):
    env = trained[0]
    assert _evaluate(env, tmp_path / "no-such-model", "--tasks", env["task"], "--results", str(tmp_path / "r")) == 2
    assert "holds no config.json" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_label_map_is_only_for_finetuned_models(tmp_path):
    from helpers import write_models_file

    from harness.spec.models import load_models

    path = write_models_file(tmp_path / "models.yaml", [{"name": "m", "source": "x", "label_map": {"a": "b"}}])
    with pytest.raises(HarnessError, match="label_map: only a model with 'init: finetuned'"):
        load_models(path)


# --------------------------------------------------------------------------- views
def test_leaderboard_marks_an_evaluated_checkpoint_with_its_test_example_interval():
    from helpers import make_record, predictions_with_accuracy, typed

    from harness.stats import bootstrap_record_ci
    from harness.views.leaderboard import build_leaderboard

    refs = [i % 2 for i in range(200)]
    labels = ["negative", "positive"]
    tuned = [make_record("t", "tuned", seed, refs, predictions_with_accuracy(refs, 0.8 + 0.02 * seed, 2, seed), labels)
             for seed in range(3)]
    preds = predictions_with_accuracy(refs, 0.85, 2, 9)
    published = make_record("t", "published", 0, refs, preds, labels, kind="evaluation", training=None,
                            alignment={"map": {"NEGATIVE": "negative", "POSITIVE": "positive"}},
                            throughput={"latency": {"batch_size": 1, "examples": 200, "warmup": 5, "median_ms": 4.0,
                                                    "p95_ms": 6.5, "device": "test CPU", "precision": "fp32",
                                                    "weights": "fp32"}})
    published["metrics"]["test"]["bootstrap"] = bootstrap_record_ci(refs, preds, n_labels=2)
    board = build_leaderboard(typed(tuned + [published]))
    cell = board.cells[("accuracy", "t", "published")]
    interval = published["metrics"]["test"]["bootstrap"]["accuracy"]
    assert f"[{100 * interval['low']:.2f}, {100 * interval['high']:.2f}] (evaluated)" in cell.text()
    assert "(3)" in board.cells[("accuracy", "t", "tuned")].text()
    markdown = board.to_markdown()
    assert "evaluated as published" in markdown and "not over seeds" in markdown
    row = board.throughput_table().set_index("model").loc["published"]
    assert row["seeds"] == "evaluated" and row["batch-1 latency median (ms)"] == "4.00"
    assert row["batch-1 latency p95 (ms)"] == "6.50"
    assert board.throughput_table().set_index("model").loc["tuned"]["batch-1 latency median (ms)"] == "n/a"
    from harness.views.webpage import render_html

    page = render_html(json.loads(board.to_json()))
    assert f"{100 * interval['low']:.2f}, {100 * interval['high']:.2f}] (evaluated)" in page
    assert "batch-1 latency p95 (ms)" in page and "6.50" in page


def test_latency_times_up_to_200_examples_after_warm_up(tiny_model_dir):
    from datasets import Dataset
    from transformers import AutoTokenizer, BertForSequenceClassification, DataCollatorWithPadding

    from helpers import POSITIVE
    from harness.train.scoring import latency

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = BertForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    rows = Dataset.from_dict(dict(tokenizer(POSITIVE * 30)))  # 360 rows
    timed = latency(model, rows, DataCollatorWithPadding(tokenizer), "fp32", "test CPU", budget_s=600)
    assert timed["examples"] == 200 and timed["warmup"] == 5 and 0 < timed["median_ms"] <= timed["p95_ms"]
    assert latency(model, rows.select(range(7)), DataCollatorWithPadding(tokenizer), "fp32", "cpu")["examples"] == 7
    assert latency(model, rows.select([]), DataCollatorWithPadding(tokenizer), "fp32", "cpu") is None
