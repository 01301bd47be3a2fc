"""Fine-tune one cell (task x model x seed) with transformers' Trainer and score it.

Read top to bottom: load (seed, tokenizer) -> encode (cached) -> train (harness.train.trainer:
early stopping on the validation metric, out-of-memory halving) -> score validation and test
over the whole split with the best weights -> the typed result (harness.train.result).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from harness.device import DeviceChoice, reset_peak_memory
from harness.files import atomic_dir, atomic_write_text, current_umask
from harness.metrics import metric_names
from harness.planning.identity import ModelIdentity
from harness.records.schema import DataSummary, HistoryEntry, LossPoint, Training
from harness.train.curve import curve_of
from harness.train.result import CellResult, cell_throughput, score_splits
from harness.train.model import count_parameters, head_facts, load_tokenizer
from harness.spec.model import ModelSpec
from harness.spec.recipe import Recipe
from harness.data.tasks import TaskData

if TYPE_CHECKING:
    from datasets import Dataset
from harness.train.callbacks import NaNLossError  # noqa: F401 (NaNLossError: the execute policy)
from harness.train.trainer import LOSS_CURVE_POINTS, Trained, _training_args, loss_logging_steps, train_cell  # noqa: F401 (re-exported)
from harness.train.cpu_heap import cpu_heap_kept, keep_cpu_heap_default  # noqa: F401 (re-exported)
from harness.data.encoding import encode_split, subset, test_fingerprint, tokenize_split  # noqa: F401
from harness.train.scoring import EvalBatch, inference_weights, latency, predict, validation_loss  # noqa: F401 (re-exported for callers and tests)


class SavedModelMeta(TypedDict, total=False):
    """A saved model's harness.json (what `harness predict` follows to score as the record did).
    Read back it is untrusted: every key may be missing (harness.predict checks what it uses)."""

    task: str
    labels: list[str]
    text_columns: list[str]
    max_length: int
    truncation_side: str
    model: str
    seed: int
    precision: str  # the record's test predictions were made in it, with eval_batch_size
    eval_batch_size: int


@dataclass
class CellRun:
    """Everything one fine-tune needs."""

    data: TaskData
    model: ModelSpec
    identity: ModelIdentity  # resolved once per run: location and exact weights
    device: DeviceChoice  # the one device this cell trains on
    recipe: Recipe
    seed: int
    precision: str  # resolved: fp32, bf16 or fp16
    output_dir: Path  # the cell's folder (model and logs go here)
    save_model: bool = False
    report_to: list[str] = field(default_factory=list)  # checked trackers (harness.trackers), TensorBoard included
    progress_bar: bool = False  # a tqdm bar inside the cell (steps, loss, last validation score)
    work_dir: Path | None = None  # the cell's own work folder (default: a temp folder in output_dir)
    checkpoint: bool = False  # save the training state at each evaluation and resume from it
    config_hash: str = ""  # a checkpoint is resumed only by the same configuration
    score_test: bool = True  # False for a search trial: the test split is never read, predicted or stored



# --------------------------------------------------------------------------- one cell
def _loss_curve(log_history: list[dict[str, float]]) -> list[LossPoint]:
    """The logged training losses (step, epoch, loss), about LOSS_CURVE_POINTS of them."""
    return [LossPoint(step=int(e["step"]), epoch=round(float(e.get("epoch", 0.0)), 4), loss=e["loss"])
            for e in log_history if "loss" in e]


def _history(log_history: list[dict[str, float]]) -> list[HistoryEntry]:
    """Per evaluation: step, epoch, train loss (the last logged at or before it), validation loss and
    every registered metric."""
    losses = sorted((entry["step"], entry["loss"]) for entry in log_history if "loss" in entry)
    out = []
    for entry in log_history:
        if "eval_accuracy" in entry:
            step = entry["step"]
            before = [loss for at, loss in losses if at <= step]
            out.append(HistoryEntry.model_validate(
                {
                    "step": step,
                    "epoch": round(float(entry.get("epoch", 0.0)), 4),
                    "train_loss": before[-1] if before else None,
                    "validation_loss": entry.get("eval_loss"),
                    **{f"validation_{name}": entry.get(f"eval_{name}") for name in metric_names()},
                }
            ))
    return out


def fine_tune_cell(run: CellRun) -> CellResult:
    """Train and score one cell: load -> encode -> train -> score -> result, like run_glue's main."""
    from transformers import DataCollatorWithPadding, set_seed
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    recipe = run.recipe
    # load: the seed first (initial weights, dropout and data order follow it), then the tokenizer
    set_seed(run.seed)
    tokenizer = load_tokenizer(run.identity)
    # encode: the fixed subsets through the tokenization cache (a search trial never reads test)
    encoded, truncated, scored_test = _encode_splits(run, tokenizer)
    collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if run.device.type == "cuda" else None)
    eval_batch = EvalBatch(recipe.eval_batch_size, recipe.oom_retries)
    reset_peak_memory()
    with cpu_heap_kept(keep_cpu_heap_default()):
        # train: early stopping on the validation metric, out of memory -> halved batches (bounded)
        trained = train_cell(run, tokenizer, encoded, collator, eval_batch)
        # score: the best weights over the whole splits; the best evaluation's validation predictions
        # were made with exactly these weights, so validation is predicted again only without one
        model, best = trained.trainer.model, trained.best
        best.restore(model)
        val = best.best_validation or eval_batch.predict(
            model, encoded["validation"], collator, run.precision, recipe.sort_inference_by_length
        )
        test = (eval_batch.predict(model, encoded["test"], collator, run.precision, recipe.sort_inference_by_length)
                if run.score_test else None)
        timed_one = latency(model, encoded["test"], collator, run.precision, run.device.name) if run.score_test else None
    # result: the record's body
    scored = score_splits(run.data.spec.labels, run.seed, encoded, val, test)
    return _result(run, trained, encoded, truncated, scored_test, scored, eval_batch, timed_one, tokenizer)


