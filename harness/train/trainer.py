"""Train one cell with transformers' Trainer: the training arguments, the optional callbacks
(checkpoint state, progress bar, TensorBoard), resuming a checkpoint, and the bounded
out-of-memory policy (halve the batch, keep the optimizer batch with gradient accumulation).

`train_cell` returns what training measured (`Trained`); scoring is harness.train.finetune's.
"""
from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.device import one_device_training_arguments
from harness.metrics import summary_metrics
from harness.spec.recipe import Recipe
from harness.train.callbacks import FastEval, _make_callbacks, _save_state_callback
from harness.train.curve import validation_curve_callback
from harness.train.model import build_model
from harness.train.trackers import TrackerArgs, run_name, tracker_config, trainer_report_to

if TYPE_CHECKING:
    from datasets import Dataset

    from harness.train.finetune import CellRun
    from harness.train.scoring import EvalBatch


@dataclass(frozen=True)
class Trained:
    """What training left: the trainer (its model, state and log), the step meter and the early
    stopping state, the batch the optimizer really saw, and the out-of-memory fallback if any."""

    trainer: Any
    meter: Any
    best: Any
    batch_size: int  # per device, after any halving
    accumulation: int
    train_seconds: float  # wall time of trainer.train (the meter counts optimizer steps only)
    resumed_from_step: int | None
    fallback: str | None  # "out of memory while training: ..." when the batch was halved
    curve: Any = None  # the validation curve's callback (its points), None with curve_points 0


@dataclass
class _Attempts:
    """What an out-of-memory retry learns from the attempt before it: the batch it tried, how many
    halvings so far, and that the checkpoint (if any) was used (a retry starts over)."""

    batch: int
    resume: Path | None
    halvings: int = 0
    resumed_from_step: int | None = None


