"""Fine-tune one cell (task x model x seed) with transformers' Trainer and score it.

Read top to bottom: tokenize (cached) -> build model -> Trainer with early stopping on the
validation primary metric -> restore the best state -> score validation and test over the
whole split -> measure throughput -> return the record's body.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.device import DeviceChoice, one_device_training_arguments, reset_peak_memory
from harness.files import atomic_dir, atomic_write_text, current_umask
from harness.metrics import metric_names, summary_metrics
from harness.planning.identity import ModelIdentity
from harness.records.schema import DataSummary, Training
from harness.train.result import CellResult, cell_throughput, score_splits
from harness.train.model import build_model, count_parameters, head_facts, load_tokenizer
from harness.spec.model import ModelSpec
from harness.spec.recipe import Recipe
from harness.data.tasks import TaskData
from harness.train.trackers import run_name, tracker_config, trainer_report_to
from harness.train.callbacks import NaNLossError, _make_callbacks, _save_state_callback  # noqa: F401 (NaNLossError: the execute policy)
from harness.train.cpu_heap import cpu_heap_kept, keep_cpu_heap_default  # noqa: F401 (re-exported)
from harness.data.encoding import encode_split, subset, test_fingerprint, tokenize_split  # noqa: F401
from harness.train.scoring import EvalBatch, inference_weights, latency, predict, validation_loss  # noqa: F401 (re-exported for callers and tests)


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
    tensorboard: bool = False
    report_to: list[str] = field(default_factory=list)  # checked trackers (harness.trackers)
    fallbacks: list[str] = field(default_factory=list)
    progress_bar: bool = False  # a tqdm bar inside the cell (steps, loss, last validation score)
    work_dir: Path | None = None  # the cell's own work folder (default: a temp folder in output_dir)
    checkpoint: bool = False  # save the training state at each evaluation and resume from it
    config_hash: str = ""  # a checkpoint is resumed only by the same configuration
    score_test: bool = True  # False for a search trial: the test split is never read, predicted or stored



# --------------------------------------------------------------------------- one cell
LOSS_CURVE_POINTS = 25  # the training loss is logged about this often per run (at least every step)


def loss_logging_steps(recipe: Recipe, train_rows: int, batch_size: int, accumulation: int) -> int:
    """Optimizer steps between two logged training losses: about LOSS_CURVE_POINTS points over the
    run (a loss logged once per epoch gives a 3-point curve that says nothing)."""
    import math

    per_epoch = max(1, math.ceil(train_rows / max(1, batch_size * accumulation)))
    total = recipe.max_steps or math.ceil(recipe.max_epochs * per_epoch)
    return max(1, total // LOSS_CURVE_POINTS)


def _training_args(run: CellRun, work_dir: str, batch_size: int, accumulation: int, trackers: dict[str, Any] | None = None,
                   train_rows: int = 0):
    recipe = run.recipe
    by_steps = recipe.eval_steps is not None
    strategy = "steps" if by_steps else "epoch"
    kwargs: dict[str, Any] = dict(
        output_dir=work_dir,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=recipe.eval_batch_size,
        gradient_accumulation_steps=accumulation,
        learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay,
        warmup_steps=recipe.warmup_ratio,
        lr_scheduler_type="linear",
        max_grad_norm=recipe.max_grad_norm,
        num_train_epochs=recipe.max_epochs,
        max_steps=recipe.max_steps or -1,
        eval_strategy=strategy,
        eval_steps=recipe.eval_steps,
        logging_strategy="steps",
        logging_steps=loss_logging_steps(recipe, train_rows, batch_size, accumulation),
        logging_nan_inf_filter=False,
        save_strategy=strategy if run.checkpoint else "no",
        save_steps=recipe.eval_steps,
        save_total_limit=1 if run.checkpoint else None,
        bf16=run.precision == "bf16",
        fp16=run.precision == "fp16",
        seed=run.seed,
        data_seed=run.seed,
        optim=recipe.optim,
        train_sampling_strategy="group_by_length" if recipe.length_grouping else "random",
        torch_compile=recipe.torch_compile,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    kwargs.update(trackers or {})  # report_to and run_name (harness.trackers)
    return one_device_training_arguments(run.device, **kwargs)


def _tensorboard_callback(log_dir: Path):
    """The Trainer's own TensorBoard reporting, writing under the cell's folder."""
    try:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback
    except ImportError:
        from harness.errors import HarnessError

        raise HarnessError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    log_dir.mkdir(parents=True, exist_ok=True)
    return TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir)))


def _loss_curve(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The logged training losses (step, epoch, loss), about LOSS_CURVE_POINTS of them."""
    return [{"step": int(e["step"]), "epoch": round(float(e.get("epoch", 0.0)), 4), "loss": e["loss"]}
            for e in log_history if "loss" in e]