def _result(run: CellRun, trained: Trained, encoded: dict[str, Dataset], truncated: dict[str, int],
            scored_test: str | None, scored, eval_batch: EvalBatch, timed_one, tokenizer) -> CellResult:
    """What the cell measured, typed: scores, data, throughput, training, and the saved model."""
    spec, recipe, trainer, best, model = run.data.spec, run.recipe, trained.trainer, trained.best, trained.trainer.model
    throughput = cell_throughput(
        trained.meter, scored, count_parameters(model), run.precision, model.config.to_dict(),
        {"batch_size": trained.batch_size, "gradient_accumulation_steps": trained.accumulation,
         "eval_batch_size": eval_batch.size, "train_wall_seconds": trained.train_seconds},
        latency=timed_one, timed_split="test" if run.score_test else "validation")
    return CellResult(
        labels=list(spec.labels),
        metrics=scored.metrics,
        predictions=scored.predictions,
        references=scored.references,
        probabilities=scored.probabilities,
        test_fingerprint=scored_test,
        data=DataSummary.model_validate({
            "task_description": spec.description,  # for the model card; not in the config (no effect on scores)
            "max_length": recipe.max_length,
            "truncation_side": recipe.truncation_side,
            "truncated": truncated,  # per split: examples longer than max_length, cut
            "rows": {name: len(ds) for name, ds in encoded.items()},
            **({"dropped_empty": dict(run.data.dropped_empty)} if spec.drop_empty else {}),
        }),
        throughput=throughput,
        training=Training.model_validate({
            "epochs": float(trainer.state.epoch or 0.0),
            "steps": int(trainer.state.global_step),
            **best.summary(),  # selection_metric, min_steps, best_step, restored_step, stopped_at_step, ...
            "history": _history(trainer.state.log_history),
            "loss_curve": _loss_curve(trainer.state.log_history),
            "validation_curve": curve_of(trained.curve, _history(trainer.state.log_history)),
            "train_rows": len(encoded["train"]),
            "checkpointed": run.checkpoint,
            "resumed_from_step": trained.resumed_from_step,
            "head": head_facts(run.identity),
        }),
        fallbacks=[f for f in (trained.fallback, eval_batch.fallback) if f],
        saved_model=str(_save_model(run, model, tokenizer, eval_batch.size)) if run.save_model else None,
    )


def _encode_splits(run: CellRun, tokenizer):
    """The splits a cell uses (fixed subsets), tokenized through the cache, with per-split
    truncation counts and the scored test rows' fingerprint. A search trial never touches test."""
    spec, recipe = run.data.spec, run.recipe
    key = f"{run.identity.content_hash or run.identity.source}@{run.identity.revision}"
    splits = {
        "train": subset(run.data.splits["train"], recipe.max_train_samples),
        "validation": subset(run.data.splits["validation"], recipe.max_eval_samples),
    }
    if run.score_test:
        splits["test"] = subset(run.data.splits["test"], recipe.max_eval_samples)
    encoded, truncated = {}, {}
    for name, ds in splits.items():
        encoded[name], truncated[name] = encode_split(
            ds, tokenizer, list(spec.text), recipe.max_length, key, recipe.truncation_side
        )
    return encoded, truncated, test_fingerprint(splits["test"], spec) if run.score_test else None


def _save_model(run: CellRun, model, tokenizer, eval_batch_size: int) -> Path:
    """The best model, its tokenizer and harness.json (task, labels, text columns, cut, and the
    precision and batch size the record's test predictions were made with, which predict follows)."""
    spec, recipe = run.data.spec, run.recipe
    target = run.output_dir / f"model-seed-{run.seed}"
    with atomic_dir(target) as tmp:  # a full disk leaves the previous folder (or none), never half of one
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        atomic_write_text(tmp / "harness.json", json.dumps(SavedModelMeta(
            task=spec.name, labels=list(spec.labels), text_columns=list(spec.text),
            max_length=recipe.max_length, truncation_side=recipe.truncation_side,
            model=run.model.name, seed=run.seed, precision=run.precision, eval_batch_size=eval_batch_size,
        ), indent=1, ensure_ascii=False))
        mode = 0o666 & ~current_umask()  # safetensors writes 0600: give the weights the umask like every file
        for path in tmp.rglob("*"):
            if path.is_file():
                path.chmod(mode)
    return target
