"""Hyperparameter search on the validation split: trials are cells, the selection picks the
configuration that learns, trials never read the test split, reruns skip, a changed space makes
the final records stale, a bad block exits 2 while planning, Optuna's samplers repeat themselves."""
import json
import math
import random

import pytest
import yaml

from conftest import harness_args
from harness.cli.main import main
from harness.records.store import load_records, read_record, record_path

LEARNS, STUCK = 1e-2, 1e-9  # the tiny BERT learns one-word opinions in 36 steps at 1e-2; at 1e-9 it cannot
POSITIVE_WORDS = ["lovely", "wonderful", "tasty", "friendly", "joyful"]
NEGATIVE_WORDS = ["awful", "rude", "bland", "dull", "useless"]


@pytest.fixture(scope="module")
def seeded_tiny(tmp_path_factory):
    """A tiny BERT with a word-level vocabulary of the opinion words and a seeded initialisation:
    nothing in it depends on a tokenizer trainer's tie order, and it learns the words reliably."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(specials + sorted(POSITIVE_WORDS + NEGATIVE_WORDS))}
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=64)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("word-tiny")
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture()
def word_env(tmp_path, seeded_tiny):
    """A task with one opinion word per row: a signal the tiny model learns in 36 steps at 1e-2."""
    from helpers import write_generic_task, write_models_file

    env = {"data": tmp_path / "data", "tasks": tmp_path / "tasks", "results": tmp_path / "results"}
    env["task"] = write_generic_task(env["data"], env["tasks"])
    spec_file = env["tasks"] / f"{env['task']}.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["tasks"][0]["training"] = {"max_epochs": 6, "batch_size": 8, "learning_rate": 1e-3, "patience": None,
                                    "warmup_ratio": 0.0, "max_length": 16}
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    rng = random.Random(0)
    for split, n in (("train", 48), ("validation", 16), ("test", 16)):
        rows = [{"sentence": rng.choice(POSITIVE_WORDS if i % 2 else NEGATIVE_WORDS), "label": i % 2} for i in range(n)]
        (env["data"] / env["task"] / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    env["models"] = write_models_file(tmp_path / "models.yaml", [{"name": "tiny", "source": str(seeded_tiny)}])
    return env


def run_args(env, *extra):
    return harness_args(env, "run", "--tasks", env["task"], "--models", "tiny", "--data-dir", str(env["data"]),
                        "--results", str(env["results"]), "--no-plots", "--seeds", "1", "--precision", "fp32", *extra)


def dry_run(env, capsys, *extra):
    capsys.readouterr()
    assert main(run_args(env, "--dry-run", "--format", "json", *extra)) == 0
    return json.loads(capsys.readouterr().out)


def no_training(monkeypatch):
    """A fake local executor in the registry: it fails the test if the plan has a cell to train."""
    from harness.execution.executors import EXECUTORS

    def refuse(plan, log):
        assert not plan.to_run(), "a cell was trained"
        return []

    monkeypatch.setitem(EXECUTORS, "local", refuse)


def test_selection_picks_the_learner_reruns_skip_and_a_new_space_is_stale(word_env, capsys, monkeypatch):
    toy_env = word_env
    space = f"learning_rate={STUCK},{LEARNS}"  # the stuck value first: a tie would choose it
    shown = dry_run(toy_env, capsys, "--search", space)
    assert shown["search_trials_planned"] == 2
    assert [(c["kind"], c["status"]) for c in shown["cells"]] == [("trial", "todo"), ("trial", "todo"), ("final", "todo")]
    assert "+ 2 search trial cell(s)" in shown["summary"]

    assert main(run_args(toy_env, "--search", space)) == 0
    results, task = toy_env["results"], toy_env["task"]
    trials = sorted((results / task / "tiny" / "search").glob("trial-*-seed-0.json"))
    assert len(trials) == 2
    scores = {}
    for path in trials:
        trial = read_record(path).to_json()
        assert trial["kind"] == "trial" and "test" not in trial["metrics"]
        assert "test" not in trial["predictions"] and "test" not in trial["references"]
        assert trial["provenance"]["test_fingerprint"] is None
        scores[trial["config"]["recipe"]["learning_rate"]] = trial["metrics"]["validation"]["accuracy"]
    assert scores[LEARNS] > scores[STUCK]

    final = read_record(record_path(results, task, "tiny", 0)).to_json()
    assert final["config"]["recipe"]["learning_rate"] == LEARNS
    selection = final["selection"]
    assert selection["chosen"] == {"learning_rate": LEARNS} and selection["strategy"] == "grid"
    assert [t["params"]["learning_rate"] for t in selection["trials"]] == [STUCK, LEARNS]
    assert [t["validation_scores"] for t in selection["trials"]] == [[scores[STUCK]], [scores[LEARNS]]]
    assert "tie" in selection["rule"] and "metrics" in final and "test" in final["metrics"]

    # views read the final records only; the leaderboard says what was selected
    assert [(r.task, r.model, r.seed) for r in load_records(results)] == [(task, "tiny", 0)]
    board = (results / "LEADERBOARD.md").read_text()
    assert "selected on the validation split" in board and "learning_rate=0.01" in board
    from harness.views.report import write_report

    report = write_report(results).read_text()
    assert "## Hyperparameter selection" in report and f"| {task} | tiny | learning_rate=0.01 |" in report
    assert (results / task / "search-heatmap.png").stat().st_size > 1000

    # a rerun trains nothing: every trial and the final cell are done
    shown = dry_run(toy_env, capsys, "--search", space)
    assert {c["status"] for c in shown["cells"]} == {"done"}
    no_training(monkeypatch)
    capsys.readouterr()
    assert main(run_args(toy_env, "--search", space)) == 0
    assert "0 cell(s) trained, 3 skipped" in capsys.readouterr().out

    # another space (here: the same values in another order) keeps the trials but the final is stale
    shown = dry_run(toy_env, capsys, "--search", f"learning_rate={LEARNS},{STUCK}")
    assert [(c["kind"], c["status"]) for c in shown["cells"]] == [("trial", "done"), ("trial", "done"), ("final", "stale")]
    # without the search the final cell is another configuration too
    assert [c["status"] for c in dry_run(toy_env, capsys, "--no-search")["cells"]] == ["stale"]


class UnreadableSplit:
    """A test split that raises on any use: a trial that touched it would fail."""

    def __getattr__(self, name):
        raise RuntimeError("the test split was read")

    def __len__(self):
        raise RuntimeError("the test split was read")

    def __getitem__(self, key):
        raise RuntimeError("the test split was read")


def test_trials_never_touch_the_test_split(word_env):
    toy_env = word_env
    import harness

    plan = harness.plan(tasks=[toy_env["task"]], models=["tiny"], seeds=1, data_dir=str(toy_env["data"]),
                        results=str(toy_env["results"]), tasks_dir=[str(toy_env["tasks"])],
                        models_file=str(toy_env["models"]), plots=False, leaderboard=False,
                        search={"space": {"learning_rate": [LEARNS]}, "seeds": 2, "budget": {"max_epochs": 1}})
    plan.data[toy_env["task"]].splits["test"] = UnreadableSplit()
    from harness.api import execute

    result = execute(plan, log=lambda m: None)
    by_kind = {}
    for outcome in result.outcomes:
        by_kind.setdefault("trial" if "search" in str(outcome.path) else "final", []).append(outcome.status)
    assert by_kind == {"trial": ["completed"] * 2, "final": ["failed"]}  # 2 trial seeds; the final reads test
    final = read_record(record_path(toy_env["results"], toy_env["task"], "tiny", 0)).to_json()
    assert "the test split was read" in final["error"]
    assert final["selection"]["seeds"] == 2 and len(final["selection"]["trials"][0]["validation_scores"]) == 2
    trial = read_record(next((toy_env["results"] / toy_env["task"] / "tiny" / "search").glob("*.json"))).to_json()
    assert trial["config"]["recipe"]["max_epochs"] == 1 and trial["kind"] == "trial"


@pytest.mark.parametrize(
    "extra, models_search, message",
    [
        (["--search", "learning_rate=1e-5,abc"], None, "learning_rate='abc'"),
        (["--search", "lerning_rate=1e-5"], None, "did you mean 'learning_rate'"),
        (["--search", "learning_rate=1e-5,1e-5"], None, "twice"),
        (["--search", "learning_rate=1e-5", "--search-strategy", "tpe"], None, "needs n_trials"),
        (["--search", "learning_rate=1e-5", "--search-trials", "3"], None, "n_trials goes with"),
        (["--search", "learning_rate=1e-5", "--search-budget", "patience=1"], None, "not a trial budget"),
        (["--search", "max_epochs=1,2", "--search-budget", "max_epochs=1"], None, "both searched and a trial budget"),
        ([], {"space": {"learning_rate": [1e-5]}, "strategy": "bayes"}, "strategy"),
        ([], {"space": {"learning_rate": {"low": 1e-3, "high": 1e-5}}, "strategy": "random", "n_trials": 2}, "low"),
        ([], {"space": {"learning_rate": {"low": 1e-5, "high": 1e-3}}}, "grid needs a list"),
    ],
)
def test_a_bad_search_block_exits_2_while_planning(toy_env, capsys, monkeypatch, extra, models_search, message):
    if models_search is not None:
        raw = yaml.safe_load(toy_env["models"].read_text())
        raw["models"][0]["search"] = models_search
        toy_env["models"].write_text(yaml.safe_dump(raw))
    no_training(monkeypatch)
    assert main(run_args(toy_env, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("harness: error:") and message in err, err
    assert not toy_env["results"].exists()


@pytest.mark.parametrize("strategy", ["random", "tpe"])
def test_optuna_strategies_with_a_fixed_seed_propose_the_same_trials_twice(strategy):
    from harness.planning.search import SearchSpec, proposals

    spec = SearchSpec(space={"learning_rate": {"low": 1e-6, "high": 1e-2, "log": True}, "warmup_ratio": [0.0, 0.1]},
                      strategy=strategy, n_trials=8, sampler_seed=3, round_size=4)

    def score(params):  # a smooth validation score that peaks at 3e-4
        return -abs(math.log10(params["learning_rate"]) - math.log10(3e-4)) - params["warmup_ratio"]

    first, complete = proposals(spec, score)
    second, _ = proposals(spec, score)
    assert complete and first == second and 2 <= len(first) <= 8
    assert all(1e-6 <= p["learning_rate"] <= 1e-2 and p["warmup_ratio"] in (0.0, 0.1) for p in first)
    other, _ = proposals(SearchSpec(**{**spec.__dict__, "sampler_seed": 4}), score)
    assert other != first


def test_tpe_waits_for_a_round_before_asking_the_next():
    from harness.planning.search import PENDING, SearchSpec, proposals

    spec = SearchSpec(space={"learning_rate": [1e-5, 2e-5, 3e-5, 5e-5, 1e-4]}, strategy="tpe", n_trials=6,
                      round_size=2)
    asked, complete = proposals(spec, lambda params: PENDING)
    assert not complete and 1 <= len(asked) <= 2


def test_selection_tie_goes_to_the_first_proposed_configuration():
    from harness.planning.search import SearchSpec, TrialResult, select
    from harness.spec.task import TaskSpec

    spec = SearchSpec(space={"learning_rate": [2e-5, 3e-5, 5e-5]})
    task = TaskSpec(name="t", language="en", description="", text="x", label="y", labels=["a", "b"], reader="csv",
                    splits={"train": {}, "validation": {}, "test": {}})
    results = [TrialResult({"learning_rate": 2e-5}, [0.5, 0.7], False, []),
               TrialResult({"learning_rate": 3e-5}, [0.6, 0.6], False, []),
               TrialResult({"learning_rate": 5e-5}, [0.9, None], False, [])]  # a failed seed: not eligible
    chosen = select(results, spec, "accuracy")
    assert chosen["chosen"] == {"learning_rate": 2e-5} and chosen["chosen_mean"] == pytest.approx(0.6)
    assert select([TrialResult({"learning_rate": 2e-5}, [None], True, [])], spec, "accuracy") is None


def test_search_layers_later_wins_and_the_shipped_suites(tmp_path):
    from harness.spec.models import load_models
    from harness.planning.request import RunRequest
    from harness.planning.search import merge, search_layers
    from harness.spec.suites import load_suites

    models_file = tmp_path / "models.yaml"
    models_file.write_text(yaml.safe_dump({
        "defaults": {"learning_rate": 3e-5, "search": {"space": {"learning_rate": [1e-5, 2e-5]}, "seeds": 2}},
        "models": [{"name": "a", "source": "x", "search": {"space": {"warmup_ratio": [0.0, 0.1]}}},
                   {"name": "b", "source": "x"}],
    }))
    registry = load_models(models_file)
    suites = load_suites()
    french = suites["french"]
    request = RunRequest(search={"seeds": 3})
    merged, _ = merge(search_layers(registry, registry.get("a"), french, request))
    assert merged["space"] == {"learning_rate": french.search.space["learning_rate"], "warmup_ratio": [0.0, 0.1]}
    assert merged["seeds"] == 3
    scratch = registry.models["b"].model_copy(update={"name": "camembert-base-scratch"})
    merged, where = merge(search_layers(registry, scratch, french, RunRequest()))
    assert min(merged["space"]["learning_rate"]) >= 1e-4 and "camembert-base-scratch" in where
    assert suites["demo"].search is None and suites["glue"].search is not None


def test_trials_fan_out_on_the_ray_executor(word_env, capsys):
    ray = pytest.importorskip("ray", reason="the Ray executor needs the 'ray' extra")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(run_args(word_env, "--search", f"learning_rate={STUCK},{LEARNS}", "--search-budget", "max_epochs=1",
                             "--executor", "ray", "--cpus-per-cell", "1", "--no-leaderboard")) == 0
    finally:
        ray.shutdown()
    out = capsys.readouterr().out
    assert "ray: 2 cell(s)" in out and "ray: 1 cell(s)" in out  # the trials in one pass, then the final cell
    trials = list((word_env["results"] / word_env["task"] / "tiny" / "search").glob("trial-*.json"))
    assert len(trials) == 2 and all(read_record(t).to_json()["provenance"]["executor"] == "ray" for t in trials)
    final = read_record(record_path(word_env["results"], word_env["task"], "tiny", 0)).to_json()
    assert final["selection"]["chosen"] is not None and len(final["selection"]["trials"]) == 2
