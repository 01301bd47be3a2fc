"""--report-to: trackers checked before any training (one-line error), passed to the Trainer
with one run per cell named <task>/<model>/seed-<k>, TensorBoard under the cell folder."""
from __future__ import annotations

import json

import pytest

from conftest import harness_args
from harness.train import trackers
from harness.cli.main import main
from harness.errors import HarnessError
from harness.records.store import record_path


def run(env, *extra):
    return main(harness_args(env, "run", "--tasks", env["task"], "--models", "tiny", "--seeds", "1",
                             "--data-dir", str(env["data"]), "--results", str(env["results"]),
                             "--no-leaderboard", "--no-plots", *extra))


def test_check_trackers(monkeypatch):
    monkeypatch.setattr(trackers, "find_spec", lambda module: object())
    assert trackers.check_trackers(["wandb", "mlflow", "wandb"]) == ["wandb", "mlflow"]
    assert trackers.check_trackers(["none"]) == [] and trackers.check_trackers([]) == []
    with pytest.raises(HarnessError, match="cannot be combined"):
        trackers.check_trackers(["none", "wandb"])
    with pytest.raises(HarnessError, match="not a tracker"):
        trackers.check_trackers(["comet"])
    monkeypatch.setattr(trackers, "find_spec", lambda module: None)
    with pytest.raises(HarnessError, match="needs the mlflow package: pip install mlflow"):
        trackers.check_trackers(["mlflow"])


def test_trainer_settings():
    assert trackers.run_name("sst2", "camembert-base", 2) == "sst2/camembert-base/seed-2"
    assert trackers.trainer_report_to(["tensorboard"]) == "none"  # attached as a callback instead
    assert trackers.trainer_report_to(["tensorboard", "wandb", "trackio"]) == ["wandb", "trackio"]


def test_missing_tracker_library_fails_before_training(toy_env, capsys, monkeypatch):
    monkeypatch.setattr(trackers, "find_spec", lambda module: None if module == "wandb" else object())
    assert run(toy_env, "--report-to", "wandb") == 2
    err = capsys.readouterr().err
    assert err == "harness: error: --report-to wandb needs the wandb package: pip install wandb\n"
    assert not toy_env["results"].exists()  # nothing trained, nothing written


def test_report_to_tensorboard_logs_the_cell_under_its_folder(toy_env, monkeypatch):
    seen = {}
    from harness.train import trainer as train  # where the Trainer's arguments are made

    original = train._training_args

    def spy(run_, *args, **kwargs):
        out = original(run_, *args, **kwargs)
        seen.update(report_to=out.report_to, run_name=out.run_name)
        return out

    monkeypatch.setattr(train, "_training_args", spy)
    assert run(toy_env, "--report-to", "tensorboard") == 0
    cell = record_path(toy_env["results"], toy_env["task"], "tiny", 0).parent
    assert list((cell / "tensorboard" / "seed-0").glob("events.out.tfevents.*"))
    assert seen == {"report_to": [], "run_name": f"{toy_env['task']}/tiny/seed-0"}  # Trainer's own: none
    record = json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 0).read_text())
    assert record["config"]["options"]["report_to"] == ["tensorboard"]
