"""End-to-end runner tests on a tiny BERT built in the test session and a toy task."""
import json
import math
import re
import socket
from pathlib import Path

import pytest
import yaml
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, matthews_corrcoef

from conftest import harness_args
from harness.cli.main import main
from harness.records.store import record_path

REQUIRED = [
    "schema_version", "task", "model", "seed", "status", "labels", "config", "config_hash", "provenance",
    "metrics.validation.accuracy", "metrics.validation.macro_f1", "metrics.test.accuracy", "metrics.test.macro_f1",
    "metrics.test.per_class", "metrics.test.confusion_matrix", "predictions.test", "references.test",
    "throughput.train_samples_per_s", "throughput.train_tokens_per_s", "throughput.eval_samples_per_s",
    "throughput.eval_tokens_per_s", "throughput.train_seconds", "throughput.eval_seconds",
    "throughput.peak_memory_mb", "throughput.mfu", "training.epochs", "training.steps", "training.best_step",
    "training.stopped_early", "training.history",
    "provenance.harness", "provenance.git_commit", "provenance.python", "provenance.torch",
    "provenance.transformers", "provenance.datasets", "provenance.device", "provenance.precision",
    "provenance.model_source", "provenance.model_content_hash", "provenance.data_fingerprint",
    "provenance.test_fingerprint",
]


def dig(record, dotted):
    value = record
    for part in dotted.split("."):
        assert isinstance(value, dict) and part in value, f"missing key {dotted}"
        value = value[part]
    return value


def run(env, *extra, capsys=None):
    code = main(harness_args(env, "run", "--tasks", env["task"], "--data-dir", str(env["data"]),
                             "--results", str(env["results"]), "--no-leaderboard", *extra))
    return code


def test_record_has_every_key_and_metrics_match_sklearn(toy_env, capsys):
    assert run(toy_env, "--models", "tiny", "--seeds", "1") == 0
    record = json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 0).read_text())
    for key in REQUIRED:
        dig(record, key)
    assert record["status"] == "completed"
    refs, preds = record["references"]["test"], record["predictions"]["test"]
    assert len(refs) == 16 and len(preds) == 16
    assert record["metrics"]["test"]["accuracy"] == pytest.approx(accuracy_score(refs, preds))
    assert record["metrics"]["test"]["macro_f1"] == pytest.approx(f1_score(refs, preds, average="macro"))
    assert record["metrics"]["test"]["mcc"] == pytest.approx(matthews_corrcoef(refs, preds))
    val_refs, val_preds = record["references"]["validation"], record["predictions"]["validation"]
    assert record["metrics"]["validation"]["mcc"] == pytest.approx(matthews_corrcoef(val_refs, val_preds))
    assert record["metrics"]["test"]["confusion_matrix"] == confusion_matrix(refs, preds, labels=[0, 1]).tolist()
    assert set(record["metrics"]["test"]["per_class"]) == {"negative", "positive"}
    assert record["labels"] == ["negative", "positive"]
    history = record["training"]["history"]
    assert [h["epoch"] for h in history] == [1.0, 2.0]
    assert all({"step", "epoch", "train_loss", "validation_loss", "validation_accuracy", "validation_macro_f1",
                "validation_mcc"} <= set(h) for h in history)
    assert all(h["train_loss"] is not None for h in history)
    # 12 optimizer steps, fewer than 25: the training loss is logged at every step, not once per epoch
    assert [p["step"] for p in record["training"]["loss_curve"]] == list(range(1, 13))
    out = capsys.readouterr().out  # the end-of-cell line in percent, as every other output
    assert re.search(r"test accuracy \d+\.\d\d%, macro-F1 \d+\.\d\d%", out), out
    throughput = record["throughput"]
    assert throughput["train_samples_per_s"] > 0 and throughput["eval_samples_per_s"] > 0
    # 48 training rows x 2 epochs, every sample counted once per epoch
    assert throughput["train_samples"] == 96
    assert throughput["train_real_tokens"] <= throughput["train_padded_tokens"]
    assert 0 < throughput["mfu"] < 1
    assert record["config"]["recipe"]["batch_size"] == 8  # from the task's training budget
    assert record["config"]["model"]["weights"] == "safetensors"  # which weight format was loaded
    assert "macro" in record["metrics"]["macro_f1_definition"]


