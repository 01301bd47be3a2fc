"""Trainer callbacks of one cell: the step meter, early stopping with the best weights kept in
memory, the counting Trainer (NaN stop, fast evaluation), and the checkpoint state."""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.device import synchronize
from harness.metrics import selection_metric, summary_metrics


class NaNLossError(RuntimeError):
    """The training loss became NaN or infinite."""


# --------------------------------------------------------------------------- callbacks
@dataclass(frozen=True)
class FastEval:
    """What the counting Trainer evaluates through `predict`: the validation split (with
    `length`), its collator, the evaluation batch (EvalBatch), the precision and the sort."""

    dataset: Any
    collator: Any
    batch: Any
    precision: str
    sort: bool


def _make_callbacks():
    """The step meter, the early stopping and the counting Trainer classes (transformers is
    imported when they are first asked for, not with this module)."""
    return _step_meter(), _best_state(), _counting_trainer()


@functools.cache
def _step_meter():
    from transformers import TrainerCallback

    class StepMeter(TrainerCallback):
        """Wall time of optimizer steps only (forward, backward, clip, update): evaluation,
        logging and checkpointing happen outside the on_step_begin / on_step_end window."""

        def __init__(self):
            self.seconds = 0.0
            self.steps = 0
            self.samples = 0
            self.real_tokens = 0
            self.padded_tokens = 0
            self._start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            synchronize()
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            synchronize()
            self.seconds += time.perf_counter() - self._start
            self.steps += 1

    return StepMeter


@functools.cache
def _best_state():
    from transformers import TrainerCallback

    class BestState(TrainerCallback):
        """Early stopping with patience on the validation `selection_metric` (its direction from
        the metric registry: loss lower, the others higher is better), and the best weights kept
        in memory (no checkpoint written to disk) and restored when training ends. Every
        evaluation may become the best; only evaluations at or after `min_steps` (default: the
        warm-up steps) count towards patience, so training never stops inside the warm-up. The
        validation predictions of the best evaluation are kept too (`best_validation`), so the
        validation split is not scored a second time with the same weights."""

        def __init__(self, metric: str, patience: int | None, min_steps: int | None = None):
            self.selects_on = selection_metric(metric)
            self.metric = f"eval_{metric}"
            self.patience = patience
            self.min_steps = min_steps  # None until training begins: then the warm-up steps
            self.best: float | None = None
            self.best_step: int | None = None
            self.best_state: dict | None = None
            self.best_validation: dict | None = None
            self.pending_validation: dict | None = None  # set by CountingTrainer.evaluate
            self.bad_evals = 0
            self.stopped_early = False
            self.stopped_at_step: int | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            if self.min_steps is None:
                self.min_steps = int(args.get_warmup_steps(state.max_steps))

        def improves(self, value: float) -> bool:
            if self.best is None:
                return True
            return value > self.best if self.selects_on.higher_is_better else value < self.best

        def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
            value = (metrics or {}).get(self.metric)
            pending, self.pending_validation = self.pending_validation, None
            if value is None:
                return
            if self.improves(value):
                self.best, self.best_step, self.bad_evals = value, state.global_step, 0
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                self.best_validation = pending
            elif state.global_step >= (self.min_steps or 0):
                self.bad_evals += 1
                if self.patience is not None and self.bad_evals >= self.patience:
                    self.stopped_early, self.stopped_at_step = True, state.global_step
                    control.should_training_stop = True

        def summary(self) -> dict:
            """What the record's `training` says about the selection."""
            return {"selection_metric": self.selects_on.name, "min_steps": self.min_steps, "patience": self.patience,
                    "best_step": self.best_step, "restored_step": self.best_step if self.best_state is not None else None,
                    "best_validation_value": self.best, "stopped_early": self.stopped_early,
                    "stopped_at_step": self.stopped_at_step,
                    "stopped_on": self.selects_on.name if self.stopped_early else None}

        def restore(self, model) -> None:
            if self.best_state is not None:
                model.load_state_dict(self.best_state)

    return BestState


@functools.cache
def _counting_trainer():
    from transformers import Trainer

    class CountingTrainer(Trainer):
        """Trainer that counts the samples and real / padded tokens of every training batch,
        stops on a NaN or infinite loss, and evaluates through `predict` (length-sorted batches,
        the same inference path that scores the splits at the end)."""

        def __init__(self, *args, meter, best=None, fast_eval: FastEval | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            self.meter, self.best, self.fast_eval = meter, best, fast_eval
            self.nan_step: int | None = None

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
            if eval_dataset is not None or self.fast_eval is None:
                return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
            from harness.train.scoring import validation_loss

            fast = self.fast_eval
            out = fast.batch.predict(self.model, fast.dataset, fast.collator, fast.precision, fast.sort)
            references = np.asarray(fast.dataset["labels"])
            loss = validation_loss(out["logits"], references.tolist())
            metrics = {f"{metric_key_prefix}_loss": loss}
            for key, value in summary_metrics(references.tolist(), out["logits"].argmax(-1).tolist()).items():
                metrics[f"{metric_key_prefix}_{key}"] = value
            metrics[f"{metric_key_prefix}_runtime"] = round(out["seconds"], 4)
            metrics[f"{metric_key_prefix}_samples_per_second"] = round(len(references) / max(out["seconds"], 1e-9), 3)
            self.log(metrics)
            if self.best is not None:
                self.best.pending_validation = out
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

        def training_step(self, model, inputs, num_items_in_batch=None):
            mask = inputs.get("attention_mask")
            if mask is not None:
                self.meter.real_tokens += int(mask.sum())
                self.meter.padded_tokens += int(mask.numel())
                self.meter.samples += int(mask.shape[0])
            loss = super().training_step(model, inputs, num_items_in_batch)
            if not math.isfinite(float(loss)):
                self.nan_step = self.state.global_step
                self.control.should_training_stop = True
                raise NaNLossError(f"training loss is {float(loss)} at step {self.state.global_step}")
            return loss

    return CountingTrainer


def _save_state_callback():
    from transformers import TrainerCallback

    from harness.train import checkpoint as ckpt

    class SaveHarnessState(TrainerCallback):
        """At each checkpoint the Trainer writes, add the early-stopping state and the meter."""

        def __init__(self, best, meter):
            self.best, self.meter = best, meter

        def on_save(self, args, state, control, **kwargs):
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                ckpt.save_state(folder, self.best, self.meter)

    return SaveHarnessState
