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