def test_rerun_skips_and_force_reruns(toy_env, capsys):
    assert run(toy_env, "--models", "tiny", "--seeds", "1") == 0
    path = record_path(toy_env["results"], toy_env["task"], "tiny", 0)
    first = json.loads(path.read_text())
    capsys.readouterr()
    assert run(toy_env, "--models", "tiny", "--seeds", "1") == 0
    out = capsys.readouterr().out
    assert "skip" in out and "0 cell(s) trained, 1 skipped" in out
    assert json.loads(path.read_text())["provenance"]["started_at"] == first["provenance"]["started_at"]
    # a changed hyperparameter changes the config hash: the cell is retrained
    assert run(toy_env, "--models", "tiny", "--seeds", "1", "--set", "learning_rate=0.002") == 0
    changed = json.loads(path.read_text())
    assert changed["config_hash"] != first["config_hash"]
    assert "1 cell(s) trained" in capsys.readouterr().out
    assert run(toy_env, "--models", "tiny", "--seeds", "1", "--set", "learning_rate=0.002", "--force") == 0
    assert "1 cell(s) trained" in capsys.readouterr().out


def test_broken_model_gives_failed_record_and_nonzero_exit(toy_env, tmp_path, capsys):
    spec = yaml.safe_load(toy_env["models"].read_text())
    spec["models"].append({"name": "broken", "source": str(tmp_path / "no-such-model")})
    toy_env["models"].write_text(yaml.safe_dump(spec))
    code = run(toy_env, "--models", "broken,tiny", "--seeds", "1")
    assert code == 1
    failed = json.loads(record_path(toy_env["results"], toy_env["task"], "broken", 0).read_text())
    assert failed["status"] == "failed" and "no-such-model" in failed["error"]
    assert "metrics" not in failed
    # the grid went on after the failure
    assert json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 0).read_text())["status"] == "completed"
    assert "failed: " in capsys.readouterr().out


def test_early_stopping_when_validation_stops_improving(toy_env):
    # a learning rate too small to change any prediction: validation accuracy never improves
    code = run(toy_env, "--models", "tiny", "--seeds", "1", "--set", "learning_rate=1e-12",
               "--set", "max_epochs=10", "--set", "patience=2")
    assert code == 0
    record = json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 0).read_text())
    training = record["training"]
    assert training["stopped_early"] is True
    assert len(training["history"]) == 3  # the best evaluation, then 2 without improvement
    assert training["epochs"] == pytest.approx(3.0)
    assert training["best_step"] == training["history"][0]["step"]


def test_scratch_init_differs_from_pretrained(tiny_model_dir):
    from harness.train.model import build_model
    from harness.spec.model import ModelSpec

    labels = ["a", "b"]
    pretrained = build_model(ModelSpec(name="p", source=str(tiny_model_dir)), labels, seed=0)
    again = build_model(ModelSpec(name="p", source=str(tiny_model_dir)), labels, seed=1)
    scratch = build_model(ModelSpec(name="s", source=str(tiny_model_dir), init="scratch"), labels, seed=0)
    key = "bert.encoder.layer.0.attention.self.query.weight"
    p, a, s = pretrained.state_dict()[key], again.state_dict()[key], scratch.state_dict()[key]
    assert (p == a).all()  # the seed changes the head, not the pretrained body
    assert not (p == s).all()
    assert pretrained.config.id2label == {0: "a", 1: "b"}
    head_p, head_a = pretrained.classifier.weight, again.classifier.weight
    assert not (head_p == head_a).all()


def test_offline_run_never_touches_the_network(toy_env, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert run(toy_env, "--models", "tiny,tiny-scratch", "--seeds", "1") == 0


def test_max_samples_and_save_model(toy_env):
    assert run(toy_env, "--models", "tiny", "--seeds", "1", "--max-train-samples", "20",
               "--max-eval-samples", "10", "--save-model") == 0
    record = json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 0).read_text())
    assert record["training"]["train_rows"] == 20
    assert len(record["predictions"]["test"]) == 10
    saved = Path(record["saved_model"])
    assert (saved / "config.json").is_file() and (saved / "model.safetensors").is_file()
    meta = json.loads((saved / "harness.json").read_text())
    assert meta["labels"] == ["negative", "positive"] and meta["text_columns"] == ["sentence"]
    # only the saved model remains: no temporary checkpoints left behind
    leftovers = [p.name for p in saved.parent.iterdir() if p.name.startswith("trainer-")]
    assert leftovers == []


