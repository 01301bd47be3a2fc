"""The plan: statuses against a results folder, every usage error before anything runs, the
Python API, and one device per cell on a machine that shows several GPUs."""
import json

import pytest

from conftest import harness_args
from harness.cli.main import main
from harness.records.store import record_path


def run_args(env, *extra):
    return harness_args(env, "run", "--tasks", env["task"], "--data-dir", str(env["data"]),
                        "--results", str(env["results"]), "--no-leaderboard", "--no-plots", *extra)


def snapshot(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else None


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "learning_rate=abc"], "learning_rate"),
        (["--set", "max_epochs=-1"], "max_epochs"),
        (["--max-train-samples", "0"], "max_train_samples"),
        (["--set", "optim=adamw_magic"], "unknown optim 'adamw_magic'"),
        (["--seed-list=-1"], "negative"),
        (["--seed-list", ""], "--seed-list is empty"),
        (["--seed-list", "0,0"], "seed 0 is given twice"),
        (["--seed-list", "0,x"], "not a whole number"),
        (["--seeds", "0"], "at least 1"),
        (["--precision", "fp16"], "fp16 needs a CUDA GPU"),
        (["--device", "cuda:3"], "no CUDA GPU"),
        (["--executor", "local", "--gpus-per-cell", "1"], "go with --executor ray"),
        (["--cpus-per-cell", "0"], "at least 1"),
    ],
)
def test_bad_run_options_exit_2_before_anything_runs(toy_env, capsys, monkeypatch, extra, message):
    from harness.execution.executors import EXECUTORS

    def no_training(plan, log):  # a fake executor: nothing may reach one
        raise AssertionError("a cell was trained")

    monkeypatch.setitem(EXECUTORS, "local", no_training)
    toy_env["results"].mkdir()
    before = snapshot(toy_env["results"])
    assert main(run_args(toy_env, "--models", "tiny", *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("harness: error:") and message in err
    assert snapshot(toy_env["results"]) == before == []


@pytest.mark.parametrize("kind", ["file", "inside-a-file", "unwritable"])
def test_results_path_that_cannot_be_written_is_a_usage_error(toy_env, tmp_path, capsys, kind):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = {"file": blocker, "inside-a-file": blocker / "results", "unwritable": "/proc/harness-results"}[kind]
    args = harness_args(toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny", "--data-dir",
                        str(toy_env["data"]), "--results", str(target))
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--results" in err
    assert blocker.read_text() == "not a folder"


def test_plan_statuses_dry_run_and_api(toy_env, capsys):
    import harness

    assert main(run_args(toy_env, "--models", "tiny", "--seeds", "1")) == 0
    first = record_path(toy_env["results"], toy_env["task"], "tiny", 0)
    capsys.readouterr()
    before = {p: p.read_bytes() for p in toy_env["results"].rglob("*") if p.is_file()}

    # the CLI's dry run and the Python API give the same plan, and write nothing
    assert main(run_args(toy_env, "--models", "tiny,tiny-scratch", "--seed-list", "0,1", "--dry-run",
                         "--format", "json")) == 0
    shown = json.loads(capsys.readouterr().out)
    statuses = {(c["model"], c["seed"]): c["status"] for c in shown["cells"]}
    assert statuses == {("tiny", 0): "done", ("tiny", 1): "todo", ("tiny-scratch", 0): "todo",
                        ("tiny-scratch", 1): "todo"}
    options = dict(tasks=[toy_env["task"]], models=["tiny", "tiny-scratch"], seed_list=[0, 1],
                   data_dir=str(toy_env["data"]), results=toy_env["results"], tasks_dir=[str(toy_env["tasks"])],
                   models_file=str(toy_env["models"]), plots=False, leaderboard=False)
    plan = harness.plan(**options)
    assert {(c.model.name, c.seed): c.status for c in plan.cells} == statuses
    assert [c.config_hash for c in plan.cells] == [c["config_hash"] for c in shown["cells"]]
    assert {p: p.read_bytes() for p in toy_env["results"].rglob("*") if p.is_file()} == before

    # another recipe: the record is stale; a failed record says failed; garbage is stale
    assert harness.plan(**{**options, "overrides": {"learning_rate": 0.002}}).cells[0].status == "stale"
    record = json.loads(first.read_text())
    first.write_text(json.dumps({**record, "status": "failed", "error": "boom"}))
    assert harness.plan(**options).cells[0].status == "failed"
    first.write_bytes(b"\x00\x9f garbage")
    assert harness.plan(**options).cells[0].status == "stale"
    with pytest.raises(harness.errors.HarnessError, match="did you mean 'seeds'"):
        harness.plan(**{**options, "sedes": 2})

    # running the plan retrains the unreadable cell and keeps the bad file aside
    result = harness.run(**{**options, "models": ["tiny"], "seed_list": [0]}, log=lambda m: None)
    assert [o.status for o in result.outcomes] == ["completed"]
    kept = list(first.parent.glob("seed-0.json.unreadable-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == b"\x00\x9f garbage"
    assert json.loads(first.read_text())["status"] == "completed"


def test_several_visible_gpus_train_on_one(toy_env, monkeypatch, capsys):
    """A machine that shows 4 CUDA devices: the Trainer would wrap the model in nn.DataParallel and
    train at 4 x the batch; the harness trains each cell on one device and records it."""
    import torch
    from transformers import TrainingArguments

    from harness.device import DeviceChoice, one_device_training_arguments
    from harness.execution.executors import PROBES

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("ACCELERATE_TORCH_DEVICE", "cpu")
    plain = TrainingArguments(output_dir=str(toy_env["results"] / "x"), use_cpu=False, per_device_train_batch_size=8,
                              report_to="none")
    assert plain.n_gpu == 4 and plain.train_batch_size == 32  # the hazard, as transformers has it
    simulated = DeviceChoice("cuda", 0, "Simulated GPU", 4)
    ours = one_device_training_arguments(simulated, output_dir=str(toy_env["results"] / "y"),
                                         per_device_train_batch_size=8, report_to="none")
    assert ours.n_gpu == 1 and ours.train_batch_size == 8

    # the executor registry's probe says where a cell trains (as Ray's does for its workers): here, the simulated GPU
    monkeypatch.setitem(PROBES, "local", lambda execution: (simulated, "fp32", "simulated 4-GPU machine"))
    assert main(run_args(toy_env, "--models", "tiny", "--seeds", "1", "--precision", "fp32")) == 0
    record = json.loads(record_path(toy_env["results"], toy_env["task"], "tiny", 0).read_text())
    provenance, throughput = record["provenance"], record["throughput"]
    assert provenance["visible_gpus"] == 4 and provenance["device_index"] == 0
    assert provenance["executor"] == "local" and provenance["host"]
    assert throughput["batch_size"] == 8 and throughput["optimizer_batch_size"] == 8
    assert record["training"]["steps"] == 12  # 48 rows / batch 8 x 2 epochs; with DataParallel x4 it would be 4


def test_one_rule_judges_a_record_against_a_cells_config_hash(tmp_path):
    """planning.status: current only when completed with this config hash; a failure of this very
    config is a failed trial seed for search, a failure of another config is not."""
    from helpers import make_record, write_results

    from harness.planning.status import CellStatus, RecordState, cell_status, record_verdict

    labels = ["negative", "positive"]
    done = make_record("toy", "m", 0, [0, 1], [0, 1], labels, config_hash="h-done")
    failed = make_record("toy", "m", 1, [], [], labels, status="failed", config_hash="h-failed")
    root = write_results(tmp_path / "results", [done, failed])
    garbled = record_path(root, "toy", "m", 2)
    garbled.write_text("{not json")
    verdict = record_verdict(record_path(root, "toy", "m", 0), "h-done")
    assert verdict.state is RecordState.CURRENT and verdict.record.test.accuracy == 1.0
    assert cell_status(verdict, claimed_live=True) is CellStatus.DONE  # a current record: a claim does not matter
    stale = record_verdict(record_path(root, "toy", "m", 0), "h-other")
    assert stale.state is RecordState.STALE and cell_status(stale, claimed_live=False) is CellStatus.STALE
    assert cell_status(stale, claimed_live=True) is CellStatus.RUNNING
    lost = record_verdict(record_path(root, "toy", "m", 1), "h-failed")
    assert lost.state is RecordState.FAILED and lost.failed_here("h-failed") and not lost.failed_here("h-new")
    unreadable = record_verdict(garbled, "h")
    assert unreadable.state is RecordState.UNREADABLE and "line 1: not valid JSON" in unreadable.reason
    assert cell_status(unreadable, claimed_live=False) is CellStatus.STALE
    missing = record_verdict(record_path(root, "toy", "m", 3), "h")
    assert missing.state is RecordState.MISSING and cell_status(missing, claimed_live=False) is CellStatus.TODO


def test_a_new_executor_is_one_entry_in_the_registry(toy_env, monkeypatch):
    """An executor is a function(plan, log) -> outcomes in harness.execution.executors.EXECUTORS:
    the plan accepts its name and runs through it, with no other edit."""
    import harness
    from harness.execution.execute import CellOutcome, OutcomeStatus
    from harness.execution.executors import EXECUTORS

    ran = []

    def elsewhere(plan, log):
        ran.extend(cell.label for cell in plan.to_run())
        return [CellOutcome(c.task.name, c.model.name, c.seed, OutcomeStatus.SKIPPED, c.path) for c in plan.to_run()]

    monkeypatch.setitem(EXECUTORS, "elsewhere", elsewhere)
    result = harness.run(log=lambda _: None, tasks_dir=[str(toy_env["tasks"])], models_file=str(toy_env["models"]),
                         tasks=[toy_env["task"]], models=["tiny"], seed_list="0,1", data_dir=str(toy_env["data"]),
                         results=str(toy_env["results"]), precision="fp32", leaderboard=False, executor="elsewhere")
    assert ran == [f"{toy_env['task']} / tiny / seed 0", f"{toy_env['task']} / tiny / seed 1"]
    assert result.counts() == {"completed": 0, "skipped": 2, "claimed": 0, "failed": 0}
    assert not list(toy_env["results"].rglob("seed-*.json"))  # the fake trained nothing, so nothing was written
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="expected one of local, ray, elsewhere"):
        harness.plan(tasks=[toy_env["task"]], models=["tiny"], executor="nowhere")
