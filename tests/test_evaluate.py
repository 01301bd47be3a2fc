"""Evaluating checkpoints as published (`init: finetuned`, `harness evaluate`): label alignment,
refusals at planning, exact reproduction of a saved run's predictions, latency, and the CI gate."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import harness_args
from harness.cli.main import main


def _run(env, *rest) -> int:
    return main(harness_args(env, "run", "--tasks", env["task"], "--data-dir", str(env["data"]), *rest))


def _evaluate(env, source, *rest) -> int:
    return main(harness_args(env, "evaluate", str(source), "--data-dir", str(env["data"]), *rest))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    """A toy task trained once with --save-model: the run's record and its saved checkpoint."""
    from helpers import write_generic_task, write_models_file

    root = tmp_path_factory.mktemp("trained")
    env = {"data": root / "data", "tasks": root / "tasks", "results": root / "results"}
    env["task"] = write_generic_task(env["data"], env["tasks"])
    env["models"] = write_models_file(root / "models.yaml", [{"name": "tiny", "source": str(tiny_model_dir)}])
    assert _run(env, "--models", "tiny", "--seeds", "1", "--save-model", "--no-plots", "--no-leaderboard",
                "--results", str(env["results"])) == 0
    folder = env["results"] / env["task"] / "tiny"
    return env, json.loads((folder / "seed-0.json").read_text()), folder / "model-seed-0"


def test_saved_checkpoint_evaluated_again_gives_identical_test_predictions(trained, tmp_path):
    env, record, checkpoint = trained
    results = tmp_path / "eval"
    assert _evaluate(env, checkpoint, "--tasks", env["task"], "--results", str(results), "--no-plots") == 0
    name = "tiny-toy-sentiment-seed-0"
    evaluated = json.loads((results / env["task"] / name / "seed-0.json").read_text())
    assert evaluated["kind"] == "evaluation" and evaluated.get("training") is None
    assert json.dumps(evaluated["predictions"]["test"]) == json.dumps(record["predictions"]["test"])
    assert evaluated["references"] == record["references"]
    assert evaluated["alignment"]["map"] == {"negative": "negative", "positive": "positive"}
    assert set(evaluated["alignment"]["by"].values()) == {"name"}
    latency = evaluated["throughput"]["latency"]
    assert latency["median_ms"] > 0 and latency["p95_ms"] >= latency["median_ms"]
    assert latency["examples"] == 16 and latency["batch_size"] == 1 and latency["device"] and latency["precision"]
    assert record["throughput"]["latency"]["median_ms"] > 0  # a fine-tuned cell measures it too