def test_nan_loss_retries_in_fp32_then_fails(toy_env, capsys):
    code = run(toy_env, "--models", "tiny", "--seeds", "1", "--precision", "bf16",
               "--set", "learning_rate=1e30", "--set", "max_grad_norm=1e30", "--set", "warmup_ratio=0")
    record = json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 0).read_text())
    assert code == 1
    assert record["status"] == "failed"
    assert "NaNLossError" in record["error"] and "nan" in record["error"].lower()
    assert any("retried in fp32" in f for f in record["fallbacks"])


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"name": "m", "source": "x", "intt": "scratch"}, "field 'intt': unknown field (did you mean 'init'?)"),
        ({"name": "m"}, "field 'source': required field is missing"),
        ({"name": "m", "source": "x", "init": "random"}, "field 'init'"),
        ({"name": "m", "source": "x", "training": {"learning_rat": 1}}, "did you mean 'learning_rate'"),
    ],
)
def test_models_file_validation_names_entry_and_field(tmp_path, capsys, entry, message):
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"models": [entry]}))
    assert main(["--models-file", str(path), "models"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "model 'm'" in err and message in err


def test_shipped_models_file_lists_the_required_models(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ["camembert-base", "xlm-roberta-base", "distilbert-multilingual", "distilbert-base-uncased",
                 "camembert-base-scratch", "minilm-l6", "minilm-l6-scratch"]:
        assert any(line.startswith(f"{name} ") for line in out.splitlines()), name


def test_unknown_model_and_bad_set_are_usage_errors(toy_env, capsys):
    assert run(toy_env, "--models", "tinny") == 2
    assert "did you mean 'tiny'" in capsys.readouterr().err
    assert run(toy_env, "--models", "tiny", "--set", "learnin_rate=1") == 2
    assert "learning_rate" in capsys.readouterr().err


def test_tensorboard_logs_and_plots_under_the_cell_folder(toy_env):
    assert run(toy_env, "--models", "tiny", "--seeds", "1", "--tensorboard") == 0
    cell = record_path(toy_env["results"], toy_env["task"], "tiny", 0).parent
    events = list((cell / "tensorboard" / "seed-0").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    for name in ("seed-0-confusion_matrix.png", "seed-0-curves.png"):
        assert (cell / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saved_model_predicts_with_harness_predict(toy_env, capsys):
    assert run(toy_env, "--models", "tiny", "--seeds", "1", "--save-model", "--no-plots") == 0
    saved = record_path(toy_env["results"], toy_env["task"], "tiny", 0).parent / "model-seed-0"
    capsys.readouterr()
    assert main(["predict", str(saved), "the soup was warm and tasty", "--json", "--top-k", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    text = json.dumps(out)
    assert "negative" in text and "positive" in text


def test_run_writes_leaderboard_at_the_end(toy_env, capsys):
    code = main(harness_args(toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny,tiny-scratch",
                             "--seeds", "2", "--data-dir", str(toy_env["data"]), "--results", str(toy_env["results"]),
                             "--no-plots"))
    assert code == 0
    board = (toy_env["results"] / "LEADERBOARD.md").read_text()
    assert "tiny-scratch" in board and toy_env["task"] in board
    assert (toy_env["results"] / "LEADERBOARD.csv").is_file() and (toy_env["results"] / "LEADERBOARD.json").is_file()
    record = json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 1).read_text())
    ci = record["metrics"]["test"]["bootstrap"]
    assert ci["resamples"] >= 1000
    assert ci["accuracy"]["low"] <= record["metrics"]["test"]["accuracy"] <= ci["accuracy"]["high"]


def _model_that_fits(monkeypatch, train_rows: int, eval_rows: int):
    """Make every pretrained model a cell builds (through harness.train.model.CLASSIFIERS, the way a
    cell builds its classifier) raise a CUDA-style out-of-memory error on a batch of more than
    `train_rows` rows in training or `eval_rows` rows in inference, as a GPU would."""
    import torch

    from harness.train.model import CLASSIFIERS

    real_build = CLASSIFIERS["pretrained"]
    seen = {"train": set(), "eval": set()}

    def too_big(module, args, kwargs):
        rows = kwargs["input_ids"].shape[0]
        mode = "train" if module.training else "eval"
        seen[mode].add(rows)
        if rows > (train_rows if module.training else eval_rows):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    def build(*args, **kwargs):
        model = real_build(*args, **kwargs)
        model.register_forward_pre_hook(too_big, with_kwargs=True)
        return model

    monkeypatch.setitem(CLASSIFIERS, "pretrained", build)
    return seen


def test_out_of_memory_halves_the_batches_and_is_recorded(toy_env, monkeypatch):
    seen = _model_that_fits(monkeypatch, train_rows=2, eval_rows=8)
    assert run(toy_env, "--models", "tiny", "--seeds", "1", "--set", "eval_batch_size=64") == 0
    record = json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 0).read_text())
    assert record["status"] == "completed"
    throughput = record["throughput"]
    # training: 8 -> 4 -> 2 rows per device, accumulation x4, so the optimizer steps stay the same
    assert throughput["batch_size"] == 2 and throughput["gradient_accumulation_steps"] == 4
    assert record["training"]["steps"] == 12  # 48 rows / 8 per optimizer step x 2 epochs
    assert throughput["train_samples"] == 96
    # scoring: 64 -> 32 -> 16 -> 8 rows
    assert throughput["eval_batch_size"] == 8
    assert max(seen["eval"]) == 16 and max(seen["train"]) == 8  # the first tries were real (16 = a whole split)
    assert "out of memory while training: batch 8 -> 2 per device, gradient accumulation x4" in record["fallbacks"]
    assert "out of memory while scoring: eval batch 64 -> 8" in record["fallbacks"]
    assert len(record["predictions"]["test"]) == 16


def test_out_of_memory_past_the_retry_bound_fails_the_cell(toy_env, monkeypatch, capsys):
    _model_that_fits(monkeypatch, train_rows=8, eval_rows=1)
    code = run(toy_env, "--models", "tiny", "--seeds", "1", "--set", "eval_batch_size=64", "--set", "oom_retries=2")
    record = json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 0).read_text())
    assert code == 1 and record["status"] == "failed"
    assert "out of memory while scoring even at batch size 16 (2 halvings from 64)" in record["error"]


def test_other_training_data_keeps_the_test_fingerprint_and_compares(toy_env, capsys):
    assert run(toy_env, "--models", "tiny", "--seeds", "1") == 0
    first = json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 0).read_text())
    train = toy_env["data"] / toy_env["task"] / "train.jsonl"
    train.write_text("".join(train.read_text().splitlines(keepends=True)[:40]))  # less training data
    other = toy_env["results"].parent / "results-less-data"
    assert main(harness_args(toy_env, "run", "--tasks", toy_env["task"], "--data-dir", str(toy_env["data"]),
                             "--results", str(other), "--no-leaderboard", "--models", "tiny", "--seeds", "1")) == 0
    second = json.loads(record_path(other, toy_env["task"], "tiny", 0).read_text())
    assert second["provenance"]["data_fingerprint"] != first["provenance"]["data_fingerprint"]
    assert second["provenance"]["test_fingerprint"] == first["provenance"]["test_fingerprint"]
    capsys.readouterr()
    code = main(["compare", str(other), "--baseline", str(toy_env["results"])])
    out = capsys.readouterr().out
    assert code in (0, 1) and "same test set, but the training or validation data differ" in out
    # scoring a different subset of the test split is a different test set
    assert run(toy_env, "--models", "tiny", "--seeds", "1", "--max-eval-samples", "8") == 0
    third = json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 0).read_text())
    assert third["provenance"]["test_fingerprint"] != first["provenance"]["test_fingerprint"]


