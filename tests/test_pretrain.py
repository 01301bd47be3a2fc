"""Pretraining inside the benchmark: `pretrain:` specs build one masked-LM artifact, reused by
every fine-tune cell of the spec, keyed by source, corpus, budget and seed; scratch specs train
their own tokenizer; held-out task texts never enter a corpus; a killed pretraining resumes."""
import json
import signal
from pathlib import Path


from conftest import harness_args
from helpers import write_models_file
from harness.cli.main import main

SUBJECTS = ["the baker", "my sister", "a tired student", "the old fisherman", "our neighbour", "the young doctor",
            "a quiet child", "the mayor", "his grandfather", "the new teacher"]
VERBS = ["walks to", "paints", "repairs", "visits", "cleans", "describes", "photographs", "sells"]
OBJECTS = ["the harbour at dawn", "a small wooden boat", "the village market", "an empty classroom",
           "the garden behind the church", "a noisy train station", "the library on main street"]


def corpus_lines(n: int = 240) -> list[str]:
    """Plain sentences written for these tests (no labels, no task text)."""
    return [f"{SUBJECTS[i % 10]} {VERBS[(i // 10) % 8]} {OBJECTS[(i // 3) % 7]}" for i in range(n)]


def pretrain_env(toy_env, tmp_path, **block):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines()) + "\n", encoding="utf-8")
    source = next(m["source"] for m in __import__("yaml").safe_load(toy_env["models"].read_text())["models"])
    pretrain = {"corpus": {"files": ["corpus.txt"], "tasks": [toy_env["task"]]}, "max_steps": 30,
                "learning_rate": 2e-3, "batch_size": 16, "max_length": 32, "eval_steps": 10, "save_steps": 10,
                **block.pop("pretrain", {})}
    entry = {"name": "tiny-tapt", "source": source, "pretrain": pretrain, **block}
    write_models_file(toy_env["models"], [{"name": "tiny", "source": source}, entry])
    return corpus


def run_args(env, *extra, seeds="0"):
    return harness_args(env, "run", "--tasks", env["task"], "--models", "tiny-tapt", "--seed-list", seeds,
                        "--data-dir", str(env["data"]), "--results", str(env["results"]), "--no-plots",
                        "--no-leaderboard", "--precision", "fp32", "--set", "max_epochs=1", *extra)


def plan_json(env, capsys, *extra):
    capsys.readouterr()
    assert main(run_args(env, "--dry-run", "--format", "json", *extra)) == 0
    return json.loads(capsys.readouterr().out)


def artifact_records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(results.glob("pretrain/*/pretrain.json"))]


def test_two_seeds_share_one_pretraining_that_lowers_the_heldout_loss_and_is_reused(toy_env, tmp_path, capsys):
    pretrain_env(toy_env, tmp_path)
    assert main(run_args(toy_env, seeds="0,1")) == 0
    [artifact] = artifact_records(toy_env["results"])
    assert artifact["status"] == "completed" and artifact["steps"] == 30
    assert artifact["after"]["loss"] < artifact["before"]["loss"] - 0.5
    assert artifact["corpus"]["rows"] == 240 + 48 and artifact["tokens_seen"] > 0
    assert artifact["throughput"]["train_tokens_per_s"] > 0
    assert [h["step"] for h in artifact["history"]] == [10, 20, 30]
    cells = [json.loads(p.read_text()) for p in sorted(toy_env["results"].glob("*/tiny-tapt/seed-*.json"))]
    assert [c["status"] for c in cells] == ["completed", "completed"]
    assert {c["config"]["model"]["pretrain_artifact"] for c in cells} == {artifact["key"]}
    record_file = next(toy_env["results"].glob("pretrain/*/pretrain.json"))
    before = record_file.stat().st_mtime_ns
    capsys.readouterr()
    assert main(run_args(toy_env, seeds="0,1,2")) == 0  # a new seed reuses the artifact
    assert "pretrain tiny-tapt" not in capsys.readouterr().out
    assert record_file.stat().st_mtime_ns == before and len(artifact_records(toy_env["results"])) == 1


def test_artifact_key_and_cell_hash_change_with_the_budget_and_the_corpus(toy_env, tmp_path, capsys):
    corpus = pretrain_env(toy_env, tmp_path)
    base = plan_json(toy_env, capsys)
    pretrain_env(toy_env, tmp_path, pretrain={"max_steps": 31})
    budget = plan_json(toy_env, capsys)
    pretrain_env(toy_env, tmp_path)
    corpus.write_text("\n".join(corpus_lines()[:-1]) + "\n", encoding="utf-8")
    smaller = plan_json(toy_env, capsys)
    keys = [p["pretraining"][0]["key"] for p in (base, budget, smaller)]
    hashes = [p["cells"][0]["config_hash"] for p in (base, budget, smaller)]
    assert len(set(keys)) == 3 and len(set(hashes)) == 3
    assert base["pretraining"][0]["status"] == "todo"
    assert main(run_args(toy_env, "--dry-run")) == 0
    table = capsys.readouterr().out
    assert table.index("(pretrain)") < table.index("toy-sentiment") and "1 pretraining artifact(s) (0 built)" in table


