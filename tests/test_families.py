"""Every encoder family, as a user with a real checkpoint meets it: a tiny faithful folder per
family (tests/families.py) is planned, trained on a single-text and a pair task, predicted (the
saved model reproduces its record's test predictions) and carded; what a checkpoint brings that
would break a cell is refused while planning, with one line."""
import json
import random
import shutil
from pathlib import Path

import pytest
import yaml

from families import FAMILIES, FRENCH, build_family
from helpers import NEGATIVE, POSITIVE, write_models_file
from harness.cli.main import main
from harness.records.store import record_path

# premise / hypothesis pairs written for the tests: the second text agrees with the first, or not
AGREE = [("the soup was warm and tasty", "the meal was good"), ("the train left on time", "the train was punctual"),
         ("la soupe était chaude", "le repas était bon"), ("she sings in a choir", "she makes music"),
         ("the garden is calm and green", "the garden is peaceful"), ("il pleut depuis ce matin", "le temps est humide")]
DISAGREE = [("the soup was warm and tasty", "the soup was cold"), ("the train left on time", "the train was late"),
            ("la soupe était chaude", "la soupe était glacée"), ("she sings in a choir", "she never sings"),
            ("the garden is calm and green", "the garden is noisy"), ("il pleut depuis ce matin", "le ciel est sec")]
