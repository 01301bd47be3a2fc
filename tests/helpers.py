"""Builders shared by the tests: a tiny BERT the tests train a tokenizer for, fixture tasks in
the generic layout, and hand-made result records."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import yaml

# Short sentences written for the tests: positive and negative opinions about everyday things.
POSITIVE = [
    "the soup was warm and tasty",
    "i loved the quiet little garden",
    "what a lovely and friendly neighbour",
    "the new bike rides smoothly and fast",
    "this book kept me happy all week",
    "great coffee and a kind waiter",
    "the concert was bright and joyful",
    "our trip to the coast was wonderful",
    "the teacher explained it clearly and kindly",
    "fresh bread and sweet butter make a perfect morning",
    "the film was funny and moving",
    "a calm sunny day at the lake",
]
NEGATIVE = [
    "the soup was cold and bland",
    "i hated the noisy crowded station",
    "what a rude and careless driver",
    "the old printer jams and breaks again",
    "this book bored me to tears",
    "awful coffee and a slow waiter",
    "the concert was loud and dull",
    "our trip was ruined by the rain and delays",
    "the manual was confusing and useless",
    "stale bread and sour milk spoil the morning",
    "the film was long and painful",
    "a grey miserable day stuck indoors",
]


def tiny_bert(folder: Path, corpus: list[str] | None = None, layers: int = 2, hidden: int = 32) -> Path:
    """A few-layer BERT encoder (no classification head) with a WordPiece tokenizer trained on `corpus`, saved with save_pretrained."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    corpus = corpus or (POSITIVE + NEGATIVE) * 3
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.train_from_iterator(corpus, trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=128,
    )
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=2, intermediate_size=hidden * 2, max_position_embeddings=128,
    )
    folder.mkdir(parents=True, exist_ok=True)
    import torch

    # its own fixed seed: the "pretrained" weights must not depend on whichever test seeded the global
    # generator last (after a set_seed(0) they would equal a scratch model built with seed 0)
    with torch.random.fork_rng():
        torch.manual_seed(1234)
        encoder = BertModel(config)
    encoder.save_pretrained(folder)  # an encoder without a head, like a pretrained checkpoint
    fast.save_pretrained(folder)
    return folder


def write_models_file(path: Path, entries: list[dict[str, Any]], defaults: dict[str, Any] | None = None) -> Path:
    path.write_text(yaml.safe_dump({"defaults": defaults or {}, "models": entries}, sort_keys=False))
    return path


def sentiment_rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        text = rng.choice(POSITIVE if label else NEGATIVE)
        rows.append({"sentence": text, "label": label})
    return rows


def write_generic_task(data_dir: Path, tasks_dir: Path, name: str = "toy-sentiment", sizes=(48, 16, 16)) -> str:
    """A binary task in the generic local layout, and its spec in `tasks_dir`."""
    folder = data_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in zip(("train", "validation", "test"), sizes, (1, 2, 3)):
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as handle:
            for row in sentiment_rows(n, seed):
                handle.write(json.dumps(row) + "\n")
    tasks_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "family": name,
        "tasks": [
            {
                "name": name,
                "language": "en",
                "description": "Toy sentiment written for the tests.",
                "text": "sentence",
                "label": "label",
                "labels": ["negative", "positive"],
                "reader": "jsonl",
                "splits": {"train": {}, "validation": {}, "test": {}},
                "training": {"max_epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "patience": 2, "max_length": 32},
            }
        ],
    }
    (tasks_dir / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return name


def make_record(
    task: str,
    model: str,
    seed: int,
    references: list[int],
    predictions: list[int],
    labels: list[str],
    status: str = "completed",
    fingerprint: str = "fp-test",
    throughput: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A schema-valid result record made by hand, with metrics computed from the predictions."""
    from harness.metrics import MACRO_F1_DEFINITION, classification_metrics, summary_metrics
    from harness.records.store import SCHEMA_VERSION

    config = {"task": {"spec": {"name": task}, "data_fingerprint": fingerprint}, "model": {"name": model}, "seed": seed}
    base = {
        "schema_version": SCHEMA_VERSION,
        "task": task,
        "model": model,
        "seed": seed,
        "status": status,
        "error": None,
        "labels": labels,
        "config": config,
        "config_hash": f"hash-{task}-{model}-{seed}",
        "fallbacks": [],
        "provenance": {"harness": "0.1.0", "torch": "2.13.0", "transformers": "5.23.0", "datasets": "5.2.0",
                       "python": "3.11.7", "device": "test CPU", "precision": "bf16", "data_fingerprint": fingerprint},
    }
    if status == "failed":
        base["error"] = extra.pop("error", "RuntimeError: boom")
        base.update(extra)
        return base
    base.update(
        {
            "metrics": {
                "validation": {"n": len(references), **summary_metrics(references, predictions)},
                "test": classification_metrics(references, predictions, labels),
                "macro_f1_definition": MACRO_F1_DEFINITION,
            },
            "predictions": {"test": list(predictions)},
            "references": {"test": list(references)},
            "throughput": {
                "train_samples_per_s": 100.0, "train_tokens_per_s": 2000.0, "eval_samples_per_s": 400.0,
                "eval_tokens_per_s": 8000.0, "train_seconds": 10.0, "eval_seconds": 1.0, "peak_memory_mb": 900.0,
                "mfu": 0.05, "parameters": 22_700_000, "non_embedding_parameters": 10_000_000,
                **(throughput or {}),
            },
            "training": {
                "epochs": 3.0, "steps": 30, "best_step": 20, "stopped_early": False,
                "history": history if history is not None else [
                    {"step": 10, "epoch": 1.0, "train_loss": 0.9, "validation_accuracy": 0.6, "validation_macro_f1": 0.55},
                    {"step": 20, "epoch": 2.0, "train_loss": 0.6, "validation_accuracy": 0.7, "validation_macro_f1": 0.66},
                    {"step": 30, "epoch": 3.0, "train_loss": 0.5, "validation_accuracy": 0.68, "validation_macro_f1": 0.65},
                ],
            },
        }
    )
    base.update(extra)
    return base


def predictions_with_accuracy(references: list[int], accuracy: float, n_labels: int, seed: int) -> list[int]:
    """Predictions that match exactly round(accuracy * n) of the references, chosen at random."""
    rng = random.Random(seed)
    n = len(references)
    wrong = set(rng.sample(range(n), n - round(accuracy * n)))
    return [(r + 1 + rng.randrange(n_labels - 1)) % n_labels if i in wrong else r for i, r in enumerate(references)]


def write_results(root: Path, records: list[Any]) -> Path:
    from harness.records.store import record_path, write_record

    for record in typed(records):
        write_record(record_path(root, record.task, record.model, record.seed), record)
    return root


def typed(records):
    """The typed ResultRecord(s) of hand-made record dicts (views receive records as read from disk)."""
    from harness.records.store import ResultRecord

    if isinstance(records, (dict, ResultRecord)):
        return ResultRecord.model_validate(records)
    return [ResultRecord.model_validate(r) for r in records]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes: 'nothing written or lost' is 'the snapshot is equal'."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("harness: error: ")
    return lines[0]