def test_scratch_spec_trains_and_saves_its_own_tokenizer(toy_env, tmp_path):
    from transformers import AutoTokenizer

    pretrain_env(toy_env, tmp_path, init="scratch", tokenizer={"train": True, "vocab_size": 150},
                 pretrain={"max_steps": 10})
    assert main(run_args(toy_env)) == 0
    [artifact] = artifact_records(toy_env["results"])
    assert artifact["tokenizer"]["trained"] is True and artifact["tokenizer"]["kind"] == "WordPiece"
    saved = AutoTokenizer.from_pretrained(next(toy_env["results"].glob("pretrain/*/model")))
    assert len(saved) == artifact["tokenizer"]["vocab_size"] <= 150
    assert "harbour" in saved.get_vocab()  # learned from the corpus, not the source's vocabulary


def test_corpus_holding_a_test_text_is_refused_before_anything_is_written(toy_env, tmp_path, capsys):
    corpus = pretrain_env(toy_env, tmp_path)
    test_file = toy_env["data"] / toy_env["task"] / "test.jsonl"
    with open(test_file, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"sentence": "the lighthouse keeper waved at the ferry", "label": 1}) + "\n")
    corpus.write_text("\n".join(corpus_lines() + ["The lighthouse keeper  waved at the ferry"]) + "\n")
    assert main(run_args(toy_env)) == 2
    err = capsys.readouterr().err
    assert "corpus.txt" in err and "validation/test text(s) of the evaluated task 'toy-sentiment'" in err
    assert not toy_env["results"].exists() or not any(toy_env["results"].rglob("*.json"))


def test_corpus_naming_a_test_split_is_a_usage_error(toy_env, tmp_path, capsys):
    pretrain_env(toy_env, tmp_path, pretrain={"corpus": {"tasks": [toy_env["task"]], "splits": ["test"]}})
    assert main(run_args(toy_env, "--dry-run")) == 2
    assert "would leak the evaluated texts into pretraining" in capsys.readouterr().err


KILL_AT_SECOND_SAVE = """
import os, signal, sys
import transformers
real, saves = transformers.Trainer._save_checkpoint, []
def save_then_die(self, *args, **kwargs):
    real(self, *args, **kwargs)
    saves.append(1)
    if len(saves) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
transformers.Trainer._save_checkpoint = save_then_die
from harness.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_mid_pretraining_then_rerun_resumes_from_the_last_checkpoint(toy_env, tmp_path):
    from test_crash_safety import spawn

    pretrain_env(toy_env, tmp_path)
    proc = spawn(run_args(toy_env), code=KILL_AT_SECOND_SAVE)
    proc.wait(timeout=240)
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read()[-2000:]
    assert artifact_records(toy_env["results"]) == []  # no finished artifact from the killed run
    assert main(run_args(toy_env)) == 0
    [artifact] = artifact_records(toy_env["results"])
    assert artifact["resumed_from_step"] == 20 and artifact["steps"] == 30
    assert not list(toy_env["results"].glob("pretrain/*/.work")) and not list(toy_env["results"].rglob("*.claim"))


def test_views_compare_the_pretrained_spec_with_its_source_and_show_the_loss_curve(toy_env, tmp_path, capsys):
    from harness.views.leaderboard import load_leaderboard, render
    from harness.views.report import write_report

    pretrain_env(toy_env, tmp_path, pretrain={"max_steps": 10, "eval_steps": 5})
    results = toy_env["results"]
    args = run_args(toy_env, seeds="0,1")
    args[args.index("tiny-tapt")] = "tiny,tiny-tapt"
    assert main(args) == 0
    report = write_report(results).read_text()
    section = report[report.index("## Does (continued) pretraining pay"):]
    assert "| tiny-tapt | tiny (pretrained) | toy-sentiment | 2 / 2 | 10 |" in section
    assert "pair(s)" in section.split("\n## ")[0]  # the seed-and-example test ran
    board = render(load_leaderboard(results), "md", results)
    assert "`tiny-tapt` from" in board and "10 steps × 16 texts" in board and "file corpus.txt" in board
    page = render(load_leaderboard(results), "html", results)
    assert 'id="pretraining"' in page and "masked-LM loss" in page and "<svg" in page[page.index('id="pretraining"'):]


# --------------------------------------------------------------------------- another live run holds the artifact
def _api_options(env, seeds):
    return dict(tasks_dir=[str(env["tasks"])], models_file=str(env["models"]), tasks=[env["task"]],
                models=["tiny-tapt"], seed_list=seeds, data_dir=str(env["data"]), results=str(env["results"]),
                precision="fp32", plots=False, leaderboard=False, overrides={"max_epochs": 1})


def _other_run_holds(folder: Path, pid: int) -> Path:
    """The artifact's record and model hidden (as while another run still builds them) and its claim held by `pid`."""
    import socket

    record = folder / "pretrain.json"
    record.rename(folder / "pretrain.json.hidden")
    (folder / "model").rename(folder / "model.hidden")
    (folder / "pretrain.claim").write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "token": "other"}))
    return record


