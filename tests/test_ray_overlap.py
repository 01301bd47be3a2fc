"""Under `--executor ray` a cell that needs no pretraining artifact runs DURING the pretraining
task, and the cell that needs the artifact after it: proven by the timestamps the tasks write
into their records, not by wall-clock thresholds. A worker setup hook (tests/ray_hooks.py) keeps
the pretraining task from returning before the other cell's record exists, so on a loaded
machine the overlap cannot depend on which worker happened to start first; and the other cell
trains only once the pretraining holds its claim. A serial executor fails the assertions (the
hooks' waits are bounded), it never hangs."""
import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from conftest import harness_args
from harness.cli.main import main
from harness.records.store import record_path

ray = pytest.importorskip("ray", reason="the Ray executor needs the 'ray' extra")


def _time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_other_cells_run_during_pretraining_and_its_cells_after(toy_env, tmp_path):
    from test_pretrain import artifact_records, pretrain_env

    pretrain_env(toy_env, tmp_path)
    results = toy_env["results"]
    other = record_path(results, toy_env["task"], "tiny", 0)
    tests = str(Path(__file__).parent)
    env = {"PYTHONPATH": os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH")) if p),
           "HARNESS_TEST_OTHER_RECORD": str(other), "HARNESS_TEST_OTHER_MODEL": "tiny", "HARNESS_TEST_RESULTS": str(results)}
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": env, "worker_process_setup_hook": "ray_hooks.pretraining_overlaps_the_other_cell"})
    try:
        code = main(harness_args(toy_env, "run", "--tasks", toy_env["task"], "--models", "tiny,tiny-tapt",
                                 "--seed-list", "0", "--data-dir", str(toy_env["data"]), "--results", str(results),
                                 "--no-plots", "--no-leaderboard", "--precision", "fp32", "--cpus-per-cell", "1",
                                 "--set", "max_epochs=1", "--executor", "ray"))
    finally:
        ray.shutdown()
    assert code == 0
    assert (results / "hook-pretraining-waited").is_file() and (results / "hook-cell-waited").is_file()
    [artifact] = artifact_records(results)
    began, built = _time(artifact["provenance"]["started_at"]), _time(artifact["provenance"]["finished_at"])
    cells = {m: json.loads(record_path(results, toy_env["task"], m, 0).read_text()) for m in ("tiny", "tiny-tapt")}
    start = {m: _time(r["provenance"]["started_at"]) for m, r in cells.items()}
    end = {m: _time(r["provenance"]["finished_at"]) for m, r in cells.items()}
    assert all(r["status"] == "completed" and r["provenance"]["executor"] == "ray" for r in cells.values())
    assert start["tiny"] < built and began < end["tiny"] <= built  # the other cell ran while the artifact was built
    assert start["tiny-tapt"] >= built  # the pretrained spec's cell waited for its artifact (a Ray dependency)
    assert cells["tiny-tapt"]["config"]["model"]["pretrain_artifact"] == artifact["key"]