# a tiny budget (2 optimizer steps); scoring in batches of 4 so that predict must batch as the record did
BUDGET = {"max_epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "patience": None, "eval_batch_size": 4}


def _write_task(data: Path, tasks: Path, name: str, text, labels, rows_of) -> None:
    folder = data / name
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", 16, 1), ("validation", 8, 2), ("test", 12, 3)):
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as handle:
            for row in rows_of(n, random.Random(seed)):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    spec = {"family": name, "tasks": [{
        "name": name, "language": "en", "description": "Written for the tests.", "text": text, "label": "label",
        "labels": labels, "reader": "jsonl", "splits": {"train": {}, "validation": {}, "test": {}}, "training": BUDGET,
    }]}
    (tasks / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def _opinions(n, rng):
    good, bad = POSITIVE + FRENCH[::2], NEGATIVE + FRENCH[1::2]
    return [{"sentence": rng.choice(good if i % 2 else bad), "label": i % 2} for i in range(n)]


def _pairs(n, rng):
    return [dict(zip(("premise", "hypothesis"), rng.choice(AGREE if i % 2 else DISAGREE)), label=i % 2) for i in range(n)]


@pytest.fixture(scope="session")
def family_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {family: build_family(family, root / family) for family in FAMILIES}


@pytest.fixture()
def env(tmp_path, family_dirs):
    data, tasks = tmp_path / "data", tmp_path / "tasks"
    tasks.mkdir()
    _write_task(data, tasks, "opinions", "sentence", ["negative", "positive"], _opinions)
    _write_task(data, tasks, "pairs", ["premise", "hypothesis"], ["disagree", "agree"], _pairs)
    models = write_models_file(tmp_path / "models.yaml", [{"name": f, "source": str(d)} for f, d in family_dirs.items()])
    return {"data": data, "tasks": tasks, "models": models, "results": tmp_path / "results", "root": tmp_path}


def _run(env, models: str, *extra: str, tasks: str = "opinions,pairs") -> int:
    return main(["--tasks-dir", str(env["tasks"]), "--models-file", str(env["models"]), "run", "--tasks", tasks,
                 "--models", models, "--data-dir", str(env["data"]), "--results", str(env["results"]),
                 "--no-leaderboard", "--no-plots", *extra])


def _test_rows(env, task: str) -> list[list[str]]:
    lines = (env["data"] / task / "test.jsonl").read_text(encoding="utf-8").splitlines()
    columns = ["sentence"] if task == "opinions" else ["premise", "hypothesis"]
    return [[json.loads(line)[c] for c in columns] for line in lines]


@pytest.mark.parametrize("family", FAMILIES)
def test_family_plans_trains_predicts_as_its_record_and_gets_a_card(env, family):
    from harness.predict import Predictor

    assert _run(env, family, "--seeds", "1", "--save-model", "--precision", "fp32") == 0
    for task in ("opinions", "pairs"):
        record = json.loads(record_path(env["results"], task, family, 0).read_text())
        assert record["status"] == "completed", record.get("error")
        inspected = record["config"]["model"]["inspected"]
        assert inspected["max_positions"] == (8192 if family == "modernbert" else 512)  # 514 rows - pad - 1 for RoBERTa's
        # max_length auto: the model's limit capped by the task's longest text, so nothing was cut
        assert 8 <= record["data"]["max_length"] <= 512 and sum(record["data"]["truncated"].values()) == 0
        assert record["training"]["head"] == {"initialised": "seed", "replaced": False}
        saved = Path(record["saved_model"])
        assert (saved / "README.md").is_file()  # the model card
        labels = record["labels"]
        scored = Predictor(saved).predict(_test_rows(env, task), top_k=2)
        predicted = [labels.index(r[0]["label"]) for r in scored]
        # a tiny model trained for a few steps can sit on an exact tie (margin ~1e-7): there the last bit
        # of a CPU reduction (thread count) decides, so rows are compared where the top two differ
        clear = [i for i, r in enumerate(scored) if r[0]["score"] - r[1]["score"] > 1e-4]
        assert [predicted[i] for i in clear] == [record["predictions"]["test"][i] for i in clear]


@pytest.mark.parametrize("family", ["camembert", "xlm-roberta"])
def test_the_saved_model_is_the_trained_one_when_the_tokenizer_pads_with_another_id(env, family_dirs, family):
    """These folders' tokenizers pad with id 7 / 4, their configs say 1 (a checkpoint whose tokenizer and
    config disagree). The Trainer used to rewrite the config's pad id to the tokenizer's after the modules
    were built with 1: config.json then built a model whose RoBERTa position ids start elsewhere, and the
    saved model predicted another class than its record on every row."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from harness.predict import Predictor

    source, ids = family_dirs[family], ("pad_token_id", "bos_token_id", "eos_token_id")
    checkpoint = AutoConfig.from_pretrained(source)
    assert AutoTokenizer.from_pretrained(source).pad_token_id != checkpoint.pad_token_id  # the case under test
    assert _run(env, family, "--seeds", "1", "--save-model", "--precision", "fp32", tasks="opinions") == 0
    saved = Path(json.loads(record_path(env["results"], "opinions", family, 0).read_text())["saved_model"])
    assert {n: getattr(AutoConfig.from_pretrained(saved), n) for n in ids} == {n: getattr(checkpoint, n) for n in ids}
    # the trained modules: the checkpoint's architecture holding the saved weights
    trained = AutoModelForSequenceClassification.from_pretrained(source, num_labels=2).eval()
    trained.load_state_dict(load_file(str(saved / "model.safetensors")))
    predictor = Predictor(saved)
    rows = _test_rows(env, "opinions")
    with torch.no_grad():
        expected = trained(**predictor.tokenizer([r[0] for r in rows], padding=True, return_tensors="pt")).logits
    assert torch.allclose(torch.from_numpy(predictor.logits(rows)), expected, atol=1e-5)


def test_a_pretraining_artifact_keeps_the_checkpoints_special_token_ids(env, family_dirs):
    """Continued masked-LM pretraining of a checkpoint whose tokenizer pads with another id than its config:
    the artifact's config.json is the checkpoint's (the Trainer rewrote it to the tokenizer's, as above)."""
    from transformers import AutoConfig

    source, ids = family_dirs["xlm-roberta"], ("pad_token_id", "bos_token_id", "eos_token_id")
    (env["root"] / "corpus.txt").write_text("\n".join(f"{who} {did} the {what} by the river" for who in (
        "a fisherman", "une voisine", "the old baker", "mon cousin") for did in ("painted", "sold", "repaired")
        for what in ("boat", "house", "fence")) + "\n", encoding="utf-8")
    pretrain = {"corpus": {"files": ["corpus.txt"]}, "max_steps": 2, "batch_size": 8, "max_length": 32,
                "eval_steps": 2, "save_steps": 2}
    write_models_file(env["models"], [{"name": "xlmr-tapt", "source": str(source), "pretrain": pretrain}])
    assert _run(env, "xlmr-tapt", "--seeds", "1", "--precision", "fp32", tasks="opinions") == 0
    artifact = AutoConfig.from_pretrained(next(env["results"].glob("pretrain/*/model")))
    checkpoint = AutoConfig.from_pretrained(source)
    assert {n: getattr(artifact, n) for n in ids} == {n: getattr(checkpoint, n) for n in ids}


def test_predict_follows_the_records_bf16_scoring(env):
    """Records score in bf16 on CPU; predict with fp32 weights disagreed on near-ties."""
    from harness.predict import Predictor

    assert _run(env, "modernbert", "--seeds", "1", "--save-model", "--precision", "bf16", tasks="opinions") == 0
    record = json.loads(record_path(env["results"], "opinions", "modernbert", 0).read_text())
    predictor = Predictor(record["saved_model"])
    assert predictor.precision == "bf16" and predictor.batch_size == record["throughput"]["eval_batch_size"]
    logits = predictor.logits(_test_rows(env, "opinions"))
    assert logits.argmax(-1).tolist() == record["predictions"]["test"]


def test_auto_max_length_is_the_longest_text_bound_under_the_model_limit(env):
    assert _run(env, "roberta", "--seeds", "1", tasks="opinions") == 0
    record = json.loads(record_path(env["results"], "opinions", "roberta", 0).read_text())
    longest = max(len(s.encode()) + len(s.split()) for s in POSITIVE + NEGATIVE + FRENCH) + 4
    assert record["data"]["max_length"] == -(-longest // 8) * 8 < 512


@pytest.mark.parametrize("family,length,limit", [("camembert", 513, 512), ("xlm-roberta", 513, 512),
                                                 ("roberta", 513, 512), ("bert-cased", 513, 512),
                                                 ("distilbert", 1024, 512)])
def test_max_length_above_the_positions_exits_2_at_planning_naming_the_limit(env, capsys, family, length, limit):
    assert _run(env, family, "--seeds", "1", "--set", f"max_length={length}") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"max_length {length}" in err and f"{limit} tokens" in err
    assert not env["results"].exists() or not any(env["results"].rglob("*.json"))  # nothing written


@pytest.mark.parametrize("family,module,dist", [("flaubert", "sacremoses", "sacremoses"),
                                                ("camembert", "sentencepiece", "sentencepiece"),
                                                ("deberta-v3", "sentencepiece", "sentencepiece")])
def test_a_missing_tokenizer_library_exits_2_at_planning_naming_it(env, capsys, monkeypatch, family, module, dist):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    assert _run(env, family, "--seeds", "1") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"pip install {dist}" in err and family in err


def _with_head(source: Path, target: Path, labels: int, problem_type: str | None = None) -> Path:
    """A checkpoint fine-tuned on another task: the encoder with a trained-looking head of `labels` outputs."""
    import torch
    from transformers import AutoModelForSequenceClassification

    shutil.copytree(source, target)
    kwargs = {"problem_type": problem_type} if problem_type else {}
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=labels, **kwargs)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith(model.base_model_prefix + "."):
                p.fill_(0.5)  # unlike anything an initialiser draws
    model.save_pretrained(target)
    return target


def _head_of(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith(model.base_model_prefix + ".")}


def test_a_head_of_5_labels_fine_tunes_on_3_from_a_new_head_and_the_record_says_so(env, family_dirs, caplog):
    headed = _with_head(family_dirs["roberta"], env["root"] / "headed", labels=5, problem_type="multi_label_classification")
    write_models_file(env["models"], [{"name": "headed", "source": str(headed)}])
    _write_task(env["data"], env["tasks"], "three", "sentence", ["negative", "neutral", "positive"],
                lambda n, rng: [{"sentence": rng.choice(POSITIVE + NEGATIVE), "label": i % 3} for i in range(n)])
    with caplog.at_level("WARNING", logger="harness"):
        assert _run(env, "headed", "--seeds", "1", tasks="three") == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "harness" and r.levelname == "WARNING"]
    assert any("mismatched keys" in m and "classifier.out_proj.weight" in m for m in warnings)  # the load report
    assert any("classification head" in m and "replaced" in m for m in warnings)
    record = json.loads(record_path(env["results"], "three", "headed", 0).read_text())
    assert record["status"] == "completed", record.get("error")
    assert record["training"]["head"] == {"initialised": "seed", "replaced": True, "checkpoint_labels": 5,
                                          "checkpoint_problem_type": "multi_label_classification"}


def test_two_seeds_start_from_different_heads_even_when_the_checkpoint_has_one(env, family_dirs):
    import torch

    from harness.planning.identity import resolve_identity
    from harness.spec.model import ModelSpec
    from harness.train.model import build_model

    headed = _with_head(family_dirs["bert-cased"], env["root"] / "headed2", labels=2)
    spec = ModelSpec(name="headed", source=str(headed))
    first, second = (_head_of(build_model(resolve_identity(spec), ["a", "b"], seed)) for seed in (0, 1))
    again = _head_of(build_model(resolve_identity(spec), ["a", "b"], 0))
    assert any(not torch.equal(first[k], second[k]) for k in first)  # seeds change the head
    assert all(torch.equal(first[k], again[k]) for k in first)  # the same seed, the same head
    assert not any(torch.all(p == 0.5) for p in first.values() if p.dim() == 2)  # the old head is gone
    model = build_model(resolve_identity(spec), ["a", "b"], 0)
    assert model.config.problem_type == "single_label_classification"
