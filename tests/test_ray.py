"""The Ray executor on a real local Ray instance (2 CPUs): cells run two at a time, each on one
device, and write the same records as the local executor."""
import json
from datetime import datetime

import pytest

from conftest import harness_args
from harness.cli.main import main
from harness.records.store import record_path

ray = pytest.importorskip("ray", reason="the Ray executor needs the 'ray' extra")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def grid(env, results, *extra):
    return main(harness_args(env, "run", "--tasks", env["task"], "--models", "tiny,tiny-scratch", "--seed-list", "0,1",
                             "--data-dir", str(env["data"]), "--results", str(results), "--no-plots",
                             "--precision", "fp32", "--cpus-per-cell", "1", *extra))


def test_ray_runs_two_cells_at_a_time_with_the_local_executors_results(toy_env, local_ray, capsys):
    local, distributed = toy_env["results"] / "local", toy_env["results"] / "ray"
    assert grid(toy_env, local, "--no-leaderboard") == 0
    assert grid(toy_env, distributed, "--executor", "ray") == 0
    out = capsys.readouterr().out
    assert "up to 2 at a time" in out and "[4/4]" in out
    spans, pids = [], set()
    for model in ("tiny", "tiny-scratch"):
        for seed in (0, 1):
            a = json.loads(record_path(local, toy_env["task"], model, seed).read_text())
            b = json.loads(record_path(distributed, toy_env["task"], model, seed).read_text())
            assert b["status"] == "completed" and b["provenance"]["executor"] == "ray"
            assert b["provenance"]["ray_node_id"] and b["provenance"]["device_type"] == "cpu"
            assert b["predictions"] == a["predictions"]
            assert b["metrics"]["test"]["accuracy"] == a["metrics"]["test"]["accuracy"]
            assert b["metrics"]["validation"] == a["metrics"]["validation"]
            assert b["config_hash"] == a["config_hash"]
            pids.add(b["provenance"]["pid"])
            spans.append([datetime.fromisoformat(b["provenance"][k]).timestamp() for k in ("started_at", "finished_at")])
    # two workers, and at some moment two cells were training at once (never more: 2 CPUs, 1 each)
    assert len(pids) >= 2
    most = max(sum(start <= t < end for start, end in spans) for t, _ in spans)
    assert most == 2
    assert (distributed / "LEADERBOARD.md").is_file()
    # a rerun skips every cell, as with the local executor
    assert grid(toy_env, distributed, "--executor", "ray") == 0
    assert "0 cell(s) trained, 4 skipped" in capsys.readouterr().out


def test_ray_asks_for_more_than_the_cluster_has(toy_env, local_ray, capsys):
    assert grid(toy_env, toy_env["results"], "--executor", "ray", "--gpus-per-cell", "1") == 2
    assert "lower --gpus-per-cell" in capsys.readouterr().err


def test_ray_retries_a_cell_whose_worker_was_killed(toy_env, local_ray, capsys):
    """kill -9 of the worker training a cell: Ray runs the task again, the new worker takes over the
    dead worker's claim and the cell completes; no work folder or claim is left."""
    import os
    import signal
    import threading
    import time

    results = toy_env["results"]
    cell = record_path(results, toy_env["task"], "tiny", 0).parent
    codes = []
    runner = threading.Thread(target=lambda: codes.append(main(harness_args(
        toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny", "--seed-list", "0", "--data-dir",
        str(toy_env["data"]), "--results", str(results), "--no-plots", "--no-leaderboard", "--precision", "fp32",
        "--cpus-per-cell", "1", "--set", "max_epochs=6", "--executor", "ray"))))
    runner.start()
    claim = cell / "seed-0.claim"
    deadline = time.monotonic() + 300
    while not (cell / ".work-seed-0").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = json.loads(claim.read_text())["pid"]
    os.kill(killed, signal.SIGKILL)
    runner.join(timeout=600)
    assert codes == [0]
    record = json.loads((cell / "seed-0.json").read_text())
    assert record["status"] == "completed"
    assert record["provenance"]["claim_taken_over_from"]["pid"] == killed != record["provenance"]["pid"]
    assert not list(results.rglob(".work-*")) and not list(results.rglob("*.claim"))


def _worker_lost():
    import os

    os._exit(1)  # the worker process dies, as on kill -9 or a lost node


def test_a_ray_cell_lost_past_its_retries_keeps_the_earlier_record_under_superseded(toy_env, local_ray):
    """The Ray path writes a lost cell's failed record through the one writer: the record it
    replaces (here a completed one of another config) is kept under superseded/, not overwritten."""
    import harness
    from harness.execution.progress import GridProgress
    from harness.execution.ray_executor import CELL_RETRIES, _collect

    results = toy_env["results"]
    options = dict(tasks_dir=[str(toy_env["tasks"])], models_file=str(toy_env["models"]), tasks=[toy_env["task"]],
                   models=["tiny"], seed_list="0", data_dir=str(toy_env["data"]), results=str(results),
                   precision="fp32", plots=False, leaderboard=False)
    assert harness.run(log=lambda _: None, **options).failed == []
    path = record_path(results, toy_env["task"], "tiny", 0)
    earlier = json.loads(path.read_text())
    plan = harness.plan(**options, overrides={"learning_rate": 0.002}, executor="ray")
    [cell] = plan.to_run()
    lost = ray.remote(_worker_lost).options(max_retries=CELL_RETRIES, retry_exceptions=False).remote()
    outcomes, lines = [], []
    _collect(ray, {lost: cell}, plan, GridProgress(1, 1, lines.append), outcomes)
    assert [o.status for o in outcomes] == ["failed"]
    failed = json.loads(path.read_text())
    assert failed["status"] == "failed" and failed["config_hash"] == cell.config_hash != earlier["config_hash"]
    assert json.loads((path.parent / "superseded" / f"seed-0.{earlier['config_hash']}.json").read_text()) == earlier
