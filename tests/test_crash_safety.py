"""Interruptions: kill -9, SIGTERM, two runs on one folder, checkpoints, superseded records.

Each kill happens in a subprocess at a point the test controls (a file appearing in the results
folder, or a patched save); the rerun happens in this process."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from conftest import harness_args
from harness.cli.main import main
from harness.records.store import record_path

ROOT = Path(__file__).resolve().parent.parent
KILL_AT_SECOND_SAVE = """
import os, signal, sys
import harness.train.checkpoint as ckpt
real, saves = ckpt.save_state, []
def save_then_die(*args, **kwargs):
    real(*args, **kwargs)
    saves.append(1)
    if len(saves) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
ckpt.save_state = save_then_die
from harness.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def grid_args(env, results, seeds="0", *extra):
    return harness_args(env, "run", "--tasks", env["task"], "--models", "tiny", "--seed-list", seeds,
                        "--data-dir", str(env["data"]), "--results", str(results), "--no-plots",
                        "--no-leaderboard", "--precision", "fp32", *extra)


def spawn(args, code=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "harness", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(condition, proc=None, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended first:\n{proc.stdout.read()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def leftovers(results):
    return sorted(str(p.relative_to(results)) for p in results.rglob("*")
                  if p.name.startswith((".work-", "trainer-")) or p.suffix == ".claim")


def test_kill_9_then_rerun_trains_only_unfinished_cells(toy_env, capsys):
    results = toy_env["results"]
    cell = record_path(results, toy_env["task"], "tiny", 0).parent
    proc = spawn(grid_args(toy_env, results, "0,1,2", "--set", "max_epochs=3"))
    wait_for(lambda: (cell / "seed-0.json").exists() and (cell / ".work-seed-1").exists(), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    finished = (cell / "seed-0.json").read_bytes()
    assert json.loads(finished)["status"] == "completed"
    assert (cell / "seed-1.claim").exists()  # the dead run's claim
    capsys.readouterr()
    assert main(grid_args(toy_env, results, "0,1,2", "--set", "max_epochs=3")) == 0
    out = capsys.readouterr().out
    assert "2 cell(s) trained, 1 skipped" in out
    assert (cell / "seed-0.json").read_bytes() == finished
    redone = json.loads((cell / "seed-1.json").read_text())
    assert redone["provenance"]["claim_taken_over_from"]["pid"] == proc.pid
    assert leftovers(results) == []
    assert not (cell / "superseded").exists()


def test_two_runs_on_one_folder_train_each_cell_once(toy_env):
    results = toy_env["results"]
    args = grid_args(toy_env, results, "0,1,2,3")
    first, second = spawn(args), spawn(args)
    outs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    trained = sum(int(out.split(" cell(s) trained")[0].split()[-1]) for out in outs)
    assert trained == 4, outs
    cell = record_path(results, toy_env["task"], "tiny", 0).parent
    pids = {json.loads((cell / f"seed-{s}.json").read_text())["provenance"]["pid"] for s in range(4)}
    assert pids <= {first.pid, second.pid}
    assert not (cell / "superseded").exists()  # no record was written twice
    assert leftovers(results) == []


def test_claims_of_live_and_dead_runs(toy_env, capsys):
    import harness

    results = toy_env["results"]
    cell = record_path(results, toy_env["task"], "tiny", 0).parent
    cell.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    host = __import__("socket").gethostname()
    (cell / "seed-0.claim").write_text(json.dumps({"host": host, "pid": dead_pid, "token": "x"}))
    (cell / "seed-1.claim").write_text(json.dumps({"host": host, "pid": os.getpid(), "token": "y"}))
    plan = harness.plan(tasks=[toy_env["task"]], models=["tiny"], seed_list=[0, 1], data_dir=str(toy_env["data"]),
                        results=results, tasks_dir=[str(toy_env["tasks"])], models_file=str(toy_env["models"]))
    assert [c.status for c in plan.cells] == ["todo", "running"]
    assert main(grid_args(toy_env, results, "0,1")) == 0
    out = capsys.readouterr().out
    assert "1 cell(s) trained, 0 skipped (record up to date), 1 claimed by another live run" in out
    taken = json.loads((cell / "seed-0.json").read_text())["provenance"]["claim_taken_over_from"]
    assert taken["pid"] == dead_pid
    assert not (cell / "seed-1.json").exists() and (cell / "seed-1.claim").exists()  # left to its live owner


def test_checkpointed_cell_killed_mid_training_resumes_exactly(toy_env, tmp_path, capsys):
    results = toy_env["results"]
    budget = ["--set", "max_epochs=4", "--set", "patience=null", "--checkpoint"]
    proc = spawn(grid_args(toy_env, results, "0", *budget), code=KILL_AT_SECOND_SAVE)
    proc.wait(timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read()[-3000:]
    cell = record_path(results, toy_env["task"], "tiny", 0).parent
    assert [p.name for p in (cell / ".work-seed-0").glob("checkpoint-*")] == ["checkpoint-12"]
    assert main(grid_args(toy_env, results, "0", *budget)) == 0
    resumed = json.loads((cell / "seed-0.json").read_text())
    assert resumed["training"]["resumed_from_step"] == 12 and resumed["training"]["steps"] == 24
    assert leftovers(results) == []
    # the same seed without an interruption
    assert main(grid_args(toy_env, tmp_path / "straight", "0", *budget)) == 0
    straight = json.loads(record_path(tmp_path / "straight", toy_env["task"], "tiny", 0).read_text())
    assert straight["training"]["resumed_from_step"] is None
    assert resumed["training"]["best_step"] == straight["training"]["best_step"]
    assert resumed["predictions"] == straight["predictions"]
    assert [h["validation_accuracy"] for h in resumed["training"]["history"]] == \
        [h["validation_accuracy"] for h in straight["training"]["history"]]


def test_sigterm_leaves_nothing_behind_and_exits_143(toy_env):
    results = toy_env["results"]
    cell = record_path(results, toy_env["task"], "tiny", 0).parent
    proc = spawn(grid_args(toy_env, results, "0", "--set", "max_epochs=50", "--set", "patience=null"))
    wait_for(lambda: (cell / ".work-seed-0").exists(), proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 143, out[-3000:]
    assert "terminated" in out
    assert leftovers(results) == []
    assert not (cell / "seed-0.json").exists()


def test_a_sweep_supersedes_records_and_views_read_only_current_ones(toy_env, capsys):
    from harness.records.store import load_records

    results = toy_env["results"]
    assert main(grid_args(toy_env, results, "0")) == 0
    cell = record_path(results, toy_env["task"], "tiny", 0).parent
    first = json.loads((cell / "seed-0.json").read_text())
    assert main(grid_args(toy_env, results, "0", "--set", "learning_rate=0.002")) == 0
    kept = cell / "superseded" / f"seed-0.{first['config_hash']}.json"
    assert json.loads(kept.read_text()) == first
    records = load_records(results)
    assert len(records) == 1 and records[0].config.recipe["learning_rate"] == 0.002
    capsys.readouterr()
    assert main(["leaderboard", str(results), "--format", "csv"]) == 0
    assert "superseded" not in capsys.readouterr().out