def test_validation_curve_has_about_20_points_and_changes_no_score_or_selection(toy_env):
    """The curve's extra validation passes (recipe curve_points, default 20) only look: the same
    config hash, selected step, early-stopping step, history and every score as with the curve off."""
    results = toy_env["results"]
    common = ("--models", "tiny", "--seeds", "1", "--precision", "fp32", "--no-plots", "--set", "max_epochs=8",
              "--set", "patience=3", "--set", "batch_size=8", "--set", "learning_rate=2e-3")
    toy_env["results"] = results / "off"
    assert run(toy_env, *common, "--set", "curve_points=0") == 0
    toy_env["results"] = results / "on"
    assert run(toy_env, *common) == 0
    off, on = (json.loads(record_path(results / name, toy_env["task"], "tiny", 0).read_text()) for name in ("off", "on"))
    assert on["config_hash"] == off["config_hash"]  # curve_points is never hashed: a default run stays current
    for key in ("metrics", "predictions"):
        assert on[key] == off[key]
    same = ("steps", "best_step", "restored_step", "stopped_early", "stopped_at_step", "history", "best_validation_value")
    assert {k: on["training"][k] for k in same} == {k: off["training"][k] for k in same}
    assert off["training"]["validation_curve"] is None
    training, curve = on["training"], on["training"]["validation_curve"]
    every = max(1, 8 * math.ceil(training["train_rows"] / 8) // 20)  # the budget's steps / 20
    selected = {h["step"]: h["validation_accuracy"] for h in training["history"]}
    assert [p["step"] for p in curve] == sorted(set(range(every, training["steps"] + 1, every)) | set(selected))
    assert {p["step"]: p["validation_accuracy"] for p in curve if p["selection"]} == selected
    assert all(0 <= p["validation_accuracy"] <= 1 and p["validation_loss"] > 0 for p in curve)
    if not training["stopped_early"]:  # the whole budget ran: about 20 points, not one per epoch
        assert len(curve) >= 20 > 2 * len(selected)