def _history(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per evaluation: step, epoch, train loss (the last logged at or before it), validation loss and
    every registered metric."""
    losses = sorted((entry["step"], entry["loss"]) for entry in log_history if "loss" in entry)
    out = []
    for entry in log_history:
        if "eval_accuracy" in entry:
            step = entry["step"]
            before = [loss for at, loss in losses if at <= step]
            out.append(
                {
                    "step": step,
                    "epoch": round(float(entry.get("epoch", 0.0)), 4),
                    "train_loss": before[-1] if before else None,
                    "validation_loss": entry.get("eval_loss"),
                    **{f"validation_{name}": entry.get(f"eval_{name}") for name in metric_names()},
                }
            )
    return out


def fine_tune_cell(run: CellRun) -> CellResult:
    """Train and score one cell; returns what it measured (the record's body, typed)."""
    from accelerate.utils import find_executable_batch_size
    from transformers import DataCollatorWithPadding, PrinterCallback, set_seed

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    StepMeter, BestState, CountingTrainer = _make_callbacks()
    spec, recipe = run.data.spec, run.recipe
    set_seed(run.seed)
    tokenizer = load_tokenizer(run.identity)
    encoded, truncated, scored_test = _encode_splits(run, tokenizer)
    collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if run.device.type == "cuda" else None)

    def compute_metrics(prediction):
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return summary_metrics(prediction.label_ids, np.argmax(logits, axis=-1))

    from harness.train import checkpoint as ckpt

    folder = run.work_dir or Path(tempfile.mkdtemp(prefix="trainer-", dir=run.output_dir))
    resume_from = ckpt.prepare(folder, run.config_hash, run.checkpoint)
    work_dir = str(folder)
    state: dict[str, Any] = {"resume": resume_from}
    reset_peak_memory()
    start_batch = recipe.batch_size
    floor = max(1, start_batch // (2 ** recipe.oom_retries))
    eval_batch = EvalBatch(recipe.eval_batch_size, recipe.oom_retries)

    def halve() -> int:
        state["oom"] = state.get("oom", 0) + 1
        return state["batch"] // 2

    @find_executable_batch_size(starting_batch_size=start_batch, reduce_batch_size_fn=halve)
    def train_with(batch_size: int):
        if batch_size < floor:
            raise RuntimeError(
                f"out of memory while training even at batch size {floor} ({recipe.oom_retries} halvings from "
                f"{start_batch}); lower batch_size or max_length"
            )
        state["batch"] = batch_size
        accumulation = recipe.gradient_accumulation_steps * (start_batch // batch_size)
        model = build_model(run.identity, list(spec.labels), run.seed)
        meter, best = StepMeter(), BestState(recipe.selection_metric, recipe.patience, recipe.min_steps)
        resume, state["resume"] = state["resume"], None  # an out-of-memory retry starts over
        if resume is not None:
            state["resumed_from_step"] = ckpt.load_state(resume, best, meter)
        if run.report_to:
            model.config.harness = tracker_config(spec.name, run.model.model_dump(), run.seed, run.precision, recipe.model_dump())
        callbacks = [meter, best, *_optional_callbacks(run, best, meter)]
        trainer = CountingTrainer(
            model=model,
            args=_training_args(run, work_dir, batch_size, accumulation, {
                "report_to": trainer_report_to(run.report_to), "run_name": run_name(spec.name, run.model.name, run.seed),
            }, train_rows=len(encoded["train"])),
            train_dataset=encoded["train"],
            eval_dataset=encoded["validation"].remove_columns(["length"]),
            processing_class=tokenizer,
            data_collator=collator,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
        )
        trainer.remove_callback(PrinterCallback)
        trainer.meter = meter
        trainer.best = best
        trainer.fast_eval = {
            "dataset": encoded["validation"], "collator": collator, "batch": eval_batch,
            "precision": run.precision, "sort": recipe.sort_inference_by_length,
        }
        start = time.perf_counter()
        trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
        state["train_wall"] = time.perf_counter() - start
        return trainer, meter, best, accumulation

    with cpu_heap_kept(keep_cpu_heap_default()):
        try:
            trainer, meter, best, accumulation = train_with()
        except BaseException as exc:
            # an interrupted checkpointed cell keeps its last checkpoint for the rerun to resume;
            # every other ending removes the work folder
            interrupted = not isinstance(exc, Exception)
            if not (interrupted and run.checkpoint and ckpt.latest_checkpoint(folder)):
                shutil.rmtree(folder, ignore_errors=True)
            raise
        shutil.rmtree(folder, ignore_errors=True)
        model = trainer.model
        best.restore(model)
        # The best evaluation's validation predictions were made with exactly the restored weights:
        # the validation split is scored again only if no evaluation ran through `predict`.
        val = best.best_validation or eval_batch.predict(
            model, encoded["validation"], collator, run.precision, recipe.sort_inference_by_length
        )
        test = (eval_batch.predict(model, encoded["test"], collator, run.precision, recipe.sort_inference_by_length)
                if run.score_test else None)
        timed_one = latency(model, encoded["test"], collator, run.precision, run.device.name) if run.score_test else None
    if state.get("oom"):
        run.fallbacks.append(
            f"out of memory while training: batch {start_batch} -> {state['batch']} per device, "
            f"gradient accumulation x{start_batch // state['batch']}"
        )
    if eval_batch.fallback:
        run.fallbacks.append(eval_batch.fallback)

    scored = score_splits(run.data.spec.labels, run.seed, encoded, val, test)
    throughput = cell_throughput(
        meter, scored, count_parameters(model), run.precision, model.config.to_dict(),
        {"batch_size": state["batch"], "gradient_accumulation_steps": accumulation,
         "eval_batch_size": eval_batch.size, "train_wall_seconds": state["train_wall"]},
        latency=timed_one, timed_split="test" if run.score_test else "validation")
    return CellResult(
        labels=list(spec.labels),
        metrics=scored.metrics,
        predictions=scored.predictions,
        references=scored.references,
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
            "train_rows": len(encoded["train"]),
            "checkpointed": run.checkpoint,
            "resumed_from_step": state.get("resumed_from_step"),
            "head": head_facts(run.identity),
        }),
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


def _optional_callbacks(run: CellRun, best, meter) -> list:
    """Checkpoint state, the terminal progress bar and TensorBoard, where the run asks for them."""
    callbacks = []
    if run.checkpoint:
        callbacks.append(_save_state_callback()(best, meter))
    if run.progress_bar:
        from harness.execution.progress import CellProgressBar

        callbacks.append(CellProgressBar(f"{run.data.spec.name} / {run.model.name} / seed {run.seed}"))
    if run.tensorboard or "tensorboard" in run.report_to:
        callbacks.append(_tensorboard_callback(run.output_dir / "tensorboard" / f"seed-{run.seed}"))
    return callbacks


def _save_model(run: CellRun, model, tokenizer, eval_batch_size: int) -> Path:
    """The best model, its tokenizer and harness.json (task, labels, text columns, cut, and the
    precision and batch size the record's test predictions were made with, which predict follows)."""
    spec, recipe = run.data.spec, run.recipe
    target = run.output_dir / f"model-seed-{run.seed}"
    with atomic_dir(target) as tmp:  # a full disk leaves the previous folder (or none), never half of one
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        atomic_write_text(tmp / "harness.json", json.dumps({
            "task": spec.name, "labels": list(spec.labels), "text_columns": list(spec.text),
            "max_length": recipe.max_length, "truncation_side": recipe.truncation_side,
            "model": run.model.name, "seed": run.seed, "precision": run.precision, "eval_batch_size": eval_batch_size,
        }, indent=1, ensure_ascii=False))
        mode = 0o666 & ~current_umask()  # safetensors writes 0600: give the weights the umask like every file
        for path in tmp.rglob("*"):
            if path.is_file():
                path.chmod(mode)
    return target
