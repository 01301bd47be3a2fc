"""Masked-LM pretraining of one model spec's source on its corpus: the pretraining artifact.

Read top to bottom: tokenizer (the source's, or one of its kind trained on the corpus) -> model
(the source's weights, or its architecture from random weights) -> encode the corpus -> mask the
held-out texts once (the same masks before and after) -> held-out loss before -> Trainer with
DataCollatorForLanguageModeling and checkpoints -> held-out loss after -> save model and tokenizer.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from harness.device import DeviceChoice, one_device_training_arguments, peak_flops, peak_memory_mb, reset_peak_memory
from harness.planning.identity import ModelIdentity
from harness.records.pretrain import PretrainLossPoint, PretrainThroughput, TokenizerFacts
from harness.spec.model import ModelSpec
from harness.train.model import count_parameters

WORK_FILE = "harness-pretrain.json"  # in the work folder: the key it belongs to, the loss before


class MaskedLoss(TypedDict):
    loss: float
    perplexity: float


class WorkState(TypedDict, total=False):
    """The work folder's WORK_FILE: the artifact key it belongs to and the loss before training."""

    key: str
    before: MaskedLoss


class PretrainBody(TypedDict):
    """What `pretrain` measured: the artifact record's body."""

    before: MaskedLoss
    after: MaskedLoss
    steps: int
    tokens_seen: int
    history: list[PretrainLossPoint]
    throughput: PretrainThroughput
    tokenizer: TokenizerFacts
    resumed_from_step: int | None
    max_length: int
    whole_word_masking: bool


# one tokenized text: input_ids, attention_mask, special_tokens_mask, offset_mapping (whole-word masking)
Features = dict[str, list[int] | list[list[int]]]
ROBERTA_LIKE = ("roberta", "camembert", "xlm-roberta")  # position ids start after the padding index


@dataclass
class PretrainRun:
    model: ModelSpec
    source: ModelIdentity
    train_texts: list[str]
    heldout_texts: list[str]
    device: DeviceChoice
    precision: str
    target: Path  # the artifact's model folder, written at the end
    work_dir: Path  # checkpoints: a rerun of the same key resumes from the last one
    key: str


def build_tokenizer(run: PretrainRun):
    """(tokenizer, description). `tokenizer: train: true` retrains the source's fast tokenizer
    pipeline on the training texts with the `tokenizers` library (same model kind, normalizer,
    pre-tokenizer and special tokens; a new vocabulary)."""
    from transformers import AutoTokenizer

    source = AutoTokenizer.from_pretrained(run.source.location, revision=run.source.revision, trust_remote_code=False)
    spec = run.model.tokenizer
    if not (spec and spec.train):
        return source, TokenizerFacts(trained=False, vocab_size=len(source), kind=_kind(source))
    if not source.is_fast:
        raise RuntimeError(f"tokenizer: train: true needs a fast tokenizer; {run.source.location} has a slow one")
    batches = (run.train_texts[i:i + 1000] for i in range(0, len(run.train_texts), 1000))
    trained = source.train_new_from_iterator(batches, vocab_size=spec.vocab_size, length=len(run.train_texts))
    return trained, TokenizerFacts(trained=True, vocab_size=len(trained), requested_vocab_size=spec.vocab_size,
                                   kind=_kind(trained))