def train_cell(run: "CellRun", tokenizer, encoded: dict[str, "Dataset"], collator, eval_batch: "EvalBatch") -> Trained:
    """Train from the first batch that fits (halved at most `oom_retries` times) in the cell's work
    folder, which goes when training ends, except the last checkpoint of an interrupted
    checkpointed cell (the rerun resumes from it)."""
    from accelerate.utils import find_executable_batch_size

    from harness.train import checkpoint as ckpt

    recipe = run.recipe
    folder = run.work_dir or Path(tempfile.mkdtemp(prefix="trainer-", dir=run.output_dir))
    start_batch = recipe.batch_size
    floor = max(1, start_batch // (2 ** recipe.oom_retries))
    attempts = _Attempts(start_batch, ckpt.prepare(folder, run.config_hash, run.checkpoint))

    def halve() -> int:
        attempts.halvings += 1
        return attempts.batch // 2

    @find_executable_batch_size(starting_batch_size=start_batch, reduce_batch_size_fn=halve)
    def train_with(batch_size: int) -> Trained:
        if batch_size < floor:
            raise RuntimeError(
                f"out of memory while training even at batch size {floor} ({recipe.oom_retries} halvings from "
                f"{start_batch}); lower batch_size or max_length"
            )
        attempts.batch = batch_size
        return _train_once(run, tokenizer, encoded, collator, eval_batch, str(folder), batch_size,
                           recipe.gradient_accumulation_steps * (start_batch // batch_size), attempts)

    try:
        trained = train_with()
    except BaseException as exc:
        # an interrupted checkpointed cell keeps its last checkpoint for the rerun to resume;
        # every other ending removes the work folder
        interrupted = not isinstance(exc, Exception)
        if not (interrupted and run.checkpoint and ckpt.latest_checkpoint(folder)):
            shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return trained


def _train_once(run: "CellRun", tokenizer, encoded, collator, eval_batch, work_dir: str, batch_size: int,
                accumulation: int, attempts: _Attempts) -> Trained:
    """One training attempt at one batch size, from a fresh model (or the checkpoint, first time)."""
    from transformers import PrinterCallback

    from harness.train import checkpoint as ckpt

    StepMeter, BestState, CountingTrainer = _make_callbacks()
    spec, recipe = run.data.spec, run.recipe
    model = build_model(run.identity, list(spec.labels), run.seed)
    meter, best = StepMeter(), BestState(recipe.selection_metric, recipe.patience, recipe.min_steps)
    resume, attempts.resume = attempts.resume, None  # an out-of-memory retry starts over
    if resume is not None:
        attempts.resumed_from_step = ckpt.load_state(resume, best, meter)
    if run.report_to:
        model.config.harness = tracker_config(spec.name, run.model, run.seed, run.precision, recipe)
    fast = FastEval(encoded["validation"], collator, eval_batch, run.precision, recipe.sort_inference_by_length)
    # the validation curve scores through the same fast path, beside the selection evaluations (harness.train.curve)
    curve = validation_curve_callback(recipe.curve_points, fast)
    trainer = CountingTrainer(
        model=model,
        args=_training_args(run, work_dir, batch_size, accumulation, TrackerArgs(
            report_to=trainer_report_to(run.report_to), run_name=run_name(spec.name, run.model.name, run.seed),
        ), train_rows=len(encoded["train"])),
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"].remove_columns(["length"]),
        # no processing_class (the collator has the tokenizer): the Trainer would align config.json's pad/bos/eos
        # ids to the tokenizer's after the modules were built, and the saved model would differ (RoBERTa positions)
        data_collator=collator,
        compute_metrics=_compute_metrics,
        callbacks=[meter, best, *([curve] if curve is not None else []), *_optional_callbacks(run, best, meter)],
        meter=meter, best=best, fast_eval=fast,
    )
    trainer.remove_callback(PrinterCallback)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
    fallback = (f"out of memory while training: batch {recipe.batch_size} -> {batch_size} per device, "
                f"gradient accumulation x{recipe.batch_size // batch_size}") if attempts.halvings else None
    return Trained(trainer, meter, best, batch_size, accumulation, time.perf_counter() - start,
                   attempts.resumed_from_step, fallback, curve)


def _compute_metrics(prediction) -> dict[str, float]:
    import numpy as np

    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return summary_metrics(prediction.label_ids, np.argmax(logits, axis=-1))


LOSS_CURVE_POINTS = 25  # the training loss is logged about this often per run (at least every step)


def loss_logging_steps(recipe: Recipe, train_rows: int, batch_size: int, accumulation: int) -> int:
    """Optimizer steps between two logged training losses: about LOSS_CURVE_POINTS points over the
    run (a loss logged once per epoch gives a 3-point curve that says nothing)."""
    per_epoch = max(1, math.ceil(train_rows / max(1, batch_size * accumulation)))
    total = recipe.max_steps or math.ceil(recipe.max_epochs * per_epoch)
    return max(1, total // LOSS_CURVE_POINTS)


def _training_args(run: "CellRun", work_dir: str, batch_size: int, accumulation: int, trackers: TrackerArgs | None = None,
                   train_rows: int = 0):
    recipe = run.recipe
    by_steps = recipe.eval_steps is not None
    strategy = "steps" if by_steps else "epoch"
    return one_device_training_arguments(
        run.device,
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
        report_to=trackers["report_to"] if trackers else "none",  # and run_name (harness.trackers)
        run_name=trackers["run_name"] if trackers else None,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


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


def _optional_callbacks(run: "CellRun", best, meter) -> list:
    """Checkpoint state, the terminal progress bar and TensorBoard, where the run asks for them."""
    callbacks = []
    if run.checkpoint:
        callbacks.append(_save_state_callback()(best, meter))
    if run.progress_bar:
        from harness.execution.progress import CellProgressBar

        callbacks.append(CellProgressBar(f"{run.data.spec.name} / {run.model.name} / seed {run.seed}"))
    if "tensorboard" in run.report_to:
        callbacks.append(_tensorboard_callback(run.output_dir / "tensorboard" / f"seed-{run.seed}"))
    return callbacks