def _helper_process():
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])


def test_cells_wait_for_an_artifact_another_live_run_builds_then_use_it(toy_env, tmp_path):
    """A live helper process holds the artifact's claim at plan time; when that "other run"
    finishes (record back, claim released) the waiting run uses its artifact: nothing is rebuilt."""
    import threading
    import time

    import harness
    from harness.api import execute

    pretrain_env(toy_env, tmp_path)
    assert harness.run(log=lambda _: None, **_api_options(toy_env, "0")).failed == []
    folder = next(toy_env["results"].glob("pretrain/*-*"))
    built = (folder / "pretrain.json").read_bytes()
    helper = _helper_process()
    try:
        record = _other_run_holds(folder, helper.pid)
        lines, released = [], []

        def other_run_finishes():
            while not any("waiting for it" in line for line in lines):
                time.sleep(0.05)
            time.sleep(0.5)  # the waiting run polls meanwhile
            (folder / "model.hidden").rename(folder / "model")
            (folder / "pretrain.json.hidden").rename(record)
            (folder / "pretrain.claim").unlink()
            released.append(time.time())

        finisher = threading.Thread(target=other_run_finishes, daemon=True)
        finisher.start()
        plan = harness.plan(**_api_options(toy_env, "1"))
        assert [s.status for s in plan.pretraining] == ["running"]
        result = execute(plan, lines.append)
        finisher.join(timeout=5)
    finally:
        helper.kill()
        helper.wait()
    assert result.failed == [] and released
    assert any("waited" in line and "claim is gone" in line for line in lines)
    assert not any(line.startswith("      completed: held-out") for line in lines)  # not rebuilt here
    assert record.read_bytes() == built
    cell = json.loads((toy_env["results"] / toy_env["task"] / "tiny-tapt" / "seed-1.json").read_text())
    assert cell["status"] == "completed" and cell["config"]["model"]["pretrain_artifact"] == json.loads(built)["key"]
    from datetime import datetime

    assert datetime.fromisoformat(cell["provenance"]["started_at"]).timestamp() >= released[0] - 1


def test_artifact_whose_builder_died_is_taken_over_and_built(toy_env, tmp_path):
    import harness

    pretrain_env(toy_env, tmp_path, pretrain={"max_steps": 10})
    assert harness.run(log=lambda _: None, **_api_options(toy_env, "0")).failed == []
    folder = next(toy_env["results"].glob("pretrain/*-*"))
    helper = _helper_process()
    record = _other_run_holds(folder, helper.pid)
    helper.kill()  # the other run dies while it holds the claim
    helper.wait()
    lines = []
    assert harness.run(log=lines.append, **_api_options(toy_env, "1")).failed == []
    rebuilt = json.loads(record.read_text())
    assert rebuilt["status"] == "completed" and rebuilt["steps"] == 10
    assert any(line.startswith("      completed: held-out") for line in lines)
    assert not (folder / "pretrain.claim").exists()


def test_a_wait_past_its_limit_fails_the_cells_and_writes_no_artifact(toy_env, tmp_path, monkeypatch):
    import harness

    pretrain_env(toy_env, tmp_path)
    folder = harness.plan(**_api_options(toy_env, "0")).pretraining[0].folder
    folder.mkdir(parents=True)
    helper = _helper_process()
    try:
        import socket

        (folder / "pretrain.claim").write_text(json.dumps({"host": socket.gethostname(), "pid": helper.pid, "token": "o"}))
        monkeypatch.setenv("HARNESS_PRETRAIN_WAIT_S", "0.3")
        result = harness.run(log=lambda _: None, **_api_options(toy_env, "0"))
    finally:
        helper.kill()
        helper.wait()
    [failed] = result.failed
    assert "still being built by another live run" in failed.error and "HARNESS_PRETRAIN_WAIT_S" in failed.error
    assert not (folder / "pretrain.json").exists() and (folder / "pretrain.claim").exists()  # left to its owner