def _kind(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return type(backend.model).__name__ if backend is not None else type(tokenizer).__name__


def build_mlm_model(run: PretrainRun, tokenizer):
    """The source's weights with a masked-LM head (`init: pretrained`), or its architecture with
    random weights sized to the tokenizer (`init: scratch`), initialised under the pretraining seed."""
    from transformers import AutoConfig, AutoModelForMaskedLM, set_seed

    set_seed(run.model.pretrain.seed)
    if run.model.init == "scratch":
        config = AutoConfig.from_pretrained(run.source.location, revision=run.source.revision, trust_remote_code=False)
        config.vocab_size = len(tokenizer)
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(tokenizer, name, None)
            if value is not None:
                setattr(config, name, value)
        return AutoModelForMaskedLM.from_config(config)
    return AutoModelForMaskedLM.from_pretrained(run.source.location, revision=run.source.revision,
                                                trust_remote_code=False, use_safetensors="pickle" not in run.source.weights or None)


def _max_length(model, requested: int) -> int:
    positions = getattr(model.config, "max_position_embeddings", None) or requested
    return min(requested, positions - (2 if model.config.model_type in ROBERTA_LIKE else 0))


def _encode(texts: list[str], tokenizer, max_length: int, offsets: bool):
    from datasets import Dataset

    def tok(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length, return_special_tokens_mask=True,
                         return_offsets_mapping=offsets)

    return Dataset.from_dict({"text": texts}).map(tok, batched=True, remove_columns=["text"])


def _masked_once(encoded, collator, batch_size: int):
    """The held-out texts masked once (input_ids with masks, labels): every evaluation, before and
    after, scores the same masked positions, so the two losses compare."""
    from datasets import Dataset

    rows: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": []}
    for start in range(0, len(encoded), batch_size):
        batch = collator(_pad([encoded[i] for i in range(start, min(start + batch_size, len(encoded)))], collator.tokenizer))
        for ids, mask, labels in zip(batch["input_ids"], batch["attention_mask"], batch["labels"]):
            n = int(mask.sum())
            rows["input_ids"].append(ids[:n].tolist())
            rows["attention_mask"].append(mask[:n].tolist())
            rows["labels"].append(labels[:n].tolist())
    return Dataset.from_dict(rows)


class _Collator:
    """Training batches: masked now by the MLM collator; held-out batches: already masked, padded
    (labels with -100)."""

    def __init__(self, mlm, tokenizer):
        from transformers import DataCollatorForTokenClassification

        self.mlm, self.fixed = mlm, DataCollatorForTokenClassification(tokenizer)

    def __call__(self, features):
        return self.fixed(features) if "labels" in features[0] else self.mlm(_pad(features, self.fixed.tokenizer))


def _pad(features: list[Features], tokenizer) -> list[Features]:
    """Pad to the longest text here: the tokenizer's pad cannot pad `offset_mapping` (whole-word masking)."""
    longest = max(len(f["input_ids"]) for f in features)
    fill = {"input_ids": tokenizer.pad_token_id, "attention_mask": 0, "token_type_ids": 0,
            "special_tokens_mask": 1, "offset_mapping": [0, 0]}
    return [{k: list(v) + [fill[k]] * (longest - len(v)) for k, v in f.items()} for f in features]


def _work_state(run: PretrainRun) -> tuple[WorkState, str | None]:
    """The work folder's state and the checkpoint to resume from (same key only)."""
    from transformers.trainer_utils import get_last_checkpoint

    marker = run.work_dir / WORK_FILE
    try:
        state: WorkState = json.loads(marker.read_text())
    except (OSError, ValueError):
        state = {}
    if isinstance(state, dict) and state.get("key") == run.key and run.work_dir.is_dir():
        return state, get_last_checkpoint(str(run.work_dir))
    shutil.rmtree(run.work_dir, ignore_errors=True)
    run.work_dir.mkdir(parents=True, exist_ok=True)
    state = WorkState(key=run.key)
    marker.write_text(json.dumps(state))
    return state, None


def _arguments(run: PretrainRun, tokens_mode: str):
    p = run.model.pretrain
    return one_device_training_arguments(
        run.device, output_dir=str(run.work_dir), per_device_train_batch_size=p.batch_size,
        per_device_eval_batch_size=p.batch_size, learning_rate=p.learning_rate, weight_decay=p.weight_decay,
        warmup_steps=p.warmup_ratio, lr_scheduler_type="linear", max_steps=p.max_steps, eval_strategy="steps",
        eval_steps=p.eval_steps, logging_strategy="steps", logging_steps=p.eval_steps, save_strategy="steps",
        save_steps=p.save_steps, save_total_limit=1, bf16=run.precision == "bf16", fp16=run.precision == "fp16",
        seed=p.seed, data_seed=p.seed, prediction_loss_only=True, include_num_input_tokens_seen=tokens_mode,
        report_to="none", disable_tqdm=True, dataloader_num_workers=0, remove_unused_columns=False,
    )


def _loss(metrics: dict[str, float]) -> MaskedLoss:
    loss = float(metrics["eval_loss"])
    return MaskedLoss(loss=loss, perplexity=math.exp(min(loss, 50.0)))


def pretrain(run: PretrainRun) -> PretrainBody:
    """Pretrain, save the model and tokenizer to `run.target`; returns the artifact record's body."""
    from transformers import DataCollatorForLanguageModeling, PrinterCallback, Trainer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    p = run.model.pretrain
    tokenizer, tokenizer_info = build_tokenizer(run)
    model = build_mlm_model(run, tokenizer)
    max_length = _max_length(model, p.max_length)
    whole_words = p.whole_word_masking and tokenizer.is_fast
    mlm = DataCollatorForLanguageModeling(tokenizer, mlm_probability=p.mlm_probability, whole_word_mask=whole_words,
                                          mask_replace_prob=1.0 if whole_words else 0.8,
                                          random_replace_prob=0.0 if whole_words else 0.1, seed=p.seed)
    train_set = _encode(run.train_texts, tokenizer, max_length, whole_words)
    heldout = _masked_once(_encode(run.heldout_texts, tokenizer, max_length, whole_words), mlm, p.batch_size)
    state, resume = _work_state(run)
    reset_peak_memory()
    # no processing_class: the Trainer would rewrite the config's special-token ids to the tokenizer's after
    # the modules were built (see harness.train.finetune); tokens seen are counted from the attention mask
    trainer = Trainer(model=model, args=_arguments(run, "non_padding"), train_dataset=train_set, eval_dataset=heldout,
                      data_collator=_Collator(mlm, tokenizer))
    trainer.remove_callback(PrinterCallback)
    if "before" not in state:  # a resumed run keeps the first run's starting loss
        state["before"] = _loss(trainer.evaluate())
        (run.work_dir / WORK_FILE).write_text(json.dumps(state))
    start_step = int(resume.rsplit("-", 1)[-1]) if resume else 0
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - start
    after = _loss(trainer.evaluate())
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    steps = int(trainer.state.global_step)
    tmp = run.target.with_name(run.target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(run.target, ignore_errors=True)
    tmp.rename(run.target)  # the work folder (checkpoints) goes once the record is written
    return PretrainBody(
        before=state["before"], after=after, steps=steps, tokens_seen=tokens,
        history=_history(trainer.state.log_history),
        throughput=_throughput(model, tokens, steps, start_step, seconds, run.precision, p.batch_size),
        tokenizer=tokenizer_info, resumed_from_step=start_step or None,
        max_length=max_length, whole_word_masking=whole_words,
    )


def _history(log_history: list[dict[str, float]]) -> list[PretrainLossPoint]:
    by_step: dict[int, dict[str, float]] = {}
    for entry in log_history:
        row = by_step.setdefault(int(entry.get("step", 0)), {"step": int(entry.get("step", 0))})
        if "loss" in entry:
            row["train_loss"] = float(entry["loss"])
        if "eval_loss" in entry:
            row["heldout_loss"] = float(entry["eval_loss"])
    return [PretrainLossPoint.model_validate(row) for _, row in sorted(by_step.items()) if len(row) > 1]


def _throughput(model, tokens: int, steps: int, start_step: int, seconds: float, precision: str,
                batch_size: int) -> PretrainThroughput:
    """Tokens/s and MFU of this process's share of the steps (a resumed run times only its own),
    assuming the steps before the resume saw as many tokens per step."""
    params = count_parameters(model)
    # the masked-LM head projects every position onto the vocabulary (the tied word embeddings):
    # as many FLOPs per token as a dense layer of vocabulary x hidden parameters, often more than the encoder
    head = model.get_output_embeddings().weight.numel() if model.get_output_embeddings() is not None else 0
    own_tokens = tokens * (steps - start_step) / steps if steps else 0
    tokens_s = own_tokens / seconds if seconds else None
    peak = peak_flops(precision)
    return PretrainThroughput.model_validate({
        "train_seconds": seconds, "train_tokens_per_s": tokens_s,
        "train_samples_per_s": (steps - start_step) * batch_size / seconds if seconds else None,
        "mfu": 6 * (params["non_embedding"] + head) * tokens_s / peak["flops"] if tokens_s and peak["flops"] else None,
        "mfu_encoder_only": 6 * params["non_embedding"] * tokens_s / peak["flops"] if tokens_s and peak["flops"] else None,
        "peak_flops": peak["flops"], "peak_flops_source": peak["source"],
        "parameters": params["total"], "non_embedding_parameters": params["non_embedding"],
        "mlm_head_projection_parameters": head,
        "definition": ("train: the Trainer's wall time for this process's steps (held-out evaluations included); "
                       "tokens/s counts real (non-padding) input tokens; MFU = 6 x (non-embedding parameters + the "
                       "masked-LM head's vocabulary x hidden projection) x tokens/s / peak FLOP/s; mfu_encoder_only leaves the "
                       "head out (the fine-tune cells' definition)"),
        **peak_memory_mb(),
    })
